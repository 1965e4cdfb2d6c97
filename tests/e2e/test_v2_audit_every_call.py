"""Every call leaves exactly one audit record, whatever its outcome (issue 22 item 3): each method of the v2 gRPC
service (served, unimplemented, or not in the service at all), invalid versions that used to escape as 500s or
unaudited exceptions (``"²"`` passes ``str.isdigit`` and fails ``int``), and the REST routes that had the same
pattern."""

from __future__ import annotations

import sqlite3
import uuid

import grpc
import pytest
from tritonclient.grpc import service_pb2 as pb

from medinfer.stack import Stack
from tests.support.stack import GatewayClient, dev_auth_header

pytestmark = pytest.mark.e2e

SERVICE = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]


def _rid() -> str:
    return "ab" + uuid.uuid4().hex[:30]  # opaque (hex with a letter): adopted as the record's request id


def _records(stack: Stack, rid: str) -> list[tuple[str, int]]:
    con = sqlite3.connect(stack.home / "medinfer.db")
    try:
        return con.execute("SELECT action, status FROM audit_ledger WHERE request_id = ?", (rid,)).fetchall()
    finally:
        con.close()


def _channel(stack: Stack) -> grpc.Channel:
    creds = grpc.ssl_channel_credentials((stack.home / "tls" / "ca.pem").read_bytes())
    return grpc.secure_channel(f"127.0.0.1:{stack.ports.gateway_grpc}", creds)


def _call(channel: grpc.Channel, stack: Stack, method: str, request, response_type, streaming: bool,
          token: bool = True) -> tuple[str, str]:
    rid = _rid()
    metadata = [("x-request-id", rid)]
    if token:
        metadata.append(("authorization", dev_auth_header(stack.home)["Authorization"]))
    path = f"/inference.GRPCInferenceService/{method}"
    try:
        if streaming:
            call = channel.stream_stream(path, request_serializer=type(request).SerializeToString,
                                         response_deserializer=response_type.FromString)
            list(call(iter([request]), metadata=metadata, timeout=30))
        else:
            call = channel.unary_unary(path, request_serializer=type(request).SerializeToString,
                                       response_deserializer=response_type.FromString)
            call(request, metadata=metadata, timeout=30)
        code = "OK"
    except grpc.RpcError as err:
        code = err.code().name
    return rid, code


@pytest.mark.parametrize("method", [m.name for m in SERVICE.methods])
def test_every_grpc_method_leaves_one_record(stack: Stack, method: str) -> None:
    m = SERVICE.methods_by_name[method]
    request = getattr(pb, m.input_type.name)()
    if hasattr(request, "name"):
        request.name = "breast_cancer"
    channel = _channel(stack)
    for token in (True, False):
        rid, code = _call(channel, stack, method, request, getattr(pb, m.output_type.name), m.client_streaming,
                          token)
        records = _records(stack, rid)
        assert len(records) == 1, (method, token, code, records)
        assert records[0][0] == f"grpc {method}"
        if not token:
            assert code == "UNAUTHENTICATED" and records[0][1] == 401
        elif method in ("ModelStreamInfer", "RepositoryIndex", "RepositoryModelLoad", "LogSettings",
                        "SystemSharedMemoryRegister", "CudaSharedMemoryStatus", "TraceSetting"):
            assert code == "UNIMPLEMENTED" and records[0][1] == 501
    channel.close()


def test_a_method_the_service_does_not_have_leaves_one_record(stack: Stack) -> None:
    channel = _channel(stack)
    rid = _rid()
    call = channel.unary_unary("/inference.GRPCInferenceService/NoSuchMethod")
    with pytest.raises(grpc.RpcError) as info:
        call(b"\x0a\x03abc", metadata=[("x-request-id", rid),
                                       ("authorization", dev_auth_header(stack.home)["Authorization"])], timeout=30)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert _records(stack, rid) == [("grpc <unknown>", 501)]  # the caller's method name is not recorded
    channel.close()


@pytest.mark.parametrize("version", ["²", "abc", "-1", "٣"])
def test_invalid_grpc_versions_are_invalid_argument_and_audited(stack: Stack, version: str) -> None:
    channel = _channel(stack)
    for method, request, response in (
        ("ModelInfer", pb.ModelInferRequest(model_name="breast_cancer", model_version=version), pb.ModelInferResponse),
        ("ModelMetadata", pb.ModelMetadataRequest(name="breast_cancer", version=version), pb.ModelMetadataResponse),
        ("ModelReady", pb.ModelReadyRequest(name="breast_cancer", version=version), pb.ModelReadyResponse),
    ):
        rid, code = _call(channel, stack, method, request, response, False)
        assert code == "INVALID_ARGUMENT", (method, version)
        assert len(_records(stack, rid)) == 1
    channel.close()


def test_unknown_model_ready_is_ok_not_ready_over_grpc(stack: Stack) -> None:
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(f"127.0.0.1:{stack.ports.gateway_grpc}", ssl=True,
                                              root_certificates=str(stack.home / "tls" / "ca.pem"))
    h = {"authorization": dev_auth_header(stack.home)["Authorization"]}
    assert client.is_model_ready("breast_cancer", headers=h)
    assert not client.is_model_ready("no_such_model", headers=h)
    assert not client.is_model_ready("breast_cancer", model_version="7", headers=h)
    meta = client.get_server_metadata(headers=h)
    assert set(meta.extensions) == {"classification", "model_configuration", "statistics"}
    stats = client.get_inference_statistics(headers=h)
    assert {m.name for m in stats.model_stats} >= {"breast_cancer", "note_embedding"}
    client.close()


@pytest.mark.parametrize("path, kwargs, status", [
    ("/v2/models/breast_cancer/versions/²/infer", {"json": {"inputs": []}}, 400),
    ("/v2/models/breast_cancer/versions/²", {}, 400),
    ("/v2/models/breast_cancer/versions/٣/ready", {}, 400),
    ("/infer", {"json": {"model": "breast_cancer", "version": "²", "input": [1.0] * 30}}, 422),
    ("/infer", {"files": {"file": ("x.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")},
                "data": {"model": "image_quality", "version": "²"}}, 422),
    ("/fhir/r4/$infer?model=breast_cancer&version=%C2%B2", {"json": {"resourceType": "Parameters"}}, 422),
    ("/v2/models/stats", {}, 200),
])
def test_rest_routes_answer_4xx_not_500_and_leave_one_record(stack: Stack, gateway: GatewayClient, path: str,
                                                             kwargs: dict, status: int) -> None:
    rid = _rid()
    method = gateway.get if not kwargs else gateway.post
    r = method(path, headers={"X-Request-ID": rid}, **kwargs)
    assert r.status_code == status, r.text
    if path.startswith("/v2"):
        assert r.status_code == 200 or r.json()["error"]
    assert len(_records(stack, rid)) == 1


def test_a_call_whose_deadline_passes_leaves_one_record(stack: Stack) -> None:
    """The client gives up mid-call (de-identifying a batch takes longer than its deadline): the call still
    leaves exactly one record, whether the gateway saw the deadline or the cancellation first."""
    import time

    channel = _channel(stack)
    req = pb.ModelInferRequest(model_name="note_embedding")
    note = "Patient Zebulon Quixote-Farnsworth (MRN 48213377) seen for chest pain. " * 40
    t = req.inputs.add(name="TEXT", datatype="BYTES", shape=[8, 1])
    t.contents.bytes_contents.extend([note.encode()] * 8)
    rid = _rid()
    call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                               request_serializer=pb.ModelInferRequest.SerializeToString,
                               response_deserializer=pb.ModelInferResponse.FromString)
    with pytest.raises(grpc.RpcError) as info:
        call(req, metadata=[("x-request-id", rid), ("authorization", dev_auth_header(stack.home)["Authorization"])],
             timeout=0.15)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # not "de-identification is unavailable"
    deadline = time.monotonic() + 10
    while not _records(stack, rid) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    assert len(_records(stack, rid)) == 1
    channel.close()


def test_all_model_statistics_show_only_the_models_a_caller_may_use(stack: Stack, gateway: GatewayClient) -> None:
    scoped = dev_auth_header(stack.home, "infer:breast_cancer")
    r = gateway.get("/v2/models/stats", headers=scoped)
    assert r.status_code == 200 and {m["name"] for m in r.json()["model_stats"]} == {"breast_cancer"}
    full = gateway.get("/v2/models/stats").json()
    assert {m["name"] for m in full["model_stats"]} >= {"breast_cancer", "note_embedding", "image_quality", "ner"}
    channel = _channel(stack)
    call = channel.unary_unary("/inference.GRPCInferenceService/ModelStatistics",
                               request_serializer=pb.ModelStatisticsRequest.SerializeToString,
                               response_deserializer=pb.ModelStatisticsResponse.FromString)
    resp = call(pb.ModelStatisticsRequest(), metadata=[("authorization", scoped["Authorization"])], timeout=30)
    assert {m.name for m in resp.model_stats} == {"breast_cancer"}
    assert gateway.get("/v2/models/stats", headers=dev_auth_header(stack.home, "models:write")).status_code == 403
    channel.close()
