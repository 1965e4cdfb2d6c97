"""Routing table (canary split, stickiness, pins), metrics parsing and rollout judgement."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from medinfer.common.errors import BackendUnavailable, ModelNotFound, ValidationFailed
from medinfer.registry.rollout import (
    RegistryMetricsSource,
    RolloutController,
    RolloutPolicy,
    VersionSample,
    parse_steps,
    parse_version_metrics,
    quantile,
)
from medinfer.registry.routing import LATENCY_BUCKETS, InflightTracker, RoutingTable, VersionMetrics

SNAP = {
    "tumor": {"current": 1, "canary": (2, 10.0, False), "tags": {"stable": 1, "shadow": 3}},
    "empty": {"current": None, "canary": None, "tags": {}},
}


def table(snap=SNAP) -> RoutingTable:
    t = RoutingTable()
    t.load(7, snap)
    return t


def test_canary_share_is_deterministic_and_close_to_weight():
    t = table()
    picks = [t.resolve("tumor", None, f"req-{i}") for i in range(20000)]
    share = sum(1 for v, tag in picks if (v, tag) == (2, "canary")) / len(picks)
    assert 0.09 < share < 0.11
    assert picks == [t.resolve("tumor", None, f"req-{i}") for i in range(20000)]
    assert {tag for _, tag in picks} == {"current", "canary"}


def test_sticky_canary_follows_the_client_not_the_request():
    t = table({"tumor": {"current": 1, "canary": (2, 50.0, True), "tags": {}}})
    for client in ("c1", "c2", "c3", "c4"):
        versions = {t.resolve("tumor", None, f"r{i}", client)[0] for i in range(200)}
        assert len(versions) == 1
    assert len({t.resolve("tumor", None, f"r{i}", None)[0] for i in range(200)}) == 2


def test_explicit_versions_and_tags():
    t = table()
    assert t.resolve("tumor", "1", "r") == (1, "current")
    assert t.resolve("tumor", 2, "r") == (2, "canary")
    assert t.resolve("tumor", "shadow", "r") == (3, "shadow")
    assert t.resolve("tumor", "canary", "r") == (2, "canary")
    assert t.served("tumor") == {1, 2, 3}
    for model, version in (("nosuch", None), ("tumor", "9"), ("tumor", "nosuchtag"), ("empty", None)):
        with pytest.raises(ModelNotFound):
            t.resolve(model, version, "r")


def test_histogram_quantile_matches_numpy_within_a_bucket():
    reg = CollectorRegistry()
    m = VersionMetrics(reg)
    rng = np.random.default_rng(0)
    lat = rng.uniform(0.01, 0.025, 1000)
    for x in lat:
        m.latency.labels("tumor", "1").observe(float(x))
        m.requests.labels("tumor", "1").inc()
    sample = parse_version_metrics(RegistryMetricsSource(reg).scrape(), "tumor")[1]
    assert sample.requests == 1000
    q = quantile(sample, 0.99)
    assert 0.01 <= q <= 0.025 and abs(q - np.quantile(lat, 0.99)) < 0.001
    assert quantile(VersionSample(), 0.99) is None


def test_version_metrics_count_every_failed_answer():
    reg = CollectorRegistry()
    m = VersionMetrics(reg)
    with m.track("tumor", 1):
        pass
    with pytest.raises(BackendUnavailable), m.track("tumor", 1):
        raise BackendUnavailable("x")
    with pytest.raises(ValidationFailed), m.track("tumor", 1):
        raise ValidationFailed("x")
    with m.track("tumor", 1) as out:
        out.fail()
    s = parse_version_metrics(RegistryMetricsSource(reg).scrape(), "tumor")[1]
    assert (s.requests, s.errors) == (4, 3)


def test_inflight_tracker_waits_for_drain():
    tr = InflightTracker()
    release = threading.Event()

    def worker():
        with tr.track("tumor", 1):
            release.wait(5)

    th = threading.Thread(target=worker)
    th.start()
    time.sleep(0.05)
    assert tr.inflight("tumor", 1) == 1
    assert tr.wait_drained("tumor", 1, 0.05) is False
    threading.Timer(0.1, release.set).start()
    assert tr.wait_drained("tumor", 1, 5) is True
    th.join()


@pytest.mark.parametrize("text", ["", "10,5,100", "10,50", "0,100", "x,100"])
def test_bad_steps(text):
    with pytest.raises(ValidationFailed):
        parse_steps(text)


def _sample(requests, errors, latency_s):
    buckets = {le: (requests if latency_s <= le else 0.0) for le in LATENCY_BUCKETS}
    buckets[float("inf")] = requests
    return VersionSample(requests, errors, buckets)


def test_judge_bounds():
    c = RolloutController(None, None, RolloutPolicy([100], max_error_rate=0.05, max_p99_ms=100, interval_s=0))
    assert c.judge(_sample(100, 1, 0.01), _sample(100, 0, 0.01)) is None
    assert "error rate" in c.judge(_sample(100, 20, 0.01), _sample(100, 0, 0.01))
    assert c.judge(_sample(100, 20, 0.01), _sample(100, 18, 0.01)) is None  # no worse than stable
    assert "p99" in c.judge(_sample(100, 0, 0.4), _sample(100, 0, 0.01))
    assert c.judge(_sample(100, 0, 0.4), _sample(100, 0, 0.9)) is None  # stable is slower still
