"""Render burned-in text onto frames for tests, the benchmark and the evaluation set.

Fonts come from Debian ``fonts-dejavu-core`` (``/usr/share/fonts/truetype/dejavu``) with
Pillow's built-in font as the fallback. Text is drawn into an 8-bit coverage mask and
blended into the *stored* pixel values, so DICOM files carry it the way a modality
burns it in; the returned boxes (left, top, width, height) are the gold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = ("DejaVuSans.ttf", "DejaVuSansMono.ttf", "DejaVuSerif.ttf", "DejaVuSans-Bold.ttf",
         "DejaVuSansCondensed.ttf")


def font(name: str, size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    path = FONT_DIR / name
    if path.exists():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def text_mask(shape: tuple[int, int], lines: list[tuple[str, tuple[int, int], str, int]]
              ) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Coverage in [0, 1] for (text, (x, y), font name, size) items, and each item's ink box."""
    canvas = Image.new("L", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(canvas)
    boxes = []
    for text, (x, y), name, size in lines:
        f = font(name, size)
        draw.text((x, y), text, fill=255, font=f)
        left, top, right, bottom = draw.textbbox((x, y), text, font=f)
        left, top = max(0, left), max(0, top)
        right, bottom = min(shape[1], right), min(shape[0], bottom)
        boxes.append((left, top, right - left, bottom - top))
    return np.asarray(canvas, dtype=np.float32) / 255.0, boxes


def burn(stored: np.ndarray, coverage: np.ndarray, value: float) -> np.ndarray:
    """Blend ``value`` into stored pixels by coverage (every frame if ``stored`` is a stack)."""
    out = stored.astype(np.float64) * (1 - coverage) + value * coverage
    info = np.iinfo(stored.dtype) if stored.dtype.kind in "iu" else None
    if info is not None:
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(stored.dtype)


def us_frame(rows: int = 768, cols: int = 1024, seed: int = 0) -> np.ndarray:
    """An ultrasound-like uint8 frame: black ground, a fan-shaped sector of smoothed speckle."""
    rng = np.random.default_rng(seed)
    speckle = rng.rayleigh(1.0, (rows // 2, cols // 2))
    img = np.asarray(Image.fromarray(np.clip(speckle * 60, 0, 255).astype(np.uint8)).resize(
        (cols, rows), Image.Resampling.BILINEAR), dtype=np.float32)
    yy, xx = np.mgrid[:rows, :cols]
    apex_y, apex_x = rows * 0.08, cols / 2
    r = np.hypot(yy - apex_y, xx - apex_x)
    angle = np.degrees(np.arctan2(xx - apex_x, yy - apex_y))
    sector = (r > rows * 0.05) & (r < rows * 0.9) & (np.abs(angle) < 38)
    depth_gain = 1.0 - 0.5 * (r / (rows * 0.9))
    return np.where(sector, img * depth_gain, 0).astype(np.uint8)


def us_text(rows: int, cols: int, name: str = "DOE^JANE", mrn: str = "MRN 48213377",
            when: str = "03/14/2024", size: int = 14, font_name: str = "DejaVuSans.ttf"):
    """The usual ultrasound overlay: patient and date top-left, scanner settings top-right."""
    step = size + 6
    phi = [(name, (12, 10), font_name, size), (mrn, (12, 10 + step), font_name, size),
           (when, (12, 10 + 2 * step), font_name, size)]
    plain = [("12.5 MHz", (cols - 12 - size * 5, 10), font_name, size),
             ("GAIN 50", (cols - 12 - size * 5, 10 + step), font_name, size)]
    return phi, plain
