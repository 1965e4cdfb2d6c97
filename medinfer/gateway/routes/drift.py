"""``GET /admin/models/{name}/drift`` (drift snapshot per monitored version) and
``GET /metrics/drift`` (the drift and OOD metric families in Prometheus text format)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from medinfer.common.errors import ModelNotFound
from medinfer.common.http import ORJSONResponse

router = APIRouter(tags=["admin"])


@router.get("/admin/models/{name}/drift")
async def model_drift(name: str, request: Request) -> ORJSONResponse:
    """Drift statistics and OOD counts per version (evaluated now if stale; off the event loop)."""
    monitor = request.app.state.drift_monitor
    if monitor is None or not monitor.versions(name):
        raise ModelNotFound("no drift monitor for this model (unknown model, or no reference profile)")
    versions = await asyncio.to_thread(monitor.snapshot, name)
    return ORJSONResponse({"model": name, "versions": versions})


@router.get("/metrics/drift")
async def drift_metrics(request: Request) -> Response:
    """Prometheus exposition of medinfer_drift_* and medinfer_ood_* (empty when drift tracking is off)."""
    monitor = request.app.state.drift_monitor
    body = generate_latest(monitor.metrics.registry) if monitor is not None else b""
    return Response(body, media_type=CONTENT_TYPE_LATEST)
