"""FHIR logic in-process: units, the Observation -> feature map, parsing, outputs, OperationOutcome, SMART scopes."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from medinfer.common.errors import Forbidden, ValidationFailed
from medinfer.common.v2 import V2Tensor
from medinfer.fhir import EXT, LOINC, FeatureMap, convert, operation_outcome, parse_request, result_bundle
from medinfer.security import Principal, fhir_principal, may_use_fhir, smart_grants_infer

# A model with real LOINC codes: body height (8302-2) and body weight (29463-7).
META = {"features": [{"name": "height"}, {"name": "weight"}], "fhir": {"loinc": {
    "height": {"code": "8302-2", "unit": "cm"}, "weight": {"code": "29463-7", "unit": "kg"}}}}
SUBJ = {"reference": "Patient/p1"}


def obs(code: str, value, unit: str, system: str = LOINC, **kw) -> dict:
    return {"resourceType": "Observation", "status": "final", "subject": SUBJ,
            "code": {"coding": [{"system": system, "code": code}]},
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}} | kw


def bundle(*resources) -> dict:
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": f"urn:uuid:{i:08d}-0000-4000-8000-000000000000", "resource": r}
                      for i, r in enumerate(resources)]}


@pytest.mark.parametrize(("value", "src", "dst", "expected"), [
    (9.6, "%", "1", 0.096), (180.0, "cm", "[in_i]", 70.866141), (70.0, "kg", "[lb_av]", 154.323584),
    (2.0, "mm2", "um2", 2e6), (1.0, "10*3/uL", "10*9/L", 1.0), (36.6, "Cel", "[degF]", 97.88),
    (5.0, "{pixel}", "{pixel}", 5.0), (5.0, "{ratio}", "1", 5.0), (3.0, "{pixel2}", "{pixel2}", 3.0),
])
def test_ucum_conversion(value, src, dst, expected) -> None:
    assert convert(value, src, dst) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(("src", "dst", "code"), [
    ("mm", "{pixel}", "unit-incompatible"), ("{pixel}", "1", "unit-incompatible"), ("kg", "cm", "unit-incompatible"),
    ("bogus", "1", "unknown-unit"), ("mm.", "1", "unknown-unit"), ("", "1", "unknown-unit"),
])
def test_bad_units(src, dst, code) -> None:
    with pytest.raises(ValidationFailed) as e:
        convert(1.0, src, dst)
    assert e.value.code == code and e.value.status == 422


def test_feature_map_converts_and_orders() -> None:
    fmap = FeatureMap.from_metadata(META)
    p = parse_request(bundle(obs("29463-7", 154.323584, "[lb_av]"), obs("8302-2", 1.8, "m"),
                             obs("8867-4", 60, "/min")))  # heart rate: declared by no feature, ignored
    record, used = fmap.record(p.observations)
    assert record == pytest.approx({"height": 180.0, "weight": 70.0}) and used == [0, 1]


def test_missing_observation_names_the_loinc_code() -> None:
    fmap = FeatureMap.from_metadata(META)
    with pytest.raises(ValidationFailed) as e:
        fmap.record(parse_request(bundle(obs("8302-2", 180, "cm"))).observations)
    assert e.value.code == "missing-observation" and "http://loinc.org|29463-7" in e.value.detail


def test_unsupported_code_system_and_duplicates() -> None:
    fmap = FeatureMap.from_metadata(META)
    with pytest.raises(ValidationFailed) as e:
        fmap.record(parse_request(bundle(obs("50373000", 180, "cm", system="http://snomed.info/sct"))).observations)
    assert e.value.code == "unsupported-code-system" and e.value.extra["field"] == "Bundle.entry[0].resource.code.coding"
    with pytest.raises(ValidationFailed) as e:
        fmap.record(parse_request(bundle(obs("8302-2", 180, "cm"), obs("8302-2", 181, "cm"))).observations)
    assert e.value.code == "duplicate-observation"


@pytest.mark.parametrize(("doc", "code"), [
    ({"resourceType": "Patient"}, "wrong-resource-type"),
    ({"resourceType": "Observation", "status": "final"}, "invalid-fhir"),  # code is required
    (bundle(obs("8302-2", 180, "cm", subject=None)), "missing-subject"),
    (bundle({k: v for k, v in obs("8302-2", 180, "cm").items() if k != "subject"}), "missing-subject"),
    (bundle(obs("8302-2", 180, "cm"), obs("29463-7", 70, "kg", subject={"reference": "Patient/other"})),
     "mixed-subjects"),
    (bundle(obs("8302-2", 180, "cm", status="cancelled")), "observation-status"),
    ({"resourceType": "Binary", "contentType": "text/plain", "data": base64.b64encode(b"note").decode()},
     "missing-subject"),
    ({"resourceType": "Binary", "contentType": "image/png", "securityContext": SUBJ, "data": "AAAA"},
     "unsupported-content-type"),
    ({"resourceType": "Binary", "contentType": "application/dicom", "securityContext": SUBJ,
      "data": base64.b64encode(b"not dicom" * 40).decode()}, "invalid-dicom"),
    ({"resourceType": "DocumentReference", "status": "current", "subject": SUBJ,
      "content": [{"attachment": {"contentType": "text/plain", "url": "https://ehr.example/n/1"}}]},
     "attachment-not-inline"),
    ({"resourceType": "Parameters", "parameter": [{"name": "model", "valueString": "x"}]}, "invalid-fhir"),
])
def test_parse_failures(doc, code) -> None:
    with pytest.raises(ValidationFailed) as e:
        parse_request(doc)
    assert e.value.code == code
    assert "Patient/p1" not in str(e.value.detail)


def test_parameters_carry_model_version_and_subject() -> None:
    note = base64.b64encode(b"Seen today.").decode()
    p = parse_request({"resourceType": "Parameters", "parameter": [
        {"name": "model", "valueString": "ner"}, {"name": "version", "valueInteger": 1},
        {"name": "subject", "valueReference": SUBJ},
        {"name": "resource", "resource": {"resourceType": "Binary", "contentType": "text/plain", "data": note}}]})
    assert (p.kind, p.text, p.model, p.version, p.subject) == ("text", "Seen today.", "ner", 1, SUBJ)


def test_validation_errors_never_quote_the_input() -> None:
    doc = bundle(obs("8302-2", 180, "cm"))
    doc["entry"][0]["resource"]["valueQuantity"]["secretField"] = "CANARY-4471"
    with pytest.raises(ValidationFailed) as e:
        parse_request(doc)
    assert "CANARY-4471" not in e.value.detail and "secretField" in e.value.detail


def test_risk_assessment_bundle_is_valid_fhir_with_provenance() -> None:
    meta = {"task": "binary-classification", "description": "P(x)", "outputs": [{"name": "probability",
                                                                                  "meaning": "P(malignant)"}]}
    out = result_bundle(model="m", version=3, tag="canary", request_id="abc123", metadata=meta, subject=SUBJ,
                        sources=[{"reference": "urn:uuid:1"}], outputs=[V2Tensor("probability", "FP32", [1, 1],
                                                                               np.array([[0.25]], np.float32))],
                        risk=True)
    ra, dev, prov = (e["resource"] for e in out["entry"])
    assert ra["resourceType"] == "RiskAssessment" and ra["prediction"][0]["probabilityDecimal"] == 0.25
    assert ra["basis"] == [{"reference": "urn:uuid:1"}] and ra["subject"] == SUBJ
    assert dev["deviceName"][0]["name"] == "m" and dev["version"][0]["value"] == "3"
    ext = {e["url"]: e["valueString"] for e in prov["extension"]}
    assert ext == {EXT["model-name"]: "m", EXT["model-version"]: "3", EXT["request-id"]: "abc123",
                   EXT["release-tag"]: "canary"}


def test_observation_output_for_other_models() -> None:
    meta = {"kind": "image", "outputs": [{"name": "probabilities"}, {"name": "class_index", "classes": ["ok", "blank"]}]}
    out = result_bundle(model="iq", version=1, tag=None, request_id="r1", metadata=meta, subject=SUBJ,
                        sources=[{"reference": "ImagingStudy/s1", "type": "ImagingStudy"}],
                        outputs=[V2Tensor("probabilities", "FP32", [1, 2], np.array([[0.9, 0.1]], np.float32)),
                                 V2Tensor("class_index", "INT64", [1, 1], np.array([[1]], np.int64))], risk=False)
    o = out["entry"][0]["resource"]
    assert o["resourceType"] == "Observation" and o["derivedFrom"] == [{"reference": "ImagingStudy/s1",
                                                                         "type": "ImagingStudy"}]
    assert o["component"][0]["valueSampledData"]["data"] == "0.9 0.1"
    assert o["component"][1]["valueCodeableConcept"]["text"] == "blank"


def test_operation_outcome() -> None:
    doc = operation_outcome(ValidationFailed("x is missing", field="Bundle.entry", code="missing-observation"), "rid")
    assert doc == {"resourceType": "OperationOutcome", "id": "rid", "issue": [{
        "severity": "error", "code": "required", "diagnostics": "x is missing", "expression": ["Bundle.entry"],
        "details": {"coding": [{"system": "https://medinfer.dev/fhir/CodeSystem/error", "code": "missing-observation",
                                "display": "Input failed validation"}]}}]}
    assert operation_outcome(Forbidden())["issue"][0]["code"] == "forbidden"


@pytest.mark.parametrize(("scopes", "types", "granted"), [
    ({"system/*.read"}, {"Observation"}, True), ({"system/Observation.read"}, {"Bundle", "Observation"}, True),
    ({"user/Observation.rs"}, {"Observation"}, True), ({"system/*.*"}, {"Binary"}, True),
    ({"patient/*.read"}, {"Observation"}, False), ({"system/Observation.write"}, {"Observation"}, False),
    ({"system/Observation.cud"}, {"Observation"}, False), ({"system/DocumentReference.read"}, {"Observation"}, False),
    ({"system/ImagingStudy.read"}, {"Bundle", "ImagingStudy", "Binary"}, False),
    ({"system/ImagingStudy.read", "system/Binary.read"}, {"Bundle", "ImagingStudy", "Binary"}, True),
    ({"system/Bundle.read"}, {"Bundle"}, False), (set(), {"Observation"}, False),
])
def test_smart_scope_mapping(scopes, types, granted) -> None:
    assert smart_grants_infer(scopes, types) is granted
    mapping = {"Observation": ["tab"], "Binary": ["note"], "ImagingStudy": ["img"], "Bundle": ["never"]}
    p = fhir_principal(Principal("svc", "svc", frozenset(scopes)), types, mapping)
    assert not p.may_infer("any_model") and "infer" not in p.scopes  # never every model
    expected = {m for t in types for m in mapping.get(t, ()) if t not in ("Bundle", "Parameters")} if granted else set()
    assert {s[6:] for s in p.scopes if s.startswith("infer:")} == expected


def test_may_use_fhir() -> None:
    assert may_use_fhir(Principal("s", None, frozenset({"system/Observation.read"})))
    assert not may_use_fhir(Principal("s", None, frozenset({"system/Observation.read"})), {"Observation": []})
    assert may_use_fhir(Principal("s", None, frozenset({"infer:m"})))
    assert not may_use_fhir(Principal("s", None, frozenset({"models:read", "patient/*.read"})))
