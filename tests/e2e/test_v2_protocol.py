"""tritonclient.http through the gateway (TLS), unchanged: the Open Inference Protocol on /v2."""

from __future__ import annotations

import ssl

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from medinfer.stack import Stack
from tests.support.stack import dev_auth_header

pytestmark = pytest.mark.e2e


def _client(stack: Stack) -> httpclient.InferenceServerClient:
    ca = str(stack.home / "tls" / "ca.pem")
    return httpclient.InferenceServerClient(
        f"127.0.0.1:{stack.ports.gateway}", ssl=True,
        ssl_context_factory=lambda: ssl.create_default_context(cafile=ca),
    )


def _auth(stack: Stack, scope: str = "infer models:read") -> dict[str, str]:
    return dev_auth_header(stack.home, scope)


def _expected(stack: Stack, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(stack.home / "models" / "breast_cancer" / "1" / "model.onnx"))
    return sess.run(None, {"features": x})[0]


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_http_infers_through_the_gateway(stack: Stack, binary: bool) -> None:
    client = _client(stack)
    h = _auth(stack)
    assert client.is_server_live(headers=h) and client.is_server_ready(headers=h)
    assert client.is_model_ready("breast_cancer", headers=h)
    meta = client.get_model_metadata("breast_cancer", headers=h)
    assert meta["inputs"][0]["name"] == "features"
    config = client.get_model_config("breast_cancer", headers=h)
    assert config["max_batch_size"] == 64
    x = np.random.default_rng(1).uniform(0.05, 20, size=(4, 30)).astype(np.float32)
    inp = httpclient.InferInput("features", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    out = httpclient.InferRequestedOutput("probability", binary_data=binary)
    result = client.infer("breast_cancer", [inp], outputs=[out], model_version="1", headers=h)
    np.testing.assert_allclose(result.as_numpy("probability"), _expected(stack, x), rtol=1e-6)
    client.close()


def test_unknown_model_is_an_error_tritonclient_understands(stack: Stack) -> None:
    client = _client(stack)
    with pytest.raises(InferenceServerException) as info:
        client.get_model_metadata("no_such_model", headers=_auth(stack))
    assert "unknown model" in str(info.value)
    client.close()


def test_tritonclient_http_needs_a_token_with_the_right_scope(stack: Stack) -> None:
    client = _client(stack)
    x = np.ones((1, 30), dtype=np.float32)
    inp = httpclient.InferInput("features", [1, 30], "FP32")
    inp.set_data_from_numpy(x)
    with pytest.raises(InferenceServerException) as info:
        client.infer("breast_cancer", [inp])
    assert info.value.status() == "401"
    with pytest.raises(InferenceServerException) as info:
        client.infer("breast_cancer", [inp], headers=_auth(stack, "models:read"))
    assert info.value.status() == "403"
    with pytest.raises(InferenceServerException) as info:
        client.infer("breast_cancer", [inp], headers=_auth(stack, "infer:other_model"))
    assert info.value.status() == "403"
    client.close()


def test_server_metadata(stack: Stack) -> None:
    client = _client(stack)
    meta = client.get_server_metadata(headers=_auth(stack))
    assert meta["name"] == "medinfer" and "binary_tensor_data" in meta["extensions"]
    client.close()


def _grpc_client(stack: Stack):
    import tritonclient.grpc as grpcclient

    ca = (stack.home / "tls" / "ca.pem").read_bytes()
    return grpcclient.InferenceServerClient(f"127.0.0.1:{stack.ports.gateway_grpc}", ssl=True,
                                            root_certificates=str(stack.home / "tls" / "ca.pem")), ca


def test_tritonclient_grpc_infers_through_the_gateway(stack: Stack) -> None:
    import tritonclient.grpc as grpcclient

    client, _ = _grpc_client(stack)
    h = {"authorization": _auth(stack)["Authorization"]}
    assert client.is_server_live(headers=h) and client.is_server_ready(headers=h)
    assert client.is_model_ready("breast_cancer", headers=h)
    assert client.get_model_metadata("breast_cancer", headers=h).inputs[0].name == "features"
    x = np.random.default_rng(2).uniform(0.05, 20, size=(3, 30)).astype(np.float32)
    inp = grpcclient.InferInput("features", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    result = client.infer("breast_cancer", [inp], client_timeout=10, headers=h)
    np.testing.assert_allclose(result.as_numpy("probability"), _expected(stack, x), rtol=1e-6)
    with pytest.raises(InferenceServerException) as info:
        client.get_model_metadata("no_such_model", headers=h)
    assert "NOT_FOUND" in str(info.value.status())
    with pytest.raises(InferenceServerException) as info:
        client.infer("breast_cancer", [inp], client_timeout=10)
    assert "UNAUTHENTICATED" in str(info.value.status())
    with pytest.raises(InferenceServerException) as info:
        client.infer("breast_cancer", [inp], client_timeout=10,
                     headers={"authorization": _auth(stack, "models:read")["Authorization"]})
    assert "PERMISSION_DENIED" in str(info.value.status())
    client.close()
