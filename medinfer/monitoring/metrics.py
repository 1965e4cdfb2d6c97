"""Prometheus metrics for drift and OOD, with bounded label cardinality.

Label values come only from server-side sources: ``model``/``version`` from
registered monitors (at most ``MonitorConfig.max_models`` at a time; a removed
version's series are deleted), ``feature`` from the model's metadata (the
reference profile's feature names) and ``reason`` from the closed set
``OOD_REASONS``. Nothing from a request body ever becomes a label.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from medinfer.monitoring.gate import OOD_REASONS

if TYPE_CHECKING:
    from medinfer.monitoring.monitor import DriftSnapshot

__all__ = ["DriftMetrics"]

_MV = ("model", "version")


class DriftMetrics:
    """Metric families for one registry (the gateway's, or a private one in tests)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.psi = Gauge("medinfer_drift_psi", "PSI of a feature's live window vs its reference",
                         (*_MV, "feature"), registry=r)
        self.ks_stat = Gauge("medinfer_drift_ks_statistic", "Two-sample KS statistic per feature",
                             (*_MV, "feature"), registry=r)
        self.ks_pvalue = Gauge("medinfer_drift_ks_pvalue", "Two-sample KS p-value per feature (uncorrected)",
                               (*_MV, "feature"), registry=r)
        self.mmd2 = Gauge("medinfer_drift_mmd2", "RBF-kernel MMD² of the embedding window vs reference",
                          _MV, registry=r)
        self.mmd_pvalue = Gauge("medinfer_drift_mmd_pvalue", "Permutation p-value of the MMD test",
                                _MV, registry=r)
        self.out_of_range = Gauge("medinfer_drift_out_of_range_share",
                                  "Share of window records outside the training support", _MV, registry=r)
        self.detected = Gauge("medinfer_drift_detected", "1 if the last evaluation detected drift",
                              _MV, registry=r)
        self.window = Gauge("medinfer_drift_window_records", "Records in the drift window", _MV, registry=r)
        self.evaluations = Counter("medinfer_drift_evaluations_total", "Drift evaluations run",
                                   _MV, registry=r)
        self.ood = Counter("medinfer_ood_total", "Requests the OOD gate marked, by reason",
                           (*_MV, "reason"), registry=r)
        self.checked = Counter("medinfer_ood_checked_total", "Requests through the OOD gate (updated at evaluation)",
                               _MV, registry=r)
        self.eval_seconds = Histogram("medinfer_drift_evaluation_seconds", "Wall time of one drift evaluation",
                                      registry=r, buckets=(0.001, 0.005, 0.02, 0.05, 0.1, 0.25, 1.0, 5.0))

    def count_ood(self, model: str, version: str, reason: str) -> None:
        if reason not in OOD_REASONS:
            raise ValueError("unknown OOD reason code")
        self.ood.labels(model, version, reason).inc()

    def publish(self, snap: DriftSnapshot) -> None:
        mv = (snap.model, snap.version)
        for f in snap.features:
            self.psi.labels(*mv, f.name).set(f.psi)
            self.ks_stat.labels(*mv, f.name).set(f.ks_statistic)
            self.ks_pvalue.labels(*mv, f.name).set(f.ks_pvalue)
        if snap.mmd2 is not None and snap.mmd_pvalue is not None:
            self.mmd2.labels(*mv).set(snap.mmd2)
            self.mmd_pvalue.labels(*mv).set(snap.mmd_pvalue)
        if snap.out_of_range_share is not None:
            self.out_of_range.labels(*mv).set(snap.out_of_range_share)
        self.detected.labels(*mv).set(1.0 if snap.drift_detected else 0.0)
        self.window.labels(*mv).set(snap.window_records)
        self.evaluations.labels(*mv).inc()
        self.eval_seconds.observe(snap.evaluation_seconds)

    def remove(self, model: str, version: str, feature_names: Sequence[str]) -> None:
        """Delete every series of a model version (called when its monitor is dropped)."""
        for fam in (self.psi, self.ks_stat, self.ks_pvalue):
            for name in feature_names:
                _try_remove(fam, model, version, name)
        for fam in (self.mmd2, self.mmd_pvalue, self.out_of_range, self.detected, self.window, self.evaluations,
                    self.checked):
            _try_remove(fam, model, version)
        for reason in OOD_REASONS:
            _try_remove(self.ood, model, version, reason)


def _try_remove(metric: Gauge | Counter, *labels: str) -> None:
    try:
        metric.remove(*labels)
    except KeyError:
        pass
