"""Liveness and readiness (no authentication)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from medinfer.common.errors import BackendUnavailable
from medinfer.common.http import ORJSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> ORJSONResponse:
    """The gateway process is alive."""
    return ORJSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> ORJSONResponse:
    """Ready only when the preprocessor and Triton are ready; with registry routing, at least one
    Triton endpoint must serve every routed version (``triton_endpoints`` lists each one's state)."""
    svc = request.app.state.inference
    pre, tri = await asyncio.gather(svc.preprocessor.ready(), svc.triton.ready())
    rt = getattr(request.app.state, "registry_runtime", None)
    endpoints = rt.endpoint_status() if rt is not None else {}
    if endpoints:
        tri = any(e["routing"] for e in endpoints.values())
    detail = {"triton_endpoints": endpoints} if endpoints else {}
    if not (pre and tri):
        down = [n for n, ok in (("preprocessor", pre), ("triton", tri)) if not ok]
        raise BackendUnavailable(f"not ready: {', '.join(down)}", retry_after=2, extra={"backends": down, **detail})
    return ORJSONResponse({"status": "ready", **detail})
