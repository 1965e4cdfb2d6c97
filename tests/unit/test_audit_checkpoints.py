"""Signed checkpoints anchor the ledger's head outside the database: the truncation replay from issue 22
(cut records off the end and write the old head row back) verifies without them and is caught with them."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from medinfer.audit import AuditEvent, AuditKey, AuditLedger, AuditStore, sqlite_url, verify_ledger
from medinfer.audit.checkpoint import (
    CheckpointSigner, CheckpointWriter, ensure_checkpoint_key, load_public_keys, read_checkpoints,
)
from medinfer.cli.main import app
from medinfer.security.devkeys import ensure_dev_keys

KEY = AuditKey(b"k" * 32)


def _event(i: int) -> AuditEvent:
    return AuditEvent(action="POST /infer", route="/infer", status=200, request_id=f"r{i}", sub="svc")


def _append(ledger: AuditLedger, n: int) -> None:
    async def run():
        for i in range(n):
            await ledger.append(_event(i))

    asyncio.run(run())


def sql(store: AuditStore, stmt: str, **params) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(stmt), params)


@pytest.fixture
def anchored(tmp_path):
    store = AuditStore(sqlite_url(tmp_path / "audit.db"))
    signer = CheckpointSigner.from_file(ensure_checkpoint_key(tmp_path / "cp.pem"))
    writer = CheckpointWriter(tmp_path / "checkpoints.jsonl", signer, interval_s=0)
    ledger = AuditLedger(store, KEY, checkpoints=writer)
    yield store, ledger, tmp_path / "checkpoints.jsonl", {signer.key_id: signer.public_key}
    asyncio.run(ledger.aclose())


def problems(store, files, keys):
    return [(p.seq, p.kind) for p in verify_ledger(store, [KEY], checkpoint_files=files, checkpoint_keys=keys).problems]


def test_truncation_with_the_old_head_written_back_is_caught(anchored):
    store, ledger, cp_file, keys = anchored
    _append(ledger, 3)
    with store.engine.connect() as conn:
        old_head = conn.execute(text("SELECT seq, hash, key_id, mac FROM audit_head WHERE id = 1")).one()
    _append(ledger, 2)
    sql(store, "DELETE FROM audit_ledger WHERE seq IN (4, 5)")
    sql(store, "UPDATE audit_head SET seq = :s, hash = :h, key_id = :k, mac = :m WHERE id = 1",
        s=old_head.seq, h=old_head.hash, k=old_head.key_id, m=old_head.mac)
    assert verify_ledger(store, [KEY]).ok  # the database alone cannot tell: this is what checkpoints are for
    assert problems(store, [cp_file], keys) == [(3, "truncated")]


def test_intact_anchored_ledger_verifies(anchored):
    store, ledger, cp_file, keys = anchored
    _append(ledger, 4)
    res = verify_ledger(store, [KEY], checkpoint_files=[cp_file], checkpoint_keys=keys)
    assert res.ok and res.checkpoints == 4 and res.anchored_seq == 4 and res.last_seq == 4


def test_rewritten_chain_disagrees_with_a_checkpoint(anchored):
    """An operator holding the HMAC key re-chains the ledger from record 2 on: the MACs verify, the anchor does not."""
    store, ledger, cp_file, keys = anchored
    _append(ledger, 3)
    from medinfer.audit.record import seal

    recs = list(store.iter_records())
    forged = seal([_event(9), _event(9)], 1, recs[0].hash, KEY)
    for r in forged:
        sql(store, "UPDATE audit_ledger SET ts = :ts, request_id = :rid, prev_hash = :p, hash = :h WHERE seq = :s",
            ts=r.ts, rid=r.request_id, p=r.prev_hash, h=r.hash, s=r.seq)
    sql(store, "UPDATE audit_head SET hash = :h, mac = :m WHERE id = 1", h=forged[-1].hash,
        m=KEY.head_mac(3, forged[-1].hash))
    assert verify_ledger(store, [KEY]).ok
    assert problems(store, [cp_file], keys) == [(2, "checkpoint-mismatch"), (3, "checkpoint-mismatch")]


def test_edited_forged_and_removed_checkpoint_lines(anchored, tmp_path):
    store, ledger, cp_file, keys = anchored
    _append(ledger, 3)
    lines = cp_file.read_bytes().splitlines(keepends=True)
    assert len(lines) == 3
    edited = json.loads(lines[2])
    edited["seq"] = 99  # claims a record that never existed
    cp_file.write_bytes(lines[0] + lines[2] + json.dumps(edited).encode() + b"\n")
    kinds = problems(store, [cp_file], keys)
    assert (3, "checkpoint-chain") in kinds and (99, "checkpoint-signature") in kinds
    other = CheckpointSigner.from_file(ensure_checkpoint_key(tmp_path / "other.pem"))
    assert problems(store, [cp_file], {other.key_id: other.public_key})[0][1] == "checkpoint-signature"


def test_writer_is_append_only_and_resumes_the_chain(tmp_path):
    signer = CheckpointSigner.from_file(ensure_checkpoint_key(tmp_path / "cp.pem"))
    path = tmp_path / "cps.jsonl"
    w = CheckpointWriter(path, signer, interval_s=0)
    w.after_commit(1, "a" * 64)
    w.after_commit(1, "a" * 64)  # unchanged head: no new line
    CheckpointWriter(path, signer, interval_s=0).after_commit(2, "b" * 64)  # a restarted gateway
    cps, bad = read_checkpoints(path)
    assert not bad and [c.seq for c in cps] == [1, 2] and cps[1].prev == cps[0].digest()
    assert (path.stat().st_mode & 0o777) == 0o600
    assert (tmp_path / "cp.pem").stat().st_mode & 0o777 == 0o600


def test_interval_limits_checkpoints_and_close_flushes(tmp_path):
    now = [0.0]
    signer = CheckpointSigner.from_file(ensure_checkpoint_key(tmp_path / "cp.pem"))
    w = CheckpointWriter(tmp_path / "cps.jsonl", signer, interval_s=1.0, clock=lambda: now[0])
    for seq in range(1, 6):
        w.after_commit(seq, f"{seq:064x}")
    now[0] = 1.5
    w.after_commit(6, f"{6:064x}")
    w.after_commit(7, f"{7:064x}")
    w.flush()
    assert [c.seq for c in read_checkpoints(tmp_path / "cps.jsonl")[0]] == [1, 6, 7]


def test_public_key_file_verifies(tmp_path):
    signer = CheckpointSigner.from_file(ensure_checkpoint_key(tmp_path / "cp.pem"))
    (tmp_path / "cp.pub").write_bytes(signer.public_pem())
    assert set(load_public_keys([tmp_path / "cp.pub"])) == {signer.key_id}
    (tmp_path / "ec.pem").write_bytes(ensure_dev_keys(tmp_path).private_key_file.read_bytes())
    with pytest.raises(ValueError):
        load_public_keys([tmp_path / "ec.pem"])


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDINFER_HOME", str(tmp_path))
    monkeypatch.setenv("MEDINFER_ENVIRONMENT", "development")
    return tmp_path


def test_cli_requires_checkpoints_and_reports_truncation(home):
    keys = ensure_dev_keys(home)
    key = AuditKey.from_file(keys.audit_key_file)
    store = AuditStore(sqlite_url(home / "medinfer.db"))
    store.append([_event(0)], key)
    res = CliRunner().invoke(app, ["audit", "verify"])
    assert res.exit_code == 2 and "checkpoint" in res.stderr  # no anchor: refused, not "OK"
    res = CliRunner().invoke(app, ["audit", "verify", "--no-checkpoints"])
    assert res.exit_code == 0 and "NOT checked" in res.stdout
    signer = CheckpointSigner.from_file(ensure_checkpoint_key(home / "keys" / "audit-checkpoint.pem"))
    writer = CheckpointWriter(home / "audit-checkpoints.jsonl", signer, interval_s=0)
    ledger = AuditLedger(store, key, checkpoints=writer)
    _append(ledger, 2)
    res = CliRunner().invoke(app, ["audit", "verify"])
    assert res.exit_code == 0 and "anchored through record 3" in res.stdout, res.stdout
    (home / "cp.pub").write_bytes(signer.public_pem())
    sql(store, "DELETE FROM audit_ledger WHERE seq = 3")
    sql(store, "UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_ledger WHERE seq = 2), "
               "mac = :m WHERE id = 1", m="0" * 64)
    res = CliRunner().invoke(app, ["audit", "verify", "--checkpoint-key", str(home / "cp.pub")])
    assert res.exit_code == 1 and "truncated" in res.stderr
    asyncio.run(ledger.aclose())


def test_two_writers_sharing_one_file_keep_one_chain(tmp_path):
    """Gateway workers on one host share the file: each line chains onto the line before it in the file."""
    signer = CheckpointSigner.from_file(ensure_checkpoint_key(tmp_path / "cp.pem"))
    path = tmp_path / "cps.jsonl"
    a, b = CheckpointWriter(path, signer, interval_s=0), CheckpointWriter(path, signer, interval_s=0)
    for seq in range(1, 7):
        (a if seq % 2 else b).after_commit(seq, f"{seq:064x}")
    cps, bad = read_checkpoints(path)
    assert not bad and [c.seq for c in cps] == [1, 2, 3, 4, 5, 6]
    assert all(later.prev == earlier.digest() for earlier, later in zip(cps, cps[1:]))
