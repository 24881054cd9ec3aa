"""ds.rbm.summary() and ds.rbm.to_arviz() on AR(1) traces of known autocorrelation time:
against the closed forms and against arviz-stats, an independent implementation."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xarray as xr
from scipy.stats import multivariate_normal, norm

import pyrbm  # noqa: F401  (registers ds.rbm)
from conftest import tiny_model
from pyrbm import diagnostics

PHI = np.array([0.0, 0.5, 0.8])       # AR(1) coefficients of the three modes of "u"
PHI_ENERGY = 0.9
N_CHAINS, N_STEPS = 4, 25_000


def _ar1(phi, shape, rng):
    """Stationary unit-variance AR(1), x_t = phi x_{t-1} + sqrt(1 - phi^2) xi_t, shape (step, *shape)."""
    phi = np.asarray(phi)
    x = np.empty((N_STEPS, *shape))
    x[0] = rng.standard_normal(shape)
    noise = np.sqrt(1 - phi**2) * rng.standard_normal((N_STEPS, *shape))
    for t in range(1, N_STEPS):
        x[t] = phi * x[t - 1] + noise[t]
    return x


def tau_ar1(phi):
    """tau_int = (1 + phi) / (1 - phi)."""
    return (1 + phi) / (1 - phi)


def tau_indicator(phi, p=0.05):
    """tau_int of 1[x <= q_p] for a Gaussian AR(1): rho(t) = (Phi2(z, z; phi^t) - p^2) / (p (1 - p))."""
    z = norm.ppf(p)
    tau = 1.0
    for t in range(1, 2000):
        r = phi**t
        if r < 1e-6:
            break
        p2 = multivariate_normal(mean=[0, 0], cov=[[1, r], [r, 1]]).cdf([z, z])
        tau += 2 * (p2 - p * p) / (p * (1 - p))
    return tau


@pytest.fixture(scope="module")
def traj():
    rng = np.random.default_rng(2024)
    u = _ar1(PHI, (N_CHAINS, PHI.size), rng)
    energy = 3.0 + 2.0 * _ar1(PHI_ENERGY, (N_CHAINS,), rng)
    return xr.Dataset(
        {"u": (("step", "chain", "mode"), u, {"long_name": "mode projection", "units": "1"}),
         "energy": (("step", "chain"), energy, {"units": "1"}),
         "sweeps": ("step", np.arange(N_STEPS))},
        coords={"step": 10 * np.arange(N_STEPS), "mode": [1, 2, 3]}, attrs={"beta": 1.0})


@pytest.fixture(scope="module")
def table(traj):
    return traj.rbm.summary(["u", "energy"])


def _arviz(arr, method):
    """arviz-stats on (chain, draw) arrays."""
    from arviz_stats.base import array_stats

    return {"ess_bulk": lambda: array_stats.ess(arr, method="bulk"),
            "ess_tail": lambda: array_stats.ess(arr, method="tail", prob=(0.05, 0.95)),
            "mcse_mean": lambda: array_stats.mcse(arr, method="mean"),
            "r_hat": lambda: array_stats.rhat(arr, method="rank")}[method]()


def _cases(traj):
    """(name, (chain, draw) array, phi, scale) for every series of the trajectory."""
    out = [(f"u[{m}]", traj.u.sel(mode=m).transpose("chain", "step").values, PHI[m - 1], 1.0) for m in (1, 2, 3)]
    out.append(("energy", traj.energy.transpose("chain", "step").values, PHI_ENERGY, 2.0))
    return out


def _row(table, name):
    return table.u.sel(mode=int(name[2])) if name.startswith("u") else table.energy


def test_ess_agrees_with_arviz_and_with_theory(traj, table):
    pytest.importorskip("arviz_stats")
    n = N_CHAINS * N_STEPS
    for name, arr, phi, _ in _cases(traj):
        row = _row(table, name)
        for stat, tau in (("ess_bulk", tau_ar1(phi)), ("ess_tail", tau_indicator(phi))):
            ours, theirs, theory = float(row.sel(statistic=stat)), float(_arviz(arr, stat)), n / tau
            assert ours == pytest.approx(theirs, rel=0.10), (name, stat, ours, theirs)
            assert ours == pytest.approx(theory, rel=0.15), (name, stat, ours, theory)
            assert theirs == pytest.approx(theory, rel=0.15), (name, stat, theirs, theory)


def test_mean_sd_mcse_and_rhat(traj, table):
    pytest.importorskip("arviz_stats")
    n = N_CHAINS * N_STEPS
    for name, arr, phi, scale in _cases(traj):
        row = _row(table, name)
        assert float(row.sel(statistic="mean")) == pytest.approx(arr.mean(), abs=1e-12)
        assert float(row.sel(statistic="sd")) == pytest.approx(arr.std(ddof=1), rel=1e-12)
        mcse = float(row.sel(statistic="mcse_mean"))
        assert mcse == pytest.approx(scale * np.sqrt(tau_ar1(phi) / n), rel=0.1)      # sigma sqrt(tau / n)
        assert mcse == pytest.approx(float(_arviz(arr, "mcse_mean")), rel=0.1)
        # the same rank-normalised folded split R-hat as arviz-stats
        assert float(row.sel(statistic="r_hat")) == pytest.approx(float(_arviz(arr, "r_hat")), abs=1e-6)
        assert float(row.sel(statistic="r_hat")) < 1.01
    # chains with different means have not mixed
    shifted = traj.energy + xr.DataArray([0.0, 0.0, 0.0, 3.0], dims="chain")
    row = diagnostics.summary(traj.assign(energy=shifted), "energy").energy
    arr = shifted.transpose("chain", "step").values
    assert float(row.sel(statistic="r_hat")) > 1.05
    assert float(row.sel(statistic="r_hat")) == pytest.approx(float(_arviz(arr, "r_hat")), abs=1e-6)
    # the documented difference: Sokal's ESS sees only the within-chain decorrelation
    assert float(row.sel(statistic="ess_bulk")) > 100 * float(_arviz(arr, "ess_bulk"))


def test_summary_layout(traj, table):
    assert list(table.statistic.values) == list(diagnostics.STATISTICS)
    assert table.u.dims == ("mode", "statistic") and list(table.u.mode.values) == [1, 2, 3]
    assert table.energy.dims == ("statistic",)
    assert table.u.attrs["long_name"] == "mode projection"
    # default: every numeric step variable, here including the chain-less "sweeps"
    with pytest.warns(RuntimeWarning, match="50 tau_int"):     # the sweep counter never decorrelates
        assert set(diagnostics.summary(traj.isel(step=slice(0, 2000))).data_vars) == {"u", "energy", "sweeps"}
    frame = table.u.to_dataframe()       # a table for those who want pandas
    assert frame.shape[0] == 3 * len(diagnostics.STATISTICS)


def test_constant_series():
    ds = xr.Dataset({"x": (("step", "chain"), np.ones((100, 2)))})
    row = ds.rbm.summary().x
    assert float(row.sel(statistic="sd")) == 0.0 and float(row.sel(statistic="mcse_mean")) == 0.0
    assert np.isnan(row.sel(statistic=["ess_bulk", "ess_tail", "r_hat"])).all()


def test_bad_input_is_refused(traj):
    with pytest.raises(TypeError, match="ds"):
        diagnostics.summary(traj.u)
    with pytest.raises(ValueError, match="var_names.*'nope'"):
        traj.rbm.summary("nope")
    with pytest.raises(ValueError, match="step"):
        xr.Dataset({"x": ("sample", np.arange(20.0))}).rbm.summary()
    with pytest.raises(ValueError, match="at least 16"):
        traj.isel(step=slice(0, 10)).rbm.summary("energy")


def test_to_arviz_round_trips(traj):
    pytest.importorskip("arviz_base")
    tree = traj.rbm.to_arviz()
    post = tree["posterior"].to_dataset()
    assert post.u.dims == ("chain", "draw", "mode") and post.energy.dims == ("chain", "draw")
    np.testing.assert_array_equal(post.u.values, traj.u.transpose("chain", "step", "mode").values)
    np.testing.assert_array_equal(post.energy.values, traj.energy.transpose("chain", "step").values)
    np.testing.assert_array_equal(post.draw.values, traj.step.values)
    np.testing.assert_array_equal(post.mode.values, [1, 2, 3])
    assert post.sweeps.dims == ("chain", "draw") and post.sizes["chain"] == N_CHAINS
    np.testing.assert_array_equal(post.sweeps.values[0], traj.sweeps.values)
    assert post.u.attrs["long_name"] == "mode projection" and post.attrs["beta"] == 1.0
    # back: rename and transpose give the trajectory again
    back = post.rename(draw="step").transpose("step", "chain", ...)
    xr.testing.assert_equal(back.u, traj.u)
    assert list(traj.rbm.to_arviz("energy", group="sample_stats").children) == ["sample_stats"]


def test_summary_and_export_of_a_gibbs_trajectory():
    """The one-liners on a real trajectory: every step variable, per mode, with the mode labels."""
    ham = tiny_model(8, 4, sigma_w=0.5, bias=0.3, seed=2)
    ds, _ = pyrbm.GibbsSampler(8, seed=1).run(ham, n_steps=400, observables=["energy", pyrbm.OrderParameter(modes=2)])
    table = ds.rbm.summary()
    assert set(table.data_vars) == {"energy", "order_parameter"}
    assert table.order_parameter.sizes["mode"] == 2
    assert np.all(table.energy.sel(statistic="r_hat") < 1.05)
    np.testing.assert_allclose(table.energy.sel(statistic="mean"), ds.energy.mean(), rtol=1e-12)
    pytest.importorskip("arviz_base")
    post = ds.rbm.to_arviz("energy")["posterior"].to_dataset()
    np.testing.assert_array_equal(post.energy.values, ds.energy.transpose("chain", "step").values)


def test_arviz_is_optional():
    code = textwrap.dedent("""
        import sys
        import numpy as np, xarray as xr
        import pyrbm
        assert "arviz_base" not in sys.modules and "arviz_stats" not in sys.modules
        sys.modules["arviz_base"] = None          # arviz-base not installed
        ds = xr.Dataset({"x": (("step", "chain"), np.random.default_rng(0).normal(size=(64, 2)))})
        ds.rbm.summary()                          # needs no optional dependency
        try:
            ds.rbm.to_arviz()
        except ImportError as err:
            assert "pip install 'pyrbm[arviz]'" in str(err), err
        else:
            raise AssertionError("to_arviz ran without arviz-base")
    """)
    subprocess.run([sys.executable, "-c", code], check=True)
