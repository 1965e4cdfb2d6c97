"""Audit ledger: how many requests one record stands for (nullable; set only on aggregated failed-auth records).

Existing rows read NULL, which the canonical form omits: their MACs stay valid.

Revision ID: audit_0003
Revises: audit_0002
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "audit_0003"
down_revision = "audit_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_ledger", sa.Column("repeat", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_ledger") as batch:
        batch.drop_column("repeat")
