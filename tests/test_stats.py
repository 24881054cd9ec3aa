"""Statistics against closed forms: AR(1) autocorrelation times and standard errors,
hand-computed split-R-hat, Gaussian Landau profiles."""

import warnings

import numpy as np
import pytest
import scipy.signal
import xarray as xr

from pyrbm import stats
from pyrbm.landau import landau_profile


def ar1(phi, n_chains, n_steps, seed):
    """Stationary AR(1) x_t = phi x_{t-1} + xi_t, xi ~ N(0, 1); Var x = 1/(1 - phi^2)."""
    rng = np.random.default_rng(seed)
    xi = rng.standard_normal((n_chains, n_steps))
    x0 = rng.standard_normal(n_chains) / np.sqrt(1.0 - phi**2)
    x, _ = scipy.signal.lfilter([1.0], [1.0, -phi], xi, axis=-1, zi=(phi * x0)[:, None])
    return x


def se_mean_ar1(phi, n_chains, n_steps):
    """Exact standard error of the grand mean of independent stationary AR(1) chains."""
    var_x = 1.0 / (1.0 - phi**2)
    n = n_steps
    factor = (1 + phi) / (1 - phi) - 2 * phi * (1 - phi**n) / (n * (1 - phi) ** 2)
    return np.sqrt(var_x * factor / n / n_chains)


# ---------------------------------------------------------------------- autocorrelation
def test_autocorrelation_matches_direct_sum():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 57)).cumsum(axis=1)
    rho = stats.autocorrelation(x, step_axis=1)
    for c in range(3):
        xc = x[c] - x[c].mean()
        direct = np.correlate(xc, xc, mode="full")[56:] / np.dot(xc, xc)
        np.testing.assert_allclose(rho[c], direct, rtol=1e-10, atol=1e-12)
    # axis handling: the same along axis 0
    np.testing.assert_allclose(stats.autocorrelation(x.T, step_axis=0), rho.T, atol=1e-12)


def test_autocorrelation_ar1_decays_like_phi_to_the_t():
    phi = 0.7
    x = ar1(phi, 8, 50_000, seed=2)
    rho = stats.autocorrelation(x, step_axis=1).mean(axis=0)
    np.testing.assert_allclose(rho[:6], phi ** np.arange(6), atol=0.01)


# ---------------------------------------------------------------------- tau_int, ESS
@pytest.mark.parametrize("phi", [0.0, 0.5, 0.8])
def test_tau_int_ar1(phi):
    x = ar1(phi, 20, 20_000, seed=int(10 * phi) + 3)
    tau, window, err = stats.tau_int(x, step_axis=1, chain_axis=0, full_output=True)
    exact = (1 + phi) / (1 - phi)
    assert abs(tau - exact) < 4 * err, (tau, exact, err)
    assert abs(tau - exact) < 0.08 * exact
    assert window >= 5 * tau  # Sokal's condition holds at the chosen window


def test_tau_int_dataarray_per_mode_and_ess():
    n_chains, n_steps = 16, 10_000
    phis = [0.0, 0.8]
    data = np.stack([ar1(p, n_chains, n_steps, seed=20 + i) for i, p in enumerate(phis)], axis=-1)
    da = xr.DataArray(data.transpose(1, 0, 2), dims=("step", "chain", "mode"), coords={"mode": [0, 1]})
    tau = stats.tau_int(da)
    assert tau.dims == ("mode",)
    exact = np.array([(1 + p) / (1 - p) for p in phis])
    np.testing.assert_allclose(tau.values, exact, rtol=0.1)
    e = stats.ess(da)
    np.testing.assert_allclose(e.values, n_chains * n_steps / tau.values, rtol=1e-12)
    # ESS is consistent with the exact variance of the mean: Var(x)/ESS = SE^2
    var_x = 1 / (1 - np.array(phis) ** 2)
    se_exact = [se_mean_ar1(p, n_chains, n_steps) for p in phis]
    np.testing.assert_allclose(np.sqrt(var_x / e.values), se_exact, rtol=0.06)


def test_ess_of_iid_samples_is_the_sample_size():
    x = np.random.default_rng(5).standard_normal((10, 5000))
    assert stats.ess(x, step_axis=1, chain_axis=0) == pytest.approx(50_000, rel=0.06)


def test_tau_int_short_chain_warns():
    x = ar1(0.99, 1, 200, seed=6)
    with pytest.warns(RuntimeWarning, match="tau_int"):
        stats.tau_int(x, step_axis=1, chain_axis=0)


# ---------------------------------------------------------------------- split R-hat
def test_split_rhat_hand_computed():
    # halves [0,2],[0,2],[10,12],[10,12]: W = 2, B/n = Var(1,1,11,11) = 100/3,
    # var+ = (1/2) 2 + 100/3  ->  R = sqrt((1 + 100/3) / 2)
    x = np.array([[0.0, 2.0, 0.0, 2.0], [10.0, 12.0, 10.0, 12.0]])
    ref = np.sqrt((1 + 100 / 3) / 2)
    assert stats.split_rhat(x, step_axis=1, chain_axis=0, rank_normalize=False) == pytest.approx(ref, rel=1e-12)
    # an odd number of draws drops the middle one
    x_odd = np.array([[0.0, 2.0, 99.0, 0.0, 2.0], [10.0, 12.0, -99.0, 10.0, 12.0]])
    assert stats.split_rhat(x_odd, step_axis=1, chain_axis=0, rank_normalize=False) == pytest.approx(ref, rel=1e-12)


def test_split_rhat_iid_close_to_one_and_shifted_chains_large():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 2000))
    assert abs(stats.split_rhat(x, step_axis=1, chain_axis=0) - 1) < 0.01
    assert abs(stats.split_rhat(x, step_axis=1, chain_axis=0, rank_normalize=False) - 1) < 0.01
    shifted = x + np.arange(4)[:, None]
    assert stats.split_rhat(shifted, step_axis=1, chain_axis=0) > 1.5
    assert stats.split_rhat(shifted, step_axis=1, chain_axis=0, rank_normalize=False) > 1.5
    # a trend inside each chain is caught by the split
    trend = x + np.linspace(0, 3, 2000)
    assert stats.split_rhat(trend, step_axis=1, chain_axis=0) > 1.2


def test_split_rhat_rank_normalised_is_invariant_and_sees_scale():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 1000)) + 0.3 * np.arange(4)[:, None]
    # rank normalisation: invariant under monotone maps (the classic one is not)
    assert stats.split_rhat(np.exp(3 * x), step_axis=1, chain_axis=0) == pytest.approx(
        stats.split_rhat(x, step_axis=1, chain_axis=0), rel=1e-12)
    assert stats.split_rhat(np.exp(3 * x), step_axis=1, chain_axis=0, rank_normalize=False) != pytest.approx(
        stats.split_rhat(x, step_axis=1, chain_axis=0, rank_normalize=False), rel=1e-3
    )
    # folding: same means, different scales
    scale = rng.standard_normal((4, 1000)) * np.array([1.0, 1.0, 1.0, 4.0])[:, None]
    assert stats.split_rhat(scale, step_axis=1, chain_axis=0, rank_normalize=False) < 1.05
    assert stats.split_rhat(scale, step_axis=1, chain_axis=0) > 1.05


# ---------------------------------------------------------------------- blocking
@pytest.mark.parametrize("phi", [0.0, 0.8])
def test_blocking_error_ar1_matches_analytic_standard_error(phi):
    n_chains, n_steps = 32, 2**14
    x = ar1(phi, n_chains, n_steps, seed=30 + int(10 * phi))
    exact = se_mean_ar1(phi, n_chains, n_steps)
    assert stats.blocking_error(x, step_axis=1, chain_axis=0) == pytest.approx(exact, rel=0.06)


def test_blocking_error_single_chain_and_dataarray():
    phi, n = 0.5, 2**16
    x = ar1(phi, 1, n, seed=40)
    exact = se_mean_ar1(phi, 1, n)
    assert stats.blocking_error(x[0]) == pytest.approx(exact, rel=0.12)
    da = xr.DataArray(x.T, dims=("step", "chain"), attrs={"units": "energy"})
    out = stats.blocking_error(da)
    assert isinstance(out, xr.DataArray) and out.dims == ()
    assert float(out) == pytest.approx(stats.blocking_error(x, step_axis=1, chain_axis=0), rel=1e-12)


# ---------------------------------------------------------------------- Landau profile
def test_landau_profile_of_gaussian_is_parabola():
    sigma, n = 1.5, 200_000
    m = np.random.default_rng(9).normal(0.0, sigma, n)
    centres, f = landau_profile(m, bins=60, range=(-3 * sigma, 3 * sigma))
    ref = centres**2 / (2 * sigma**2) + 0.5 * np.log(2 * np.pi * sigma**2)
    # statistical error of -ln P in a bin is 1/sqrt(count)
    width = centres[1] - centres[0]
    counts = n * np.exp(-ref) * width
    z = (f - ref) * np.sqrt(counts)
    assert np.max(np.abs(z)) < 5
    coef = np.polyfit(centres, f, 2, w=np.sqrt(counts))
    assert coef[0] == pytest.approx(1 / (2 * sigma**2), rel=0.03)
    assert abs(coef[1]) < 0.02


def test_landau_profile_empty_bins_are_nan_and_dataarray_input():
    da = xr.DataArray(np.array([[0.0, 0.1], [0.2, 5.0]]), dims=("step", "chain"))
    centres, f = landau_profile(da, bins=5)
    assert centres.shape == f.shape == (5,)
    assert np.isnan(f[1:4]).all() and np.isfinite(f[[0, 4]]).all()


# ---------------------------------------------------------------------- bad input
def test_bad_input_is_refused_with_named_argument():
    with pytest.raises(ValueError, match="x: contains NaN"):
        stats.tau_int(np.array([1.0, np.nan, 2.0, 3.0, 4.0]))
    with pytest.raises(ValueError, match="at least 4 steps"):
        stats.split_rhat(np.ones((2, 3)), step_axis=1, chain_axis=0)
    with pytest.raises(ValueError, match="c: expected a positive"):
        stats.tau_int(np.zeros(100), c=-1)
    with pytest.raises(TypeError, match="Dataset"):
        stats.ess(xr.Dataset({"e": ("step", np.zeros(10))}))
    with pytest.raises(ValueError, match="'step' dimension"):
        stats.tau_int(xr.DataArray(np.zeros((3, 10)), dims=("chain", "time")))
    with pytest.raises(ValueError, match="alpha"):
        stats.blocking_error(np.zeros(64), alpha=2)
    with pytest.raises(ValueError, match="bins"):
        landau_profile(np.zeros(10), bins=0)


# ---------------------------------------------------------------------- ds.rbm accessor
def ar1_dataset():
    phis = np.array([0.0, 0.8])
    n_chains, n_steps = 16, 2**14
    u = np.stack([ar1(p, n_chains, n_steps, seed=50 + i) for i, p in enumerate(phis)], axis=-1)
    energy = ar1(0.5, n_chains, n_steps, seed=60)
    return phis, xr.Dataset(
        {"energy": (("step", "chain"), energy.T),
         "u": (("step", "chain", "mode"), u.transpose(1, 0, 2), {"long_name": "downhill coordinate"})},
        coords={"mode": [1, 4], "singular_value": ("mode", [2.0, 1.0])},
    )


def test_accessor_one_liners_match_closed_forms():
    phis, ds = ar1_dataset()
    n_chains, n_steps = ds.sizes["chain"], ds.sizes["step"]
    assert float(ds.rbm.tau_int("energy")) == pytest.approx(3.0, rel=0.1)
    tau_u = ds.rbm.tau_int("u")
    assert tau_u.dims == ("mode",) and list(tau_u["mode"].values) == [1, 4]
    np.testing.assert_allclose(tau_u.values, (1 + phis) / (1 - phis), rtol=0.1)
    np.testing.assert_allclose(ds.rbm.ess("u").values, n_chains * n_steps / tau_u.values, rtol=1e-12)
    assert abs(float(ds.rbm.rhat("energy")) - 1) < 0.02
    shifted = ds.assign(energy=ds["energy"] + xr.DataArray(np.arange(n_chains), dims="chain"))
    assert float(shifted.rbm.rhat("energy")) > 1.5
    se = [se_mean_ar1(p, n_chains, n_steps) for p in phis]
    np.testing.assert_allclose(ds.rbm.blocking_error("u").values, se, rtol=0.1)
    # Landau profile of mode label 1 (iid unit Gaussian): parabola m^2/2 + ln(2 pi)/2
    prof = ds.rbm.landau("u", mode=1, bins=20, range=(-2, 2))
    assert prof.dims == ("u",) and int(prof["mode"]) == 1
    ref = prof["u"].values ** 2 / 2 + 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(prof.values, ref, atol=0.15)
    with pytest.raises(ValueError, match="mode: 2 not among the recorded modes"):
        ds.rbm.landau("u", mode=2)
    with pytest.raises(ValueError, match="no data variable 'energie'"):
        ds.rbm.tau_int("energie")


def test_accessor_is_registered_by_importing_pyrbm():
    import subprocess
    import sys

    code = "import pyrbm, xarray as xr; xr.Dataset().rbm; print('ok')"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.stdout.strip() == "ok", res.stderr[-2000:]


# ---------------------------------------------------------------------- axes are never guessed
def test_numpy_input_needs_named_axes_files_are_step_chain():
    """Trajectory files store (step, chain). Reading ``ds.energy.values`` as (chain, step), as the
    old default did, treats 64 chains of 4096 steps as 4096 chains of 64 steps and gives a
    τ_int near 1 for a series with τ_int = 3. Plain numpy of two or more dims is now refused."""
    phi, n_chains, n_steps = 0.5, 64, 4096
    ds = xr.Dataset({"energy": (("step", "chain"), ar1(phi, n_chains, n_steps, seed=70).T)})
    tau = float(stats.tau_int(ds.energy))
    assert tau == pytest.approx(3.0, rel=0.05)
    arr = ds.energy.values
    for f in (stats.tau_int, stats.ess, stats.split_rhat, stats.blocking_error, stats.autocorrelation):
        with pytest.raises(ValueError, match=r"x: a numpy array of shape \(4096, 64\) has no named axes.*step_axis="):
            f(arr)
    assert stats.tau_int(arr, step_axis=0, chain_axis=1) == pytest.approx(tau, rel=1e-12)
    assert stats.ess(arr, step_axis=0, chain_axis=1) == pytest.approx(float(stats.ess(ds.energy)), rel=1e-12)
    assert stats.blocking_error(arr, step_axis=0, chain_axis=1) == pytest.approx(
        float(stats.blocking_error(ds.energy)), rel=1e-12)
    assert stats.split_rhat(arr, step_axis=0, chain_axis=1) == pytest.approx(float(stats.split_rhat(ds.energy)),
                                                                           rel=1e-12)
    # the old silent reading, now only by asking for it: wrong by a factor ~3, with no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wrong = stats.tau_int(arr, step_axis=1, chain_axis=0)
    assert wrong < 1.2
    # without chain_axis the other axis holds independent series: one τ per chain
    per_chain = stats.tau_int(arr, step_axis=0)
    assert per_chain.shape == (n_chains,) and np.median(per_chain) == pytest.approx(3.0, rel=0.15)
    # a DataArray with other dim names, named explicitly
    other = ds.energy.rename(step="draw", chain="walker")
    with pytest.raises(ValueError, match="'step' dimension"):
        stats.tau_int(other)
    assert float(stats.tau_int(other, step_axis="draw", chain_axis="walker")) == pytest.approx(tau, rel=1e-12)
    with pytest.raises(ValueError, match="chain_axis"):
        stats.tau_int(arr, step_axis=0, chain_axis=0)
    with pytest.raises(TypeError, match="step_axis"):
        stats.tau_int(arr, step_axis="step")


def test_average_ranks_equal_scipy_rankdata_with_ties_and_nan():
    """The rank normalisation of R-hat and ESS: pyrbm's ranks against scipy.stats.rankdata."""
    import scipy.stats

    from pyrbm.stats import _average_ranks

    rng = np.random.default_rng(0)
    for shape in [(1,), (7,), (3, 50), (2, 4, 33)]:
        for decimals in (None, 1, 0):
            x = rng.normal(size=shape)
            x = x if decimals is None else np.round(x, decimals)
            np.testing.assert_array_equal(_average_ranks(x), scipy.stats.rankdata(x, method="average", axis=-1))
    x = rng.normal(size=(3, 10))
    x[1, 3] = np.nan
    np.testing.assert_array_equal(_average_ranks(x), scipy.stats.rankdata(x, axis=-1))
