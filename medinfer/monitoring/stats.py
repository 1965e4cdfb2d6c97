"""Two-sample drift statistics: PSI, Kolmogorov–Smirnov and kernel MMD.

All functions are pure numpy/scipy on already-summarised numeric data, so
they can run in a worker thread off the request path. They never see raw
request content (text, pixels): callers pass feature vectors or summaries.

Why these three:

- PSI (population stability index) is what risk and clinical-ops teams read;
  it is computed on reference-quantile bins so it is scale-free, and its
  conventional thresholds (0.1 moderate, 0.25 major) are widely understood.
- KS gives a p-value with a known null distribution per feature, which we
  Bonferroni-correct across features so false alarms stay bounded.
- MMD with an RBF kernel detects a shift in any moment of a high-dimensional
  embedding distribution where per-dimension tests are hopeless; its null is
  estimated by permutation, so no distributional assumption is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

__all__ = [
    "PSI_EPS",
    "decile_edges",
    "bin_proportions",
    "psi",
    "ks_2samp",
    "ks_statistics",
    "ks_pvalues",
    "rbf_gamma_median",
    "MMDResult",
    "mmd_permutation_test",
]

#: floor applied to bin proportions so that an empty bin gives a large but finite PSI
PSI_EPS = 1e-4


def decile_edges(x: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """Inner bin edges at the reference quantiles (deduplicated for discrete features)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.empty(0)
    qs = np.quantile(x, np.linspace(0.0, 1.0, n_bins + 1)[1:-1], method="inverted_cdf")
    return np.unique(qs)


def bin_proportions(x: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    """Share of ``x`` in each of ``len(inner_edges)+1`` bins (right-closed like ``np.quantile``).

    Non-finite values are counted in the last bin: a missing feature is a
    distribution change, not something to drop silently.
    """
    x = np.asarray(x, dtype=np.float64)
    idx = np.searchsorted(np.asarray(inner_edges, dtype=np.float64), x, side="left")
    idx[~np.isfinite(x)] = len(inner_edges)
    counts = np.bincount(idx, minlength=len(inner_edges) + 1)
    return counts / max(1, x.size)


def psi(expected: np.ndarray, actual: np.ndarray, eps: float = PSI_EPS) -> float:
    """Population stability index between two proportion vectors of equal length."""
    e = np.clip(np.asarray(expected, dtype=np.float64), eps, None)
    a = np.clip(np.asarray(actual, dtype=np.float64), eps, None)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def ks_2samp(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample KS statistic and p-value (scipy, exact for small samples).

    Non-finite current values are mapped to +inf so that missingness moves the
    empirical CDF instead of vanishing from the test.
    """
    cur = np.asarray(current, dtype=np.float64).copy()
    cur[~np.isfinite(cur)] = np.inf
    res = _st.ks_2samp(np.asarray(reference, dtype=np.float64), cur, method="asymp")
    return float(res.statistic), float(res.pvalue)


def ks_statistics(reference_sorted: list[np.ndarray], current: np.ndarray) -> np.ndarray:
    """Two-sample KS statistic per column of ``current`` against presorted reference columns.

    The same computation as ``scipy.stats.ks_2samp`` (maximum distance between
    the two empirical CDFs over the pooled points) without its per-call
    overhead, so a 30-feature window costs a few milliseconds. Non-finite
    current values count as +inf.
    """
    cur = np.where(np.isfinite(current), current, np.inf)
    cur = np.sort(cur, axis=0)
    n2 = cur.shape[0]
    out = np.empty(cur.shape[1])
    for j, ref in enumerate(reference_sorted):
        pooled = np.concatenate([ref, cur[:, j]])
        cdf1 = np.searchsorted(ref, pooled, side="right") / ref.size
        cdf2 = np.searchsorted(cur[:, j], pooled, side="right") / n2
        out[j] = np.max(np.abs(cdf1 - cdf2))
    return out


def ks_pvalues(d: np.ndarray, n1: int, n2: int) -> np.ndarray:
    """Asymptotic two-sided p-values for KS statistics ``d`` (scipy's ``kstwo`` at the effective size,
    as ``ks_2samp(method="asymp")`` computes them)."""
    en = n1 * n2 / (n1 + n2)
    return np.clip(_st.kstwo.sf(np.asarray(d, dtype=np.float64), np.round(en)), 0.0, 1.0)


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aa = np.einsum("ij,ij->i", a, a)[:, None]
    bb = np.einsum("ij,ij->i", b, b)[None, :]
    return np.maximum(aa + bb - 2.0 * a @ b.T, 0.0)


def rbf_gamma_median(x: np.ndarray, max_points: int = 500, seed: int = 0) -> float:
    """RBF ``gamma = 1 / median(squared pairwise distance)`` (the median heuristic)."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] > max_points:
        x = x[np.random.default_rng(seed).choice(x.shape[0], max_points, replace=False)]
    d = _sq_dists(x, x)[np.triu_indices(x.shape[0], k=1)]
    med = float(np.median(d)) if d.size else 1.0
    return 1.0 / med if med > 0 else 1.0


@dataclass(frozen=True)
class MMDResult:
    mmd2: float
    pvalue: float
    n_permutations: int


def mmd_permutation_test(
    reference: np.ndarray,
    current: np.ndarray,
    gamma: float,
    n_permutations: int = 200,
    seed: int = 0,
) -> MMDResult:
    """Biased MMD² with an RBF kernel and a permutation p-value.

    The kernel matrix of the pooled sample is computed once; each permutation
    is a quadratic form ``aᵀKa`` with ``a = +1/m`` on one group and ``-1/n``
    on the other, so all permutations are one matrix product.
    """
    x = np.asarray(reference, dtype=np.float64)
    y = np.asarray(current, dtype=np.float64)
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise ValueError("MMD needs at least two points per sample")
    z = np.vstack([x, y])
    k = np.exp(-gamma * _sq_dists(z, z))
    rng = np.random.default_rng(seed)
    base = np.concatenate([np.full(m, 1.0 / m), np.full(n, -1.0 / n)])
    perms = np.stack([rng.permutation(base) for _ in range(n_permutations)], axis=1)
    a = np.concatenate([base[:, None], perms], axis=1)
    stats = np.einsum("ib,ib->b", a, k @ a)
    obs = float(stats[0])
    pvalue = (1.0 + float(np.sum(stats[1:] >= obs))) / (n_permutations + 1.0)
    return MMDResult(mmd2=obs, pvalue=pvalue, n_permutations=n_permutations)
