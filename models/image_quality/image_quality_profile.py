"""Reference profile of ``image_quality``: what its training images look like, for drift and the OOD gate.

Summaries (``medinfer.monitoring.image_summary``): the intensity statistics of
each *clean* (``ok``) training view, with the rows/columns of the decoded
source frame it was cut from, since the gateway summarises the decoded frame
before it is resized to the model's 64 × 64. Modalities are those of the
training sources (CT, MR, NM, US); PNG/JPEG inputs, which carry no modality,
pass the modality check. The contrast floor (p99 - p1) is the conformal 1 %
lower quantile of the clean views of all nine sources: the three held-out
sources alone (``TEST_SOURCES``: CT head, small MR, RGB ultrasound) are all
high-contrast and would put the floor above what NM and cine ultrasound
frames show.
Everything is derived from the seeded training set, so the profile is
deterministic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom

from medinfer.monitoring import ImageProfile, build_image_profile, image_summary
from medinfer.preprocess.imaging import ImagePreprocessor

__all__ = ["source_modalities", "view_summaries", "reference_profile", "OOD_TARGET_FRR", "DIMENSION_SLACK"]

OOD_TARGET_FRR = 0.01
#: dimensions within a quarter/four times the training frames' (the model resizes everything to 64²;
#: only thumbnails and absurd sizes are implausible)
DIMENSION_SLACK = 4.0


def source_modalities(sources: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """DICOM Modality of each source group (from its first file's header)."""
    root = Path(pydicom.data.__file__).parent / "test_files"
    pre = ImagePreprocessor()
    return {g: str(pre.decode((root / files[0]).read_bytes(), frame=0, inference=False).info["modality"])
            for g, files in sources.items()}


def view_summaries(images: np.ndarray, labels: np.ndarray, groups: np.ndarray, frames: dict[str, list[np.ndarray]],
                   sources: list[str], per_source: int) -> tuple[np.ndarray, np.ndarray]:
    """(summaries of the ``ok`` views, their group index); rows/cols from each view's source frame."""
    out, grp = [], []
    for n, (img, label, g) in enumerate(zip(images, labels, groups)):
        if label != 0:
            continue
        group = sources[int(g)]
        i = n - int(g) * per_source  # index within the group's stream (make_dataset's order)
        src = frames[group][i % len(frames[group])]
        s = image_summary(img[0])
        s[0], s[1] = src.shape[0], src.shape[1]
        out.append(s)
        grp.append(int(g))
    return np.stack(out), np.asarray(grp)


def reference_profile(images: np.ndarray, labels: np.ndarray, groups: np.ndarray,
                      frames: dict[str, list[np.ndarray]], sources: dict[str, tuple[str, ...]],
                      test_sources: tuple[str, ...], per_source: int, seed: int) -> ImageProfile:
    names = list(sources)
    summaries, grp = view_summaries(images, labels, groups, frames, names, per_source)
    modality = source_modalities(sources)
    test = np.isin(grp, [names.index(g) for g in test_sources])
    train_mods = [modality[names[g]] for g in grp[~test]]
    return build_image_profile(
        summaries[~test], train_mods, heldout=summaries, target_frr=OOD_TARGET_FRR,
        dimension_slack=DIMENSION_SLACK, accept_no_modality=True, seed=seed,
        source=f"clean training views of {', '.join(g for g in names if g not in test_sources)}; "
               f"contrast floor calibrated on the clean views of all {len(names)} sources",
    )
