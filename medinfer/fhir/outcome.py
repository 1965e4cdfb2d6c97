"""FHIR ``OperationOutcome`` bodies for errors on the FHIR route.

A FHIR client parses an ``OperationOutcome``, not RFC 9457 problem+json, so
the FHIR route renders every :class:`~medinfer.common.errors.MedinferError`
with :func:`operation_outcome`. The text comes from the error's ``detail``,
which by the project rule names fields and limits, never input values; the
stable medinfer error code travels in ``details.coding``.
"""

from __future__ import annotations

from typing import Any

from medinfer.common.errors import MedinferError

__all__ = ["ERROR_CODE_SYSTEM", "FHIR_JSON", "issue_type_for", "operation_outcome"]

FHIR_JSON = "application/fhir+json"
ERROR_CODE_SYSTEM = "https://medinfer.dev/fhir/CodeSystem/error"

# HTTP status -> IssueType (http://hl7.org/fhir/issue-type)
_ISSUE_TYPE = {
    400: "structure", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported", 409: "conflict",
    413: "too-long", 415: "not-supported", 422: "invalid", 429: "throttled", 503: "transient", 504: "timeout",
}
# finer IssueTypes for our own 422 codes
_CODE_TYPE = {
    "missing-observation": "required", "missing-subject": "required", "unsupported-code-system": "code-invalid",
    "unit-incompatible": "value", "unknown-unit": "value", "wrong-resource-type": "not-supported",
    "unsupported-input-kind": "not-supported", "wrong-input-kind": "not-supported",
}


def issue_type_for(err: MedinferError) -> str:
    return _CODE_TYPE.get(err.code) or _ISSUE_TYPE.get(err.status, "exception")


def operation_outcome(err: MedinferError, request_id: str | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "severity": "error" if err.status < 500 else "fatal",
        "code": issue_type_for(err),
        "details": {"coding": [{"system": ERROR_CODE_SYSTEM, "code": err.code, "display": err.title}]},
        "diagnostics": err.detail,
    }
    field = err.extra.get("field")
    if isinstance(field, str) and field:
        issue["expression"] = [field]
    doc: dict[str, Any] = {"resourceType": "OperationOutcome", "issue": [issue]}
    if request_id:
        doc["id"] = request_id
    return doc
