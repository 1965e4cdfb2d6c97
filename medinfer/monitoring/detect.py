"""Drift decisions for one window against one reference profile.

Decision rule (tabular, and image summaries): a feature is *drifted* when
the shift is both significant and material: its KS p-value is below
``ks_alpha / n_features`` (Bonferroni, so the family-wise false-alarm rate
per evaluation stays under ``ks_alpha``) and its PSI is at least
``psi_material`` (0.1, the conventional "moderate shift"); or when its PSI
alone reaches ``psi_severe`` (0.5). PSI alone at the usual 0.25 is too noisy
on a window of a few hundred records (10 bins: its null mean is about
9·(1/m + 1/n)) to alarm on by itself.
The window is also tested for an excess of out-of-support records with a
one-sided binomial test against the gate's calibrated support rate. Drift is
*detected* when any feature is drifted or the out-of-support excess is
significant. Embeddings use the MMD permutation test at ``mmd_alpha``.
No decision is made below ``min_samples`` records.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.stats import binomtest

from medinfer.monitoring.profile import EmbeddingProfile, ImageProfile, TabularProfile
from medinfer.monitoring.stats import bin_proportions, ks_pvalues, ks_statistics, mmd_permutation_test, psi

__all__ = ["DriftConfig", "FeatureDrift", "DriftSnapshot", "TabularDetector", "EmbeddingDetector"]


@dataclass(frozen=True)
class DriftConfig:
    window: int = 500
    min_samples: int = 100
    psi_material: float = 0.1
    psi_severe: float = 0.5
    ks_alpha: float = 0.01
    oor_alpha: float = 0.01
    mmd_alpha: float = 0.01
    mmd_permutations: int = 200
    mmd_max_window: int = 256


@dataclass
class FeatureDrift:
    name: str
    psi: float
    ks_statistic: float
    ks_pvalue: float
    drifted: bool


@dataclass
class DriftSnapshot:
    model: str
    version: str
    kind: str
    window_records: int
    records_total: int
    evaluated_at: float
    evaluation_seconds: float = 0.0
    ready: bool = False
    drift_detected: bool = False
    features: list[FeatureDrift] = field(default_factory=list)
    out_of_range_share: float | None = None
    out_of_range_pvalue: float | None = None
    mmd2: float | None = None
    mmd_pvalue: float | None = None
    ood_counts: dict[str, int] = field(default_factory=dict)
    checked_total: int = 0

    @property
    def drifted_features(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["drifted_features"] = self.drifted_features
        return d


class TabularDetector:
    """Per-feature PSI + KS and the out-of-support share, for tabular or image-summary profiles."""

    def __init__(self, profile: TabularProfile, config: DriftConfig) -> None:
        self.config = config
        self.names = list(profile.feature_names)
        self.edges = [np.asarray(f.bin_edges) for f in profile.features]
        self.props = [np.asarray(f.bin_props) for f in profile.features]
        self.sorted_samples = [np.sort(np.asarray(f.sample, dtype=np.float64)) for f in profile.features]
        self.n_ref = min(s.size for s in self.sorted_samples)
        if profile.gate is not None:
            self.low, self.high = np.asarray(profile.gate.support_low), np.asarray(profile.gate.support_high)
            # the support was calibrated to let through all but target_frr/2 of clean inputs
            self.oor_p0: float | None = max(profile.gate.target_frr / 2.0, 1e-4)
        else:
            self.low = np.asarray([f.min for f in profile.features])
            self.high = np.asarray([f.max for f in profile.features])
            self.oor_p0 = None

    @property
    def dim(self) -> int:
        return len(self.names)

    def evaluate(self, x: np.ndarray, snap: DriftSnapshot) -> DriftSnapshot:
        cfg = self.config
        n = x.shape[0]
        if n < cfg.min_samples:
            return snap
        snap.ready = True
        per_test_alpha = cfg.ks_alpha / self.dim
        ks_d = ks_statistics(self.sorted_samples, x)
        ks_p = ks_pvalues(ks_d, self.n_ref, n)
        for j, name in enumerate(self.names):
            p = psi(self.props[j], bin_proportions(x[:, j], self.edges[j]))
            d, pv = float(ks_d[j]), float(ks_p[j])
            drifted = (pv < per_test_alpha and p >= cfg.psi_material) or p >= cfg.psi_severe
            snap.features.append(FeatureDrift(name, p, d, pv, drifted))
        outside = (~np.isfinite(x) | (x < self.low) | (x > self.high)).any(axis=1)
        k = int(outside.sum())
        snap.out_of_range_share = k / n
        oor_flag = False
        if self.oor_p0 is not None:
            snap.out_of_range_pvalue = float(binomtest(k, n, self.oor_p0, alternative="greater").pvalue)
            oor_flag = snap.out_of_range_pvalue < cfg.oor_alpha
        snap.drift_detected = oor_flag or any(f.drifted for f in snap.features)
        return snap


class EmbeddingDetector:
    """MMD permutation test of the most recent embeddings against the reference sample."""

    def __init__(self, profile: EmbeddingProfile, config: DriftConfig) -> None:
        self.config = config
        self.reference = np.asarray(profile.sample)
        self.gamma = profile.rbf_gamma
        self.dim = profile.dim
        self._seed = 0

    def evaluate(self, x: np.ndarray, snap: DriftSnapshot) -> DriftSnapshot:
        cfg = self.config
        x = x[np.isfinite(x).all(axis=1)][-cfg.mmd_max_window:]
        if x.shape[0] < cfg.min_samples:
            return snap
        snap.ready = True
        self._seed += 1
        res = mmd_permutation_test(self.reference, x, self.gamma, cfg.mmd_permutations, seed=self._seed)
        snap.mmd2, snap.mmd_pvalue = res.mmd2, res.pvalue
        snap.drift_detected = res.pvalue < cfg.mmd_alpha
        return snap


def image_detector(profile: ImageProfile, config: DriftConfig) -> TabularDetector:
    """Image drift is tabular drift on the per-image summaries."""
    return TabularDetector(profile.summary, config)


def new_snapshot(model: str, version: str, kind: str, window_records: int, total: int) -> DriftSnapshot:
    return DriftSnapshot(model, version, kind, window_records, total, evaluated_at=time.time())
