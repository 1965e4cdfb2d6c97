"""Releases across replicas, with real processes: 3 tritonservers on one model repository (a
fourth added mid-run), 2 gateway processes on one PostgreSQL, and HAProxy (``mode tcp``,
``balance roundrobin``) in front of the tritonservers and of the gateways, as the Kubernetes
Services are.

Under a steady client load through the gateways' balancer: publish, canary 10 %, promote and
rollback, each through another gateway replica; one tritonserver is SIGKILLed in the middle of
the promotion and restarted; a fourth tritonserver joins. No request may fail, every answer
names a version that was routed at that moment, and a (re)started tritonserver is routed to
only once it serves the routed versions.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import requests

from medinfer.common.devpki import ensure_dev_tls
from medinfer.security.devkeys import ensure_dev_keys
from medinfer.triton.server import prepare_server_dir
from tests.support.onnx_models import linear, write_folder
from tests.support.ports import free_ports
from tests.support.postgres import PostgresServer
from tests.support.replicas import Backend, GatewayReplica, HAProxy, TritonReplica
from tests.support.stack import dev_auth_header

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.postgres]

MODEL = "replicated"
LAG_S = 1.5  # a replica swaps a new snapshot within its refresh interval (0.25 s here); margin for 2 busy cores


@dataclass
class Answer:
    sent: float
    received: float
    status: int
    version: str | None
    body_version: str | None
    error: str = ""


class Load:
    """Client threads through the gateways' balancer, one keep-alive connection each (HAProxy spreads
    the connections over the gateway replicas)."""

    def __init__(self, url: str, token: str, threads: int = 4) -> None:
        self.url = f"{url}/v2/models/{MODEL}/infer"
        self.headers = {"Authorization": token, "Content-Type": "application/json"}
        x = np.random.default_rng(0).random((1, 4)).astype(np.float32)
        self.body = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4],
                                            "data": x.ravel().tolist()}]})
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        s = requests.Session()
        s.trust_env = False
        while not self._stop.is_set():
            t0 = time.time()
            try:
                r = s.post(self.url, data=self.body, headers=self.headers, timeout=30)
                body_v = r.json().get("model_version") if r.status_code == 200 else None
                self.answers.append(Answer(t0, time.time(), r.status_code, r.headers.get("X-Model-Version"),
                                           body_v, "" if r.status_code == 200 else r.text[:200]))
            except requests.RequestException:
                self.answers.append(Answer(t0, time.time(), 0, None, None))
            time.sleep(0.01)
        s.close()

    def start(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> list[Answer]:
        self._stop.set()
        for t in self._threads:
            t.join(30)
        return self.answers


class Cluster:
    def __init__(self, home: Path, pg: PostgresServer) -> None:
        self.home = home
        self.repo = home / "models"
        self.repo.mkdir(parents=True)
        ensure_dev_tls(home)
        ensure_dev_keys(home)
        prepare_server_dir(home)
        self.tritons = [TritonReplica(self.repo, home, i) for i in range(4)]  # the 4th joins mid-run
        self.lb_ports = dict(zip(("triton_http", "triton_grpc", "gateways"), free_ports(3), strict=True))
        db = pg.create_database()
        endpoints = ",".join(t.http_url for t in self.tritons)
        env = {
            "MEDINFER_HOME": str(home),
            "MEDINFER_GATEWAY_INSECURE_HTTP": "true",
            "MEDINFER_GATEWAY_GRPC_PORT": "0",
            "MEDINFER_GATEWAY_TRITON_URL": f"http://127.0.0.1:{self.lb_ports['triton_http']}",
            "MEDINFER_GATEWAY_TRITON_GRPC_TARGET": f"127.0.0.1:{self.lb_ports['triton_grpc']}",
            "MEDINFER_GATEWAY_PREPROCESSOR_URL": f"http://127.0.0.1:{free_ports(1)[0]}",  # not needed: tabular
            "MEDINFER_GATEWAY_AUDIT_URL": db,
            "MEDINFER_GATEWAY_RATE_LIMIT_RPS": "100000",
            "MEDINFER_GATEWAY_RATE_LIMIT_BURST": "100000",
            "MEDINFER_GATEWAY_DRIFT_ENABLED": "false",
            "MEDINFER_REGISTRY_DATABASE_URL": db,
            "MEDINFER_REGISTRY_TRITON_ENDPOINTS": endpoints,
            "MEDINFER_REGISTRY_REFRESH_INTERVAL_S": "0.25",
            "MEDINFER_REGISTRY_RECONCILE_INTERVAL_S": "0.25",
            "MEDINFER_REGISTRY_DRAIN_TIMEOUT_S": "15",
            "MEDINFER_REGISTRY_LOAD_TIMEOUT_S": "30",
            "OMP_NUM_THREADS": "1",
        }
        self.gateways = [GatewayReplica(home, i, env) for i in range(2)]
        self.haproxy = HAProxy(home, [
            Backend("triton_http", self.lb_ports["triton_http"], [t.ports.http for t in self.tritons]),
            Backend("triton_grpc", self.lb_ports["triton_grpc"], [t.ports.grpc for t in self.tritons]),
            Backend("gateways", self.lb_ports["gateways"], [g.port for g in self.gateways]),
        ])
        self.admin = {"Authorization": dev_auth_header(home, "infer models:read models:write")["Authorization"]}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.lb_ports['gateways']}"

    def stop(self) -> None:
        for g in self.gateways:
            g.stop()
        for t in self.tritons:
            t.stop()
        self.haproxy.stop()

    # -- admin API of one replica ------------------------------------------------------------------
    def call(self, gw: int, method: str, path: str, **kw) -> requests.Response:
        return requests.request(method, f"{self.gateways[gw].url}/admin/models{path}", headers=self.admin,
                                timeout=120, **kw)

    def publish(self, gw: int, folder: Path) -> int:
        with open(folder / "model.onnx", "rb") as f:
            r = self.call(gw, "POST", f"/{MODEL}/versions", files={"model": f}, data={"reason": "retrained"})
        assert r.status_code == 201, r.text
        return r.json()["version"]

    def history(self) -> list[dict]:
        return self.call(0, "GET", f"/{MODEL}/history").json()

    def routing(self, gw: int) -> dict:
        body = self.gateways[gw].readyz()
        return body.get("triton_endpoints") or body.get("extra", {}).get("triton_endpoints") or {}


def _label(t: TritonReplica) -> str:
    return f"127.0.0.1:{t.ports.http}"


def _wait(pred, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def _at(event: dict) -> float:
    return dt.datetime.fromisoformat(event["at"]).timestamp()


@pytest.fixture
def cluster(tmp_path: Path, postgres_server: PostgresServer) -> Iterator[Cluster]:
    c = Cluster(tmp_path / "home", postgres_server)
    try:
        yield c
    finally:
        c.stop()


def test_releases_across_three_tritons_and_two_gateways_lose_no_request(cluster: Cluster, tmp_path: Path) -> None:
    c = cluster
    t_begin = time.monotonic()
    for t in c.tritons[:3]:
        t.start()
    c.haproxy.start()
    for t in c.tritons[:3]:
        t.wait_live()
    # Both gateways start at the same moment on an empty database: the schema is migrated once.
    for g in c.gateways:
        g.start()
    for g in c.gateways:
        g.wait_up()
    migrated = [g.index for g in c.gateways if "registry schema migrated" in g.log()]
    assert len(migrated) == 1, [g.log()[-2000:] for g in c.gateways]

    v1 = c.publish(0, write_folder(tmp_path / "v1", linear, seed=1))
    r = c.call(1, "POST", f"/{MODEL}/promote", json={"version": v1, "reason": "baseline"})
    assert r.status_code == 200, r.text
    assert all(c.tritons[i].ready_versions(MODEL) == {1} for i in range(3)), "loaded on every endpoint"
    for gw in (0, 1):
        assert _wait(lambda gw=gw: sum(e["routing"] for e in c.routing(gw).values()) == 3, 10), c.routing(gw)
        assert c.routing(gw)[_label(c.tritons[3])] == {"routing": False, "reason": "unreachable"}

    token = dev_auth_header(c.home)["Authorization"]
    probe = Load(c.url, token)
    for g in c.gateways:  # a first promotion retires nothing, so it does not wait for the other replica
        assert _wait(lambda g=g: requests.post(f"{g.url}/v2/models/{MODEL}/infer", data=probe.body,
                                               headers=probe.headers, timeout=10).status_code == 200, 10)
    load = Load(c.url, token).start()
    try:
        time.sleep(1.0)
        assert c.publish(1, write_folder(tmp_path / "v2", linear, seed=2)) == 2
        time.sleep(0.5)
        r = c.call(0, "PUT", f"/{MODEL}/canary", json={"version": 2, "weight": 10, "reason": "canary"})
        assert r.status_code == 200, r.text
        assert all(c.tritons[i].ready_versions(MODEL) == {1, 2} for i in range(3))
        time.sleep(3.0)

        # Promote through replica 1 and SIGKILL tritonserver 1 while the promotion runs.
        result: dict = {}
        promoter = threading.Thread(target=lambda: result.update(
            r=c.call(1, "POST", f"/{MODEL}/promote", json={"version": 2, "reason": "approved"})))
        promoter.start()
        time.sleep(0.15)
        c.tritons[1].sigkill()
        promoter.join(60)
        promoted = result["r"]
        if promoted.status_code != 200:  # aborted cleanly: audited, the old state serves; promote again
            assert promoted.status_code == 503, promoted.text
            assert c.history()[-1]["kind"] == "release_aborted"
            promoted = c.call(1, "POST", f"/{MODEL}/promote", json={"version": 2, "reason": "approved again"})
        assert promoted.status_code == 200, promoted.text
        assert promoted.json()["current"] == 2
        t_promoted = time.time()

        # The killed server restarts empty, and a fourth joins: each is routed to only once it serves v2.
        c.tritons[1].start()
        c.tritons[3].start()
        for i in (1, 3):
            assert _wait(lambda i=i: all(c.routing(gw).get(_label(c.tritons[i]), {}).get("routing")
                                         for gw in (0, 1)), 30), (c.routing(0), c.routing(1))
            assert 2 in c.tritons[i].ready_versions(MODEL)
        assert _wait(lambda: all(c.tritons[i].ready_versions(MODEL) == {2} for i in (0, 2)), 10), \
            "v1 is unloaded after every replica drained it"
        time.sleep(2.0)

        r = c.call(0, "POST", f"/{MODEL}/rollback", json={"reason": "clinician report"})
        assert r.status_code == 200 and r.json()["current"] == 1, r.text
        assert _wait(lambda: all(c.tritons[i].ready_versions(MODEL) == {1} for i in range(4)), 10)
        time.sleep(1.5)
    finally:
        answers = load.stop()

    # -- no request failed, and every answer came from a version routed at that moment --------------
    failed = [a for a in answers if a.status != 200]
    if failed:
        marks = {e["kind"]: round(_at(e) - answers[0].sent, 2) for e in c.history()}
        print("failed at", sorted({round(a.sent - answers[0].sent, 1) for a in failed}), marks, failed[0].error)
    print(f"replicas: {len(answers)} requests, {len(failed)} failed, {time.monotonic() - t_begin:.1f} s in all")
    assert len(answers) > 100 and not failed, failed[:5]
    assert all(a.version == a.body_version for a in answers), "the header names the version that answered"
    events = {e["kind"]: e for e in c.history()}
    t_canary, t_promote, t_rollback = (_at(events[k]) for k in ("canary", "promote", "rollback"))
    for a in answers:
        if a.received < t_canary:
            allowed = {"1"}
        elif a.sent > t_canary + LAG_S and a.received < t_promote:
            allowed = {"1", "2"}
        elif a.sent > t_promote + LAG_S and a.received < t_rollback:
            allowed = {"2"}
        elif a.sent > t_rollback + LAG_S:
            allowed = {"1"}
        else:
            allowed = {"1", "2"}  # around a change: either side of it
        assert a.version in allowed, (a, t_canary, t_promote, t_rollback)
    during_canary = [a.version for a in answers if t_canary + LAG_S < a.sent and a.received < t_promote - 1]
    share = during_canary.count("2") / max(1, len(during_canary))
    assert 0 < share < 0.35, (share, len(during_canary))
    # Every replica routes to the promoted version within 2 s of the promotion's commit.
    last_v1 = max((a.sent for a in answers if a.version == "1" and a.sent < t_rollback), default=0.0)
    assert last_v1 - t_promote < 2.0, last_v1 - t_promote
    assert t_promoted >= t_promote
    # The restarted and the added server took traffic and Triton counted no failed inference on any.
    for t in c.tritons:
        ok, bad = t.inference_counts(MODEL)
        assert bad == 0, (t.index, ok, bad)
    assert c.tritons[3].inference_counts(MODEL)[0] > 0 and c.tritons[1].inference_counts(MODEL)[0] > 0
    kinds = [e["kind"] for e in c.history()]
    assert kinds[-3:] == ["canary", "promote", "rollback"] or "release_aborted" in kinds, kinds
