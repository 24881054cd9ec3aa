"""Hamiltonian and reciprocal space against direct formulas, brute force and Monte Carlo."""

import numpy as np
import pytest
import xarray as xr
from conftest import all_states, random_configs, tiny_model
from hypothesis import given, settings
from hypothesis import strategies as st

import pyrbm
from pyrbm import Hamiltonian
from pyrbm._checks import check_modes

SHAPES = [(7, 4), (4, 7), (6, 6)]
UNITS = ["binary", "spin"]


def random_ham(n, m, units, seed=0, scale=1.0, beta=1.0):
    return tiny_model(n, m, sigma_w=scale, bias=1.0, seed=seed, units=units, beta=beta)


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
    if units == "binary":  # docs/physics.md §4: g_x = (4/3) sum_i U_ik^4
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
    assert np.array_equal(ham.stable_modes(beta=1.0 / T), expected)
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
    path = pyrbm.save(ham, tmp_path / "ham.nc")
    back = pyrbm.load(path)
    assert np.array_equal(back.W, ham.W) and np.array_equal(back.a, ham.a) and np.array_equal(back.b, ham.b)
    assert back.beta == ham.beta and back.units == "spin"
    with xr.open_dataset(path) as ds:
        assert ds.attrs["schema"] == "pyrbm.hamiltonian/1" and "pyrbm_version" in ds.attrs
    with pytest.raises(FileExistsError, match="overwrite=True"):
        pyrbm.save(ham, path)
    pyrbm.save(ham, path, overwrite=True)


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
    with pytest.raises(ValueError, match="beta: expected a finite number > 0"):
        ham.stable_modes(beta=0.0)
    with pytest.raises(TypeError):
        ham.stable_modes(1.0)                      # keyword-only


# ----------------------------------------------------------------------------- mode selection
@settings(max_examples=60, deadline=None)
@given(k=st.integers(1, 12), data=st.data())
def test_check_modes_count_and_labels(k, data):
    n = data.draw(st.integers(1, k))
    np.testing.assert_array_equal(check_modes(n, k), np.arange(n))
    labels = data.draw(st.lists(st.integers(1, k), min_size=1, max_size=k, unique=True))
    out = check_modes(labels, k)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, np.array(labels) - 1)        # order kept, 1-based → 0-based
    np.testing.assert_array_equal(check_modes(np.array(labels), k), out)
    bad = data.draw(st.integers(-3, k + 3).filter(lambda x: not 1 <= x <= k))
    with pytest.raises(ValueError, match="modes"):
        check_modes([bad], k)
    with pytest.raises(ValueError, match="modes"):
        check_modes(k + 1, k)


@pytest.mark.parametrize("modes,err,match", [
    (True, TypeError, "sel: .*bool"), (0, ValueError, r"sel: a count .* \[1, 5\]"),
    ([], ValueError, "sel: .*empty"), ([1, 1], ValueError, r"sel: .*distinct.*\[1\]"),
    ([0, 2], ValueError, r"sel: mode labels are 1-based.*\[0\]"), ([6], ValueError, r"sel: .*\[6\]"),
    ([1.0, 2.0], TypeError, "sel: mode labels must be integers"), ([1, True], TypeError, "sel: .*bool"),
    (2.0, TypeError, "sel"), ("12", TypeError, "sel"), ([[1, 2]], ValueError, "sel: expected a flat"),
])
def test_check_modes_refuses_bad_selections(modes, err, match):
    with pytest.raises(err, match=match):
        check_modes(modes, 5, name="sel")


# ----------------------------------------------------------------------------- zero singular values
def _rank_one(units="binary"):
    rng = np.random.default_rng(0)
    return Hamiltonian.from_modes([1.0], 6, 4, seed=0, a=0.3 * rng.standard_normal(6),
                                  b=0.3 * rng.standard_normal(4), units=units)


@pytest.mark.parametrize("units", UNITS)
def test_numerically_zero_singular_values_are_free_modes(units):
    """Rank-one W: σ_2..σ_4 are rounding noise (~1e-16). They have no saddle (NaN, not ε ~ 1e15),
    their (u, w) are measured from the uniform-measure mean, and the energy in (u, w) still
    equals the energy in (v, h) computed from the definition."""
    ham = _rank_one(units)
    md = ham.modes
    assert md.rank == 1 and md.coupled.tolist() == [True, False, False, False]
    assert np.all(md.s[1:] < 1e-14) and md.sigma_tol == pytest.approx(6 * np.finfo(float).eps * md.s[0])
    np.testing.assert_array_equal(md.sigma[1:], 0.0)
    assert md.rank == np.linalg.matrix_rank(ham.W)
    xs, ys, eps = md.saddle()
    assert np.all(np.isfinite([xs[0], ys[0], eps[0]])) and np.all(np.isnan(eps[1:]))
    x0, y0 = md.uw_origin()
    np.testing.assert_allclose([x0[0], y0[0]], [xs[0], ys[0]])
    np.testing.assert_allclose(x0[1:], md.mu_x[1:4]) and np.testing.assert_allclose(y0[1:], md.mu_y[1:4])
    rng = np.random.default_rng(3)
    v, h = random_configs(rng, (40, 6), units), random_configs(rng, (40, 4), units)
    ref = -(v @ ham.a) - (h @ ham.b) - np.einsum("ci,ij,cj->c", v, ham.W, h)
    x, y = md.x(v), md.y(h)
    u, w = md.uw(x, y)
    assert np.all(np.abs(u) < 10) and np.all(np.abs(w) < 10)       # bounded: no 1/σ blow-up
    np.testing.assert_allclose(md.energy_uw(u, w, x[:, 4:]), ref, atol=1e-12)
    xb, yb = md.xy_from_uw(u, w)
    np.testing.assert_allclose(xb, x[:, :4], atol=1e-12) and np.testing.assert_allclose(yb, y[:, :4], atol=1e-12)
    assert ham.stable_modes().all()


def test_rank_threshold_is_relative():
    """The same rank-one structure scaled by 1e-20 still has rank one (a relative threshold)."""
    ham = _rank_one()
    tiny = ham.replace(W=ham.W * 1e-20)
    assert tiny.modes.rank == 1 and tiny.modes.coupled[0]
    zero = ham.replace(W=np.zeros((6, 4)))
    assert zero.modes.rank == 0 and np.all(np.isnan(zero.modes.saddle()[2]))


def test_uw_with_selected_modes_matches_full():
    ham = random_ham(7, 5, "binary", seed=2, scale=0.5)
    md = ham.modes
    rng = np.random.default_rng(1)
    x, y = md.x(random_configs(rng, (9, 7))), md.y(random_configs(rng, (9, 5)))
    u, w = md.uw(x, y)
    labels = [4, 1, 3]
    idx = np.array(labels) - 1
    us, ws = md.uw(x[:, idx], y[:, idx], modes=labels)
    np.testing.assert_array_equal(us, u[:, idx]) and np.testing.assert_array_equal(ws, w[:, idx])
    u2, _ = md.uw(x[:, :2], y[:, :2], modes=2)
    np.testing.assert_array_equal(u2, u[:, :2])
    # against the definition about the saddle
    xs, ys, _ = md.saddle()
    np.testing.assert_allclose(u, ((x[:, :5] - xs) + (y - ys)) / np.sqrt(2), rtol=1e-13)
    with pytest.raises(ValueError, match="x, y"):
        md.uw(x, y, modes=[1, 2])
    with pytest.raises(ValueError, match="modes"):
        md.uw(x[:, :1], y[:, :1], modes=[6])


# ----------------------------------------------------------------------------- field-aware stability
def _uniform_rank_one(sigma, n, bias):
    one = np.ones(n) / np.sqrt(n)
    return Hamiltonian(sigma * np.outer(one, one), np.full(n, bias), np.full(n, bias))


def _exact_var_u(sigma, n, bias):
    """Var u of the rank-one model W = σ 1 1ᵀ/n, all biases equal, by exact enumeration over the
    (n+1)² magnetisation sectors (binomial multiplicities): x = k/√n, y = l/√n, u = (x+y)/√2."""
    from scipy.special import gammaln, logsumexp

    k = np.arange(n + 1.0)
    mult = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    logw = mult[:, None] + mult[None, :] + bias * (k[:, None] + k[None, :]) + sigma / n * np.outer(k, k)
    p = np.exp(logw - logsumexp(logw))
    u = (k[:, None] + k[None, :]) / np.sqrt(2 * n)
    mean = np.sum(p * u)
    return float(np.sum(p * (u - mean) ** 2))


def test_mean_field_criterion_predicts_where_var_u_jumps_and_4T_does_not():
    """Rank-one binary model with fields (activations 0.1 at zero coupling), n = 60 + 60 units."""
    from scipy.special import logit

    n, bias = 60, float(logit(0.1))
    grid = np.arange(3.5, 6.0, 0.02)
    jump = grid[int(np.argmax([_exact_var_u(s, n, bias) for s in grid]))]   # peak of Var u: the jump
    assert jump > 4.3                                   # far from the 4T rule ...
    assert not _uniform_rank_one(4.05, n, bias).stable_modes()[0]   # ... which calls the mode unstable at 4.05
    lo, hi = 3.5, 6.0                                   # first sigma where the mean-field criterion fails
    assert _uniform_rank_one(lo, n, bias).stable_modes(criterion="mean_field")[0]
    assert not _uniform_rank_one(hi, n, bias).stable_modes(criterion="mean_field")[0]
    for _ in range(6):
        mid = 0.5 * (lo + hi)
        if _uniform_rank_one(mid, n, bias).stable_modes(criterion="mean_field")[0]:
            lo = mid
        else:
            hi = mid
    assert abs(hi - jump) < 0.25, (hi, jump)


def test_mean_field_criterion_is_4T_without_field():
    n = 30
    for sigma in (3.0, 3.9, 4.1, 6.0):
        ham = _uniform_rank_one(sigma, n, -sigma / 2)          # a = -W 1/2: m = 1/2 is the fixed point
        st = ham.mean_field_stability()
        if sigma < 4:  # past 4 the branch followed from t = 0 is the ordered one, not m = 1/2
            np.testing.assert_allclose(st["m_v"], 0.5, atol=1e-8)
            assert st["lambda"][0] == pytest.approx(sigma / 4, rel=1e-6)
        assert ham.stable_modes(criterion="mean_field")[0] == (sigma < 4) == ham.stable_modes()[0]
    with pytest.raises(ValueError, match="criterion: expected 'uniform' or 'mean_field'"):
        ham.stable_modes(criterion="tap")
