"""Medical image preprocessing: DICOM (pydicom + pylibjpeg plugins) and PNG/JPEG (Pillow)."""

from medinfer.preprocess.imaging.detect import detect_format
from medinfer.preprocess.imaging.limits import ImageLimits
from medinfer.preprocess.imaging.pipeline import DecodedImage, ImagePreprocessor, PreprocessResult
from medinfer.preprocess.imaging.tensor import ImageTarget, to_tensor

__all__ = [
    "detect_format",
    "ImageLimits",
    "ImagePreprocessor",
    "PreprocessResult",
    "DecodedImage",
    "ImageTarget",
    "to_tensor",
]
