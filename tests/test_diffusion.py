"""Langevin growth rates and stationary variances against the Ornstein-Uhlenbeck closed forms.

Per paired mode the Gaussian surrogate's diffusion along u is an Ornstein-Uhlenbeck process with
rate κ_u = 1/s² − βσ (s² = 1/4): Var u grows like e^{2|κ_u| t} past the threshold and settles at
the Euler-Maruyama value 1/(κ(1 − κΔt/2)) below it (docs/physics.md §4).
"""

import warnings

import numpy as np
import pytest

from pyrbm import Hamiltonian, LangevinSampler
from pyrbm.diffusion import divergence_rates, em_stationary_variance


@pytest.fixture(scope="module")
def run():
    ham = Hamiltonian.from_modes(np.array([3.0, 5.0, 6.0]), 12, 10, seed=0, beta=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds, _ = LangevinSampler(400, dt=0.01, seed=1).run(ham, n_steps=3000, thin=20, progress=False)
    return ds


def test_growth_rates_within_10_percent_of_two_kappa(run):
    r = divergence_rates(run)
    top = r.sel(mode=[1, 2])
    np.testing.assert_allclose(top["theory"].values, [4.0, 2.0])  # 2|4 - 6|, 2|4 - 5|
    np.testing.assert_allclose(top["rate"].values, [4.0, 2.0], rtol=0.10)
    assert (top["unstable"].values == 1).all()
    # the fit stops before any chain froze: its window ends before the first frozen record
    for k in (1, 2):
        frozen = (run["divergence_step"].sel(mode=k) >= 0).any("chain")
        assert float(r["fit_end"].sel(mode=k)) < float(run["time"].where(frozen).min())


def test_stable_variances_within_5_percent_of_euler_maruyama(run):
    r = divergence_rates(run)
    stable = r.where(r["unstable"] == 0, drop=True)
    kappa = 4.0 - 1.0 * stable["singular_value"].values
    np.testing.assert_allclose(stable["variance_theory"].values, 1.0 / (kappa * (1 - kappa * 0.01 / 2)))
    np.testing.assert_allclose(stable["variance"].values, stable["variance_theory"].values, rtol=0.05)
    assert np.all(np.abs(stable["rate"].values) < 0.05)
    # w is stable everywhere: κ_w = 4 + βσ
    w = divergence_rates(run, var="w").sel(mode=3)
    np.testing.assert_allclose(float(w["variance"]), 1.0 / (7.0 * (1 - 0.035)), rtol=0.05)


def test_em_variance_is_the_discrete_recursions_fixed_point():
    # the variance recursion V' = (1 - κΔt)² V + 2Δt iterated to its fixed point
    for kappa, dt in ((1.0, 0.01), (4.0, 0.1), (7.0, 0.2)):
        v = 0.0
        for _ in range(20000):
            v = (1 - kappa * dt) ** 2 * v + 2 * dt
        assert em_stationary_variance(kappa, dt) == pytest.approx(v, rel=1e-10)
    assert np.isnan(em_stationary_variance(-1.0, 0.01))


def test_variance_curve_stops_when_chains_freeze(run):
    r = divergence_rates(run)
    curve = r["var_curve"].sel(mode=1)
    frozen = (run["divergence_step"].sel(mode=1) >= 0).any("chain").values
    assert frozen.any()
    assert np.all(np.isnan(curve.values[frozen])) and np.all(np.isfinite(curve.values[~frozen]))


def test_bad_input_is_refused(run):
    with pytest.raises(ValueError, match="var: expected 'u' or 'w'"):
        divergence_rates(run, var="x")
    with pytest.raises(ValueError, match="LangevinSampler.run"):
        divergence_rates(run.drop_vars("divergence_step"))
    with pytest.raises(ValueError, match="quartic"):
        divergence_rates(run.assign_attrs(quartic=1))
