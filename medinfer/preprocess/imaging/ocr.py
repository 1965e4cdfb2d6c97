"""Text detection in pixels: candidate regions by stroke contrast, then Tesseract.

Tesseract alone reads little on medical frames: speckle and anatomy drown its own
binarisation, and overlay text is often 8-14 px high where it wants 25-40. So text
is found in two steps:

1. candidate regions: a white top-hat (bright strokes on darker ground) and a black
   top-hat (dark strokes on lighter ground) keep strokes thinner than ``stroke_px``;
   a horizontal closing joins glyphs into words and lines; components whose size
   looks like a text line are kept (anatomy is too large, speckle too small);
2. each candidate is cut out with a margin, contrast-normalised to dark text on white,
   scaled so its height is about ``target_height`` px and pasted onto one white page;
   Tesseract (``--psm 11``, sparse text) reads the page once, through ``pytesseract``
   with a timeout. Word boxes are mapped back to frame coordinates.

Any failure to run Tesseract (binary missing, timeout, crash) is ``OcrUnavailable``
(503): a caller that needs OCR must fail closed, never pass the image through.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from medinfer.common.errors import BackendUnavailable

__all__ = ["Word", "TesseractOcr", "OcrUnavailable", "text_candidates"]

log = logging.getLogger(__name__)


class OcrUnavailable(BackendUnavailable):
    code, title = "ocr-unavailable", "Text detection (OCR) is unavailable"


@dataclass(frozen=True)
class Word:
    """One OCR word: its text, box in frame pixels (left, top, width, height), line id."""

    text: str
    left: int
    top: int
    width: int
    height: int
    line: int
    conf: float


def _tophat(gray: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    opened = ndimage.grey_opening(gray, size=(size, size))
    closed = ndimage.grey_closing(gray, size=(size, size))
    return gray - opened, closed - gray


def text_candidates(gray: np.ndarray, *, stroke_px: int = 7, min_contrast: int = 48,
                    min_height: int = 5, max_height: int = 120) -> list[tuple[int, int, int, int, bool]]:
    """(top, left, bottom, right, bright_text) regions that may hold a line of text."""
    g = gray.astype(np.int16)
    bright, dark = _tophat(g, stroke_px)
    out: list[tuple[int, int, int, int, bool]] = []
    for tophat, is_bright in ((bright, True), (dark, False)):
        # above the frame's own texture: speckle and noise set the floor, not a constant
        strokes = tophat > max(min_contrast, 2.0 * float(np.percentile(tophat, 90)))
        if not strokes.any():
            continue
        joined = ndimage.binary_closing(strokes, structure=np.ones((3, 9), bool))
        joined = ndimage.binary_dilation(joined, structure=np.ones((1, 5), bool))
        labels, count = ndimage.label(joined)
        for idx, sl in enumerate(ndimage.find_objects(labels), start=1):
            if sl is None:
                continue
            h, w = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
            if not min_height <= h <= max_height or w < max(6, h // 2) or w * h < 40:
                continue
            box = strokes[sl]
            fill = box.mean()
            if not 0.04 <= fill <= 0.75:  # text strokes cover part of their box, never all of it
                continue
            pix = g[sl]
            ink, ground = pix[box], pix[~box]
            # overlay text stands out of a calm ground; speckle and anatomy do not
            if abs(float(ink.mean()) - float(np.median(ground))) < 2.5 * (float(ground.std()) + 1.0):
                continue
            out.append((sl[0].start, sl[1].start, sl[0].stop, sl[1].stop, is_bright))
    return out


class TesseractOcr:
    """Runs the ``tesseract`` binary through pytesseract; one page per frame."""

    def __init__(self, *, timeout_s: float = 20.0, max_regions: int = 200, target_height: int = 36, min_conf: float = 0.0,
                 lang: str = "eng", command: str = "tesseract") -> None:
        self.timeout_s = timeout_s
        self.max_regions = max_regions
        self.target_height = target_height
        self.min_conf = min_conf
        self.lang = lang
        self.command = command

    def available(self) -> bool:
        return shutil.which(self.command) is not None

    def words(self, gray: np.ndarray) -> list[Word]:
        """OCR an H x W uint8 display frame; boxes are in its pixel coordinates."""
        regions = text_candidates(gray)
        if not regions:
            return []
        if len(regions) > self.max_regions:  # a frame that is all texture: read it whole, still bounded
            regions = [(0, 0, gray.shape[0], gray.shape[1], bool(gray.mean() < 128))]
        page, placements = self._page(gray, regions)
        data = self._run(page)
        words: list[Word] = []
        for i, text in enumerate(data["text"]):
            text = str(text).strip()
            try:
                conf = float(data["conf"][i])
            except (TypeError, ValueError):
                conf = -1.0
            if not text or conf < self.min_conf:
                continue
            x, y, w, h = (int(data[k][i]) for k in ("left", "top", "width", "height"))
            mapped = _map_back(placements, x, y, w, h)
            if mapped is None:
                continue
            region, box = mapped
            line = hash((region, data["block_num"][i], data["par_num"][i], data["line_num"][i]))
            words.append(Word(text, *box, line=line, conf=conf))
        return words

    def _page(self, gray: np.ndarray, regions) -> tuple[Image.Image, list[tuple]]:
        """Candidates scaled to ``target_height`` and stacked on one white page."""
        rows, cols = gray.shape
        crops, placements, y = [], [], 10
        for top, left, bottom, right, bright in regions:
            m = max(2, (bottom - top) // 3)
            t, lft, b, r = max(0, top - m), max(0, left - m), min(rows, bottom + m), min(cols, right + m)
            crop = gray[t:b, lft:r].astype(np.float32)
            lo, hi = float(crop.min()), float(crop.max())
            norm = (crop - lo) / (hi - lo) if hi > lo else np.zeros_like(crop)
            if bright:
                norm = 1.0 - norm  # dark text on white, the way Tesseract is trained
            norm = _clean_ground(norm)
            scale = max(1.0, min(6.0, self.target_height / max(1, bottom - top)))
            img = Image.fromarray((norm * 255).astype(np.uint8)).resize(
                (max(1, round((r - lft) * scale)), max(1, round((b - t) * scale))), Image.Resampling.BICUBIC)
            crops.append((img, y))
            placements.append((y, img.height, lft, t, scale))
            y += img.height + 24
        width = max(img.width for img, _ in crops) + 20
        page = Image.new("L", (width, y), 255)
        for img, top in crops:
            page.paste(img, (10, top))
        return page, placements

    def _run(self, page: Image.Image) -> dict:
        try:
            import pytesseract
        except ImportError:
            raise OcrUnavailable("the OCR wrapper (pytesseract) is not installed") from None
        if not self.available():
            raise OcrUnavailable("the tesseract binary is not installed")
        pytesseract.pytesseract.tesseract_cmd = self.command
        try:
            return pytesseract.image_to_data(page, lang=self.lang, config="--psm 11",
                                             output_type=pytesseract.Output.DICT, timeout=self.timeout_s)
        except RuntimeError:  # pytesseract raises RuntimeError on its timeout
            raise OcrUnavailable("text detection timed out", retry_after=5) from None
        except Exception:  # TesseractError, OSError: the engine could not run; never echo its output
            log.warning("tesseract failed to run")
            raise OcrUnavailable("text detection failed to run") from None


def _otsu(values: np.ndarray) -> float:
    hist = np.bincount(np.clip((values * 255).astype(np.int32), 0, 255).ravel(), minlength=256).astype(np.float64)
    p = hist / max(1.0, hist.sum())
    w = np.cumsum(p)
    m = np.cumsum(p * np.arange(256))
    between = (m[-1] * w - m) ** 2 / (w * (1 - w) + 1e-12)
    return float(np.argmax(between)) / 255.0


def _clean_ground(norm: np.ndarray) -> np.ndarray:
    """Dark text on white: ground lighter than the Otsu split is set to white, so speckle
    behind the glyphs does not reach Tesseract; the glyphs keep their anti-aliased edges."""
    t = _otsu(norm)
    return np.where(norm > t, 1.0, norm / max(t, 1e-6) * 0.6).astype(np.float32)


def _map_back(placements, x: int, y: int, w: int, h: int) -> tuple[int, tuple[int, int, int, int]] | None:
    """Page box -> (region index, frame box); the region is the one the word's centre lies in."""
    cy = y + h / 2
    for idx, (top, height, left0, top0, scale) in enumerate(placements):
        if top - 12 <= cy < top + height + 12:
            return idx, (int(left0 + (x - 10) / scale), int(top0 + (y - top) / scale),
                         int(np.ceil(w / scale)) + 1, int(np.ceil(h / scale)) + 1)
    return None
