"""``POST /infer``: the seed payload ``{"input": ..., "model"?, "version"?}``."""

from __future__ import annotations

from fastapi import APIRouter, Request

from medinfer.audit import annotate
from medinfer.common.http import ORJSONResponse, parse_json_body, request_id_of
from medinfer.security import check_json_shape, require_infer, require_some_infer
from medinfer.security.deps import CurrentPrincipal

router = APIRouter(tags=["inference"])


@router.post("/infer")
async def infer(request: Request, principal: CurrentPrincipal) -> ORJSONResponse:
    """Route the input by kind, preprocess it, run the model on Triton (scope ``infer`` or ``infer:<model>``)."""
    require_some_infer(principal)
    rid = request_id_of(request)
    body = parse_json_body(await request.body())
    check_json_shape(body, request.app.state.security.json_limits)

    def authorize(entry) -> None:
        annotate(request.scope, model=entry.name, version=str(entry.version))
        require_infer(principal, entry.name)

    result = await request.app.state.inference.infer(body, rid, authorize=authorize)
    return ORJSONResponse(result.to_json(rid))
