"""test_log_likelihood and ais_convergence against exact log-likelihoods of enumerable models."""

import numpy as np
import pytest

import pyrbm
from pyrbm import ais_convergence, test_log_likelihood as verdict

from likmodels import crossing, hidden_enumeration, trained_small

_ROWS = ["lower_bound", "ais", "reverse_ais", "raise"]


def _exact_ll(ham, test, log_z):
    return float(np.mean(-ham.beta * ham.free_energy(test))) - log_z


def test_interval_holds_exact_and_passes_on_a_trained_model():
    ham, data = trained_small()
    exact = float(pyrbm.exact_log_z(ham))
    test = data[::10]
    ds = verdict(ham, test, train=data, budget="tiny", schedule="linear", seed=0)
    assert list(ds.estimator.values) == _ROWS
    assert bool(ds.interval_valid), ds.attrs["interval_reason"]
    assert float(ds.log_z_low) <= exact <= float(ds.log_z_high)
    assert float(ds.ll_low) <= _exact_ll(ham, test, exact) <= float(ds.ll_high)
    assert float(ds.log_z_high - ds.log_z_low) <= 1.0
    assert float(ds.log_z.sel(estimator="lower_bound")) <= exact
    assert bool(ds.valid.all()) and np.all(ds.seconds.values >= 0)
    assert "replica exchange" in ds.attrs["reverse_start"]
    np.testing.assert_allclose(ds.log_likelihood.values, float(ds.mean_neg_free_energy) - ds.log_z.values)
    assert ds.convergence_log_z.sizes == {"n_betas": 2}


@pytest.mark.parametrize("with_train", [False, True])
def test_planted_missed_mode_interval_holds_exact_or_cannot_decide(with_train):
    """Forward AIS misses the heavier mode without a data-fitted base: the verdict must either hold
    the exact value in its interval or refuse with a reason; it never defends a wrong interval."""
    ham = crossing()
    exact, sample = hidden_enumeration(ham)
    test, train = sample(200, 1), (sample(500, 2) if with_train else None)
    ds = verdict(ham, test, train=train, budget="tiny", schedule="linear", seed=0)
    holds = float(ds.log_z_low) <= exact <= float(ds.log_z_high)
    assert holds or not bool(ds.interval_valid), ds
    if with_train:  # the data-fitted base starts the chains in the right mode: a narrow, correct interval
        assert holds and float(ds.log_z_high - ds.log_z_low) < 0.1
    else:  # forward and reverse AIS both miss it: marked, and the verdict says why it cannot decide
        assert not bool(ds.valid.sel(estimator="ais")) and not bool(ds.interval_valid)
        assert "below the rigorous lower bound" in ds.attrs["interval_reason"]
        assert float(ds.log_z.sel(estimator="ais")) < exact - 5 and holds


def test_convergence_helper_reports_drift():
    ham, _ = trained_small()
    exact = float(pyrbm.exact_log_z(ham))
    short = ais_convergence(ham, n_betas=(2, 3), n_chains=100, schedule="linear", seed=0, lower_bound=None)
    long = ais_convergence(ham, n_betas=(200, 2000), n_chains=100, schedule="linear", seed=0)
    assert list(long.n_betas.values) == [200, 2000] and long.attrs["converged"] == 1
    assert abs(float(long.log_z[-1]) - exact) < 3 * float(long.log_z_std[-1])
    assert abs(long.attrs["drift"]) <= long.attrs["drift_error"]
    assert abs(short.attrs["drift"]) > abs(long.attrs["drift"])


def test_convergence_check_fails_when_a_longer_schedule_moves_the_estimate():
    """Planted crossing modes: 100 → 1,000 β's agree (both miss the heavier mode), 10,000 β's jump by
    ~11 nats (one chain finds it): the drift exceeds its error (none: ESS ≈ 1) and the check fails."""
    ham = crossing()
    exact, _ = hidden_enumeration(ham)
    ds = ais_convergence(ham, n_betas=(100, 1000, 10000), n_chains=100, schedule="linear", seed=0, lower_bound=None)
    assert abs(float(ds.log_z[1] - ds.log_z[0])) < 0.1 and float(ds.log_z[1]) < exact - 5
    assert ds.attrs["converged"] == 0 and abs(ds.attrs["drift"]) > 5 and not np.isfinite(ds.attrs["drift_error"])
    agree = ais_convergence(ham, n_betas=(100, 1000), n_chains=100, schedule="linear", seed=0, lower_bound=None)
    assert agree.attrs["converged"] == 1  # agreement of the series alone does not reveal the missed mode


def test_bad_input_is_refused():
    ham, data = trained_small()
    with pytest.raises(ValueError, match=r"data: expected configurations of shape \(\.\.\., 16\)"):
        verdict(ham, data[:, 1:], budget="tiny")
    with pytest.raises(ValueError, match="data: binary units take the values 0 and 1"):
        verdict(ham, data - 0.5, budget="tiny")
    with pytest.raises(ValueError, match="data: expected a non-empty 2-d array"):
        verdict(ham, data[:0], budget="tiny")
    with pytest.raises(ValueError, match="n_betas: expected an integer ≥ 2"):
        verdict(ham, data, budget={"n_betas": (1, 10)})
    with pytest.raises(ValueError, match="n_betas: expected a non-empty strictly increasing"):
        ais_convergence(ham, n_betas=(100, 50))
    with pytest.raises(ValueError, match="budget: expected one of"):
        verdict(ham, data, budget="huge")
    with pytest.raises(ValueError, match="budget: unknown keys"):
        verdict(ham, data, budget={"betas": 3})
    with pytest.raises(ValueError, match="tolerance"):
        verdict(ham, data, tolerance=0.0)
    with pytest.raises(TypeError, match="ham"):
        verdict(np.ones((16, 8)), data)


def test_history_adds_trajectory_ais():
    from pyrbm import Trainer

    _, data = trained_small()
    trainer = Trainer(method="pcd", k=1, lr=0.05, batch_size=50, n_epochs=6, seed=3, progress=False,
                      record_params=True)
    ham, hist = trainer.fit(data, n_hidden=8)
    exact = float(pyrbm.exact_log_z(ham))
    ds = verdict(ham, data[::10], train=data, history=hist, budget="tiny", schedule="linear", seed=0)
    assert list(ds.estimator.values) == _ROWS + ["trajectory_ais"]
    row = ds.sel(estimator="trajectory_ais")
    assert bool(row.valid) and abs(float(row.log_z) - exact) < 3 * float(row.log_z_std) + 0.02
    assert float(ds.log_z_low) <= exact <= float(ds.log_z_high)
    other = ham.replace(W=ham.W * 1.01)
    wrong = verdict(other, data[::10], train=data, history=hist, budget="tiny", schedule="linear", seed=0)
    assert not bool(wrong.valid.sel(estimator="trajectory_ais"))
    assert "not this model" in str(wrong.reason.sel(estimator="trajectory_ais").values)
