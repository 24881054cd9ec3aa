"""ds.rbm analysis one-liners: the same numbers as the functions, on one run and on a scan."""

import numpy as np
import pytest
import xarray as xr

import pyrbm


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    data = pyrbm.datasets.hierarchical(n_samples=400, n_visible=20, seed=0).data
    tr = pyrbm.Trainer(batch_size=50, n_epochs=3, lr=0.1, monitor_size=100, progress=False, record_every=4)
    scan, paths = pyrbm.train_replicas(data, n_hidden=[3, 5], seeds=[0, 1], trainer=tr,
                                       root=tmp_path_factory.mktemp("reps"))
    return scan, paths


def test_hierarchy_one_liner_on_a_history_and_on_a_combined_scan(replicas):
    scan, paths = replicas
    one = pyrbm.load(paths[0])
    xr.testing.assert_identical(one.rbm.hierarchy(), pyrbm.hierarchy(one))
    combined = scan.collect()                                  # dims (n_hidden, seed, epoch, mode)
    table = combined.rbm.hierarchy()
    assert set(table.dims) == {"n_hidden", "seed", "mode"}
    for path in paths:                                         # each point equals its own file's table
        h = pyrbm.load(path)
        ref = pyrbm.hierarchy(h)
        got = table.sel(n_hidden=int(h["n_hidden"]), seed=int(h["seed"]), mode=ref["mode"].values)
        np.testing.assert_array_equal(got.epoch_leaves_bulk.values, ref.epoch_leaves_bulk.values)
        np.testing.assert_array_equal(got.final_singular_value.values, ref.final_singular_value.values)
    assert np.isnan(table.final_singular_value.sel(n_hidden=3, mode=5)).all()   # 3 hidden units: 3 modes


def test_landau_and_transition_one_liners_match_the_functions():
    ham = pyrbm.Hamiltonian.from_modes([6.0, 1.0], 8, 5, seed=2)
    ds, _ = pyrbm.GibbsSampler(400, seed=3).run(ham, n_steps=40, thin=2,
                                                observables=[pyrbm.OrderParameter(modes=2)])
    xr.testing.assert_identical(ds.rbm.landau_fit(mode=1, bins=20, min_count=5),
                                pyrbm.landau_fit(ds, var="order_parameter", mode=1, bins=20, min_count=5))
    xr.testing.assert_identical(ds.rbm.transitions(), pyrbm.mode_transitions(ds))
    with pytest.raises(ValueError, match="no data variable 'u'"):
        ds.rbm.landau_fit("u")
