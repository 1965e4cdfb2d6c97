"""Registry replicas: each gateway replica acknowledges the routing generation it routes on
and its in-flight requests, so a retired version is unloaded only after every replica drained.

Revision ID: registry_0003
Revises: registry_0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "registry_0003"
down_revision = "registry_0002"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "registry_replicas",
        sa.Column("replica_id", sa.String(128), primary_key=True),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("inflight", sa.JSON, nullable=False),
        sa.Column("endpoints", sa.JSON, nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("heartbeat_at", _TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("registry_replicas")
