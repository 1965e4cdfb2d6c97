"""Differential test of the Open Inference Protocol: the same requests straight to Triton and through the gateway.

Each case is sent over REST JSON, REST binary (inference cases) and raw gRPC, once to Triton's own ports and
once to the gateway (TLS, a token). For each protocol the test compares the status (HTTP code or gRPC code),
whether a REST error carries the ``error`` member, and the outputs (tensors, or the metadata document). Every
difference must be one of the by-design differences listed in ``BY_DESIGN`` (and in docs/protocols.md); a
listed difference that no longer shows is a failure too, so the list stays true. Every bug of issue 17's
conformance list is a case here.

Requests that crash Triton (shape ``[1, 1, 64, 2**40]``) are sent to the gateway only (``gateway_only``), with
the answer Triton would owe them written down.
"""

from __future__ import annotations

import gzip
import json
import runpy
from pathlib import Path
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np
import orjson
import pytest
import requests
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

from medinfer.common.v2 import HEADER_LENGTH
from medinfer.stack import Stack
from tests.support.stack import dev_auth_header

pytestmark = pytest.mark.e2e

# Two held-out rows of the model's own data set: in distribution, so the OOD gate leaves them alone.
_TRAIN = runpy.run_path(str(Path(__file__).resolve().parents[2] / "models" / "breast_cancer" / "train.py"))
FEATURES = np.ascontiguousarray(np.asarray(_TRAIN["load_split"]()[1], dtype=np.float32)[:2])
OOD = FEATURES * 40  # far outside the training support
IMAGE = np.random.default_rng(18).uniform(0, 1, size=(1, 1, 64, 64)).astype(np.float32)
CLEAN_NOTE = "Chest pain two days, troponin negative, ECG without ischemic changes; discharged on aspirin."
PHI_NOTE = "Patient Zebulon Quixote-Farnsworth (MRN 48213377), SSN 123-45-6789, seen for chest pain."


@dataclass
class Tensor:
    name: str
    datatype: str
    shape: list[int]
    values: Any  # numpy array, or a JSON-only payload (list) for cases binary/gRPC cannot express
    json_only: bool = False


@dataclass
class Infer:
    """One inference request, rendered per protocol."""

    model: str
    inputs: list[Tensor]
    version: str = ""
    id: str = ""
    outputs: list[str] = field(default_factory=list)
    json_out: bool = False  # binary inputs, JSON outputs


@dataclass
class Read:
    """A read-only call: REST GET path, and the gRPC method and request."""

    rest: str | None
    grpc: tuple[str, Any] | None


@dataclass
class Case:
    name: str
    request: Infer | Read
    gzip: bool = False
    gateway_only: str | None = None  # why it is not sent to Triton (it would crash it)
    compare: str = "exact"  # "exact" | "close" (float outputs) | "names" (statistics: the model names only)


def _bc(x: np.ndarray | None = None, **kw) -> Infer:
    x = FEATURES if x is None else x
    return Infer("breast_cancer", [Tensor("features", "FP32", list(x.shape), x)], **kw)


def _text(note: str) -> Infer:
    return Infer("note_embedding", [Tensor("TEXT", "BYTES", [1, 1], np.array([[note.encode()]], dtype=np.object_))])


NAN = FEATURES.copy()
NAN[0, 3] = np.nan

CASES = [
    Case("valid batch", _bc()),
    Case("valid, output named", _bc(outputs=["probability"])),
    Case("valid, version 1", _bc(version="1")),
    Case("id 'not found'", _bc(id="not found")),
    Case("id 'unavailable-1'", _bc(id="unavailable-1")),
    Case("wrong datatype, id 'not found'",
         Infer("breast_cancer", [Tensor("features", "FP64", [2, 30], FEATURES.astype(np.float64))], id="not found")),
    Case("wrong datatype, id 'unavailable-1'",
         Infer("breast_cancer", [Tensor("features", "INT32", [2, 30], FEATURES.astype(np.int32))],
               id="unavailable-1")),
    Case("wrong dimension", _bc(FEATURES[:, :29].copy())),
    Case("wrong rank", Infer("breast_cancer", [Tensor("features", "FP32", [30], FEATURES[0].copy())])),
    Case("batch past max_batch_size", _bc(np.zeros((65, 30), np.float32))),
    Case("element count does not match the shape",
         Infer("breast_cancer", [Tensor("features", "FP32", [2, 30], [0.5] * 59, json_only=True)])),
    Case("strings in FP32 data",
         Infer("breast_cancer", [Tensor("features", "FP32", [1, 30], ["x"] * 30, json_only=True)])),
    Case("unknown input name", Infer("breast_cancer", [Tensor("nope", "FP32", [2, 30], FEATURES)])),
    Case("unknown output name", _bc(outputs=["nope"])),
    Case("NaN input on a monitored model", _bc(NAN)),
    Case("NaN input, binary in, JSON out", _bc(NAN, outputs=["probability"], json_out=True)),
    Case("out-of-distribution rows", _bc(OOD)),
    Case("unknown version", _bc(version="7")),
    Case("version 'abc'", _bc(version="abc")),
    Case("version '-1'", _bc(version="-1")),
    Case("version '²'", _bc(version="²")),
    Case("unknown model", Infer("no_such_model", [Tensor("features", "FP32", [2, 30], FEATURES)])),
    Case("gzip body", _bc(), gzip=True),
    Case("shape [2**32, 2**32] with no data",
         Infer("breast_cancer", [Tensor("features", "FP32", [4294967296, 4294967296], [], json_only=True)]),
         gateway_only="a tensor of 2**64 elements"),
    Case("shape [1, 1, 64, 2**40] on image_quality",
         Infer("image_quality", [Tensor("image", "FP32", [1, 1, 64, 1099511627776], [], json_only=True)]),
         gateway_only="Triton aborts (SIGABRT) allocating 4 TiB"),
    Case("text model, no PHI", _text(CLEAN_NOTE), compare="close"),
    Case("text model, PHI", _text(PHI_NOTE), compare="close"),
    Case("image model tensor", Infer("image_quality", [Tensor("image", "FP32", [1, 1, 64, 64], IMAGE)])),
    Case("server metadata", Read("/v2", ("ServerMetadata", pb.ServerMetadataRequest()))),
    Case("server live", Read("/v2/health/live", ("ServerLive", pb.ServerLiveRequest()))),
    Case("server ready", Read("/v2/health/ready", ("ServerReady", pb.ServerReadyRequest()))),
    Case("model metadata", Read("/v2/models/breast_cancer", ("ModelMetadata", pb.ModelMetadataRequest(
        name="breast_cancer")))),
    Case("model metadata, version 1", Read("/v2/models/breast_cancer/versions/1", (
        "ModelMetadata", pb.ModelMetadataRequest(name="breast_cancer", version="1")))),
    Case("model metadata, version 'abc'", Read("/v2/models/breast_cancer/versions/abc", (
        "ModelMetadata", pb.ModelMetadataRequest(name="breast_cancer", version="abc")))),
    Case("model metadata, unknown model", Read("/v2/models/no_such_model", (
        "ModelMetadata", pb.ModelMetadataRequest(name="no_such_model")))),
    Case("model ready", Read("/v2/models/breast_cancer/ready", ("ModelReady", pb.ModelReadyRequest(
        name="breast_cancer")))),
    Case("model ready, unknown model", Read("/v2/models/no_such_model/ready", (
        "ModelReady", pb.ModelReadyRequest(name="no_such_model")))),
    Case("model ready, unknown version", Read("/v2/models/breast_cancer/versions/7/ready", (
        "ModelReady", pb.ModelReadyRequest(name="breast_cancer", version="7")))),
    Case("model ready, version '-1'", Read(None, ("ModelReady", pb.ModelReadyRequest(name="breast_cancer",
                                                                                       version="-1")))),
    Case("model config", Read("/v2/models/breast_cancer/config", ("ModelConfig", pb.ModelConfigRequest(
        name="breast_cancer")))),
    Case("model statistics", Read("/v2/models/breast_cancer/stats", ("ModelStatistics", pb.ModelStatisticsRequest(
        name="breast_cancer"))), compare="names"),
    Case("all models' statistics", Read("/v2/models/stats", ("ModelStatistics", pb.ModelStatisticsRequest())),
         compare="names"),
]

# (case, protocol) -> the by-design difference, with what the gateway answers. Protocols: json, binary, grpc.
# Also in docs/protocols.md.
BY_DESIGN: dict[tuple[str, str], str] = {
    **{("text model, PHI", p): "the PHI gate: Triton embeds the de-identified note, so the outputs differ"
       for p in ("json", "binary", "grpc")},
    **{("image model tensor", p): "image models take files through POST /infer: 400 image-model-needs-infer"
       for p in ("json", "binary", "grpc")},
    **{(case, p): "the OOD gate flags the rows in the response parameters (ood, ood_reason, ood_rows)"
       for case in ("NaN input on a monitored model", "NaN input, binary in, JSON out", "out-of-distribution rows")
       for p in ("json", "binary", "grpc")},
    **{(case, "json"): "client errors Triton answers 500 are 400 invalid-tensor"
       for case in ("element count does not match the shape", "strings in FP32 data")},
    **{(case, p): "an invalid version is 400 invalid-version (Triton's REST has no route for it: 404)"
       for case in ("version 'abc'", "version '-1'", "version '²'") for p in ("json", "binary")},
    ("model metadata, version 'abc'", "json"): "an invalid version is 400 invalid-version (Triton's REST has no "
                                               "route for it: 404)",
    ("server metadata", "json"): "the gateway names itself (medinfer) and lists the extensions it serves",
    ("server metadata", "grpc"): "the gateway names itself (medinfer) and lists the extensions it serves",
}

# What Triton owes the requests that are not sent to it.
GATEWAY_ONLY_EXPECTED = {"json": 400, "binary": 400, "grpc": "INVALID_ARGUMENT"}


# ---- sending ---------------------------------------------------------------------------------------------------

@dataclass
class Answer:
    status: Any
    has_error: bool | None = None  # REST errors: the "error" member
    body: Any = None  # comparable content (outputs, or the document)
    parameters: Any = None


def _rest_body(req: Infer, binary: bool) -> tuple[bytes, dict[str, str]] | None:
    header: dict[str, Any] = {}
    if req.id:
        header["id"] = req.id
    inputs, blobs = [], []
    for t in req.inputs:
        spec: dict[str, Any] = {"name": t.name, "datatype": t.datatype, "shape": t.shape}
        if t.json_only or not binary:
            if isinstance(t.values, np.ndarray):
                spec["data"] = ([v.decode() for v in t.values.ravel()] if t.datatype == "BYTES"
                                else t.values.ravel().tolist())
            else:
                spec["data"] = t.values
        else:
            raw = (b"".join(len(v).to_bytes(4, "little") + v for v in t.values.ravel()) if t.datatype == "BYTES"
                   else np.ascontiguousarray(t.values).tobytes())
            spec["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        inputs.append(spec)
    header["inputs"] = inputs
    if req.outputs:
        header["outputs"] = [{"name": n, "parameters": {"binary_data": binary and not req.json_out}}
                             for n in req.outputs]
    elif binary:
        header["parameters"] = {"binary_data_output": True}
    if any(np.isnan(t.values).any() for t in req.inputs if isinstance(t.values, np.ndarray) and t.datatype == "FP32"):
        if not blobs:
            return None  # NaN has no JSON spelling
    head = orjson.dumps(header, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return head, {"Content-Type": "application/json"}
    return head + b"".join(blobs), {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(head))}


def _rest_outputs(resp: requests.Response) -> tuple[Any, Any]:
    hl = resp.headers.get(HEADER_LENGTH)
    raw = resp.content
    n = len(raw) if hl is None else int(hl)
    doc = json.loads(raw[:n])  # the standard library reads Triton's NaN
    tail, pos, outs = raw[n:], 0, []
    for o in doc.get("outputs", []):
        size = (o.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            dtype = {"FP32": np.float32, "INT64": np.int64}[o["datatype"]]
            values = np.frombuffer(tail[pos:pos + size], dtype=dtype).tolist()
            pos += size
        else:
            values = o["data"]
        outs.append((o["name"], o["datatype"], o["shape"], values))
    return {"model_name": doc.get("model_name"), "model_version": doc.get("model_version"), "id": doc.get("id"),
            "outputs": outs}, doc.get("parameters")


def _send_rest(base: str, case: Case, protocol: str, session: requests.Session) -> Answer | None:
    req = case.request
    if isinstance(req, Read):
        if req.rest is None or protocol != "json":
            return None
        r = session.get(base + req.rest, timeout=60)
        if r.status_code != 200:
            return Answer(r.status_code, _has_error(r))
        return Answer(200, None, r.json() if r.content else None)
    rendered = _rest_body(req, protocol == "binary")
    if rendered is None or (protocol == "binary" and all(t.json_only for t in req.inputs)):
        return None
    body, headers = rendered
    if case.gzip:
        body, headers = gzip.compress(body), {**headers, "Content-Encoding": "gzip"}
    path = f"/v2/models/{req.model}" + (f"/versions/{req.version}" if req.version else "") + "/infer"
    r = session.post(base + path, data=body, headers=headers, timeout=60)
    if r.status_code != 200:
        return Answer(r.status_code, _has_error(r))
    body, params = _rest_outputs(r)
    return Answer(200, None, body, params)


def _has_error(r: requests.Response) -> bool:
    try:
        doc = r.json()
    except ValueError:
        return False
    return isinstance(doc, dict) and isinstance(doc.get("error"), str) and bool(doc["error"])


def _send_grpc(stub: pb_grpc.GRPCInferenceServiceStub, case: Case, metadata: list[tuple[str, str]]) -> Answer | None:
    req = case.request
    try:
        if isinstance(req, Read):
            if req.grpc is None:
                return None
            method, message = req.grpc
            resp = getattr(stub, method)(message, metadata=metadata, timeout=60)
            return Answer("OK", None, _grpc_doc(method, resp))
        if any(t.json_only for t in req.inputs) and not case.gateway_only:
            return None
        message = pb.ModelInferRequest(model_name=req.model, model_version=req.version, id=req.id)
        for t in req.inputs:
            message.inputs.add(name=t.name, datatype=t.datatype, shape=t.shape)
            if t.json_only:
                message.raw_input_contents.append(b"")
            elif t.datatype == "BYTES":
                message.raw_input_contents.append(b"".join(len(v).to_bytes(4, "little") + v for v in t.values.ravel()))
            else:
                message.raw_input_contents.append(np.ascontiguousarray(t.values).tobytes())
        for n in req.outputs:
            message.outputs.add(name=n)
        resp = stub.ModelInfer(message, metadata=metadata, timeout=60)
    except grpc.RpcError as err:
        return Answer(err.code().name)
    outs = []
    for i, o in enumerate(resp.outputs):
        dtype = {"FP32": np.float32, "INT64": np.int64}[o.datatype]
        outs.append((o.name, o.datatype, list(o.shape), np.frombuffer(resp.raw_output_contents[i], dtype).tolist()))
    params = {k: str(v).strip() for k, v in resp.parameters.items()}
    return Answer("OK", None, {"model_name": resp.model_name, "model_version": resp.model_version, "id": resp.id,
                               "outputs": outs}, params or None)


def _grpc_doc(method: str, resp: Any) -> Any:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(resp)


# ---- comparing -------------------------------------------------------------------------------------------------

def _same(case: Case, direct: Answer, via: Answer) -> str | None:
    """None when the gateway's answer matches Triton's, else what differs."""
    if direct.status != via.status:
        return f"status {direct.status} vs {via.status}"
    if direct.status not in (200, "OK"):
        if direct.has_error is not None and not via.has_error:
            return "no 'error' member"
        return None
    if case.compare == "names":
        names = lambda doc: sorted({m.get("name") for m in (doc or {}).get("model_stats", (doc or {}).get(  # noqa: E731
            "modelStats", []))})
        return None if names(direct.body) == names(via.body) else f"models {names(direct.body)} vs {names(via.body)}"
    if case.compare == "close" and isinstance(direct.body, dict) and "outputs" in direct.body:
        a, b = direct.body["outputs"], via.body["outputs"]
        if [o[:3] for o in a] != [o[:3] for o in b]:
            return "output names/shapes differ"
        for x, y in zip(a, b):
            if not np.allclose(np.asarray(x[3], np.float64), np.asarray(y[3], np.float64), atol=1e-5):
                return "outputs differ"
        return None
    if direct.body != via.body:
        if isinstance(direct.body, dict) and "outputs" in direct.body:
            if direct.body["outputs"] != via.body["outputs"]:
                same_nan = all(np.array_equal(np.asarray(x[3], np.float64), np.asarray(y[3], np.float64),
                                              equal_nan=True) for x, y in zip(direct.body["outputs"],
                                                                              via.body["outputs"]))
                if not same_nan:
                    return "outputs differ"
            elif direct.body != via.body:
                return "response header differs"
        else:
            return "document differs"
    if (direct.parameters or None) != (via.parameters or None):
        return f"parameters {direct.parameters} vs {via.parameters}"
    return None


@pytest.fixture(scope="module")
def answers(stack: Stack) -> dict[tuple[str, str], tuple[Answer | None, Answer | None]]:
    ca = str(stack.home / "tls" / "ca.pem")
    direct_http, gw_http = requests.Session(), requests.Session()
    for s in (direct_http, gw_http):
        s.trust_env = False
    gw_http.verify = ca
    gw_http.headers["Authorization"] = dev_auth_header(stack.home)["Authorization"]
    direct_channel = grpc.insecure_channel(f"127.0.0.1:{stack.ports.triton.grpc}")
    gw_channel = grpc.secure_channel(f"127.0.0.1:{stack.ports.gateway_grpc}",
                                     grpc.ssl_channel_credentials(open(ca, "rb").read()))
    direct_stub, gw_stub = pb_grpc.GRPCInferenceServiceStub(direct_channel), pb_grpc.GRPCInferenceServiceStub(gw_channel)
    meta = [("authorization", gw_http.headers["Authorization"])]
    out = {}
    for case in CASES:
        for protocol in ("json", "binary", "grpc"):
            if protocol == "grpc":
                direct = None if case.gateway_only else _send_grpc(direct_stub, case, [])
                via = _send_grpc(gw_stub, case, meta)
            else:
                direct = None if case.gateway_only else _send_rest(stack.triton_url, case, protocol, direct_http)
                via = _send_rest(stack.gateway_url, case, protocol, gw_http)
            out[(case.name, protocol)] = (direct, via)
    direct_channel.close()
    gw_channel.close()
    assert requests.get(f"{stack.triton_url}/v2/health/ready", timeout=5).status_code == 200, "Triton died"
    return out


def test_the_gateway_answers_like_triton_except_by_design(answers) -> None:
    differences = {}
    for (name, protocol), (direct, via) in answers.items():
        if via is None:
            continue
        case = next(c for c in CASES if c.name == name)
        if case.gateway_only:
            want = GATEWAY_ONLY_EXPECTED[protocol]
            if via.status != want or (protocol != "grpc" and not via.has_error):
                differences[(name, protocol)] = f"gateway answered {via.status}, Triton owes {want}"
            continue
        assert direct is not None, (name, protocol)
        diff = _same(case, direct, via)
        if diff is not None:
            differences[(name, protocol)] = diff
    unexpected = {k: v for k, v in differences.items() if k not in BY_DESIGN}
    stale = sorted(k for k in BY_DESIGN if answers.get(k, (None, None))[1] is not None and k not in differences)
    assert not unexpected and not stale, "differences from Triton not listed as by design:\n" + "\n".join(
        f"  {k}: {v}" for k, v in sorted(unexpected.items())) + f"\nlisted but not seen: {stale}"


def test_every_gateway_error_on_v2_has_an_error_member(answers) -> None:
    for (name, protocol), (_, via) in answers.items():
        if via is not None and isinstance(via.status, int) and via.status != 200:
            assert via.has_error, (name, protocol, via.status)


def test_by_design_differences_are_the_documented_ones() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocols.md").read_text()
    for reason in sorted(set(BY_DESIGN.values())):
        key = reason.split(":")[0]
        assert key.split()[0] in doc, reason


__all__: list[Callable] = []
