import numpy as np
import pytest

from medinfer.common.errors import BadRequest, ValidationFailed
from medinfer.common.v2 import HEADER_LENGTH, V2Tensor, decode_request, decode_response, encode_request, encode_response


def _tensors() -> list[V2Tensor]:
    return [
        V2Tensor("features", "FP32", [2, 3], np.arange(6, dtype=np.float32).reshape(2, 3)),
        V2Tensor("ids", "INT64", [2], np.array([7, 9], dtype=np.int64)),
        V2Tensor("text", "BYTES", [2], np.array([b"abc", "d\u00e9f".encode()], dtype=object)),
    ]


@pytest.mark.parametrize("binary", [False, True])
def test_request_round_trip(binary: bool) -> None:
    body, headers = encode_request(_tensors(), ["probability"], binary=binary, request_id="r1")
    header, tensors = decode_request(body, headers.get(HEADER_LENGTH))
    assert header["id"] == "r1"
    for got, want in zip(tensors, _tensors()):
        assert (got.name, got.datatype, got.shape) == (want.name, want.datatype, want.shape)
        assert got.data.tolist() == want.data.tolist()


@pytest.mark.parametrize("binary", [False, True])
def test_response_round_trip(binary: bool) -> None:
    body, headers = encode_response("m", "2", _tensors()[:2], binary=binary)
    header, tensors = decode_response(body, headers.get(HEADER_LENGTH))
    assert header["model_version"] == "2"
    np.testing.assert_array_equal(tensors[0].data, _tensors()[0].data)


@pytest.mark.parametrize(
    ("body", "length", "error"),
    [
        (b"{", None, BadRequest),
        (b'{"inputs": 3}', None, ValidationFailed),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [1]}]}', None, ValidationFailed),
        (b'{"inputs": [{"name": "x", "datatype": "FP99", "shape": [1], "data": [1]}]}', None, ValidationFailed),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": ["a"]}]}', None, ValidationFailed),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], '
         b'"parameters": {"binary_data_size": 8}}]}abcd', "84", BadRequest),
        (b"{}", "99", BadRequest),
    ],
)
def test_bad_requests_raise_client_errors(body: bytes, length, error) -> None:
    with pytest.raises(error):
        decode_request(body, length)
