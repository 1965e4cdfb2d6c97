"""Open Inference Protocol requests checked against the model's declared signature before anything is forwarded.

Triton trusts a request's shape: ``[1, 1, 64, 2**40]`` FP32 on ``image_quality``
makes it try to allocate 4 TiB and abort (SIGABRT), taking every client's
model with it. So the gateway answers such requests itself, for every model and
every protocol (REST JSON, REST binary, gRPC), from Triton's own
``config.pbtxt`` (read by the catalog):

- the inputs: declared names only, each once, all declared inputs present;
- per input: the declared datatype, the rank (``dims`` plus the batch
  dimension when ``max_batch_size > 0``), each dimension (``-1`` is free), the
  batch size within ``1..max_batch_size``;
- the element count times the element size against the bytes actually sent
  (binary data, gRPC raw contents), the JSON ``data`` leaves against the shape
  (numbers for numeric types, strings for BYTES), a typed gRPC ``contents``
  field against the shape, and the total against ``max_tensor_bytes``;
- requested outputs: declared names only.

Everything here looks at headers and counts only; no tensor is copied. Errors
are 400 ``invalid-tensor`` naming the input by position and the *declared*
tensor name, never what the caller sent (a tensor name or value may be PHI).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from medinfer.common.errors import BackendUnavailable, BadRequest
from medinfer.common.v2 import NUMPY_OF
from medinfer.triton.model_config import ModelConfig

__all__ = ["TensorLimits", "InputView", "InvalidTensor", "validate_inputs", "rest_views", "grpc_views",
           "ITEMSIZE", "GRPC_CONTENTS", "json_leaves"]

#: bytes per element of each fixed-size v2 datatype
ITEMSIZE = {k: (0 if k == "BYTES" else np.dtype(v).itemsize) for k, v in NUMPY_OF.items()}

#: the typed ``InferTensorContents`` field that carries each datatype over gRPC (FP16 travels raw only)
GRPC_CONTENTS = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
    "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents", "UINT32": "uint_contents",
    "UINT64": "uint64_contents", "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents",
}
_ALL_CONTENTS = tuple(sorted(set(GRPC_CONTENTS.values())))
_INT_RANGE = {
    "INT8": (-(2**7), 2**7 - 1), "INT16": (-(2**15), 2**15 - 1), "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1), "UINT8": (0, 2**8 - 1), "UINT16": (0, 2**16 - 1),
    "UINT32": (0, 2**32 - 1), "UINT64": (0, 2**64 - 1),
}


class InvalidTensor(BadRequest):
    code, title = "invalid-tensor", "Request does not fit the model's inputs"


@dataclass(frozen=True)
class TensorLimits:
    """Ceilings for one request, whatever the model declares."""

    max_tensor_bytes: int = 64 * 1024 * 1024  # sum over inputs of elements x element size
    max_inputs: int = 64
    max_string_bytes: int = 24_000_000  # longest BYTES element


@dataclass
class InputView:
    """One input tensor as the request states it, before any decoding.

    Exactly one of ``data`` (JSON leaves, possibly nested), ``raw`` (binary
    tensor data or gRPC raw contents) and ``contents`` (the gRPC
    ``InferTensorContents`` message) carries the elements."""

    name: Any
    datatype: Any
    shape: Any
    data: Any = None
    raw: bytes | memoryview | None = None
    contents: Any = None
    has_elements: bool = True


def _fail(i: int, what: str) -> InvalidTensor:
    return InvalidTensor(f"inputs[{i}]: {what}", extra={"field": f"inputs[{i}]"})


def json_leaves(data: Any) -> list:
    """Row-major leaves of a JSON array, iteratively (no recursion limit); ragged nesting is fine, as for Triton."""
    return _leaves_and_types(data)[0]


def _leaves_and_types(data: Any) -> tuple[list, set[type]]:
    """The leaves and the set of their types, in one pass over a flat array (the usual case, at C speed)."""
    if not isinstance(data, list):
        raise TypeError
    types = set(map(type, data))
    if list not in types:
        return data, types
    out: list = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out, set(map(type, out))


def _json_leaves_fit(datatype: str, leaves: list, types: set[type], max_string: int) -> bool:
    if datatype == "BYTES":
        return types <= {str} and all(len(x) <= max_string for x in leaves)
    if datatype == "BOOL":
        return types <= {bool}
    if datatype in ("FP16", "FP32", "FP64"):
        return types <= {int, float}
    if not types <= {int}:
        return False
    if not leaves:
        return True
    lo, hi = _INT_RANGE[datatype]
    return lo <= min(leaves) and max(leaves) <= hi


def _wire_bytes_count(raw: bytes | memoryview, count: int, max_string: int) -> bool:
    """Whether ``raw`` is exactly ``count`` length-prefixed BYTES elements."""
    if count > len(raw) // 4:
        return False
    mv = memoryview(raw)
    pos = 0
    for _ in range(count):
        if pos + 4 > len(mv):
            return False
        n = int.from_bytes(mv[pos:pos + 4], "little")
        pos += 4 + n
        if n > max_string or pos > len(mv):
            return False
    return pos == len(mv)


def validate_inputs(config: ModelConfig | None, inputs: Sequence[InputView], outputs: Sequence[Any],
                    limits: TensorLimits) -> None:
    """Raise ``InvalidTensor`` (400) unless the request fits ``config``; see the module docstring."""
    if config is None:
        raise BackendUnavailable("the model has no readable configuration", retry_after=2, code="model-unavailable")
    if len(inputs) > limits.max_inputs:
        raise InvalidTensor(f"more than {limits.max_inputs} inputs")
    declared = {t.name: t for t in config.inputs}
    seen: set[str] = set()
    total = 0
    mbs = config.max_batch_size
    for i, view in enumerate(inputs):
        spec = declared.get(view.name) if isinstance(view.name, str) else None
        if spec is None:
            raise _fail(i, "not an input of this model (see the model metadata)")
        if spec.name in seen:
            raise _fail(i, f"'{spec.name}' is given twice")
        seen.add(spec.name)
        if view.datatype != spec.datatype:
            raise _fail(i, f"'{spec.name}' takes {spec.datatype}")
        shape = view.shape
        if not isinstance(shape, (list, tuple)) or not all(
                type(d) is int and d >= 0 for d in shape):
            raise _fail(i, f"'{spec.name}' needs a shape of non-negative integers")
        dims = list(shape)
        if mbs > 0:
            if len(dims) != len(spec.dims) + 1:
                raise _fail(i, f"'{spec.name}' has rank {len(spec.dims) + 1} (batch first)")
            if not 1 <= dims[0] <= mbs:
                raise _fail(i, f"'{spec.name}': batch size must be 1 to {mbs}")
            dims = dims[1:]
        elif len(dims) != len(spec.dims):
            raise _fail(i, f"'{spec.name}' has rank {len(spec.dims)}")
        for d, want in zip(dims, spec.dims):
            if want != -1 and d != want:
                raise _fail(i, f"'{spec.name}' has shape {_declared_shape(spec.dims, mbs)}")
        count = math.prod(shape)
        itemsize = ITEMSIZE[spec.datatype]
        if count * max(itemsize, 1) > limits.max_tensor_bytes:
            raise _fail(i, f"'{spec.name}' is larger than the limit of {limits.max_tensor_bytes} bytes")
        total += _check_elements(i, spec.name, spec.datatype, count, itemsize, view, limits)
        if total > limits.max_tensor_bytes:
            raise InvalidTensor(f"the inputs are larger than the limit of {limits.max_tensor_bytes} bytes")
    missing = [n for n in declared if n not in seen]
    if missing:
        raise InvalidTensor(f"missing input '{missing[0]}' (see the model metadata)")
    names = {t.name for t in config.outputs}
    for j, out in enumerate(outputs):
        if out not in names:
            raise InvalidTensor(f"outputs[{j}]: not an output of this model (see the model metadata)",
                                extra={"field": f"outputs[{j}]"})


def _declared_shape(dims: Sequence[int], mbs: int) -> str:
    return str(([-1] if mbs > 0 else []) + list(dims))


def _check_elements(i: int, name: str, datatype: str, count: int, itemsize: int, view: InputView,
                    limits: TensorLimits) -> int:
    """The bytes the input carries, once its elements are found to match ``count``."""
    if view.raw is not None:
        n = len(view.raw)
        if datatype == "BYTES":
            if not _wire_bytes_count(view.raw, count, limits.max_string_bytes):
                raise _fail(i, f"'{name}': the BYTES data do not hold exactly {count} elements")
        elif n != count * itemsize:
            raise _fail(i, f"'{name}': {n} bytes of data for {count} elements of {itemsize} bytes")
        return n
    if view.contents is not None:
        field = GRPC_CONTENTS.get(datatype)
        if field is None:
            raise _fail(i, f"'{name}': {datatype} travels in raw_input_contents only")
        values = getattr(view.contents, field)
        if len(values) != count or any(len(getattr(view.contents, f)) for f in _ALL_CONTENTS if f != field):
            raise _fail(i, f"'{name}': contents must hold exactly {count} elements in {field}")
        if datatype == "BYTES":
            if any(len(v) > limits.max_string_bytes for v in values):
                raise _fail(i, f"'{name}': an element is longer than {limits.max_string_bytes} bytes")
            return sum(len(v) for v in values)
        if datatype in _INT_RANGE and values:
            lo, hi = _INT_RANGE[datatype]
            if not (lo <= min(values) and max(values) <= hi):
                raise _fail(i, f"'{name}': a value does not fit {datatype}")
        return count * itemsize
    if not view.has_elements:
        raise _fail(i, f"'{name}' has no data")
    try:
        leaves, types = _leaves_and_types(view.data)
    except TypeError:
        raise _fail(i, f"'{name}' needs its data as a JSON array") from None
    if len(leaves) != count:
        raise _fail(i, f"'{name}': {len(leaves)} data elements for shape of {count}")
    if not _json_leaves_fit(datatype, leaves, types, limits.max_string_bytes):
        raise _fail(i, f"'{name}': the data do not fit {datatype}")
    return sum(len(x) for x in leaves) if datatype == "BYTES" else count * itemsize


# ---- what each protocol's request looks like as InputViews ------------------------------------------------------

def rest_views(header: dict[str, Any], tail: bytes) -> tuple[list[InputView], list[Any], list[tuple[int, int]]]:
    """Views of a REST request's inputs and requested output names, and each binary input's (start, end) in
    ``tail`` ((-1, -1) for JSON data). Structural errors (not an object, sizes past the body) are 400s."""
    specs = header.get("inputs")
    if not isinstance(specs, list) or not specs:
        raise InvalidTensor("'inputs' must be a non-empty list", extra={"field": "inputs"})
    views, spans = [], []
    pos = 0
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict):
            raise _fail(i, "must be an object")
        params = spec.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise _fail(i, "'parameters' must be an object")
        size = (params or {}).get("binary_data_size")
        view = InputView(spec.get("name"), spec.get("datatype"), spec.get("shape"))
        if size is not None:
            if type(size) is not int or size < 0 or pos + size > len(tail):
                raise _fail(i, "binary_data_size is out of range of the body")
            if "data" in spec:
                raise _fail(i, "has both data and binary_data_size")
            view.raw = memoryview(tail)[pos:pos + size]
            spans.append((pos, pos + size))
            pos += size
        else:
            view.data = spec.get("data")
            view.has_elements = "data" in spec
            spans.append((-1, -1))
        views.append(view)
    if pos != len(tail):
        raise InvalidTensor("the binary data do not match the inputs' binary_data_size")
    outs = header.get("outputs", [])
    if not isinstance(outs, list) or not all(isinstance(o, dict) for o in outs):
        raise InvalidTensor("'outputs' must be a list of objects", extra={"field": "outputs"})
    return views, [o.get("name") for o in outs], spans


def grpc_views(request: Any) -> tuple[list[InputView], list[str]]:
    """Views of a ``ModelInferRequest``: raw contents (all inputs or none) or typed contents."""
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise InvalidTensor("raw_input_contents must hold one entry per input")
    views = []
    for i, inp in enumerate(request.inputs):
        view = InputView(inp.name, inp.datatype, list(inp.shape))
        if raw:
            if inp.HasField("contents"):
                raise _fail(i, "has both contents and raw_input_contents")
            view.raw = raw[i]
        else:
            view.contents = inp.contents
        views.append(view)
    return views, [o.name for o in request.outputs]
