"""Image format detection by magic bytes, never by file name or declared type.

A DICOM Part 10 file has a 128-byte preamble followed by ``DICM``; PNG and JPEG
have fixed signatures. Anything else is refused with 415 before a parser sees it,
which keeps the attack surface to the three decoders we fuzz.
"""

from __future__ import annotations

from typing import Literal

from medinfer.preprocess.imaging.errors import UnsupportedImageFormat

__all__ = ["ImageFormat", "detect_format", "PNG_SIGNATURE", "JPEG_SIGNATURE"]

ImageFormat = Literal["dicom", "png", "jpeg"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"


def detect_format(data: bytes) -> ImageFormat:
    if len(data) >= 132 and data[128:132] == b"DICM":
        return "dicom"
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(JPEG_SIGNATURE):
        return "jpeg"
    raise UnsupportedImageFormat(
        "input is not a DICOM Part 10 file ('DICM' at offset 128), a PNG or a JPEG"
    )
