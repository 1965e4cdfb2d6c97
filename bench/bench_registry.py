"""Registry costs (prints numbers; no targets).

* ``RoutingTable.resolve`` without and with a 10 % canary (one blake2b per request);
* ``VersionMetrics.track`` (in-flight count + three Prometheus series) around a no-op.
* ``--replicas``: promotion and rollback time and failed requests under steady client load, with
  3 tritonservers and 2 gateway processes on one PostgreSQL behind HAProxy, against 1 tritonserver
  and 1 gateway measured in the same run (the same harness as tests/e2e/test_registry_replicas.py;
  needs Debian ``postgresql`` and ``haproxy``).

Run: ``.venv/bin/python bench/bench_registry.py [--replicas]``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from medinfer.registry.routing import RoutingTable, VersionMetrics


def per_call_ns(fn, n: int = 200_000) -> float:
    t0 = time.perf_counter_ns()
    for i in range(n):
        fn(i)
    return (time.perf_counter_ns() - t0) / n


def main() -> None:
    plain, canary = RoutingTable(), RoutingTable()
    plain.load(1, {"m": {"current": 1, "canary": None, "tags": {}}})
    canary.load(1, {"m": {"current": 1, "canary": (2, 10.0, False), "tags": {}}})
    ids = [f"{i:024x}" for i in range(1000)]
    metrics = VersionMetrics(CollectorRegistry())

    def tracked(i: int) -> None:
        with metrics.track("m", 1):
            pass

    rows = [
        ("resolve, current only", per_call_ns(lambda i: plain.resolve("m", None, ids[i % 1000]))),
        ("resolve, 10 % canary", per_call_ns(lambda i: canary.resolve("m", None, ids[i % 1000]))),
        ("resolve, pinned version", per_call_ns(lambda i: canary.resolve("m", 2, ids[i % 1000]))),
        ("metrics.track around a no-op", per_call_ns(tracked, 100_000)),
    ]
    for name, ns in rows:
        print(f"{name:32s} {ns / 1000:8.2f} µs/request")


def _release_run(pg, home: Path, tritons: int, gateways: int) -> dict[str, float]:
    """Publish v1+v2, then under load: promote v2 and roll back, each through another replica."""
    import requests

    from tests.support.onnx_models import linear, write_folder
    from tests.support.replicas import MODEL, Cluster, Load
    from tests.support.stack import dev_auth_header

    c = Cluster(home, pg, tritons=tritons, gateways=gateways)
    try:
        c.start()
        c.publish(0, write_folder(home / "v1", linear, seed=1))
        assert c.call(gateways - 1, "POST", f"/{MODEL}/promote", json={"version": 1}).status_code == 200
        c.publish(0, write_folder(home / "v2", linear, seed=2))
        token = dev_auth_header(c.home)["Authorization"]
        probe = Load(c.url, token)
        for g in c.gateways:
            deadline = time.monotonic() + 10
            while requests.post(f"{g.url}/v2/models/{MODEL}/infer", data=probe.body, headers=probe.headers,
                                timeout=10).status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.1)
        load = Load(c.url, token).start()
        time.sleep(2.0)
        t0 = time.perf_counter()
        r = c.call(0, "POST", f"/{MODEL}/promote", json={"version": 2, "reason": "bench"})
        promote_s = time.perf_counter() - t0
        assert r.status_code == 200, r.text
        time.sleep(2.0)
        t0 = time.perf_counter()
        r = c.call(gateways - 1, "POST", f"/{MODEL}/rollback", json={"reason": "bench"})
        rollback_s = time.perf_counter() - t0
        assert r.status_code == 200, r.text
        time.sleep(1.0)
        answers = load.stop()
        return {"requests": len(answers), "failed": sum(a.status != 200 for a in answers),
                "promote_s": promote_s, "rollback_s": rollback_s}
    finally:
        c.stop()


def replicas() -> None:
    from tests.support.postgres import PostgresServer

    pg = PostgresServer()
    pg.start()
    try:
        rows = []
        for tritons, gateways in ((1, 1), (3, 2)):
            with tempfile.TemporaryDirectory(prefix="bench-replicas-") as tmp:
                rows.append(((tritons, gateways), _release_run(pg, Path(tmp) / "home", tritons, gateways)))
    finally:
        pg.stop()
    print(f"{'tritons x gateways':20s} {'promote s':>10s} {'rollback s':>11s} {'requests':>9s} {'failed':>7s}")
    for (t, g), r in rows:
        print(f"{f'{t} x {g}':20s} {r['promote_s']:10.2f} {r['rollback_s']:11.2f} {r['requests']:9d} "
              f"{r['failed']:7d}")
    (_, base), (_, many) = rows
    print(f"promotion time ratio 3x2 / 1x1: {many['promote_s'] / base['promote_s']:.2f}; "
          f"rollback: {many['rollback_s'] / base['rollback_s']:.2f}")


if __name__ == "__main__":
    if "--replicas" in sys.argv:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support harness
        replicas()
    else:
        main()
