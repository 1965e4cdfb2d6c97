"""The drift monitor the gateway owns: one entry per served model version.

Request path (cheap, synchronous): :meth:`DriftMonitor.check` runs the OOD
gate under the model's policy, and :meth:`DriftMonitor.record` appends the
input's numeric features to a bounded ring buffer. Neither computes drift.

Background (off the critical path): :meth:`DriftMonitor.run` wakes every
``interval_s`` and re-evaluates each version that received ``min_new``
records since its last evaluation (or any new record once ``max_staleness_s``
passed), in a worker thread (``asyncio.to_thread``) so the event loop keeps
serving; results go to Prometheus gauges and to :meth:`snapshot`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medinfer.monitoring.detect import (
    DriftConfig,
    DriftSnapshot,
    EmbeddingDetector,
    TabularDetector,
    image_detector,
    new_snapshot,
)
from medinfer.monitoring.gate import (
    IN_DISTRIBUTION,
    EmbeddingGate,
    ImageGate,
    OodDecision,
    OodPolicy,
    TabularGate,
    enforce,
)
from medinfer.monitoring.metrics import DriftMetrics
from medinfer.monitoring.profile import (
    PROFILE_FILENAME,
    EmbeddingProfile,
    ImageProfile,
    TabularProfile,
    load_profile,
)
from medinfer.monitoring.text_gate import TextGate
from medinfer.monitoring.window import SlidingWindow

__all__ = ["MonitorConfig", "ModelMonitor", "DriftMonitor"]

log = logging.getLogger("medinfer.monitoring")

Profile = TabularProfile | EmbeddingProfile | ImageProfile


@dataclass(frozen=True)
class MonitorConfig:
    drift: DriftConfig = field(default_factory=DriftConfig)
    interval_s: float = 5.0
    min_new: int = 50
    max_staleness_s: float = 60.0
    max_models: int = 32


class ModelMonitor:
    """State for one model version: profile, gate, window and the last snapshot."""

    def __init__(self, model: str, version: str, profile: Profile, policy: OodPolicy, config: MonitorConfig):
        self.model, self.version, self.profile, self.policy = model, version, profile, policy
        self.kind = profile.kind
        self.gate: TabularGate | EmbeddingGate | ImageGate | None
        self.detector: TabularDetector | EmbeddingDetector
        if isinstance(profile, TabularProfile):
            self.gate = TabularGate(profile) if profile.gate is not None else None
            self.detector = TabularDetector(profile, config.drift)
            self.feature_names: tuple[str, ...] = tuple(profile.feature_names)
        elif isinstance(profile, EmbeddingProfile):
            self.gate = EmbeddingGate(profile) if profile.gate is not None else None
            self.detector = EmbeddingDetector(profile, config.drift)
            self.feature_names = ()
        else:
            self.gate = ImageGate(profile)
            self.detector = image_detector(profile, config.drift)
            self.feature_names = tuple(profile.summary.feature_names)
        self.text_gate = TextGate() if self.kind == "embedding" else None
        self.window = SlidingWindow(config.drift.window, self.detector.dim)
        self.ood_counts: dict[str, int] = {}
        self.eval_lock = threading.Lock()  # the background task and the admin route may evaluate at once
        self.checked = 0  # requests through the gate (a plain int: the metric is updated off the request path)
        self.checked_published = 0
        self.evaluated_total = 0
        self.evaluated_at = 0.0
        self.last: DriftSnapshot | None = None


class DriftMonitor:
    """Registry of :class:`ModelMonitor` per (model, version), plus the background evaluator."""

    def __init__(self, config: MonitorConfig | None = None, metrics: DriftMetrics | None = None) -> None:
        self.config = config or MonitorConfig()
        self.metrics = metrics or DriftMetrics()
        # The text gate runs in a worker thread (its regexes are CPU work kept off the event loop),
        # so the counters it updates are guarded.
        self._count_lock = threading.Lock()
        self._monitors: dict[tuple[str, str], ModelMonitor] = {}
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None

    # ---- registration (start-up / model load; not per request) -------------------------------
    def register(self, model: str, version: str, profile: Profile, policy: OodPolicy = "flag") -> ModelMonitor:
        mon = ModelMonitor(model, str(version), profile, policy, self.config)
        with self._lock:
            self._monitors[(model, str(version))] = mon
            while len(self._monitors) > self.config.max_models:
                oldest = next(iter(self._monitors))
                self._drop(oldest)
        return mon

    def register_from_dir(self, model: str, version: str, version_dir: Path,
                          policy: OodPolicy = "flag") -> ModelMonitor | None:
        """Register from ``<version_dir>/reference_profile.json``; ``None`` if the version has none."""
        path = Path(version_dir) / PROFILE_FILENAME
        if not path.is_file():
            return None
        return self.register(model, version, load_profile(path), policy)

    def unregister(self, model: str, version: str) -> None:
        with self._lock:
            self._drop((model, str(version)))

    def _drop(self, key: tuple[str, str]) -> None:
        mon = self._monitors.pop(key, None)
        if mon is not None:
            self.metrics.remove(mon.model, mon.version, mon.feature_names)

    def get(self, model: str, version: str) -> ModelMonitor | None:
        return self._monitors.get((model, str(version)))

    def keys(self) -> list[tuple[str, str]]:
        return list(self._monitors)

    def versions(self, model: str) -> list[str]:
        return [v for (m, v) in list(self._monitors) if m == model]

    # ---- request path --------------------------------------------------------------------------
    def _decide(self, mon: ModelMonitor, decision: OodDecision, new_request: bool = True) -> OodDecision:
        with self._count_lock:
            if new_request:
                mon.checked += 1
            if decision.ood and mon.policy != "off":
                reason = decision.reason or "unknown"
                mon.ood_counts[reason] = mon.ood_counts.get(reason, 0) + 1
                self.metrics.count_ood(mon.model, mon.version, reason)
        return enforce(decision, mon.policy)

    def check(self, model: str, version: str, x: np.ndarray) -> OodDecision:
        """Gate tabular rows or embeddings; raises ``OodRejected`` (422) under a ``reject`` policy."""
        mon = self._monitors.get((model, version))
        if mon is None or mon.gate is None or mon.policy == "off" or isinstance(mon.gate, ImageGate):
            return IN_DISTRIBUTION
        return self._decide(mon, mon.gate.check(x))

    def check_text(self, model: str, version: str, deidentified_text: str) -> OodDecision:
        """Text heuristics for an embedding model (call after de-identification)."""
        mon = self._monitors.get((model, version))
        if mon is None or mon.text_gate is None or mon.policy == "off":
            return IN_DISTRIBUTION
        return self._decide(mon, mon.text_gate.check(deidentified_text))

    def check_embedding(self, model: str, version: str, emb: np.ndarray) -> OodDecision:
        """Gate a text model's output embedding for a request already counted by :meth:`check_text`.

        Returns the decision without raising and without counting: the caller
        combines it with the text decision and passes it to :meth:`settle`.
        """
        mon = self._monitors.get((model, version))
        if mon is None or not isinstance(mon.gate, EmbeddingGate) or mon.policy == "off":
            return IN_DISTRIBUTION
        return mon.gate.check(emb)

    def settle(self, model: str, version: str, decision: OodDecision) -> OodDecision:
        """Count and enforce a decision made after the request was counted (second stage of a text request)."""
        mon = self._monitors.get((model, version))
        if mon is None or not decision.ood:
            return decision if mon is not None and mon.policy != "off" else IN_DISTRIBUTION
        return self._decide(mon, decision, new_request=False)

    def check_image(self, model: str, version: str, modality: str | None, summary: np.ndarray) -> OodDecision:
        mon = self._monitors.get((model, version))
        if mon is None or not isinstance(mon.gate, ImageGate) or mon.policy == "off":
            return IN_DISTRIBUTION
        return self._decide(mon, mon.gate.check(modality, summary))

    def record(self, model: str, version: str, x: np.ndarray) -> None:
        """O(rows × dim) append of numeric features to the window; unknown versions are ignored."""
        mon = self._monitors.get((model, version))
        if mon is not None:
            try:
                mon.window.append(x)
            except ValueError:
                pass  # wrong width: the gate reports it, the window stays clean

    # ---- evaluation (background) ---------------------------------------------------------------
    def evaluate(self, model: str, version: str) -> DriftSnapshot:
        mon = self._monitors.get((model, str(version)))
        if mon is None:
            raise KeyError((model, version))
        with mon.eval_lock:
            t0 = time.perf_counter()
            total = mon.window.total
            x = mon.window.snapshot()
            snap = new_snapshot(model, mon.version, mon.kind, x.shape[0], total)
            mon.detector.evaluate(x, snap)
            snap.ood_counts = dict(mon.ood_counts)
            snap.checked_total = checked = mon.checked
            self.metrics.checked.labels(model, mon.version).inc(checked - mon.checked_published)
            mon.checked_published = checked
            snap.evaluation_seconds = time.perf_counter() - t0
            mon.evaluated_total, mon.evaluated_at, mon.last = total, time.monotonic(), snap
            if snap.ready:
                self.metrics.publish(snap)
            else:
                self.metrics.window.labels(model, mon.version).set(snap.window_records)
            return snap

    def due(self, now: float | None = None) -> list[tuple[str, str]]:
        now = time.monotonic() if now is None else now
        out = []
        for key, mon in list(self._monitors.items()):
            new = mon.window.total - mon.evaluated_total
            if new >= self.config.min_new or (new > 0 and now - mon.evaluated_at >= self.config.max_staleness_s):
                out.append(key)
        return out

    def evaluate_due(self) -> list[DriftSnapshot]:
        out = []
        for model, version in self.due():
            try:
                out.append(self.evaluate(model, version))
            except KeyError:
                continue  # unregistered meanwhile
        return out

    async def run(self) -> None:
        """Evaluate due versions every ``interval_s`` in a worker thread until cancelled."""
        while True:
            await asyncio.sleep(self.config.interval_s)
            try:
                await asyncio.to_thread(self.evaluate_due)
            except Exception:  # a bad window must not kill the loop
                log.exception("drift evaluation failed", extra={"event": "drift-eval-error"})

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="drift-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def canary_signals(self, model: str, version: str) -> dict[str, object] | None:
        """Gate inputs for an automated rollout: last drift decision and the OOD share so far.

        ``None`` for an unmonitored version. The OOD share counts flagged and
        rejected requests over all requests through the gate.
        """
        mon = self._monitors.get((model, str(version)))
        if mon is None:
            return None
        flagged = sum(mon.ood_counts.values())
        return {
            "drift_detected": bool(mon.last.drift_detected) if mon.last is not None else False,
            "drift_ready": bool(mon.last.ready) if mon.last is not None else False,
            "ood_share": flagged / mon.checked if mon.checked else 0.0,
            "checked": mon.checked,
        }

    def snapshot(self, model: str) -> list[dict[str, object]]:
        """Latest snapshot per monitored version of ``model`` (evaluating any never evaluated)."""
        out = []
        for version in self.versions(model):
            mon = self._monitors.get((model, version))
            if mon is None:
                continue
            snap = mon.last if mon.last is not None and mon.last.records_total == mon.window.total \
                else self.evaluate(model, version)
            d = snap.to_dict()
            d["policy"] = mon.policy
            out.append(d)
        return out
