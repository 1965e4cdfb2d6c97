"""Shared pieces of the services' request metrics (the accounting itself is :class:`medinfer.common.edge.EdgeMiddleware`'s
``on_done`` hook): latency buckets and the route-template label, which never comes from request content."""

from __future__ import annotations

from starlette.types import Scope

__all__ = ["route_template", "LATENCY_BUCKETS"]

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.5, 1, 2, 5, 10, 30)


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"
