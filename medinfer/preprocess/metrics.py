"""Prometheus metrics of the preprocessor (labels: route template, status, and closed sets only)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import Scope

from medinfer.common.http_metrics import LATENCY_BUCKETS, route_template

__all__ = ["PreprocessMetrics"]


class PreprocessMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("medinfer_preprocess_requests_total", "Requests by route and status",
                                ["route", "status"], registry=r)
        self.latency = Histogram("medinfer_preprocess_request_duration_seconds", "Request latency", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("medinfer_preprocess_in_flight_requests", "Requests being served", registry=r)
        self.deid_failures = Counter("medinfer_preprocess_deid_failures_total",
                                     "De-identification calls that failed inside the engine (not input errors)",
                                     registry=r)
        self.deid_entities = Counter("medinfer_preprocess_deid_entities_total",
                                     "PHI entities removed, by Safe Harbor category", ["label"], registry=r)

    def request_done(self, scope: Scope, status: int, seconds: float) -> None:
        path = route_template(scope)
        self.requests.labels(path, str(status)).inc()
        self.latency.labels(path).observe(seconds)
