"""Run a schema migration once when many replicas start at the same moment.

Every gateway replica runs ``alembic upgrade`` at start-up. Unserialised, two replicas on
an empty database both see "no version table" and both create the tables: one fails on
``CREATE TABLE`` and crash-loops, or, worse, a data migration runs twice. The upgrade
therefore runs inside ``migration_lock``:

* PostgreSQL: ``pg_advisory_xact_lock`` on the upgrade's own connection and transaction,
  keyed by the component (registry, audit); the second replica waits, then finds the
  schema at head and does nothing. The lock ends with the transaction, also when the
  process dies.
* SQLite: an exclusive ``flock`` on ``<database>.migrate.lock`` beside the file (released
  by the kernel when the process dies). In-memory databases need no lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

__all__ = ["migration_lock", "lock_key"]


def lock_key(component: str) -> int:
    """A stable signed 64-bit advisory-lock key per component."""
    return int.from_bytes(hashlib.blake2b(f"medinfer-migrate:{component}".encode(), digest_size=8).digest(),
                          "big", signed=True)


@contextmanager
def migration_lock(engine: sa.Engine, component: str) -> Iterator[sa.Connection]:
    """A connection in a transaction, held exclusively against other replicas migrating
    ``component`` until that transaction has committed (the schema change is visible)."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(component)})
            yield conn
        return
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        with engine.begin() as conn:
            yield conn
        return
    fd = os.open(f"{database}.migrate.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with engine.begin() as conn:  # committed before the lock is released
            yield conn
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
