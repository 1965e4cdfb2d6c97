"""Text and image inputs through the gateway: de-identification first (fail-closed), then real Triton models."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
import requests
import tritonclient.http as httpclient
from PIL import Image
from pydicom.data import get_testdata_file

from medinfer.stack import Stack
from tests.support.services import run_service
from tests.support.stack import GatewayClient, dev_auth_header

pytestmark = pytest.mark.e2e

CANARIES = {
    "name": "Zebulon Quixote-Farnsworth",
    "mrn": "MRN 48213377",
    "phone": "(617) 555-0199",
    "date": "03/14/2024",
    "ssn": "123-45-6789",
    "email": "zq.farnsworth@example.org",
}
NOTE = (f"Patient {CANARIES['name']} ({CANARIES['mrn']}) seen on {CANARIES['date']} for chest pain. "
        f"Phone {CANARIES['phone']}, SSN {CANARIES['ssn']}, email {CANARIES['email']}. "
        "Troponin negative, ECG without ischemic changes; discharged on aspirin.")
PATIENT_KEY = "patient-key-for-tests"


def _embed_direct(stack: Stack, text: str) -> np.ndarray:
    client = httpclient.InferenceServerClient(f"127.0.0.1:{stack.ports.triton.http}")
    inp = httpclient.InferInput("TEXT", [1, 1], "BYTES")
    inp.set_data_from_numpy(np.array([[text.encode()]], dtype=np.object_))
    out = client.infer("note_embedding", [inp]).as_numpy("EMBEDDING")
    client.close()
    return out


def test_note_is_deidentified_before_the_embedding_model_sees_it(stack: Stack, gateway: GatewayClient) -> None:
    r = gateway.post("/infer", json={"input": NOTE, "model": "note_embedding"}, headers={"X-Patient-Key": PATIENT_KEY})
    assert r.status_code == 200, r.text
    body = r.json()
    (out,) = body["outputs"]
    assert out["name"] == "EMBEDDING" and out["shape"] == [1, 384]
    served = np.array(out["data"], dtype=np.float32).reshape(1, 384)
    assert body["phi_removed"].get("NAME", 0) >= 1 and body["phi_removed"].get("SSN", 0) == 1
    # What the model saw: the preprocessor's surrogate text for this patient (deterministic with the key).
    deid = requests.post(stack.preprocessor_url + "/v1/deidentify", timeout=30,
                         json={"text": NOTE, "operator": "surrogate", "patient_key": PATIENT_KEY}).json()["text"]
    for canary in CANARIES.values():
        assert canary not in deid
    np.testing.assert_allclose(served, _embed_direct(stack, deid), atol=1e-5)
    assert np.abs(served - _embed_direct(stack, NOTE)).max() > 1e-3


def test_ner_model_through_the_text_route(gateway: GatewayClient) -> None:
    r = gateway.post("/infer", json={"input": "Seen at Massachusetts General Hospital by the cardiology team.",
                                     "model": "ner"})
    assert r.status_code == 200, r.text
    (out,) = r.json()["outputs"]
    assert out["name"] == "ENTITIES"
    spans = json.loads(out["data"][0])
    assert all({"start", "end", "label"} <= s.keys() for s in spans)


def test_text_route_fails_closed_without_the_preprocessor(stack: Stack, tmp_path: Path) -> None:
    def count() -> int:
        stats = requests.get(f"{stack.triton_url}/v2/models/note_embedding/stats", timeout=5).json()
        return sum(int(m["inference_stats"]["success"]["count"]) for m in stats["model_stats"])

    from tests.support.ports import free_port

    env = {"MEDINFER_HOME": str(stack.home), "MEDINFER_GATEWAY_INSECURE_HTTP": "true",
           "MEDINFER_GATEWAY_PREPROCESSOR_URL": f"http://127.0.0.1:{free_port()}",
           "MEDINFER_GATEWAY_TRITON_URL": stack.triton_url, "MEDINFER_GATEWAY_GRPC_PORT": "0",
           "MEDINFER_GATEWAY_REGISTRY_ROUTING": "false"}
    before = count()
    with run_service("medinfer.gateway", "MEDINFER_GATEWAY_", env, tmp_path / "gw.log") as gw:
        r = requests.post(gw.url + "/infer", json={"input": NOTE, "model": "note_embedding"},
                          headers=dev_auth_header(stack.home), timeout=30)
        log = gw.log()
    assert r.status_code == 503 and r.json()["code"] == "deidentification-unavailable"
    assert int(r.headers["retry-after"]) >= 1
    assert count() == before, "raw text reached Triton"
    for canary in CANARIES.values():
        assert canary not in r.text and canary not in log


def _dicom_b64() -> str:
    return base64.b64encode(Path(get_testdata_file("CT_small.dcm")).read_bytes()).decode()


def test_dicom_and_png_reach_the_imaging_model(gateway: GatewayClient) -> None:
    r = gateway.post("/infer", json={"input": _dicom_b64()})
    assert r.status_code == 200, r.text
    probs = next(o for o in r.json()["outputs"] if o["name"] == "probabilities")
    assert probs["shape"] == [1, 5] and sum(probs["data"]) == pytest.approx(1.0, abs=1e-4)
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((128, 128)) * 255).astype(np.uint8)).save(buf, format="PNG")
    r = gateway.post("/infer", files={"file": ("scan.bin", buf.getvalue(), "application/octet-stream")},
                     data={"model": "image_quality"})
    assert r.status_code == 200, r.text
    assert r.json()["model"] == "image_quality"


def test_burned_in_annotation_is_refused(gateway: GatewayClient) -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.BurnedInAnnotation = "YES"
    buf = io.BytesIO()
    ds.save_as(buf)
    r = gateway.post("/infer", json={"input": base64.b64encode(buf.getvalue()).decode()})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"


def test_text_to_an_image_model_names_the_expected_kind(gateway: GatewayClient) -> None:
    r = gateway.post("/infer", json={"input": "just a note", "model": "image_quality"})
    assert r.status_code == 422 and r.json()["expected_kind"] == "image"


def test_canary_phi_appears_nowhere_but_the_callers_response(stack: Stack, gateway: GatewayClient) -> None:
    r = gateway.post("/infer", json={"input": NOTE, "model": "ner"}, headers={"X-Patient-Key": PATIENT_KEY})
    assert r.status_code == 200, r.text
    bad = gateway.post("/infer", json={"input": NOTE, "model": "breast_cancer"})
    assert bad.status_code == 422
    metrics = gateway.metrics() + requests.get(f"http://127.0.0.1:{stack.ports.triton.metrics}/metrics",
                                                          timeout=5).text
    places = {"error body": bad.text, "metrics": metrics}
    for log in (stack.home / "logs").glob("*.log"):
        places[log.name] = log.read_text(errors="replace")
    for db in stack.home.glob("*.db*"):
        places[db.name] = db.read_bytes().decode("latin-1")
    for where, text in places.items():
        for kind, canary in CANARIES.items():
            assert canary not in text, f"{kind} canary found in {where}"
