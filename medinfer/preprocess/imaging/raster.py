"""PNG and JPEG decoding with Pillow, size-checked before the pixels are loaded.

``Image.open`` reads only the header, so the declared size is compared with
``ImageLimits.max_pixels`` before ``load()`` allocates anything. Pillow's own
decompression-bomb guard (``Image.MAX_IMAGE_PIXELS``) is set to the same limit as a
second line of defence, and its warning is treated as an error.
"""

from __future__ import annotations

import io
import struct
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from medinfer.preprocess.imaging.errors import CorruptImage, ImageTooLarge
from medinfer.preprocess.imaging.limits import ImageLimits

__all__ = ["decode_raster", "configure_pillow"]


def configure_pillow(limits: ImageLimits) -> None:
    """Set Pillow's process-wide bomb limit (it has no per-call setting)."""
    Image.MAX_IMAGE_PIXELS = limits.max_pixels


def decode_raster(data: bytes, limits: ImageLimits) -> np.ndarray:
    """Decode a PNG/JPEG to float32 in [0, 1]: H x W (grey) or H x W x 3 (colour)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's format warnings are not failures here
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=("PNG", "JPEG"))
            width, height = img.size
            if width <= 0 or height <= 0:
                raise CorruptImage("image has an empty size")
            if width * height > limits.max_pixels:
                raise ImageTooLarge(f"declared image size exceeds the limit of {limits.max_pixels} pixels")
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge(f"declared image size exceeds the limit of {limits.max_pixels} pixels") from None
    except (CorruptImage, ImageTooLarge):
        raise
    except MemoryError:
        raise ImageTooLarge("decoded image does not fit the memory limit") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError,
            TypeError, struct.error, ZeroDivisionError):
        raise CorruptImage("image could not be decoded (truncated or corrupt)") from None
    return _to_unit(img)


def _to_unit(img: Image.Image) -> np.ndarray:
    mode = img.mode
    try:
        if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
            return np.asarray(img, dtype=np.float32) / 65535.0
        if mode in ("I", "F"):
            arr = np.asarray(img, dtype=np.float64)
            lo, hi = float(arr.min()), float(arr.max())
            return ((arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)).astype(np.float32)
        if mode in ("1", "L", "LA", "La"):
            return np.asarray(img.convert("L"), dtype=np.float32) / 255.0
        return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    except (OSError, ValueError):
        raise CorruptImage("image could not be decoded (truncated or corrupt)") from None
