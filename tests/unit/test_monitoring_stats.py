"""PSI, KS and MMD against distributions with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from medinfer.monitoring.stats import (
    bin_proportions,
    decile_edges,
    ks_2samp,
    ks_pvalues,
    ks_statistics,
    mmd_permutation_test,
    psi,
    rbf_gamma_median,
)


def test_psi_is_zero_for_identical_and_matches_closed_form_for_a_normal_mean_shift():
    edges = st.norm.ppf(np.linspace(0, 1, 11)[1:-1])  # exact deciles of N(0, 1)
    ref = np.full(10, 0.1)
    assert psi(ref, ref) == pytest.approx(0.0)
    # the share of N(0.5, 1) in each N(0, 1) decile, in closed form
    cdf = st.norm.cdf(np.concatenate([[-np.inf], edges, [np.inf]]), loc=0.5)
    expected = float(np.sum((np.diff(cdf) - 0.1) * np.log(np.diff(cdf) / 0.1)))
    x = np.random.default_rng(0).normal(0.5, 1.0, 200_000)
    assert psi(ref, bin_proportions(x, edges)) == pytest.approx(expected, rel=0.03)
    assert 0.2 < expected < 0.3  # sanity: a half-sd shift is a "major" PSI shift


def test_bin_proportions_uses_reference_deciles_and_counts_missing_in_a_bin():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=10_000)
    edges = decile_edges(ref)
    assert edges.size == 9
    assert np.allclose(bin_proportions(ref, edges), 0.1, atol=0.002)
    x = np.array([np.nan, np.nan, 0.0, 0.0])
    props = bin_proportions(x, edges)
    assert props[-1] == pytest.approx(0.5) and props.sum() == pytest.approx(1.0)
    assert decile_edges(np.repeat([0.0, 1.0], 50)).size <= 2  # ties deduplicated


def test_ks_pvalues_are_roughly_uniform_under_the_null_and_tiny_under_a_shift():
    rng = np.random.default_rng(2)
    ref = rng.normal(size=500)
    pvals = np.array([ks_2samp(ref, rng.normal(size=200))[1] for _ in range(300)])
    assert 0.0 < np.mean(pvals < 0.05) < 0.10
    d, p = ks_2samp(ref, rng.normal(0.5, 1.0, 200))
    assert p < 1e-4 and d > 0.15


def test_vectorised_ks_matches_scipy():
    rng = np.random.default_rng(6)
    ref = rng.normal(size=(300, 4))
    cur = rng.normal(0.2, 1.1, size=(180, 4))
    cur[:5, 2] = np.nan
    d = ks_statistics([np.sort(ref[:, j]) for j in range(4)], cur)
    p = ks_pvalues(d, 300, 180)
    for j in range(4):
        c = np.where(np.isfinite(cur[:, j]), cur[:, j], np.inf)
        res = st.ks_2samp(ref[:, j], c, method="asymp")
        assert d[j] == pytest.approx(res.statistic) and p[j] == pytest.approx(res.pvalue, rel=1e-9)


def test_ks_treats_missing_values_as_a_shift():
    rng = np.random.default_rng(3)
    ref = rng.normal(size=500)
    cur = rng.normal(size=200)
    cur[:60] = np.nan
    assert ks_2samp(ref, cur)[1] < 1e-6


def test_mmd_quiet_on_same_distribution_and_fires_on_a_small_multivariate_shift():
    rng = np.random.default_rng(4)
    dim = 32
    ref = rng.normal(size=(200, dim))
    gamma = rbf_gamma_median(ref)
    same = mmd_permutation_test(ref, rng.normal(size=(150, dim)), gamma, n_permutations=200, seed=1)
    assert same.pvalue > 0.05
    # a 0.35 sd shift in every dimension: invisible per dimension at this size, clear jointly
    shifted = mmd_permutation_test(ref, rng.normal(0.35, 1.0, size=(150, dim)), gamma, 200, seed=1)
    assert shifted.pvalue < 0.01 and shifted.mmd2 > same.mmd2


def test_mmd_null_rejection_rate_is_near_alpha():
    rng = np.random.default_rng(5)
    ref = rng.normal(size=(80, 8))
    gamma = rbf_gamma_median(ref)
    p = [mmd_permutation_test(ref, rng.normal(size=(60, 8)), gamma, 100, seed=i).pvalue for i in range(60)]
    assert np.mean(np.asarray(p) < 0.1) < 0.25


def test_mmd_refuses_degenerate_samples():
    with pytest.raises(ValueError):
        mmd_permutation_test(np.zeros((1, 3)), np.zeros((5, 3)), 1.0)
