"""Releases across replicas, the logic: Triton endpoint sets (static, DNS), the gateway's endpoint
pool and reconcile loop, loads on every endpoint, replica acknowledgements and the drain across
replicas, audited aborts, and migrations that run once when replicas start together."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from medinfer.common.errors import BackendUnavailable, MedinferError, ValidationFailed
from medinfer.registry import RegistrySettings, build_registry
from medinfer.registry.db import make_engine, migrate
from medinfer.registry.endpoints import DnsEndpoints, StaticEndpoints
from medinfer.registry.fleet import TritonFleet
from medinfer.registry.reconcile import EndpointPool, EndpointReconciler, SnapshotUnservable, required_versions
from medinfer.registry.replicas import FleetDrain, ReplicaReporter, live_replicas
from medinfer.registry.routing import InflightTracker
from tests.support.control_plane_server import control_plane
from tests.support.onnx_models import linear, write_folder
from tests.support.ports import free_port


# ---- endpoint sets ------------------------------------------------------------------------------
def test_static_endpoints_are_normalised_sorted_and_unique():
    eps = StaticEndpoints(["http://b:8000/", "http://a:8000", "http://b:8000", " "])
    assert eps.urls() == ["http://a:8000", "http://b:8000"]
    with pytest.raises(ValidationFailed):
        StaticEndpoints(["a:8000"])


def test_dns_endpoints_follow_the_headless_service_records():
    answers = [["10.0.0.2", "10.0.0.1"]]
    calls = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append((host, port))
        if isinstance(answers[0], OSError):
            raise answers[0]
        return answers[0]

    eps = DnsEndpoints("dns:///triton-pods.medinfer.svc.cluster.local:8000", ttl_s=0.05, resolver=resolver)
    assert eps.urls() == ["http://10.0.0.1:8000", "http://10.0.0.2:8000"]
    assert eps.urls() and len(calls) == 1, "cached for ttl_s"
    assert calls[0] == ("triton-pods.medinfer.svc.cluster.local", 8000)
    time.sleep(0.06)
    answers[0] = ["10.0.0.1", "10.0.0.3", "fd00::7"]  # a pod replaced, one added (IPv6)
    assert eps.urls() == ["http://10.0.0.1:8000", "http://10.0.0.3:8000", "http://[fd00::7]:8000"]
    time.sleep(0.06)
    answers[0] = OSError("SERVFAIL")
    assert len(eps.urls()) == 3, "a failed lookup keeps the last answer"
    with pytest.raises(ValidationFailed):
        DnsEndpoints("triton-pods")


def test_settings_give_a_list_a_dns_name_or_the_single_url(monkeypatch):
    monkeypatch.setenv("MEDINFER_REGISTRY_TRITON_ENDPOINTS", "http://t1:8000, http://t0:8000")
    assert RegistrySettings().endpoints().urls() == ["http://t0:8000", "http://t1:8000"]
    monkeypatch.setenv("MEDINFER_REGISTRY_TRITON_ENDPOINTS", '["http://t2:8000"]')
    assert RegistrySettings().endpoints().urls() == ["http://t2:8000"]
    monkeypatch.delenv("MEDINFER_REGISTRY_TRITON_ENDPOINTS")
    assert RegistrySettings(triton_url="http://one:8000").endpoints().urls() == ["http://one:8000"]
    assert RegistrySettings().endpoints() is None
    dns = RegistrySettings(triton_url="http://one:8000", triton_endpoints_dns="triton-pods:8000").endpoints()
    assert isinstance(dns, DnsEndpoints) and dns.port == 8000


# ---- the gateway's endpoint pool ------------------------------------------------------------------
def test_pool_round_robins_over_routable_endpoints_only():
    pool = EndpointPool()
    with pytest.raises(BackendUnavailable):
        pool.pick()
    pool.set("http://a:1", True, None, {"m"})
    pool.set("http://b:1", True, None, {"m"})
    pool.set("http://c:1", False, "loading m")
    assert sorted(pool.pick() for _ in range(4)) == ["http://a:1"] * 2 + ["http://b:1"] * 2
    pool.mark_down("http://a:1")
    assert {pool.pick() for _ in range(3)} == {"http://b:1"}
    assert pool.status()["a:1"] == {"routing": False, "reason": "unreachable", "models": []}
    pool.mark_down("http://b:1")
    assert pool.routable() == ["http://b:1"], "the last routable endpoint is kept"
    alone = EndpointPool()
    alone.set("http://d:1", False, "unreachable")
    assert alone.pick("v2/models/m/infer") == "http://d:1", "no server serves it: the request goes anyway"


def test_required_versions_cover_current_canary_and_tags():
    snap = {"m": {"current": 2, "canary": (3, 10.0, False), "tags": {"stable": 1}},
            "n": {"current": None, "canary": None, "tags": {}}}
    assert required_versions(snap) == {"m": {1, 2, 3}}


def _repo_with(tmp_path: Path, versions: tuple[int, ...]) -> Path:
    """A repository with versions 1..max(versions) of model ``m``, its config serving ``versions``."""
    from dataclasses import replace

    from medinfer.triton.model_config import ModelConfig

    reg = build_registry(RegistrySettings(home=tmp_path / "home", drain_grace_s=0))
    for i in range(max(versions)):
        reg.publish(write_folder(tmp_path / f"src{i}", linear, seed=i), "m", actor="t", reason="")
    reg.repository.write_config(replace(reg.repository.read_config("m"), versions=versions))
    reg.store.engine.dispose()
    return reg.repository.root


def test_reconciler_loads_what_is_missing_before_routing_and_reports_what_it_cannot(tmp_path):
    repo = _repo_with(tmp_path, (1, 2))
    with control_plane(repo) as good, control_plane(repo) as fresh, control_plane(repo) as broken:
        good.ready = {"m": {1, 2}}
        broken.refuse_loads = True
        dead = f"http://127.0.0.1:{free_port()}"
        pool, metrics = EndpointPool(), CollectorRegistry()
        rec = EndpointReconciler(pool, StaticEndpoints([good.url, fresh.url, broken.url, dead]),
                                 lambda: {"m": {1, 2}}, metrics_registry=metrics)
        routable = rec.reconcile()
        assert routable == sorted([good.url, fresh.url])
        assert good.loads == [], "a consistent server is never reloaded"
        assert fresh.loads == ["m"] and fresh.ready == {"m": {1, 2}}
        status = pool.status()
        assert status[broken.url[7:]]["routing"] is False and "load failed" in status[broken.url[7:]]["reason"]
        assert status[dead[7:]] == {"routing": False, "reason": "unreachable", "models": []}
        assert metrics.get_sample_value("medinfer_triton_endpoint_routable", {"endpoint": broken.url[7:]}) == 0
        assert metrics.get_sample_value("medinfer_triton_endpoint_routable", {"endpoint": good.url[7:]}) == 1

        # A snapshot no server can serve (version 3 is on no server and not in the config) is refused.
        with pytest.raises(SnapshotUnservable):
            rec.prepare({"m": {"current": 3, "canary": None, "tags": {}}})
        assert pool.routable() == sorted([good.url, fresh.url]), "the current snapshot keeps its servers"
        # A server that restarted empty is out of routing until it is reloaded.
        good.ready, good.loads = {}, []
        assert good.url in rec.reconcile() and good.loads == ["m"]


# ---- loads on every endpoint, audited aborts ----------------------------------------------------
def test_a_promotion_loads_on_every_endpoint_and_an_endpoint_refusing_aborts_audited(tmp_path):
    reg = build_registry(RegistrySettings(home=tmp_path / "home", drain_grace_s=0))
    for i in range(2):
        reg.publish(write_folder(tmp_path / f"src{i}", linear, seed=i), "m", actor="t", reason="")
    with control_plane(reg.repository.root) as a, control_plane(reg.repository.root) as b:
        dead = f"http://127.0.0.1:{free_port()}"
        reg.triton = TritonFleet(StaticEndpoints([a.url, b.url, dead]), timeout=5)
        reg.promote("m", 1, actor="t")
        assert a.ready == b.ready == {"m": {1}}, "loaded on every answering server"
        assert reg.triton.last_report.skipped == [dead], "a server not answering is skipped"
        b.refuse_loads = True
        with pytest.raises(MedinferError) as err:
            reg.promote("m", 2, actor="t", reason="retrained")
        assert err.value.code == "triton-load-failed"
        model = reg.get_model("m")
        assert model["current"] == 1, "the old state keeps serving"
        aborted = [h for h in reg.history("m") if h["kind"] == "release_aborted"]
        assert len(aborted) == 1 and aborted[0]["after"] == 2 and aborted[0]["tag"] == "current"
        assert aborted[0]["detail"] == {"code": "triton-load-failed"}
        assert a.ready == {"m": {1}}, "the config was restored and reloaded"
    reg.store.engine.dispose()


# ---- replica acknowledgements and the drain across replicas -------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path: Path):
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    reg = build_registry(RegistrySettings(home=tmp_path / "home", drain_grace_s=0, database_url=url))
    yield reg.store
    reg.store.engine.dispose()


def test_drain_waits_for_every_live_replica_to_ack_and_drain(store):
    gen = store.generation()
    slow_gen, slow = [gen - 1], InflightTracker()
    fast = ReplicaReporter(store, InflightTracker(), lambda: gen, rid="fast")
    lagging = ReplicaReporter(store, slow, lambda: slow_gen[0], rid="lagging")
    slow.enter("m", 1)
    fast.report()
    lagging.report()
    drain = FleetDrain(store, stale_s=5, grace_s=0)
    assert drain.wait_drained("m", 1, 0.2) is False and drain.last_blocking == ["lagging"]
    slow_gen[0] = gen
    lagging.report()
    assert drain.wait_drained("m", 1, 0.2) is False, "acked the generation but still has a request on v1"
    assert drain.wait_drained("m", 2, 0.2) is True, "nothing in flight on v2"

    def finish() -> None:
        time.sleep(0.2)
        slow.leave("m", 1)
        lagging.report()

    threading.Thread(target=finish).start()
    t0 = time.monotonic()
    assert drain.wait_drained("m", 1, 5) is True and time.monotonic() - t0 >= 0.15
    lagging.remove()
    assert [r["replica"] for r in live_replicas(store, 5)] == ["fast"]


def test_a_replica_that_stopped_heart_beating_holds_up_nothing(store):
    ReplicaReporter(store, InflightTracker(), lambda: -5, rid="gone").report()
    time.sleep(0.3)
    assert FleetDrain(store, stale_s=0.2, grace_s=0).wait_drained("m", 1, 1) is True


def test_a_drain_timeout_keeps_the_retired_version_loaded_and_is_audited(tmp_path):
    reg = build_registry(RegistrySettings(home=tmp_path / "home", drain_grace_s=0, drain_timeout_s=0.3))
    for i in range(2):
        reg.publish(write_folder(tmp_path / f"src{i}", linear, seed=i), "m", actor="t", reason="")
    reg.promote("m", 1, actor="t")
    stuck = InflightTracker()
    stuck.enter("m", 1)
    ReplicaReporter(reg.store, stuck, lambda: 10**9, rid="busy").report()  # routes on any generation
    reg.promote("m", 2, actor="t")
    assert reg.get_model("m")["current"] == 2
    last = reg.history("m")[-1]
    assert last["kind"] == "unload_aborted" and last["before"] == 1 and last["detail"]["replicas"] == ["busy"]
    from medinfer.triton.model_config import ModelConfig

    cfg = ModelConfig.from_pbtxt((reg.repository.root / "m" / "config.pbtxt").read_text())
    assert set(cfg.versions) == {1, 2}, "version 1 stays served for the replica still using it"
    reg.store.engine.dispose()


# ---- migrations run once ------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_replicas_starting_together_migrate_once(backend, request, tmp_path):
    url = request.getfixturevalue("postgres_url") if backend == "postgres" else f"sqlite:///{tmp_path / 'r.db'}"
    engines = [make_engine(url) for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    results: list[object] = []

    def start(engine) -> None:
        barrier.wait()
        try:
            results.append(migrate(engine))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            results.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(map(str, results)) == ["None", "None", "None", "base"], results
    with engines[0].connect() as conn:
        assert conn.scalar(sa.text("SELECT version_num FROM alembic_version_registry")) == "registry_0003"
    for e in engines:
        e.dispose()


# ---- shadow traffic -----------------------------------------------------------------------------
def test_a_shadow_version_is_mirrored_never_routed(tmp_path):
    from medinfer.registry.routing import RoutingTable

    reg = build_registry(RegistrySettings(home=tmp_path / "home", drain_grace_s=0))
    for i in range(2):
        reg.publish(write_folder(tmp_path / f"src{i}", linear, seed=i), "m", actor="t", reason="")
    reg.promote("m", 1, actor="t")
    with pytest.raises(ValidationFailed):
        reg.set_tag("m", "shadow", 2, actor="t")
    with pytest.raises(MedinferError):
        reg.set_shadow("m", 2, 0, actor="t")
    out = reg.set_shadow("m", 2, 20, actor="alice", reason="compare before a canary")
    assert out == {"name": "m", "shadow": 2, "share": 20.0, "current": 1}
    assert reg.get_model("m")["shadow"] == {"version": 2, "share": 20.0} and reg.get_model("m")["tags"] == {}
    table = RoutingTable()
    table.load(*reg.store.snapshot())
    ids = [f"req-{i}" for i in range(2000)]
    mirrored = [i for i in ids if table.shadow("m", i) == 2]
    assert 0.15 < len(mirrored) / len(ids) < 0.25
    assert {table.resolve("m", None, i)[0] for i in ids} == {1}, "no answer comes from the shadow"
    with pytest.raises(MedinferError):
        table.resolve("m", 2, "x")  # not even pinned
    assert table.served("m") == {1, 2} and required_versions(reg.store.snapshot()[1]) == {"m": {1, 2}}
    reg.clear_shadow("m", actor="alice", reason="done")
    table.load(*reg.store.snapshot())
    assert table.shadow("m", mirrored[0]) is None and table.served("m") == {1}
    kinds = [h["kind"] for h in reg.history("m")]
    assert kinds[-2:] == ["shadow", "shadow_clear"]
    reg.store.engine.dispose()


def test_shadow_outputs_are_compared_by_name_shape_and_value():
    import numpy as np

    from medinfer.common.v2 import V2Tensor
    from medinfer.gateway.shadow import compare_outputs

    def t(name, data, dtype="FP32"):
        arr = np.asarray(data, dtype=np.float32 if dtype == "FP32" else object)
        return V2Tensor(name, dtype, list(arr.shape), arr)

    assert compare_outputs([t("y", [[1.0, 2.0]])], [t("y", [[1.0, 2.00001]])]) == (True, pytest.approx(1e-5, rel=0.1))
    match, diff = compare_outputs([t("y", [[1.0, 2.0]])], [t("y", [[1.0, 2.5]])])
    assert not match and diff == pytest.approx(0.5)
    assert compare_outputs([t("y", [[1.0]])], [t("z", [[1.0]])])[0] is False
    assert compare_outputs([t("y", [[1.0, 2.0]])], [t("y", [[1.0], [2.0]])])[0] is False
    assert compare_outputs([t("c", [b"a"], "BYTES")], [t("c", [b"b"], "BYTES")])[0] is False


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_gateways_starting_together_create_the_audit_ledger_once(backend, request, tmp_path):
    """The audit ledger's Alembic upgrade takes the same kind of lock (its own key)."""
    from medinfer.audit.store import AuditStore

    url = request.getfixturevalue("postgres_url") if backend == "postgres" else f"sqlite:///{tmp_path / 'a.db'}"
    barrier = threading.Barrier(4)
    results: list[object] = []

    def start() -> None:
        barrier.wait()
        try:
            store = AuditStore(url)
            store.engine.dispose()
            results.append("ok")
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            results.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == ["ok"] * 4, results


def test_pool_routes_each_model_to_the_servers_that_serve_it():
    pool = EndpointPool()
    pool.set("http://a:1", True, None, {"m", "n"})
    pool.set("http://b:1", False, "loading n", {"m"})
    assert {pool.pick("v2/models/m/versions/1/infer") for _ in range(4)} == {"http://a:1", "http://b:1"}
    assert {pool.pick("v2/models/n/versions/2/infer") for _ in range(4)} == {"http://a:1"}
    assert pool.pick("v2/health/ready") == "http://a:1"


def test_https_endpoints_are_verified_against_the_configured_ca(tmp_path: Path) -> None:
    """The Triton CA belongs to the endpoint set, so the fleet's loads and the reconcile loop both verify
    each pod's TLS proxy with it (not the system roots, and not only where one caller was told)."""
    from medinfer.common.devpki import ensure_dev_tls

    ca = ensure_dev_tls(tmp_path).ca_file
    settings = RegistrySettings(home=tmp_path, triton_endpoints_dns="https://triton-pods.example:8443",
                                triton_ca_file=ca)
    endpoints = settings.endpoints()
    assert isinstance(endpoints, DnsEndpoints) and endpoints.scheme == "https"
    assert endpoints.tls is not None and endpoints.tls.verify_mode.name == "CERT_REQUIRED"
    assert TritonFleet(endpoints).endpoints.tls is endpoints.tls
    assert RegistrySettings(home=tmp_path, triton_url="http://127.0.0.1:8000").endpoints().tls is None
