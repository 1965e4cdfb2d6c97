"""What the console shows, assembled from the registry, the gateway's own metrics, the drift monitor and the
audit ledger. Plain functions and small classes (no HTTP): :mod:`medinfer.console.routes` renders them.

Per-version rates come from the gateway's Prometheus series read in-process (the same
``medinfer_model_*`` series a rollout judges), differenced between two reads of the console.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from medinfer.audit import disclosures, to_csv, to_json_report
from medinfer.audit.query import parse_time, search_records, verify_chain
from medinfer.registry.outbox import AuditOutbox
from medinfer.registry.rollout import VersionSample, parse_version_metrics, quantile

__all__ = ["VersionStats", "TrafficSampler", "models_overview", "model_detail", "health_report", "audit_search",
           "audit_verify", "disclosures_export", "DriftHistory", "ROLLOUT_KINDS"]

ROLLOUT_KINDS = ("canary", "canary_clear", "auto_rollback", "rollout_step", "rollout_stop", "rollout_done")


@dataclass
class VersionStats:
    requests_total: float
    errors_total: float
    error_rate: float
    p99_ms: float | None
    rate_rps: float | None  # since the previous read (None on the first)


class TrafficSampler:
    """Per-version counters from the gateway's registry, with a rate between successive reads."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._last: dict[str, tuple[float, dict[int, VersionSample]]] = {}
        self._lock = threading.Lock()

    def stats(self, model: str) -> dict[int, VersionStats]:
        now = time.monotonic()
        samples = parse_version_metrics(generate_latest(self.registry).decode(), model)
        with self._lock:
            prev = self._last.get(model)
            self._last[model] = (now, samples)
        out = {}
        for version, s in samples.items():
            rate = None
            if prev is not None and now > prev[0]:
                # a version's series starts at zero with its first request
                before = prev[1][version].requests if version in prev[1] else 0.0
                rate = max(0.0, (s.requests - before) / (now - prev[0]))
            p99 = quantile(s, 0.99)
            out[version] = VersionStats(s.requests, s.errors, s.error_rate,
                                        None if p99 is None else p99 * 1000.0, rate)
        return out


def _weights(model: dict[str, Any]) -> dict[int, float]:
    """Traffic share by version: current gets what the canary does not."""
    out: dict[int, float] = {}
    canary = model.get("canary")
    if model.get("current") is not None:
        out[model["current"]] = 100.0 - (canary["weight"] if canary else 0.0)
    if canary:
        out[canary["version"]] = out.get(canary["version"], 0.0) + canary["weight"]
    return out


def models_overview(registry, sampler: TrafficSampler) -> list[dict[str, Any]]:
    models = registry.list_models()
    for m in models:
        m["weights"] = _weights(m)
        m["stats"] = sampler.stats(m["name"])
    return models


def rollout_state(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The canary's story since the last promotion or rollback: its latest step and why it stopped."""
    steps: list[dict[str, Any]] = []
    for ev in history:
        if ev["kind"] in ("promote", "rollback"):
            steps = []
        elif ev["kind"] in ROLLOUT_KINDS or str(ev["kind"]).startswith("rollout"):
            steps.append(ev)
    if not steps:
        return None
    last = steps[-1]
    return {"steps": steps, "last": last, "active": last["kind"] == "canary",
            "stopped_because": last.get("reason") if last["kind"] != "canary" else None}


def model_detail(registry, name: str, sampler: TrafficSampler) -> dict[str, Any]:
    model = registry.get_model(name)
    history = registry.history(name)
    model["weights"] = _weights(model)
    model["stats"] = sampler.stats(name)
    model["history"] = list(reversed(history))  # newest first
    model["rollout"] = rollout_state(history)
    return model


async def health_report(state) -> dict[str, Any]:
    """Readiness of each backend, every circuit's state, the registry's audit outbox backlog."""
    svc = state.inference
    pre, tri = await asyncio.gather(svc.preprocessor.ready(), svc.triton.ready())
    breakers = [svc.triton.upstream.breaker, svc.preprocessor.upstream.breaker]
    grpc_service = getattr(state, "grpc_service", None)
    if grpc_service is not None:
        breakers.append(grpc_service.breaker)
    services = [
        {"name": "preprocessor", "url": state.settings.preprocessor_url, "ready": pre},
        {"name": "triton", "url": state.settings.triton_url, "ready": tri},
    ]
    rt = getattr(state, "registry_runtime", None)
    backlog = await asyncio.to_thread(AuditOutbox.pending, rt.registry.store) if rt is not None else None
    ledger = state.security.ledger
    return {
        "services": services,
        "circuits": [{"name": b.name, "state": b.state.name.lower()} for b in breakers],
        "outbox_backlog": backlog,
        "audit_enabled": ledger is not None,
        "ready": pre and tri,
    }


def audit_search(ledger, form: dict[str, str | None], *, limit: int = 200) -> dict[str, Any]:
    filters = {k: (form.get(k) or None) for k in ("request_id", "sub", "client_id", "model", "route", "action")}
    status = form.get("status")
    filters["status"] = int(status) if status else None
    return search_records(ledger.store, filters, since=parse_time(form.get("since"), "since"),
                          until=parse_time(form.get("until"), "until"), limit=limit)


def audit_verify(ledger, settings) -> dict[str, Any]:
    """As ``POST /audit/verify``: MACs, links and this gateway's signed checkpoints."""
    return verify_chain(ledger.store, [ledger.key], settings.audit_checkpoint_path, settings.audit_checkpoint_key_path)


def disclosures_export(ledger, patient_key: str, since: str | None, fmt: str) -> tuple[bytes, str]:
    """The accounting of disclosures as ``medinfer audit export`` writes it: (body, media type)."""
    import json

    since_ts = parse_time(since, "since")
    rows = disclosures(ledger.store, [ledger.key], patient_key, since_ts)
    if fmt == "csv":
        return to_csv(rows).encode(), "text/csv; charset=utf-8"
    return (json.dumps(to_json_report(rows, since_ts), indent=2) + "\n").encode(), "application/json"


@dataclass
class DriftPoint:
    at: float
    max_psi: float | None
    min_ks_p: float | None
    mmd2: float | None
    ood_share: float
    drift: bool


@dataclass
class DriftHistory:
    """Snapshots of each monitored version kept in memory (bounded) for the console's charts."""

    keep: int = 240
    _points: dict[tuple[str, str], deque] = field(default_factory=dict)

    def observe(self, model: str, snaps: list[dict[str, Any]]) -> None:
        for snap in snaps:
            key = (model, str(snap["version"]))
            q = self._points.setdefault(key, deque(maxlen=self.keep))
            if q and q[-1].at == snap["evaluated_at"]:
                continue
            feats = snap.get("features") or []
            psis = [f["psi"] for f in feats if f.get("psi") is not None]
            ks = [f["ks_pvalue"] for f in feats if f.get("ks_pvalue") is not None]
            checked = snap.get("checked_total") or 0
            ood = sum((snap.get("ood_counts") or {}).values())
            q.append(DriftPoint(snap["evaluated_at"], max(psis) if psis else None, min(ks) if ks else None,
                                snap.get("mmd2"), ood / checked if checked else 0.0, bool(snap.get("drift_detected"))))

    def points(self, model: str, version: str) -> list[DriftPoint]:
        return list(self._points.get((model, str(version)), ()))
