"""The gateway's FHIR ``CapabilityStatement`` (``GET /fhir/r4/metadata``).

FHIR clients and EHR integration engines read ``[base]/metadata`` before they
call a server, unauthenticated (FHIR R4 3.1.0.1.1 capabilities; SMART App
Launch reads the security section). It states what this endpoint does: FHIR
4.0.1 in JSON, one system-level operation ``$infer`` with the resource types it
accepts, and OAuth2 bearer tokens (SMART ``system/`` and ``user/`` read scopes,
or medinfer's ``infer`` scopes). It lists no models: which models exist is
visible only to a caller with rights on them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from medinfer import __version__
from medinfer.fhir.resources import INPUT_TYPES, validate_output

__all__ = ["capability_statement", "INFER_OPERATION"]

INFER_OPERATION = "https://medinfer.dev/fhir/OperationDefinition/infer"
_SECURITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/restful-security-service"
_OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def capability_statement(published: dt.datetime, *, token_endpoint: str | None = None) -> dict[str, Any]:
    """``published``: when this gateway started serving it; ``token_endpoint``: the OpenID Provider's, if known."""
    security: dict[str, Any] = {
        "cors": False,
        "service": [{"coding": [{"system": _SECURITY_SYSTEM, "code": "SMART-on-FHIR"}]}],
        "description": "OAuth2 bearer token (JWT, RS256/ES256/PS256) with scope infer, infer:<model>, or a "
                       "SMART system/ or user/ read scope on the input resource types.",
    }
    if token_endpoint:
        security["extension"] = [{"url": _OAUTH_URIS, "extension": [{"url": "token", "valueUri": token_endpoint}]}]
    doc = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": published.astimezone(dt.timezone.utc).isoformat(timespec="seconds"),
        "publisher": "medinfer",
        "kind": "instance",
        "software": {"name": "medinfer", "version": __version__},
        "implementation": {"description": "medinfer gateway: clinical model inference with provenance"},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "documentation": "POST [base]/$infer with a " + ", ".join(INPUT_TYPES) + " resource; "
                             "the answer is a Bundle (RiskAssessment or Observation, Device, Provenance).",
            "security": security,
            "operation": [{"name": "infer", "definition": INFER_OPERATION}],
        }],
    }
    return validate_output(doc)
