"""Open Inference Protocol (KServe v2) over HTTP/REST on the gateway.

``tritonclient.http`` works through these routes unchanged. Inference bodies
(JSON or the binary tensor extension) are forwarded to Triton as they are,
without re-serializing tensors; the gateway resolves the version (release tags,
canary) and applies auth, audit, deadlines, retries and circuit breaking.
Monitored tabular versions pass the same OOD gate and drift window as
``/infer`` first (:mod:`medinfer.gateway.v2_ood`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from medinfer import __version__
from medinfer.audit import annotate
from medinfer.common.errors import BackendUnavailable, ModelNotFound
from medinfer.common.http import ORJSONResponse, PlainRoute, request_id_of
from medinfer.common.v2 import HEADER_LENGTH
from medinfer.gateway.clients.triton import triton_error
from medinfer.gateway.resilience import DEADLINE_HEADER, Deadline
from medinfer.gateway.v2_ood import flag_rest_response, v2_features
from medinfer.monitoring import OodDecision, OodRejected
from medinfer.security import Principal, require_infer, require_some_infer
from medinfer.security.deps import CurrentPrincipal, authenticate

router = APIRouter(prefix="/v2", tags=["open-inference-protocol"])

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
    if version is not None and not version.isdigit():
        raise ModelNotFound("the model has no such version")
    entry, tag = svc.resolve_named(name, int(version) if version else None, request_id_of(request),
                                   principal.rate_key)
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
    return ORJSONResponse({"name": "medinfer", "version": __version__,
                           "extensions": ["binary_tensor_data", "classification", "statistics"]})


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


@router.get("/models/{name}")
@router.get("/models/{name}/versions/{version}")
async def model_metadata(request: Request, principal: CurrentPrincipal, name: str, version: str | None = None) -> Response:
    """Model metadata from Triton for the resolved version."""
    return await _model_read(request, principal, name, version, "", "metadata")


@router.get("/models/{name}/ready")
@router.get("/models/{name}/versions/{version}/ready")
async def model_ready(request: Request, principal: CurrentPrincipal, name: str, version: str | None = None) -> Response:
    """200 when the resolved version is loaded and ready in Triton."""
    return await _model_read(request, principal, name, version, "/ready", "ready")


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


async def model_infer(request: Request) -> Response:
    """Inference: the body is forwarded to Triton unchanged (JSON or binary tensors)."""
    principal = await authenticate(request)
    require_some_infer(principal)
    params = request.path_params
    entry, tag = _resolve(request, params["name"], params.get("version"), principal)
    require_infer(principal, entry.name)
    body = await request.body()
    req_headers = request.headers
    headers = {"Content-Type": req_headers.get("content-type", "application/json")}
    hl = req_headers.get(HEADER_LENGTH)
    if hl is not None:
        headers[HEADER_LENGTH] = hl
    tp = req_headers.get("traceparent")
    if tp:
        headers["traceparent"] = tp
    svc = request.app.state.inference
    ood = _gate(request, svc, entry, body, hl) if svc.monitors_tabular(entry) else None
    with svc.track(entry.name, entry.version):
        response = await _relay(request, f"v2/models/{entry.name}/versions/{entry.version}/infer", method="POST",
                                body=body, headers=headers, operation="infer")
    if svc.shadow is not None and response.status_code == 200:
        svc.shadow.mirror_v2(entry.name, entry.version, request_id_of(request), body, headers, response.body,
                             response.headers.get(HEADER_LENGTH))
    if ood is not None and ood.ood:
        out, out_hl = flag_rest_response(response.body, response.headers.get(HEADER_LENGTH), ood)
        out_headers = {"content-type": response.headers.get("content-type", "application/json")}
        if out_hl is not None:
            out_headers[HEADER_LENGTH] = out_hl
        response = Response(out, status_code=200, headers=out_headers)
    response.headers["X-Model-Version"] = str(entry.version)
    if tag:
        response.headers["X-Model-Tag"] = tag
    return response


def _gate(request: Request, svc, entry, body: bytes, header_length: str | None) -> OodDecision | None:
    """OOD gate + drift window on the decoded input; the reason code (flag or reject) goes to the audit note."""
    features = v2_features(entry, body, header_length)
    if features is None:
        return None  # no FP32 input of the model's name: Triton refuses the request
    try:
        decision = svc.gate_tabular(entry, features)
    except OodRejected as err:
        annotate(request.scope, ood_reason=err.extra.get("reason"))
        raise
    if decision is not None and decision.ood:
        annotate(request.scope, ood_reason=decision.reason)
    return decision


# Plain Starlette routes: the hot path skips FastAPI's dependency solving (about a quarter of the gateway's
# per-request CPU); authentication is the same ``authenticate`` the FastAPI routes depend on.
infer_routes = [
    PlainRoute("/v2/models/{name}/infer", model_infer, methods=["POST"], name="v2-model-infer"),
    PlainRoute("/v2/models/{name}/versions/{version}/infer", model_infer, methods=["POST"], name="v2-model-version-infer"),
]
