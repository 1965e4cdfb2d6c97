"""Alembic environment for the audit ledger (own version table: ``alembic_version_audit``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

__all__ = ["upgrade", "alembic_config"]

HERE = Path(__file__).resolve().parent


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the ledger schema to ``revision`` on ``engine``'s database."""
    from medinfer.common.migration_lock import migration_lock

    cfg = alembic_config()
    with migration_lock(engine, "audit") as conn:  # replicas starting together migrate one at a time
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
