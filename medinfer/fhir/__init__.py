"""FHIR R4 in and out of the gateway (logic only; the route is ``medinfer.gateway.routes.fhir``).

:func:`parse_request` validates a ``$infer`` body with the ``fhir.resources``
R4B models and sorts it by input kind; :class:`FeatureMap` maps Observations
to a tabular model's features by the codes in its metadata (units via pint);
:func:`result_bundle` builds the RiskAssessment/Observation + Device +
Provenance answer; :class:`FhirInferenceService` ties them to the gateway's
InferenceService; :func:`operation_outcome` renders errors. See docs/fhir.md.
"""

from medinfer.fhir.outcome import FHIR_JSON, operation_outcome
from medinfer.fhir.request import FhirInput, parse_request
from medinfer.fhir.resources import FHIR_VERSION, validate_output, validate_resource
from medinfer.fhir.results import EXT, MODEL_SYSTEM, result_bundle
from medinfer.fhir.service import FhirAnswer, FhirInferenceService
from medinfer.fhir.tabular import LOINC, FeatureCode, FeatureMap
from medinfer.fhir.units import UCUM_SYSTEM, convert

__all__ = [
    "EXT",
    "FHIR_JSON",
    "FHIR_VERSION",
    "LOINC",
    "MODEL_SYSTEM",
    "UCUM_SYSTEM",
    "FeatureCode",
    "FeatureMap",
    "FhirAnswer",
    "FhirInferenceService",
    "FhirInput",
    "convert",
    "operation_outcome",
    "parse_request",
    "result_bundle",
    "validate_output",
    "validate_resource",
]
