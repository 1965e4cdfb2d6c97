"""The registry pieces a gateway process holds: one ``Registry`` whose drain
waits on the gateway's own in-flight counts, the routing table it resolves every
request with, the refresher that keeps that table current when other processes
(the CLI, another gateway replica) change tags, and the per-version metrics.

Gateway wiring (in ``create_app``)::

    rt = build_runtime(RegistrySettings(), triton=TritonHTTPControl(settings.triton_url), audit=ledger_sink,
                       before_swap=catalog.refresh)
    adopt_repository(rt.registry, actor="gateway", reason="shipped models")   # optional bootstrap
    rt.start()                                   # lifespan start; rt.stop() at shutdown
    app.state.registry = rt.registry             # the admin router reads it
    version, tag = rt.table.resolve(model, version_or_none, request_id, client_id)
    with rt.metrics.track(model, version) as outcome:   # in-flight + per-version series
        ...call Triton; outcome.fail() on a failed answer
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from medinfer.registry.audit import AuditSink
from medinfer.registry.factory import build_registry
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

    def start(self) -> None:
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
    refresher = SnapshotRefresher(table, registry.store, settings.refresh_interval_s, before_swap)
    # Changes made through this process are routed at once, before any unload starts.
    registry.on_change(lambda: refresher.refresh(force=True))
    return RegistryRuntime(registry, table, refresher, tracker, VersionMetrics(metrics_registry, tracker))
