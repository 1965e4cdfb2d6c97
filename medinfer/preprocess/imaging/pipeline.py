"""The imaging preprocessing pipeline: bytes in, model tensor out.

detect format by magic bytes -> guard rails on the declared size -> decode one
frame -> Modality LUT -> VOI LUT / window -> MONOCHROME1 inversion -> resize ->
normalize -> dtype. With a burned-in policy (``imaging.burned_in``) the decoded frame
is OCR'd where the policy asks and PHI boxes are filled before the tensor is made;
without one, BurnedInAnnotation YES is refused as before. Every failure is a typed 4xx (see ``imaging.errors``); the
input never appears in an error or a log line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from medinfer.common.errors import PayloadTooLarge
from medinfer.common.image_summary import summary_dict
from medinfer.preprocess.imaging.burned_in import (
    BurnedInOutcome,
    BurnedInPolicy,
    PhiTextFinder,
    flagged,
    header_terms,
    mask_unit_frame,
    needs_ocr,
    to_gray8,
)
from medinfer.preprocess.imaging.detect import ImageFormat, detect_format
from medinfer.preprocess.imaging.dicom_pixels import check_header, decode_frame, read_dicom, to_unit_range
from medinfer.preprocess.imaging.errors import BurnedInAnnotationRefused, FrameOutOfRange
from medinfer.preprocess.imaging.limits import ImageLimits
from medinfer.preprocess.imaging.raster import configure_pillow, decode_raster
from medinfer.preprocess.imaging.tensor import ImageTarget, to_tensor

__all__ = ["ImagePreprocessor", "PreprocessResult", "DecodedImage"]


@dataclass
class DecodedImage:
    """A decoded frame in [0, 1] plus PHI-free facts about its source."""

    pixels: np.ndarray
    format: ImageFormat
    info: dict[str, object] = field(default_factory=dict)


@dataclass
class PreprocessResult:
    tensor: np.ndarray
    target: ImageTarget
    info: dict[str, object]


class ImagePreprocessor:
    """Stateless apart from its limits and policy; safe to share across threads."""

    def __init__(self, limits: ImageLimits | None = None, *, allow_burned_in: bool = False,
                 burned_in_policy: BurnedInPolicy | None = None, finder: PhiTextFinder | None = None) -> None:
        self.limits = limits or ImageLimits()
        self.allow_burned_in = allow_burned_in
        self.burned_in_policy = burned_in_policy
        self.finder = finder
        configure_pillow(self.limits)

    def decode(
        self,
        data: bytes,
        *,
        frame: int | None = None,
        window: tuple[float, float] | None = None,
        inference: bool = True,
        burned_in: object = None,
    ) -> DecodedImage:
        """Decode to [0, 1]. ``inference=True`` applies the burned-in policy (``burned_in``
        is the request's choice: mask, refuse or off)."""
        if len(data) > self.limits.max_input_bytes:
            raise PayloadTooLarge(f"image exceeds the limit of {self.limits.max_input_bytes} bytes")
        fmt = detect_format(data)
        if fmt != "dicom":
            pixels = decode_raster(data, self.limits)
            if frame not in (None, 0):
                raise FrameOutOfRange("PNG and JPEG inputs have a single frame (0)", field="frame")
            info = {"format": fmt, "rows": pixels.shape[0], "columns": pixels.shape[1], "frames": 1, "frame": 0}
            if inference and self.burned_in_policy is not None:
                policy = self.burned_in_policy.resolve(raster=True, requested=burned_in)
                pixels, outcome = self._burned_in(pixels, policy, False, frozenset())
                info["burned_in"] = outcome.summary()
            return DecodedImage(pixels, fmt, info)
        ds = read_dicom(data)
        header = check_header(ds, self.limits)
        outcome = None
        if inference and self.burned_in_policy is not None:
            policy = self.burned_in_policy.resolve(raster=False, modality=header.modality,
                                                   sop_class=str(ds.get("SOPClassUID", "") or ""),
                                                   requested=burned_in)
            outcome = BurnedInOutcome(policy)
        elif inference and not self.allow_burned_in and _burned_in(ds):
            raise BurnedInAnnotationRefused(
                "BurnedInAnnotation is YES; the policy refuses such images for inference",
                field="BurnedInAnnotation",
            )
        arr, view = decode_frame(ds, header, frame)
        pixels = to_unit_range(arr, ds, view, header, window)
        index = header.frames // 2 if frame is None else frame
        info: dict[str, object] = {
            "format": fmt, "modality": header.modality, "photometric": header.photometric,
            "transfer_syntax": header.transfer_syntax, "rows": header.rows,
            "columns": header.columns, "frames": header.frames, "frame": index,
        }
        if outcome is not None:
            # OCR reads the file's own display (its VOI), not a model's window override
            display = pixels if window is None else to_unit_range(arr, ds, view, header)
            _, outcome = self._burned_in(display, outcome.policy, flagged(ds), header_terms(ds))
            pixels = mask_unit_frame(pixels, outcome.boxes)
            info["burned_in"] = outcome.summary()
        return DecodedImage(pixels, fmt, info)

    def _burned_in(self, pixels: np.ndarray, policy: str, is_flagged: bool,
                   terms: frozenset[str]) -> tuple[np.ndarray, BurnedInOutcome]:
        outcome = BurnedInOutcome(policy)
        if not needs_ocr(policy, is_flagged):
            return pixels, outcome
        if self.finder is None:
            raise BurnedInAnnotationRefused("the burned-in policy needs OCR, which is not configured",
                                            field="BurnedInAnnotation")
        outcome.boxes, outcome.words = self.finder.find(to_gray8(pixels), terms)
        outcome.ocr, outcome.frames_read = True, 1
        if outcome.boxes and policy == "refuse":
            raise BurnedInAnnotationRefused("text that looks like PHI is burned into the pixels; "
                                            "the burned-in policy is refuse", field="PixelData")
        return mask_unit_frame(pixels, outcome.boxes), outcome

    def preprocess(
        self,
        data: bytes,
        target: ImageTarget,
        *,
        frame: int | None = None,
        window: tuple[float, float] | None = None,
        burned_in: object = None,
    ) -> PreprocessResult:
        decoded = self.decode(data, frame=frame, window=window, inference=True, burned_in=burned_in)
        tensor = to_tensor(decoded.pixels, target)
        # size and intensity statistics of the decoded frame for the gateway's OOD gate and drift window
        info = dict(decoded.info, summary=summary_dict(decoded.pixels))
        return PreprocessResult(tensor, target, info)


def _burned_in(ds) -> bool:
    try:
        return str(ds.get("BurnedInAnnotation", "") or "").strip().upper() == "YES"
    except Exception:
        return True  # unreadable flag: fail closed
