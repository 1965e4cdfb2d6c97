"""Parse and validate incoming FHIR with the ``fhir.resources`` models.

medinfer uses the ``fhir.resources.R4B`` models (FHIR 4.3.0). R4B is R4
(4.0.1) plus changes confined to medication-definition, evidence and
subscription resources; every resource this route reads or writes (Bundle,
Observation, DocumentReference, Binary, ImagingStudy, Parameters,
RiskAssessment, Provenance, Device, OperationOutcome) is the same in R4 and
R4B, so R4 documents validate unchanged. Validation errors are reported by
location and kind only: pydantic messages can quote the input.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from medinfer.common.errors import ValidationFailed

__all__ = ["FHIR_VERSION", "INPUT_TYPES", "validate_output", "validate_resource"]

FHIR_VERSION = "4.0"  # what we speak on the wire (R4); validated with the R4B models
INPUT_TYPES = ("Bundle", "Observation", "DocumentReference", "Binary", "ImagingStudy", "Parameters")


def _location(err: ValidationError) -> tuple[str, str]:
    first = err.errors(include_url=False, include_input=False, include_context=False)[0]
    loc = ".".join(str(p) for p in first.get("loc", ()) if not str(p).startswith("function-"))
    return loc, str(first.get("type", "invalid"))


def validate_resource(doc: Any, where: str = "") -> Any:
    """A validated R4B model of ``doc``; 422 ``invalid-fhir`` naming the failing element."""
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
        raise ValidationFailed("body must be a FHIR resource with a 'resourceType'", field=where or "resourceType",
                               code="invalid-fhir")
    rtype = doc["resourceType"]
    if rtype not in INPUT_TYPES:
        raise ValidationFailed(f"resourceType must be one of {', '.join(INPUT_TYPES)}",
                               field=(where + ".resourceType") if where else "resourceType",
                               code="wrong-resource-type")
    try:
        return get_fhir_model_class(rtype).model_validate(doc)
    except ValidationError as exc:
        loc, kind = _location(exc)
        path = ".".join(p for p in (where or rtype, loc) if p)
        raise ValidationFailed(f"{path}: {kind.replace('_', ' ')}", field=path, code="invalid-fhir") from None


def validate_output(doc: dict[str, Any]) -> dict[str, Any]:
    """Our own output goes through the same models: a bug here is a 500, never an invalid resource sent out.

    Returns ``doc`` itself once it validates (the models' own serializer costs ~13 ms a Bundle).
    """
    get_fhir_model_class(doc["resourceType"]).model_validate(doc)
    return doc
