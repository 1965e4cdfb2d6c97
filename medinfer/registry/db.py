"""Metadata schema of the registry (SQLAlchemy 2 ORM) and the database bootstrap.

Tables are prefixed ``registry_`` and Alembic keeps its own version table
(``alembic_version_registry``) so the registry can share one database with the
audit ledger, which runs its own migrations. SQLite and PostgreSQL use the same
code; the schema is created only through the Alembic migrations in
``medinfer/registry/migrations`` (never ``create_all``), so both stay in step.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "Base",
    "ModelRow",
    "VersionRow",
    "FileRow",
    "TagRow",
    "EventRow",
    "StateRow",
    "OutboxRow",
    "ReplicaRow",
    "VERSION_TABLE",
    "MIGRATIONS_DIR",
    "make_engine",
    "migrate",
    "utcnow",
]

log = logging.getLogger("medinfer.registry")

VERSION_TABLE = "alembic_version_registry"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: sa.JSON, dt.datetime: sa.DateTime(timezone=True)}


class ModelRow(Base):
    __tablename__ = "registry_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(sa.String(128))

    versions: Mapped[list[VersionRow]] = relationship(back_populates="model", order_by="VersionRow.version")
    tags: Mapped[list[TagRow]] = relationship(back_populates="model")


class VersionRow(Base):
    """One immutable published version. ``status`` is ``ready`` or ``failed`` (a later
    validation or a Triton load failed); a failed version can never be promoted."""

    __tablename__ = "registry_versions"
    __table_args__ = (sa.UniqueConstraint("model_id", "version", name="uq_registry_versions_model_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(sa.ForeignKey("registry_models.id", ondelete="CASCADE"))
    version: Mapped[int]
    publisher: Mapped[str] = mapped_column(sa.String(128))
    published_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(sa.String(16))
    breaking: Mapped[bool] = mapped_column(default=False)
    signature: Mapped[dict[str, Any]]
    config_pbtxt: Mapped[str] = mapped_column(sa.Text)
    model_card: Mapped[str] = mapped_column(sa.Text, default="")
    validation: Mapped[dict[str, Any]]

    model: Mapped[ModelRow] = relationship(back_populates="versions")
    files: Mapped[list[FileRow]] = relationship(back_populates="version", order_by="FileRow.path")


class FileRow(Base):
    __tablename__ = "registry_files"
    __table_args__ = (sa.UniqueConstraint("version_id", "path", name="uq_registry_files_version_path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("registry_versions.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(sa.String(255))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(sa.BigInteger)

    version: Mapped[VersionRow] = relationship(back_populates="files")


class TagRow(Base):
    """A release tag. ``revision`` is the compare-and-set counter every move checks;
    ``pending_version`` claims the tag while a promotion loads the new version in
    Triton, so a concurrent promotion of the same model gets 409 at once.
    The ``canary`` tag also carries its traffic ``weight`` (percent) and stickiness."""

    __tablename__ = "registry_tags"
    __table_args__ = (sa.UniqueConstraint("model_id", "name", name="uq_registry_tags_model_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(sa.ForeignKey("registry_models.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(64))
    version: Mapped[int | None]
    previous_version: Mapped[int | None]
    weight: Mapped[float] = mapped_column(default=0.0)
    sticky: Mapped[bool] = mapped_column(default=False)
    revision: Mapped[int] = mapped_column(default=0)
    pending_version: Mapped[int | None]
    pending_since: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime]
    updated_by: Mapped[str] = mapped_column(sa.String(128))

    model: Mapped[ModelRow] = relationship(back_populates="tags")


class EventRow(Base):
    """History of every registry change: publish, tag moves, canary changes, rollbacks."""

    __tablename__ = "registry_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(sa.ForeignKey("registry_models.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    tag: Mapped[str | None] = mapped_column(sa.String(64))
    before_version: Mapped[int | None]
    after_version: Mapped[int | None]
    actor: Mapped[str] = mapped_column(sa.String(128))
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    at: Mapped[dt.datetime]
    detail: Mapped[dict[str, Any]]


class StateRow(Base):
    """One row: ``generation`` grows on every routing-relevant change, so a gateway
    refreshes its in-memory snapshot by polling one integer instead of reading tags
    per request."""

    __tablename__ = "registry_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    generation: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class OutboxRow(Base):
    """One audit event waiting for (or past) delivery to the audit sink.

    Written in the same transaction as the change it records, so a committed change
    always has its event; ``payload`` is the event JSON exactly as ``make_event``
    built it. ``claimed_by``/``claim_until`` are a delivery lease (compare-and-set),
    ``delivered_at`` is set once the sink accepted the event. See ``outbox.py``."""

    __tablename__ = "registry_audit_outbox"
    __table_args__ = (
        sa.Index(
            "ix_registry_audit_outbox_pending",
            "id",
            postgresql_where=sa.text("delivered_at IS NULL"),
            sqlite_where=sa.text("delivered_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime]
    action: Mapped[str] = mapped_column(sa.String(64))
    model: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[str] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(128))
    claim_until: Mapped[dt.datetime | None]
    delivered_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(64))


class ReplicaRow(Base):
    """One gateway replica's acknowledgement, rewritten every refresh tick: the routing
    ``generation`` it routes on, its in-flight requests per ``"model/version"`` and the
    Triton endpoints it routes to. A promotion unloads a retired version only once every
    live replica (``heartbeat_at`` recent) routes on the new generation and has nothing
    in flight on the old version (``replicas.py``)."""

    __tablename__ = "registry_replicas"

    replica_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    generation: Mapped[int] = mapped_column(sa.BigInteger)
    inflight: Mapped[dict[str, Any]]
    endpoints: Mapped[dict[str, Any]]
    started_at: Mapped[dt.datetime]
    heartbeat_at: Mapped[dt.datetime]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.close()


def make_engine(url: str, **kw: Any) -> Engine:
    """An engine with short connect timeouts, so an unreachable database fails fast."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 5}, **kw)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args = {"connect_timeout": 5} if url.startswith("postgresql") else {}
    return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kw)


def migrate(engine: Engine, revision: str = "head") -> str | None:
    """Bring the registry tables to ``revision`` with Alembic (idempotent), one replica at
    a time (``migration_lock``). Returns the revision it upgraded from (``"base"`` on an
    empty database), or None when the schema was already at ``revision``."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from medinfer.common.migration_lock import migration_lock

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    target = ScriptDirectory.from_config(cfg).as_revision_number(revision)
    with migration_lock(engine, "registry") as conn:
        current = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()
        if current == target:
            return None
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    log.info("registry schema migrated", extra={"from_revision": current or "base", "to_revision": target})
    return current or "base"
