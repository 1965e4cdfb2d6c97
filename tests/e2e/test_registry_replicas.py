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
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.onnx_models import linear, write_folder
from tests.support.postgres import PostgresServer
from tests.support.replicas import MODEL, Cluster, Load, TritonReplica
from tests.support.stack import dev_auth_header

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.postgres]

LAG_S = 1.5  # a replica swaps a new snapshot within its refresh interval (0.25 s here); margin for 2 busy cores


def _label(t: TritonReplica) -> str:
    return f"127.0.0.1:{t.ports.http}"


def _killing(c: Cluster, index: int, operation, *, after_s: float) -> requests.Response:
    """Run ``operation`` (an admin call) and SIGKILL tritonserver ``index`` ``after_s`` into it."""
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(r=operation()))
    t0 = time.monotonic()
    worker.start()
    time.sleep(after_s)
    c.tritons[index].sigkill()
    worker.join(60)
    print(f"tritonserver {index} killed {after_s} s into a release: {result['r'].status_code} after "
          f"{time.monotonic() - t0:.2f} s")
    return result["r"]


def _wait_routed(c: Cluster, t: TritonReplica, timeout: float = 30) -> None:
    assert _wait(lambda: all(c.routing(gw).get(_label(t), {}).get("routing") for gw in range(len(c.gateways))),
                 timeout), [c.routing(gw) for gw in range(len(c.gateways))]


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
    c = Cluster(tmp_path / "home", postgres_server, tritons=3, spare_tritons=1, gateways=2)
    try:
        yield c
    finally:
        c.stop()


def test_releases_across_three_tritons_and_two_gateways_lose_no_request(cluster: Cluster, tmp_path: Path) -> None:
    c = cluster
    t_begin = time.monotonic()
    c.start()  # both gateways start at the same moment on an empty database: the schema is migrated once
    migrated = [g.index for g in c.gateways if "registry schema migrated" in g.log()]
    assert len(migrated) == 1, [g.log()[-2000:] for g in c.gateways]

    v1 = c.publish(0, write_folder(tmp_path / "v1", linear, seed=1))
    r = c.call(1, "POST", f"/{MODEL}/promote", json={"version": v1, "reason": "baseline"})
    assert r.status_code == 200, r.text
    assert all(c.tritons[i].ready_versions(MODEL) == {1} for i in range(3)), "loaded on every endpoint"
    for gw in (0, 1):
        assert _wait(lambda gw=gw: sum(e["routing"] for e in c.routing(gw).values()) == 3, 10), c.routing(gw)
        assert c.routing(gw)[_label(c.tritons[3])] == {"routing": False, "reason": "unreachable", "models": []}

    token = dev_auth_header(c.home)["Authorization"]
    probe = Load(c.url, token)
    for g in c.gateways:  # a first promotion retires nothing, so it does not wait for the other replica
        assert _wait(lambda g=g: requests.post(f"{g.url}/v2/models/{MODEL}/infer", data=probe.body,
                                               headers=probe.headers, timeout=10).status_code == 200, 10)
    load = Load(c.url, token).start()
    try:
        time.sleep(1.0)
        assert c.publish(1, write_folder(tmp_path / "v2", linear, seed=2)) == 2
        # Shadow first: half the requests are repeated on v2 and compared; no answer comes from v2.
        r = c.call(1, "PUT", f"/{MODEL}/shadow", json={"version": 2, "share": 50, "reason": "shadow"})
        assert r.status_code == 200, r.text
        time.sleep(2.0)
        assert c.call(0, "POST", f"/{MODEL}/shadow/clear", json={"reason": "compared"}).status_code == 200
        time.sleep(0.5)
        # Canary 10 % through replica 0, with tritonserver 1 SIGKILLed while it loads v2.
        r = _killing(c, 1, lambda: c.call(0, "PUT", f"/{MODEL}/canary",
                                          json={"version": 2, "weight": 10, "reason": "canary"}), after_s=0.5)
        if r.status_code != 200:  # aborted cleanly: audited, nothing moved; set it again
            assert r.status_code == 503 and "release_aborted" in [e["kind"] for e in c.history()[-2:]], r.text
            assert c.call(0, "GET", f"/{MODEL}").json()["canary"] is None
            r = c.call(0, "PUT", f"/{MODEL}/canary", json={"version": 2, "weight": 10, "reason": "canary again"})
        assert r.status_code == 200, r.text
        assert all(c.tritons[i].ready_versions(MODEL) == {1, 2} for i in (0, 2))
        c.tritons[1].start()  # restarts empty: routed to again only once it serves v1 and v2
        _wait_routed(c, c.tritons[1])
        assert c.tritons[1].ready_versions(MODEL) >= {1, 2}
        time.sleep(2.0)

        # Promote through replica 1 and SIGKILL tritonserver 2 while the promotion runs.
        promoted = _killing(c, 2, lambda: c.call(1, "POST", f"/{MODEL}/promote",
                                                 json={"version": 2, "reason": "approved"}), after_s=0.15)
        if promoted.status_code != 200:  # aborted cleanly: audited, the old state serves; promote again
            assert promoted.status_code == 503, promoted.text
            assert "release_aborted" in [e["kind"] for e in c.history()[-2:]]
            assert c.call(0, "GET", f"/{MODEL}").json()["current"] == 1
            promoted = c.call(1, "POST", f"/{MODEL}/promote", json={"version": 2, "reason": "approved again"})
        assert promoted.status_code == 200, promoted.text
        assert promoted.json()["current"] == 2
        t_promoted = time.time()

        # The killed server restarts empty, and a fourth joins: each is routed to only once it serves v2.
        c.tritons[2].start()
        c.tritons[3].start()
        for i in (2, 3):
            _wait_routed(c, c.tritons[i])
            assert 2 in c.tritons[i].ready_versions(MODEL)
        assert _wait(lambda: all(c.tritons[i].ready_versions(MODEL) == {2} for i in (0, 1)), 10), \
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
    assert all(c.tritons[i].inference_counts(MODEL)[0] > 0 for i in (1, 2, 3)), "restarted and added ones serve"
    # The shadow phase: mirrored on both replicas, outputs compared (v2 has other weights), audited as shadow.
    mirrored = {}
    for g in c.gateways:
        for line in requests.get(f"{g.metrics_url}/metrics", timeout=10).text.splitlines():
            if line.startswith("medinfer_shadow_requests_total{"):
                mirrored[(g.index, line.split('outcome="')[1].split('"')[0])] = float(line.rsplit(" ", 1)[1])
    assert mirrored.get((0, "mismatch"), 0) > 0 and mirrored.get((1, "mismatch"), 0) > 0, mirrored
    assert not any(o in ("match", "error") and n > 0 for (_, o), n in mirrored.items()), mirrored
    import psycopg

    with psycopg.connect(c.db_dsn) as conn:
        audited = conn.execute("SELECT count(*), min(version), max(version) FROM audit_ledger "
                               "WHERE action = 'shadow infer mismatch'").fetchone()
    assert audited[0] == sum(n for (_, o), n in mirrored.items() if o == "mismatch") and audited[1:] == ("2", "2")
    kinds = [e["kind"] for e in c.history()]
    assert kinds[-3:] == ["canary", "promote", "rollback"] or "release_aborted" in kinds, kinds
