"""The gateway's text (NLP) and image (CV) paths to Triton.

Text: the preprocessor de-identifies the note first (``/v1/deidentify``);
only the de-identified text is sent to the model. The path is fail-closed: if
de-identification fails or the preprocessor is unreachable, the request ends
with 503 and the raw text goes nowhere. Input errors the preprocessor reports
(empty text, too long) are relayed as the 4xx they are.

Images and DICOM: the raw file goes to the preprocessor (``/v1/image/preprocess``),
which decodes it, refuses burned-in annotations, applies the LUTs and returns a
ready KServe v2 binary request for the model's declared tensor; the gateway
forwards it to Triton as is. DICOM headers (where the PHI is) never reach Triton.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import numpy as np
import orjson

from medinfer.common.errors import BackendUnavailable, DeadlineExceeded, MedinferError
from medinfer.common.v2 import HEADER_LENGTH, V2Tensor, decode_response
from medinfer.gateway.clients.preprocessor import PreprocessorClient, UpstreamProblem
from medinfer.gateway.clients.triton import TritonClient, triton_error
from medinfer.gateway.resilience import Deadline
from medinfer.monitoring import OodDecision
from medinfer.triton.catalog import CatalogEntry

__all__ = ["TextPipeline", "ImagePipeline", "TextOutcome", "ImageOutcome", "IMAGE_INFO_HEADER"]

#: the preprocessor's PHI-free facts about the decoded frame (modality, size, intensity summary)
IMAGE_INFO_HEADER = "X-Medinfer-Image"


class TextOutcome:
    __slots__ = ("outputs", "phi_counts", "ood")

    def __init__(self, outputs: list[V2Tensor], phi_counts: dict[str, int], ood: OodDecision | None = None) -> None:
        self.outputs = outputs
        self.phi_counts = phi_counts
        self.ood = ood


class ImageOutcome:
    __slots__ = ("outputs", "ood")

    def __init__(self, outputs: list[V2Tensor], ood: OodDecision | None = None) -> None:
        self.outputs = outputs
        self.ood = ood


class TextPipeline:
    def __init__(self, preprocessor: PreprocessorClient, triton: TritonClient, operator: str = "surrogate") -> None:
        self.preprocessor = preprocessor
        self.triton = triton
        self.operator = operator

    async def deidentify(self, text: str, deadline: Deadline, headers: dict[str, str] | None,
                         patient_key: str | None) -> tuple[str, dict[str, int], list[dict[str, Any]]]:
        payload: dict[str, Any] = {"text": text, "operator": self.operator}
        if patient_key:
            payload["patient_key"] = patient_key
        try:
            doc = await self.preprocessor.post_json("/v1/deidentify", payload, deadline, headers,
                                                    operation="deidentify")
        except UpstreamProblem:
            raise  # a 4xx about the input (empty, too long, not UTF-8): nothing was forwarded
        except (BackendUnavailable, DeadlineExceeded, MedinferError):
            raise BackendUnavailable("de-identification is unavailable; the text was not processed",
                                     retry_after=2, code="deidentification-unavailable") from None
        clean = doc.get("text") if isinstance(doc, dict) else None
        if not isinstance(clean, str):
            raise BackendUnavailable("de-identification returned no text; the text was not processed",
                                     retry_after=2, code="deidentification-unavailable")
        entities = doc.get("entities") or []
        entities = entities if isinstance(entities, list) else []
        counts = collections.Counter(str(e.get("label", "ID_OTHER")) for e in entities if isinstance(e, dict))
        return clean, dict(counts), entities

    @staticmethod
    def tagged(text: str, entities: list[dict[str, Any]]) -> str:
        """``text`` with each PHI span replaced by ``[LABEL]``: the de-identified view the OOD gate reads.

        The model is sent surrogates (fake names, shifted dates), which read
        like content; for the gate a note that was nothing but PHI must look
        empty, so it reads the spans as placeholders instead. Spans come from
        the preprocessor with offsets into ``text``; malformed or overlapping
        ones are skipped (this only feeds a heuristic, never the model).
        """
        out, pos = [], 0
        spans = sorted((e for e in entities if isinstance(e, dict) and isinstance(e.get("start"), int)),
                       key=lambda e: e["start"])
        for e in spans:
            start, end = e.get("start"), e.get("end")
            if not (isinstance(start, int) and isinstance(end, int) and pos <= start < end <= len(text)):
                continue
            out.append(text[pos:start])
            out.append(f"[{str(e.get('label', 'ID_OTHER')).upper()}]")
            pos = end
        out.append(text[pos:])
        return "".join(out)

    async def run(self, entry: CatalogEntry, text: str, deadline: Deadline, request_id: str,
                  headers: dict[str, str] | None = None, patient_key: str | None = None,
                  gate: Callable[[str], OodDecision] | None = None) -> TextOutcome:
        """``gate`` sees the de-identified text (PHI as ``[LABEL]``) before Triton; it raises to refuse."""
        clean, counts, entities = await self.deidentify(text, deadline, headers, patient_key)
        decision = gate(self.tagged(text, entities)) if gate is not None else None
        spec = entry.metadata["input"]
        tensor = V2Tensor(spec["name"], "BYTES", [1, 1], np.array([[clean.encode("utf-8")]], dtype=np.object_))
        outputs = await self.triton.infer(entry.name, entry.version, [tensor], deadline, request_id=request_id,
                                          headers=headers)
        return TextOutcome(outputs, counts, decision)


class ImagePipeline:
    def __init__(self, preprocessor: PreprocessorClient, triton: TritonClient) -> None:
        self.preprocessor = preprocessor
        self.triton = triton

    async def run(self, entry: CatalogEntry, data: bytes, deadline: Deadline, request_id: str,
                  headers: dict[str, str] | None = None, frame: int | None = None,
                  gate: Callable[[dict[str, Any]], OodDecision | None] | None = None) -> ImageOutcome:
        """``gate`` sees the preprocessor's image facts before Triton (it raises to refuse the request)."""
        query = {"model": entry.name, "version": entry.version}
        if frame is not None:
            query["frame"] = frame
        body, resp_headers = await self.preprocessor.post(
            f"/v1/image/preprocess?{urlencode(query)}", data, deadline, content_type="application/octet-stream",
            headers=headers, operation="image",
        )
        hl = next((v for k, v in resp_headers.items() if k.lower() == HEADER_LENGTH.lower()), None)
        if hl is None:
            raise BackendUnavailable("image preprocessing returned no tensor", retry_after=2)
        decision = gate(_image_info(resp_headers)) if gate is not None else None
        fwd = {"Content-Type": "application/octet-stream", HEADER_LENGTH: hl, **(headers or {})}
        resp = await self.triton.forward("POST", f"v2/models/{entry.name}/versions/{entry.version}/infer", deadline,
                                         body, fwd, operation="infer")
        if resp.status != 200:
            raise triton_error(resp.status, headers=resp.headers)
        _, tensors = decode_response(resp.body, resp.headers.get(HEADER_LENGTH))
        return ImageOutcome(tensors, decision)


def _image_info(headers: Any) -> dict[str, Any]:
    raw = next((v for k, v in headers.items() if k.lower() == IMAGE_INFO_HEADER.lower()), None)
    try:
        info = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return {}
    return info if isinstance(info, dict) else {}
