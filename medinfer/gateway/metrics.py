"""Prometheus metrics of the gateway.

Labels are bounded: ``route`` is the route template, ``model`` a name from the
model catalog (anything else is ``"unknown"``), ``version`` a catalog version,
``backend`` one of the configured upstreams. No label value ever comes from
request content, so no PHI can reach a label.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["GatewayMetrics", "MetricsMiddleware", "LATENCY_BUCKETS"]

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.5, 1, 2, 5, 10, 30)


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("medinfer_gateway_requests_total", "Requests by route, model, version and status",
                                ["route", "model", "version", "status"], registry=r)
        self.latency = Histogram("medinfer_gateway_request_duration_seconds", "End-to-end request latency",
                                 ["route", "model"], buckets=LATENCY_BUCKETS, registry=r)
        self.upstream_latency = Histogram("medinfer_gateway_upstream_duration_seconds", "Latency per upstream hop",
                                          ["backend", "operation"], buckets=LATENCY_BUCKETS, registry=r)
        self.retries = Counter("medinfer_gateway_upstream_retries_total", "Retried upstream calls", ["backend"],
                               registry=r)
        self.circuit = Gauge("medinfer_gateway_circuit_state", "Circuit state per backend (0 closed, 1 half-open, "
                             "2 open)", ["backend"], registry=r)
        self.circuit_transitions = Counter("medinfer_gateway_circuit_transitions_total", "Circuit state changes",
                                           ["backend", "state"], registry=r)
        self.in_flight = Gauge("medinfer_gateway_in_flight_requests", "Requests being served", registry=r)
        self.audit_write = Histogram("medinfer_audit_write_duration_seconds", "Time to commit an audit record",
                                     buckets=LATENCY_BUCKETS, registry=r)
        self.audit_failures = Counter("medinfer_audit_write_failures_total", "Audit writes that failed", registry=r)

    def observe_upstream(self, backend: str, operation: str, seconds: float) -> None:
        self.upstream_latency.labels(backend, operation).observe(seconds)

    def count_retry(self, backend: str) -> None:
        self.retries.labels(backend).inc()

    def circuit_changed(self, backend: str, state) -> None:
        self.circuit.labels(backend).set(int(state))
        self.circuit_transitions.labels(backend, state.name.lower()).inc()


class MetricsMiddleware:
    """Counts and times every HTTP request; handlers put ``model``/``version`` in ``scope['state']``."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        m = self.metrics
        m.in_flight.inc()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            m.in_flight.dec()
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            state = scope.get("state", {})
            model = state.get("metric_model", "")
            version = state.get("metric_version", "")
            m.requests.labels(path, model, version, str(status)).inc()
            m.latency.labels(path, model).observe(time.perf_counter() - start)
