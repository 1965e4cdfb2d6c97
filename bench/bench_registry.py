"""Per-request cost of registry routing in the gateway (prints numbers; no targets).

* ``RoutingTable.resolve`` without and with a 10 % canary (one blake2b per request);
* ``VersionMetrics.track`` (in-flight count + three Prometheus series) around a no-op.

Run: ``.venv/bin/python bench/bench_registry.py``.
"""

from __future__ import annotations

import time

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


if __name__ == "__main__":
    main()
