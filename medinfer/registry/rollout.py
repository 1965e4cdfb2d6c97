"""Automated canary rollout: advance the canary's weight step by step while its
measured error rate and p99 latency stay within bounds compared with the stable
version; otherwise send all traffic back and record why.

Measurements come from the gateway's per-version Prometheus series
(``VersionMetrics``): the controller scrapes them at the start and end of each
interval and compares the differences, so it needs no state in the gateway and
works the same in-process (``RegistryMetricsSource``) or remotely
(``HTTPMetricsSource`` on the gateway's ``/metrics``). p99 is interpolated from
the latency histogram buckets the way PromQL's ``histogram_quantile`` does.

Bounds (per interval, canary vs the stable version):
* error: ``canary_error_rate > stable_error_rate + max_error_rate`` fails;
* latency: ``canary_p99 > max_p99_ms`` *and* slower than the stable p99 fails
  (a slow system is not the canary's fault);
* traffic: fewer than ``min_requests`` canary requests after ``max_wait_intervals``
  intervals fails (no evidence is not a pass);
* drift/OOD (optional, with a ``DriftSource``): the canary's OOD share above
  ``max_ood_share``, or drift on the canary while the stable version has none
  (``drift_gate``); see :mod:`medinfer.registry.drift_gate`.
"""

from __future__ import annotations

import math
import ssl
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from medinfer.common.errors import BackendUnavailable, ValidationFailed
from medinfer.registry.drift_gate import DriftSource, judge_drift

__all__ = [
    "VersionSample",
    "parse_version_metrics",
    "quantile",
    "RolloutPolicy",
    "RolloutController",
    "RolloutResult",
    "RegistryMetricsSource",
    "HTTPMetricsSource",
    "parse_steps",
]


@dataclass
class VersionSample:
    requests: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count

    def minus(self, earlier: VersionSample) -> VersionSample:
        return VersionSample(
            self.requests - earlier.requests,
            self.errors - earlier.errors,
            {le: c - earlier.buckets.get(le, 0.0) for le, c in self.buckets.items()},
        )

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests > 0 else 0.0


def parse_version_metrics(text: str, model: str) -> dict[int, VersionSample]:
    out: dict[int, VersionSample] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.labels.get("model") != model or "version" not in s.labels:
                continue
            v = out.setdefault(int(s.labels["version"]), VersionSample())
            if s.name == "medinfer_model_requests_total":
                v.requests = s.value
            elif s.name == "medinfer_model_errors_total":
                v.errors = s.value
            elif s.name == "medinfer_model_request_duration_seconds_bucket":
                v.buckets[float(s.labels["le"])] = s.value
    return out


def quantile(sample: VersionSample, q: float) -> float | None:
    """Seconds at quantile ``q`` by linear interpolation inside the bucket (as PromQL)."""
    items = sorted(sample.buckets.items())
    if not items or items[-1][1] <= 0:
        return None
    total = items[-1][1]
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in items:
        if count >= rank:
            if math.isinf(le):
                return prev_le
            width = count - prev_count
            return prev_le + (le - prev_le) * ((rank - prev_count) / width if width > 0 else 1.0)
        prev_le, prev_count = le, count
    return prev_le


class MetricsSource(Protocol):
    def scrape(self) -> str: ...


class RegistryMetricsSource:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def scrape(self) -> str:
        return generate_latest(self.registry).decode()


class HTTPMetricsSource:
    """A gateway's ``/metrics`` (HTTPS verified against ``ca_file`` when given)."""

    def __init__(
        self, url: str, token: str | None = None, timeout: float = 10.0, ca_file: str | None = None
    ) -> None:
        self.url, self.token, self.timeout = url, token, timeout
        self.context = ssl.create_default_context(cafile=ca_file) if ca_file else None

    def scrape(self) -> str:
        req = urllib.request.Request(self.url)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.context) as resp:
                return resp.read().decode()
        except OSError:
            raise BackendUnavailable(
                "the metrics endpoint is unreachable", code="metrics-unavailable"
            ) from None


def parse_steps(text: str) -> list[float]:
    try:
        steps = [float(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValidationFailed("steps must be comma-separated percentages", field="steps") from None
    if not steps or any(not 0 < s <= 100 for s in steps) or steps != sorted(steps) or steps[-1] != 100:
        raise ValidationFailed("steps must increase within (0, 100] and end at 100", field="steps")
    return steps


@dataclass(frozen=True)
class RolloutPolicy:
    steps: list[float]
    max_error_rate: float
    max_p99_ms: float
    interval_s: float
    min_requests: int = 20
    max_wait_intervals: int = 3
    sticky: bool = False
    max_ood_share: float | None = None  # drift gate: the canary's OOD share bound (None: off)
    drift_gate: bool = False  # roll back when the canary drifts and the stable version does not


@dataclass
class RolloutResult:
    outcome: str  # "promoted" or "rolled_back"
    reason: str
    steps: list[dict[str, Any]] = field(default_factory=list)


class _Ops(Protocol):
    def set_canary(
        self, name: str, version: int, weight: float, *, sticky: bool = False, actor: str, reason: str = ""
    ) -> Any: ...

    def clear_canary(self, name: str, *, actor: str, reason: str = "", automatic: bool = False) -> Any: ...

    def promote(self, name: str, version: int, *, actor: str, reason: str = "") -> Any: ...

    def get_model(self, name: str) -> dict[str, Any]: ...


class RolloutController:
    def __init__(
        self,
        ops: _Ops,
        source: MetricsSource,
        policy: RolloutPolicy,
        *,
        sleep: Callable[[float], None] = time.sleep,
        report: Callable[[str], None] = lambda _: None,
        drift: DriftSource | None = None,
    ) -> None:
        self.ops, self.source, self.policy, self.sleep, self.report = ops, source, policy, sleep, report
        self.drift = drift

    @property
    def drift_gated(self) -> bool:
        return self.drift is not None and (self.policy.max_ood_share is not None or self.policy.drift_gate)

    def judge_drift(self, name: str, version: int, stable_v: int, step: dict[str, Any]) -> str | None:
        """Drift/OOD gates for this step (adds the signals to ``step``)."""
        assert self.drift is not None
        canary, stable = self.drift.signals(name, version), self.drift.signals(name, stable_v)
        step["canary_drift"] = canary.to_json() if canary is not None else None
        step["stable_drift"] = stable.to_json() if stable is not None else None
        return judge_drift(canary, stable, max_ood_share=self.policy.max_ood_share, drift_gate=self.policy.drift_gate)

    def _measure(self, name: str) -> dict[int, VersionSample]:
        return parse_version_metrics(self.source.scrape(), name)

    def judge(self, canary: VersionSample, stable: VersionSample) -> str | None:
        """The reason the canary is out of bounds, or None."""
        p = self.policy
        if canary.error_rate > stable.error_rate + p.max_error_rate:
            return (
                f"canary error rate {canary.error_rate:.3f} exceeds stable {stable.error_rate:.3f} "
                f"+ {p.max_error_rate:.3f} ({int(canary.errors)}/{int(canary.requests)} failed)"
            )
        c99, s99 = quantile(canary, 0.99), quantile(stable, 0.99)
        if c99 is not None and c99 * 1000 > p.max_p99_ms and (s99 is None or c99 > s99):
            stable_txt = f"{s99 * 1000:.1f}" if s99 is not None else "n/a"
            return f"canary p99 {c99 * 1000:.1f} ms exceeds {p.max_p99_ms:.1f} ms (stable {stable_txt} ms)"
        return None

    def run(self, name: str, version: int, *, actor: str) -> RolloutResult:
        model = self.ops.get_model(name)
        stable_v = model["current"]
        steps_done: list[dict[str, Any]] = []
        for weight in self.policy.steps:
            self.ops.set_canary(
                name,
                version,
                weight,
                sticky=self.policy.sticky,
                actor=actor,
                reason=f"rollout step {weight:g}%",
            )
            start = self._measure(name)
            waited = 0
            while True:
                self.sleep(self.policy.interval_s)
                waited += 1
                now = self._measure(name)
                canary = now.get(version, VersionSample()).minus(start.get(version, VersionSample()))
                stable = now.get(stable_v, VersionSample()).minus(start.get(stable_v, VersionSample()))
                if canary.requests >= self.policy.min_requests or waited >= self.policy.max_wait_intervals:
                    break
            step = {
                "weight": weight,
                "canary_requests": int(canary.requests),
                "canary_errors": int(canary.errors),
                "stable_requests": int(stable.requests),
                "stable_errors": int(stable.errors),
                "canary_p99_ms": _ms(quantile(canary, 0.99)),
                "stable_p99_ms": _ms(quantile(stable, 0.99)),
            }
            steps_done.append(step)
            reason = None
            if canary.requests < self.policy.min_requests:
                reason = (
                    f"canary received {int(canary.requests)} requests in {waited} interval(s), "
                    f"fewer than {self.policy.min_requests}"
                )
            else:
                reason = self.judge(canary, stable)
            if reason is None and self.drift_gated:
                reason = self.judge_drift(name, version, stable_v, step)
            self.report(f"step {weight:g}%: {step}")
            if reason is not None:
                self.ops.clear_canary(
                    name, actor=actor, reason=f"automatic rollback at {weight:g}%: {reason}", automatic=True
                )
                return RolloutResult("rolled_back", reason, steps_done)
        self.ops.promote(
            name,
            version,
            actor=actor,
            reason="rollout completed: " + ",".join(f"{s:g}" for s in self.policy.steps),
        )
        return RolloutResult("promoted", "all steps within bounds", steps_done)


def _ms(seconds: float | None) -> float | None:
    return round(seconds * 1000, 2) if seconds is not None else None
