"""Result objects meet users where they are: no Dataset name shadows an xarray method, short reprs."""

import dataclasses
import inspect

import numpy as np
import pytest
import xarray as xr

import pyrbm
from pyrbm import annealing, bounds, diagnostics, freeenergy, likelihood

#: Every attribute of an xarray Dataset (methods such as ``std``, ``mean``, ``var``, ``count``, ...):
#: a variable, coordinate or attribute of that name is reachable only by ``ds["name"]``.
SHADOWED = frozenset(dir(xr.Dataset))
MODULES = (freeenergy, likelihood, annealing, bounds, diagnostics)


def _ham():
    return pyrbm.Hamiltonian.random(8, 4, seed=0, sigma_w=0.5)


def _data(n, seed):
    return (np.random.default_rng(seed).random((n, 8)) < 0.5).astype(np.float64)


def _history():
    models = [pyrbm.Hamiltonian.random(8, 4, seed=s, sigma_w=0.1 * (s + 1)) for s in range(3)]
    return xr.Dataset({"W": (("epoch", "visible", "hidden"), np.stack([m.W for m in models])),
                       "a": (("epoch", "visible"), np.stack([m.a for m in models])),
                       "b": (("epoch", "hidden"), np.stack([m.b for m in models]))},
                      coords={"epoch": [0, 1, 2]}), models[-1]


def _trajectory():
    rng = np.random.default_rng(0)
    return xr.Dataset({"u": (("step", "chain", "mode"), rng.standard_normal((2000, 2, 3))),
                       "energy": (("step", "chain"), rng.standard_normal((2000, 2)))},
                      coords={"mode": [1, 2, 3]})


TINY = {"n_betas": (20, 40), "n_chains": 10, "n_sweeps": 10, "n_replicas": 2, "raise_examples": 5,
        "raise_chains": 2, "raise_betas": 20, "trajectory_steps": 5}


def _calls():
    """One small call of every public Dataset-returning function of the estimator modules."""
    history, last = _history()
    return {
        "compare_log_z": lambda: pyrbm.compare_log_z(_ham(), test=_data(5, 1), n_betas=20, n_chains=10, n_gibbs=5,
                                                     seed=0),
        "ais_convergence": lambda: pyrbm.ais_convergence(_ham(), n_betas=(10, 20), n_chains=10, seed=0),
        "test_log_likelihood": lambda: pyrbm.test_log_likelihood(last, _data(10, 2), train=_data(20, 3),
                                                                 history=history, budget=TINY, seed=0),
        "raise_log_likelihood": lambda: pyrbm.raise_log_likelihood(_ham(), _data(4, 4), n_betas=20, n_chains=3,
                                                                   seed=0),
        "trajectory_ais": lambda: pyrbm.trajectory_ais(history, n_chains=10, n_steps=5, n_betas=10, seed=0),
        "summary": lambda: pyrbm.diagnostics.summary(_trajectory()),
    }


def _dataset_functions():
    out = {}
    for module in MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj) and inspect.signature(obj).return_annotation in ("xr.Dataset", xr.Dataset):
                out[name] = obj
    return out


def test_every_dataset_function_is_walked():
    """The walk below covers every public function of these modules annotated to return a Dataset."""
    found = _dataset_functions()
    assert set(found) == set(_calls()) == set(CALLED), (sorted(found), sorted(_calls()))


CALLED = ("ais_convergence", "compare_log_z", "raise_log_likelihood", "summary", "test_log_likelihood",
          "trajectory_ais")


@pytest.mark.parametrize("name", CALLED)
def test_no_dataset_name_shadows_an_xarray_attribute(name):
    """Before: compare_log_z, ais_convergence, test_log_likelihood and trajectory_ais had a variable
    ``std`` and raise_log_likelihood ``std`` and ``mean``: ``float(ds.std)`` called Dataset.std."""
    ds = _calls()[name]()
    assert isinstance(ds, xr.Dataset)
    names = set(ds.data_vars) | set(ds.coords) | set(ds.dims) | set(ds.attrs)
    assert not names & SHADOWED, sorted(names & SHADOWED)
    for var in ds.data_vars:  # attribute access gives the variable itself
        assert getattr(ds, var).identical(ds[var])


def test_renamed_result_variables_read_as_attributes():
    ds = pyrbm.compare_log_z(_ham(), methods=("exact", "ais"), n_betas=20, n_chains=10, seed=0)
    assert float(ds.log_z_std.sel(estimator="exact")) == 0.0 and ds.log_z_std.attrs["units"] == "nats"
    ra = pyrbm.raise_log_likelihood(_ham(), _data(4, 4), n_betas=20, n_chains=3, seed=0)
    assert float(ra.ll_mean) == pytest.approx(float(ra.log_likelihood.mean()), rel=1e-12)
    assert ra.ll_std.dims == ("example",)


# ----------------------------------------------------------------------------- reprs
def _check_short(res, arrays):
    text = repr(res)
    assert len(text) < 500, (len(text), text)
    assert text.startswith(type(res).__name__ + "(") and f"log_z={res.log_z:.6g}" in text
    assert f"valid={res.valid}" in text and f"method='{res.method}'" in text
    for name in arrays:
        value = getattr(res, name)
        assert f"{name}=<array {value.shape} {value.dtype}>" in text
    assert "[" not in text.replace("['", "").replace("']", "")  # no array printed
    return text


def test_ais_result_repr_is_short():
    """Before: 18,575 characters at 784 visible units and the classic 14,501-temperature schedule (the
    weights, base biases and schedule printed). Now the arrays are summarised by shape and dtype."""
    ham = pyrbm.Hamiltonian.random(784, 10, seed=0, sigma_w=0.05)
    res = pyrbm.ais(ham, n_chains=100, n_betas=50, seed=1)
    res = dataclasses.replace(res, schedule=pyrbm.annealing_schedule(n_betas=14_501),
                              reason="effective sample size " + "very " * 100 + "low")
    text = _check_short(res, ("log_weights", "base_bias", "schedule"))
    assert f"ess={res.ess:.6g}" in text and f"std={res.std:.6g}" in text and "n_chains=100" in text
    assert "…" in text  # the long reason is cut


def test_every_result_repr_is_short():
    ham = pyrbm.Hamiltonian.random(784, 10, seed=0, sigma_w=0.05)
    _check_short(pyrbm.exact_log_z(pyrbm.Hamiltonian.random(6, 4, seed=0)), ())
    for f in (pyrbm.mean_field, pyrbm.tap):
        text = _check_short(f(ham), ("m_visible", "m_hidden"))
        assert "error_estimate=" in text and "converged=True" in text
    with pytest.warns(pyrbm.GaussianValidityWarning):
        _check_short(pyrbm.gaussian_log_z(ham), ())
    lb = pyrbm.log_z_lower_bound(ham, starts=_data(40, 0).repeat(98, axis=1), seed=0)
    text = _check_short(lb, ("m_visible", "start_log_z"))
    assert f"<tuple of {len(lb.start_names)}>" in text
    for cls in (pyrbm.LogZ, pyrbm.AISResult, pyrbm.LowerBound):  # no subclass brings back the generated repr
        assert cls.__repr__ is freeenergy.LogZ.__repr__
