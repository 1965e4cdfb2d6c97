"""Drift and OOD signals as extra rollout gates (issue #9's canary link).

Error rate and latency say whether the canary *works*; drift and the OOD share
say whether it is being fed inputs it was *validated for*. A retrained version
whose reference profile does not match production inputs answers quickly and
without errors, and still should not take the traffic.

Gates (both off unless configured; see ``RolloutPolicy``):

* OOD share: the canary's share of inputs the gate flagged or rejected exceeds
  ``max_ood_share`` (an absolute bound: OOD is judged against the version's own
  reference profile);
* drift: the canary's last drift evaluation detected drift while the stable
  version's did not (drift on both is a change in the inputs, not the canary's
  fault, like a slow system for the latency bound).

Signals come from the gateway's ``DriftMonitor.canary_signals`` in process
(:class:`MonitorDriftSource`) or from the same ``/metrics`` the rollout already
scrapes (:class:`MetricsDriftSource`: ``medinfer_drift_detected``,
``medinfer_ood_total``, ``medinfer_ood_checked_total``). The scraped share may
lag by one drift evaluation, since the checked counter is published when the
monitor evaluates (every few seconds), not per request. A version without a
drift monitor (no reference profile) gives no signals and is gated only by
errors and latency; the step report says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["DriftSignals", "DriftSource", "MonitorDriftSource", "MetricsDriftSource", "judge_drift"]


@dataclass(frozen=True)
class DriftSignals:
    drift_detected: bool
    drift_ready: bool  # the window held enough records for a drift decision
    ood_share: float  # flagged or rejected / checked by the gate, since the version was monitored
    checked: int

    def to_json(self) -> dict[str, Any]:
        return {"drift_detected": self.drift_detected, "drift_ready": self.drift_ready,
                "ood_share": round(self.ood_share, 4), "checked": self.checked}


class DriftSource(Protocol):
    def signals(self, model: str, version: int) -> DriftSignals | None: ...


class MonitorDriftSource:
    """In process: the gateway's ``DriftMonitor`` (exact counts)."""

    def __init__(self, monitor: Any) -> None:
        self.monitor = monitor

    def signals(self, model: str, version: int) -> DriftSignals | None:
        s = self.monitor.canary_signals(model, str(version))
        if s is None:
            return None
        return DriftSignals(bool(s["drift_detected"]), bool(s["drift_ready"]), float(s["ood_share"]),
                            int(s["checked"]))


class MetricsDriftSource:
    """From a gateway's Prometheus exposition (any ``MetricsSource``: in-process registry or HTTP ``/metrics``)."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def signals(self, model: str, version: int) -> DriftSignals | None:
        return parse_drift_signals(self.source.scrape(), model, version)


def parse_drift_signals(text: str, model: str, version: int) -> DriftSignals | None:
    labels = {"model": model, "version": str(version)}
    detected: float | None = None
    ood = checked = 0.0
    seen = False
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.labels.get("model") != labels["model"] or s.labels.get("version") != labels["version"]:
                continue
            if s.name == "medinfer_drift_detected":
                detected, seen = s.value, True
            elif s.name == "medinfer_ood_total":
                ood, seen = ood + s.value, True
            elif s.name == "medinfer_ood_checked_total":
                checked, seen = s.value, True
            elif s.name == "medinfer_drift_window_records":
                seen = True
    if not seen:
        return None
    # ood_total counts per request, checked_total at each evaluation: never report a share above 1.
    denominator = max(checked, ood)
    return DriftSignals(bool(detected), detected is not None, ood / denominator if denominator else 0.0,
                        int(denominator))


def judge_drift(canary: DriftSignals | None, stable: DriftSignals | None, *, max_ood_share: float | None,
                drift_gate: bool) -> str | None:
    """The reason the canary fails the drift/OOD gates, or None."""
    if canary is None:
        return None
    if max_ood_share is not None and canary.checked > 0 and canary.ood_share > max_ood_share:
        return (f"canary OOD share {canary.ood_share:.3f} exceeds {max_ood_share:.3f} "
                f"({canary.checked} inputs through the gate)")
    if drift_gate and canary.drift_detected and not (stable is not None and stable.drift_detected):
        return "input drift detected against the canary's reference profile, none against the stable version's"
    return None
