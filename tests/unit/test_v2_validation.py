"""Signature validation of /v2 and gRPC requests (no server): table cases from issue 17 and Hypothesis fuzzing.

Whatever the body, the outcome is either "fits" or a 4xx ``MedinferError``; never another exception (a 500).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tritonclient.grpc import service_pb2 as pb

from medinfer.common.errors import MedinferError
from medinfer.common.v2 import V2Tensor, decode_request, encode_request, parse_version, split_body
from medinfer.gateway.v2_validation import InvalidTensor, TensorLimits, grpc_views, rest_views, validate_inputs
from medinfer.triton.model_config import ModelConfig, TensorSpec

IMAGE = ModelConfig("image_quality", "python", (TensorSpec("image", "FP32", (1, 64, 64)),),
                    (TensorSpec("probabilities", "FP32", (5,)), TensorSpec("class_index", "INT64", (1,))),
                    max_batch_size=64)
TEXT = ModelConfig("note_embedding", "python", (TensorSpec("TEXT", "BYTES", (1,)),),
                   (TensorSpec("EMBEDDING", "FP32", (384,)),), max_batch_size=64)
UNBATCHED = ModelConfig("u", "python", (TensorSpec("x", "INT8", (-1, 3)),), (TensorSpec("y", "FP32", (1,)),))
LIMITS = TensorLimits(max_tensor_bytes=1 << 19, max_string_bytes=1000)


def check(config: ModelConfig, header: dict, tail: bytes = b"") -> None:
    views, outputs, _ = rest_views(header, tail)
    validate_inputs(config, views, outputs, LIMITS)


def image(shape, **spec) -> dict:
    return {"inputs": [{"name": "image", "datatype": "FP32", "shape": shape, **spec}]}


def test_a_fitting_request_passes_in_json_and_binary() -> None:
    check(IMAGE, image([2, 1, 64, 64], data=[0.5] * (2 * 4096)))
    check(IMAGE, image([1, 1, 64, 64], data=[[[[0] * 64] * 64]]))
    x = np.zeros((1, 1, 64, 64), np.float32)
    body, headers = encode_request([V2Tensor("image", "FP32", [1, 1, 64, 64], x)], ["class_index"], binary=True)
    header, tail = split_body(body, headers["Inference-Header-Content-Length"])
    check(IMAGE, header, tail)
    check(TEXT, {"inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [2, 1], "data": ["a", "b"]}]})
    check(UNBATCHED, {"inputs": [{"name": "x", "datatype": "INT8", "shape": [2, 3], "data": [1, 2, 3, -4, 5, 127]}]})


@pytest.mark.parametrize("header, tail", [
    (image([1, 1, 64, 1099511627776], data=[]), b""),  # the SIGABRT of issue 17
    (image([4294967296, 4294967296], data=[]), b""),  # np.prod wraps to 0: was a 500
    (image([0, 1, 64, 64], data=[]), b""),  # batch 0
    (image([65, 1, 64, 64], data=[0] * 65 * 4096), b""),  # past max_batch_size
    (image([1, 64, 64], data=[0] * 4096), b""),  # rank
    (image([1, 1, 64, 64], data=[0] * 4095), b""),  # element count
    (image([1, 1, 64, 64], data=["0"] * 4096), b""),  # strings in FP32
    (image([1, 1, 64, 64], data=[True] * 4096), b""),
    (image([1, 1, 64, 64], data=None), b""),
    (image([1, 1, 64, 64]), b""),
    (image([1, 1, 64, -64], data=[]), b""),
    (image([1, 1, 64, 64.0], data=[]), b""),
    (image([1, 1, 64, True], data=[]), b""),
    (image("1,1,64,64", data=[]), b""),
    ({"inputs": [{"name": "image", "datatype": "INT32", "shape": [1, 1, 64, 64], "data": [0] * 4096}]}, b""),
    ({"inputs": [{"name": "other", "datatype": "FP32", "shape": [1, 1, 64, 64], "data": [0] * 4096}]}, b""),
    ({"inputs": [image([1, 1, 64, 64], data=[0] * 4096)["inputs"][0]] * 2}, b""),
    ({"inputs": []}, b""),
    ({"inputs": {}}, b""),
    ({**image([1, 1, 64, 64], data=[0] * 4096), "outputs": [{"name": "secret"}]}, b""),
    (image([1, 1, 64, 64], parameters={"binary_data_size": 16383}), b"\0" * 16383),
    (image([1, 1, 64, 64], parameters={"binary_data_size": 16384}), b"\0" * 100),
    (image([1, 1, 64, 64], parameters={"binary_data_size": 16384}), b"\0" * 16385),  # trailing bytes
    (image([1, 1, 64, 64], parameters={"binary_data_size": -1}), b""),
    (image([1, 1, 64, 64], parameters={"binary_data_size": True}), b""),
    (image([1, 1, 64, 64], parameters="x", data=[0] * 4096), b""),
    (image([64, 1, 64, 64], data=[0] * 64 * 4096), b""),  # 1 MiB, past the 512 KiB ceiling of LIMITS
])
def test_requests_that_do_not_fit_are_400(header: dict, tail: bytes) -> None:
    with pytest.raises(MedinferError) as info:
        check(IMAGE, header, tail)
    assert info.value.status == 400


@pytest.mark.parametrize("data", [[300], [-129], [1.5], ["1"], [None]])
def test_integer_data_must_fit_the_datatype(data) -> None:
    header = {"inputs": [{"name": "x", "datatype": "INT8", "shape": [1, 1], "data": data}]}
    with pytest.raises(InvalidTensor):
        UNBATCHED_1 = ModelConfig("u", "python", (TensorSpec("x", "INT8", (-1, -1)),), ())
        check(UNBATCHED_1, header)


def test_bytes_wire_format_must_hold_exactly_the_elements() -> None:
    def wire(*items: bytes) -> bytes:
        return b"".join(len(i).to_bytes(4, "little") + i for i in items)

    ok = wire(b"one", b"two")
    check(TEXT, {"inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [2, 1],
                             "parameters": {"binary_data_size": len(ok)}}]}, ok)
    for raw in (wire(b"one"), wire(b"one", b"two", b"three"), ok[:-1], wire(b"x" * 1001, b"y")):
        with pytest.raises(InvalidTensor):
            check(TEXT, {"inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [2, 1],
                                     "parameters": {"binary_data_size": len(raw)}}]}, raw)


def test_grpc_requests_are_checked_the_same_way() -> None:
    def req(shape, raw=None, **contents) -> pb.ModelInferRequest:
        r = pb.ModelInferRequest(model_name="image_quality")
        t = r.inputs.add(name="image", datatype="FP32", shape=shape)
        for k, v in contents.items():
            getattr(t.contents, k).extend(v)
        if raw is not None:
            r.raw_input_contents.append(raw)
        return r

    def run(r) -> None:
        views, outputs = grpc_views(r)
        validate_inputs(IMAGE, views, outputs, LIMITS)

    run(req([1, 1, 64, 64], raw=b"\0" * 16384))
    run(req([1, 1, 64, 64], fp32_contents=[0.0] * 4096))
    for bad in (req([1, 1, 64, 1099511627776], raw=b""), req([1, 1, 64, -1], raw=b""),
                req([1, 1, 64, 64], raw=b"\0" * 16380), req([1, 1, 64, 64], fp32_contents=[0.0] * 10),
                req([1, 1, 64, 64], int_contents=[0] * 4096), req([4294967296, 4294967296], raw=b"")):
        with pytest.raises(InvalidTensor):
            run(bad)
    two = req([1, 1, 64, 64], raw=b"\0" * 16384)
    two.raw_input_contents.append(b"")
    with pytest.raises(InvalidTensor):
        run(two)


@pytest.mark.parametrize("value, expected", [(None, None), ("", None), ("1", 1), ("0012", 12)])
def test_versions_parse(value, expected) -> None:
    assert parse_version(value) == expected


@pytest.mark.parametrize("value", ["abc", "-1", "0", "²", "٣", " 1", "1 ", "+1", "1.0", "9" * 30])
def test_invalid_versions_are_400(value) -> None:
    with pytest.raises(MedinferError) as info:
        parse_version(value)
    assert info.value.status == 400


# ---- fuzzing: no 500 whatever arrives ------------------------------------------------------------------------

_json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
                         st.text(max_size=5))
_json = st.recursive(_json_scalar, lambda c: st.one_of(st.lists(c, max_size=4),
                                                        st.dictionaries(st.text(max_size=8), c, max_size=4)),
                     max_leaves=20)
_dims = st.lists(st.one_of(st.integers(-2, 70), st.sampled_from([2**32, 2**40, 2**63, 2**64]), st.just(1.0),
                           st.just("1")), max_size=5)
_input = st.fixed_dictionaries({
    "name": st.sampled_from(["image", "TEXT", "x", 7]),
    "datatype": st.sampled_from(["FP32", "BYTES", "INT64", "FP99", None]),
    "shape": st.one_of(_dims, _json),
}, optional={"data": st.one_of(st.lists(_json_scalar, max_size=8), _json),
             "parameters": st.one_of(st.fixed_dictionaries({"binary_data_size": st.integers(-5, 40)}), _json)})
_header = st.fixed_dictionaries({"inputs": st.one_of(st.lists(_input, max_size=3), _json)},
                                optional={"outputs": st.one_of(st.lists(st.fixed_dictionaries(
                                    {"name": st.text(max_size=8)}), max_size=2), _json),
                                    "id": _json, "parameters": _json})


@settings(max_examples=400, deadline=500, suppress_health_check=[HealthCheck.too_slow])
@given(header=_header, tail=st.binary(max_size=64), config=st.sampled_from([IMAGE, TEXT, UNBATCHED]))
def test_fuzzed_rest_requests_are_valid_or_4xx(header: dict, tail: bytes, config: ModelConfig) -> None:
    try:
        check(config, header, tail)
    except MedinferError as err:
        assert 400 <= err.status < 500


@settings(max_examples=300, deadline=500)
@given(body=st.one_of(st.binary(max_size=200), _header.map(lambda h: json.dumps(h).encode())),
       length=st.one_of(st.none(), st.integers(-3, 300).map(str), st.sampled_from(["²", "x", ""])))
def test_fuzzed_codec_input_is_decoded_or_4xx(body: bytes, length) -> None:
    try:
        header, tail = split_body(body, length)
        views, outputs, _ = rest_views(header, tail)
        validate_inputs(IMAGE, views, outputs, LIMITS)
        decode_request(body, length)
    except MedinferError as err:
        assert 400 <= err.status < 500


@settings(max_examples=300, deadline=500)
@given(shape=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=5),
       datatype=st.sampled_from(["FP32", "BYTES", "INT8", "FP16", "nope", ""]),
       raw=st.one_of(st.none(), st.binary(max_size=64)), floats=st.lists(st.floats(width=32), max_size=8))
def test_fuzzed_grpc_requests_are_valid_or_4xx(shape, datatype, raw, floats) -> None:
    r = pb.ModelInferRequest(model_name="m")
    t = r.inputs.add(name="image", datatype=datatype, shape=shape)
    if raw is None:
        t.contents.fp32_contents.extend(floats)
    else:
        r.raw_input_contents.append(raw)
    try:
        views, outputs = grpc_views(r)
        validate_inputs(IMAGE, views, outputs, LIMITS)
        assert math.prod(shape) * 4 <= LIMITS.max_tensor_bytes
    except MedinferError as err:
        assert 400 <= err.status < 500
