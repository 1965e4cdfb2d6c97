"""Audit ledger: hash-chained records and the MAC'd chain head.

Revision ID: audit_0001
Revises:
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

revision = "audit_0001"
down_revision = None
branch_labels = ("audit",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_ledger",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False),
        sa.Column("ts", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("sub", sa.String(255)),
        sa.Column("client_id", sa.String(255)),
        sa.Column("action", sa.String(128), nullable=False),
        sa.Column("route", sa.String(255), nullable=False),
        sa.Column("model", sa.String(128)),
        sa.Column("version", sa.String(32)),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("latency_us", sa.BigInteger, nullable=False),
        sa.Column("input_digest", sa.String(64)),
        sa.Column("output_digest", sa.String(64)),
        sa.Column("phi_counts", sa.Text, nullable=False),
        sa.Column("patient_digest", sa.String(64)),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_ledger_ts", "audit_ledger", ["ts"])
    op.create_index("ix_audit_ledger_patient_digest", "audit_ledger", ["patient_digest"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_index("ix_audit_ledger_patient_digest", "audit_ledger")
    op.drop_index("ix_audit_ledger_ts", "audit_ledger")
    op.drop_table("audit_ledger")
