r"""Plot labels: every variable and coordinate pyrbm writes has a short ``long_name`` (xarray's
automatic axis label), the full text in ``description``.

Before: ``history.singular_value.sel(mode=1).plot()`` was labelled "singular value sigma of
the tracked mode (in units of k_B T at beta = 1) [1]", wrapped over three lines and clipped;
now "singular value $\sigma$ [1]" (matplotlib mathtext: σ).
"""

from __future__ import annotations

import matplotlib
import pytest
import xarray as xr
from xarray.plot.utils import label_from_attrs

import pyrbm
from pyrbm.observables import ModeProjection, OrderParameter

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

#: The longest label accepted; xarray wraps a label at 30 characters, so the labels below
#: (all at most 30) stay on one line.
LONGEST = 30


@pytest.fixture(scope="module")
def trained():
    data = pyrbm.datasets.hierarchical(n_samples=200, n_visible=20, seed=0).data
    return pyrbm.Trainer(n_epochs=1, batch_size=50, seed=0, progress=False, record_params=True,
                         log_likelihood=True).fit(data, n_hidden=6)


def _gibbs(ham):
    obs = ["energy", "free_energy", "m_visible", "m_hidden", *(ModeProjection(k, 2) for k in "xyuw"),
           OrderParameter(2)]
    return pyrbm.GibbsSampler(n_chains=4, seed=0).run(ham, n_steps=3, observables=obs, keep_configs=True,
                                                      progress=False)[0]


def _langevin(ham):
    return pyrbm.LangevinSampler(n_chains=4, dt=0.01, seed=0).run(ham, n_steps=3, progress=False)[0]


def _check_labels(ds: xr.Dataset, expected: set):
    assert expected <= set(ds.variables), expected - set(ds.variables)
    fig, ax = plt.subplots()
    for name in ds.variables:
        label = label_from_attrs(ds[name])
        assert "\n" not in label and len(label) <= LONGEST, (name, label)
        assert ds[name].attrs.get("description"), name      # the full text is kept
        # ASCII only: HDF5 stores other strings on its global heap, where a flipped byte crashes the reader
        assert all(v.isascii() for v in ds[name].attrs.values() if isinstance(v, str)), (name, ds[name].attrs)
        ax.set_ylabel(label)
        fig.canvas.draw()                                   # the mathtext in a label renders
    plt.close(fig)


def test_history_labels_are_short_in_memory_and_in_a_file(trained, tmp_path):
    ham, hist = trained
    names = {"singular_value", "a_tilde", "b_tilde", "saddle_energy", "rank", "mode_sign", "saddle_energy_total",
             "n_above_mp", "n_above_4T", "mode_overlap", "reconstruction_error", "pseudo_log_likelihood",
             "log_likelihood", "W", "a", "b", "epoch", "n_updates", "mode", "n_hidden", "seed"}
    _check_labels(hist, names)
    pyrbm.save(hist, tmp_path / "h.nc")
    with xr.open_dataset(tmp_path / "h.nc") as raw:       # the file form: n_hidden, seed dims, mp_edge
        _check_labels(raw.load(), names | {"mp_edge"})
    _check_labels(pyrbm.load(tmp_path / "h.nc"), names)


def test_trajectory_labels_are_short(trained, tmp_path):
    ham, _ = trained
    g = _gibbs(ham)
    _check_labels(g, {"energy", "free_energy", "m_visible", "m_hidden", "x", "y", "u", "w", "order_parameter",
                      "step", "chain", "mode", "singular_value", "control", "field", "v", "h"})
    lang = _langevin(ham)
    _check_labels(lang, {"x", "y", "u", "w", "divergence_step", "step", "time", "chain", "mode", "singular_value",
                         "stable"})
    pyrbm.save(lang, tmp_path / "l.nc")
    _check_labels(pyrbm.load(tmp_path / "l.nc"), {"x", "time", "stable"})


def test_default_plot_labels(trained):
    ham, hist = trained
    fig, ax = plt.subplots()
    hist.singular_value.sel(mode=1).plot(ax=ax)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch [1]", r"singular value $\sigma$ [1]")
    plt.close(fig)
    g = _gibbs(ham)
    fig, ax = plt.subplots()
    g.energy.isel(chain=0).plot(ax=ax)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("step [1]", "energy E(v, h) [1]")
    plt.close(fig)


def test_validate_still_requires_long_name_and_units(trained):
    _, hist = trained
    bad = hist.copy()
    bad["singular_value"].attrs = {"description": "only a description"}
    with pytest.raises(ValueError) as err:
        pyrbm.validate(bad)
    assert "'singular_value': needs a 'long_name'" in str(err.value)
    assert "'singular_value': needs a 'units'" in str(err.value)
