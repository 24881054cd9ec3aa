"""Training-history files: schema, 1-based modes, settings as coordinates, combining."""

import numpy as np
import pytest
import xarray as xr

import pyrbm
from pyrbm.io import history


class FakeTrainer:
    def __init__(self, seed):
        self.seed = seed

    def settings(self):
        return {"method": "pcd", "k": 3, "lr": 0.01, "seed": self.seed, "dtype": "float32"}


def make_history(n_hidden, seed, n_visible=6, n_records=3):
    """A history built from hand-made records (numbers known independently of any training)."""
    rng = np.random.default_rng(100 * n_hidden + seed)
    K = min(n_visible, n_hidden)
    records = []
    for r in range(n_records):
        sv = np.sort(rng.uniform(0.1, 3.0, K))[::-1]
        records.append({"epoch": float(r), "update": 10 * r, "singular_value": sv,
                        "a_tilde": rng.normal(size=K), "n_above_mp": int(r),
                        "W": rng.normal(size=(n_visible, n_hidden))})
    return history.history_dataset(records, FakeTrainer(seed), n_visible, n_hidden, 50, 10, 1.5), records


def test_history_schema_modes_settings():
    h, records = make_history(4, 7)
    assert h.attrs["schema"] == "pyrbm.history/2"
    assert h["mode"].values.tolist() == [1, 2, 3, 4]
    np.testing.assert_array_equal(h.singular_value.sel(mode=1).values, [r["singular_value"][0] for r in records])
    assert int(h["n_hidden"]) == 4 and int(h["seed"]) == 7
    assert h.attrs["trainer_lr"] == 0.01 and h.attrs["trainer_k"] == 3
    assert pyrbm.validate(h) is h
    for name, var in h.variables.items():
        assert var.attrs.get("long_name") and var.attrs.get("units") == "1", name


def test_history_validate_lists_problems():
    h, _ = make_history(4, 7)
    bad = h.copy()
    bad = bad.assign_coords(mode=("mode", np.arange(4), {"long_name": "mode", "units": "1"}))
    bad["singular_value"].attrs["units"] = "energy"
    del bad.attrs["seed"]
    with pytest.raises(ValueError) as info:
        pyrbm.validate(bad)
    msg = str(info.value)
    for needle in ("1-based", "units 'energy' is not a unit", "missing attribute 'seed'"):
        assert needle in msg, needle


def test_history_round_trip_and_model(tmp_path):
    h, _ = make_history(4, 7)
    ham = pyrbm.Hamiltonian.random(6, 4, seed=1)
    path = pyrbm.save(h, tmp_path / "h.nc", hamiltonian=ham)
    back = pyrbm.load(path)
    xr.testing.assert_identical(back, h)
    assert pyrbm.load_hamiltonian(path).W.tobytes() == ham.W.tobytes()
    raw = xr.open_dataset(path)  # in the file, the settings are length-1 dimensions
    assert raw.sizes["n_hidden"] == 1 and raw.sizes["seed"] == 1 and "mp_edge" in raw.coords
    raw.close()


def test_combine_gives_seed_as_a_dimension(tmp_path):
    paths, want = [], {}
    for n_hidden, seeds in ((3, (0, 1)), (5, (1,))):  # ragged: no (5, 0)
        for seed in seeds:
            h, records = make_history(n_hidden, seed)
            want[n_hidden, seed] = np.stack([r["singular_value"] for r in records])
            paths.append(pyrbm.save(h, tmp_path / f"h{n_hidden}_{seed}.nc"))
    combo = history.combine_histories(paths)
    assert combo["singular_value"].dims == ("n_hidden", "seed", "epoch", "mode")
    assert dict(combo.sizes) == {"n_hidden": 2, "seed": 2, "epoch": 3, "mode": 5}
    assert combo["seed"].dims == ("seed",) and combo["seed"].values.tolist() == [0, 1]
    assert combo["mp_edge"].dims == ("n_hidden",)
    for (n_hidden, seed), sv in want.items():
        got = combo.singular_value.sel(n_hidden=n_hidden, seed=seed).values
        np.testing.assert_array_equal(got[:, : sv.shape[1]], sv)
        assert np.isnan(got[:, sv.shape[1]:]).all()
    assert np.isnan(combo.singular_value.sel(n_hidden=5, seed=0).values).all()
    assert "W" not in combo
    # the same by plain xarray, by coordinates (histories without per-record parameters)
    for n_hidden, seed in want:
        h, _ = make_history(n_hidden, seed)
        pyrbm.save(h.drop_vars("W"), tmp_path / f"plain{n_hidden}_{seed}.nc")
    with xr.open_mfdataset(sorted(tmp_path.glob("plain*.nc")), join="outer", data_vars="all") as mf:
        for (n_hidden, seed), sv in want.items():
            got = mf.singular_value.sel(n_hidden=n_hidden, seed=seed).values
            np.testing.assert_array_equal(got[:, : sv.shape[1]], sv)
        with pytest.raises(ValueError, match="pyrbm.load_hamiltonian"):
            mf.rbm.hamiltonian()
