"""The OOD reason code in the audit ledger: migration over a ledger with older records, MAC coverage,
export and ``medinfer audit verify`` (SQLite here; the same tests run on PostgreSQL)."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import create_engine, inspect, text

from medinfer.audit import AuditEvent, AuditKey, AuditStore, disclosures, sqlite_url, to_csv, verify_ledger
from medinfer.audit.migrations import upgrade
from medinfer.audit.record import GENESIS_HASH, RECORD_FIELDS, seal

KEY = AuditKey(b"o" * 32)
OLD_COLUMNS = (*RECORD_FIELDS, "hash")


def ev(i: int, reason: str | None = None, patient: str | None = "MRN-9") -> AuditEvent:
    return AuditEvent(action="POST /infer", route="/infer", status=200, request_id=f"r{i}", sub="svc",
                      client_id="svc", model="breast_cancer", version="1", latency_us=10 + i,
                      patient_digest=KEY.patient_digest(patient) if patient else None, ood_reason=reason)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request, tmp_path) -> str:
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return sqlite_url(tmp_path / "audit.db")


def _write_pre_migration_ledger(url: str, n: int) -> None:
    """A ledger as the first release wrote it: schema at audit_0001, records sealed without the field."""
    engine = create_engine(url)
    try:
        upgrade(engine, "audit_0001")
        records = seal([ev(i) for i in range(n)], 0, GENESIS_HASH, KEY)
        cols = ", ".join(OLD_COLUMNS)
        params = ", ".join(f":{c}" for c in OLD_COLUMNS)
        with engine.begin() as conn:
            assert "ood_reason" not in {c["name"] for c in inspect(conn).get_columns("audit_ledger")}
            for r in records:
                row = {c: getattr(r, c) for c in OLD_COLUMNS}
                row["phi_counts"] = "{}"
                conn.execute(text(f"INSERT INTO audit_ledger ({cols}) VALUES ({params})"), row)
            tail = records[-1]
            conn.execute(text("INSERT INTO audit_head (id, seq, hash, key_id, mac) VALUES (1, :s, :h, :k, :m)"),
                         {"s": tail.seq, "h": tail.hash, "k": KEY.key_id, "m": KEY.head_mac(tail.seq, tail.hash)})
    finally:
        engine.dispose()


def _sql(store: AuditStore, stmt: str, **params) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(stmt), params)


def _kinds(store: AuditStore) -> list[tuple[int, str]]:
    return [(p.seq, p.kind) for p in verify_ledger(store, [KEY]).problems]


def test_upgrade_keeps_old_records_verifying_and_new_ones_carry_the_reason(url):
    _write_pre_migration_ledger(url, 5)
    store = AuditStore(url)  # migrates to head: adds the nullable column
    try:
        assert "ood_reason" in {c["name"] for c in inspect(store.engine).get_columns("audit_ledger")}
        old = list(store.iter_records())
        assert [r.ood_reason for r in old] == [None] * 5
        # The canonical form of an old record is exactly the first release's (no ood_reason key).
        assert old[2].body().keys() == set(RECORD_FIELDS)
        assert KEY.chain_hash(old[2].prev_hash, {c: getattr(old[2], c) for c in RECORD_FIELDS}) == old[2].hash
        store.append([ev(5, "out-of-support"), ev(6), ev(7, "mahalanobis", patient=None)], KEY)
        res = verify_ledger(store, [KEY])
        assert res.ok and res.checked == 8 and res.ood_reasons == {"out-of-support": 1, "mahalanobis": 1}
        recs = list(store.iter_records())
        assert [r.ood_reason for r in recs[5:]] == ["out-of-support", None, "mahalanobis"]
        assert recs[6].prev_hash == recs[5].hash and recs[5].prev_hash == old[-1].hash  # one chain across
    finally:
        store.dispose()


def test_tampering_with_the_reason_is_detected(url):
    _write_pre_migration_ledger(url, 3)
    store = AuditStore(url)
    try:
        store.append([ev(3, "out-of-support"), ev(4, "mahalanobis"), ev(5)], KEY)
        assert verify_ledger(store, [KEY]).ok
        _sql(store, "UPDATE audit_ledger SET ood_reason = 'mahalanobis' WHERE seq = 2")  # old row, was NULL
        _sql(store, "UPDATE audit_ledger SET ood_reason = 'non-finite' WHERE seq = 4")  # changed
        _sql(store, "UPDATE audit_ledger SET ood_reason = NULL WHERE seq = 5")  # erased
        _sql(store, "UPDATE audit_ledger SET ood_reason = 'out-of-support' WHERE seq = 6")  # added
        assert _kinds(store) == [(2, "edited"), (4, "edited"), (5, "edited"), (6, "edited")]
    finally:
        store.dispose()


def test_export_carries_the_reason(url):
    store = AuditStore(url)
    try:
        store.append([ev(0, "out-of-support"), ev(1), ev(2, "non-finite", patient="MRN-other")], KEY)
        rows = disclosures(store, [KEY], "MRN-9", since=None)
        assert [r["ood_reason"] for r in rows] == ["out-of-support", None]
        parsed = list(csv.DictReader(io.StringIO(to_csv(rows))))
        assert [r["ood_reason"] for r in parsed] == ["out-of-support", ""]
    finally:
        store.dispose()


@pytest.mark.parametrize("value", ["mean_radius=1.3", "Out-Of-Support", "x" * 40, 12.5, ""])
def test_only_reason_codes_are_recorded(value):
    assert AuditEvent(action="a", ood_reason=value).ood_reason == "unknown"
    assert AuditEvent(action="a", ood_reason="prompt-injection").ood_reason == "prompt-injection"
    assert AuditEvent(action="a").ood_reason is None


def test_downgrade_then_upgrade_round_trips(tmp_path):
    url = sqlite_url(tmp_path / "rt.db")
    store = AuditStore(url)
    store.append([ev(0), ev(1, "mahalanobis")], KEY)
    from alembic import command

    from medinfer.audit.migrations import alembic_config

    with store.engine.connect() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "audit_0001")
        conn.commit()
        assert "ood_reason" not in {c["name"] for c in inspect(conn).get_columns("audit_ledger")}
    store.dispose()
    store = AuditStore(url)
    # The downgrade dropped the code: record 2's MAC (which covered it) no longer matches.
    assert _kinds(store) == [(2, "edited")]
    store.dispose()


def test_cli_verify_and_export_show_the_reason(tmp_path):
    import json

    from typer.testing import CliRunner

    from medinfer.cli.main import app

    key_file = tmp_path / "audit.key"
    key_file.write_text(("o" * 32).encode().hex())
    url = sqlite_url(tmp_path / "cli.db")
    _write_pre_migration_ledger(url, 2)
    store = AuditStore(url)
    store.append([ev(2, "out-of-support"), ev(3, "out-of-support"), ev(4, "non-finite")], KEY)
    opts = ["--url", url, "--key-file", str(key_file)]
    res = CliRunner().invoke(app, ["audit", "verify", "--no-checkpoints", *opts])
    assert res.exit_code == 0, res.output
    assert "5 records" in res.stdout and "OOD reason codes: non-finite=1, out-of-support=2" in res.stdout
    res = CliRunner().invoke(app, ["audit", "export", "--patient-key", "MRN-9", *opts])
    assert res.exit_code == 0 and [r["ood_reason"] for r in json.loads(res.stdout)["disclosures"]] == [
        None, None, "out-of-support", "out-of-support", "non-finite"]
    _sql(store, "UPDATE audit_ledger SET ood_reason = 'mahalanobis' WHERE seq = 3")
    res = CliRunner().invoke(app, ["audit", "verify", "--no-checkpoints", *opts])
    assert res.exit_code == 1 and "record 3: edited" in res.stderr
    store.dispose()
