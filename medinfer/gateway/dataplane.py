"""The gateway's data plane: what a request must go through, per model kind, whatever protocol carried it.

The gateway is the only way in, so the per-kind pipeline cannot depend on the
door a request came through. This module is that rule, in one place:

=========  ==============================================================  ==========================================
kind       ``POST /infer`` and FHIR (``InferenceService.infer``)           ``/v2`` REST (JSON, binary) and gRPC
=========  ==============================================================  ==========================================
text       de-identify (fail-closed) → text OOD gate → Triton → embedding  the same steps on every BYTES element
           gate and drift window (``TextPipeline.clean``)                  (``DataPlane.admit_v2``): Triton receives
                                                                           only de-identified text
image      preprocessor: decode, DICOM/burned-in policy, LUTs, image OOD    refused, 400 ``image-model-needs-infer``
           gate, the model's tensor                                        naming ``POST /infer``
tabular    schema validation → OOD gate and drift window → Triton          signature check → the same OOD gate and
                                                                           drift window → Triton
other      —                                                               signature check → Triton
=========  ==============================================================  ==========================================

Every ``/v2`` and gRPC inference is first checked against the model's declared
signature (:mod:`medinfer.gateway.v2_validation`), for every model, so no
request reaches Triton with a shape it would crash on.

Why images are refused on ``/v2`` rather than accepted as pixel tensors: the
image pipeline's policies read the *file* (the DICOM header's
BurnedInAnnotation, modality, photometric interpretation, window/LUTs and the
preprocessor's intensity summary the OOD gate compares to the reference). A
pixel tensor carries none of that; accepting one would let any client skip the
burned-in-annotation policy and the OOD gate with arbitrary pixels. Metadata,
readiness, configuration and statistics of image models stay served on
``/v2`` and gRPC (docs/protocols.md).

This is the seed of issue 18's single data plane: the v2/gRPC admission lives
here, and it shares ``TextPipeline.clean`` and ``InferenceService``'s gates
with ``/infer`` and FHIR rather than copying them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from medinfer.common.errors import BadRequest
from medinfer.common.v2 import V2Tensor
from medinfer.gateway.resilience import Deadline
from medinfer.gateway.v2_validation import InputView, InvalidTensor, TensorLimits, json_leaves, validate_inputs
from medinfer.monitoring import OodDecision
from medinfer.triton.catalog import CatalogEntry

__all__ = ["DataPlane", "V2Admission", "ImageModelNeedsInfer", "wire_bytes", "rewrite_rest_texts",
           "rewrite_grpc_texts"]


class ImageModelNeedsInfer(BadRequest):
    code, title = "image-model-needs-infer", "Image models take images through POST /infer"

    def __init__(self) -> None:
        super().__init__(
            "image models are served through POST /infer (JSON base64 or multipart upload of the PNG, JPEG or "
            "DICOM file), where the DICOM/burned-in-annotation policy, preprocessing and the OOD gate run; "
            "/v2 and gRPC inference does not accept pixel tensors for them")


@dataclass
class V2Admission:
    """What the data plane decided for one ``/v2`` or gRPC inference, before Triton is called."""

    texts: dict[int, list[str]] | None = None  # input index -> its de-identified elements (text models)
    ood: OodDecision | None = None  # the gate's decision so far (tabular, or the text gate)
    text_monitored: bool = False  # the embedding gate and drift window run on Triton's answer
    phi_counts: dict[str, int] | None = None


class DataPlane:
    """Built once in ``create_app``; the REST ``/v2`` routes and the gRPC servicer call it."""

    def __init__(self, service: Any, limits: TensorLimits) -> None:
        self.service = service  # InferenceService: the text pipeline and the gates /infer uses
        self.limits = limits

    async def admit_v2(self, entry: CatalogEntry, views: list[InputView], outputs: list[Any], *,
                       features: Callable[[], np.ndarray | None], deadline: Deadline,
                       headers: dict[str, str] | None, patient_key: str | None) -> V2Admission:
        """Refuse, validate, de-identify or gate, by the model's kind (the module docstring's table).

        ``features`` decodes the tabular input for the OOD gate (only called for a monitored tabular version).
        Raises before anything is forwarded: 400 for a request that does not fit, 503 when de-identification
        is unavailable, 422 ``ood-rejected`` under a reject policy."""
        kind = entry.kind
        if kind == "image":
            raise ImageModelNeedsInfer()
        validate_inputs(entry.config, views, outputs, self.limits)
        svc = self.service
        if kind == "text":
            gate = svc.media_ood.text_gate(entry)
            texts: dict[int, list[str]] = {}
            counts: dict[str, int] = {}
            decision = None
            for i, view in enumerate(views):
                if view.datatype != "BYTES":
                    continue
                clean = await svc.text.clean(_texts(i, view), deadline, headers, patient_key, gate)
                texts[i] = clean.texts
                for label, n in clean.phi_counts.items():
                    counts[label] = counts.get(label, 0) + n
                if decision is None or (clean.ood is not None and clean.ood.ood and not decision.ood):
                    decision = clean.ood
            return V2Admission(texts, decision, gate is not None, counts)
        if svc.monitors_tabular(entry):
            x = features()
            return V2Admission(ood=None if x is None else svc.gate_tabular(entry, x))
        return V2Admission()

    def settle_v2(self, entry: CatalogEntry, admission: V2Admission,
                  outputs: Callable[[], list[V2Tensor]]) -> OodDecision | None:
        """The request's final OOD decision once Triton answered: a monitored text model's embedding gate and
        drift window run on its output (``outputs`` decodes it), as on ``/infer``."""
        if not admission.text_monitored:
            return admission.ood
        try:
            tensors = outputs()
        except Exception:  # noqa: BLE001 - an answer we cannot decode is served as is, just not monitored
            return admission.ood
        return self.service.media_ood.after_text(entry, tensors, admission.ood)


# ---- the elements of a BYTES input, and the request with them replaced -------------------------------------------

def _texts(i: int, view: InputView) -> list[str]:
    """A validated BYTES input's elements as text (UTF-8 or a 400)."""
    if view.raw is not None:
        items = _split_wire(bytes(view.raw))
    elif view.contents is not None:
        items = list(view.contents.bytes_contents)
    else:
        return list(json_leaves(view.data))  # JSON strings, checked by validate_inputs
    try:
        return [b.decode("utf-8") for b in items]
    except UnicodeDecodeError:
        raise InvalidTensor(f"inputs[{i}]: a text model takes UTF-8 text", extra={"field": f"inputs[{i}]"}) from None


def _split_wire(raw: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(raw):
        n = int.from_bytes(raw[pos:pos + 4], "little")
        out.append(raw[pos + 4:pos + 4 + n])
        pos += 4 + n
    return out


def wire_bytes(texts: list[str]) -> bytes:
    """BYTES elements in the binary tensor layout (4-byte little-endian length, then the bytes)."""
    out = bytearray()
    for t in texts:
        b = t.encode("utf-8")
        out += len(b).to_bytes(4, "little") + b
    return bytes(out)


def rewrite_rest_texts(header: dict[str, Any], tail: bytes, spans: list[tuple[int, int]],
                       texts: dict[int, list[str]]) -> tuple[bytes, int | None]:
    """The REST body with each de-identified input in place of the caller's (same form: JSON data or binary);
    returns the body and the new JSON header length (None for an all-JSON body)."""
    inputs = header["inputs"]
    blobs: list[bytes] = []
    for i, (start, end) in enumerate(spans):
        if i in texts:
            if start < 0:
                inputs[i] = {**inputs[i], "data": texts[i]}
            else:
                blob = wire_bytes(texts[i])
                inputs[i] = {**inputs[i], "parameters": {**inputs[i]["parameters"], "binary_data_size": len(blob)}}
                blobs.append(blob)
        elif start >= 0:
            blobs.append(tail[start:end])
    head = orjson.dumps(header)
    if not blobs and all(s < 0 for s, _ in spans):
        return head, None
    return head + b"".join(blobs), len(head)


def rewrite_grpc_texts(request: Any, texts: dict[int, list[str]]) -> None:
    """Put the de-identified elements into the ``ModelInferRequest`` in place of the caller's."""
    for i, items in texts.items():
        if request.raw_input_contents:
            request.raw_input_contents[i] = wire_bytes(items)
        else:
            contents = request.inputs[i].contents
            del contents.bytes_contents[:]
            contents.bytes_contents.extend(t.encode("utf-8") for t in items)
