"""The ledger's storage: SQLite (WAL) by default, PostgreSQL through the same SQLAlchemy Core code.

Appends take the chain head under a lock that holds across processes
(SQLite ``BEGIN IMMEDIATE``; PostgreSQL ``SELECT ... FOR UPDATE`` on the head
row), number and chain the batch, insert it and move the head, all in one
transaction: several gateway workers can share one ledger. The head row
carries a MAC of the last ``(seq, hash)`` so that cutting records off the end
is detected too. Schema changes go through Alembic (:mod:`medinfer.audit.migrations`,
version table ``alembic_version_audit``, so the registry can share the database).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import (
    BigInteger, Column, Engine, Integer, MetaData, String, Table, Text, create_engine, event, insert, select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from medinfer.audit.record import GENESIS_HASH, AuditEvent, AuditKey, AuditRecord, canonical_json, seal

__all__ = ["AuditStore", "metadata", "ledger_table", "head_table", "sqlite_url", "VERSION_TABLE"]

VERSION_TABLE = "alembic_version_audit"

metadata = MetaData()

ledger_table = Table(
    "audit_ledger", metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("ts", String(32), nullable=False, index=True),
    Column("request_id", String(64), nullable=False),
    Column("sub", String(255)),
    Column("client_id", String(255)),
    Column("action", String(128), nullable=False),
    Column("route", String(255), nullable=False),
    Column("model", String(128)),
    Column("version", String(32)),
    Column("status", Integer, nullable=False),
    Column("latency_us", BigInteger, nullable=False),
    Column("input_digest", String(64)),
    Column("output_digest", String(64)),
    Column("phi_counts", Text, nullable=False),
    Column("patient_digest", String(64), index=True),
    Column("key_id", String(16), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("ood_reason", String(32)),  # audit_0002; NULL on records written before it
    Column("repeat", Integer),  # audit_0003; set only on aggregated failed-authentication records
)

head_table = Table(
    "audit_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("mac", String(64), nullable=False),
)


_COLUMNS = tuple(c.name for c in ledger_table.columns)
_SQLITE_INSERT = (f"INSERT INTO audit_ledger ({', '.join(_COLUMNS)}) "
                  f"VALUES ({', '.join('?' for _ in _COLUMNS)})")


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def _row_to_record(row) -> AuditRecord:
    m = row._mapping
    return AuditRecord(**{k: m[k] for k in m.keys() if k != "phi_counts"}, phi_counts=json.loads(m["phi_counts"]))


class AuditStore:
    def __init__(self, url: str, *, migrate: bool = True, engine: Engine | None = None,
                 sqlite_synchronous: str = "FULL") -> None:
        """``sqlite_synchronous``: FULL fsyncs every commit (one per group); NORMAL survives a process
        crash but may lose the last commits on power loss (WAL stays consistent)."""
        if sqlite_synchronous.upper() not in ("FULL", "NORMAL"):
            raise ValueError("sqlite_synchronous must be FULL or NORMAL")
        self.url = url
        self.engine = engine or _make_engine(url, sqlite_synchronous.upper())
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._append_lock = threading.Lock()
        self._append_conn = None  # SQLite: the pooled connection appends keep (see _append_sqlite)
        if migrate:
            from medinfer.audit.migrations import upgrade

            upgrade(self.engine)

    def append(self, events: list[AuditEvent], key: AuditKey, *, retries: int = 5) -> list[AuditRecord]:
        """Chain and commit ``events`` in one transaction (retried when another writer raced us)."""
        for attempt in range(retries):
            try:
                return self._append_once(events, key)
            except (IntegrityError, sqlite3.IntegrityError):
                if attempt == retries - 1:
                    raise
            except (OperationalError, sqlite3.OperationalError):
                if attempt == retries - 1 or not self.is_sqlite:
                    raise
        raise RuntimeError("unreachable")

    def _append_once(self, events: list[AuditEvent], key: AuditKey) -> list[AuditRecord]:
        if self.is_sqlite:
            return self._append_sqlite(events, key)
        with self.engine.begin() as conn:
            q = select(head_table.c.seq, head_table.c.hash).where(head_table.c.id == 1)
            if not self.is_sqlite:
                q = q.with_for_update()
            head = conn.execute(q).first()
            if head is None:
                conn.execute(insert(head_table).values(
                    id=1, seq=0, hash=GENESIS_HASH, key_id=key.key_id, mac=key.head_mac(0, GENESIS_HASH)))
                seq, last = 0, GENESIS_HASH
            else:
                seq, last = head.seq, head.hash
            records = seal(events, seq, last, key)
            conn.execute(insert(ledger_table), [
                {**r.to_json(), "phi_counts": canonical_json(r.phi_counts).decode()} for r in records])
            tail = records[-1]
            conn.execute(update(head_table).where(head_table.c.id == 1).values(
                seq=tail.seq, hash=tail.hash, key_id=key.key_id, mac=key.head_mac(tail.seq, tail.hash)))
        return records

    def _append_sqlite(self, events: list[AuditEvent], key: AuditKey) -> list[AuditRecord]:
        """The same transaction on one raw sqlite3 connection kept for appends: the request path waits on this,
        and SQLAlchemy's per-statement overhead and pool checkout (with its reset) cost more than the three
        statements themselves."""
        with self._append_lock:
            if self._append_conn is None:
                self._append_conn = self.engine.raw_connection()
            cur = self._append_conn.driver_connection.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
                try:
                    head = cur.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
                    if head is None:
                        cur.execute("INSERT INTO audit_head (id, seq, hash, key_id, mac) VALUES (1, 0, ?, ?, ?)",
                                    (GENESIS_HASH, key.key_id, key.head_mac(0, GENESIS_HASH)))
                        head = (0, GENESIS_HASH)
                    records = seal(events, head[0], head[1], key)
                    cur.executemany(_SQLITE_INSERT, [
                        tuple(canonical_json(r.phi_counts).decode() if c == "phi_counts" else getattr(r, c)
                              for c in _COLUMNS) for r in records])
                    tail = records[-1]
                    cur.execute("UPDATE audit_head SET seq = ?, hash = ?, key_id = ?, mac = ? WHERE id = 1",
                                (tail.seq, tail.hash, key.key_id, key.head_mac(tail.seq, tail.hash)))
                    cur.execute("COMMIT")
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
                finally:
                    cur.close()
            except BaseException:
                self._drop_append_conn()  # whatever failed, the next group starts on a fresh connection
                raise
        return records

    def _drop_append_conn(self) -> None:
        conn, self._append_conn = self._append_conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass

    def head(self) -> tuple[int, str, str, str] | None:
        """``(seq, hash, key_id, mac)`` of the head row, or None for an empty ledger."""
        with self.engine.connect() as conn:
            row = conn.execute(select(head_table.c.seq, head_table.c.hash, head_table.c.key_id,
                                      head_table.c.mac).where(head_table.c.id == 1)).first()
        return tuple(row) if row is not None else None  # type: ignore[return-value]

    def iter_records(self, *, since: str | None = None, patient_digests: list[str] | None = None,
                     page: int = 2000) -> Iterator[AuditRecord]:
        """Records in ``seq`` order, read in pages (keyset pagination: constant memory)."""
        last = 0
        while True:
            q = select(ledger_table).where(ledger_table.c.seq > last).order_by(ledger_table.c.seq).limit(page)
            if since is not None:
                q = q.where(ledger_table.c.ts >= since)
            if patient_digests is not None:
                q = q.where(ledger_table.c.patient_digest.in_(patient_digests))
            with self.engine.connect() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            for row in rows:
                yield _row_to_record(row)
            last = rows[-1].seq

    def search(self, filters: dict[str, object], *, since: str | None = None, until: str | None = None,
               after_seq: int = 0, limit: int = 100) -> list[AuditRecord]:
        """Records whose columns equal ``filters`` (column -> value), ``since <= ts < until``, after ``after_seq``,
        in ``seq`` order, at most ``limit``."""
        q = select(ledger_table).where(ledger_table.c.seq > int(after_seq))
        for column, value in filters.items():
            q = q.where(ledger_table.c[column] == value)
        if since is not None:
            q = q.where(ledger_table.c.ts >= since)
        if until is not None:
            q = q.where(ledger_table.c.ts < until)
        with self.engine.connect() as conn:
            rows = conn.execute(q.order_by(ledger_table.c.seq).limit(int(limit))).all()
        return [_row_to_record(r) for r in rows]

    def count(self) -> int:
        from sqlalchemy import func

        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(ledger_table)).scalar_one())

    def dispose(self) -> None:
        with self._append_lock:
            self._drop_append_conn()
        self.engine.dispose()


def _make_engine(url: str, synchronous: str = "FULL") -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record) -> None:
            # Let SQLAlchemy's begin emit our BEGIN IMMEDIATE (pysqlite's implicit BEGIN is deferred).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)
