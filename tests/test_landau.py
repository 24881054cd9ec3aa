"""Landau fits and transition indicators against synthetic data with known answers."""

import numpy as np
import pytest
import xarray as xr

import pyrbm
from pyrbm.landau import binder_cumulant, landau_fit, mode_transitions, susceptibility


def quartic_samples(coef, n, seed, lo=-6.0, hi=6.0):
    """Exact inverse-CDF samples of P(m) ∝ exp(-(h m + a2 m² + a3 m³ + a4 m⁴)) on a fine grid."""
    h, a2, a3, a4 = coef
    grid = np.linspace(lo, hi, 200001)
    logp = -(h * grid + a2 * grid**2 + a3 * grid**3 + a4 * grid**4)
    p = np.exp(logp - logp.max())
    cdf = np.cumsum(p)
    cdf /= cdf[-1]
    return np.interp(np.random.default_rng(seed).random(n), cdf, grid)


@pytest.mark.parametrize("coef, verdict", [
    ((0.3, 1.0, 0.1, 0.25), "single well"),
    ((0.2, -2.0, 0.0, 0.5), "double well"),     # minima near ±√2, barrier ≈ a2²/(4 a4) = 2
    ((0.0, -1.5, 0.05, 0.4), "double well"),
])
def test_fit_recovers_prescribed_quartic(coef, verdict):
    m = quartic_samples(coef, 400_000, seed=1)
    fit = landau_fit(m, bins=60)
    got = fit["value"].sel(coefficient=["h", "a2", "a3", "a4"]).values
    err = fit["value_std"].sel(coefficient=["h", "a2", "a3", "a4"]).values
    assert np.all(np.abs(got - np.array(coef)) < 5 * err + 1e-3), (got, err)
    assert np.all(np.abs(got - np.array(coef)) < 0.06)
    assert str(fit["verdict"].values) == verdict
    assert 0.5 < float(fit["chi2_per_dof"]) < 2.0


def test_gaussian_is_single_well_with_closed_form_coefficients():
    mu, sd = 0.7, 1.3
    m = np.random.default_rng(2).normal(mu, sd, 300_000)
    fit = landau_fit(m, bins=50)
    # -ln N(m; mu, sd) = m²/(2 sd²) - mu m / sd² + const
    v, e = fit["value"], fit["value_std"]
    assert abs(float(v.sel(coefficient="a2")) - 1 / (2 * sd**2)) < 5 * float(e.sel(coefficient="a2"))
    assert abs(float(v.sel(coefficient="h")) + mu / sd**2) < 5 * float(e.sel(coefficient="h"))
    assert abs(float(v.sel(coefficient="a4"))) < 5 * float(e.sel(coefficient="a4"))
    assert str(fit["verdict"].values) == "single well"
    assert fit["profile"].attrs["long_name"] == "-ln P(m)"


def test_landau_fit_refuses_bad_samples():
    m = np.random.default_rng(0).normal(size=1000)
    m[3] = np.nan
    with pytest.raises(ValueError, match="samples.*NaN"):
        landau_fit(m)
    with pytest.raises(ValueError, match="samples"):
        landau_fit(np.zeros(5))


def test_binder_gaussian_zero_two_wells_two_thirds():
    rng = np.random.default_rng(3)
    gauss = rng.normal(0.0, 2.0, 400_000)
    wells = rng.choice([-1.0, 1.0], 400_000) + 0.01 * rng.normal(size=400_000)
    assert abs(binder_cumulant(gauss)) < 0.01
    assert abs(binder_cumulant(wells) - 2 / 3) < 1e-3
    # a broad double well sits in between
    mid = rng.choice([-1.0, 1.0], 400_000) + 0.5 * rng.normal(size=400_000)
    # closed form: <m²> = 1 + s², <m⁴> = 1 + 6 s² + 3 s⁴ with s = 0.5
    s2 = 0.25
    exact = 1 - (1 + 6 * s2 + 3 * s2**2) / (3 * (1 + s2) ** 2)
    assert abs(binder_cumulant(mid) - exact) < 5e-3


def test_susceptibility_and_mode_transitions_on_a_trajectory():
    rng = np.random.default_rng(4)
    n_step, n_chain = 3, 20_000
    m = np.empty((n_step, n_chain, 2))
    m[..., 0] = rng.normal(0.0, 0.5, (n_step, n_chain))                               # one well
    m[..., 1] = rng.choice([-2.0, 2.0], (n_step, n_chain)) + 0.02 * rng.normal(size=(n_step, n_chain))
    ds = xr.Dataset({"order_parameter": (("step", "chain", "mode"), m)},
                    coords={"mode": [1, 2]}, attrs={"n_visible": 100})
    out = mode_transitions(ds, n_units=100)  # as for an intensive m of 100 units
    assert out["binder"].dims == ("step", "mode")
    np.testing.assert_allclose(out["susceptibility"].sel(mode=1), 100 * 0.25, rtol=0.05)
    np.testing.assert_allclose(out["susceptibility"].sel(mode=2), 100 * 4.0, rtol=0.05)
    # default: a unit-norm projection, χ = β Var(m) (β from the trajectory)
    half = mode_transitions(ds.assign_attrs(beta=0.5))
    np.testing.assert_allclose(half["susceptibility"].sel(mode=1), 0.5 * 0.25, rtol=0.05)
    assert np.all(np.abs(out["binder"].sel(mode=1)) < 0.05)
    assert np.all(np.abs(out["binder"].sel(mode=2) - 2 / 3) < 0.01)
    np.testing.assert_allclose(susceptibility(m[0, :, 0], n_units=10), 10 * np.var(m[0, :, 0]))
    with pytest.raises(ValueError, match="no variable 'u'"):
        mode_transitions(ds, var="u")
    bad = ds.copy(deep=True)
    bad["order_parameter"][0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN/inf"):
        mode_transitions(bad)


def test_order_parameter_of_a_gibbs_run():
    """The recorded order parameter of a small model feeds mode_transitions directly."""
    ham = pyrbm.Hamiltonian.random(12, 8, sigma_w=0.5, seed=0)
    ds, _ = pyrbm.GibbsSampler(200, seed=1).run(ham, n_steps=20, thin=10,
                                                 observables=[pyrbm.OrderParameter(modes=3)], progress=False)
    out = mode_transitions(ds)
    assert out["binder"].sizes == {"step": 2, "mode": 3}
    fit = landau_fit(ds, var="order_parameter", mode=2, bins=12, min_count=2)
    assert fit.attrs["n_samples"] == 400
    with pytest.raises(ValueError, match="no variable 'u'"):
        landau_fit(ds, var="u", mode=1)
    with pytest.raises(ValueError, match=r"mode: expected one of the recorded mode labels \[1, 2, 3\]"):
        landau_fit(ds, var="order_parameter", mode=4)
    assert np.all(np.isfinite(out["binder"]))


def test_binder_about_the_mean_a_displaced_well_is_not_a_double_well():
    rng = np.random.default_rng(5)
    displaced = 3.0 + rng.normal(0.0, 1.0, 1_000_000)      # one well, 3 standard deviations off 0
    assert abs(binder_cumulant(displaced)) < 0.01
    # the old default (moments about 0) read it as almost a double well: 1 - 138/300 = 0.54
    assert binder_cumulant(displaced, center=0.0) == pytest.approx(1 - 138 / 300, abs=0.01)
    sharp = 5.0 + rng.choice([-1.0, 1.0], 1_000_000) + 1e-3 * rng.normal(size=1_000_000)
    assert binder_cumulant(sharp) == pytest.approx(2 / 3, abs=1e-3)   # wells ±1 about 5
    with pytest.raises(ValueError, match="center: expected 'mean' or a finite number"):
        binder_cumulant(sharp, center="zero")


def test_susceptibility_is_the_curie_weiss_response_by_exact_enumeration():
    """Curie-Weiss, E = -(J/2N) M² - h M over N spins (M = Σ s): χ = ∂<m>/∂h with m = M/N.

    Reference: <m>(h) summed exactly over the N + 1 magnetisation sectors (binomial
    multiplicities), differentiated by a central difference; the susceptibility of exact
    samples of m at h = 0, β N Var(m), must equal it (and approach β/(1 − βJ) at large N).
    """
    from scipy.special import gammaln, logsumexp

    N, J, beta = 400, 1.0, 0.6
    k = np.arange(N + 1)
    M = 2.0 * k - N
    log_mult = gammaln(N + 1) - gammaln(k + 1) - gammaln(N - k + 1)

    def mean_m(h):
        logw = log_mult + beta * (J * M**2 / (2 * N) + h * M)
        return float(np.sum(np.exp(logw - logsumexp(logw)) * M / N))

    eps = 1e-5
    chi_exact = (mean_m(eps) - mean_m(-eps)) / (2 * eps)
    assert chi_exact == pytest.approx(beta / (1 - beta * J), rel=0.02)  # the mean-field limit
    logw = log_mult + beta * J * M**2 / (2 * N)
    p = np.exp(logw - logsumexp(logw))
    m = M[np.random.default_rng(6).choice(N + 1, size=400_000, p=p)] / N
    chi = susceptibility(m, n_units=N, beta=beta)
    assert chi == pytest.approx(chi_exact, rel=0.01)
    # the unit-norm projection x = Σ s / √N has χ = β Var(x): the same number, n = 1
    assert susceptibility(m * np.sqrt(N), beta=beta) == pytest.approx(chi, rel=1e-12)


# --------------------------------------------------------------------------- scans
def test_scan_fit_shares_one_bin_grid_grid_dims_first():
    """Two points with prescribed quartics (one single, one double well) and a missing one: each
    point recovers its coefficients; profiles on the shared grid equal numpy's histogram there."""
    coefs = {0.5: ((0.3, 1.0, 0.1, 0.25), "single well"), 1.0: ((0.2, -2.0, 0.0, 0.5), "double well")}
    values = np.full((3, 2000, 100), np.nan)
    for i, (coef, _) in enumerate(coefs.values()):
        values[i] = quartic_samples(coef, 200_000, seed=i + 3).reshape(2000, 100)
    ds = xr.Dataset({"order_parameter": (("beta", "step", "chain", "mode"), values[..., None])},
                    coords={"beta": ("beta", [0.5, 1.0, 2.0], {"long_name": "inverse temperature", "units": "1"}),
                            "mode": [1]})
    fit = ds.rbm.landau_fit(mode=1, bins=60)
    xr.testing.assert_identical(fit, landau_fit(ds, var="order_parameter", mode=1, bins=60))
    assert fit["profile"].dims == ("beta", "m") and fit["value"].dims == ("beta", "coefficient")
    assert fit["verdict"].dims == ("beta",) and "std" not in fit.data_vars
    finite = values[np.isfinite(values)]
    edges = np.linspace(finite.min(), finite.max(), 61)
    np.testing.assert_allclose(fit["m"].values, 0.5 * (edges[1:] + edges[:-1]), rtol=1e-12, atol=1e-12)
    assert fit.beta.attrs["long_name"] == "inverse temperature"
    for i, (beta, (coef, verdict)) in enumerate(coefs.items()):
        point = fit.sel(beta=beta)
        counts, _ = np.histogram(values[i].ravel(), bins=edges)
        with np.errstate(divide="ignore"):
            ref = -np.log(counts / (counts.sum() * np.diff(edges)))
        ref[counts == 0] = np.nan
        np.testing.assert_allclose(point["profile"].values, ref, rtol=1e-12)
        got = point["value"].sel(coefficient=["h", "a2", "a3", "a4"]).values
        err = point["value_std"].sel(coefficient=["h", "a2", "a3", "a4"]).values
        assert np.all(np.abs(got - np.array(coef)) < 5 * err + 1e-3), (beta, got, err)
        assert str(point["verdict"].values) == verdict and int(point["n_samples"]) == 200_000
    missing = fit.sel(beta=2.0)
    assert np.isnan(missing["profile"]).all() and np.isnan(missing["value"]).all()
    assert int(missing["n_samples"]) == 0 and str(missing["verdict"].values) == ""


def test_scan_fit_of_a_two_point_gibbs_scan(tmp_path):
    """A collected 2-point scan of the built-in gibbs point: the m coordinate is the shared grid
    (bins values, not the union of every point's centres), each point's profile its own."""
    scan = pyrbm.scan.Scan(tmp_path / "s", {"beta": [0.5, 1.0]},
                           fixed={"n_visible": 12, "n_hidden": 6, "sigma_w": 0.3, "n_chains": 100, "n_steps": 50,
                                  "observables": ["order_parameter:2"]})
    scan.run("gibbs")
    ds = scan.collect()
    fit = ds.rbm.landau_fit(mode=1, bins=20, min_count=5)
    assert dict(fit["profile"].sizes) == {"beta": 2, "m": 20}
    assert list(fit["value"].dims) == ["beta", "coefficient"]
    samples = ds.order_parameter.sel(mode=1)
    edges = np.linspace(float(samples.min()), float(samples.max()), 21)
    for beta in (0.5, 1.0):
        counts, _ = np.histogram(samples.sel(beta=beta).values.ravel(), bins=edges)
        np.testing.assert_array_equal(np.isnan(fit["profile"].sel(beta=beta).values), counts == 0)
        assert int(fit["n_samples"].sel(beta=beta)) == 5000


def test_scan_fit_refuses_a_point_too_narrow_for_the_shared_grid():
    rng = np.random.default_rng(0)
    values = np.stack([rng.normal(0, 1, (200, 50)), rng.normal(0, 1e-3, (200, 50))])
    ds = xr.Dataset({"m": (("beta", "step", "chain"), values)}, coords={"beta": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"samples at beta=2.0: only .* bins .*shared by every point"):
        landau_fit(ds, var="m", bins=30)
    values[1, 0, 0] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        landau_fit(xr.Dataset({"m": (("beta", "step", "chain"), values)}), var="m")
