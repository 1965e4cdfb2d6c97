"""Gateway -> (preprocessor) -> tritonserver, all real processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from medinfer.stack import Stack
from tests.support.services import run_service
from tests.support.stack import GatewayClient, dev_auth_header

pytestmark = pytest.mark.e2e


def _records(stack: Stack) -> tuple[list[str], np.ndarray]:
    import runpy

    train = runpy.run_path(str(Path(__file__).resolve().parents[2] / "models" / "breast_cancer" / "train.py"))
    X_test = train["load_split"]()[1]
    return train["feature_names"](), X_test[:8]


def _ort(stack: Stack, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(stack.home / "models" / "breast_cancer" / "1" / "model.onnx"))
    return sess.run(None, {"features": x.astype(np.float32)})[0]


def test_named_record_returns_the_onnxruntime_probability(stack: Stack, gateway: GatewayClient) -> None:
    names, X = _records(stack)
    expected = _ort(stack, X)
    for i in range(len(X)):
        r = gateway.post("/infer", json={"model": "breast_cancer", "input": dict(zip(names, X[i].tolist()))})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model"] == "breast_cancer" and body["version"] == "1"
        assert body["request_id"] == r.headers["x-request-id"]
        (out,) = body["outputs"]
        assert out["name"] == "probability" and out["shape"] == [1, 1]
        assert out["data"][0] == pytest.approx(float(expected[i, 0]), rel=1e-6, abs=1e-7)


def test_list_batch_and_tensor_inputs_route_to_the_default_tabular_model(stack: Stack, gateway: GatewayClient) -> None:
    _, X = _records(stack)
    expected = _ort(stack, X)
    r = gateway.post("/infer", json={"input": X.tolist()})
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == pytest.approx(expected.ravel().tolist(), rel=1e-6, abs=1e-7)
    r = gateway.post("/infer", json={"input": {"datatype": "FP32", "shape": [2, 30], "data": X[:2].ravel().tolist()}})
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["shape"] == [2, 1]


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"input": [1.0] * 29}, 422, "wrong-feature-count"),
        ({"model": "nope", "input": [1.0] * 30}, 404, "model-not-found"),
        ({"input": ["1.0"] + [10.0] * 29}, 422, "not-a-number"),
        ({"input": [1e6] * 30}, 422, "out-of-range"),
        ({"inputs": [1.0] * 30}, 422, "validation-failed"),
        ({"input": "Patient John Smith MRN 12345678 seen today.", "model": "breast_cancer"}, 422, "wrong-input-kind"),
    ],
)
def test_bad_input_is_a_4xx_problem_that_echoes_nothing(gateway: GatewayClient, payload, status, code) -> None:
    r = gateway.post("/infer", json=payload)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    doc = r.json()
    assert doc["code"] == code and doc["status"] == status and doc["instance"] == r.headers["x-request-id"]
    assert "John" not in r.text and "12345678" not in r.text


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b'{"input": [NaN]}', 400, "malformed-json"),
        (b'{"input": [1e999]}', 400, "malformed-json"),
        (b'{"input": ', 400, "malformed-json"),
        (b"", 400, "malformed-json"),
    ],
)
def test_malformed_json(gateway: GatewayClient, data: bytes, status: int, code: str) -> None:
    r = gateway.post("/infer", data=data, headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["code"]) == (status, code)


def test_body_over_the_limit_is_413(gateway: GatewayClient) -> None:
    r = gateway.post("/infer", data=b"0" * (16 * 1024 * 1024 + 10), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "payload-too-large"


def test_health_endpoints(gateway: GatewayClient) -> None:
    assert gateway.get("/healthz").json() == {"status": "ok"}
    assert gateway.get("/readyz").status_code == 200


def test_tabular_through_the_preprocessor_service(stack: Stack, tmp_path: Path) -> None:
    """The same route with MEDINFER_GATEWAY_TABULAR_NORMALIZER=preprocessor crosses the preprocessor hop."""
    names, X = _records(stack)
    env = {
        "MEDINFER_HOME": str(stack.home), "MEDINFER_GATEWAY_INSECURE_HTTP": "true",
        "MEDINFER_GATEWAY_PREPROCESSOR_URL": stack.preprocessor_url, "MEDINFER_GATEWAY_TRITON_URL": stack.triton_url,
        "MEDINFER_GATEWAY_TABULAR_NORMALIZER": "preprocessor",
    }
    import requests

    with run_service("medinfer.gateway", "MEDINFER_GATEWAY_", env, tmp_path / "gw.log") as gw:
        auth = dev_auth_header(stack.home)
        r = requests.post(gw.url + "/infer", json={"input": dict(zip(names, X[0].tolist()))}, headers=auth,
                          timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["outputs"][0]["data"][0] == pytest.approx(float(_ort(stack, X[:1])[0, 0]), rel=1e-6)
        bad = requests.post(gw.url + "/infer", json={"input": [1.0] * 29}, headers=auth, timeout=10)
        assert bad.status_code == 422 and bad.json()["code"] == "wrong-feature-count"
        log = gw.log()
    assert "serving plain HTTP" in log


def test_backends_down_give_503_with_retry_after(stack: Stack, tmp_path: Path) -> None:
    from tests.support.ports import free_port
    import requests

    dead = f"http://127.0.0.1:{free_port()}"
    env = {"MEDINFER_HOME": str(stack.home), "MEDINFER_GATEWAY_INSECURE_HTTP": "true",
           "MEDINFER_GATEWAY_PREPROCESSOR_URL": dead, "MEDINFER_GATEWAY_TRITON_URL": dead}
    with run_service("medinfer.gateway", "MEDINFER_GATEWAY_", env, tmp_path / "gw.log") as gw:
        ready = requests.get(gw.url + "/readyz", timeout=10)
        assert ready.status_code == 503 and ready.headers["retry-after"]
        names, X = _records(stack)
        r = requests.post(gw.url + "/infer", json={"input": X[0].tolist()}, headers=dev_auth_header(stack.home),
                          timeout=10)
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1
        assert r.headers["content-type"] == "application/problem+json"
        assert "Traceback" not in r.text
