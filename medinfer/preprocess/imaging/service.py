"""The imaging objects the preprocessor builds once in ``create_app`` from its settings.

``ImagingService`` owns the pipeline (limits, burned-in policy), the DICOM
de-identifier (keyed with the settings' secret) and the rule that turns a model's
metadata into the tensor it expects.
"""

from __future__ import annotations

from typing import Any

from medinfer.common.errors import ValidationFailed
from medinfer.preprocess.dicom_deid import DicomDeidentifier, KeyedMapper, parse_private_allowlist
from medinfer.preprocess.imaging.limits import ImageLimits
from medinfer.preprocess.imaging.pipeline import ImagePreprocessor
from medinfer.preprocess.imaging.tensor import ImageTarget

__all__ = ["ImagingService", "DEFAULT_TARGET", "target_from_metadata"]

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
    ) -> None:
        self.preprocessor = preprocessor
        self.deidentifier = deidentifier
        self.default_model = default_model

    @classmethod
    def from_settings(cls, settings: Any) -> ImagingService:
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
        pre = ImagePreprocessor(limits, allow_burned_in=settings.image_allow_burned_in)
        return cls(pre, deid, settings.image_default_model or None)
