"""The registry pieces a gateway process holds: one ``Registry`` whose drain
waits on every gateway replica's acknowledged generation and in-flight counts
(``replicas.py``), the Triton endpoints it routes to and reconciles
(``reconcile.py``), the routing table it resolves every
request with, the refresher that keeps that table current when other processes
(the CLI, another gateway replica) change tags, and the per-version metrics.

Gateway wiring (in ``create_app``)::

    rt = build_runtime(RegistrySettings(), audit=ledger_sink, before_swap=catalog.refresh)
    # Triton endpoints from the settings (a list, a headless Service's DNS, or triton_url):
    # rt.pool.pick() is the server one request goes to; rt.reconciler keeps the pool consistent.
    adopt_repository(rt.registry, actor="gateway", reason="shipped models")   # optional bootstrap
    rt.start()                                   # lifespan start (delivers queued audit events); rt.stop()
    app.state.registry = rt.registry             # the admin router reads it
    version, tag = rt.table.resolve(model, version_or_none, request_id, client_id)
    with rt.metrics.track(model, version) as outcome:   # in-flight + per-version series
        ...call Triton; outcome.fail() on a failed answer

Audit events queued in the outbox (the ledger was down when a change was made,
or a process died before delivering) are delivered at ``start()`` and then every
``audit_outbox_retry_s`` from the refresher's poll loop; the number still queued
is the gauge ``medinfer_registry_audit_outbox_pending``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Gauge

import logging

from medinfer.common.errors import MedinferError
from medinfer.registry.audit import AuditSink
from medinfer.registry.endpoints import TritonEndpoints
from medinfer.registry.factory import build_registry
from medinfer.registry.fleet import TritonFleet
from medinfer.registry.outbox import OutboxPump
from medinfer.registry.reconcile import EndpointPool, EndpointReconciler
from medinfer.registry.replicas import FleetDrain, ReplicaReporter
from medinfer.registry.routing import InflightTracker, RoutingTable, SnapshotRefresher, VersionMetrics
from medinfer.registry.service import Registry
from medinfer.registry.settings import RegistrySettings
from medinfer.registry.triton_control import TritonControl

__all__ = ["RegistryRuntime", "build_runtime"]

log = logging.getLogger("medinfer.registry")


@dataclass
class RegistryRuntime:
    registry: Registry
    table: RoutingTable
    refresher: SnapshotRefresher
    tracker: InflightTracker
    metrics: VersionMetrics
    outbox_pump: OutboxPump
    reporter: ReplicaReporter | None = None
    pool: EndpointPool | None = None
    reconciler: EndpointReconciler | None = None

    def start(self) -> None:
        self.outbox_pump.run()  # events a previous process committed but could not deliver
        if self.reconciler is not None:
            self.reconciler.start()  # endpoints checked (and loaded) before the first snapshot routes
        self.refresher.start()
        if self.reporter is not None:
            self.reporter.start(self.refresher.interval_s)

    def stop(self) -> None:
        self.refresher.stop()
        if self.reconciler is not None:
            self.reconciler.stop()
        if self.reporter is not None:
            self.reporter.stop()  # and delete the row: this replica routes nothing any more
        self.registry.store.engine.dispose()

    def endpoint_status(self) -> dict[str, dict]:
        return self.pool.status() if self.pool is not None else {}


def build_runtime(
    settings: RegistrySettings | None = None,
    *,
    triton: TritonControl | None = None,
    audit: AuditSink | None = None,
    metrics_registry: CollectorRegistry | None = None,
    before_swap: Callable[[], None] | None = None,
    endpoints: TritonEndpoints | None = None,
) -> RegistryRuntime:
    """``before_swap``: e.g. ``catalog.refresh`` so version metadata is loaded before routing to it.

    ``endpoints`` (default ``settings.endpoints()``): the tritonservers this replica routes to
    and reconciles (``reconcile.py``); with them, the registry loads on every server
    (``TritonFleet``) and drains across every gateway replica (``FleetDrain``)."""
    settings = settings or RegistrySettings()
    endpoints = endpoints if endpoints is not None else settings.endpoints()
    tracker = InflightTracker()
    if triton is None and endpoints is not None:
        triton = TritonFleet(endpoints, timeout=settings.load_timeout_s)
    registry = build_registry(settings, triton=triton, audit=audit)
    table = RoutingTable()
    metrics = VersionMetrics(metrics_registry, tracker)
    pending = Gauge(
        "medinfer_registry_audit_outbox_pending",
        "Registry audit events committed but not yet delivered to the audit ledger",
        registry=metrics.registry,
    )
    registry.outbox.observe_pending = pending.set
    pump = OutboxPump(registry.deliver_audit, settings.audit_outbox_retry_s)
    pool = reconciler = None
    if endpoints is not None:
        pool = EndpointPool()
        reconciler = EndpointReconciler(
            pool, endpoints, lambda: {m: table.served(m) for m in table.models()},
            interval_s=settings.reconcile_interval_s, load_timeout_s=settings.load_timeout_s,
            metrics_registry=metrics.registry,
        )
    reporter = ReplicaReporter(registry.store, tracker, lambda: table.generation,
                               endpoints=lambda: pool.status() if pool is not None else {})

    def tick() -> None:
        reporter.tick()  # acknowledge the generation swapped in and the in-flight counts
        pump.tick()

    refresher = SnapshotRefresher(table, registry.store, settings.refresh_interval_s, before_swap, tick,
                                  prepare=reconciler.prepare if reconciler is not None else None)

    def routed_at_once() -> None:
        # Changes made through this process are routed at once, before any unload starts.
        try:
            refresher.refresh(force=True)
        except MedinferError:
            log.warning("routing refresh after a change failed; the poll loop retries",
                        extra={"code": "registry-unavailable"})
        reporter.tick()

    registry.on_change(routed_at_once)
    registry.drain = FleetDrain(registry.store, stale_s=settings.replica_stale_s, grace_s=settings.drain_grace_s,
                                before_wait=reporter.tick)
    return RegistryRuntime(registry, table, refresher, tracker, metrics, pump, reporter, pool, reconciler)
