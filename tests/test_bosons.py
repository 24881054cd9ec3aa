"""Coupled-boson form of the modes: Fock-space spectra against the analytic normal-mode ladder."""

import numpy as np
import pytest
import scipy.sparse

from conftest import mode_model

from pyrbm.bosons import Bosons


def _ham(sigmas, units="binary", beta=1.0, n=None, m=None, seed=0):
    return mode_model(sigmas, n, m, seed=seed, beta=beta, units=units)


def _ladder(kappa_u, kappa_w, n_levels):
    """Independent reference: n_u κ_u + n_w κ_w (stable) by brute listing."""
    levels = sorted(nu * kappa_u + nw * kappa_w for nu in range(n_levels) for nw in range(n_levels))
    return np.array(levels[:n_levels])


def test_mode_frequencies_match_physics_formulas():
    ham = _ham([6.0, 3.0, 1.0, 0.0], beta=0.8)
    bos = ham.bosons()
    assert isinstance(bos, Bosons)
    c = 0.8 * np.array([6.0, 3.0, 1.0, 0.0])
    np.testing.assert_allclose(bos.Omega, np.sqrt(16.0 + c**2), atol=1e-12)
    np.testing.assert_allclose(bos.g, c / (0.25 * np.sqrt(16.0 + c**2)), atol=1e-12)
    np.testing.assert_allclose(bos.kappa_u, 4.0 - c, atol=1e-12)
    np.testing.assert_allclose(bos.kappa_w, 4.0 + c, atol=1e-12)
    np.testing.assert_array_equal(bos.stable, [False, True, True, True])   # 0.8*6 = 4.8 > 4
    np.testing.assert_array_equal(bos.stable, ham.stable_modes())
    # Ω² = (κ_u² + κ_w²)/2 and g ≤ Ω/2 for every coupling
    np.testing.assert_allclose(bos.Omega**2, (bos.kappa_u**2 + bos.kappa_w**2) / 2, rtol=1e-12)
    assert np.all(bos.g <= bos.Omega / 2 + 1e-12)


def test_spin_units_threshold_is_T():
    bos = _ham([1.5, 0.9], units="spin").bosons()
    np.testing.assert_allclose(bos.kappa_u, [1 - 1.5, 1 - 0.9], atol=1e-12)
    np.testing.assert_array_equal(bos.stable, [False, True])
    assert bos.free_frequency == 1.0


def test_free_modes_are_uncoupled_bosons():
    bos = _ham([1.0, 0.5], n=5, m=2).bosons()
    assert (bos.n_free_visible, bos.n_free_hidden) == (3, 0)
    np.testing.assert_allclose(bos.free_levels(n_levels=4), [0, 4, 8, 12])


def test_fock_matrix_is_the_ladder_operator_form_of_the_schrodinger_operator():
    """H_k built from x = Ω^{-1/2}(a+a†), p = i(Ω^{1/2}/2)(a†−a) in a box basis (numpy kron)
    must equal p_x²+p_y²+(Ω²/4)(x²+y²)−(βσ/s²)xy−1/s² restricted to the Fock triangle."""
    sigma, beta, s2 = 2.5, 1.3, 0.25
    bos = _ham([sigma, 1.0], beta=beta).bosons()
    n_max = 7
    L = n_max + 3
    a = np.diag(np.sqrt(np.arange(1, L)), 1)
    omega = np.sqrt(1 / s2**2 + (beta * sigma) ** 2)
    X = (a + a.T) / np.sqrt(omega)
    P = 1j * np.sqrt(omega) / 2 * (a.T - a)
    eye = np.eye(L)
    Hbox = (np.kron(P @ P, eye) + np.kron(eye, P @ P) + omega**2 / 4 * (np.kron(X @ X, eye) + np.kron(eye, X @ X))
            - beta * sigma / s2 * np.kron(X, X) - np.eye(L * L) / s2)
    states = [(na, t - na) for t in range(n_max + 1) for na in range(t + 1)]
    box_idx = [na * L + nb for na, nb in states]
    ref = Hbox[np.ix_(box_idx, box_idx)]
    H = bos.fock_hamiltonian(1, n_max=n_max)
    assert scipy.sparse.issparse(H)
    assert H.shape == ((n_max + 1) * (n_max + 2) // 2,) * 2
    np.testing.assert_allclose(H.toarray(), ref.real, atol=1e-10)
    assert np.max(np.abs(ref.imag)) < 1e-10


@pytest.mark.parametrize("units,sigma", [("binary", 2.0), ("binary", 0.7), ("spin", 0.6)])
def test_fock_spectrum_converges_to_normal_mode_ladder(units, sigma):
    bos = _ham([sigma, 0.1], units=units).bosons()
    s2 = 0.25 if units == "binary" else 1.0
    ref = _ladder(1 / s2 - sigma, 1 / s2 + sigma, 6)
    errors = []
    for n_max in (6, 12, 24, 40):
        lev = bos.fock_spectrum(1, n_max=n_max, n_levels=6)
        assert np.all(lev >= ref - 1e-9)          # variational: truncation gives upper bounds
        errors.append(np.max(lev - ref))
    # monotone decrease until the rounding floor
    assert all(e2 < e1 or e2 < 1e-12 for e1, e2 in zip(errors, errors[1:])), errors
    assert errors[-1] < 1e-7, errors
    np.testing.assert_allclose(bos.levels(1, n_levels=6), ref, atol=1e-12)


def test_unstable_mode_has_no_zero_mode_and_is_not_the_naive_ladder():
    """σ > 4T: κ_u < 0. The naive ladder n_u κ_u + n_w κ_w is unbounded below and contains 0;
    the Fock spectrum instead converges to |κ_u|(n_u+1) + n_w κ_w, gapped away from 0:
    no normalisable stationary state."""
    sigma = 6.0
    bos = _ham([sigma, 1.0]).bosons()
    ku, kw = 4.0 - sigma, 4.0 + sigma
    assert not bos.stable[0]
    ref = np.sort([abs(ku) * (nu + 1) + nw * kw for nu in range(6) for nw in range(6)])[:6]
    prev = np.inf
    for n_max in (10, 20, 40):
        lev = bos.fock_spectrum(1, n_max=n_max, n_levels=6)
        assert lev[0] < prev
        prev = lev[0]
    assert abs(lev[0] - ref[0]) < 1e-8
    np.testing.assert_allclose(lev, ref, atol=1e-3)   # higher u-levels converge more slowly
    assert lev[0] > 0.9 * abs(ku)          # gap: no zero eigenvalue
    naive = _ladder(ku, kw, 6)
    assert naive.min() < 0 and lev.min() > 0
    np.testing.assert_allclose(bos.levels(1, n_levels=6), ref, atol=1e-12)


def test_threshold_mode_levels_drift_down_without_converging():
    """σ = 4T: the u-boson is free (κ_u = 0); the lowest truncated level keeps falling
    towards 0 with n_max (≈ 1/n_max), unlike a stable mode whose ground level has converged."""
    bos = _ham([4.0, 2.0]).bosons()
    e0 = [bos.fock_spectrum(1, n_max=n, n_levels=1)[0] for n in (10, 20, 40)]
    assert e0[0] > e0[1] > e0[2] > 0
    assert e0[2] < 0.6 * e0[1] and e0[1] < 0.6 * e0[0]
    stable = [bos.fock_spectrum(2, n_max=n, n_levels=1)[0] for n in (20, 40)]
    assert abs(stable[0] - stable[1]) < 1e-8 and abs(stable[1]) < 1e-8


def test_sparse_solver_path_matches_dense():
    bos = _ham([2.0, 1.0]).bosons()
    n_max = 22                                    # 276 states: the eigsh path
    sparse = bos.fock_spectrum(1, n_max=n_max, n_levels=4)
    dense = np.linalg.eigvalsh(bos.fock_hamiltonian(1, n_max=n_max).toarray())[:4]
    np.testing.assert_allclose(sparse, dense, atol=1e-8)
    np.testing.assert_allclose(sparse, _ladder(2.0, 6.0, 4), atol=1e-6)


def test_bad_input():
    with pytest.raises(TypeError, match="ham"):
        Bosons(np.eye(2))
    bos = _ham([1.0, 0.5]).bosons()
    with pytest.raises(ValueError, match="n_max"):
        bos.fock_hamiltonian(1, n_max=0)
    with pytest.raises(ValueError, match="n_max"):
        bos.fock_spectrum(1, n_max=-3)
    with pytest.raises(TypeError, match="n_max"):
        bos.fock_spectrum(1, n_max=2.5)
    with pytest.raises(ValueError, match=r"mode: expected a 1-based mode label in \[1, 2\]"):
        bos.fock_hamiltonian(3, n_max=5)
    with pytest.raises(ValueError, match="mode: expected a 1-based"):
        bos.levels(0)
    with pytest.raises(TypeError):
        bos.fock_spectrum(1, 5)                    # keyword-only
    with pytest.raises(ValueError, match="n_levels"):
        bos.fock_spectrum(1, n_max=1, n_levels=4)
    with pytest.raises(ValueError, match="n_levels"):
        bos.levels(1, n_levels=0)


def test_numerically_zero_singular_values_are_uncoupled_bosons():
    """Rank-one 4×4 W: the three rounding-noise σ_k (~1e-16) become exactly 0, so those modes are
    two uncoupled bosons of frequency 1/s² (levels n/s²), as the Fock matrix confirms."""
    bos = _ham([2.0], n=4, m=4).bosons()
    np.testing.assert_array_equal(bos.sigma[1:], 0.0)
    np.testing.assert_array_equal(bos.g[1:], 0.0)
    np.testing.assert_allclose(bos.fock_spectrum(2, n_max=6, n_levels=3), [0.0, 4.0, 4.0], atol=1e-12)
