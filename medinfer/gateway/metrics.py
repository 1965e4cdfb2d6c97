"""Prometheus metrics of the gateway.

Labels are bounded: ``route`` is the route template, ``model`` a name from the
model catalog (anything else is ``"unknown"``), ``version`` a catalog version,
``backend`` one of the configured upstreams. No label value ever comes from
request content, so no PHI can reach a label.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import Scope

from medinfer.common.http_metrics import LATENCY_BUCKETS, route_template

__all__ = ["GatewayMetrics", "LATENCY_BUCKETS"]



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
        self.shed = Counter("medinfer_gateway_shed_requests_total", "Requests refused at the in-flight bound "
                            "(503 overloaded)", ["protocol"], registry=r)
        self.audit_write = Histogram("medinfer_audit_write_duration_seconds", "Time to commit an audit record",
                                     buckets=LATENCY_BUCKETS, registry=r)
        self.audit_failures = Counter("medinfer_audit_write_failures_total", "Audit writes that failed", registry=r)

    def observe_upstream(self, backend: str, operation: str, seconds: float) -> None:
        self.upstream_latency.labels(backend, operation).observe(seconds)

    def count_shed(self, protocol: str) -> None:
        self.shed.labels(protocol).inc()

    def count_retry(self, backend: str) -> None:
        self.retries.labels(backend).inc()

    def circuit_changed(self, backend: str, state) -> None:
        self.circuit.labels(backend).set(int(state))
        self.circuit_transitions.labels(backend, state.name.lower()).inc()

    def request_done(self, scope: Scope, status: int, seconds: float) -> None:
        """Labels: route template, the catalog model and version the handler resolved (else empty)."""
        path = route_template(scope)
        state = scope.get("state", {})
        model = state.get("metric_model", "")
        self.requests.labels(path, model, state.get("metric_version", ""), str(status)).inc()
        self.latency.labels(path, model).observe(seconds)
