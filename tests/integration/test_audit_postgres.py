"""The audit ledger on a real PostgreSQL server: the same code as SQLite, concurrent writers from
separate engines (as separate gateway processes would be) keep one intact chain."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import inspect, text

from medinfer.audit import AuditEvent, AuditKey, AuditLedger, AuditStore, disclosures, verify_ledger

pytestmark = pytest.mark.postgres

KEY = AuditKey(b"p" * 32)


def ev(i: int, patient: str | None = None) -> AuditEvent:
    return AuditEvent(action="POST /infer", route="/infer", status=200, request_id=f"r{i}", sub="svc",
                      client_id="svc", patient_digest=KEY.patient_digest(patient) if patient else None)


def test_migrations_use_their_own_version_table(postgres_url):
    store = AuditStore(postgres_url)
    tables = set(inspect(store.engine).get_table_names())
    assert {"audit_ledger", "audit_head", "alembic_version_audit"} <= tables and "alembic_version" not in tables
    AuditStore(postgres_url).dispose()  # migrating again is a no-op
    store.dispose()


def test_concurrent_writers_keep_one_chain(postgres_url):
    stores = [AuditStore(postgres_url) for _ in range(3)]

    def writer(store: AuditStore, base: int) -> None:
        for i in range(40):
            store.append([ev(base + i), ev(base + i + 1000)], KEY)

    threads = [threading.Thread(target=writer, args=(s, n * 10_000)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    res = verify_ledger(stores[0], [KEY])
    assert res.ok and res.checked == 240 and res.last_seq == 240
    for s in stores:
        s.dispose()


def test_group_commit_tamper_and_export_on_postgres(postgres_url):
    store = AuditStore(postgres_url)
    ledger = AuditLedger(store, KEY)

    async def run():
        await asyncio.gather(*(ledger.append(ev(i, "MRN-7" if i % 3 == 0 else None)) for i in range(60)))

    asyncio.run(run())
    assert ledger.batches < 60 and verify_ledger(store, [KEY]).ok
    assert len(disclosures(store, [KEY], "MRN-7", since=None)) == 20
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_ledger SET client_id = 'someone' WHERE seq = 30"))
    assert [(p.seq, p.kind) for p in verify_ledger(store, [KEY]).problems] == [(30, "edited")]
    asyncio.run(ledger.aclose())
