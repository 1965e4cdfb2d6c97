"""PHI de-identification: ``POST /v1/deidentify`` and ``POST /v1/deidentify/batch``."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from medinfer.common.errors import BackendUnavailable, BadRequest, MedinferError, ValidationFailed
from medinfer.common.http import ORJSONResponse, parse_json_body
from medinfer.preprocess.deid import DeidEngine
from medinfer.preprocess.deid.budget import DeidTimeout

__all__ = ["router"]

router = APIRouter(tags=["deid"])


def _engine(request: Request) -> DeidEngine:
    engine = getattr(request.app.state, "deid", None)
    if engine is None:
        raise BackendUnavailable("de-identification is not enabled on this preprocessor", retry_after=30)
    return engine


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("request body is not valid UTF-8", code="invalid-encoding") from None
    body = parse_json_body(raw)
    if not isinstance(body, dict):
        raise ValidationFailed("body must be a JSON object", field="body")
    return body


@router.post("/v1/deidentify")
async def deidentify(request: Request) -> ORJSONResponse:
    """One note -> de-identified text and the entities found (offsets into the original)."""
    body = await _body(request)
    engine = _engine(request)
    if "operator" not in body:
        raise ValidationFailed("'operator' is required", field="operator")
    # spaCy is CPU-bound: run it off the event loop so health checks stay responsive.
    result = await _counted(request, engine, 1, run_in_threadpool(engine.deidentify, body.get("text"),
                                                                  body["operator"], body.get("patient_key")))
    doc = result.to_dict()
    _count_entities(request, doc["entities"])
    return ORJSONResponse(doc)


@router.post("/v1/deidentify/batch")
async def deidentify_batch(request: Request) -> ORJSONResponse:
    """``{"items": [{"text", "operator"?, "patient_key"?}], "operator"?}``; all items are validated first."""
    body = await _body(request)
    engine = _engine(request)
    items = body.get("items")
    notes = len(items) if isinstance(items, list) else 1
    results = await _counted(request, engine, notes, run_in_threadpool(engine.deidentify_batch, items,
                                                                       body.get("operator")))
    items = [r.to_dict() for r in results]
    for item in items:
        _count_entities(request, item["entities"])
    return ORJSONResponse({"items": items})


async def _counted(request: Request, engine: DeidEngine, notes: int, call):
    """Engine failures and timeouts (not 4xx input errors) are counted: the de-identification alert
    fires on them. The engine checks its budget as it works; the wait here is the backstop that
    answers 503 even if a thread overruns between two checks (its result is then discarded)."""
    budget = None if engine.note_budget_s is None else engine.note_budget_s * notes + 1.0
    try:
        return await asyncio.wait_for(call, budget)
    except (TimeoutError, DeidTimeout):
        request.app.state.metrics.deid_failures.inc()
        raise DeidTimeout("de-identification exceeded its time budget; the text was not processed",
                          retry_after=1) from None
    except MedinferError:
        raise
    except Exception:
        request.app.state.metrics.deid_failures.inc()
        raise


def _count_entities(request: Request, entities: list[dict[str, Any]]) -> None:
    counter = request.app.state.metrics.deid_entities
    for e in entities:
        counter.labels(e["label"]).inc()  # Safe Harbor category names: a closed set
