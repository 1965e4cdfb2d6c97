"""Tabular records -> the model's ordered float vector."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from medinfer.common.errors import ValidationFailed
from medinfer.common.http import ORJSONResponse, parse_json_body
from medinfer.preprocess.tabular import TabularSchema

router = APIRouter(tags=["tabular"])


def schema_for(request: Request, model: Any, version: Any) -> tuple[TabularSchema, int]:
    if not isinstance(model, str) or not model:
        raise ValidationFailed("'model' must be a model name", field="model")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise ValidationFailed("'version' must be a positive integer", field="version")
    entry = request.app.state.catalog.get(model, version)
    if entry.kind != "tabular":
        raise ValidationFailed(f"model takes {entry.kind} input, not tabular records", field="model",
                               code="wrong-input-kind")
    cache = request.app.state.tabular_schemas
    key = (entry.name, entry.version)
    if key not in cache:
        cache[key] = TabularSchema.from_metadata(entry.metadata)
    return cache[key], entry.version


@router.post("/v1/tabular/normalize")
async def normalize(request: Request) -> ORJSONResponse:
    """Validate a record (or batch) against the model's feature schema; return the float32 tensor."""
    body = parse_json_body(await request.body())
    if not isinstance(body, dict) or "input" not in body:
        raise ValidationFailed("body must be an object with 'input' and 'model'", field="input")
    schema, version = schema_for(request, body.get("model"), body.get("version"))
    matrix = schema.normalize(body["input"])
    return ORJSONResponse({
        "model": body["model"],
        "version": version,
        "tensor": {"name": "features", "datatype": "FP32", "shape": list(matrix.shape), "data": matrix.ravel().tolist()},
        "features": schema.names,
    })
