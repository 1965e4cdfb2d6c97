"""The imaging preprocessing pipeline: bytes in, model tensor out.

detect format by magic bytes -> guard rails on the declared size -> decode one
frame -> Modality LUT -> VOI LUT / window -> MONOCHROME1 inversion -> resize ->
normalize -> dtype. Every failure is a typed 4xx (see ``imaging.errors``); the
input never appears in an error or a log line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from medinfer.common.errors import PayloadTooLarge
from medinfer.common.image_summary import summary_dict
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

    def __init__(self, limits: ImageLimits | None = None, *, allow_burned_in: bool = False) -> None:
        self.limits = limits or ImageLimits()
        self.allow_burned_in = allow_burned_in
        configure_pillow(self.limits)

    def decode(
        self,
        data: bytes,
        *,
        frame: int | None = None,
        window: tuple[float, float] | None = None,
        inference: bool = True,
    ) -> DecodedImage:
        """Decode to [0, 1]. ``inference=True`` applies the burned-in-annotation policy."""
        if len(data) > self.limits.max_input_bytes:
            raise PayloadTooLarge(f"image exceeds the limit of {self.limits.max_input_bytes} bytes")
        fmt = detect_format(data)
        if fmt != "dicom":
            pixels = decode_raster(data, self.limits)
            if frame not in (None, 0):
                raise FrameOutOfRange("PNG and JPEG inputs have a single frame (0)", field="frame")
            return DecodedImage(pixels, fmt, {"format": fmt, "rows": pixels.shape[0],
                                              "columns": pixels.shape[1], "frames": 1, "frame": 0})
        ds = read_dicom(data)
        header = check_header(ds, self.limits)
        if inference and not self.allow_burned_in and _burned_in(ds):
            raise BurnedInAnnotationRefused(
                "BurnedInAnnotation is YES; the policy refuses such images for inference",
                field="BurnedInAnnotation",
            )
        arr, view = decode_frame(ds, header, frame)
        pixels = to_unit_range(arr, ds, view, header, window)
        index = header.frames // 2 if frame is None else frame
        return DecodedImage(pixels, fmt, {
            "format": fmt, "modality": header.modality, "photometric": header.photometric,
            "transfer_syntax": header.transfer_syntax, "rows": header.rows,
            "columns": header.columns, "frames": header.frames, "frame": index,
        })

    def preprocess(
        self,
        data: bytes,
        target: ImageTarget,
        *,
        frame: int | None = None,
        window: tuple[float, float] | None = None,
    ) -> PreprocessResult:
        decoded = self.decode(data, frame=frame, window=window, inference=True)
        tensor = to_tensor(decoded.pixels, target)
        # size and intensity statistics of the decoded frame for the gateway's OOD gate and drift window
        info = dict(decoded.info, summary=summary_dict(decoded.pixels))
        return PreprocessResult(tensor, target, info)


def _burned_in(ds) -> bool:
    try:
        return str(ds.get("BurnedInAnnotation", "") or "").strip().upper() == "YES"
    except Exception:
        return True  # unreadable flag: fail closed
