"""Embedding and image profiles: grouped calibration/sampling and the calibrated contrast floor."""

from __future__ import annotations

import numpy as np
import pytest

from medinfer.monitoring import ImageGate, build_embedding_profile, build_image_profile, image_summary


def _clustered(rng: np.random.Generator, groups: int, per: int, dim: int = 6) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.normal(0, 1, (groups, dim))
    x = np.repeat(centres, per, axis=0) + rng.normal(0, 0.1, (groups * per, dim))
    return x, np.repeat(np.arange(groups), per)


def test_grouped_sample_takes_one_row_per_group_and_is_deterministic() -> None:
    x, g = _clustered(np.random.default_rng(0), 60, 4)
    p = build_embedding_profile(x, groups=g, seed=1)
    q = build_embedding_profile(x, groups=g, seed=1)
    assert p == q and len(p.sample) == 60
    rows = {tuple(np.round(r, 9)) for r in x}
    picked = [int(np.flatnonzero([tuple(np.round(r, 9)) == tuple(np.round(s, 9)) for r in x])[0]) // 4
              for s in p.sample]
    assert sorted(picked) == list(range(60)) and all(tuple(np.round(s, 9)) in rows for s in p.sample)
    with pytest.raises(ValueError):
        build_embedding_profile(x, groups=g[:-1])


def test_grouped_calibration_is_not_optimistic() -> None:
    x, g = _clustered(np.random.default_rng(3), 80, 5)
    assert build_embedding_profile(x, groups=g).gate.distance_threshold > \
        build_embedding_profile(x).gate.distance_threshold


def test_image_contrast_floor_is_calibrated_on_heldout() -> None:
    rng = np.random.default_rng(4)

    def frames(n: int, lo: float, hi: float) -> np.ndarray:
        return np.stack([image_summary(rng.uniform(0, rng.uniform(lo, hi), (128, 128))) for _ in range(n)])

    ref, held = frames(60, 0.4, 1.0), frames(300, 0.3, 1.0)
    p = build_image_profile(ref, ["CT"] * 60, heldout=held, target_frr=0.02)
    g = p.gate
    contrast = held[:, 5] - held[:, 4]
    assert 0.25 < g.min_contrast < 0.35 and g.calibration_n == 300 and g.target_frr == 0.02
    assert np.mean(contrast < g.min_contrast) <= 0.02 and g.calibration_frr <= 0.03
    gate = ImageGate(p)
    assert gate.check("CT", held[int(np.argmax(contrast))]).ood is False
    assert gate.check("CT", image_summary(rng.uniform(0, 0.1, (128, 128)))).reason == "implausible-intensity"
    assert gate.check(None, held[0]).reason == "wrong-modality"  # PNG/JPEG only if the profile accepts them
    assert build_image_profile(ref, ["CT"] * 60).gate.min_contrast == 0.0
