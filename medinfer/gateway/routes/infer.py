"""``POST /infer``: the seed payload ``{"input": ..., "model"?, "version"?}``."""

from __future__ import annotations

from fastapi import APIRouter, Request

from medinfer.common.http import ORJSONResponse, parse_json_body, request_id_of

router = APIRouter(tags=["inference"])


@router.post("/infer")
async def infer(request: Request) -> ORJSONResponse:
    """Route the input by kind, preprocess it, run the model on Triton."""
    rid = request_id_of(request)
    body = parse_json_body(await request.body())
    result = await request.app.state.inference.infer(body, rid)
    return ORJSONResponse(result.to_json(rid))
