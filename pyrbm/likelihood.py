"""Every ``ln Z`` estimator of one model side by side, each with whether it holds there.

=================  ===================================================  ==========================
method             what                                                 holds when
=================  ===================================================  ==========================
``exact``          enumeration of the smaller layer                     min(N, M) ≤ 25
``gaussian``       Gaussian density of states per mode (docs/physics.md §6)     βσ_k s² < 1, small biases
``mean_field``     naive mean field (a lower bound at a fixed point)    the iteration converged
``tap``            second-order TAP                                     the iteration converged
``ais``            annealed importance sampling (low in expectation)    enough effective samples
``reverse_ais``    reverse AIS from model samples (high in expectation) enough effective samples
=================  ===================================================  ==========================
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import xarray as xr

from . import freeenergy
from ._checks import check_float_dtype, check_hamiltonian, check_int, check_seed, fresh_seed
from .annealing import CLASSIC_N_BETAS, _check_schedule, _configurations, ais, reverse_ais

__all__ = ["METHODS", "compare_log_z"]

#: Estimators :func:`compare_log_z` runs, in table order.
METHODS = ("exact", "gaussian", "mean_field", "tap", "ais", "reverse_ais")


def _row(log_z=np.nan, std=np.nan, valid=False, reason=""):
    return {"log_z": float(log_z), "std": float(std), "valid": bool(valid), "reason": str(reason)}


def _run(method, ham, opts):
    if method == "exact":
        if min(ham.n_visible, ham.n_hidden) > freeenergy.EXACT_MAX_UNITS:
            return _row(reason=f"not enumerable: min(N, M) = {min(ham.n_visible, ham.n_hidden)} > "
                               f"{freeenergy.EXACT_MAX_UNITS}")
        return _row(float(freeenergy.exact_log_z(ham)), 0.0, True)
    if method == "gaussian":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = freeenergy.gaussian_log_z(ham)
        except ValueError as err:  # an unstable mode (βσ_k s² ≥ 1): the Gaussian integral diverges
            return _row(reason=str(err))
        return _row(res.log_z, res.std, res.valid, res.reason)
    if method in ("mean_field", "tap"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = getattr(freeenergy, method)(ham)
        valid = res.valid and bool(res.converged)
        reason = res.reason or ("" if res.converged else "no fixed point within max_iter")
        return _row(res.log_z, res.std, valid, reason)
    kw = {"n_betas": opts["n_betas"], "schedule": opts["schedule"], "dtype": opts["dtype"]}
    if method == "ais":
        res = ais(ham, n_chains=opts["n_chains"], seed=opts["seeds"][0], data=opts["data"], **kw)
        return _row(res.log_z, res.std, res.valid, res.reason)
    samples, origin = opts["samples"], "given samples"
    if samples is None:
        from .samplers import GibbsSampler  # the sampling layer, only when chains are needed

        sampler = GibbsSampler(opts["n_chains"], seed=opts["seeds"][1], dtype=opts["dtype"])
        v0 = None if opts["data"] is None else opts["data"][np.arange(opts["n_chains"]) % len(opts["data"])]
        state = sampler.advance(ham, state=sampler.init_state(ham, v0=v0), n_steps=opts["n_gibbs"])
        samples = state.v
        origin = f"{opts['n_gibbs']} Gibbs sweeps from {'data' if v0 is not None else 'uniform'} starts"
    res = reverse_ais(ham, samples, seed=opts["seeds"][2], data=opts["data"], **kw)
    note = f"started from {origin}"
    return _row(res.log_z, res.std, res.valid, f"{res.reason}; {note}" if res.reason else note)


def compare_log_z(ham, *, data=None, test=None, samples=None, methods=METHODS, n_chains: int = 100,
                  n_betas: int | None = CLASSIC_N_BETAS, schedule="three_piece", n_gibbs: int = 1000,
                  seed: int | None = None, dtype=np.float32) -> xr.Dataset:
    """Run every ``ln Z`` estimator on one model and tabulate them with their validity.

    Parameters
    ----------
    ham : Hamiltonian
    data : array_like, shape (n_samples, N), optional
        Training data: fits the AIS base model and starts the Gibbs chains of reverse AIS.
    test : array_like, shape (n_test, N), optional
        Held-out data; adds the column ``log_likelihood = mean[−βF(test)] − ln Z``.
    samples : array_like, shape (C, N), optional
        Model samples to start reverse AIS from; by default ``n_chains`` Gibbs chains run
        for ``n_gibbs`` sweeps (started from ``data`` rows when given).
    methods : sequence of str
        Subset of :data:`METHODS` to run, in table order.
    n_chains, n_betas, schedule, dtype
        Passed to :func:`pyrbm.ais` and :func:`pyrbm.reverse_ais`.
    n_gibbs : int
        Gibbs sweeps before reverse AIS when ``samples`` is not given.
    seed : int, optional
        Seed of AIS (``seed``), the Gibbs chains (``seed + 1``) and reverse AIS (``seed + 2``).

    Returns
    -------
    xarray.Dataset
        Dimension ``estimator`` (not ``method``, which ``Dataset.sel`` takes as its own
        keyword): ``ds.log_z.sel(estimator="ais")``. Variables ``log_z`` (nats; NaN where the method cannot be
        used), ``std`` (statistical standard deviation, 0 for deterministic methods),
        ``valid`` (bool), ``reason`` (str, why not valid / how reverse AIS was started),
        ``seconds`` (wall time), and ``log_likelihood`` (nats per test sample) with ``test``.
        Attribute ``seed``.
    """
    ham = check_hamiltonian(ham)
    if isinstance(methods, str):
        methods = (methods,)
    methods = tuple(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods or len(set(methods)) != len(methods):
        raise ValueError(f"methods: expected distinct names from {METHODS}, got {methods!r}")
    n_chains = check_int("n_chains", n_chains, minimum=2)
    n_gibbs = check_int("n_gibbs", n_gibbs, minimum=0)
    _check_schedule(schedule, n_betas)
    dtype = check_float_dtype(dtype)
    seed = check_seed(seed)
    data = None if data is None else _configurations("data", data, ham)
    test = None if test is None else _configurations("test", test, ham)
    if samples is not None:
        samples = _configurations("samples", samples, ham)
    seed = fresh_seed() if seed is None else seed
    opts = {"data": data, "samples": samples, "n_chains": n_chains, "n_betas": n_betas, "schedule": schedule,
            "n_gibbs": n_gibbs, "dtype": dtype, "seeds": [(seed + i) % 2**64 for i in range(3)]}
    rows = []
    for method in methods:
        t0 = time.perf_counter()
        row = _run(method, ham, opts)
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)

    def col(key, dtype=None):
        return ("estimator", np.array([r[key] for r in rows], dtype=dtype))

    ds = xr.Dataset(
        {"log_z": col("log_z"), "std": col("std"), "valid": col("valid"), "reason": col("reason", str),
         "seconds": col("seconds")},
        coords={"estimator": list(methods)}, attrs={"seed": int(seed), "beta": float(ham.beta)})
    ds.log_z.attrs.update(units="nats", long_name="ln Z")
    ds["std"].attrs.update(units="nats", long_name="standard deviation of ln Z")
    ds.seconds.attrs.update(units="s")
    if test is not None:
        mean_neg_f = float(np.mean(-ham.beta * ham.free_energy(test)))
        ds["log_likelihood"] = ("estimator", mean_neg_f - ds.log_z.values)
        ds.log_likelihood.attrs.update(units="nats per sample", long_name="mean test log-likelihood")
    return ds
