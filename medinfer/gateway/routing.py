"""Conditional routing: what kind of input a request carries.

Text goes to NLP preprocessing, images and DICOM to CV preprocessing, tabular
records and tensors to Triton (tabular after schema validation). Images are
recognised by their bytes (DICOM ``DICM`` preamble at offset 128, PNG and JPEG
signatures), never by a file name.
"""

from __future__ import annotations

import base64
import binascii
from enum import Enum
from typing import Any

from medinfer.common.errors import ValidationFailed

__all__ = ["InputKind", "classify_input", "sniff_image", "decode_base64_prefix", "image_bytes"]


class InputKind(str, Enum):
    TABULAR = "tabular"
    TEXT = "text"
    IMAGE = "image"
    DICOM = "dicom"
    TENSOR = "tensor"
    UNKNOWN = "unknown"


_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"


def sniff_image(head: bytes) -> InputKind | None:
    if len(head) >= 132 and head[128:132] == b"DICM":
        return InputKind.DICOM
    if head.startswith(_PNG) or head.startswith(_JPEG):
        return InputKind.IMAGE
    return None


def decode_base64_prefix(text: str, n: int = 200) -> bytes | None:
    """Decode just enough of a base64 string to sniff its magic bytes."""
    chunk = text[: ((n + 2) // 3) * 4].strip()
    if len(chunk) < 8:
        return None
    try:
        return base64.b64decode(chunk, validate=True)
    except (binascii.Error, ValueError):
        return None


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def image_bytes(value: str | bytes) -> bytes:
    """The file behind an image input: raw bytes (multipart) or base64 text (JSON)."""
    if isinstance(value, bytes):
        return value
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed("image input is not valid base64", field="input", code="bad-base64") from None


def classify_input(value: Any) -> InputKind:
    if isinstance(value, (bytes, bytearray)):
        return sniff_image(bytes(value[:200])) or InputKind.UNKNOWN
    if isinstance(value, str):
        head = decode_base64_prefix(value) if len(value) >= 16 and not any(c.isspace() for c in value[:200]) else None
        if head is not None:
            kind = sniff_image(head)
            if kind is not None:
                return kind
        return InputKind.TEXT
    if isinstance(value, dict):
        if {"datatype", "shape", "data"} <= value.keys():
            return InputKind.TENSOR
        return InputKind.TABULAR
    if isinstance(value, list) and value:
        first = value[0]
        if isinstance(first, (dict, list)) or any(_is_number(v) for v in value[:64]):
            return InputKind.TABULAR
    return InputKind.UNKNOWN
