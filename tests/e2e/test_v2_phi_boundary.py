"""No protocol skips de-identification (issue 17): PHI canaries sent as BYTES over REST JSON, REST binary, gRPC
(raw stub, typed and raw contents, and tritonclient), FHIR and a multipart text upload reach Triton only
de-identified. Proof: the embedding served equals Triton's own embedding of the preprocessor's de-identified
text (same patient key, so the same surrogates), differs from the raw note's, and Triton ran exactly one
inference per request. Image models are refused on /v2 and gRPC (docs/protocols.md), and shapes that crash
Triton are refused before they reach it.
"""

from __future__ import annotations

import ssl

import grpc
import numpy as np
import pytest
import requests
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

from medinfer.common.v2 import HEADER_LENGTH
from medinfer.stack import Stack
from tests.support.ports import free_port
from tests.support.services import run_service
from tests.support.stack import GatewayClient, dev_auth_header

pytestmark = pytest.mark.e2e

CANARIES = ("Zebulon Quixote-Farnsworth", "MRN 48213377", "123-45-6789", "(617) 555-0199")
NOTES = [
    "Patient Zebulon Quixote-Farnsworth (MRN 48213377), SSN 123-45-6789, seen for chest pain; troponin negative.",
    "Patient Zebulon Quixote-Farnsworth (MRN 48213377) seen for a biopsy. Phone (617) 555-0199; margins clear.",
]
KEY = "Patient/phi-boundary-1"


def _deid(stack: Stack, text: str, key: str = KEY) -> str:
    r = requests.post(stack.preprocessor_url + "/v1/deidentify", timeout=30,
                      json={"text": text, "operator": "surrogate", "patient_key": key})
    r.raise_for_status()
    clean = r.json()["text"]
    assert not any(c in clean for c in CANARIES)
    return clean


def _direct_embedding(stack: Stack, texts: list[str]) -> np.ndarray:
    client = httpclient.InferenceServerClient(f"127.0.0.1:{stack.ports.triton.http}")
    inp = httpclient.InferInput("TEXT", [len(texts), 1], "BYTES")
    inp.set_data_from_numpy(np.array([[t.encode()] for t in texts], dtype=np.object_))
    out = client.infer("note_embedding", [inp]).as_numpy("EMBEDDING")
    client.close()
    return out


def _count(stack: Stack, model: str) -> int:
    stats = requests.get(f"{stack.triton_url}/v2/models/{model}/stats", timeout=5).json()
    return sum(int(m["inference_stats"]["success"]["count"]) + int(m["inference_stats"]["fail"]["count"])
               for m in stats["model_stats"])


@pytest.fixture(scope="module")
def expected(stack: Stack) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings of the de-identified notes, embeddings of the raw notes), straight from Triton."""
    return (_direct_embedding(stack, [_deid(stack, n) for n in NOTES]), _direct_embedding(stack, NOTES))


def _assert_deidentified(served: np.ndarray, expected: tuple[np.ndarray, np.ndarray], rows: int) -> None:
    clean, raw = expected
    np.testing.assert_allclose(served, clean[:rows], atol=1e-5)
    assert np.abs(served - raw[:rows]).max() > 1e-3, "Triton embedded the raw note"


def _grpc_stub(stack: Stack):
    creds = grpc.ssl_channel_credentials((stack.home / "tls" / "ca.pem").read_bytes())
    channel = grpc.secure_channel(f"127.0.0.1:{stack.ports.gateway_grpc}", creds)
    return channel, pb_grpc.GRPCInferenceServiceStub(channel)


def _metadata(stack: Stack) -> list[tuple[str, str]]:
    return [("authorization", dev_auth_header(stack.home)["Authorization"]), ("x-patient-key", KEY)]


def _wire(texts: list[str]) -> bytes:
    return b"".join(len(t.encode()).to_bytes(4, "little") + t.encode() for t in texts)


@pytest.mark.parametrize("rows", [1, 2])
def test_rest_json_bytes_are_deidentified(stack: Stack, gateway: GatewayClient, expected, rows: int) -> None:
    before = _count(stack, "note_embedding")
    body = {"inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [rows, 1], "data": NOTES[:rows]}]}
    r = gateway.post("/v2/models/note_embedding/infer", json=body, headers={"X-Patient-Key": KEY})
    assert r.status_code == 200, r.text
    assert not any(c in r.text for c in CANARIES)
    (out,) = r.json()["outputs"]
    _assert_deidentified(np.array(out["data"], np.float32).reshape(rows, 384), expected, rows)
    assert _count(stack, "note_embedding") == before + 1


def test_rest_binary_bytes_are_deidentified(stack: Stack, expected) -> None:
    ca = str(stack.home / "tls" / "ca.pem")
    client = httpclient.InferenceServerClient(f"127.0.0.1:{stack.ports.gateway}", ssl=True,
                                              ssl_context_factory=lambda: ssl.create_default_context(cafile=ca))
    before = _count(stack, "note_embedding")
    inp = httpclient.InferInput("TEXT", [2, 1], "BYTES")
    inp.set_data_from_numpy(np.array([[n.encode()] for n in NOTES], dtype=np.object_), binary_data=True)
    out = httpclient.InferRequestedOutput("EMBEDDING", binary_data=True)
    headers = {**dev_auth_header(stack.home), "X-Patient-Key": KEY}
    result = client.infer("note_embedding", [inp], outputs=[out], headers=headers)
    _assert_deidentified(result.as_numpy("EMBEDDING"), expected, 2)
    # gzip-encoded (tritonclient's request_compression_algorithm): decoded, then the same pipeline
    result = client.infer("note_embedding", [inp], outputs=[out], headers=headers,
                          request_compression_algorithm="gzip")
    _assert_deidentified(result.as_numpy("EMBEDDING"), expected, 2)
    assert _count(stack, "note_embedding") == before + 2
    client.close()


@pytest.mark.parametrize("form", ["raw", "typed"])
def test_grpc_stub_bytes_are_deidentified(stack: Stack, expected, form: str) -> None:
    channel, stub = _grpc_stub(stack)
    before = _count(stack, "note_embedding")
    req = pb.ModelInferRequest(model_name="note_embedding", id="not found")
    t = req.inputs.add(name="TEXT", datatype="BYTES", shape=[2, 1])
    if form == "raw":
        req.raw_input_contents.append(_wire(NOTES))
    else:
        t.contents.bytes_contents.extend(n.encode() for n in NOTES)
    resp = stub.ModelInfer(req, metadata=_metadata(stack), timeout=60)
    served = np.frombuffer(resp.raw_output_contents[0], dtype=np.float32).reshape(2, 384)
    _assert_deidentified(served, expected, 2)
    assert _count(stack, "note_embedding") == before + 1
    channel.close()


def test_tritonclient_grpc_bytes_are_deidentified(stack: Stack, expected) -> None:
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{stack.ports.gateway_grpc}", ssl=True,
                                              root_certificates=str(stack.home / "tls" / "ca.pem"))
    inp = grpcclient.InferInput("TEXT", [1, 1], "BYTES")
    inp.set_data_from_numpy(np.array([[NOTES[0].encode()]], dtype=np.object_))
    headers = {"authorization": dev_auth_header(stack.home)["Authorization"], "x-patient-key": KEY}
    for compression in (None, "gzip"):
        result = client.infer("note_embedding", [inp], headers=headers, client_timeout=60,
                              compression_algorithm=compression)
        _assert_deidentified(result.as_numpy("EMBEDDING"), expected, 1)
    client.close()


def test_fhir_and_multipart_notes_are_deidentified(stack: Stack, gateway: GatewayClient, expected) -> None:
    import base64

    before = _count(stack, "note_embedding")
    binary = {"resourceType": "Binary", "contentType": "text/plain", "securityContext": {"reference": KEY},
              "data": base64.b64encode(NOTES[0].encode()).decode()}
    r = gateway.post("/fhir/r4/$infer", params={"model": "note_embedding"}, json=binary,
                     headers={"Content-Type": "application/fhir+json"})
    assert r.status_code == 200, r.text
    assert not any(c in r.text for c in CANARIES)
    r = gateway.post("/infer", files={"file": ("note.txt", NOTES[0].encode(), "text/plain")},
                     data={"model": "note_embedding"}, headers={"X-Patient-Key": KEY})
    assert r.status_code == 200, r.text
    served = np.array(r.json()["outputs"][0]["data"], np.float32).reshape(1, 384)
    _assert_deidentified(served, expected, 1)
    assert r.json()["phi_removed"].get("SSN") == 1
    assert _count(stack, "note_embedding") == before + 2


def test_v2_and_grpc_fail_closed_without_the_preprocessor(stack: Stack, tmp_path) -> None:
    grpc_port = free_port()
    env = {"MEDINFER_HOME": str(stack.home), "MEDINFER_GATEWAY_INSECURE_HTTP": "true",
           "MEDINFER_GATEWAY_PREPROCESSOR_URL": f"http://127.0.0.1:{free_port()}",
           "MEDINFER_GATEWAY_TRITON_URL": stack.triton_url, "MEDINFER_GATEWAY_GRPC_PORT": str(grpc_port),
           "MEDINFER_GATEWAY_TRITON_GRPC_TARGET": f"127.0.0.1:{stack.ports.triton.grpc}",
           "MEDINFER_GATEWAY_REGISTRY_ROUTING": "false"}
    before = _count(stack, "note_embedding")
    auth = dev_auth_header(stack.home)
    with run_service("medinfer.gateway", "MEDINFER_GATEWAY_", env, tmp_path / "gw.log") as gw:
        body = {"inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [1, 1], "data": NOTES[:1]}]}
        r = requests.post(gw.url + "/v2/models/note_embedding/infer", json=body, headers=auth, timeout=30)
        channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
        req = pb.ModelInferRequest(model_name="note_embedding")
        req.inputs.add(name="TEXT", datatype="BYTES", shape=[1, 1]).contents.bytes_contents.append(NOTES[0].encode())
        with pytest.raises(grpc.RpcError) as info:
            pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(
                req, metadata=[("authorization", auth["Authorization"])], timeout=30)
        channel.close()
        log = gw.log()
    assert r.status_code == 503 and r.json()["code"] == "deidentification-unavailable" and r.json()["error"]
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert _count(stack, "note_embedding") == before, "raw text reached Triton"
    for canary in CANARIES:
        assert canary not in r.text and canary not in log and canary not in (info.value.details() or "")


def test_image_models_are_refused_on_v2_and_grpc_with_a_pointer_to_infer(stack: Stack, gateway: GatewayClient) -> None:
    before = _count(stack, "image_quality")
    x = np.zeros((1, 1, 64, 64), np.float32)
    body = {"inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 1, 64, 64], "data": x.ravel().tolist()}]}
    r = gateway.post("/v2/models/image_quality/infer", json=body)
    assert r.status_code == 400 and r.json()["code"] == "image-model-needs-infer"
    assert "POST /infer" in r.json()["error"]
    head = b'{"inputs":[{"name":"image","datatype":"FP32","shape":[1,1,64,64],"parameters":{"binary_data_size":16384}}]}'
    r = gateway.post("/v2/models/image_quality/versions/1/infer", data=head + x.tobytes(),
                     headers={"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(head))})
    assert r.status_code == 400 and "POST /infer" in r.json()["error"]
    channel, stub = _grpc_stub(stack)
    req = pb.ModelInferRequest(model_name="image_quality")
    req.inputs.add(name="image", datatype="FP32", shape=[1, 1, 64, 64])
    req.raw_input_contents.append(x.tobytes())
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(req, metadata=_metadata(stack), timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "POST /infer" in info.value.details()
    # metadata and readiness of image models stay served
    assert gateway.get("/v2/models/image_quality").json()["inputs"][0]["name"] == "image"
    assert stub.ModelReady(pb.ModelReadyRequest(name="image_quality"), metadata=_metadata(stack)).ready
    channel.close()
    assert _count(stack, "image_quality") == before


@pytest.mark.parametrize("model, shape", [
    ("image_quality", [1, 1, 64, 1099511627776]),  # SIGABRTs Triton when sent to it directly
    ("breast_cancer", [1, 1099511627776]),
    ("breast_cancer", [4294967296, 4294967296]),  # was a 500 from the codec
    ("note_embedding", [1099511627776, 1]),
])
def test_shapes_that_crash_triton_are_refused_before_it(stack: Stack, gateway: GatewayClient, model, shape) -> None:
    name, datatype = {"image_quality": ("image", "FP32"), "breast_cancer": ("features", "FP32"),
                      "note_embedding": ("TEXT", "BYTES")}[model]
    r = gateway.post(f"/v2/models/{model}/infer",
                     json={"inputs": [{"name": name, "datatype": datatype, "shape": shape, "data": []}]})
    assert r.status_code == 400 and r.json()["error"], r.text
    channel, stub = _grpc_stub(stack)
    req = pb.ModelInferRequest(model_name=model)
    req.inputs.add(name=name, datatype=datatype, shape=shape)
    req.raw_input_contents.append(b"")
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(req, metadata=_metadata(stack), timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    channel.close()
    assert requests.get(f"{stack.triton_url}/v2/health/ready", timeout=5).status_code == 200
    x = np.ones((1, 30), np.float32).ravel().tolist()
    ok = gateway.post("/v2/models/breast_cancer/infer",
                      json={"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 30], "data": x}]})
    assert ok.status_code == 200, ok.text


def test_a_413_carries_the_error_member_tritonclient_reads(stack: Stack) -> None:
    ca = str(stack.home / "tls" / "ca.pem")
    body = b'{"inputs":[{"name":"features","datatype":"FP32","shape":[1,30],"data":[' + b"0," * (9 << 20) + b'0]}]}'
    r = requests.post(f"https://127.0.0.1:{stack.ports.gateway}/v2/models/breast_cancer/infer", data=body,
                      headers=dev_auth_header(stack.home), verify=ca, timeout=60)
    assert r.status_code == 413 and "limit" in r.json()["error"]


def test_grpc_takes_the_same_message_limit_as_rest_bodies(stack: Stack) -> None:
    """One setting (max_body_bytes, 16 MiB): a larger gRPC message is RESOURCE_EXHAUSTED, not 64 MiB as before."""
    channel, stub = _grpc_stub(stack)
    req = pb.ModelInferRequest(model_name="breast_cancer")
    req.inputs.add(name="features", datatype="FP32", shape=[1, 30])
    req.raw_input_contents.append(b"\0" * (17 << 20))
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(req, metadata=_metadata(stack), timeout=30)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    channel.close()
