"""Shared pieces of the services' request metrics (the accounting itself is :class:`medinfer.common.edge.EdgeMiddleware`'s
``on_done`` hook): latency buckets and the route-template label, which never comes from request content."""

from __future__ import annotations

from starlette.types import Scope

__all__ = ["route_template", "LATENCY_BUCKETS"]

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.5, 1, 2, 5, 10, 30)


def route_template(scope: Scope, unmatched: str = "unmatched") -> str:
    """The matched route's template (``/v2/models/{name}/infer``), never the path as sent."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else unmatched
