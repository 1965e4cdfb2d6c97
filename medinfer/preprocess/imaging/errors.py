"""Imaging-specific 4xx errors, all subclasses of the medinfer hierarchy.

Each carries a stable ``code`` so clients can tell a decompression bomb (413)
from an unsupported codec (415) or a corrupt file (422). Details name limits and
attribute keywords, never header values: a DICOM header is full of PHI.
"""

from __future__ import annotations

from medinfer.common.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed

__all__ = [
    "UnsupportedImageFormat",
    "UnsupportedTransferSyntax",
    "ImageTooLarge",
    "TooManyFrames",
    "CorruptImage",
    "NoPixelData",
    "BurnedInAnnotationRefused",
    "FrameOutOfRange",
]


class UnsupportedImageFormat(UnsupportedMediaType):
    code, title = "unsupported-image-format", "Not a DICOM, PNG or JPEG image"


class UnsupportedTransferSyntax(UnsupportedMediaType):
    code, title = "unsupported-transfer-syntax", "DICOM transfer syntax not supported"


class ImageTooLarge(PayloadTooLarge):
    code, title = "image-too-large", "Declared image dimensions exceed the limit"


class TooManyFrames(PayloadTooLarge):
    code, title = "too-many-frames", "Too many frames"


class CorruptImage(ValidationFailed):
    code, title = "corrupt-image", "Image is truncated or corrupt"


class NoPixelData(ValidationFailed):
    code, title = "no-pixel-data", "DICOM object has no image pixel data"


class BurnedInAnnotationRefused(ValidationFailed):
    code, title = "burned-in-annotation", "Image has burned-in annotation"


class FrameOutOfRange(ValidationFailed):
    code, title = "frame-out-of-range", "Requested frame does not exist"
