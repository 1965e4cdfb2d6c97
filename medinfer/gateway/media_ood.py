"""OOD gate and drift recording for the text and image routes (no HTTP here).

Text (a monitored embedding model, e.g. ``note_embedding``): the text gate runs
on the **de-identified** text (PHI spans read as ``[LABEL]`` placeholders, so a
note that was only PHI is ``empty`` whatever operator the model is sent) before
Triton is called, so a ``reject`` policy
refuses the request without the model ever running; the model's output
embedding then goes through the embedding gate and into the drift window. The
text gate's reason wins when both fire (it is the more specific one), and a
request is counted once.

Images: the preprocessor returns, with the tensor, the frame's DICOM modality
(none for PNG/JPEG) and its summary (``medinfer.common.image_summary``: size and
intensity statistics, no pixels, no header values that identify anyone); the
image gate runs on those before Triton is called and the summary goes into the
drift window.

Rejected inputs raise ``OodRejected`` (422, reason code only) and stay out of
the window; flagged ones are answered and recorded. Nothing here logs, keeps
or echoes text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from medinfer.common.v2 import V2Tensor
from medinfer.monitoring import IMAGE_SUMMARY_FEATURES, DriftMonitor, OodDecision
from medinfer.triton.catalog import CatalogEntry

__all__ = ["MediaOod", "summary_vector"]

TextGateFn = Callable[[str], OodDecision]
ImageGateFn = Callable[[dict[str, Any]], OodDecision | None]


def summary_vector(info: dict[str, Any]) -> np.ndarray | None:
    """The preprocessor's ``summary`` mapping as a vector in IMAGE_SUMMARY_FEATURES order (None if absent)."""
    summary = info.get("summary")
    if not isinstance(summary, dict):
        return None
    try:
        return np.array([float(summary[k]) for k in IMAGE_SUMMARY_FEATURES], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        return None


class MediaOod:
    def __init__(self, monitor: DriftMonitor | None) -> None:
        self.monitor = monitor

    def _monitored(self, entry: CatalogEntry, kind: str) -> bool:
        mon = self.monitor.get(entry.name, str(entry.version)) if self.monitor is not None else None
        return mon is not None and mon.kind == kind

    # ---- text ---------------------------------------------------------------------------------
    def text_gate(self, entry: CatalogEntry) -> TextGateFn | None:
        """The check to run on the de-identified text (raises ``OodRejected`` under ``reject``), or None."""
        if not self._monitored(entry, "embedding"):
            return None
        mon, version = self.monitor, str(entry.version)
        assert mon is not None
        return lambda clean: mon.check_text(entry.name, version, clean)

    def after_text(self, entry: CatalogEntry, outputs: list[V2Tensor], text_decision: OodDecision | None
                   ) -> OodDecision | None:
        """Embedding gate + drift window for the model's output; the request's final decision."""
        if text_decision is None or self.monitor is None:
            return None
        version = str(entry.version)
        emb = _embedding(entry, outputs)
        if emb is None:
            return text_decision
        decision = text_decision
        if not text_decision.ood:
            decision = self.monitor.settle(entry.name, version, self.monitor.check_embedding(entry.name, version, emb))
        self.monitor.record(entry.name, version, emb)
        return decision

    # ---- images -------------------------------------------------------------------------------
    def image_gate(self, entry: CatalogEntry) -> ImageGateFn | None:
        if not self._monitored(entry, "image"):
            return None
        mon, version = self.monitor, str(entry.version)
        assert mon is not None

        def gate(info: dict[str, Any]) -> OodDecision | None:
            summary = summary_vector(info)
            if summary is None:  # a preprocessor without summaries: served, not monitored
                return None
            modality = info.get("modality")
            decision = mon.check_image(entry.name, version, modality if isinstance(modality, str) else None, summary)
            mon.record(entry.name, version, summary)
            return decision

        return gate


def _embedding(entry: CatalogEntry, outputs: list[V2Tensor]) -> np.ndarray | None:
    """The model's declared first output as ``rows × dim`` floats (None if it is not there)."""
    declared = (entry.metadata.get("outputs") or [{}])[0].get("name")
    for t in outputs:
        if t.name == declared and t.datatype in ("FP32", "FP64"):
            data = np.asarray(t.data, dtype=np.float64)
            return data.reshape(data.shape[0], -1) if data.ndim > 1 else data[None, :]
    return None
