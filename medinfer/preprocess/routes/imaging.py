"""Image preprocessing and DICOM de-identification routes.

``POST /v1/image/preprocess`` takes ``{"input": "<base64>", "model"?, "version"?,
"frame"?, "window"?: [centre, width]}`` or a multipart upload (field ``file`` plus
the same fields as form values) and returns the model's input tensor as a KServe v2
inference request body: binary by default (``Inference-Header-Content-Length``),
JSON with ``Accept: application/json``. A raw ``application/dicom`` or
``application/octet-stream`` body (options as query parameters) skips base64 and is the
fastest form for large images. ``POST /v1/dicom/deidentify`` takes the same
JSON or multipart forms, or a raw ``application/dicom`` body, and returns the
de-identified ``application/dicom``.
"""

from __future__ import annotations

import binascii
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from medinfer.common.errors import BadRequest, PayloadTooLarge, ValidationFailed
from medinfer.common.http import ORJSONResponse, parse_json_body
from medinfer.common.multipart import read_form
from medinfer.common.v2 import V2Tensor, encode_request
from medinfer.preprocess.imaging.detect import detect_format
from medinfer.preprocess.imaging.errors import UnsupportedImageFormat
from medinfer.preprocess.imaging.service import DEFAULT_TARGET, ImagingService, target_from_metadata
from medinfer.preprocess.imaging.tensor import ImageTarget

__all__ = ["router"]

router = APIRouter(tags=["imaging"])

IMAGE_INFO_HEADER = "X-Medinfer-Image"
DEID_REPORT_HEADER = "X-Medinfer-Deid-Report"


def _b64(value: Any) -> bytes:
    if not isinstance(value, str) or not value:
        raise ValidationFailed("'input' must be a base64 string", field="input")
    try:
        return binascii.a2b_base64(value, strict_mode=True)  # C speed; rejects non-alphabet bytes
    except (binascii.Error, ValueError):
        raise BadRequest("'input' is not valid base64", code="invalid-base64") from None


async def _read_input(request: Request) -> tuple[bytes, dict[str, Any]]:
    """(file bytes, options) from JSON, multipart or a raw DICOM body."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        form = await read_form(request, max_bytes=request.app.state.settings.max_body_bytes)  # in memory, no spool
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ValidationFailed("multipart upload needs a 'file' part", field="file")
        data = await upload.read()
        return data, _form_options({k: v for k, v in form.items() if k != "file" and isinstance(v, str)})
    if ctype in ("application/dicom", "application/octet-stream", "image/png", "image/jpeg"):
        return await request.body(), _form_options(dict(request.query_params))
    body = parse_json_body(await request.body())
    if not isinstance(body, dict) or "input" not in body:
        raise ValidationFailed("body must be an object with a base64 'input'", field="input")
    return _b64(body["input"]), body


def _form_options(opts: dict[str, Any]) -> dict[str, Any]:
    """Form fields and query parameters are strings; the window comes as two of them."""
    if "window_center" in opts or "window_width" in opts:
        opts["window"] = [opts.pop("window_center", None), opts.pop("window_width", None)]
    return opts


def _opt_int(value: Any, field: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationFailed(f"'{field}' must be a non-negative integer", field=field)
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"'{field}' must be a non-negative integer", field=field) from None
    if out < 0 or (isinstance(value, float) and value != out):
        raise ValidationFailed(f"'{field}' must be a non-negative integer", field=field)
    return out


def _window(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        centre, width = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValidationFailed("'window' must be [centre, width]", field="window") from None
    if not (width >= 1 and abs(centre) < 1e9 and width < 1e9):
        raise ValidationFailed("'window' width must be >= 1 and values finite", field="window")
    return centre, width


def _target(request: Request, svc: ImagingService, opts: dict[str, Any]) -> tuple[ImageTarget, Any, Any, Any]:
    """(target, window from the model, model name, version) for the named or default model."""
    model, version = opts.get("model"), _opt_int(opts.get("version"), "version")
    if model is not None and (not isinstance(model, str) or not model):
        raise ValidationFailed("'model' must be a model name", field="model")
    catalog = getattr(request.app.state, "catalog", None)
    name = model or svc.default_model
    if catalog is None or name is None or (model is None and name not in catalog.names()):
        return DEFAULT_TARGET, None, name, None
    entry = catalog.get(name, version)
    if entry.kind != "image":
        raise ValidationFailed(f"model takes {entry.kind} input, not images", field="model", code="wrong-input-kind")
    target, window = target_from_metadata(entry.metadata)
    return target, window, entry.name, entry.version


@router.post("/v1/image/preprocess")
async def preprocess_image(request: Request) -> Response:
    """DICOM/PNG/JPEG -> the model's input tensor (v2 binary by default, JSON on Accept: application/json)."""
    svc: ImagingService = request.app.state.imaging
    data, opts = await _read_input(request)
    target, model_window, model, version = _target(request, svc, opts)
    frame = _opt_int(opts.get("frame"), "frame")
    window = _window(opts.get("window")) or model_window
    result = await run_in_threadpool(svc.preprocessor.preprocess, data, target, frame=frame, window=window)
    info = dict(result.info, model=model, version=version)
    tensor = V2Tensor(target.name, target.datatype, list(result.tensor.shape), result.tensor)
    if "application/json" in request.headers.get("accept", ""):
        return ORJSONResponse({"model": model, "version": version, "inputs": [tensor.to_json()], "image": info})
    body, headers = encode_request([tensor], binary=True)
    headers[IMAGE_INFO_HEADER] = orjson.dumps(info).decode()
    return Response(body, media_type=headers.pop("Content-Type"), headers=headers)


@router.post("/v1/dicom/deidentify")
async def deidentify_dicom(request: Request) -> Response:
    """DICOM in (JSON base64, multipart or application/dicom) -> de-identified application/dicom."""
    svc: ImagingService = request.app.state.imaging
    data, _ = await _read_input(request)
    if len(data) > svc.preprocessor.limits.max_input_bytes:
        raise PayloadTooLarge(f"DICOM file exceeds the limit of {svc.preprocessor.limits.max_input_bytes} bytes")
    if detect_format(data) != "dicom":
        raise UnsupportedImageFormat("de-identification takes DICOM Part 10 files only")
    out, report = await run_in_threadpool(svc.deidentifier.deidentify_bytes, data)
    summary = {k: v for k, v in vars(report).items() if k != "actions"}
    return Response(out, media_type="application/dicom", headers={DEID_REPORT_HEADER: orjson.dumps(summary).decode()})

