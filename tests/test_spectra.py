"""Marčenko–Pastur law against quadrature, Monte Carlo of Gaussian matrices and random initialisations."""

import numpy as np
import pytest
from scipy import integrate, stats

from pyrbm import Hamiltonian
from pyrbm.spectra import count_outliers, edge_fluctuation, fit_sigma_w, mp_cdf, mp_edges, mp_pdf


def _singular_values(W):
    """Singular values via the eigenvalues of WᵀW (faster than an SVD, ample accuracy here)."""
    small = W.T @ W if W.shape[0] >= W.shape[1] else W @ W.T
    return np.sqrt(np.clip(np.linalg.eigvalsh(small), 0, None))


@pytest.mark.parametrize("n,m,edges", [(784, 500, (0.0564, 0.5036)), (500, 784, (0.0564, 0.5036)),
                                       (784, 784, (0.0, 0.56)), (784, 1200, (0.0664, 0.6264)),
                                       (784, 3000, (0.2677, 0.8277))])
def test_edges_match_physics_table(n, m, edges):
    np.testing.assert_allclose(mp_edges(n, m, sigma_w=0.01), edges, atol=5e-5)


@pytest.mark.parametrize("n,m,sigma_w", [(784, 500, 0.01), (300, 700, 0.2), (50, 50, 1.0), (20, 3, 0.5)])
def test_pdf_normalised_and_cdf_matches_quadrature(n, m, sigma_w):
    lo, hi = mp_edges(n, m, sigma_w=sigma_w)
    pdf = lambda x: float(mp_pdf(x, n, m, sigma_w=sigma_w))
    total, _ = integrate.quad(pdf, lo, hi, epsabs=1e-13, epsrel=1e-13, limit=200)
    assert abs(total - 1.0) < 1e-10
    grid = np.linspace(max(lo - 0.1 * hi, 0), 1.1 * hi, 41)
    ref = np.array([integrate.quad(pdf, lo, min(max(x, lo), hi), epsabs=1e-13, epsrel=1e-13, limit=200)[0]
                    for x in grid])
    got = mp_cdf(grid, n, m, sigma_w=sigma_w)
    assert got.shape == grid.shape
    assert np.max(np.abs(got - ref)) < 1e-8
    assert np.all(np.diff(got) >= 0)
    assert mp_pdf(lo - 1e-3, n, m, sigma_w=sigma_w) == 0 and mp_pdf(hi + 1e-3, n, m, sigma_w=sigma_w) == 0


def test_square_case_is_quarter_circle():
    s = np.array([0.0, 0.1, 0.3])
    hi = 2 * np.sqrt(100) * 0.02
    np.testing.assert_allclose(mp_pdf(s, 100, 100, sigma_w=0.02), np.sqrt(hi**2 - s**2) / (np.pi * 100 * 0.02**2))


def test_cdf_against_monte_carlo_of_gaussian_matrices():
    """Empirical CDF of pooled singular values of numpy Gaussian matrices (finite-size error O(1/N))."""
    rng = np.random.default_rng(7)
    for n, m, sigma in ((150, 60, 0.3), (80, 120, 2.0)):
        s = np.sort(np.concatenate([_singular_values(sigma * rng.standard_normal((n, m))) for _ in range(150)]))
        ecdf = np.arange(1, s.size + 1) / s.size
        assert np.max(np.abs(ecdf - mp_cdf(s, n, m, sigma_w=sigma))) < 0.01
        assert abs(fit_sigma_w(s, n, m) / sigma - 1) < 0.005
        assert abs(fit_sigma_w(s, n, m, method="median") / sigma - 1) < 0.01


def _pooled_init_spectra(n_init):
    spectra = [_singular_values(Hamiltonian.random(784, 500, sigma_w=0.01, seed=i).W) for i in range(n_init)]
    return np.array(spectra)


def _check_init_spectra(spectra, wrong_scale):
    pooled = spectra.ravel()
    ks = stats.kstest(pooled, lambda x: mp_cdf(x, 784, 500, sigma_w=0.01))
    assert ks.pvalue > 0.01, ks
    # the test has power: a small error in the scale is rejected outright
    assert stats.kstest(pooled, lambda x: mp_cdf(x, 784, 500, sigma_w=0.01 * wrong_scale)).pvalue < 1e-6
    # Extremes: finite-size (Tracy–Widom) fluctuations about the edges, in units of the
    # Tracy–Widom scale; 6 scales is ~5 standard deviations of the TW1 law beyond its mean.
    lo, hi = mp_edges(784, 500, sigma_w=0.01)
    d_lo, d_hi = edge_fluctuation(784, 500, sigma_w=0.01)
    assert pooled.min() > lo - 6 * d_lo and pooled.max() < hi + 6 * d_hi
    return ks


@pytest.fixture(scope="module")
def init_spectra():
    return _pooled_init_spectra(200)


def test_random_initialisations_follow_marchenko_pastur(init_spectra):
    _check_init_spectra(init_spectra, wrong_scale=1.02)


@pytest.mark.slow
def test_extremes_of_random_initialisations_follow_tracy_widom(init_spectra):
    spectra = init_spectra
    # per-matrix extremes in Tracy–Widom units look like TW1 (mean −1.21, sd 1.27)
    lo, hi = mp_edges(784, 500, sigma_w=0.01)
    d_lo, d_hi = edge_fluctuation(784, 500, sigma_w=0.01)
    top = (spectra.max(axis=1) - hi) / d_hi
    bottom = (lo - spectra.min(axis=1)) / d_lo
    for z in (top, bottom):
        assert -1.8 < z.mean() < -0.6 and 0.9 < z.std() < 1.7
    assert count_outliers(spectra.ravel(), 784, 500, sigma_w=0.01) == 0


def test_count_outliers_and_robust_fit():
    rng = np.random.default_rng(3)
    W = 0.01 * rng.standard_normal((784, 500))
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    assert count_outliers(s, 784, 500, sigma_w=0.01) == 0
    s_planted = s.copy()
    s_planted[:3] = [5.0, 1.0, 0.6]            # three learned modes above the edge 0.5036
    W2 = (U * s_planted) @ Vt
    s2 = np.linalg.svd(W2, compute_uv=False)
    assert count_outliers(s2, 784, 500, sigma_w=0.01) == 3
    assert count_outliers(s2, 784, 500, sigma_w=0.01, tol=0.5) == 2   # margin 0.25: 0.6 no longer counts
    assert abs(fit_sigma_w(s2, 784, 500, method="median") / 0.01 - 1) < 0.01
    assert fit_sigma_w(s2, 784, 500, method="moment") > 0.011   # second moment is pulled up


def test_bad_input():
    with pytest.raises(ValueError, match="sigma_w"):
        mp_edges(784, 500, sigma_w=0.0)
    with pytest.raises(TypeError):
        mp_edges(784, 500, 0.01)                   # sigma_w is keyword-only
    with pytest.raises(ValueError, match="n_visible"):
        mp_pdf([0.1], 0, 500, sigma_w=0.01)
    with pytest.raises(TypeError, match="n_hidden"):
        mp_cdf([0.1], 784, 500.0, sigma_w=0.01)
    with pytest.raises(ValueError, match="method"):
        fit_sigma_w([0.1, 0.2], 10, 5, method="mle")
    with pytest.raises(ValueError, match="s"):
        fit_sigma_w([], 10, 5)
    with pytest.raises(ValueError, match="s"):
        count_outliers([[0.1]], 10, 5, sigma_w=0.01)
    with pytest.raises(ValueError, match="tol"):
        count_outliers([0.1], 10, 5, sigma_w=0.01, tol=-1)
