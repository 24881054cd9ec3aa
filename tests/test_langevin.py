"""Reciprocal-space Langevin dynamics against Ornstein-Uhlenbeck closed forms.

Per paired mode the Euler-Maruyama dynamics on the Gaussian-DOS potential is a 2-D
linear process.  References, computed here from the singular values and biases:

* the stationary point of Phi from its 2x2 linear gradient equation;
* the stationary variance along u and w: 1/kappa for the continuous process and
  2 dt / (1 - (1 - kappa dt)^2) for the discrete AR(1) chain that Euler-Maruyama is,
  kappa_{u,w} = 1/s^2 -/+ beta sigma;
* the growth of <u> past the threshold, rate beta sigma - 1/s^2 (discrete:
  ln(1 + r dt)/dt).
"""

import numba
import numpy as np
import pytest
from scipy import stats

from pyrbm import Hamiltonian
from pyrbm._kernels import langevin as lk
from pyrbm._kernels import rng
from pyrbm.samplers import GibbsSampler, LangevinSampler


def _ham(s, n=4, m=3, seed=0, units="binary", beta=1.0, bias=0.3):
    r = np.random.default_rng(seed)
    return Hamiltonian.from_modes(np.asarray(s, float), n, m, seed=seed, a=bias * r.normal(size=n),
                                  b=bias * r.normal(size=m), beta=beta, units=units)


def _stationary_uw(ham, beta=None):
    """Stationary point of Phi for each paired mode, as (u, w) about the saddle."""
    md = ham.modes
    beta = ham.beta if beta is None else beta
    s2, K = ham.s2, md.n_modes
    u, w = np.empty(K), np.empty(K)
    for k in range(K):
        A = np.array([[1 / s2, -beta * md.s[k]], [-beta * md.s[k], 1 / s2]])
        rhs = np.array([md.mu_x[k] / s2 + beta * md.a_tilde[k], md.mu_y[k] / s2 + beta * md.b_tilde[k]])
        x, y = np.linalg.solve(A, rhs)
        xs, ys = -md.b_tilde[k] / md.s[k], -md.a_tilde[k] / md.s[k]
        u[k] = ((x - xs) + (y - ys)) / np.sqrt(2)
        w[k] = ((y - ys) - (x - xs)) / np.sqrt(2)
    return u, w


def _ar1_var(kappa, dt):
    return 2 * dt / (1 - (1 - kappa * dt) ** 2)


# ----------------------------------------------------------------------------- normals
def test_box_muller_normals_are_standard_normal():
    st = rng.make_streams(1, 8)
    z = np.empty((8, 20_000))
    lk.fill_normals(st, z)
    assert np.all(st[:, 2] == 20_000)
    flat = z.ravel()
    assert stats.kstest(flat, "norm").pvalue > 1e-3
    assert abs(flat.mean()) < 4 / np.sqrt(flat.size)
    assert abs(flat.var() - 1) < 4 * np.sqrt(2 / flat.size)
    assert abs(stats.kurtosis(flat)) < 4 * np.sqrt(24 / flat.size)
    # pairs from one Box-Muller transform are uncorrelated
    assert abs(np.corrcoef(z[:, :10_000].ravel(), z[:, 10_000:].ravel())[0, 1]) < 4 / np.sqrt(80_000)


@numba.njit
def _log_and_angle(u):
    lg = np.empty_like(u)
    c = np.empty_like(u)
    s = np.empty_like(u)
    for i in range(u.size):
        lg[i] = lk.log64(u[i])
        c[i], s[i] = lk.sincos_2pi(u[i])
    return lg, c, s


def test_polynomial_log_and_sincos_match_numpy():
    u = np.concatenate([np.random.default_rng(0).random(200_000), [2.0 ** -53, 0.5, 1 - 2.0 ** -53]])
    lg, c, s = _log_and_angle(u)
    assert np.max(np.abs(lg - np.log(u)) / np.maximum(np.abs(np.log(u)), 1e-300)) < 1e-15
    # the angle map: quadrant q = floor(4u), angle q pi/2 + (4u - q - 1/2) pi/2
    q = np.floor(4 * u)
    theta = q * np.pi / 2 + (4 * u - q - 0.5) * np.pi / 2
    assert np.max(np.abs(c - np.cos(theta))) < 1e-15 and np.max(np.abs(s - np.sin(theta))) < 1e-15


# ----------------------------------------------------------------------------- stationary OU
@pytest.mark.parametrize("units", ["binary", "spin"])
def test_stable_modes_reach_the_ornstein_uhlenbeck_stationary_law(units):
    s = [2.0, 1.0, 0.4] if units == "binary" else [0.6, 0.3, 0.1]
    ham = _ham(s, units=units, seed=3)
    dt, n_chains = 0.01, 2000
    ds, _ = LangevinSampler(n_chains, dt=dt, seed=4).run(ham, n_steps=3000, thin=15, burn_in=600)
    assert not (ds.divergence_step >= 0).any()
    u_st, w_st = _stationary_uw(ham)
    beta, s2 = ham.beta, ham.s2
    for k, sig in enumerate(s):
        for name, target, kappa in (("u", u_st[k], 1 / s2 - beta * sig), ("w", w_st[k], 1 / s2 + beta * sig)):
            series = ds[name].isel(mode=k).values  # (step, chain)
            # chains are independent: per-chain time averages give honest error bars
            m_chain = series.mean(axis=0)
            mean, se_mean = m_chain.mean(), m_chain.std(ddof=1) / np.sqrt(n_chains)
            assert abs(mean - target) < 4.5 * se_mean, (name, k, mean, target)
            v_chain = ((series - target) ** 2).mean(axis=0)
            var, se_var = v_chain.mean(), v_chain.std(ddof=1) / np.sqrt(n_chains)
            assert abs(var - _ar1_var(kappa, dt)) < 4.5 * se_var, (name, k, var, _ar1_var(kappa, dt))
            # and within statistics plus the O(dt) discretisation bias of 1/kappa
            assert abs(var - 1 / kappa) < 4.5 * se_var + 1.01 * abs(_ar1_var(kappa, dt) - 1 / kappa)


def test_discretisation_bias_shrinks_with_dt_as_the_ar1_formula():
    """Stiff w-direction (kappa_w = 7): the variance follows 2dt/(1-(1-kappa dt)^2) -> 1/kappa."""
    ham = _ham([3.0, 0.1, 0.05], seed=5, bias=0.0)
    kappa = 4.0 + 3.0
    n_chains = 2000
    biases = []
    for dt in (0.08, 0.02):
        n = int(round(6.0 / dt))
        ds, _ = LangevinSampler(n_chains, dt=dt, seed=6).run(ham, n_steps=n, thin=max(1, n // 100),
                                                            burn_in=int(round(2 / dt)), modes=1)
        w = ds.w.isel(mode=0).values
        target = _stationary_uw(ham)[1][0]
        v_chain = ((w - target) ** 2).mean(axis=0)
        var, se = v_chain.mean(), v_chain.std(ddof=1) / np.sqrt(n_chains)
        assert abs(var - _ar1_var(kappa, dt)) < 4.5 * se
        biases.append(var - 1 / kappa)
    # exact ratio of the discrete biases for dt = 0.08 vs 0.02 is 4.9; demand clear shrinkage
    assert biases[0] > 0.02 and 2.5 < biases[0] / biases[1] < 10


# ----------------------------------------------------------------------------- unstable modes
@pytest.mark.parametrize("units,sigma,beta", [("binary", 6.0, 1.0), ("binary", 9.0, 0.5), ("spin", 3.0, 1.0)])
def test_growth_rate_past_the_threshold(units, sigma, beta):
    ham = _ham([sigma, 0.5, 0.2], units=units, beta=beta, seed=7)
    md = ham.modes
    rate = beta * sigma - 1 / ham.s2
    assert rate > 0 and not ham.stable_modes()[0]
    dt, n_chains = 0.01, 2000
    u_st, w_st = _stationary_uw(ham)
    # start one unit of u away from the stationary point (w at its stationary value)
    xs, ys, _ = md.saddle()
    u0, w0 = u_st + 1.0, w_st
    x0, y0 = md.x(np.zeros(4)) + 0.0, md.y(np.zeros(3)) + 0.0
    x0[:3] = xs + (u0 - w0) / np.sqrt(2)
    y0[:3] = ys + (u0 + w0) / np.sqrt(2)
    sampler = LangevinSampler(n_chains, dt=dt, seed=8)
    state = sampler.init_state(ham, x0=x0, y0=y0)
    n_steps = int(round(2.5 / (rate * dt)))  # e^(2.5) growth of <u>
    ds, _ = sampler.run(ham, state=state, n_steps=n_steps, thin=5, modes=[1])
    t = ds.time.values
    du = ds.u.isel(mode=0).mean("chain").values - u_st[0]
    sel = t > 0.2 / rate
    fit = np.polyfit(t[sel], np.log(du[sel]), 1)[0]
    assert abs(fit - rate) < 0.1 * rate, (fit, rate)
    assert abs(fit - np.log1p(rate * dt) / dt) < 0.05 * rate
    assert ds.stable.values[0] == 0 and not (ds.divergence_step >= 0).any()


def test_diverging_mode_is_frozen_flagged_and_finite():
    ham = _ham([40.0, 1.0, 0.3], seed=9)
    n_chains = 64
    ds, state = LangevinSampler(n_chains, dt=0.01, seed=10).run(ham, n_steps=300, thin=3)
    for name in ("x", "y", "u", "w"):
        assert np.all(np.isfinite(ds[name].values))
    assert np.all(np.isfinite(state.x)) and np.all(np.isfinite(state.y))
    assert (ds.divergence_step.values[-1, :, 0] >= 0).all() and not (ds.divergence_step.values[:, :, 1:] >= 0).any()
    d = ds.divergence_step.isel(step=-1, mode=0).values
    # |u| grows by (1 + 36 dt) per step from O(1): it passes 1e6 after about 45 steps
    assert np.all((d > 20) & (d < 120))
    # frozen: after divergence the recorded coordinate does not change
    last = ds.x.isel(mode=0).values[-1]
    first_after = ds.x.isel(mode=0).sel(step=ds.step[ds.step > d.max() + 3][0]).values
    assert np.array_equal(last, first_after)
    md = ham.modes
    assert np.all(np.abs(state.x[:, 0] - md.mu_x[0]) <= 1e6) and np.all(np.abs(state.y[:, 0] - md.mu_y[0]) <= 1e6)
    # the flag stays -1 until the step it diverged at
    flags = ds.divergence_step.isel(mode=0).values
    assert np.all((flags == -1) | (flags == d[None, :]))
    assert np.array_equal(state.divergence_step[:, 0], d) and state.diverged[:, 0].all()


def test_quartic_confinement_keeps_unstable_modes_bounded():
    ham = _ham([40.0, 1.0, 0.3], seed=9)
    ds, _ = LangevinSampler(64, dt=0.002, seed=10, quartic=True).run(ham, n_steps=1000, thin=10)
    assert not (ds.divergence_step >= 0).any()
    g = ham.modes.quartic_g[0]
    # double-well minima of -(beta sigma - 4) u^2 / 2 + g u^4 sit at |u| = sqrt((beta sigma - 4) / (4 g))
    md = ham.modes
    du = ((ds.x.isel(mode=0) - md.mu_x[0]) + (ds.y.isel(mode=0) - md.mu_y[0])) / np.sqrt(2)
    assert float(np.abs(du).max()) < 3 * np.sqrt(36 / (4 * g))


# ----------------------------------------------------------------------------- reproducibility
def test_langevin_identical_for_one_and_two_threads_and_continuation():
    ham = _ham([3.0, 1.0, 0.5], seed=11)
    old = numba.get_num_threads()
    res = []
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            res.append(LangevinSampler(33, seed=12).run(ham, n_steps=40, thin=4))
    finally:
        numba.set_num_threads(old)
    (d1, s1), (d2, s2) = res
    assert np.array_equal(d1.x.values, d2.x.values) and np.array_equal(s1.x, s2.x)
    sampler = LangevinSampler(33, seed=12)
    a, sa = sampler.run(ham, n_steps=16, thin=4)
    b, sb = sampler.run(ham, state=sa, n_steps=24, thin=4)
    assert np.array_equal(np.concatenate([a.u.values, b.u.values]), d1.u.values)
    assert np.array_equal(sb.x, s1.x) and np.array_equal(sb.streams, s1.streams) and sb.step == 40
    adv = sampler.advance(ham, state=sampler.init_state(ham), n_steps=40)
    assert np.array_equal(adv.y, s1.y)


def test_langevin_dataset_layout(tmp_path):
    ham = _ham([3.0, 1.0, 0.5], n=5, m=3, seed=13)
    path = tmp_path / "lang.nc"
    ds, state = LangevinSampler(7, dt=0.02, seed=14).run(ham, n_steps=30, thin=10, modes=2, out=path)
    assert path.is_file()
    assert ds.u.dims == ("step", "chain", "mode") and ds.sizes["mode"] == 2
    assert np.allclose(ds.time.values, 0.02 * ds.step.values)
    assert ds.attrs["sampler"] == "langevin" and ds.attrs["dt"] == 0.02
    assert np.allclose(ds.singular_value.values, ham.modes.s[:2])
    # u, w agree with the Hamiltonian's own rotation of the recorded x, y
    K = 3
    x = np.zeros((7, 5))
    y = np.zeros((7, 3))
    x[:, :2], y[:, :2] = ds.x.values[-1], ds.y.values[-1]
    u, w = ham.modes.uw(x, y)
    assert np.allclose(ds.u.values[-1], u[:, :2]) and np.allclose(ds.w.values[-1], w[:, :2])
    assert state.x.shape == (7, 5) and state.y.shape == (7, 3) and state.divergence_step.shape == (7, K)


def test_langevin_bad_input():
    ham = _ham([1.0, 0.5, 0.2])
    with pytest.raises(ValueError, match="dt"):
        LangevinSampler(4, dt=0.0)
    with pytest.raises(ValueError, match="dt"):
        LangevinSampler(4, dt=-0.1)
    with pytest.raises(ValueError, match="dt"):
        LangevinSampler(4, dt=0.6).run(ham, n_steps=2)
    with pytest.raises(ValueError, match="n_chains"):
        LangevinSampler(0)
    with pytest.raises(ValueError, match="beta"):
        LangevinSampler(2, beta=0.0)
    s = LangevinSampler(4, seed=1)
    with pytest.raises(ValueError, match="x0"):
        s.init_state(ham, x0=np.zeros((3, 4)))
    with pytest.raises(ValueError, match="x0"):
        s.init_state(ham, x0=np.full(4, np.nan))
    with pytest.raises(ValueError, match="modes"):
        s.run(ham, n_steps=2, modes=5)
    with pytest.raises(ValueError, match="modes"):
        s.run(ham, n_steps=2, modes=[1, 1])
    with pytest.raises(TypeError, match="state"):
        s.run(ham, state=GibbsSampler(4, seed=1).init_state(ham), n_steps=2)


def test_float32_storage_continues_bit_for_bit():
    ham = _ham([5.0, 1.0, 0.5], seed=15)
    sampler = LangevinSampler(9, seed=16, dtype=np.float32)
    full, s_full = sampler.run(ham, n_steps=30, thin=5)
    a, sa = sampler.run(ham, n_steps=10, thin=5)
    b, sb = sampler.run(ham, state=sa, n_steps=20, thin=5)
    assert sa.x.dtype == np.float32 and np.array_equal(sb.x, s_full.x) and np.array_equal(sb.y, s_full.y)
    assert np.array_equal(np.concatenate([a.x.values, b.x.values]), full.x.values)
    # float32 storage follows the float64 trajectory to float32 rounding over a short run
    ref, s_ref = LangevinSampler(9, seed=16).run(ham, n_steps=30, thin=5)
    assert np.allclose(s_full.x, s_ref.x, rtol=0, atol=1e-4)


@pytest.mark.slow
def test_quartic_stationary_law_matches_quadrature():
    """With g u^4 the unstable mode has a stationary law exp(-Phi - g u^4): check its moments."""
    ham = _ham([6.0, 0.5, 0.2], seed=17, bias=0.2)
    md = ham.modes
    g, sig, beta, s2 = md.quartic_g[0], md.s[0], ham.beta, ham.s2
    at, bt, mx, my = md.a_tilde[0], md.b_tilde[0], md.mu_x[0], md.mu_y[0]
    # quadrature on a grid of displacements from the uniform-measure mean
    d = np.linspace(-8, 8, 1601)
    dx, dy = np.meshgrid(d, d, indexing="ij")
    x, y = mx + dx, my + dy
    u = (dx + dy) / np.sqrt(2)
    w = (dy - dx) / np.sqrt(2)
    phi = (dx ** 2 + dy ** 2) / (2 * s2) - beta * (at * x + bt * y + sig * x * y) + g * u ** 4
    p = np.exp(-(phi - phi.min()))
    p /= p.sum()
    exact = {"dx": (p * dx).sum(), "dy": (p * dy).sum(), "u2": (p * u * u).sum(), "w2": (p * w * w).sum()}
    n_chains, dt = 2000, 0.002
    ds, _ = LangevinSampler(n_chains, dt=dt, seed=18, quartic=True).run(
        ham, n_steps=20_000, thin=50, burn_in=5000, modes=[1])
    sx = ds.x.isel(mode=0).values - mx
    sy = ds.y.isel(mode=0).values - my
    est = {"dx": sx, "dy": sy, "u2": ((sx + sy) / np.sqrt(2)) ** 2, "w2": ((sy - sx) / np.sqrt(2)) ** 2}
    for key, series in est.items():
        per_chain = series.mean(axis=0)
        m, se = per_chain.mean(), per_chain.std(ddof=1) / np.sqrt(n_chains)
        assert abs(m - exact[key]) < 4.5 * se + 0.03 * abs(exact[key]) + 0.01, (key, m, exact[key])


@pytest.mark.slow
def test_long_stationary_run_matches_ou_variance_tightly():
    """Many more samples: the discrete AR(1) variance, not 1/kappa, within 0.5 %."""
    ham = _ham([2.5, 0.5, 0.1], seed=19)
    dt, n_chains = 0.02, 4000
    ds, _ = LangevinSampler(n_chains, dt=dt, seed=20).run(ham, n_steps=20_000, thin=10, burn_in=500, modes=[1])
    w_st = _stationary_uw(ham)[1][0]
    kappa = 4 + 2.5
    v_chain = ((ds.w.isel(mode=0).values - w_st) ** 2).mean(axis=0)
    var, se = v_chain.mean(), v_chain.std(ddof=1) / np.sqrt(n_chains)
    assert abs(var - _ar1_var(kappa, dt)) < 4.5 * se
    assert abs(var - 1 / kappa) > 4.5 * se  # the O(dt) bias is resolved at this sample size
