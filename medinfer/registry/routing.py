"""Per-request routing for the gateway: which version answers, and who is still using which.

``RoutingTable.resolve`` is O(1) and reads only an in-memory snapshot; the
snapshot is replaced (never mutated) when the registry's change counter moves,
either immediately (the registry runs in the same process) or by
``SnapshotRefresher`` polling one integer. Canary assignment hashes the request
id (or the client id when the canary is sticky) so a request's version is
deterministic and reproducible from the audit trail.

``InflightTracker`` counts requests per (model, version) so a promotion unloads
the retired version only after its last in-flight request finished;
``VersionMetrics`` exports per-version Prometheus series that canary rollouts
compare.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from medinfer.common.errors import MedinferError, ModelNotFound

__all__ = [
    "RoutingTable",
    "SnapshotRefresher",
    "InflightTracker",
    "VersionMetrics",
    "DrainWaiter",
    "GraceDrain",
    "canary_bucket",
    "LATENCY_BUCKETS",
]

log = logging.getLogger("medinfer.registry")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
_SCALE = 10_000  # canary weights resolve to 0.01 %


def canary_bucket(key: str) -> int:
    """A stable bucket in [0, 10000) for a request or client id."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") % _SCALE


@dataclass(frozen=True)
class _Route:
    current: int | None
    canary: int | None
    threshold: int
    sticky: bool
    tags: dict[str, int] = field(default_factory=dict)
    by_version: dict[int, str] = field(default_factory=dict)
    shadow: int | None = None  # mirrored only; never in by_version: no request is answered by it
    shadow_threshold: int = 0


class RoutingTable:
    def __init__(self) -> None:
        self.generation = -1
        self._routes: dict[str, _Route] = {}

    def load(self, generation: int, snapshot: dict[str, dict[str, Any]]) -> None:
        routes = {}
        for name, snap in snapshot.items():
            canary = snap.get("canary")
            by_version: dict[int, str] = {}
            for tag, v in sorted(snap.get("tags", {}).items()):
                by_version.setdefault(v, tag)
            if canary:
                by_version[canary[0]] = "canary"
            if snap.get("current") is not None:
                by_version[snap["current"]] = "current"
            shadow = snap.get("shadow")
            routes[name] = _Route(
                shadow=shadow[0] if shadow else None,
                shadow_threshold=int(round(shadow[1] * _SCALE / 100)) if shadow else 0,
                current=snap.get("current"),
                canary=canary[0] if canary else None,
                threshold=int(round(canary[1] * _SCALE / 100)) if canary else 0,
                sticky=bool(canary[2]) if canary else False,
                tags=dict(snap.get("tags", {})),
                by_version=by_version,
            )
        self._routes = routes  # one reference swap: readers see the old or the new table
        self.generation = generation

    def models(self) -> list[str]:
        return sorted(self._routes)

    def served(self, model: str) -> set[int]:
        """Versions Triton must have loaded for this table: routed and mirrored ones."""
        route = self._routes.get(model)
        if route is None:
            return set()
        return set(route.by_version) | ({route.shadow} if route.shadow is not None else set())

    def shadow(self, model: str, request_id: str) -> int | None:
        """The version to mirror this request to, or None (a share of requests by request id,
        sampled independently of the canary)."""
        route = self._routes.get(model)
        if route is None or route.shadow is None:
            return None
        return route.shadow if canary_bucket("shadow:" + request_id) < route.shadow_threshold else None

    def resolve(
        self, model: str, version: str | int | None, request_id: str, client: str | None = None
    ) -> tuple[int, str]:
        """``(version, tag)`` for one request; ``tag`` is current, canary, a named tag or pinned."""
        route = self._routes.get(model)
        if route is None:
            raise ModelNotFound("unknown model (not registered)")
        if version is None or version == "":
            if route.current is None:
                raise ModelNotFound("the model has no current version; promote one first")
            if route.canary is not None:
                key = client if route.sticky and client else request_id
                if canary_bucket(key) < route.threshold:
                    return route.canary, "canary"
            return route.current, "current"
        if isinstance(version, int) or version.isdigit():
            v = int(version)
            tag = route.by_version.get(v)
            if tag is None:
                raise ModelNotFound("that version of the model is not served")
            return v, tag
        if version == "current" and route.current is not None:
            return route.current, "current"
        if version == "canary" and route.canary is not None:
            return route.canary, "canary"
        if version in route.tags:
            return route.tags[version], version
        raise ModelNotFound("the model has no such tag")


class _Snapshotter(Protocol):
    def generation(self) -> int: ...

    def snapshot(self) -> tuple[int, dict[str, dict[str, Any]]]: ...


class SnapshotRefresher:
    """Polls the store's change counter and reloads the table when it moves."""

    def __init__(
        self,
        table: RoutingTable,
        store: _Snapshotter,
        interval_s: float = 0.5,
        before_swap: Callable[[], None] | None = None,
        on_tick: Callable[[], None] | None = None,
        prepare: Callable[[dict[str, dict[str, Any]]], None] | None = None,
    ) -> None:
        """``before_swap`` runs before a new snapshot takes effect (the gateway rereads
        its model catalog there, so a newly routed version's metadata is known first).
        ``on_tick`` runs after every poll (the audit outbox retries from there; it
        throttles itself). ``prepare(snapshot)`` runs first and may refuse the swap by
        raising (the gateway's endpoint reconciler: no Triton server serves it yet)."""
        self.table, self.store, self.interval_s = table, store, interval_s
        self.prepare = prepare
        self.before_swap = before_swap
        self.on_tick = on_tick
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self, force: bool = False, *, check: bool = True) -> bool:
        with self._lock:
            if not force and self.store.generation() == self.table.generation:
                return False
            gen, snap = self.store.snapshot()
            if self.prepare is not None and check:
                self.prepare(snap)
            if self.before_swap is not None:
                self.before_swap()
            self.table.load(gen, snap)
            return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.refresh()
            except MedinferError:
                # Database briefly unavailable: keep routing on the last snapshot.
                log.warning("routing snapshot refresh failed", extra={"code": "registry-unavailable"})
            if self.on_tick is not None:
                try:
                    self.on_tick()
                except Exception:  # noqa: BLE001 - the poll loop must survive its hooks
                    log.exception("registry background task failed")

    def start(self) -> None:
        try:
            self.refresh(force=True)
        except MedinferError:
            if self.prepare is None:
                raise
            # No Triton endpoint serves the snapshot yet (all down at start-up). There is no older table to
            # keep: route on this one (requests get 503 until the reconcile loop has made an endpoint serve it).
            log.warning("initial routing snapshot not served yet", extra={"code": "triton-unavailable"})
            self.refresh(force=True, check=False)
        self._thread = threading.Thread(target=self._run, name="routing-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


class DrainWaiter(Protocol):
    def wait_drained(self, model: str, version: int, timeout: float) -> bool: ...


class GraceDrain:
    """For a registry running outside the gateway: wait long enough for gateways to
    pick up the new snapshot and finish requests they had already routed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def wait_drained(self, model: str, version: int, timeout: float) -> bool:
        time.sleep(min(self.seconds, timeout))
        return True


class InflightTracker:
    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = defaultdict(int)
        self._lock = threading.Lock()

    def enter(self, model: str, version: int) -> None:
        with self._lock:
            self._counts[(model, version)] += 1

    def leave(self, model: str, version: int) -> None:
        with self._lock:
            self._counts[(model, version)] -= 1

    @contextmanager
    def track(self, model: str, version: int) -> Iterator[None]:
        self.enter(model, version)
        try:
            yield
        finally:
            self.leave(model, version)

    def inflight(self, model: str, version: int) -> int:
        return self._counts.get((model, version), 0)

    def snapshot(self) -> dict[tuple[str, int], int]:
        with self._lock:
            return dict(self._counts)

    def wait_drained(self, model: str, version: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.inflight(model, version) > 0:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True


class _Outcome:
    __slots__ = ("failed",)

    def __init__(self) -> None:
        self.failed = False

    def fail(self) -> None:
        self.failed = True


class VersionMetrics:
    """Per-version request, error and latency series (labels: model, version only)."""

    def __init__(
        self, registry: CollectorRegistry | None = None, tracker: InflightTracker | None = None
    ) -> None:
        from prometheus_client import REGISTRY

        self.registry = registry if registry is not None else REGISTRY
        kw: dict[str, Any] = {"registry": self.registry}
        self.tracker = tracker or InflightTracker()
        self.requests = Counter(
            "medinfer_model_requests", "Inference requests per model version", ["model", "version"], **kw
        )
        self.errors = Counter(
            "medinfer_model_errors", "Failed inference requests per model version", ["model", "version"], **kw
        )
        self.latency = Histogram(
            "medinfer_model_request_duration_seconds",
            "Inference latency per model version",
            ["model", "version"],
            buckets=LATENCY_BUCKETS,
            **kw,
        )
        self._series: dict[tuple[str, int], tuple[Any, Any, Any, Any]] = {}  # label children, looked up once
        self.inflight = Gauge(
            "medinfer_model_inflight", "In-flight requests per model version", ["model", "version"], **kw
        )

    @contextmanager
    def track(self, model: str, version: int) -> Iterator[_Outcome]:
        """Counts the request in flight, times it, and records an error when the block
        raises or calls ``outcome.fail()``. Errors Triton reports as input errors count
        too: the gateway validated the input before the call, and a rollout compares the
        canary with the stable version, so errors common to both cancel out."""
        series = self._series.get((model, version))
        if series is None:
            v = str(version)
            series = self._series[(model, version)] = (
                self.inflight.labels(model, v),
                self.latency.labels(model, v),
                self.requests.labels(model, v),
                self.errors.labels(model, v),
            )
        gauge, latency, requests, errors = series
        outcome = _Outcome()
        gauge.inc()
        self.tracker.enter(model, version)
        t0 = time.perf_counter()
        try:
            yield outcome
        except BaseException:
            outcome.failed = True
            raise
        finally:
            self.tracker.leave(model, version)
            gauge.dec()
            latency.observe(time.perf_counter() - t0)
            requests.inc()
            if outcome.failed:
                errors.inc()
