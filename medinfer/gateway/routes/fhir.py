"""``POST /fhir/r4/$infer``: FHIR R4 resources in, a FHIR Bundle out (docs/fhir.md).

Every error on this route, including 401/403/429 from the auth dependency and
the edge's 413 and audit 503, renders as a FHIR ``OperationOutcome``
(``application/fhir+json``) instead of problem+json. The subject reference is kept out of logs and errors; the audit
record gets only its keyed digest (``patient_key``), for accounting of disclosures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from medinfer.audit import annotate
from medinfer.common.errors import BackendUnavailable, MedinferError, NotFound, UnsupportedMediaType
from medinfer.common.http import parse_json_body, request_id_of
from medinfer.fhir import FHIR_JSON, FhirInferenceService, operation_outcome
from medinfer.fhir.request import declared_input
from medinfer.fhir.smart_configuration import smart_configuration
from medinfer.fhir.capability import capability_statement
from medinfer.gateway.resilience import DEADLINE_HEADER, Deadline
from medinfer.security import (
    check_json_shape,
    fhir_principal,
    may_use_fhir,
    require_infer,
    require_some_infer,
)
from medinfer.security.deps import CurrentPrincipal

__all__ = ["FhirRoute", "router", "outcome_response", "FHIR_PREFIX"]

FHIR_PREFIX = "/fhir/"

log = logging.getLogger("medinfer.gateway")
_ACCEPTED = ("application/fhir+json", "application/json")


def outcome_response(err: MedinferError, request_id: str) -> Response:
    """An error as a FHIR OperationOutcome (also how the gateway's edge renders its 413/503/500 under /fhir/)."""
    headers = dict(err.headers)
    if request_id:
        headers["X-Request-ID"] = request_id
    return Response(orjson.dumps(operation_outcome(err, request_id)), status_code=err.status, media_type=FHIR_JSON,
                    headers=headers)


class FhirRoute(APIRoute):
    """Renders MedinferErrors (and unexpected ones, without detail) as OperationOutcome."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except MedinferError as err:
                return outcome_response(err, request_id_of(request))
            except Exception as exc:  # noqa: BLE001 - type only: the message may quote the input
                log.error("unhandled error", extra={"request_id": request_id_of(request), "code": type(exc).__name__})
                return outcome_response(MedinferError("internal error; see the service log by request id"),
                                         request_id_of(request))

        return run


router = APIRouter(tags=["fhir"], route_class=FhirRoute)


def _fhir_service(request: Request) -> FhirInferenceService:
    svc = getattr(request.app.state, "fhir", None)
    if svc is None or svc.inference is not request.app.state.inference:
        svc = request.app.state.fhir = FhirInferenceService(request.app.state.inference)
    return svc


@router.post("/fhir/r4/$infer")
async def fhir_infer(request: Request, principal: CurrentPrincipal, model: str | None = None,
                     version: str | None = None) -> Response:
    """Run a model on FHIR input (scope ``infer``, ``infer:<model>`` or a SMART read scope mapped to the model)."""
    s = request.app.state.settings
    mapping = s.smart_scope_models
    if not may_use_fhir(principal, mapping):
        require_some_infer(principal)  # raises the usual 403
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in _ACCEPTED:
        raise UnsupportedMediaType("content type must be application/fhir+json or application/json")
    rid = request_id_of(request)
    deadline = Deadline.from_header(request.headers.get(DEADLINE_HEADER), s.request_timeout_s, s.max_request_timeout_s)
    doc: Any = parse_json_body(await request.body())
    check_json_shape(doc, request.app.state.security.json_limits)
    # Scopes before any resource is validated or any attachment (a DICOM instance) decoded: what the
    # request declares is enough to know which model it would reach.
    declared = declared_input(doc)
    early = fhir_principal(principal, declared.resource_types, mapping)
    require_some_infer(early)
    target = model or declared.model or (s.default_models.get(declared.kind) if declared.kind else None)
    if target:
        require_infer(early, target)
    svc = _fhir_service(request)
    parsed = svc.parse(doc)
    principal = fhir_principal(principal, parsed.resource_types, mapping)
    require_some_infer(principal)
    subject_key = (request.headers.get("x-patient-key") or parsed.subject.get("reference")
                   or orjson.dumps(parsed.subject.get("identifier")).decode())
    annotate(request.scope, patient_key=subject_key, action="POST /fhir/r4/$infer")

    def authorize(entry) -> None:
        annotate(request.scope, model=entry.name, version=str(entry.version))
        require_infer(principal, entry.name)

    tp = request.headers.get("traceparent")
    answer = await svc.run(parsed, model=model, version=version, request_id=rid, deadline=deadline,
                           headers={"traceparent": tp} if tp else None, authorize=authorize,
                           patient_key=subject_key, client=principal.rate_key)
    if answer.result.phi_counts:
        annotate(request.scope, phi_counts=answer.result.phi_counts)
    state = request.scope.setdefault("state", {})
    state["metric_model"], state["metric_version"] = answer.model, str(answer.version)
    ood = answer.result.ood
    if ood is not None and ood.ood:
        state.setdefault("audit", {})["ood_reason"] = ood.reason
    response = Response(orjson.dumps(answer.bundle), media_type=FHIR_JSON)
    if answer.tag:
        response.headers["X-Model-Tag"] = answer.tag
    return response


@router.get("/.well-known/smart-configuration")
@router.get("/fhir/r4/.well-known/smart-configuration")
async def smart_configuration_document(request: Request) -> Response:
    """SMART configuration: the OpenID Provider's endpoints and what this gateway accepts (public)."""
    verifier = request.app.state.security.verifier
    if verifier is None or not request.app.state.settings.oidc_issuer:
        raise NotFound("no OpenID Provider is configured (oidc_issuer): there is no SMART configuration",
                       code="smart-not-configured")
    discovery = await verifier.provider_discovery()
    if not discovery.get("token_endpoint"):
        raise BackendUnavailable("the OpenID Provider's discovery document is not available yet", retry_after=5)
    return Response(orjson.dumps(smart_configuration(discovery)), media_type="application/json",
                    headers={"Cache-Control": "max-age=300"})


@router.get("/fhir/r4/metadata")
async def fhir_metadata(request: Request) -> Response:
    """The CapabilityStatement: public, as FHIR clients read it before they authenticate."""
    verifier = request.app.state.security.verifier
    token = verifier.token_endpoint() if verifier is not None else None
    cached = getattr(request.app.state, "fhir_capability", None)
    if cached is None or cached[0] != token:  # rebuilt once discovery has found the token endpoint
        doc = capability_statement(request.app.state.started_at, token_endpoint=token)
        cached = request.app.state.fhir_capability = (token, orjson.dumps(doc))
    return Response(cached[1], media_type=FHIR_JSON)
