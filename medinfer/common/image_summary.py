"""Per-image summary statistics: what the monitor keeps of an image (never pixels).

Lives in ``common`` (numpy only) because the preprocessor computes the summary of
every decoded frame without importing the monitoring package (scikit-learn).
Large frames are read on a regular grid of at most ``max_side`` × ``max_side``
pixels, so the percentiles of a 2048² radiograph stay cheap, and build time and
serving compute exactly the same numbers.
"""

from __future__ import annotations

import numpy as np

__all__ = ["IMAGE_SUMMARY_FEATURES", "image_summary", "summary_dict"]

IMAGE_SUMMARY_FEATURES = (
    "rows", "cols", "intensity_mean", "intensity_std", "intensity_p01", "intensity_p99",
)
MAX_SIDE = 256


def image_summary(pixels: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """Summary in IMAGE_SUMMARY_FEATURES order: full-frame rows/cols, grey-level intensities read on a grid."""
    p = np.asarray(pixels)
    if p.ndim < 2 or p.size == 0:
        raise ValueError("image must be at least 2-D and non-empty")
    rows, cols = p.shape[0], p.shape[1]
    if p.ndim == 3:  # colour: summarise the grey level, as the models see it
        p = p.mean(axis=-1) if p.shape[-1] in (3, 4) else p
    sy, sx = max(1, -(-rows // max_side)), max(1, -(-cols // max_side))
    g = np.asarray(p[::sy, ::sx], dtype=np.float64)
    p01, p99 = np.percentile(g, [1, 99])
    return np.array([rows, cols, g.mean(), g.std(), p01, p99], dtype=np.float64)


def summary_dict(pixels: np.ndarray) -> dict[str, float]:
    """The summary as a JSON-ready mapping (what the preprocessor returns with each image)."""
    return {k: round(float(v), 6) for k, v in zip(IMAGE_SUMMARY_FEATURES, image_summary(pixels))}
