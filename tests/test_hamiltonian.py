"""Hamiltonian and reciprocal space against direct formulas, brute force and Monte Carlo."""

import itertools

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrbm import Hamiltonian

SHAPES = [(7, 4), (4, 7), (6, 6)]
UNITS = ["binary", "spin"]


def random_ham(n, m, units, seed=0, scale=1.0, beta=1.0):
    rng = np.random.default_rng(seed)
    return Hamiltonian(scale * rng.normal(size=(n, m)), rng.normal(size=n), rng.normal(size=m),
                       beta=beta, units=units)


def random_configs(rng, shape, units):
    c = rng.integers(0, 2, size=shape).astype(float)
    return 2 * c - 1 if units == "spin" else c


def all_states(n, units):
    s = np.array(list(itertools.product([0.0, 1.0], repeat=n)))
    return 2 * s - 1 if units == "spin" else s


@pytest.mark.parametrize("n,m", SHAPES)
@pytest.mark.parametrize("units", UNITS)
def test_energy_agrees_in_three_coordinate_systems(n, m, units):
    ham = random_ham(n, m, units, seed=n * 10 + m)
    rng = np.random.default_rng(1)
    v, h = random_configs(rng, (50, n), units), random_configs(rng, (50, m), units)
    # independent reference: explicit double sum
    ref = np.array([-(a @ ham.a) - (c @ ham.b) - sum(a[i] * ham.W[i, j] * c[j] for i in range(n) for j in range(m))
                    for a, c in zip(v, h)])
    modes = ham.modes
    x, y = modes.x(v), modes.y(h)
    u, w = modes.uw(x, y)
    K = min(n, m)
    e_vh = ham.energy(v, h)
    e_xy = modes.energy_xy(x, y)
    e_uw = modes.energy_uw(u, w, x[:, K:], y[:, K:])
    scale = np.maximum(np.abs(ref), 1.0)
    for e in (e_vh, e_xy, e_uw):
        assert np.all(np.abs(e - ref) / scale < 1e-10)


@pytest.mark.parametrize("n,m", SHAPES)
def test_svd_basis_is_orthogonal_sign_fixed_and_reconstructs_w(n, m):
    ham = random_ham(n, m, "binary")
    md = ham.modes
    K = min(n, m)
    assert np.allclose(md.U.T @ md.U, np.eye(n), atol=1e-12)
    assert np.allclose(md.V.T @ md.V, np.eye(m), atol=1e-12)
    assert np.allclose((md.U[:, :K] * md.s) @ md.V[:, :K].T, ham.W, atol=1e-12)
    assert np.all(np.diff(md.s) <= 0)
    idx = np.argmax(np.abs(md.U), axis=0)
    assert np.all(md.U[idx, np.arange(n)] > 0)
    # the same W with its columns' SVD signs scrambled gives the same basis (determinism)
    again = Hamiltonian(ham.W.copy(), ham.a, ham.b).modes
    assert np.array_equal(again.U, md.U) and np.array_equal(again.V, md.V)
    # singular values against scipy's independent routine
    from scipy.linalg import svdvals

    assert np.allclose(svdvals(ham.W), md.s, rtol=1e-12)


@pytest.mark.parametrize("units", UNITS)
def test_saddle_is_stationary_with_curvature_pm_sigma(units):
    ham = random_ham(5, 4, units, seed=3)
    md = ham.modes
    xs, ys, eps = md.saddle()
    for k in range(md.n_modes):
        def ek(x, y):
            return -md.a_tilde[k] * x - md.b_tilde[k] * y - md.s[k] * x * y
        d = 1e-5
        gx = (ek(xs[k] + d, ys[k]) - ek(xs[k] - d, ys[k])) / (2 * d)
        gy = (ek(xs[k], ys[k] + d) - ek(xs[k], ys[k] - d)) / (2 * d)
        assert abs(gx) < 1e-8 and abs(gy) < 1e-8
        assert np.isclose(ek(xs[k], ys[k]), eps[k], rtol=1e-12)
        d = 1e-3
        hxy = (ek(xs[k] + d, ys[k] + d) - ek(xs[k] + d, ys[k] - d) - ek(xs[k] - d, ys[k] + d)
               + ek(xs[k] - d, ys[k] - d)) / (4 * d * d)
        eig = np.linalg.eigvalsh(np.array([[0.0, hxy], [hxy, 0.0]]))
        assert np.allclose(eig, md.curvature()[k], rtol=1e-6)


@pytest.mark.parametrize("n,m", SHAPES)
@pytest.mark.parametrize("units", UNITS)
@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_free_energy_and_conditionals_match_brute_force(n, m, units, beta):
    ham = random_ham(n, m, units, seed=7, beta=beta)
    rng = np.random.default_rng(2)
    v = random_configs(rng, (6, n), units)
    H = all_states(m, units)
    E = -(v @ ham.a)[:, None] - (H @ ham.b)[None, :] - v @ ham.W @ H.T          # (6, 2^m)
    ref = -np.log(np.exp(-beta * E).sum(axis=1)) / beta
    assert np.allclose(ham.free_energy(v), ref, rtol=1e-12, atol=1e-12)
    # p(h_j = up | v) from the enumerated joint
    w = np.exp(-beta * E)
    w /= w.sum(axis=1, keepdims=True)
    up = H == 1.0
    assert np.allclose(ham.p_h_given_v(v), w @ up, atol=1e-12)
    # p(v_i = up | h) by symmetry of the enumeration over v
    h = random_configs(rng, (6, m), units)
    Vs = all_states(n, units)
    E2 = -(Vs @ ham.a)[None, :] - (h @ ham.b)[:, None] - h @ ham.W.T @ Vs.T
    w2 = np.exp(-beta * E2)
    w2 /= w2.sum(axis=1, keepdims=True)
    assert np.allclose(ham.p_v_given_h(h), w2 @ (Vs == 1.0), atol=1e-12)


@pytest.mark.parametrize("units", UNITS)
def test_overflow_free_for_huge_singular_values_and_fields(units):
    n, m = 6, 5
    ham = Hamiltonian.from_modes([1e3, 500, 10], n, m, seed=1, a=np.full(n, 1e4), b=np.full(m, -1e4), units=units)
    rng = np.random.default_rng(0)
    v = random_configs(rng, (20, n), units)
    f = ham.free_energy(v)
    z = ham.b + v @ ham.W
    # asymptote: softplus(z) -> max(z, 0), ln 2cosh z -> |z| (errors below 1e-300 here)
    ref = -(v @ ham.a) - (np.abs(z) if units == "spin" else np.maximum(z, 0)).sum(axis=1)
    assert np.all(np.isfinite(f)) and np.allclose(f, ref, rtol=1e-12)
    p = ham.p_h_given_v(v)
    assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))


@pytest.mark.parametrize("units", UNITS)
def test_uniform_measure_moments_match_monte_carlo(units):
    n, m = 40, 30
    ham = Hamiltonian.random(n, m, sigma_w=0.1, seed=4, units=units)
    md = ham.modes
    rng = np.random.default_rng(5)
    S = 200_000
    v = random_configs(rng, (S, n), units)
    x = md.x(v)
    mean, var = x.mean(axis=0), x.var(axis=0)
    s2 = 0.25 if units == "binary" else 1.0
    assert np.all(np.abs(mean - md.mu_x) < 5 * np.sqrt(s2 / S))
    assert np.all(np.abs(var - s2) < 6 * s2 * np.sqrt(2.0 / S))
    z = (x - md.mu_x) / np.sqrt(s2)
    kurt = np.mean(z**4, axis=0)
    # sampling std of the 4th moment of a near-Gaussian variable ≈ sqrt(96/S)
    assert np.all(np.abs(kurt - md.kurtosis_x) < 6 * np.sqrt(96.0 / S))
    # odd central moments vanish
    assert np.all(np.abs(np.mean(z**3, axis=0)) < 6 * np.sqrt(15.0 / S))


@pytest.mark.parametrize("units", UNITS)
def test_kurtosis_and_quartic_coefficient_match_exact_enumeration(units):
    """Fourth cumulant of x_k over all 2^N configurations (N = 10) against the closed forms."""
    ham = Hamiltonian.random(10, 10, sigma_w=1.0, seed=11, units=units)
    md = ham.modes
    x = md.x(all_states(10, units))                      # uniform measure: every state once
    z = x - x.mean(axis=0)
    m2, m4 = np.mean(z**2, axis=0), np.mean(z**4, axis=0)
    assert np.allclose(x.mean(axis=0), md.mu_x, atol=1e-12) and np.allclose(m2, md.s2, rtol=1e-12)
    assert np.allclose(m4 / m2**2, md.kurtosis_x, rtol=1e-12)
    # quartic confinement of -ln(density): g_x = -kappa_4 / (24 s^8), likewise for y; g = (g_x + g_y)/4
    g_x = -(m4 - 3 * m2**2) / (24 * md.s2**4)
    y = md.y(all_states(10, units))
    zy = y - y.mean(axis=0)
    g_y = -(np.mean(zy**4, axis=0) - 3 * md.s2**2) / (24 * md.s2**4)
    assert np.allclose(md.quartic_g, (g_x + g_y) / 4, rtol=1e-10)
    if units == "binary":  # PHYSICS §4: g_x = (4/3) sum_i U_ik^4
        assert np.allclose(g_x, 4 / 3 * np.sum(md.U**4, axis=0), rtol=1e-10)


def test_localised_vector_kurtosis_and_gaussian_limit():
    # a coupling matrix whose first left singular vector sits on one unit: kurtosis 3 - 2 = 1
    W = np.zeros((6, 3))
    W[2, 0] = 5.0
    W[:, 1] = [0, 1, 0, 1, 0, 0]
    W[:, 2] = [1, 0, 0, 0, -1, 1]
    md = Hamiltonian(W, np.zeros(6), np.zeros(3)).modes
    assert np.isclose(md.kurtosis_x[0], 1.0)
    # Haar vectors (the paired ones; the free basis of the null space is LAPACK's choice):
    # E[sum_i U_ik^4] = 3/(N+2), so the mean kurtosis is 3 - 6/(N+2)
    md = Hamiltonian.from_modes(np.linspace(1, 2, 100), 300, 100, seed=0).modes
    assert abs(md.kurtosis_x[:100].mean() - (3 - 6 / 302)) < 3e-3


def test_potential_gradient_matches_finite_differences():
    ham = random_ham(5, 3, "binary", seed=9, scale=0.3)
    md = ham.modes
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=5), rng.normal(size=3)
    gx, gy = md.potential_grad(x, y)
    d = 1e-6
    for i in range(5):
        e = np.zeros(5)
        e[i] = d
        assert np.isclose((md.potential(x + e, y) - md.potential(x - e, y)) / (2 * d), gx[i], atol=1e-6)
    for j in range(3):
        e = np.zeros(3)
        e[j] = d
        assert np.isclose((md.potential(x, y + e) - md.potential(x, y - e)) / (2 * d), gy[j], atol=1e-6)
    # stationary density exp(-Phi) is the Gaussian-DOS integrand: Phi = gauss + beta E
    v = rng.integers(0, 2, 5).astype(float)
    h = rng.integers(0, 2, 3).astype(float)
    gauss = (np.sum((md.x(v) - md.mu_x) ** 2) + np.sum((md.y(h) - md.mu_y) ** 2)) / (2 * 0.25)
    assert np.isclose(md.potential(md.x(v), md.y(h)), gauss + ham.energy(v, h))


@pytest.mark.parametrize("units,threshold", [("binary", 4.0), ("spin", 1.0)])
def test_stable_modes_threshold(units, threshold):
    ham = Hamiltonian.from_modes([3.9, 4.1, 0.5, 0.9], 6, 4, seed=0, units=units)
    T = 1.0 if units == "binary" else 4.0  # spin threshold is sigma < T
    expected = np.array(ham.modes.s) < threshold * T
    assert np.array_equal(ham.stable_modes(T), expected)
    assert np.array_equal(ham.stable_modes(), np.array(ham.modes.s) < threshold)


def test_constructors():
    ham = Hamiltonian.from_modes([3.0, 2.0, 1.0], 8, 5, seed=3)
    assert np.allclose(ham.modes.s, [3, 2, 1, 0, 0], atol=1e-12)
    data = (np.random.default_rng(0).random((1000, 8)) < np.linspace(0.05, 0.95, 8)).astype(float)
    data[:, 0] = 0.0
    ham = Hamiltonian.from_data(data, 4, seed=0)
    p = np.clip(data.mean(0), 1e-6, 1 - 1e-6)
    assert np.allclose(ham.a, np.log(p / (1 - p))) and np.all(ham.b == 0)
    assert abs(ham.W.std() - 0.01) < 0.004
    a = Hamiltonian.random(20, 10, seed=5)
    assert np.array_equal(a.W, Hamiltonian.random(20, 10, seed=5).W)
    with pytest.raises(ValueError):
        a.W[0, 0] = 1.0  # read-only


def test_netcdf_round_trip_is_bit_exact(tmp_path):
    ham = random_ham(9, 4, "spin", seed=1, beta=0.7)
    path = ham.save(tmp_path / "ham.nc")
    back = Hamiltonian.load(path)
    assert np.array_equal(back.W, ham.W) and np.array_equal(back.a, ham.a) and np.array_equal(back.b, ham.b)
    assert back.beta == ham.beta and back.units == "spin"
    with xr.open_dataset(path) as ds:
        assert ds.attrs["schema"] == "pyrbm.hamiltonian/1" and "pyrbm_version" in ds.attrs
    with pytest.raises(FileExistsError, match="overwrite=True"):
        ham.save(path)
    ham.save(path, overwrite=True)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 6), m=st.integers(1, 6), batch=st.lists(st.integers(1, 3), max_size=2),
       units=st.sampled_from(UNITS), seed=st.integers(0, 2**16))
def test_shapes_and_broadcasting(n, m, batch, units, seed):
    ham = random_ham(n, m, units, seed=seed)
    rng = np.random.default_rng(seed)
    v = random_configs(rng, (*batch, n), units)
    h = random_configs(rng, (m,), units)
    assert ham.energy(v, h).shape == tuple(batch)
    assert ham.free_energy(v).shape == tuple(batch)
    assert ham.p_h_given_v(v).shape == (*batch, m)
    assert ham.modes.x(v).shape == (*batch, n)
    u, w = ham.modes.uw(ham.modes.x(v), ham.modes.y(h))
    assert u.shape == w.shape == (*batch, min(n, m))
    # a single configuration equals the corresponding batch entry
    if batch:
        idx = (0,) * len(batch)
        assert np.isclose(ham.energy(v[idx], h), ham.energy(v, h)[idx])


@pytest.mark.parametrize("kwargs,match", [
    (dict(W=np.ones((3, 2)), a=np.ones(2), b=np.ones(2)), "a: expected shape"),
    (dict(W=np.ones((3, 2)), a=np.ones(3), b=np.ones(3)), "b: expected shape"),
    (dict(W=np.array([[1, np.nan], [0, 0]]), a=np.ones(2), b=np.ones(2)), "W: expected finite"),
    (dict(W=np.ones(3), a=np.ones(3), b=np.ones(1)), "W: expected a 2-d"),
    (dict(W=np.ones((2, 2)), a=np.ones(2), b=np.ones(2), beta=0.0), "beta"),
    (dict(W=np.ones((2, 2)), a=np.ones(2), b=np.ones(2), beta=-1.0), "beta"),
    (dict(W=np.ones((2, 2)), a=np.ones(2), b=np.ones(2), units="ising"), "units"),
])
def test_bad_parameters_are_refused(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Hamiltonian(**kwargs)


def test_bad_configurations_are_refused():
    ham = random_ham(4, 3, "binary")
    with pytest.raises(ValueError, match="v: binary units take the values 0 and 1"):
        ham.free_energy(np.array([0, 1, 0.5, 1]))
    with pytest.raises(ValueError, match=r"v: expected configurations of shape \(\.\.\., 4\)"):
        ham.free_energy(np.ones((2, 3)))
    with pytest.raises(ValueError, match="h: binary units"):
        ham.energy(np.ones(4), -np.ones(3))
    spin = random_ham(4, 3, "spin")
    with pytest.raises(ValueError, match="spin units take the values -1 and 1"):
        spin.free_energy(np.zeros(4))
    with pytest.raises(ValueError, match=r"v: expected an array of shape \(\.\.\., 4\)"):
        ham.modes.x(np.ones(3))
    with pytest.raises(ValueError, match="T: expected a finite number > 0"):
        ham.stable_modes(T=0.0)
