"""Audit ledger: the OOD gate's reason code per record (nullable).

Existing rows read NULL, which the canonical form omits (see
``medinfer.audit.record``): their MACs stay valid, so ``medinfer audit verify``
passes on a ledger that spans the upgrade.

Revision ID: audit_0002
Revises: audit_0001
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

revision = "audit_0002"
down_revision = "audit_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_ledger", sa.Column("ood_reason", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_ledger") as batch:
        batch.drop_column("ood_reason")
