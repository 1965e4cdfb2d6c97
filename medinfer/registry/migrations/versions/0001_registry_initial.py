"""Registry metadata: models, versions, files, tags, events, state.

Revision ID: registry_0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "registry_0001"
down_revision = None
branch_labels = ("registry",)
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "registry_models",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "registry_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "model_id", sa.Integer, sa.ForeignKey("registry_models.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("publisher", sa.String(128), nullable=False),
        sa.Column("published_at", _TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("breaking", sa.Boolean, nullable=False),
        sa.Column("signature", sa.JSON, nullable=False),
        sa.Column("config_pbtxt", sa.Text, nullable=False),
        sa.Column("model_card", sa.Text, nullable=False),
        sa.Column("validation", sa.JSON, nullable=False),
        sa.UniqueConstraint("model_id", "version", name="uq_registry_versions_model_version"),
    )
    op.create_table(
        "registry_files",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "version_id",
            sa.Integer,
            sa.ForeignKey("registry_versions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("path", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("version_id", "path", name="uq_registry_files_version_path"),
    )
    op.create_table(
        "registry_tags",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "model_id", sa.Integer, sa.ForeignKey("registry_models.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("previous_version", sa.Integer, nullable=True),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("sticky", sa.Boolean, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("pending_version", sa.Integer, nullable=True),
        sa.Column("pending_since", _TS, nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.UniqueConstraint("model_id", "name", name="uq_registry_tags_model_name"),
    )
    op.create_table(
        "registry_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "model_id", sa.Integer, sa.ForeignKey("registry_models.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("tag", sa.String(64), nullable=True),
        sa.Column("before_version", sa.Integer, nullable=True),
        sa.Column("after_version", sa.Integer, nullable=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_registry_events_model_id", "registry_events", ["model_id"])
    state = op.create_table(
        "registry_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("generation", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(state, [{"id": 1, "generation": 0}])


def downgrade() -> None:
    for table in (
        "registry_state",
        "registry_events",
        "registry_tags",
        "registry_files",
        "registry_versions",
        "registry_models",
    ):
        op.drop_table(table)
