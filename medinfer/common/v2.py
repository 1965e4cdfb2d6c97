"""Open Inference Protocol (KServe v2) over HTTP/REST: request and response codecs.

Covers the JSON form and the binary tensor extension
(``Inference-Header-Content-Length``; tensors whose ``parameters.binary_data_size``
gives the length of their raw little-endian bytes after the JSON header).
Used by the gateway (to Triton and for its own v2 endpoints) and by the tests.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from medinfer.common.errors import BadRequest, ValidationFailed

__all__ = [
    "V2Tensor",
    "HEADER_LENGTH",
    "NUMPY_OF",
    "V2_OF",
    "encode_request",
    "decode_response",
    "decode_request",
    "encode_response",
    "parse_version",
    "split_body",
    "decode_inputs",
    "EXTENSIONS",
    "REST_EXTENSIONS",
]

HEADER_LENGTH = "Inference-Header-Content-Length"

#: Protocol extensions the gateway serves on both REST and gRPC (server metadata lists them);
#: ``binary_tensor_data`` is an HTTP/REST extension and is added on REST only.
EXTENSIONS = ("classification", "model_configuration", "statistics")
REST_EXTENSIONS = ("binary_tensor_data", *EXTENSIONS)

_VERSION = re.compile(r"[0-9]{1,18}")


def parse_version(value: str | None) -> int | None:
    """A model version as the protocol spells it: empty/None means "the routed version", otherwise ASCII
    decimal digits naming a version >= 1. Anything else ("abc", "-1", "²", "٣", " 1") is a 400, never a 500:
    ``str.isdigit`` accepts superscripts and other scripts' digits that ``int`` then refuses or misreads."""
    if value is None or value == "":
        return None
    if not _VERSION.fullmatch(value) or int(value) < 1:
        raise BadRequest("model version must be a positive integer", code="invalid-version")
    return int(value)

NUMPY_OF = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64, "FP16": np.float16,
    "FP32": np.float32, "FP64": np.float64, "BYTES": np.object_,
}
V2_OF = {np.dtype(v).str: k for k, v in NUMPY_OF.items() if k != "BYTES"}


@dataclass
class V2Tensor:
    name: str
    datatype: str
    shape: list[int]
    data: np.ndarray

    def to_json(self) -> dict[str, Any]:
        data = self.data
        if self.datatype == "BYTES":
            flat = [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in data.ravel()]
        else:
            flat = data.ravel().tolist()
        return {"name": self.name, "datatype": self.datatype, "shape": self.shape, "data": flat}


def _bytes_to_wire(arr: np.ndarray) -> bytes:
    out = bytearray()
    for item in arr.ravel():
        b = item if isinstance(item, bytes) else str(item).encode()
        out += len(b).to_bytes(4, "little") + b
    return bytes(out)


def _wire_to_bytes(raw: bytes, count: int) -> np.ndarray:
    items, pos = [], 0
    for _ in range(count):
        if pos + 4 > len(raw):
            raise BadRequest("BYTES tensor is truncated")
        n = int.from_bytes(raw[pos : pos + 4], "little")
        pos += 4
        items.append(raw[pos : pos + n])
        pos += n
    return np.array(items, dtype=np.object_)


def _binary_tensors(tensors: list[V2Tensor]) -> tuple[list[dict[str, Any]], list[bytes]]:
    """Tensor headers with ``binary_data_size`` and the raw little-endian payloads that follow the JSON."""
    specs, blobs = [], []
    for t in tensors:
        raw = _bytes_to_wire(t.data) if t.datatype == "BYTES" else np.ascontiguousarray(t.data).tobytes()
        specs.append({"name": t.name, "datatype": t.datatype, "shape": t.shape,
                      "parameters": {"binary_data_size": len(raw)}})
        blobs.append(raw)
    return specs, blobs


def encode_request(
    inputs: list[V2Tensor], outputs: list[str] | None = None, *, binary: bool = False,
    request_id: str | None = None, parameters: dict[str, Any] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """Body and extra headers for ``POST /v2/models/{m}[/versions/{v}]/infer``."""
    header: dict[str, Any] = {}
    if request_id:
        header["id"] = request_id
    if parameters:
        header["parameters"] = parameters
    if not binary:
        header["inputs"] = [t.to_json() for t in inputs]
        if outputs:
            header["outputs"] = [{"name": n} for n in outputs]
        return orjson.dumps(header), {"Content-Type": "application/json"}
    specs, blobs = _binary_tensors(inputs)
    header["inputs"] = specs
    header["outputs"] = [{"name": n, "parameters": {"binary_data": True}} for n in (outputs or [])]
    if not outputs:
        header.setdefault("parameters", {})["binary_data_output"] = True
    head = orjson.dumps(header)
    return head + b"".join(blobs), {
        "Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(head)),
    }


def _split(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    try:
        if header_length is None:
            return orjson.loads(body), b""
        if not header_length.strip().isascii() or not header_length.strip().isdigit():
            raise ValueError
        n = int(header_length)
        if n < 0 or n > len(body):
            raise BadRequest(f"{HEADER_LENGTH} is out of range")
        return orjson.loads(body[:n]), body[n:]
    except (orjson.JSONDecodeError, ValueError):
        raise BadRequest("inference body is not valid JSON", code="malformed-json") from None


def split_body(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """An inference request body as its JSON header (an object, else 400) and the binary data after it."""
    header, tail = _split(body, header_length)
    if not isinstance(header, dict):
        raise BadRequest("inference request must be a JSON object", code="malformed-json")
    return header, tail


def _tensors(specs: Any, tail: bytes, what: str) -> list[V2Tensor]:
    if not isinstance(specs, list):
        raise ValidationFailed(f"'{what}' must be a list", field=what)
    out, pos = [], 0
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict):
            raise ValidationFailed(f"'{what}[{i}]' must be an object", field=f"{what}[{i}]")
        name, dtype, shape = spec.get("name"), spec.get("datatype"), spec.get("shape")
        if not isinstance(name, str) or dtype not in NUMPY_OF or not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise ValidationFailed(f"'{what}[{i}]' needs a name, a v2 datatype and a shape", field=f"{what}[{i}]")
        count = math.prod(shape)  # Python ints: np.prod wraps around for [2**32, 2**32]
        params = spec.get("parameters")
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0 or pos + size > len(tail):
                raise BadRequest(f"binary data of '{what}[{i}]' is out of range")
            raw = tail[pos : pos + size]
            pos += size
            if dtype == "BYTES":
                if count > len(raw) // 4:  # every element has a 4-byte length
                    raise ValidationFailed(f"binary size of '{what}[{i}]' does not match its shape",
                                           field=f"{what}[{i}]")
                arr = _wire_to_bytes(raw, count)
            else:
                itemsize = np.dtype(NUMPY_OF[dtype]).itemsize
                if len(raw) != count * itemsize:
                    raise ValidationFailed(f"binary size of '{what}[{i}]' does not match its shape",
                                           field=f"{what}[{i}]")
                arr = np.frombuffer(raw, dtype=NUMPY_OF[dtype])
        else:
            data = spec.get("data")
            if not isinstance(data, list):
                raise ValidationFailed(f"'{what}[{i}]' has no data", field=f"{what}[{i}]")
            try:
                leaves = _flatten(data)
                if dtype == "BYTES":
                    if not all(isinstance(d, str) for d in leaves):
                        raise TypeError("BYTES data are strings")
                    flat = np.array([d.encode() for d in leaves], dtype=np.object_)
                else:
                    if any(isinstance(d, (str, type(None))) for d in leaves):
                        raise TypeError("numbers only")  # numpy would parse "1.5"; the protocol does not
                    flat = np.asarray(leaves, dtype=NUMPY_OF[dtype])
            except (TypeError, ValueError, OverflowError):
                raise ValidationFailed(f"data of '{what}[{i}]' does not fit {dtype}", field=f"{what}[{i}]") from None
            if flat.size != count:
                raise ValidationFailed(f"data of '{what}[{i}]' does not match its shape", field=f"{what}[{i}]")
            arr = flat
        try:
            arr = arr.reshape(shape)
        except (ValueError, OverflowError):  # e.g. a zero-sized tensor with a dimension past int64
            raise ValidationFailed(f"shape of '{what}[{i}]' is out of range", field=f"{what}[{i}]") from None
        out.append(V2Tensor(name, dtype, shape, arr))
    return out


def _flatten(data: list) -> list:
    """Row-major leaves of a (possibly nested) JSON array; ragged or mixed nesting is a TypeError."""
    if not data or not isinstance(data[0], list):
        if any(isinstance(d, (list, dict)) for d in data):
            raise TypeError("mixed nesting")
        return data
    out: list = []
    for sub in data:
        if not isinstance(sub, list):
            raise TypeError("mixed nesting")
        out.extend(_flatten(sub))
    return out


def decode_inputs(header: dict[str, Any], tail: bytes) -> list[V2Tensor]:
    """The input tensors of an already split request (``split_body``)."""
    return _tensors(header.get("inputs"), tail, "inputs")


def decode_request(body: bytes, header_length: str | None) -> tuple[dict[str, Any], list[V2Tensor]]:
    header, tail = _split(body, header_length)
    if not isinstance(header, dict):
        raise ValidationFailed("inference request must be a JSON object")
    return header, _tensors(header.get("inputs"), tail, "inputs")


def decode_response(body: bytes, header_length: str | None) -> tuple[dict[str, Any], list[V2Tensor]]:
    header, tail = _split(body, header_length)
    if not isinstance(header, dict):
        raise ValidationFailed("inference response must be a JSON object")
    return header, _tensors(header.get("outputs", []), tail, "outputs")


def encode_response(
    model: str, version: str, outputs: list[V2Tensor], *, request_id: str | None = None,
    binary: bool = False, parameters: dict[str, Any] | None = None,
) -> tuple[bytes, dict[str, str]]:
    header: dict[str, Any] = {"model_name": model, "model_version": version}
    if request_id:
        header["id"] = request_id
    if parameters:
        header["parameters"] = parameters
    if not binary:
        header["outputs"] = [t.to_json() for t in outputs]
        return orjson.dumps(header), {"Content-Type": "application/json"}
    specs, blobs = _binary_tensors(outputs)
    header["outputs"] = specs
    head = orjson.dumps(header)
    return head + b"".join(blobs), {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(head))}
