"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request

from medinfer.common.errors import BackendUnavailable
from medinfer.common.http import ORJSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> ORJSONResponse:
    """The process is alive."""
    return ORJSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> ORJSONResponse:
    """Ready when the model schemas could be read."""
    catalog = request.app.state.catalog
    if not catalog.names():
        raise BackendUnavailable("no model schemas are loaded yet", retry_after=2)
    return ORJSONResponse({"status": "ready", "models": catalog.names()})
