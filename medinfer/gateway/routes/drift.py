"""``GET /admin/models/{name}/drift``: the drift snapshot of each monitored version.

The drift and OOD metric families are served by the gateway's ``GET /metrics``
(they live in the same registry).
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from medinfer.common.errors import ModelNotFound
from medinfer.common.http import ORJSONResponse
from medinfer.security import Principal
from medinfer.security.deps import require

router = APIRouter(tags=["admin"])


@router.get("/admin/models/{name}/drift")
async def model_drift(name: str, request: Request, principal: Principal = require("models:read")) -> ORJSONResponse:
    """Drift statistics and OOD counts per version (scope ``models:read``; evaluated now if stale, off the loop)."""
    monitor = request.app.state.drift_monitor
    if monitor is None or not monitor.versions(name):
        raise ModelNotFound("no drift monitor for this model (unknown model, or no reference profile)")
    versions = await asyncio.to_thread(monitor.snapshot, name)
    return ORJSONResponse({"model": name, "versions": versions})

