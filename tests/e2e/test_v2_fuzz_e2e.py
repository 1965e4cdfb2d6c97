"""Hypothesis-driven fuzzing of /v2 (JSON and binary) and gRPC ModelInfer through the running gateway, bounded
(``max_examples``; every example is one request): no answer is a 5xx, and Triton runs an inference only for
requests the gateway answered 200 (its own count, from ``/v2/models/<m>/stats``), so nothing invalid is
forwarded."""

from __future__ import annotations

import grpc
import numpy as np
import orjson
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc

from medinfer.common.v2 import HEADER_LENGTH
from medinfer.stack import Stack
from tests.support.stack import GatewayClient, dev_auth_header

pytestmark = pytest.mark.e2e

FUZZ = settings(max_examples=120, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

_dims = st.lists(st.one_of(st.integers(-1, 70), st.sampled_from([2**31, 2**32, 2**40, 2**63 - 1])), max_size=4)
_scalar = st.one_of(st.floats(width=32, allow_nan=False), st.integers(-(2**40), 2**40), st.text(max_size=3),
                    st.booleans(), st.none())
_input = st.fixed_dictionaries({
    "name": st.sampled_from(["features", "TEXT", "x"]),
    "datatype": st.sampled_from(["FP32", "FP64", "INT32", "BYTES", "FP9"]),
    "shape": st.one_of(_dims, st.just([1, 30]), st.just([2, 30])),
})


def _count(stack: Stack) -> int:
    stats = requests.get(f"{stack.triton_url}/v2/models/breast_cancer/stats", timeout=5).json()
    return sum(int(m["inference_stats"]["success"]["count"]) + int(m["inference_stats"]["fail"]["count"])
               for m in stats["model_stats"])


@pytest.fixture(scope="module")
def tally(stack: Stack):
    """Counts the gateway's 200s; at the end Triton must have run exactly that many inferences."""
    seen = {"ok": 0}
    before = _count(stack)
    yield seen
    assert _count(stack) - before == seen["ok"], "an invalid request reached Triton"
    assert requests.get(f"{stack.triton_url}/v2/health/ready", timeout=5).status_code == 200


@FUZZ
@given(inputs=st.lists(_input, min_size=1, max_size=2), data=st.lists(_scalar, max_size=70), binary=st.booleans(),
       size=st.integers(-2, 300), extra=st.binary(max_size=300))
def test_fuzzed_rest_bodies_are_answered_without_5xx(gateway: GatewayClient, tally, inputs, data, binary, size,
                                                     extra) -> None:
    if binary:
        specs = [{**i, "parameters": {"binary_data_size": size}} for i in inputs]
        head = orjson.dumps({"inputs": specs})
        body, headers = head + extra, {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(head))}
    else:
        body = orjson.dumps({"inputs": [{**i, "data": data} for i in inputs]})
        headers = {"Content-Type": "application/json"}
    r = gateway.post("/v2/models/breast_cancer/infer", data=body, headers=headers)
    assert r.status_code < 500, (r.status_code, r.text)
    if r.status_code == 200:
        tally["ok"] += 1
    else:
        assert r.json()["error"]


@pytest.fixture(scope="module")
def stub(stack: Stack):
    creds = grpc.ssl_channel_credentials((stack.home / "tls" / "ca.pem").read_bytes())
    channel = grpc.secure_channel(f"127.0.0.1:{stack.ports.gateway_grpc}", creds)
    yield pb_grpc.GRPCInferenceServiceStub(channel), [("authorization", dev_auth_header(stack.home)["Authorization"])]
    channel.close()


@FUZZ
@given(shape=st.lists(st.one_of(st.integers(-3, 70), st.sampled_from([2**32, 2**40, 2**62])), max_size=4),
       datatype=st.sampled_from(["FP32", "FP64", "BYTES", ""]), raw=st.one_of(st.none(), st.binary(max_size=300)),
       floats=st.lists(st.floats(width=32), max_size=70), version=st.sampled_from(["", "1", "7", "²", "-1", "x"]))
def test_fuzzed_grpc_requests_are_answered_without_internal_errors(stub, tally, shape, datatype, raw, floats,
                                                                   version) -> None:
    service, metadata = stub
    req = pb.ModelInferRequest(model_name="breast_cancer", model_version=version)
    t = req.inputs.add(name="features", datatype=datatype, shape=shape)
    if raw is None:
        t.contents.fp32_contents.extend(floats)
    else:
        req.raw_input_contents.append(raw)
    try:
        service.ModelInfer(req, metadata=metadata, timeout=30)
        tally["ok"] += 1
    except grpc.RpcError as err:
        assert err.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND), (err.code(),
                                                                                             err.details())


def test_a_valid_request_still_counts(gateway: GatewayClient, tally) -> None:
    """The tally is not vacuous: a fitting request is forwarded and counted."""
    x = np.full((1, 30), 1.0, np.float32).ravel().tolist()
    r = gateway.post("/v2/models/breast_cancer/infer",
                     json={"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 30], "data": x}]})
    assert r.status_code == 200
    tally["ok"] += 1
