"""The OOD gate on the Open Inference Protocol routes (tritonclient.http and tritonclient.grpc through the
gateway) and the OOD reason code in the audit ledger, for /infer, /v2 and gRPC, flag and reject."""

from __future__ import annotations

import runpy
import sqlite3
import ssl
import uuid
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import requests
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from medinfer.audit import AuditKey, AuditStore, sqlite_url, verify_ledger
from medinfer.security.devkeys import ensure_dev_keys
from medinfer.stack import Stack
from tests.support.ports import free_port
from tests.support.services import run_service
from tests.support.stack import GatewayClient, dev_auth_header

pytestmark = pytest.mark.e2e

TRAIN = Path(__file__).resolve().parents[2] / "models" / "breast_cancer" / "train.py"
GRPC_ROUTE = "/inference.GRPCInferenceService/ModelInfer"


@pytest.fixture(scope="module")
def data() -> tuple[list[str], np.ndarray]:
    train = runpy.run_path(str(TRAIN))
    return train["feature_names"](), np.asarray(train["load_split"]()[1], dtype=np.float32)


def _swapped(names: list[str], rows: np.ndarray) -> np.ndarray:
    """'mean_radius' in cm instead of mm: plausible, but outside the training support."""
    out = rows.copy()
    out[:, names.index("mean_radius")] /= 10.0
    return out


def _expected(stack: Stack, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(stack.home / "models" / "breast_cancer" / "1" / "model.onnx"))
    return sess.run(None, {"features": x})[0]


def _audit(stack: Stack, request_id: str) -> tuple[str, int, str | None]:
    con = sqlite3.connect(stack.home / "medinfer.db")
    try:
        rows = con.execute("SELECT route, status, ood_reason FROM audit_ledger WHERE request_id = ?",
                           (request_id,)).fetchall()
    finally:
        con.close()
    assert len(rows) == 1, rows
    return rows[0]


def _triton_successes(stack: Stack) -> int:
    stats = requests.get(f"{stack.triton_url}/v2/models/breast_cancer/stats", timeout=5).json()
    return sum(int(m["inference_stats"]["success"]["count"]) for m in stats["model_stats"])


def _http_infer(client, x: np.ndarray, binary: bool, headers: dict[str, str]):
    inp = httpclient.InferInput("features", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    out = httpclient.InferRequestedOutput("probability", binary_data=binary)
    return client.infer("breast_cancer", [inp], outputs=[out], headers=headers)


def _grpc_infer(client, x: np.ndarray, metadata: dict[str, str]):
    inp = grpcclient.InferInput("features", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    return client.infer("breast_cancer", [inp], client_timeout=10, headers=metadata)


def test_infer_route_records_the_flag_reason_in_the_audit_row(stack: Stack, gateway: GatewayClient, data) -> None:
    names, rows = data
    rid_ok, rid_bad = str(uuid.uuid4()), str(uuid.uuid4())
    ok = gateway.post("/infer", json={"input": dict(zip(names, rows[0].tolist()))}, headers={"X-Request-ID": rid_ok})
    bad = gateway.post("/infer", json={"input": dict(zip(names, _swapped(names, rows[1:2])[0].tolist()))},
                       headers={"X-Request-ID": rid_bad})
    assert ok.status_code == 200 and ok.json()["ood"] is False
    assert bad.status_code == 200 and bad.json()["ood_reason"] == "out-of-support"
    assert _audit(stack, rid_ok) == ("/infer", 200, None)
    assert _audit(stack, rid_bad) == ("/infer", 200, "out-of-support")
    key = AuditKey.from_file(ensure_dev_keys(stack.home).audit_key_file)
    store = AuditStore(sqlite_url(stack.home / "medinfer.db"))
    try:
        res = verify_ledger(store, [key])
    finally:
        store.dispose()
    assert res.ok and res.ood_reasons.get("out-of-support", 0) >= 1


@pytest.mark.parametrize("binary", [True, False])
def test_v2_http_flags_in_response_parameters(stack: Stack, data, binary: bool) -> None:
    names, rows = data
    ca = str(stack.home / "tls" / "ca.pem")
    client = httpclient.InferenceServerClient(f"127.0.0.1:{stack.ports.gateway}", ssl=True,
                                              ssl_context_factory=lambda: ssl.create_default_context(cafile=ca))
    auth = dev_auth_header(stack.home)
    x_ok = rows[:3]
    rid = str(uuid.uuid4())
    result = _http_infer(client, x_ok, binary, {**auth, "X-Request-ID": rid})
    np.testing.assert_allclose(result.as_numpy("probability"), _expected(stack, x_ok), rtol=1e-6)
    assert "ood" not in (result.get_response().get("parameters") or {})
    assert _audit(stack, rid)[2] is None

    x_mixed = np.concatenate([rows[3:4], _swapped(names, rows[4:6])])
    rid = str(uuid.uuid4())
    result = _http_infer(client, x_mixed, binary, {**auth, "X-Request-ID": rid})
    np.testing.assert_allclose(result.as_numpy("probability"), _expected(stack, x_mixed), rtol=1e-6)
    assert result.get_response()["parameters"] == {"ood": True, "ood_reason": "out-of-support", "ood_rows": "1,2"}
    assert _audit(stack, rid) == ("/v2/models/{name}/infer", 200, "out-of-support")
    client.close()


def test_v2_grpc_flags_in_response_parameters(stack: Stack, data) -> None:
    names, rows = data
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{stack.ports.gateway_grpc}", ssl=True,
                                              root_certificates=str(stack.home / "tls" / "ca.pem"))
    meta = {"authorization": dev_auth_header(stack.home)["Authorization"]}
    rid = str(uuid.uuid4())
    result = _grpc_infer(client, rows[6:8], {**meta, "x-request-id": rid})
    np.testing.assert_allclose(result.as_numpy("probability"), _expected(stack, rows[6:8]), rtol=1e-6)
    assert "ood" not in result.get_response().parameters
    assert _audit(stack, rid) == (GRPC_ROUTE, 200, None)

    x = _swapped(names, rows[8:9])
    rid = str(uuid.uuid4())
    result = _grpc_infer(client, x, {**meta, "x-request-id": rid})
    np.testing.assert_allclose(result.as_numpy("probability"), _expected(stack, x), rtol=1e-6)
    params = result.get_response().parameters
    assert params["ood"].bool_param is True and params["ood_reason"].string_param == "out-of-support"
    assert params["ood_rows"].string_param == "0"
    assert _audit(stack, rid) == (GRPC_ROUTE, 200, "out-of-support")
    client.close()


def test_reject_policy_on_v2_http_and_grpc(stack: Stack, data, tmp_path: Path) -> None:
    names, rows = data
    grpc_port = free_port()
    env = {
        "MEDINFER_HOME": str(stack.home), "MEDINFER_GATEWAY_INSECURE_HTTP": "true",
        "MEDINFER_GATEWAY_PREPROCESSOR_URL": stack.preprocessor_url, "MEDINFER_GATEWAY_TRITON_URL": stack.triton_url,
        "MEDINFER_GATEWAY_TRITON_GRPC_TARGET": f"127.0.0.1:{stack.ports.triton.grpc}",
        "MEDINFER_GATEWAY_GRPC_PORT": str(grpc_port),
        "MEDINFER_GATEWAY_OOD_POLICIES": '{"breast_cancer": "reject"}',
    }
    auth = dev_auth_header(stack.home)
    bad = _swapped(names, rows[10:12])
    with run_service("medinfer.gateway", "MEDINFER_GATEWAY_", env, tmp_path / "gw.log") as gw:
        before = _triton_successes(stack)
        # REST v2: a 422 problem with the reason code and no values, before anything reaches Triton.
        rid = str(uuid.uuid4())
        doc = {"inputs": [{"name": "features", "datatype": "FP32", "shape": list(bad.shape),
                           "data": bad.ravel().tolist()}]}
        r = requests.post(gw.url + "/v2/models/breast_cancer/infer", json=doc,
                          headers={**auth, "X-Request-ID": rid}, timeout=10)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "ood-rejected" and r.json()["reason"] == "out-of-support"
        assert f"{bad[0, names.index('mean_radius')]:.4g}" not in r.text
        assert _audit(stack, rid) == ("/v2/models/{name}/infer", 422, "out-of-support")
        client = httpclient.InferenceServerClient(gw.url.removeprefix("http://"))
        with pytest.raises(InferenceServerException) as info:
            _http_infer(client, bad, True, auth)
        assert info.value.status() == "422"
        ok = _http_infer(client, rows[12:14], True, auth)  # in distribution: served
        np.testing.assert_allclose(ok.as_numpy("probability"), _expected(stack, rows[12:14]), rtol=1e-6)
        client.close()

        # gRPC: INVALID_ARGUMENT naming the reason code.
        gclient = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc_port}")
        meta = {"authorization": auth["Authorization"]}
        rid = str(uuid.uuid4())
        with pytest.raises(InferenceServerException) as info:
            _grpc_infer(gclient, bad, {**meta, "x-request-id": rid})
        assert "INVALID_ARGUMENT" in str(info.value.status()) and "out-of-support" in info.value.message()
        assert _audit(stack, rid) == (GRPC_ROUTE, 422, "out-of-support")
        ok = _grpc_infer(gclient, rows[14:15], meta)
        np.testing.assert_allclose(ok.as_numpy("probability"), _expected(stack, rows[14:15]), rtol=1e-6)
        gclient.close()
        assert _triton_successes(stack) == before + 2, "a rejected input reached Triton"


def test_rollout_reads_drift_signals_from_the_gateway_metrics(stack: Stack, gateway: GatewayClient, data) -> None:
    """What ``medinfer models rollout --max-ood-share`` sees remotely: the gateway's /metrics (operations port)."""
    from medinfer.registry.drift_gate import MetricsDriftSource
    from medinfer.registry.rollout import HTTPMetricsSource

    names, rows = data
    for i in range(3):
        r = gateway.post("/infer", json={"input": dict(zip(names, _swapped(names, rows[20 + i:21 + i])[0].tolist()))})
        assert r.status_code == 200 and r.json()["ood"] is True
    assert gateway.get("/admin/models/breast_cancer/drift").status_code == 200  # evaluates: publishes "checked"
    token = gateway.session.headers["Authorization"].split(" ", 1)[1]
    source = HTTPMetricsSource(gateway.metrics_url, token, ca_file=str(stack.home / "tls" / "ca.pem"))
    signals = MetricsDriftSource(source).signals("breast_cancer", 1)
    assert signals is not None and signals.checked >= 3 and 0 < signals.ood_share <= 1
    assert MetricsDriftSource(source).signals("breast_cancer", 99) is None
