"""Per-request Prometheus accounting as a plain ASGI middleware (shared by the services).

The service supplies ``on_done(scope, status, seconds)`` to label its own
series (route template, and for the gateway the catalog model and version);
label values never come from request content.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HttpMetricsMiddleware", "route_template", "LATENCY_BUCKETS"]

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.5, 1, 2, 5, 10, 30)


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp, on_done: Callable[[Scope, int, float], None], in_flight: Gauge) -> None:
        self.app = app
        self.on_done = on_done
        self.in_flight = in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.in_flight.inc()
        try:
            await self.app(scope, receive, send_status)
        finally:
            self.in_flight.dec()
            self.on_done(scope, status, time.perf_counter() - start)
