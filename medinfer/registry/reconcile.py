"""Which tritonservers a gateway replica routes to, and making each one serve the routed versions.

The gateway sends inference straight to individual tritonservers (client-side round
robin over ``EndpointPool``), not through the ``triton`` Service: a load balancer cannot
know whether the pod it picks has loaded the version a request was routed to.

``EndpointReconciler`` keeps the pool true, in a background thread every
``interval_s`` and before every routing snapshot takes effect:

1. list the endpoints (``endpoints.py``: a static list or a headless Service's DNS);
2. read each server's repository index (one ``POST /v2/repository/index``) and compare
   its READY versions with every version the routing table can send (current, canary,
   named tags);
3. a server that is missing some is taken out of routing, asked to load the models
   concerned (Triton reads ``config.pbtxt`` from the shared repository, which always
   lists at least the routed versions), and put back only once all are READY;
4. a server that cannot be made consistent (the load fails or times out) or does not
   answer stays out of routing, with the reason in ``status()`` (``/readyz`` detail)
   and the gauge ``medinfer_triton_endpoint_routable``.

A new snapshot is checked the same way before the swap; if no server serves it, the
swap is refused (``SnapshotUnservable``) and the replica keeps routing on the old
snapshot, so it does not acknowledge the new generation and the promoter does not
unload anything this replica still routes to.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Gauge

from medinfer.common.errors import BackendUnavailable
from medinfer.registry.endpoints import TritonEndpoints
from medinfer.registry.fleet import EndpointError, Unreachable, index, load_on, ready_versions

__all__ = ["EndpointPool", "EndpointReconciler", "SnapshotUnservable", "required_versions"]

log = logging.getLogger("medinfer.registry")

Required = dict[str, set[int]]


class SnapshotUnservable(BackendUnavailable):
    pass


def required_versions(snapshot: dict[str, dict[str, Any]]) -> Required:
    """Every version a routing snapshot (``Store.snapshot``) can send requests to (mirrored ones too)."""
    out: Required = {}
    for name, snap in snapshot.items():
        versions = {v for v in snap.get("tags", {}).values() if v is not None}
        if snap.get("current") is not None:
            versions.add(snap["current"])
        if snap.get("canary"):
            versions.add(snap["canary"][0])
        if snap.get("shadow"):
            versions.add(snap["shadow"][0])
        if versions:
            out[name] = versions
    return out


def _label(url: str) -> str:
    return urlsplit(url).netloc


class EndpointPool:
    """The endpoints this replica routes to, per model: a server that lacks one model's routed versions
    still serves the others. ``pick`` is lock-free (tuples swapped per change)."""

    def __init__(self) -> None:
        self._routable: tuple[str, ...] = ()  # servers that serve every routed version
        self._by_model: dict[str, tuple[str, ...]] = {}
        self._answering: tuple[str, ...] = ()
        self._all: tuple[str, ...] = ()
        self._next = itertools.count()
        self._lock = threading.Lock()
        # url -> {"routing": serves everything, "reason": why not, "models": models it serves consistently}
        self.state: dict[str, dict[str, Any]] = {}

    def pick(self, path: str = "") -> str:
        """A server for one request; ``path`` (``v2/models/<m>/...``) names the model."""
        model = path.split("/", 3)[2] if path.startswith("v2/models/") and path.count("/") >= 2 else None
        urls = self._by_model.get(model) if model is not None else self._routable
        if not urls:
            # A path naming no model, or a model no table routes: any server that answers.
            urls = self._routable if model is not None and self._routable else self._answering
        if not urls:
            # No server is known to serve it: send it anyway (the server's own answer, e.g. a 504 from a
            # stalled one, tells the caller more than a refusal here would).
            urls = self._all
        if not urls:
            raise BackendUnavailable("no Triton endpoint serves the routed model versions", retry_after=2)
        return urls[next(self._next) % len(urls)]

    def routable(self, model: str | None = None) -> list[str]:
        return list(self._by_model.get(model, ()) if model is not None else self._routable)

    def _rebuild(self) -> None:
        self._routable = tuple(sorted(u for u, s in self.state.items() if s["routing"]))
        self._all = tuple(sorted(self.state))
        self._answering = tuple(sorted(u for u, s in self.state.items()
                                       if s["routing"] or (s["reason"] or "").startswith(("loading", "inconsistent"))))
        by_model: dict[str, list[str]] = {}
        for u, st in sorted(self.state.items()):
            for m in st["models"]:
                by_model.setdefault(m, []).append(u)
        self._by_model = {m: tuple(us) for m, us in by_model.items()}

    def set(self, url: str, routing: bool, reason: str | None = None, models: set[str] | None = None) -> None:
        with self._lock:
            self.state[url] = {"routing": routing, "reason": reason, "models": sorted(models or ())}
            self._rebuild()

    def forget(self, url: str) -> None:
        with self._lock:
            self.state.pop(url, None)
            self._rebuild()

    def mark_down(self, url: str) -> None:
        """The data path could not connect: stop routing there until the reconciler re-checks it. The last
        routable endpoint stays (a retry there may still succeed; an empty pool fails every request)."""
        st = self.state.get(url)
        if st is not None and st["models"] and len([s for s in self.state.values() if s["models"]]) > 1:
            self.set(url, False, "unreachable")

    def status(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {_label(u): dict(s) for u, s in sorted(self.state.items())}


class EndpointReconciler:
    def __init__(self, pool: EndpointPool, endpoints: TritonEndpoints, required: Callable[[], Required], *,
                 interval_s: float = 0.5, load_timeout_s: float = 120.0,
                 metrics_registry: CollectorRegistry | None = None) -> None:
        self.pool, self.endpoints, self.required = pool, endpoints, required
        self.interval_s, self.load_timeout_s = interval_s, load_timeout_s
        kw = {"registry": metrics_registry} if metrics_registry is not None else {}
        self.gauge = Gauge("medinfer_triton_endpoint_routable",
                           "1 when this gateway routes to the Triton endpoint (it serves every routed version)",
                           ["endpoint"], **kw)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy = threading.Lock()  # one reconcile pass at a time (loop and pre-swap check)
        self._prepared: Required = {}

    # ---- one endpoint ------------------------------------------------------------------------
    def _missing(self, url: str, required: Required) -> tuple[Required, set[str]]:
        """Routed versions the server lacks, and the models it is loading or unloading right now."""
        entries = index(url, tls=self.endpoints.tls)
        ready = ready_versions(entries)
        busy = {str(e.get("name")) for e in entries if e.get("state") in ("LOADING", "UNLOADING")}
        return {m: vs - ready.get(m, set()) for m, vs in required.items() if vs - ready.get(m, set())}, busy

    def _reconcile_endpoint(self, url: str, required: Required, mark: bool) -> tuple[bool, str | None, set[str]]:
        """(serves everything, reason, models it serves). Loads what is missing, never on a consistent
        server, and never a model the server is loading already. ``mark``: while it loads, route only the
        models it already serves there (the current table needs it)."""
        try:
            missing, busy = self._missing(url, required)
            if not missing:
                return True, None, set(required)
            serving = set(required) - set(missing)
            if mark:
                self.pool.set(url, False, "loading " + ", ".join(sorted(missing)), serving)
            to_load = sorted(set(missing) - busy)  # a load already running there (its start-up, a promotion)
            if to_load:                            # is awaited, not repeated: a second one would reload
                log.warning("Triton endpoint is missing routed versions; loading",
                            extra={"endpoint": _label(url), "models": to_load})
                for model in to_load:
                    load_on(url, model, self.load_timeout_s, tls=self.endpoints.tls)
                missing, _ = self._missing(url, required)
            if missing:
                reason = "inconsistent: " + ", ".join(f"{m} {sorted(v)}" for m, v in sorted(missing.items()))
                return False, reason, set(required) - set(missing)
            log.info("Triton endpoint serves the routed versions", extra={"endpoint": _label(url)})
            return True, None, set(required)
        except Unreachable:
            return False, "unreachable", set()
        except EndpointError as e:
            return False, f"load failed: {str(e)[:120]}", set()

    # ---- passes ------------------------------------------------------------------------------
    def reconcile(self, required: Required | None = None, *, refuse_empty: bool = False) -> list[str]:
        """One pass over every endpoint; returns the routable ones. ``refuse_empty``: when no
        endpoint qualifies, change nothing and raise ``SnapshotUnservable``."""
        urls = self.endpoints.urls()
        with self._busy:
            current = required is None
            if required is None:
                # A snapshot checked by prepare() may not be swapped in yet: require both.
                required = self.required()
                for m, vs in self._prepared.items():
                    required[m] = required.get(m, set()) | vs
            results = []
            if urls:
                with ThreadPoolExecutor(max_workers=min(8, len(urls))) as ex:
                    results = list(ex.map(lambda u: (u, self._reconcile_endpoint(u, required, current)), urls))
            if refuse_empty and required and not any(models for _, (_, _, models) in results):
                raise SnapshotUnservable("no Triton endpoint serves the new routing snapshot; keeping the old one",
                                         code="triton-unavailable")
            for gone in set(self.pool.state) - set(urls):
                self.pool.forget(gone)
                self.gauge.remove(_label(gone))
            for url, (ok, reason, models) in results:
                was = self.pool.state.get(url, {}).get("routing")
                self.pool.set(url, ok, reason, models)
                self.gauge.labels(_label(url)).set(1 if ok else 0)
                if was and not ok:
                    log.warning("Triton endpoint taken out of routing",
                                extra={"endpoint": _label(url), "reason": reason})
            return self.pool.routable()

    def prepare(self, snapshot: dict[str, dict[str, Any]]) -> None:
        """Before a snapshot takes effect: route only to servers that serve all of it; if none
        does, refuse the swap and leave the pool as it is (it serves the current snapshot)."""
        required = required_versions(snapshot)
        self.reconcile(required, refuse_empty=True)
        self._prepared = required

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.reconcile()
            except Exception:  # noqa: BLE001 - the loop must survive one bad pass
                log.exception("endpoint reconcile pass failed")

    def start(self) -> None:
        self.reconcile()
        self._thread = threading.Thread(target=self._run, name="triton-reconcile", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wait_routable(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.pool.routable():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True
