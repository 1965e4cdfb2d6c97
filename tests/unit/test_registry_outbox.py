"""The registry's audit outbox: a committed change never loses its audit record.

Real SQLite and real PostgreSQL, the real audit ledger (``AuditLedger`` on an
``AuditStore``) behind the production ``LedgerRegistrySink``; ledger outages are
the store failing its appends, so the ledger's own fail-closed path answers.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from medinfer.audit import AuditKey, AuditLedger, AuditStore, sqlite_url, verify_ledger
from medinfer.audit.registry_sink import LedgerRegistrySink
from medinfer.common.errors import BackendUnavailable, Conflict, ModelNotFound, ValidationFailed
from medinfer.registry import LogAuditSink, RegistrySettings, build_registry
from medinfer.registry.db import OutboxRow, make_engine, migrate
from medinfer.registry.outbox import AuditOutbox
from medinfer.registry.runtime import build_runtime
from tests.support.onnx_models import linear, write_folder

KEY = AuditKey(b"k" * 32)
REPO = Path(__file__).resolve().parents[2]


class FlakyAuditStore(AuditStore):
    """The ledger's database refusing ``fail`` appends (down, full, timing out), then healthy."""

    fail = 0

    def append(self, events, key, *, retries: int = 5):
        if self.fail > 0:
            self.fail -= 1
            raise sa.exc.OperationalError("INSERT INTO audit_ledger", {}, Exception("ledger database down"))
        return super().append(events, key, retries=retries)


@pytest.fixture
def loop():
    """The event loop the gateway's ledger lives on (the registry calls in from worker threads)."""
    lp = asyncio.new_event_loop()
    t = threading.Thread(target=lp.run_forever, daemon=True)
    t.start()
    yield lp
    lp.call_soon_threadsafe(lp.stop)
    t.join(5)
    lp.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request, tmp_path: Path) -> dict:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        return {"registry": url, "audit": url, "home": tmp_path / "home"}  # one shared database
    return {"registry": None, "audit": sqlite_url(tmp_path / "audit.db"), "home": tmp_path / "home"}


@pytest.fixture
def ledger(db, loop):
    store = FlakyAuditStore(db["audit"])
    led = AuditLedger(store, KEY)
    yield led
    asyncio.run_coroutine_threadsafe(led.aclose(), loop).result(10)


def settings(db, **kw) -> RegistrySettings:
    return RegistrySettings(home=db["home"], drain_grace_s=0, database_url=db["registry"], **kw)


@pytest.fixture
def reg(db, ledger, loop):
    r = build_registry(settings(db), audit=LedgerRegistrySink(ledger, loop))
    yield r
    r.store.engine.dispose()


def publish(reg, tmp_path: Path, seed: int = 0):
    folder = write_folder(tmp_path / f"src-{seed}", linear, seed=seed)
    return reg.publish(folder, "tumor", actor="alice", reason="test")


def outbox(reg) -> list[OutboxRow]:
    with reg.store.session() as s:
        return list(s.scalars(sa.select(OutboxRow).order_by(OutboxRow.id)))


def registry_records(ledger) -> list:
    return [r for r in ledger.store.iter_records() if r.action.startswith("registry.")]


def test_ledger_outage_keeps_the_event_queued_and_delivers_it_once(reg, ledger, tmp_path):
    publish(reg, tmp_path)
    publish(reg, tmp_path, seed=2)
    reg.promote("tumor", 1, actor="bob", reason="first")
    ledger.store.fail = 2
    with pytest.raises(BackendUnavailable) as err:
        reg.promote("tumor", 2, actor="bob", reason="CAB-1")
    assert err.value.status == 503 and err.value.code == "audit-unavailable"
    assert reg.get_model("tumor")["current"] == 2  # the change is committed
    assert [e["kind"] for e in reg.history("tumor")][-1] == "promote"  # history table as before
    rows = outbox(reg)
    pending = [r for r in rows if r.delivered_at is None]
    assert [(r.action, r.attempts, r.last_error) for r in pending] == [
        ("model.promote", 1, "audit-unavailable")
    ]
    assert reg.outbox.pending(reg.store) == 1
    with pytest.raises(BackendUnavailable):  # the ledger is still down: still queued
        reg.deliver_audit()
    assert reg.deliver_audit() == 1
    assert reg.deliver_audit() == 0
    assert all(r.delivered_at is not None and r.claimed_by is None for r in outbox(reg))

    records = registry_records(ledger)
    assert [r.action for r in records] == [
        "registry.model.publish", "registry.model.publish", "registry.model.promote", "registry.model.promote"
    ]
    assert [r.request_id for r in records] == [f"registry-outbox-{r.id}" for r in rows]
    # the digest covers exactly the event make_event built (the queued payload)
    assert records[-1].input_digest == KEY.content_digest(pending[0].payload.encode())
    payload = json.loads(pending[0].payload)
    assert (payload["before"], payload["after"], payload["reason"]) == (1, 2, "CAB-1")
    assert verify_ledger(ledger.store, [KEY]).ok


def test_the_next_change_delivers_older_events_first(reg, ledger, tmp_path):
    publish(reg, tmp_path)
    publish(reg, tmp_path, seed=2)
    ledger.store.fail = 1
    with pytest.raises(BackendUnavailable):
        reg.promote("tumor", 1, actor="bob")
    reg.set_canary("tumor", 2, 10, actor="carol", reason="next change")  # ledger back
    assert reg.outbox.pending(reg.store) == 0
    actions = [r.action for r in registry_records(ledger)]
    assert actions[-2:] == ["registry.model.promote", "registry.model.canary"]
    assert verify_ledger(ledger.store, [KEY]).ok


def test_an_older_stuck_event_makes_a_later_change_answer_503(reg, ledger, tmp_path):
    """The caller learns the audit trail is behind even when its own change is fine."""
    publish(reg, tmp_path)
    ledger.store.fail = 2
    with pytest.raises(BackendUnavailable):
        reg.promote("tumor", 1, actor="bob")
    with pytest.raises(BackendUnavailable):
        publish(reg, tmp_path, seed=2)
    assert reg.get_model("tumor")["versions"][-1]["version"] == 2
    assert reg.deliver_audit() == 2
    assert [r.action for r in registry_records(ledger)][-2:] == ["registry.model.promote", "registry.model.publish"]


def test_gateway_start_up_adopts_while_the_ledger_is_down(reg, ledger, tmp_path):
    """Adoption and its promotion commit with their events queued; start-up goes on."""
    from medinfer.registry.bootstrap import adopt_repository
    from medinfer.triton.onnx_signature import config_from_onnx

    for v in (1, 2):
        src = linear(tmp_path / f"shipped{v}.onnx", seed=v)
        reg.repository.write_version(config_from_onnx("shipped", src), v, {"model.onnx": src}, {"kind": "tensor"})
    ledger.store.fail = 10**6
    done = adopt_repository(reg, actor="gateway-startup", reason="shipped")
    assert [d["version"] for d in done] == [1, 2] and reg.get_model("shipped")["current"] == 2
    assert [r.action for r in outbox(reg)] == ["model.adopt", "model.adopt", "model.promote"]
    assert reg.outbox.pending(reg.store) == 3
    ledger.store.fail = 0
    assert reg.deliver_audit() == 3
    assert [r.action for r in registry_records(ledger)] == [
        "registry.model.adopt", "registry.model.adopt", "registry.model.promote"
    ]


def test_bad_inputs_change_nothing_and_queue_nothing(reg, tmp_path):
    publish(reg, tmp_path)
    reg.promote("tumor", 1, actor="bob")
    before = [(r.id, r.delivered_at is not None) for r in outbox(reg)]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.onnx").write_bytes(b"not an onnx model")
    for op, exc in (
        (lambda: reg.publish(bad, "tumor", actor="a"), ValidationFailed),
        (lambda: reg.publish(bad, "Bad Name", actor="a"), ValidationFailed),
        (lambda: reg.promote("tumor", 9, actor="a"), ModelNotFound),
        (lambda: reg.promote("tumor", 1, actor="a"), Conflict),
        (lambda: reg.rollback("tumor", actor="a"), Conflict),
        (lambda: reg.set_canary("tumor", 1, 500, actor="a"), ValidationFailed),
        (lambda: reg.set_tag("tumor", "current", 1, actor="a"), ValidationFailed),
        (lambda: reg.clear_canary("tumor", actor="a"), Conflict),
    ):
        with pytest.raises(exc):
            op()
    assert [(r.id, r.delivered_at is not None) for r in outbox(reg)] == before


def test_log_sink_does_not_drain_events_owed_to_the_ledger(db, reg, ledger, tmp_path, caplog):
    """A local CLI (log sink) logs its change; the ledger-backed registry delivers it."""
    publish(reg, tmp_path)
    cli = build_registry(settings(db))
    try:
        assert isinstance(cli.audit, LogAuditSink)
        with caplog.at_level("INFO", logger="medinfer.registry"):
            cli.promote("tumor", 1, actor="ops", reason="local")
        assert any(getattr(r, "event", None) == "model.promote" for r in caplog.records)
        assert cli.outbox.pending(cli.store) == 1
        assert cli.deliver_audit() == 0
    finally:
        cli.store.engine.dispose()
    assert reg.deliver_audit() == 1
    assert registry_records(ledger)[-1].action == "registry.model.promote"


CRASH = textwrap.dedent(
    """
    import asyncio, os, sys, threading
    from pathlib import Path
    from medinfer.audit import AuditKey, AuditLedger, AuditStore
    from medinfer.audit.registry_sink import LedgerRegistrySink
    from medinfer.registry import RegistrySettings, build_registry
    from medinfer.registry.service import Registry

    home, reg_url, audit_url, when = sys.argv[1:5]
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    sink = LedgerRegistrySink(AuditLedger(AuditStore(audit_url), AuditKey(b"k" * 32)), loop)

    class Dies:
        def record(self, event):
            if when == "after-append":
                sink.record(event)
            os._exit(17)   # the process dies: no cleanup, no delivery mark

    if when == "after-commit":
        Registry._record = lambda self, outbox_id: os._exit(17)   # dies before delivery starts
    settings = RegistrySettings(home=Path(home), drain_grace_s=0, database_url=reg_url or None,
                                audit_outbox_lease_s=1)
    build_registry(settings, audit=Dies()).promote("tumor", 1, actor="bob", reason="before the crash")
    """
)


@pytest.mark.parametrize("when", ["after-commit", "before-append", "after-append"])
def test_a_crash_after_commit_is_delivered_by_the_next_process(db, reg, ledger, loop, tmp_path, when):
    """after-commit: delivered at start-up; died holding the claim: delivered by the runtime's
    loop once the lease expired; died after the append: delivered again (at-least-once),
    recognisable by the outbox id."""
    publish(reg, tmp_path)
    res = subprocess.run(
        [sys.executable, "-c", CRASH, str(db["home"]), db["registry"] or "", db["audit"], when],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == 17, res.stderr[-2000:]
    assert reg.get_model("tumor")["current"] == 1
    assert reg.outbox.pending(reg.store) == 1

    metrics = CollectorRegistry()
    rt = build_runtime(
        settings(db, refresh_interval_s=0.02, audit_outbox_retry_s=0.05),
        audit=LedgerRegistrySink(ledger, loop),
        metrics_registry=metrics,
    )
    try:
        rt.start()
        if when == "after-commit":
            assert metrics.get_sample_value("medinfer_registry_audit_outbox_pending") == 0
        deadline = time.monotonic() + 10
        while metrics.get_sample_value("medinfer_registry_audit_outbox_pending") != 0:
            assert time.monotonic() < deadline, "the queued event was never delivered"
            time.sleep(0.02)
    finally:
        rt.stop()
    promotes = [r for r in registry_records(ledger) if r.action == "registry.model.promote"]
    row = outbox(reg)[-1]
    assert {r.request_id for r in promotes} == {f"registry-outbox-{row.id}"}
    if when == "after-append":
        # the documented at-least-once window: appended, then died before the mark
        assert len(promotes) == 2 and promotes[0].input_digest == promotes[1].input_digest
    else:
        assert len(promotes) == 1
    assert verify_ledger(ledger.store, [KEY]).ok


def test_the_runtime_loop_retries_and_exports_the_pending_gauge(db, ledger, loop, tmp_path):
    metrics = CollectorRegistry()
    rt = build_runtime(
        settings(db, refresh_interval_s=0.02, audit_outbox_retry_s=0.05),
        audit=LedgerRegistrySink(ledger, loop),
        metrics_registry=metrics,
    )
    try:
        publish(rt.registry, tmp_path)
        ledger.store.fail = 10**6
        with pytest.raises(BackendUnavailable):
            rt.registry.promote("tumor", 1, actor="bob")
        assert metrics.get_sample_value("medinfer_registry_audit_outbox_pending") == 1
        rt.start()  # the ledger is down: start-up defers, it does not fail
        assert rt.registry.get_model("tumor")["current"] == 1
        ledger.store.fail = 0
        deadline = time.monotonic() + 10
        while metrics.get_sample_value("medinfer_registry_audit_outbox_pending") != 0:
            assert time.monotonic() < deadline, "the background loop never delivered"
            time.sleep(0.02)
    finally:
        rt.stop()
    promotes = [r for r in registry_records(ledger) if r.action == "registry.model.promote"]
    assert len(promotes) == 1 and verify_ledger(ledger.store, [KEY]).ok


def test_two_deliverers_do_not_deliver_one_event_twice(db, tmp_path):
    """Two gateway processes' registries on one database: every event exactly once, in order."""
    regs = [build_registry(settings(db)) for _ in range(2)]
    seen: list[int] = []
    lock = threading.Lock()

    class Counting:
        def record(self, event: dict) -> None:
            time.sleep(0.002)  # a real append takes a moment; widen the race
            with lock:
                seen.append(event["outbox_id"])

    try:
        for r in regs:
            r.audit = Counting()
        for round_ in range(3):
            with regs[0].store.session() as s:
                ids = [
                    AuditOutbox.add(s, {"action": "model.tag", "model": "tumor", "round": round_, "i": i})
                    for i in range(40)
                ]
            barrier = threading.Barrier(2)
            errors: list[BaseException] = []

            def run(r) -> None:
                try:
                    barrier.wait()
                    while r.outbox.pending(r.store):
                        r.deliver_audit()
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

            threads = [threading.Thread(target=run, args=(r,)) for r in regs]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert not errors
            assert seen[-len(ids):] == ids  # each once, in id order
        assert len(seen) == len(set(seen)) == 120
    finally:
        for r in regs:
            r.store.engine.dispose()


def test_an_expired_lease_is_taken_over(db, tmp_path):
    """A deliverer that died holding a claim blocks the others only until its lease ends."""
    a, b = build_registry(settings(db)), build_registry(settings(db))
    got: list[dict] = []

    class Sink:
        def record(self, event: dict) -> None:
            got.append(event)

    try:
        a.audit = b.audit = Sink()
        a.outbox.lease_s = b.outbox.lease_s = 0.3
        with a.store.session() as s:
            oid = AuditOutbox.add(s, {"action": "model.tag", "model": "tumor"})
        assert a.outbox._claim_next(a.store)[0] == oid  # a claims, then "dies"
        assert b.deliver_audit() == 0  # a's lease is live: b backs off
        time.sleep(0.35)
        assert b.deliver_audit() == 1 and got[0]["outbox_id"] == oid
    finally:
        a.store.engine.dispose()
        b.store.engine.dispose()


def test_migration_adds_the_outbox_to_an_existing_registry(tmp_path):
    engine = make_engine(sqlite_url(tmp_path / "old.db"))
    try:
        migrate(engine, "registry_0001")
        assert "registry_audit_outbox" not in sa.inspect(engine).get_table_names()
        migrate(engine)
        insp = sa.inspect(engine)
        assert "registry_audit_outbox" in insp.get_table_names()
        assert "ix_registry_audit_outbox_pending" in {i["name"] for i in insp.get_indexes("registry_audit_outbox")}
    finally:
        engine.dispose()


def test_a_change_behind_another_deliverers_lease_answers_audit_pending(reg, db, tmp_path):
    publish(reg, tmp_path)
    other = build_registry(settings(db))
    try:
        with other.store.session() as s:
            AuditOutbox.add(s, {"action": "model.tag", "model": "tumor"})
        assert other.outbox._claim_next(other.store) is not None  # another replica mid-delivery
        reg.outbox.wait_s = 0.3
        with pytest.raises(BackendUnavailable) as err:
            reg.promote("tumor", 1, actor="bob")
        assert err.value.code == "audit-pending" and err.value.extra == {"change_committed": True}
        assert reg.get_model("tumor")["current"] == 1
        assert reg.outbox.pending(reg.store) == 2
    finally:
        other.store.engine.dispose()
