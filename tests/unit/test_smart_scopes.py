"""SMART scopes grant per-model rights through an explicit resource-type -> models mapping, and the FHIR route
checks them before any resource is validated or any attachment (a DICOM instance) decoded."""

from __future__ import annotations

import base64

import pytest

from medinfer.fhir.request import declared_input
from medinfer.fhir.service import FhirInferenceService
from medinfer.gateway.app import create_app
from medinfer.gateway.settings import GatewaySettings
from medinfer.security.devkeys import ensure_dev_keys, mint_dev_token
from medinfer.security.principal import Principal
from medinfer.security.smart import fhir_principal, smart_models
from tests.support.asgi import request

SUBJECT = {"reference": "Patient/p1"}
IMAGING = {"resourceType": "Bundle", "type": "collection", "entry": [
    {"resource": {"resourceType": "ImagingStudy", "status": "available", "subject": SUBJECT}},
    {"resource": {"resourceType": "Binary", "contentType": "application/dicom",
                  "data": base64.b64encode(b"not a DICOM file at all").decode()}},
]}
OBSERVATIONS = {"resourceType": "Bundle", "type": "collection", "entry": [
    {"resource": {"resourceType": "Observation", "status": "final", "subject": SUBJECT,
                  "code": {"text": "x"}, "valueQuantity": {"value": 1.0}}}]}


@pytest.mark.parametrize(("scopes", "types", "models"), [
    ({"system/*.read"}, {"Bundle", "Observation"}, {"breast_cancer"}),
    ({"system/*.read"}, {"Bundle", "ImagingStudy", "Binary"}, {"image_quality"}),
    ({"system/ImagingStudy.read", "system/Binary.read"}, {"Bundle", "ImagingStudy", "Binary"}, {"image_quality"}),
    ({"system/ImagingStudy.read"}, {"Bundle", "ImagingStudy", "Binary"}, set()),  # Binary not covered
    ({"user/DocumentReference.rs"}, {"DocumentReference"}, {"note_embedding"}),
    ({"patient/*.read"}, {"Observation"}, set()),
    ({"system/Binary.read"}, {"Binary"}, set()),  # no model is mapped to a bare Binary by default
])
def test_default_mapping_grants_only_mapped_models(scopes, types, models):
    from medinfer.security.smart import DEFAULT_SMART_SCOPE_MODELS

    assert smart_models(scopes, types, DEFAULT_SMART_SCOPE_MODELS) == models
    p = fhir_principal(Principal("svc", "svc", frozenset(scopes)), types)
    assert "infer" not in p.scopes and {s[6:] for s in p.scopes if s.startswith("infer:")} == models


def test_declared_input_reads_types_kind_and_model_without_decoding():
    d = declared_input(IMAGING)
    assert d.resource_types == {"Bundle", "ImagingStudy", "Binary"} and d.kind == "image" and d.model is None
    params = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": OBSERVATIONS}, {"name": "model", "valueString": "breast_cancer"}]}
    d = declared_input(params)
    assert d.kind == "tabular" and d.model == "breast_cancer" and "Observation" in d.resource_types
    assert declared_input({"resourceType": "Binary", "contentType": "text/plain"}).kind == "text"
    assert declared_input("junk").resource_types == frozenset()


@pytest.fixture
def gateway(tmp_path, monkeypatch):
    parsed = []
    real = FhirInferenceService.parse

    def spy(self, doc):
        parsed.append(doc)
        return real(self, doc)

    monkeypatch.setattr(FhirInferenceService, "parse", spy)
    app = create_app(GatewaySettings(home=tmp_path, registry_routing=False, drift_enabled=False, grpc_port=0,
                                     audit_enabled=False))
    app.state.inference = object()  # nothing past the parse is reached here
    keys = ensure_dev_keys(tmp_path)

    def post(body, scopes: str, query: str = ""):
        token = mint_dev_token(keys, scopes)
        return request(app, "POST", "/fhir/r4/$infer" + query, json=body,
                       headers={"authorization": f"Bearer {token}", "content-type": "application/fhir+json"})

    return post, parsed


@pytest.mark.parametrize(("scopes", "query"), [
    ("system/ImagingStudy.read system/Binary.read", "?model=breast_cancer"),  # SMART grants image_quality only
    ("infer:note_embedding", ""),  # the imaging default model is image_quality
    ("system/Observation.read", ""),  # does not cover the submitted ImagingStudy/Binary
])
def test_dicom_is_not_parsed_before_the_model_check(gateway, scopes, query):
    post, parsed = gateway
    r = post(IMAGING, scopes, query)
    assert r.status == 403, r.body
    assert not parsed  # refused before validation or DICOM decoding
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]


def test_a_granted_request_goes_on_to_parsing(gateway):
    post, parsed = gateway
    r = post(IMAGING, "system/ImagingStudy.read system/Binary.read")
    assert parsed and r.status == 422  # past the scope check, the attachment is not DICOM


def test_system_star_read_grants_the_mapped_model_only(gateway):
    post, parsed = gateway
    assert post(OBSERVATIONS, "system/*.read", "?model=note_embedding").status == 403 and not parsed
