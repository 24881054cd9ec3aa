"""AIS along the training trajectory against exact ln Z of every record and temperature AIS."""

import numpy as np
import pytest

import pyrbm
from pyrbm import Hamiltonian, Trainer, datasets, trajectory_ais

from conftest import brute_log_z


@pytest.fixture(scope="module")
def history():
    data = datasets.hierarchical(n_samples=500, n_visible=12, depth=2, noise=0.05, seed=1)
    data = np.asarray(getattr(data, "data", data), dtype=np.float64)
    trainer = Trainer(method="pcd", k=1, lr=0.1, batch_size=10, n_epochs=8, seed=1, progress=False,
                      record_params=True)
    _, hist = trainer.fit(data, n_hidden=6)
    return hist, data


def test_every_record_matches_exact_and_temperature_ais(history):
    hist, data = history
    ds = trajectory_ais(hist, n_chains=200, n_steps=200, n_betas=200, seed=0, data=data)
    assert ds.log_z.dims == ("epoch",) and ds.sizes["epoch"] == hist.sizes["epoch"]
    exact = np.array([brute_log_z(hist.W.values[k], hist.a.values[k], hist.b.values[k])
                      for k in range(hist.sizes["epoch"])])
    err = ds.log_z.values - exact
    assert np.all(np.abs(err) < 3 * ds.log_z_std.values + 0.02), (err, ds.log_z_std.values)
    assert exact[-1] - exact[0] > 1.0  # training moved ln Z: the path is not trivial
    last = Hamiltonian(hist.W.values[-1], hist.a.values[-1], hist.b.values[-1])
    temp = pyrbm.ais(last, n_chains=200, n_betas=200 * hist.sizes["epoch"], schedule="linear", seed=0, data=data)
    assert abs(temp.log_z - exact[-1]) < 3 * temp.std + 0.02
    assert abs(float(ds.log_z[-1]) - temp.log_z) < 3 * np.hypot(float(ds.log_z_std[-1]), temp.std) + 0.02


def test_models_in_a_list_and_bad_input(history):
    hist, data = history
    models = [Hamiltonian(hist.W.values[k], hist.a.values[k], hist.b.values[k]) for k in (0, 4, 8)]
    ds = trajectory_ais(models, n_chains=100, n_steps=300, n_betas=300, seed=1, data=data)
    exact = np.array([brute_log_z(m.W, m.a, m.b) for m in models])
    assert ds.log_z.dims == ("record",) and np.all(np.abs(ds.log_z.values - exact) < 3 * ds.log_z_std.values + 0.02)
    with pytest.raises(ValueError, match="record_params=True"):
        trajectory_ais(hist.drop_vars("W"))
    with pytest.raises(ValueError, match="record 1 has shape"):
        trajectory_ais([models[0], Hamiltonian(np.zeros((12, 5)), np.zeros(12), np.zeros(5))])
    with pytest.raises(ValueError, match="at least one record"):
        trajectory_ais([])
    with pytest.raises(ValueError, match="n_betas: expected an integer ≥ 2"):
        trajectory_ais(models, n_betas=1)
    with pytest.raises(ValueError, match="n_steps"):
        trajectory_ais(models, n_steps=0)
