"""The imaging objects the preprocessor builds once in ``create_app`` from its settings.

``ImagingService`` owns the pipeline (limits, burned-in policy), the DICOM
de-identifier (keyed with the settings' secret) and the rule that turns a model's
metadata into the tensor it expects.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from medinfer.common.errors import ValidationFailed
from medinfer.preprocess.dicom_deid import DeidReport, DicomDeidentifier, KeyedMapper, parse_private_allowlist
from medinfer.preprocess.imaging.burned_in import BurnedInOutcome, BurnedInPolicy, PhiTextFinder
from medinfer.preprocess.imaging.limits import ImageLimits
from medinfer.preprocess.imaging.ocr import TesseractOcr
from medinfer.preprocess.imaging.pipeline import ImagePreprocessor
from medinfer.preprocess.imaging.pixel_clean import DicomPixelCleaner
from medinfer.preprocess.imaging.tensor import ImageTarget

__all__ = ["ImagingService", "DEFAULT_TARGET", "target_from_metadata", "lazy"]

# The image_quality model's input; used when no model is named and none is loaded.
DEFAULT_TARGET = ImageTarget(name="image", datatype="FP32", dims=(1, 64, 64), batched=True)


def target_from_metadata(meta: dict[str, Any]) -> tuple[ImageTarget, tuple[float, float] | None]:
    """``medinfer.json`` of an image model -> (target tensor, optional default window).

    ``input.shape`` excludes the batch dimension (as for every medinfer model);
    ``preprocessing`` may carry ``mean``, ``std`` and ``window`` [centre, width].
    """
    spec = meta.get("input") or {}
    prep = meta.get("preprocessing") or {}
    try:
        target = ImageTarget(
            name=str(spec["name"]),
            datatype=str(spec["datatype"]),
            dims=tuple(int(d) for d in spec["shape"]),
            batched=bool(meta.get("batched", True)),
            mean=tuple(float(x) for x in prep.get("mean", ())),
            std=tuple(float(x) for x in prep.get("std", ())),
        )
    except (KeyError, TypeError, ValueError):
        raise ValidationFailed("the model's metadata does not declare an image input", field="model") from None
    window = prep.get("window")
    return target, (float(window[0]), float(window[1])) if window else None


class ImagingService:
    def __init__(
        self,
        preprocessor: ImagePreprocessor,
        deidentifier: DicomDeidentifier,
        default_model: str | None = "image_quality",
        cleaner: DicomPixelCleaner | None = None,
    ) -> None:
        self.preprocessor = preprocessor
        self.deidentifier = deidentifier
        self.default_model = default_model
        self.cleaner = cleaner

    def deidentify_dicom(self, data: bytes, burned_in: object = None) -> tuple[bytes, DeidReport, dict]:
        """Header (Annex E) and pixel (burned-in policy) de-identification of one Part 10 file."""
        outcome: list[BurnedInOutcome] = []

        def clean(ds) -> bool:
            if self.cleaner is None:
                return False
            outcome.append(self.cleaner.clean(ds, burned_in))
            return bool(outcome[-1].boxes)

        out, report = self.deidentifier.deidentify_bytes(data, clean_pixels=clean)
        return out, report, outcome[0].summary() if outcome else {"policy": "none", "ocr": False}

    @classmethod
    def from_settings(cls, settings: Any, text_engine: Callable[[], Any] | None = None) -> ImagingService:
        """``text_engine`` returns the shared ``DeidEngine`` (or None: then every OCR word is masked)."""
        limits = ImageLimits(
            max_input_bytes=settings.image_max_input_bytes,
            max_pixels=settings.image_max_pixels,
            max_frames=settings.image_max_frames,
            max_decoded_bytes=settings.image_max_decoded_bytes,
        )
        mapper = KeyedMapper(settings.dicom_deid_secret_bytes(), max_shift_days=settings.dicom_date_shift_max_days)
        deid = DicomDeidentifier(
            mapper, private_allowlist=parse_private_allowlist(settings.dicom_private_allowlist)
        )
        allow_off = settings.image_burned_in_allow_off or settings.image_allow_burned_in
        policy = BurnedInPolicy(settings.image_burned_in_policy, default=settings.image_burned_in_default,
                                raster=settings.image_burned_in_raster, allow_off=allow_off)
        ocr = TesseractOcr(timeout_s=settings.image_ocr_timeout_s, command=settings.image_ocr_command)
        finder = PhiTextFinder(ocr, text_engine, scope=settings.image_burned_in_scope)
        pre = ImagePreprocessor(limits, allow_burned_in=settings.image_allow_burned_in,
                                burned_in_policy=policy, finder=finder)
        cleaner = DicomPixelCleaner(finder, policy, limits, max_ocr_frames=settings.image_ocr_max_frames)
        return cls(pre, deid, settings.image_default_model or None, cleaner)


def lazy(factory: Callable[[], Any]) -> Callable[[], Any]:
    """Build on first call, once, thread-safe (the CLI loads spaCy only when OCR needs it)."""
    lock, box = threading.Lock(), []

    def get() -> Any:
        with lock:
            if not box:
                box.append(factory())
            return box[0]

    return get
