"""Liveness and readiness (no authentication)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from medinfer.common.errors import BackendUnavailable
from medinfer.common.http import ORJSONResponse
from medinfer.gateway.resilience import CircuitState

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> ORJSONResponse:
    """The gateway process is alive."""
    return ORJSONResponse({"status": "ok"})


def _circuits(request: Request) -> dict[str, str]:
    """Circuits that are not closed, by backend name ("open" or "half_open")."""
    svc = request.app.state.inference
    breakers = [svc.triton.upstream.breaker, svc.preprocessor.upstream.breaker]
    grpc_service = getattr(request.app.state, "grpc_service", None)
    if grpc_service is not None:
        breakers.append(grpc_service.breaker)
    return {b.name: b.state.name.lower() for b in breakers if b.state is not CircuitState.CLOSED}


@router.get("/readyz")
async def readyz(request: Request) -> ORJSONResponse:
    """503 when the preprocessor or Triton fails its health check; 200 ``degraded`` naming the open circuits
    when they pass but a circuit is open (requests to that backend get fast 503s until its probe succeeds).
    With registry routing, Triton counts as ready when at least one endpoint serves every routed version
    (``triton_endpoints`` lists each endpoint's state, docs/registry.md "Many replicas").

    An open circuit alone does not make the replica unready: every replica shares the same backends, so
    it would take all of them out of the Service at once, and clients would get refused connections
    instead of 503 problem answers with Retry-After (see docs/resilience.md)."""
    svc = request.app.state.inference
    pre, tri = await asyncio.gather(svc.preprocessor.ready(), svc.triton.ready())
    rt = getattr(request.app.state, "registry_runtime", None)
    endpoints = rt.endpoint_status() if rt is not None else {}
    if endpoints:
        tri = any(e["routing"] for e in endpoints.values())
    detail = {"triton_endpoints": endpoints} if endpoints else {}
    circuits = _circuits(request)
    if not (pre and tri):
        down = [n for n, ok in (("preprocessor", pre), ("triton", tri)) if not ok]
        raise BackendUnavailable(f"not ready: {', '.join(down)}", retry_after=2,
                                 extra={"backends": down, "circuits": circuits, **detail})
    if circuits:
        return ORJSONResponse({"status": "degraded", "circuits": circuits, **detail})
    return ORJSONResponse({"status": "ready", **detail})
