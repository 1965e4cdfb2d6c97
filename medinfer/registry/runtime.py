"""The registry pieces a gateway process holds: one ``Registry`` whose drain
waits on the gateway's own in-flight counts, the routing table it resolves every
request with, the refresher that keeps that table current when other processes
(the CLI, another gateway replica) change tags, and the per-version metrics.

Gateway wiring (in ``create_app``)::

    rt = build_runtime(RegistrySettings(), triton=TritonHTTPControl(settings.triton_url), audit=ledger_sink,
                       before_swap=catalog.refresh)
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

from medinfer.registry.audit import AuditSink
from medinfer.registry.factory import build_registry
from medinfer.registry.outbox import OutboxPump
from medinfer.registry.routing import InflightTracker, RoutingTable, SnapshotRefresher, VersionMetrics
from medinfer.registry.service import Registry
from medinfer.registry.settings import RegistrySettings
from medinfer.registry.triton_control import TritonControl

__all__ = ["RegistryRuntime", "build_runtime"]


@dataclass
class RegistryRuntime:
    registry: Registry
    table: RoutingTable
    refresher: SnapshotRefresher
    tracker: InflightTracker
    metrics: VersionMetrics
    outbox_pump: OutboxPump

    def start(self) -> None:
        self.outbox_pump.run()  # events a previous process committed but could not deliver
        self.refresher.start()

    def stop(self) -> None:
        self.refresher.stop()
        self.registry.store.engine.dispose()


def build_runtime(
    settings: RegistrySettings | None = None,
    *,
    triton: TritonControl | None = None,
    audit: AuditSink | None = None,
    metrics_registry: CollectorRegistry | None = None,
    before_swap: Callable[[], None] | None = None,
) -> RegistryRuntime:
    """``before_swap``: e.g. ``catalog.refresh`` so version metadata is loaded before routing to it."""
    settings = settings or RegistrySettings()
    tracker = InflightTracker()
    registry = build_registry(settings, triton=triton, audit=audit, drain=tracker)
    table = RoutingTable()
    metrics = VersionMetrics(metrics_registry, tracker)
    pending = Gauge(
        "medinfer_registry_audit_outbox_pending",
        "Registry audit events committed but not yet delivered to the audit ledger",
        registry=metrics.registry,
    )
    registry.outbox.observe_pending = pending.set
    pump = OutboxPump(registry.deliver_audit, settings.audit_outbox_retry_s)
    refresher = SnapshotRefresher(table, registry.store, settings.refresh_interval_s, before_swap, pump.tick)
    # Changes made through this process are routed at once, before any unload starts.
    registry.on_change(lambda: refresher.refresh(force=True))
    return RegistryRuntime(registry, table, refresher, tracker, metrics, pump)
