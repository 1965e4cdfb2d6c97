"""The OOD gate and drift window for Open Inference Protocol requests (REST ``/v2`` and gRPC).

``/infer`` builds its own FP32 tensor; a v2 request arrives with one. For a
monitored tabular version the gateway decodes the model's input tensor (a
zero-copy ``np.frombuffer`` view for binary data), runs the same
``InferenceService.gate_tabular`` as ``/infer``, and still forwards the
caller's bytes unchanged. Versions without a monitor are not decoded at all.

A flagged answer says so the v2 way, in the response ``parameters`` (scalars
only, as KServe v2 requires): ``ood`` (bool), ``ood_reason`` (a reason code)
and ``ood_rows`` (the flagged batch indices, comma-separated). Only a flagged
REST response has its JSON header rewritten; the binary tensor data after it
is passed through as received from Triton.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson

from medinfer.common.v2 import decode_inputs, decode_request
from medinfer.monitoring import OodDecision
from medinfer.triton.catalog import CatalogEntry

__all__ = ["v2_features", "v2_split_features", "grpc_features", "ood_parameters", "flag_rest_response", "flag_grpc_response"]

_FP32 = np.dtype("<f4")


def _input_name(entry: CatalogEntry) -> str | None:
    spec = entry.metadata.get("input")
    return spec.get("name") if isinstance(spec, dict) else None


def v2_features(entry: CatalogEntry, body: bytes, header_length: str | None) -> np.ndarray | None:
    """The model's FP32 input tensor of a REST v2 request, or None when it has none (Triton then refuses it).

    Malformed bodies raise the codec's 400/422 errors before anything reaches Triton."""
    _, tensors = decode_request(body, header_length)
    return _fp32_input(entry, tensors)


def v2_split_features(entry: CatalogEntry, header: dict[str, Any], tail: bytes) -> np.ndarray | None:
    """``v2_features`` of a request the route has already split (the JSON is parsed once)."""
    return _fp32_input(entry, decode_inputs(header, tail))


def _fp32_input(entry: CatalogEntry, tensors: list) -> np.ndarray | None:
    name = _input_name(entry)
    for t in tensors:
        if t.name == name and t.datatype == "FP32":
            return t.data
    return None


def grpc_features(entry: CatalogEntry, request: Any) -> np.ndarray | None:
    """The model's FP32 input from a ``ModelInferRequest`` (raw contents or ``fp32_contents``)."""
    name = _input_name(entry)
    for i, inp in enumerate(request.inputs):
        if inp.name != name or inp.datatype != "FP32":
            continue
        shape = [int(d) for d in inp.shape]
        count = int(np.prod(shape)) if shape else 1
        if request.raw_input_contents:
            if i >= len(request.raw_input_contents):
                return None
            raw = request.raw_input_contents[i]
            if len(raw) != count * _FP32.itemsize:
                return None  # Triton answers INVALID_ARGUMENT for the size mismatch
            arr = np.frombuffer(raw, dtype=_FP32)
        else:
            arr = np.asarray(inp.contents.fp32_contents, dtype=np.float32)
            if arr.size != count:
                return None
        return arr.reshape(shape)
    return None


def ood_parameters(decision: OodDecision) -> dict[str, Any]:
    return {"ood": True, "ood_reason": decision.reason or "unknown",
            "ood_rows": ",".join(str(r) for r in decision.rows)}


def flag_rest_response(body: bytes, header_length: str | None, decision: OodDecision) -> tuple[bytes, str | None]:
    """Add the OOD parameters to Triton's v2 response; returns the new body and header length."""
    n = len(body) if header_length is None else int(header_length)
    raw, tail = body[:n], body[n:]
    try:
        header, dump = orjson.loads(raw), orjson.dumps
    except orjson.JSONDecodeError:
        # Triton writes non-finite outputs as NaN/Infinity, which strict JSON (orjson) refuses; the standard
        # library reads and writes them back the same way, so the tensors keep Triton's values.
        header = json.loads(raw)
        dump = _dump_non_finite
    params = header.get("parameters")
    header["parameters"] = {**(params if isinstance(params, dict) else {}), **ood_parameters(decision)}
    head = dump(header)
    return head + tail, (None if header_length is None else str(len(head)))


def _dump_non_finite(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), allow_nan=True).encode()


def flag_grpc_response(response: Any, decision: OodDecision) -> Any:
    for key, value in ood_parameters(decision).items():
        if isinstance(value, bool):
            response.parameters[key].bool_param = value
        else:
            response.parameters[key].string_param = value
    return response
