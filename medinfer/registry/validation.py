"""Validation of a model before it can be published (and again before promotion).

A candidate must be a well-formed ONNX graph (``onnx.checker``), load in ONNX
Runtime, and answer one smoke inference: on the sample shipped next to it
(``sample.json``, an Open Inference Protocol request body) or, without one, on an
input generated from its signature. Float outputs must be finite. The result is a
plain dict stored with the version, so anyone can see later what was checked.
Error messages name the file role and the check, never tensor values.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from medinfer.common.errors import ValidationFailed
from medinfer.triton.model_config import TRITON_TO_NUMPY, TensorSpec
from medinfer.triton.onnx_signature import onnx_signature

__all__ = [
    "Candidate",
    "ValidationReport",
    "find_candidate",
    "validate_candidate",
    "signature_dict",
    "check_compatible",
    "sha256_file",
    "SAMPLE_FILE",
    "CARD_FILES",
]

SAMPLE_FILE = "sample.json"
CARD_FILES = ("MODEL_CARD.md", "README.md")
MAX_MODEL_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Candidate:
    """What ``publish`` takes: the ONNX file, an optional sample and model card."""

    onnx_path: Path
    sample_path: Path | None
    card_path: Path | None


@dataclass(frozen=True)
class ValidationReport:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    results: dict[str, Any]

    @property
    def signature(self) -> dict[str, Any]:
        return signature_dict(self.inputs, self.outputs)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def signature_dict(inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...]) -> dict[str, Any]:
    def one(t: TensorSpec) -> dict[str, Any]:
        return {"name": t.name, "datatype": t.datatype, "shape": list(t.dims)}

    return {"inputs": [one(t) for t in inputs], "outputs": [one(t) for t in outputs]}


def find_candidate(path: Path) -> Candidate:
    """An ``.onnx`` file, or a folder holding exactly one (plus optional sample and card)."""
    path = Path(path)
    if path.is_file():
        folder, onnx_path = path.parent, path
        if path.suffix != ".onnx":
            raise ValidationFailed("the model file must have the .onnx extension", field="path")
    elif path.is_dir():
        found = sorted(path.glob("*.onnx"))
        if len(found) != 1:
            raise ValidationFailed(
                f"the folder must hold exactly one .onnx file (found {len(found)})", field="path"
            )
        folder, onnx_path = path, found[0]
    else:
        raise ValidationFailed("no model file or folder at the given path", field="path")
    if onnx_path.stat().st_size > MAX_MODEL_BYTES:
        raise ValidationFailed(f"the model file exceeds {MAX_MODEL_BYTES} bytes", field="path")
    sample = folder / SAMPLE_FILE if path.is_dir() and (folder / SAMPLE_FILE).is_file() else None
    card = None
    if path.is_dir():
        card = next((folder / c for c in CARD_FILES if (folder / c).is_file()), None)
    return Candidate(onnx_path, sample, card)


def _load_sample(path: Path, inputs: tuple[TensorSpec, ...]) -> dict[str, np.ndarray]:
    try:
        body = json.loads(path.read_text())
        items = {i["name"]: i for i in body["inputs"]}
    except (ValueError, KeyError, TypeError):
        raise ValidationFailed(
            "sample.json is not an inference request body with 'inputs'", field="sample.json"
        ) from None
    feeds: dict[str, np.ndarray] = {}
    for spec in inputs:
        item = items.get(spec.name)
        if item is None:
            raise ValidationFailed(f"sample.json has no input '{spec.name}'", field="sample.json")
        try:
            arr = np.asarray(item["data"], dtype=TRITON_TO_NUMPY[spec.datatype]).reshape(item["shape"])
        except (ValueError, KeyError, TypeError):
            raise ValidationFailed(
                f"sample.json input '{spec.name}' does not match its shape or datatype", field="sample.json"
            ) from None
        feeds[spec.name] = arr
    return feeds


def _generated_sample(inputs: tuple[TensorSpec, ...]) -> dict[str, np.ndarray]:
    """Deterministic values in [0, 1) with every variable dimension set to 1."""
    rng = np.random.default_rng(0)
    feeds: dict[str, np.ndarray] = {}
    for spec in inputs:
        shape = tuple(1 if d < 0 else d for d in spec.dims)
        np_type = TRITON_TO_NUMPY[spec.datatype]
        if spec.datatype == "BYTES":
            arr = np.full(shape, "", dtype=object)
        elif spec.datatype == "BOOL":
            arr = np.zeros(shape, dtype=bool)
        else:
            arr = rng.random(shape).astype(np_type)
        feeds[spec.name] = arr
    return feeds


def validate_candidate(candidate: Candidate) -> ValidationReport:
    """Raise ``ValidationFailed`` (422) unless the model loads and answers a smoke inference."""
    try:
        model = onnx.load(str(candidate.onnx_path), load_external_data=False)
    except Exception:  # noqa: BLE001 - protobuf raises several types for garbage input
        raise ValidationFailed("the file is not an ONNX model (it does not parse)", field="model") from None
    if not model.graph.node:
        raise ValidationFailed("the ONNX model has an empty graph", field="model")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError:
        raise ValidationFailed("the ONNX model fails onnx.checker", field="model") from None
    try:
        inputs, outputs = onnx_signature(model)
    except ValueError as exc:
        raise ValidationFailed(f"unsupported signature: {exc}", field="model") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(
            str(candidate.onnx_path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
    except Exception:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise ValidationFailed("onnxruntime cannot load the model", field="model") from None
    if candidate.sample_path is not None:
        feeds, source = _load_sample(candidate.sample_path, inputs), "shipped"
    else:
        feeds, source = _generated_sample(inputs), "generated"
    t0 = time.perf_counter()
    try:
        results = session.run([o.name for o in outputs], feeds)
    except Exception:  # noqa: BLE001
        raise ValidationFailed(
            f"smoke inference on the {source} sample failed in onnxruntime", field="model"
        ) from None
    latency_ms = (time.perf_counter() - t0) * 1000
    shapes: dict[str, list[int]] = {}
    for spec, res in zip(outputs, results, strict=True):
        arr = np.asarray(res)
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise ValidationFailed(f"smoke inference output '{spec.name}' is not finite", field="model")
        shapes[spec.name] = list(arr.shape)
    return ValidationReport(
        inputs,
        outputs,
        {
            "onnx_checker": "passed",
            "onnxruntime": ort.__version__,
            "opset": [{"domain": o.domain, "version": o.version} for o in model.opset_import],
            "smoke": {"sample": source, "latency_ms": round(latency_ms, 3), "output_shapes": shapes},
            "passed": True,
        },
    )


def check_compatible(current: dict[str, Any], new: dict[str, Any]) -> None:
    """Versions of one model share Triton's model-level config, so a non-breaking
    version must have exactly the current signature (names, datatypes, shapes)."""
    if current == new:
        return
    diffs = []
    for side in ("inputs", "outputs"):
        old = {t["name"]: t for t in current[side]}
        cur = {t["name"]: t for t in new[side]}
        for name in sorted(old.keys() - cur.keys()):
            diffs.append(f"{side[:-1]} '{name}' removed")
        for name in sorted(cur.keys() - old.keys()):
            diffs.append(f"{side[:-1]} '{name}' added")
        for name in sorted(old.keys() & cur.keys()):
            if old[name] != cur[name]:
                diffs.append(f"{side[:-1]} '{name}' changed datatype or shape")
    raise ValidationFailed(
        "signature is incompatible with the current version ("
        + "; ".join(diffs or ["order changed"])
        + "); publish with --breaking to allow it",
        code="signature-mismatch",
        field="signature",
    )
