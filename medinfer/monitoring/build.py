"""Build reference profiles and calibrate OOD thresholds from training inputs.

Calibration is *out-of-fold*: the training inputs are split into K folds, the
gate statistics (range, mean, covariance) are fitted on K-1 folds and scored
on the held-out fold. Thresholds are conformal quantiles of those held-out
scores, so on fresh data from the training distribution the false-reject
rate is at most the stated target (up to sampling error), instead of the
optimistic in-sample rate. The final statistics are then refitted on all
training inputs. The target rate is split evenly between the support check
and the Mahalanobis check (a union bound).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.covariance import LedoitWolf
from sklearn.model_selection import GroupKFold, KFold

from medinfer.monitoring.profile import (
    QUANTILE_LEVELS,
    EmbeddingGateParams,
    EmbeddingProfile,
    FeatureProfile,
    ImageGateParams,
    ImageProfile,
    TabularGateParams,
    TabularProfile,
)
from medinfer.monitoring.stats import bin_proportions, decile_edges, rbf_gamma_median
from medinfer.common.image_summary import IMAGE_SUMMARY_FEATURES, image_summary

__all__ = [
    "IMAGE_SUMMARY_FEATURES",
    "conformal_threshold",
    "build_tabular_profile",
    "build_embedding_profile",
    "build_image_profile",
    "image_summary",
    "range_excess",
    "mahalanobis_sq",
    "log_transform_params",
    "transform",
]



def conformal_threshold(scores: np.ndarray, alpha: float) -> float:
    """Smallest threshold t with P(score > t) <= alpha for an exchangeable new score."""
    s = np.sort(np.asarray(scores, dtype=np.float64))
    n = s.size
    k = int(np.ceil((n + 1) * (1.0 - alpha)))
    return float(s[k - 1]) if 1 <= k <= n else float("inf")


def range_excess(x: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Per row: how far outside ``[low, high]`` the worst feature lies, in units of the range."""
    width = np.where(high > low, high - low, 1.0)
    below = (low - x) / width
    above = (x - high) / width
    return np.max(np.maximum(np.maximum(below, above), 0.0), axis=-1)


def log_transform_params(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which features to log-transform (non-negative ones) and their offsets.

    Clinical measurements are mostly positive and right-skewed, and related by
    powers (area ~ radius²): on a log scale their joint distribution is close
    to Gaussian and those relations become linear, which is what a Mahalanobis
    distance can model. The offset (half the 5th percentile, or a small share of
    the median) keeps zeros finite without letting them dominate.
    """
    mask = x.min(axis=0) >= 0
    off = np.maximum(0.5 * np.quantile(x, 0.05, axis=0), 1e-3 * np.median(x, axis=0))
    off = np.where(off > 0, off, 1e-6)
    return mask, np.where(mask, off, 1.0)


def transform(x: np.ndarray, mask: np.ndarray, off: np.ndarray) -> np.ndarray:
    return np.where(mask, np.log(np.maximum(x, 0.0) + off), x)


def mahalanobis_sq(t: np.ndarray, center: np.ndarray, scale: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of already-transformed rows ``t``."""
    z = (np.atleast_2d(t) - center) / scale
    return np.einsum("ij,jk,ik->i", z, precision, z)


def _fit_gaussian(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    center = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    lw = LedoitWolf(assume_centered=True).fit((x - center) / scale)
    return center, scale, lw.precision_


def _feature_profile(name: str, col: np.ndarray, sample_size: int, rng: np.random.Generator) -> FeatureProfile:
    edges = decile_edges(col)
    sample = col if col.size <= sample_size else rng.choice(col, sample_size, replace=False)
    sample = rng.permutation(sample)
    return FeatureProfile(
        name=name,
        quantiles=np.quantile(col, QUANTILE_LEVELS).tolist(),
        bin_edges=edges.tolist(),
        bin_props=bin_proportions(col, edges).tolist(),
        mean=float(col.mean()),
        std=float(col.std()),
        min=float(col.min()),
        max=float(col.max()),
        sample=sample.tolist(),
    )


def _calibrate_tabular(x: np.ndarray, target_frr: float, folds: int, seed: int) -> TabularGateParams:
    mask, off = log_transform_params(x)
    t = transform(x, mask, off)
    n = x.shape[0]
    excess = np.empty(n)
    maha = np.empty(n)
    for fit_idx, held_idx in KFold(n_splits=folds, shuffle=True, random_state=seed).split(x):
        fit = t[fit_idx]
        excess[held_idx] = range_excess(t[held_idx], fit.min(axis=0), fit.max(axis=0))
        maha[held_idx] = mahalanobis_sq(t[held_idx], *_fit_gaussian(fit))
    half = target_frr / 2.0
    margin = conformal_threshold(excess, half)
    if not np.isfinite(margin):
        margin = float(excess.max())
    maha_t = conformal_threshold(maha, half)
    if not np.isfinite(maha_t):
        maha_t = float(maha.max())
    oof_frr = float(np.mean((excess > margin) | (maha > maha_t)))
    # the support box is padded on the transformed scale, then mapped back to raw units
    lo, hi = t.min(axis=0), t.max(axis=0)
    width = np.where(hi > lo, hi - lo, 1.0)
    lo_t, hi_t = lo - margin * width, hi + margin * width
    low = np.where(mask, np.maximum(np.exp(lo_t) - off, 0.0), lo_t)
    high = np.where(mask, np.exp(hi_t) - off, hi_t)
    center, scale, precision = _fit_gaussian(t)
    return TabularGateParams(
        target_frr=target_frr,
        support_low=low.tolist(),
        support_high=high.tolist(),
        support_margin=margin,
        log_features=mask.tolist(),
        log_offset=off.tolist(),
        center=center.tolist(),
        scale=scale.tolist(),
        precision=precision.tolist(),
        mahalanobis_threshold=maha_t,
        calibration_frr=oof_frr,
        calibration_n=n,
    )


def build_tabular_profile(
    x: np.ndarray,
    feature_names: Sequence[str],
    *,
    target_frr: float = 0.01,
    sample_size: int = 1000,
    folds: int = 5,
    seed: int = 0,
    source: str = "",
    calibrate: bool = True,
) -> TabularProfile:
    """Profile of a tabular model's training inputs ``x`` (rows × features).

    ``feature_names`` come from the model's metadata; they become the only
    ``feature`` label values of the drift metrics.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(feature_names):
        raise ValueError("x must be 2-D with one column per feature name")
    if x.shape[0] < 2 * folds or not np.all(np.isfinite(x)):
        raise ValueError("need finite training inputs, at least two rows per fold")
    if len(set(feature_names)) != len(feature_names):
        raise ValueError("feature names must be unique")
    rng = np.random.default_rng(seed)
    features = [_feature_profile(n, x[:, j], sample_size, rng) for j, n in enumerate(feature_names)]
    gate = _calibrate_tabular(x, target_frr, folds, seed) if calibrate else None
    return TabularProfile(
        feature_names=list(feature_names), n_reference=int(x.shape[0]), features=features,
        gate=gate, source=source,
    )


def build_embedding_profile(
    emb: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    target_frr: float = 0.01,
    sample_size: int = 256,
    folds: int = 5,
    seed: int = 0,
    source: str = "",
) -> EmbeddingProfile:
    """Profile of a text model's training embeddings (rows × dim), never of the notes.

    ``groups`` (e.g. the source note of each excerpt) matter twice. Calibration
    folds keep a group together, else a held-out excerpt's sibling in the fit
    folds makes the threshold optimistic. And the MMD reference sample takes at
    most one row per group: siblings are more alike than independent requests,
    which inflates the reference's self-similarity, and the permutation test
    then calls every fresh, independent window drifted (measured: a third of
    clean windows alarmed at p < 0.01 with siblings, none without).
    """
    emb = np.asarray(emb, dtype=np.float64)
    if emb.ndim != 2 or emb.shape[0] < 2 * folds or not np.all(np.isfinite(emb)):
        raise ValueError("need a finite 2-D embedding matrix with at least two rows per fold")
    n = emb.shape[0]
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (n,) or np.unique(groups).size < folds:
            raise ValueError("groups must give one label per row and at least one group per fold")
        splits = GroupKFold(n_splits=folds).split(emb, groups=groups)
    else:
        splits = KFold(n_splits=folds, shuffle=True, random_state=seed).split(emb)
    dist = np.empty(n)
    for fit_idx, held_idx in splits:
        mu, var = emb[fit_idx].mean(axis=0), emb[fit_idx].var(axis=0) + 1e-8
        dist[held_idx] = np.sum((emb[held_idx] - mu) ** 2 / var, axis=1)
    thr = conformal_threshold(dist, target_frr)
    thr = thr if np.isfinite(thr) else float(dist.max())
    rng = np.random.default_rng(seed)
    pool = np.arange(n)
    if groups is not None:  # one random row per group
        pool = np.array([rng.choice(np.flatnonzero(groups == g)) for g in np.unique(groups)])
    sample = emb[pool] if pool.size <= sample_size else emb[rng.choice(pool, sample_size, replace=False)]
    return EmbeddingProfile(
        dim=int(emb.shape[1]), n_reference=n,
        mean=emb.mean(axis=0).tolist(), var=(emb.var(axis=0) + 1e-8).tolist(),
        sample=sample.tolist(), rbf_gamma=rbf_gamma_median(sample, seed=seed),
        gate=EmbeddingGateParams(
            target_frr=target_frr, distance_threshold=thr,
            calibration_frr=float(np.mean(dist > thr)), calibration_n=n,
        ),
        source=source,
    )


def build_image_profile(
    summaries: np.ndarray,
    modalities: Sequence[str],
    *,
    dimension_slack: float = 2.0,
    intensity_slack: float = 0.25,
    heldout: np.ndarray | None = None,
    target_frr: float = 0.01,
    accept_no_modality: bool = False,
    seed: int = 0,
    source: str = "",
) -> ImageProfile:
    """Profile from per-image summaries (see :func:`image_summary`) and their DICOM modalities.

    The image gate is rule-based (plausible ranges padded by a slack), not
    calibrated: imaging training sets are small and the failures it targets
    (a chest CT sent to a mammography model, a thumbnail, a blank frame) are
    far outside any training support. The one calibrated bound is the contrast
    floor (p99 - p1): given ``heldout`` summaries of clean images, it is their
    conformal lower quantile at ``target_frr``, and the rate at which the whole
    gate (modality aside) flags those images is recorded as ``calibration_frr``.
    """
    s = np.asarray(summaries, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != len(IMAGE_SUMMARY_FEATURES) or s.shape[0] != len(modalities):
        raise ValueError("summaries must be rows × IMAGE_SUMMARY_FEATURES, one modality per row")
    mods, counts = np.unique(np.asarray(modalities, dtype=str), return_counts=True)
    span = s[:, 5].max() - s[:, 4].min()
    summary = build_tabular_profile(
        s, IMAGE_SUMMARY_FEATURES, folds=min(5, max(2, s.shape[0] // 2)), seed=seed, calibrate=False,
    )
    min_contrast, cal_n = 0.0, 0
    if heldout is not None:
        h = np.asarray(heldout, dtype=np.float64)
        contrast = h[:, 5] - h[:, 4]
        # lower quantile: the threshold on -contrast at the upper tail
        floor = -conformal_threshold(-contrast, target_frr)
        min_contrast = float(floor) if np.isfinite(floor) else float(contrast.min())
        cal_n = int(h.shape[0])
    gate = ImageGateParams(
        allowed_modalities=[str(m) for m in mods],
        min_rows=int(s[:, 0].min() / dimension_slack), max_rows=int(s[:, 0].max() * dimension_slack),
        min_cols=int(s[:, 1].min() / dimension_slack), max_cols=int(s[:, 1].max() * dimension_slack),
        intensity_low=float(s[:, 4].min() - intensity_slack * span),
        intensity_high=float(s[:, 5].max() + intensity_slack * span),
        min_contrast=min_contrast, accept_no_modality=accept_no_modality,
        target_frr=target_frr if heldout is not None else None, calibration_n=cal_n,
    )
    if heldout is not None:
        gate = gate.model_copy(update={"calibration_frr": float(np.mean(_image_flags(h, gate)))})
    return ImageProfile(
        n_reference=int(s.shape[0]),
        modalities={str(m): float(c / counts.sum()) for m, c in zip(mods, counts)},
        summary=summary,
        gate=gate,
        source=source,
    )


def _image_flags(s: np.ndarray, g: ImageGateParams) -> np.ndarray:
    """Per summary row: would the dimension/intensity checks of ``ImageGate`` flag it (modality aside)."""
    contrast = s[:, 5] - s[:, 4]
    dims_ok = (g.min_rows <= s[:, 0]) & (s[:, 0] <= g.max_rows) & (g.min_cols <= s[:, 1]) & (s[:, 1] <= g.max_cols)
    inten_ok = (s[:, 4] >= g.intensity_low) & (s[:, 5] <= g.intensity_high) & (contrast > 0) \
        & (contrast >= g.min_contrast)
    return ~(dims_ok & inten_ok)
