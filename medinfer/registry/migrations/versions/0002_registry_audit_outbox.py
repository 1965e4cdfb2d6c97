"""Registry audit outbox: each change's audit event, written in the change's transaction.

Revision ID: registry_0002
Revises: registry_0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "registry_0002"
down_revision = "registry_0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "registry_audit_outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("claim_until", _TS, nullable=True),
        sa.Column("delivered_at", _TS, nullable=True),
        sa.Column("last_error", sa.String(64), nullable=True),
    )
    # Only undelivered rows are ever searched: a partial index stays small as history grows.
    op.create_index(
        "ix_registry_audit_outbox_pending",
        "registry_audit_outbox",
        ["id"],
        postgresql_where=sa.text("delivered_at IS NULL"),
        sqlite_where=sa.text("delivered_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_registry_audit_outbox_pending", table_name="registry_audit_outbox")
    op.drop_table("registry_audit_outbox")
