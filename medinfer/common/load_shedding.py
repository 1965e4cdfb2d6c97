"""A per-replica bound on requests in flight: past it, a fast 503 instead of a queue.

The per-client token bucket (:mod:`medinfer.security.ratelimit`) keeps one client
from taking more than its share, but it lives in each replica, so under the HPA
a client may send N times its rate, and many well-behaved clients together can
still push one replica past what it can serve. This bound is the other half: it
caps the concurrency one replica accepts (memory for bodies, event-loop latency,
upstream connections), whoever sends it. Past it a request is refused before any
work (authentication, audit, upstream calls) with 503 ``overloaded`` and
``Retry-After``, so clients back off and the Service sends their retries to
replicas with room, while the HPA adds replicas. The capacity of the deployment
grows with the replica count; the bound itself does not change.

Health and metrics endpoints are never refused (a probe failing under load would
make Kubernetes restart a busy replica). Refused requests are counted by the
``on_shed`` callback (``medinfer_gateway_shed_requests_total``) and are not audited:
they were refused before authentication and touched nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from medinfer.common.errors import BackendUnavailable

__all__ = ["InFlightLimit", "OVERLOADED"]

OVERLOADED = "overloaded"


class InFlightLimit:
    """Admission for one replica: HTTP (``EdgeMiddleware``) and gRPC (``GatewayGrpcService``) share it.

    ``limit`` 0 disables the bound. Single event loop: a plain counter is enough."""

    def __init__(self, limit: int, *, retry_after_s: int = 1,
                 exempt_paths: frozenset[str] = frozenset(),
                 on_shed: Callable[[str], None] | None = None) -> None:
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.exempt_paths = exempt_paths
        self.on_shed = on_shed
        self.in_flight = 0

    def exempt(self, path: str) -> bool:
        return self.limit <= 0 or path in self.exempt_paths

    def try_acquire(self, protocol: str = "http") -> bool:
        if 0 < self.limit <= self.in_flight:
            if self.on_shed is not None:
                self.on_shed(protocol)
            return False
        self.in_flight += 1
        return True

    def release(self) -> None:
        self.in_flight -= 1

    def refusal(self, path: str = "") -> BackendUnavailable:
        err = BackendUnavailable("the gateway is at its limit of requests in flight; retry later",
                                 retry_after=self.retry_after_s, code=OVERLOADED)
        if path.startswith("/v2/"):
            err.extra["error"] = err.detail  # KServe v2 clients read the "error" member
        return err
