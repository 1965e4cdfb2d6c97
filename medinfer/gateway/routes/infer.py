"""``POST /infer``: the seed payload ``{"input": ..., "model"?, "version"?}``, or a multipart upload
(``file`` plus optional ``model``, ``version``, ``frame`` fields) for images and DICOM."""

from __future__ import annotations

from starlette.requests import Request

from medinfer.audit import annotate
from medinfer.common.errors import ValidationFailed
from medinfer.common.http import ORJSONResponse, PlainRoute, parse_json_body, request_id_of
from medinfer.gateway.resilience import DEADLINE_HEADER, Deadline
from medinfer.monitoring import OodRejected
from medinfer.security import check_json_shape, require_infer, require_some_infer
from medinfer.common.multipart import read_form
from medinfer.security.deps import authenticate

__all__ = ["routes"]


async def infer(request: Request) -> ORJSONResponse:
    """Route the input by kind, preprocess it, run the model on Triton (scope ``infer`` or ``infer:<model>``)."""
    principal = await authenticate(request)
    require_some_infer(principal)
    rid = request_id_of(request)
    s = request.app.state.settings
    deadline = Deadline.from_header(request.headers.get(DEADLINE_HEADER), s.request_timeout_s, s.max_request_timeout_s)
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        body = await _multipart_body(request)
    else:
        body = parse_json_body(await request.body())
        check_json_shape(body, request.app.state.security.json_limits)

    def authorize(entry) -> None:
        annotate(request.scope, model=entry.name, version=str(entry.version))
        require_infer(principal, entry.name)

    tp = request.headers.get("traceparent")
    patient_key = request.headers.get("x-patient-key")
    try:
        result = await request.app.state.inference.infer(body, rid, deadline, {"traceparent": tp} if tp else None,
                                                         authorize=authorize, patient_key=patient_key,
                                                     client=principal.rate_key)
    except OodRejected as err:  # the 422's reason code goes into the audit record too
        annotate(request.scope, ood_reason=err.extra.get("reason"))
        raise
    if result.phi_counts:
        annotate(request.scope, phi_counts=result.phi_counts)
    state = request.scope.setdefault("state", {})
    state["metric_model"], state["metric_version"] = result.model, str(result.version)
    if result.ood is not None and result.ood.ood:  # a reason code from a closed set, never a value
        annotate(request.scope, ood_reason=result.ood.reason)
    response = ORJSONResponse(result.to_json(rid))
    if result.tag:
        response.headers["X-Model-Tag"] = result.tag
    return response


async def _multipart_body(request: Request) -> dict:
    """The uploaded file becomes ``input`` (bytes, recognised by its magic bytes, not its name)."""
    form = await read_form(request, max_bytes=request.app.state.settings.max_body_bytes, max_fields=8)  # in memory
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise ValidationFailed("multipart upload needs a 'file' part", field="file")
    body: dict = {"input": await upload.read()}
    for name in ("model", "version", "frame"):
        value = form.get(name)
        if isinstance(value, str) and value:
            body[name] = int(value) if name != "model" and value.isdigit() else value
    await form.close()
    return body


# A plain Starlette route: the hot path skips FastAPI's dependency solving (about a quarter of the gateway's
# per-request CPU); authentication is the same ``authenticate`` the FastAPI routes depend on.
routes = [PlainRoute("/infer", infer, methods=["POST"], name="infer")]
