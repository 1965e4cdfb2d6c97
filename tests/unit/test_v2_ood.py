"""Decoding the model's input from v2 REST and gRPC requests, and marking a flagged v2 response."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from tritonclient.grpc import service_pb2 as pb

from medinfer.common.errors import BadRequest
from medinfer.common.v2 import HEADER_LENGTH, V2Tensor, decode_response, encode_request, encode_response
from medinfer.gateway.v2_ood import flag_grpc_response, flag_rest_response, grpc_features, v2_features
from medinfer.monitoring import OodDecision
from medinfer.triton.catalog import CatalogEntry

ENTRY = CatalogEntry("bc", 1, {"kind": "tabular", "input": {"name": "features"}})
X = np.arange(6, dtype=np.float32).reshape(2, 3) / 7


@pytest.mark.parametrize("binary", [True, False])
def test_v2_features_finds_the_model_input(binary):
    body, headers = encode_request([V2Tensor("other", "FP32", [1], np.ones(1, np.float32)),
                                    V2Tensor("features", "FP32", [2, 3], X)], binary=binary)
    got = v2_features(ENTRY, body, headers.get(HEADER_LENGTH))
    np.testing.assert_array_equal(got, X)


def test_v2_features_none_without_an_fp32_input_of_that_name_and_errors_on_garbage():
    body, headers = encode_request([V2Tensor("features", "FP64", [2, 3], X.astype(np.float64))], binary=True)
    assert v2_features(ENTRY, body, headers[HEADER_LENGTH]) is None
    body, headers = encode_request([V2Tensor("x", "FP32", [2, 3], X)])
    assert v2_features(ENTRY, body, None) is None
    with pytest.raises(BadRequest):
        v2_features(ENTRY, b"{not json", None)


def test_grpc_features_raw_and_typed_contents():
    req = pb.ModelInferRequest(model_name="bc")
    inp = req.inputs.add(name="features", datatype="FP32", shape=[2, 3])
    inp.contents.fp32_contents.extend(X.ravel().tolist())
    np.testing.assert_array_equal(grpc_features(ENTRY, req), X)
    raw = pb.ModelInferRequest(model_name="bc")
    raw.inputs.add(name="features", datatype="FP32", shape=[2, 3])
    raw.raw_input_contents.append(X.tobytes())
    np.testing.assert_array_equal(grpc_features(ENTRY, raw), X)
    raw.raw_input_contents[0] = X.tobytes()[:-4]  # size does not match the shape: left to Triton
    assert grpc_features(ENTRY, raw) is None


@pytest.mark.parametrize("binary", [True, False])
def test_flagged_rest_response_keeps_the_tensors(binary):
    out = V2Tensor("probability", "FP32", [2, 1], np.array([[0.25], [0.75]], np.float32))
    body, headers = encode_response("bc", "1", [out], binary=binary, parameters={"triton": 1})
    decision = OodDecision(True, "out-of-support", (1,))
    new, hl = flag_rest_response(body, headers.get(HEADER_LENGTH), decision)
    header, tensors = decode_response(new, hl)
    assert header["parameters"] == {"triton": 1, "ood": True, "ood_reason": "out-of-support", "ood_rows": "1"}
    np.testing.assert_array_equal(tensors[0].data, out.data)
    if binary:
        assert new.endswith(body[int(headers[HEADER_LENGTH]):])  # binary data passed through untouched
        assert orjson.loads(new[: int(hl)])["model_name"] == "bc"


def test_flagged_grpc_response():
    resp = flag_grpc_response(pb.ModelInferResponse(model_name="bc"), OodDecision(True, "mahalanobis", (0, 3)))
    assert resp.parameters["ood"].bool_param is True
    assert resp.parameters["ood_reason"].string_param == "mahalanobis"
    assert resp.parameters["ood_rows"].string_param == "0,3"
