"""Registry against a real tritonserver (explicit model control) and real PostgreSQL:
promotion and rollback under a steady request stream lose no request, retired
versions are unloaded after the drain, and canary rollouts promote a healthy
version and roll a broken one back by themselves."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from medinfer.registry import RegistrySettings, build_registry
from medinfer.monitoring import DriftMetrics, DriftMonitor, build_tabular_profile
from medinfer.registry.drift_gate import MonitorDriftSource
from medinfer.registry.rollout import RegistryMetricsSource, RolloutController, RolloutPolicy
from medinfer.registry.routing import InflightTracker, RoutingTable, SnapshotRefresher, VersionMetrics
from medinfer.triton.server import TritonPorts, TritonServer
from tests.support.onnx_models import flaky, linear, write_folder
from tests.support.ports import free_ports
from tests.support.registry_traffic import Traffic

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


class Events:
    def __init__(self) -> None:
        self.items: list[dict] = []

    def record(self, event: dict) -> None:
        self.items.append(event)


@pytest.fixture(scope="module")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    home = tmp_path_factory.mktemp("triton-home")
    (home / "models").mkdir()
    server = TritonServer(home / "models", home, TritonPorts(*free_ports(3)))
    server.start()
    try:
        server.wait_ready(120)
        yield server
    finally:
        server.stop()


@pytest.fixture
def env(triton: TritonServer, postgres_url: str, tmp_path: Path):
    events = Events()
    tracker = InflightTracker()
    metrics = VersionMetrics(CollectorRegistry(), tracker)
    settings = RegistrySettings(
        home=tmp_path,
        database_url=postgres_url,
        repository=triton.repository,
        load_timeout_s=60,
        drain_timeout_s=10,
    )
    reg = build_registry(settings, triton=triton, audit=events, drain=tracker)
    table = RoutingTable()
    refresher = SnapshotRefresher(table, reg.store)
    reg.on_change(lambda: refresher.refresh(force=True))
    refresher.refresh(force=True)
    yield reg, table, metrics, events, refresher
    reg.store.engine.dispose()


def _publish(reg, tmp_path: Path, name: str, builder=linear, seed: int = 0) -> int:
    folder = write_folder(tmp_path / f"{name}-{builder.__name__}-{seed}", builder, seed=seed)
    return reg.publish(folder, name, actor="ci", reason="test")["version"]


def _wait_unloaded(triton: TritonServer, name: str, version: int, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not triton.model_ready(name, version):
            return True
        time.sleep(0.1)
    return False


def test_promote_and_rollback_under_load_lose_no_request(env, triton, tmp_path):
    reg, table, metrics, events, refresher = env
    name = "zd_model"
    v1 = _publish(reg, tmp_path, name, seed=1)
    v2 = _publish(reg, tmp_path, name, seed=2)
    assert not triton.model_ready(name, v1), "publishing loads nothing"
    reg.promote(name, v1, actor="alice", reason="first")
    assert triton.model_ready(name, v1)
    traffic = Traffic(triton.ports.http, table, metrics, name).start()
    time.sleep(1.0)
    reg.promote(name, v2, actor="alice", reason="upgrade")
    assert table.resolve(name, None, "x") == (v2, "current")
    assert _wait_unloaded(triton, name, v1), "the retired version is unloaded after the drain"
    time.sleep(1.0)
    reg.rollback(name, actor="bob", reason="clinician report")
    time.sleep(1.0)
    outcomes = traffic.stop()
    assert len(outcomes) > 50
    failed = [o for o in outcomes if o.status != 200]
    assert failed == [], f"{len(failed)} of {len(outcomes)} requests failed"
    assert all(o.served_by == str(o.routed) for o in outcomes)
    routed = [o.routed for o in outcomes]
    assert routed[0] == v1 and v2 in routed and routed[-1] == v1
    # Once v2 took over, nothing went back to v1 until the rollback: routing is monotonic.
    first_v2, last_v2 = routed.index(v2), len(routed) - 1 - routed[::-1].index(v2)
    assert set(routed[first_v2 : last_v2 + 1]) == {v2}
    assert triton.model_ready(name, v1) and _wait_unloaded(triton, name, v2)
    assert [e["action"] for e in events.items][-3:] == ["model.promote", "model.promote", "model.rollback"]


def _rollout(reg, triton, table, metrics, name, canary_version, bad_every, monitor=None, **gates):
    def gate_and_record(version, x):  # the gateway's OOD gate and drift window, per request
        monitor.check(name, str(version), x)
        monitor.record(name, str(version), x)

    on_input = gate_and_record if monitor is not None else None

    traffic = Traffic(triton.ports.http, table, metrics, name, bad_every=bad_every, on_input=on_input).start()
    policy = RolloutPolicy(
        [25, 50, 100],
        max_error_rate=0.05,
        max_p99_ms=2000,
        interval_s=1.5,
        min_requests=10,
        max_wait_intervals=4,
        **gates,
    )
    drift = MonitorDriftSource(monitor) if monitor is not None else None
    try:
        result = RolloutController(reg, RegistryMetricsSource(metrics.registry), policy, drift=drift).run(
            name, canary_version, actor="rollout-bot"
        )
    finally:
        outcomes = traffic.stop()
    return result, outcomes


def test_rollout_promotes_a_healthy_canary(env, triton, tmp_path):
    reg, table, metrics, events, _ = env
    name = "ro_good"
    v1 = _publish(reg, tmp_path, name, seed=1)
    v2 = _publish(reg, tmp_path, name, seed=2)
    reg.promote(name, v1, actor="alice")
    result, outcomes = _rollout(reg, triton, table, metrics, name, v2, bad_every=3)
    assert result.outcome == "promoted", result.reason
    assert [s["weight"] for s in result.steps] == [25, 50, 100]
    assert all(s["canary_requests"] >= 10 and s["canary_errors"] == 0 for s in result.steps)
    assert reg.get_model(name)["current"] == v2 and reg.get_model(name)["canary"] is None
    assert all(o.status == 200 for o in outcomes)
    assert _wait_unloaded(triton, name, v1)
    assert events.items[-1]["action"] == "model.promote" and "rollout completed" in events.items[-1]["reason"]


def test_rollout_rolls_a_broken_canary_back_with_a_reason(env, triton, tmp_path):
    reg, table, metrics, events, _ = env
    name = "ro_bad"
    v1 = _publish(reg, tmp_path, name, seed=1)
    v2 = _publish(reg, tmp_path, name, builder=flaky)  # passes validation, fails on some inputs
    reg.promote(name, v1, actor="alice")
    result, outcomes = _rollout(reg, triton, table, metrics, name, v2, bad_every=3)
    assert result.outcome == "rolled_back"
    assert "error rate" in result.reason and len(result.steps) == 1
    model = reg.get_model(name)
    assert model["current"] == v1 and model["canary"] is None
    assert table.resolve(name, None, "any") == (v1, "current")
    # Only the canary failed, and only on the inputs that break it.
    assert {o.routed for o in outcomes if o.status != 200} == {v2}
    assert _wait_unloaded(triton, name, v2)
    last = events.items[-1]
    assert last["action"] == "model.auto_rollback" and last["actor"] == "rollout-bot"
    assert "error rate" in last["reason"] and last["before"] == v2 and last["after"] == v1
    assert reg.history(name)[-1]["kind"] == "auto_rollback"


def test_rollout_rolls_back_a_canary_whose_inputs_are_out_of_distribution(env, triton, tmp_path):
    """A healthy model (no errors, fast) whose reference profile does not match the inputs it gets."""
    import numpy as np

    reg, table, metrics, events, _ = env
    name = "ro_ood"
    v1 = _publish(reg, tmp_path, name, seed=1)
    v2 = _publish(reg, tmp_path, name, seed=2)
    reg.promote(name, v1, actor="alice")
    train = np.random.default_rng(0).random((600, 4))  # what the traffic sends: uniform [0, 1)
    monitor = DriftMonitor(metrics=DriftMetrics(CollectorRegistry()))
    names = ["f0", "f1", "f2", "f3"]
    monitor.register(name, str(v1), build_tabular_profile(train, names), policy="flag")
    monitor.register(name, str(v2), build_tabular_profile(train * 10 + 5, names), policy="flag")  # other units
    result, outcomes = _rollout(reg, triton, table, metrics, name, v2, bad_every=0, monitor=monitor,
                                max_ood_share=0.1)
    assert result.outcome == "rolled_back" and "OOD share" in result.reason and len(result.steps) == 1
    assert result.steps[0]["canary_errors"] == 0 and result.steps[0]["canary_drift"]["ood_share"] == 1.0
    assert result.steps[0]["stable_drift"]["ood_share"] < 0.1
    assert all(o.status == 200 for o in outcomes)
    assert reg.get_model(name)["current"] == v1 and _wait_unloaded(triton, name, v2)
    last = events.items[-1]
    assert last["action"] == "model.auto_rollback" and "OOD share" in last["reason"]


def test_concurrent_promotions_one_wins_the_other_gets_409(env, triton, tmp_path):
    import threading

    from medinfer.common.errors import Conflict

    reg, table, metrics, events, _ = env
    name = "race_model"
    v1, v2, v3 = (_publish(reg, tmp_path, name, seed=s) for s in (1, 2, 3))
    reg.promote(name, v1, actor="alice")
    barrier = threading.Barrier(2)
    results: dict[int, object] = {}

    def go(v: int) -> None:
        barrier.wait()
        try:
            results[v] = reg.promote(name, v, actor=f"user{v}")
        except Conflict as exc:
            results[v] = exc

    threads = [threading.Thread(target=go, args=(v,)) for v in (v2, v3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [v for v, r in results.items() if isinstance(r, dict)]
    losers = [r for r in results.values() if isinstance(r, Conflict)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert losers[0].status == 409 and losers[0].code in ("promotion-in-progress", "registry-conflict")
    loser_v = ({v2, v3} - set(winners)).pop()
    assert reg.get_model(name)["current"] == winners[0]
    assert table.resolve(name, None, "r") == (winners[0], "current")
    assert triton.model_ready(name, winners[0])
    assert _wait_unloaded(triton, name, loser_v) and _wait_unloaded(triton, name, v1)
    kinds = [(h["kind"], h["after"]) for h in reg.history(name) if h["kind"] == "promote"]
    assert kinds == [("promote", v1), ("promote", winners[0])]
