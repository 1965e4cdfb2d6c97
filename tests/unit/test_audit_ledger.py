"""Audit ledger: chaining, tamper detection (edit, delete, insert, reorder, truncate), group commit,
fail-closed appends, accounting of disclosures."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import pytest
from sqlalchemy import text

from medinfer.audit import (
    AuditEvent, AuditKey, AuditLedger, AuditStore, AuditUnavailable, disclosures, sqlite_url, to_csv,
    to_json_report, verify_ledger,
)
from medinfer.audit.record import seal

KEY = AuditKey(b"k" * 32)


def events(n: int, **kw) -> list[AuditEvent]:
    return [AuditEvent(action="POST /infer", route="/infer", status=200, request_id=f"r{i}", sub="svc",
                       client_id="svc", model="breast_cancer", version="1", latency_us=100 + i,
                       input_digest=KEY.content_digest(b"in%d" % i), output_digest=KEY.content_digest(b"out"),
                       phi_counts={"PERSON": 1} if i % 2 else {}, **kw) for i in range(n)]


@pytest.fixture
def store(tmp_path):
    s = AuditStore(sqlite_url(tmp_path / "audit.db"))
    s.append(events(10), KEY)
    yield s
    s.dispose()


def sql(store: AuditStore, stmt: str, **params) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(stmt), params)


def kinds(store: AuditStore, keys=(KEY,)) -> list[tuple[int, str]]:
    return [(p.seq, p.kind) for p in verify_ledger(store, list(keys)).problems]


def test_intact_chain_verifies(store):
    res = verify_ledger(store, [KEY])
    assert res.ok and res.checked == 10 and res.last_seq == 10
    recs = list(store.iter_records())
    assert [r.seq for r in recs] == list(range(1, 11))
    assert all(b.prev_hash == a.hash for a, b in zip(recs, recs[1:]))


def test_edit_detected_at_the_record(store):
    sql(store, "UPDATE audit_ledger SET status = 403 WHERE seq = 5")
    assert kinds(store) == [(5, "edited")]


def test_edit_with_rechained_hash_detected(store):
    # The attacker recomputes the edited record's hash (without the key: plain SHA-256).
    sql(store, "UPDATE audit_ledger SET sub = 'someone-else', hash = :h WHERE seq = 5", h="ab" * 32)
    assert kinds(store) == [(5, "edited"), (6, "broken-link")]


def test_delete_detected_as_gap(store):
    sql(store, "DELETE FROM audit_ledger WHERE seq = 4")
    assert kinds(store) == [(5, "gap"), (5, "broken-link")]


def test_insert_detected(store):
    sql(store, "UPDATE audit_ledger SET seq = seq + 1000 WHERE seq >= 6")
    sql(store, "UPDATE audit_ledger SET seq = seq - 999 WHERE seq >= 1000")
    sql(store, "INSERT INTO audit_ledger SELECT 6, ts, 'forged', sub, client_id, action, route, model, version, "
               "status, latency_us, input_digest, output_digest, phi_counts, patient_digest, key_id, hash, :h, "
               "ood_reason, repeat "
               "FROM audit_ledger WHERE seq = 5", h="f" * 64)
    found = kinds(store)
    assert found[0] == (6, "edited")
    assert (7, "broken-link") in found and (7, "edited") in found


def test_reorder_detected(store):
    cols = "ts, request_id, latency_us, input_digest, phi_counts, prev_hash, hash"
    with store.engine.begin() as conn:
        a = conn.execute(text(f"SELECT {cols} FROM audit_ledger WHERE seq = 3")).one()._mapping
        b = conn.execute(text(f"SELECT {cols} FROM audit_ledger WHERE seq = 7")).one()._mapping
        sets = ", ".join(f"{c} = :{c}" for c in a.keys())
        conn.execute(text(f"UPDATE audit_ledger SET {sets} WHERE seq = 3"), dict(b))
        conn.execute(text(f"UPDATE audit_ledger SET {sets} WHERE seq = 7"), dict(a))
    found = kinds(store)
    assert found[0] == (3, "edited") and (7, "edited") in found and (4, "broken-link") in found


def test_truncated_tail_detected_by_head(store):
    sql(store, "DELETE FROM audit_ledger WHERE seq >= 9")
    assert kinds(store) == [(8, "head")]


def test_forged_head_detected(store):
    sql(store, "DELETE FROM audit_ledger WHERE seq = 10")
    last = list(store.iter_records())[-1]
    sql(store, "UPDATE audit_head SET seq = 9, hash = :h", h=last.hash)
    assert kinds(store) == [(9, "head")]


def test_rechain_with_another_key_detected(store):
    forger = AuditKey(b"f" * 32)
    sql(store, "DELETE FROM audit_ledger")
    sql(store, "DELETE FROM audit_head")
    store.append(events(3), forger)
    assert {k for _, k in kinds(store)} == {"unknown-key"}


def test_key_rotation_verifies_with_both_keys(store):
    new = AuditKey(b"n" * 32)
    store.append(events(2), new)
    assert verify_ledger(store, [KEY, new]).ok
    assert not verify_ledger(store, [new]).ok


def test_seal_is_deterministic_and_content_free():
    a = seal(events(2), 0, "0" * 64, KEY)
    b = seal(events(2), 0, "0" * 64, KEY)
    assert [r.hash for r in a] != [] and a[0].body()["seq"] == 1
    assert a[1].prev_hash == a[0].hash
    assert b[0].input_digest == a[0].input_digest and len(a[0].input_digest) == 64


def test_group_commit_batches_concurrent_appends(tmp_path):
    ledger = AuditLedger(AuditStore(sqlite_url(tmp_path / "g.db")), KEY, max_batch=512)

    async def run():
        recs = await asyncio.gather(*(ledger.append(e) for e in events(300)))
        await ledger.aclose()
        return recs

    recs = asyncio.run(run())
    assert sorted(r.seq for r in recs) == list(range(1, 301))
    assert ledger.records == 300 and ledger.batches < 300
    assert verify_ledger(AuditStore(sqlite_url(tmp_path / "g.db")), [KEY]).ok


def test_unbatched_mode_commits_one_by_one(tmp_path):
    ledger = AuditLedger(AuditStore(sqlite_url(tmp_path / "u.db")), KEY, max_batch=1)

    async def run():
        await asyncio.gather(*(ledger.append(e) for e in events(20)))
        await ledger.aclose()

    asyncio.run(run())
    assert ledger.batches == 20


def test_fail_closed_when_store_cannot_be_written(tmp_path):
    store = AuditStore(sqlite_url(tmp_path / "f.db"))
    ledger = AuditLedger(store, KEY)
    sql(store, "DROP TABLE audit_ledger")

    async def run():
        with pytest.raises(AuditUnavailable) as ei:
            await ledger.append(events(1)[0])
        await ledger.aclose()
        return ei.value

    err = asyncio.run(run())
    assert err.status == 503 and err.code == "audit-unavailable" and "Retry-After" in err.headers


def test_accounting_of_disclosures(tmp_path):
    store = AuditStore(sqlite_url(tmp_path / "d.db"))
    mine = events(3, patient_digest=KEY.patient_digest("MRN-0001"))
    other = events(2, patient_digest=KEY.patient_digest("MRN-0002"))
    old = events(1, patient_digest=KEY.patient_digest("MRN-0001"), ts="2020-01-01T00:00:00.000000Z")
    store.append(old + mine + other, KEY)
    rows = disclosures(store, [KEY], "MRN-0001", since="2021-01-01T00:00:00.000000Z")
    assert len(rows) == 3 and {r["recipient_client_id"] for r in rows} == {"svc"}
    assert len(disclosures(store, [KEY], "MRN-0001", since=None)) == 4
    report = to_json_report(rows, "2021-01-01")
    assert report["count"] == 3 and "MRN-0001" not in json.dumps(report)
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert len(parsed) == 3 and parsed[0]["model"] == "breast_cancer"
    store.dispose()


def test_records_never_hold_the_patient_key(tmp_path):
    store = AuditStore(sqlite_url(tmp_path / "p.db"))
    store.append(events(1, patient_digest=KEY.patient_digest("CANARY-MRN-777")), KEY)
    dump = "\n".join(store.engine.raw_connection().driver_connection.iterdump())
    assert "CANARY-MRN-777" not in dump
    store.dispose()
