"""Build the gateway's :class:`DriftMonitor` from the model repository (no HTTP here).

Every served version with a ``reference_profile.json`` beside its model file
gets a monitor; versions without one are served unmonitored. A model's OOD
policy is, in order: the operator's per-model override (``ood_policies``),
the policy its metadata declares (``"ood_policy"`` in medinfer.json), the
gateway default (``ood_policy``), so operators can change a model's policy
without rebuilding it.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry

from medinfer.gateway.settings import GatewaySettings
from medinfer.monitoring import DriftConfig, DriftMetrics, DriftMonitor, MonitorConfig, OodPolicy
from medinfer.triton.catalog import ModelCatalog

__all__ = ["build_drift_monitor", "sync_drift_monitor", "policy_for"]

log = logging.getLogger("medinfer.gateway")


def policy_for(settings: GatewaySettings, name: str, metadata: dict) -> OodPolicy:
    if name in settings.ood_policies:
        return settings.ood_policies[name]
    declared = metadata.get("ood_policy")
    if settings.ood_policy_from_metadata and declared in ("off", "flag", "reject"):
        return declared
    return settings.ood_policy


def sync_drift_monitor(monitor: DriftMonitor, settings: GatewaySettings, catalog: ModelCatalog) -> None:
    """Register versions present in ``catalog`` and drop the ones gone (call after ``catalog.refresh()``)."""
    root = settings.repository_path()
    present = set()
    for name in catalog.names():
        for version in catalog.versions(name):
            present.add((name, str(version)))
            if monitor.get(name, str(version)) is not None:
                continue
            entry = catalog.get(name, version)
            try:
                mon = monitor.register_from_dir(name, str(version), root / name / str(version),
                                                policy_for(settings, name, entry.metadata))
            except ValueError:
                log.warning("unreadable reference profile; version served unmonitored",
                            extra={"model": name, "version": str(version), "event": "drift-profile-invalid"})
                continue
            if mon is not None:
                log.info("drift monitor registered", extra={"model": name, "version": str(version),
                                                            "event": "drift-registered"})
    for name, version in list(monitor.keys()):
        if (name, version) not in present:
            monitor.unregister(name, version)


def build_drift_monitor(settings: GatewaySettings, catalog: ModelCatalog,
                        registry: CollectorRegistry | None = None) -> DriftMonitor:
    cfg = MonitorConfig(
        drift=DriftConfig(window=settings.drift_window, min_samples=settings.drift_min_samples),
        interval_s=settings.drift_interval_s,
        min_new=settings.drift_min_new,
    )
    monitor = DriftMonitor(cfg, DriftMetrics(registry))
    sync_drift_monitor(monitor, settings, catalog)
    return monitor
