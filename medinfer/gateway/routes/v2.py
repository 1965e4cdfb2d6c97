"""Open Inference Protocol (KServe v2) over HTTP/REST on the gateway.

``tritonclient.http`` works through these routes unchanged. Every inference
body (JSON or the binary tensor extension, plain or gzip/deflate encoded) is
checked against the model's signature and passes the data plane's per-kind
pipeline (:mod:`medinfer.gateway.dataplane`: text de-identified, images
refused in favour of ``/infer``, tabular OOD-gated) before anything is
forwarded; tensors of other models are forwarded as received, without
re-serializing. The gateway resolves the version (release tags, canary) and
applies auth, audit, deadlines, retries and circuit breaking. Where ``/v2``
differs from Triton by design: docs/protocols.md.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

import orjson

from medinfer import __version__
from medinfer.audit import annotate
from medinfer.common.errors import BackendUnavailable, BadRequest, ModelNotFound, ValidationFailed
from medinfer.common.errors import MedinferError
from medinfer.common.http import ORJSONResponse, PlainRoute, decode_content, request_id_of
from medinfer.common.http import problem_response as _problem
from medinfer.common.v2 import HEADER_LENGTH, REST_EXTENSIONS, decode_response, parse_version, split_body
from medinfer.gateway.clients.triton import triton_error
from medinfer.gateway.dataplane import rewrite_rest_texts
from medinfer.gateway.resilience import DEADLINE_HEADER, Deadline
from medinfer.gateway.v2_ood import flag_rest_response, v2_split_features
from medinfer.gateway.v2_validation import InvalidTensor, rest_views
from medinfer.monitoring import OodRejected
from medinfer.security import Principal, check_json_shape, require_infer, require_some_infer
from medinfer.security.deps import CurrentPrincipal, authenticate

router = APIRouter(prefix="/v2", tags=["open-inference-protocol"])


def problem_response(err: MedinferError, request_id: str) -> Response:
    """How the edge renders its own errors (413, 500, an audit 503) under /v2: problem+json with the ``error``
    member KServe v2 clients read (tritonclient shows it as the exception's message)."""
    err.extra.setdefault("error", err.detail)
    return _problem(err, request_id)

_RELAYED = ("content-type", HEADER_LENGTH.lower())


def _deadline(request: Request) -> Deadline:
    s = request.app.state.settings
    return Deadline.from_header(request.headers.get(DEADLINE_HEADER), s.request_timeout_s, s.max_request_timeout_s)


def _may_read(principal: Principal, model: str) -> None:
    """Model metadata: ``models:read``, or inference rights on that model (what tritonclient needs)."""
    if not principal.has("models:read"):
        require_infer(principal, model)


def _may_read_any(principal: Principal) -> None:
    """Checked before resolving, so a caller with no model rights learns nothing about which models exist."""
    if not principal.has("models:read"):
        require_some_infer(principal)


def _resolve(request: Request, name: str, version: str | None, principal: Principal):
    svc = request.app.state.inference
    entry, tag = svc.resolve_named(name, parse_version(version), request_id_of(request), principal.rate_key)
    state = request.scope.setdefault("state", {})
    state["metric_model"], state["metric_version"] = entry.name, str(entry.version)
    state["model_tag"] = tag
    annotate(request.scope, model=entry.name, version=str(entry.version))
    return entry, tag


async def _relay(request: Request, path: str, *, method: str = "GET", body: bytes | None = None,
                 headers: dict[str, str] | None = None, operation: str = "forward") -> Response:
    triton = request.app.state.inference.triton
    resp = await triton.forward(method, path, _deadline(request), body, headers, operation=operation)
    if resp.status != 200:
        raise triton_error(resp.status, headers=resp.headers)
    out_headers = {k: v for k, v in resp.headers.items() if k.lower() in _RELAYED}
    return Response(resp.body, status_code=200, headers=out_headers)


@router.get("")
async def server_metadata(principal: CurrentPrincipal) -> ORJSONResponse:
    """Server metadata."""
    return ORJSONResponse({"name": "medinfer", "version": __version__, "extensions": list(REST_EXTENSIONS)})


@router.get("/health/live")
async def live(principal: CurrentPrincipal) -> Response:
    """The gateway is alive."""
    return Response(status_code=200)


@router.get("/health/ready")
async def ready(request: Request, principal: CurrentPrincipal) -> Response:
    """Ready when Triton is ready."""
    if not await request.app.state.inference.triton.ready():
        raise BackendUnavailable("Triton is not ready", retry_after=2)
    return Response(status_code=200)


async def _model_read(request: Request, principal: Principal, name: str, version: str | None, suffix: str,
                      operation: str) -> Response:
    """The read-only model routes: check read rights, resolve the version, relay Triton's answer."""
    _may_read_any(principal)
    entry, _ = _resolve(request, name, version, principal)
    _may_read(principal, entry.name)
    return await _relay(request, f"v2/models/{entry.name}/versions/{entry.version}{suffix}", operation=operation)


@router.get("/models/stats")
async def all_model_statistics(request: Request, principal: CurrentPrincipal) -> Response:
    """Triton's statistics for every model the caller may read (``get_inference_statistics()``)."""
    _may_read_any(principal)
    resp = await request.app.state.inference.triton.forward("GET", "v2/models/stats", _deadline(request),
                                                            operation="stats")
    if resp.status != 200:
        raise triton_error(resp.status, headers=resp.headers)
    doc = orjson.loads(resp.body)
    catalog = request.app.state.catalog
    known = set(catalog.names())
    stats = doc.get("model_stats") if isinstance(doc, dict) else None
    doc["model_stats"] = [m for m in (stats or []) if isinstance(m, dict) and m.get("name") in known
                          and (principal.has("models:read") or principal.may_infer(m["name"]))]
    return Response(orjson.dumps(doc), media_type="application/json")


@router.get("/models/{name}")
@router.get("/models/{name}/versions/{version}")
async def model_metadata(request: Request, principal: CurrentPrincipal, name: str, version: str | None = None) -> Response:
    """Model metadata from Triton for the resolved version."""
    return await _model_read(request, principal, name, version, "", "metadata")


@router.get("/models/{name}/ready")
@router.get("/models/{name}/versions/{version}/ready")
async def model_ready(request: Request, principal: CurrentPrincipal, name: str, version: str | None = None) -> Response:
    """200 when the resolved version is loaded and ready in Triton; 400 for a model or version that is not there,
    as Triton answers (``tritonclient``'s ``is_model_ready`` reads both as not ready)."""
    try:
        return await _model_read(request, principal, name, version, "/ready", "ready")
    except ModelNotFound as err:
        raise BadRequest(err.detail, code=err.code) from None


@router.get("/models/{name}/config")
@router.get("/models/{name}/versions/{version}/config")
async def model_config(request: Request, principal: CurrentPrincipal, name: str, version: str | None = None) -> Response:
    """Triton's model configuration."""
    return await _model_read(request, principal, name, version, "/config", "config")


@router.get("/models/{name}/stats")
@router.get("/models/{name}/versions/{version}/stats")
async def model_statistics(request: Request, principal: CurrentPrincipal, name: str,
                           version: str | None = None) -> Response:
    """Triton's inference statistics for the resolved version (what perf_analyzer reads)."""
    return await _model_read(request, principal, name, version, "/stats", "stats")


def _check_json_shape(header: dict, limits) -> None:
    try:
        check_json_shape(header, limits)
    except ValidationFailed as err:  # the protocol's client errors are 400s
        raise InvalidTensor(err.detail) from None


async def model_infer(request: Request) -> Response:
    """Inference: validated and passed through the data plane, then forwarded to Triton (JSON or binary)."""
    principal = await authenticate(request)
    require_some_infer(principal)
    params = request.path_params
    entry, tag = _resolve(request, params["name"], params.get("version"), principal)
    require_infer(principal, entry.name)
    state = request.app.state
    req_headers = request.headers
    body = decode_content(await request.body(), req_headers.get("content-encoding"), state.settings.max_body_bytes)
    hl = req_headers.get(HEADER_LENGTH)
    header, tail = split_body(body, hl)
    _check_json_shape(header, state.security.json_limits)
    views, outputs, spans = rest_views(header, tail)
    headers = {"Content-Type": req_headers.get("content-type", "application/json")}
    tp = req_headers.get("traceparent")
    if tp:
        headers["traceparent"] = tp
    deadline = _deadline(request)
    try:
        admission = await state.dataplane.admit_v2(
            entry, views, outputs, features=lambda: v2_split_features(entry, header, tail), deadline=deadline,
            headers={"traceparent": tp} if tp else None, patient_key=req_headers.get("x-patient-key"))
    except OodRejected as err:  # the 422's reason code goes into the audit record too
        annotate(request.scope, ood_reason=err.extra.get("reason"))
        raise
    if admission.phi_counts:
        annotate(request.scope, phi_counts=admission.phi_counts)
    if admission.texts is not None:
        body, new_hl = rewrite_rest_texts(header, tail, spans, admission.texts)
        hl = None if new_hl is None else str(new_hl)
    if hl is not None:
        headers[HEADER_LENGTH] = hl
    with state.inference.track(entry.name, entry.version):
        response = await _relay(request, f"v2/models/{entry.name}/versions/{entry.version}/infer", method="POST",
                                body=body, headers=headers, operation="infer")
    ood = state.dataplane.settle_v2(
        entry, admission, lambda: decode_response(response.body, response.headers.get(HEADER_LENGTH))[1])
    shadow = state.inference.shadow
    if shadow is not None and response.status_code == 200:  # the de-identified body, as Triton received it
        shadow.mirror_v2(entry.name, entry.version, request_id_of(request), body, headers, response.body,
                         response.headers.get(HEADER_LENGTH))
    if ood is not None and ood.ood:
        annotate(request.scope, ood_reason=ood.reason)
        out, out_hl = flag_rest_response(response.body, response.headers.get(HEADER_LENGTH), ood)
        out_headers = {"content-type": response.headers.get("content-type", "application/json")}
        if out_hl is not None:
            out_headers[HEADER_LENGTH] = out_hl
        response = Response(out, status_code=200, headers=out_headers)
    response.headers["X-Model-Version"] = str(entry.version)
    if tag:
        response.headers["X-Model-Tag"] = tag
    return response


# Plain Starlette routes: the hot path skips FastAPI's dependency solving (about a quarter of the gateway's
# per-request CPU); authentication is the same ``authenticate`` the FastAPI routes depend on.
infer_routes = [
    PlainRoute("/v2/models/{name}/infer", model_infer, methods=["POST"], name="v2-model-infer"),
    PlainRoute("/v2/models/{name}/versions/{version}/infer", model_infer, methods=["POST"], name="v2-model-version-infer"),
]
