"""POST /fhir/r4/$infer through the running stack (gateway -> preprocessor -> tritonserver)."""

from __future__ import annotations

import copy
import json
import runpy
import sqlite3
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from medinfer.audit import AuditKey
from medinfer.fhir import EXT
from medinfer.security.devkeys import ensure_dev_keys
from medinfer.stack import Stack
from tests.support.stack import GatewayClient, dev_auth_header

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EX = runpy.run_path(str(ROOT / "examples" / "fhir" / "build_examples.py"))
TRAIN = runpy.run_path(str(ROOT / "models" / "breast_cancer" / "train.py"))
FHIR = {"content-type": "application/fhir+json"}
PATH = "/fhir/r4/$infer"


def _record(i: int = 0) -> dict[str, float]:
    row = TRAIN["load_split"]()[1][i]
    return {n: float(v) for n, v in zip(TRAIN["feature_names"](), row.tolist())}


def _bundle(i: int = 0, subject: dict | None = None, percent=("mean_smoothness",)) -> dict:
    return EX["observation_bundle"](_record(i), TRAIN["fhir_codes"](), subject, percent)


def _post(gateway: GatewayClient, doc, headers=FHIR, **kw):
    return gateway.post(PATH, data=json.dumps(doc), headers=headers, **kw)


def _outcome(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/fhir+json"
    doc = r.json()
    assert doc["resourceType"] == "OperationOutcome"
    (issue,) = doc["issue"]
    assert issue["details"]["coding"][0]["code"] == code, doc
    return issue


def _entries(bundle: dict) -> dict[str, dict]:
    return {e["resource"]["resourceType"]: e for e in bundle["entry"]}


def _direct(gateway: GatewayClient, record: dict[str, float]) -> float:
    r = gateway.post("/infer", json={"model": "breast_cancer", "input": record})
    assert r.status_code == 200, r.text
    return r.json()["outputs"][0]["data"][0]


def test_observation_bundle_gives_the_direct_infer_probability(gateway: GatewayClient) -> None:
    for i in range(3):
        doc = _bundle(i)
        r = _post(gateway, doc, params={"model": "breast_cancer"})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/fhir+json"
        out = r.json()
        Bundle.model_validate(out)  # a valid R4(B) Bundle
        ents = _entries(out)
        ra = ents["RiskAssessment"]["resource"]
        assert ra["prediction"][0]["probabilityDecimal"] == pytest.approx(_direct(gateway, _record(i)), abs=1e-6)
        assert ra["subject"] == {"reference": "Patient/example-1"}
        assert [b["reference"] for b in ra["basis"]] == [e["fullUrl"] for e in doc["entry"]]
        assert ra["method"]["coding"][0]["code"] == "breast_cancer" and ra["method"]["coding"][0]["version"] == "1"
        assert ra["performer"]["reference"] == ents["Device"]["fullUrl"]
        prov = ents["Provenance"]["resource"]
        assert prov["target"] == [{"reference": ents["RiskAssessment"]["fullUrl"]}]
        assert prov["agent"][0]["who"]["reference"] == ents["Device"]["fullUrl"]
        assert len(prov["entity"]) == 30
        ext = {e["url"]: e["valueString"] for e in prov["extension"]}
        assert ext[EXT["model-name"]] == "breast_cancer" and ext[EXT["model-version"]] == "1"
        assert ext[EXT["request-id"]] == r.headers["x-request-id"] == out["identifier"]["value"]
        assert ext[EXT["release-tag"]] == r.headers["x-model-tag"]


def test_parameters_body_and_plain_json_content_type(gateway: GatewayClient) -> None:
    params = {"resourceType": "Parameters", "parameter": [
        {"name": "model", "valueString": "breast_cancer"}, {"name": "resource", "resource": _bundle(1)}]}
    r = _post(gateway, params, headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    ra = _entries(r.json())["RiskAssessment"]["resource"]
    assert ra["prediction"][0]["probabilityDecimal"] == pytest.approx(_direct(gateway, _record(1)), abs=1e-6)


def test_units_are_converted(gateway: GatewayClient) -> None:
    ratios = tuple(n for n, c in TRAIN["fhir_codes"]().items() if c["unit"] == "1")
    assert len(ratios) == 18
    r = _post(gateway, _bundle(2, percent=ratios))  # every ratio feature sent in %
    assert r.status_code == 200, r.text
    p = _entries(r.json())["RiskAssessment"]["resource"]["prediction"][0]["probabilityDecimal"]
    assert p == pytest.approx(_direct(gateway, _record(2)), abs=1e-6)


def test_incompatible_unit_is_422(gateway: GatewayClient) -> None:
    doc = _bundle()
    q = doc["entry"][0]["resource"]["valueQuantity"]  # mean radius, in {pixel}
    q.update(unit="mm", code="mm")
    issue = _outcome(_post(gateway, doc), 422, "unit-incompatible")
    assert issue["code"] == "value" and "{pixel}" in issue["diagnostics"]
    assert issue["expression"] == ["Bundle.entry[0].resource.valueQuantity"]


def test_missing_observation_names_its_code(gateway: GatewayClient) -> None:
    doc = _bundle()
    del doc["entry"][3]  # mean area
    issue = _outcome(_post(gateway, doc), 422, "missing-observation")
    assert "https://medinfer.dev/fhir/CodeSystem/wdbc-features|mean-area" in issue["diagnostics"]
    assert issue["code"] == "required"


def _no_subject() -> dict:
    doc = _bundle()
    del doc["entry"][5]["resource"]["subject"]
    return doc


def _foreign_system() -> dict:
    doc = _bundle()
    doc["entry"][0]["resource"]["code"]["coding"][0]["system"] = "http://snomed.info/sct"
    return doc


def _bad_status() -> dict:
    doc = _bundle()
    doc["entry"][0]["resource"]["status"] = "entered-in-error"
    return doc


def _extra_element() -> dict:
    doc = _bundle()
    doc["entry"][0]["resource"]["valueQuantity"]["secret"] = "CANARY-VALUE-3317"
    return doc


@pytest.mark.parametrize(("make", "status", "code"), [
    (lambda: {"resourceType": "Patient", "id": "p1"}, 422, "wrong-resource-type"),
    (lambda: {"resourceType": "Bundle", "type": "collection", "entry": "not-a-list"}, 422, "invalid-fhir"),
    (lambda: {"resourceType": "Bundle", "type": "collection", "entry": []}, 422, "wrong-resource-type"),
    (_extra_element, 422, "invalid-fhir"),
    (_no_subject, 422, "missing-subject"),
    (_foreign_system, 422, "unsupported-code-system"),
    (_bad_status, 422, "observation-status"),
    (lambda: [1, 2, 3], 422, "invalid-fhir"),
    (lambda: {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": EX["note_document"]("x")["subject"] | {"resourceType": "Patient"}}]}, 422, "invalid-fhir"),
])
def test_invalid_fhir_is_an_operation_outcome(gateway: GatewayClient, make, status, code) -> None:
    r = _post(gateway, make())
    _outcome(r, status, code)
    assert "CANARY-VALUE-3317" not in r.text and "example-1" not in r.text


def test_other_errors_are_operation_outcomes_too(stack: Stack, gateway: GatewayClient) -> None:
    _outcome(gateway.session.post(gateway.url(PATH), data=b"{", headers=FHIR, timeout=30), 400, "malformed-json")
    _outcome(_post(gateway, _bundle(), headers={"content-type": "text/plain"}), 415, "unsupported-media-type")
    _outcome(_post(gateway, _bundle(), params={"model": "no_such_model"}), 404, "model-not-found")
    _outcome(_post(gateway, _bundle(), params={"model": "note_embedding"}), 422, "wrong-input-kind")
    r = gateway.session.post(gateway.url(PATH), data=json.dumps(_bundle()), timeout=30,
                             headers=FHIR | {"Authorization": "Bearer nope"})
    assert _outcome(r, 401, "unauthorized")["code"] == "login"
    r = gateway.session.post(gateway.url(PATH), data=json.dumps(_bundle()), timeout=30,
                             headers=FHIR | dev_auth_header(stack.home, "models:read"))
    assert _outcome(r, 403, "forbidden")["code"] == "forbidden"


@pytest.mark.parametrize(("scope", "status"), [
    ("system/*.read", 200), ("system/Observation.read", 200), ("user/Observation.rs", 200),
    ("infer:breast_cancer", 200), ("patient/*.read", 403), ("system/DocumentReference.read", 403),
    ("infer:note_embedding", 403),
])
def test_smart_scopes(stack: Stack, gateway: GatewayClient, scope: str, status: int) -> None:
    r = gateway.session.post(gateway.url(PATH), data=json.dumps(_bundle()), timeout=30,
                             headers=FHIR | dev_auth_header(stack.home, scope))
    assert r.status_code == status, r.text
    if status == 403:
        _outcome(r, 403, "forbidden")


def _observation(r) -> dict:
    assert r.status_code == 200, r.text
    out = r.json()
    Bundle.model_validate(out)
    ents = _entries(out)
    obs = ents["Observation"]["resource"]
    assert obs["subject"] == {"reference": "Patient/example-1"}
    assert obs["device"]["reference"] == ents["Device"]["fullUrl"]
    prov = ents["Provenance"]["resource"]
    assert prov["target"] == [{"reference": ents["Observation"]["fullUrl"]}]
    return obs


def _components(obs: dict) -> dict[str, dict]:
    return {c["code"]["coding"][0]["code"]: c for c in obs["component"]}


def _sampled(comp: dict) -> list[float]:
    return [float(x) for x in comp["valueSampledData"]["data"].split()]


def test_note_goes_through_the_text_route(gateway: GatewayClient) -> None:
    """Same note, same patient key: the FHIR answer carries the embedding /infer returns (de-identified first)."""
    doc = EX["note_document"](EX["NOTE"])
    direct = gateway.post("/infer", json={"input": EX["NOTE"], "model": "note_embedding"},
                          headers={"X-Patient-Key": "Patient/example-1"})
    assert direct.status_code == 200, direct.text
    expected = direct.json()["outputs"][0]["data"]
    obs = _observation(_post(gateway, doc, params={"model": "note_embedding"}))
    assert obs["derivedFrom"] == [{"reference": "DocumentReference/note-1", "type": "DocumentReference"}]
    assert _sampled(_components(obs)["EMBEDDING"]) == pytest.approx(expected, rel=1e-5, abs=1e-6)
    binary = {"resourceType": "Binary", "contentType": "text/plain", "securityContext": {"reference": "Patient/example-1"},
              "data": doc["content"][0]["attachment"]["data"]}
    obs = _observation(_post(gateway, binary, params={"model": "note_embedding"}))
    assert _sampled(_components(obs)["EMBEDDING"]) == pytest.approx(expected, rel=1e-5, abs=1e-6)
    ner = _observation(_post(gateway, doc, params={"model": "ner"}))
    (comp,) = ner["component"]
    assert isinstance(json.loads(comp["valueString"]), list)


def test_dicom_goes_through_the_image_route(gateway: GatewayClient) -> None:
    b64 = EX["dicom_binary"]()["data"]
    direct = gateway.post("/infer", json={"input": b64, "model": "image_quality"})
    assert direct.status_code == 200, direct.text
    expected = {o["name"]: o["data"] for o in direct.json()["outputs"]}
    for doc in (EX["dicom_binary"](), EX["imaging_bundle"]()):
        obs = _observation(_post(gateway, doc, params={"model": "image_quality"}))
        comps = _components(obs)
        assert _sampled(comps["probabilities"]) == pytest.approx(expected["probabilities"], rel=1e-5, abs=1e-6)
        assert comps["class_index"]["valueCodeableConcept"]["text"] in ("ok", "blank", "truncated", "wrong_window",
                                                                         "corrupted")
    obs = _observation(_post(gateway, EX["imaging_bundle"](), params={"model": "image_quality"}))
    assert obs["derivedFrom"] == [{"reference": "urn:uuid:10000000-0000-4000-8000-000000000001",
                                   "type": "ImagingStudy"}]


def test_imaging_study_must_hold_the_attached_instance(gateway: GatewayClient) -> None:
    doc = EX["imaging_bundle"]()
    doc["entry"][0]["resource"]["series"][0]["instance"][0]["uid"] = "1.2.3.4"
    _outcome(_post(gateway, doc), 422, "instance-mismatch")
    bare = copy.deepcopy(doc["entry"][0]["resource"])
    _outcome(_post(gateway, bare), 422, "missing-instance")


def test_patient_reference_never_reaches_logs_or_audit(stack: Stack, gateway: GatewayClient) -> None:
    canary = "Patient/CANARY-MRN-55821"
    subject = {"reference": canary}
    ok = _post(gateway, _bundle(0, subject))
    assert ok.status_code == 200 and canary in ok.text  # the caller's own answer carries it
    bad = _bundle(0, subject)
    del bad["entry"][2]
    errors = [_post(gateway, bad), _post(gateway, {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": canary}, "subject": subject}}]}),
        _post(gateway, EX["note_document"](f"Seen for {canary}.", subject))]
    for r in errors:
        assert r.status_code in (422, 200) and r.headers["content-type"] == "application/fhir+json"
        if r.status_code != 200:
            assert canary not in r.text
    log_text = "".join(p.read_text(errors="replace") for p in (stack.home / "logs").glob("*.log"))
    con = sqlite3.connect(stack.home / "medinfer.db")
    try:
        rows = con.execute("SELECT * FROM audit_ledger").fetchall()
        fhir_rows = con.execute("SELECT patient_digest FROM audit_ledger WHERE request_id = ?",
                                (ok.headers["x-request-id"],)).fetchall()
    finally:
        con.close()
    audit_text = json.dumps(rows, default=str)
    for needle in (canary, "CANARY-MRN-55821"):
        assert needle.lower() not in log_text.lower()
        assert needle.lower() not in audit_text.lower()
    key = AuditKey.from_file(ensure_dev_keys(stack.home).audit_key_file)
    assert fhir_rows == [(key.patient_digest(canary),)]  # found by accounting of disclosures, by digest


def test_capability_statement_is_public_and_valid(gateway: GatewayClient) -> None:
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    r = gateway.session.get(gateway.url("/fhir/r4/metadata"), timeout=30)  # no Authorization header
    assert r.status_code == 200 and r.headers["content-type"] == "application/fhir+json"
    doc = r.json()
    CapabilityStatement.model_validate(doc)
    assert doc["fhirVersion"] == "4.0.1" and doc["kind"] == "instance"
    (rest,) = doc["rest"]
    assert rest["mode"] == "server" and [op["name"] for op in rest["operation"]] == ["infer"]
    assert rest["security"]["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    assert "breast_cancer" not in r.text  # no model list for anonymous callers
    assert r.headers["cache-control"] == "no-store"
