"""Every ``ln Z`` estimator of one model side by side, each with whether it holds there.

=================  ===================================================  ==========================
method             what                                                 holds when
=================  ===================================================  ==========================
``exact``          enumeration of the smaller layer                     min(N, M) ≤ 25
``gaussian``       Gaussian density of states per mode (docs/physics.md §6)     βσ_k s² < 1, small biases
``mean_field``     naive mean field (a lower bound at a fixed point)    converged, error est. ≤ 0.1
``tap``            second-order TAP                                     converged, error est. ≤ 0.1
``lower_bound``    variational bound, hidden units summed (rigorous)    always
``ais``            annealed importance sampling (low in expectation)    enough effective samples
``reverse_ais``    reverse AIS from model samples (high in expectation) enough effective samples
=================  ===================================================  ==========================

"Holds" is :attr:`pyrbm.LogZ.valid`: the estimate is trustworthy for this model. No variable of a
returned Dataset is named like a Dataset method (``std``, ``mean``, ...): ``float(ds.log_z_std)`` works.

:func:`test_log_likelihood` runs the lower bound, forward AIS at growing schedule lengths,
reverse AIS from replica-exchange samples and RAISE, and returns the interval of the test
log-likelihood that they defend together, with a verdict that fails when they disagree.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import xarray as xr

from . import freeenergy
from ._checks import check_float_dtype, check_hamiltonian, check_int, check_positive, check_seed, fresh_seed
from .annealing import (CLASSIC_N_BETAS, _check_schedule, _configurations, ais, raise_log_likelihood, reverse_ais,
                        trajectory_ais)
from .bounds import log_z_lower_bound
from .samplers import GibbsSampler, ReplicaExchangeSampler

__all__ = ["METHODS", "BUDGETS", "compare_log_z", "ais_convergence", "test_log_likelihood"]

#: Estimators :func:`compare_log_z` runs, in table order.
METHODS = ("exact", "gaussian", "mean_field", "tap", "lower_bound", "ais", "reverse_ais")


def _row(log_z=np.nan, std=np.nan, valid=False, reason=""):
    return {"log_z": float(log_z), "log_z_std": float(std), "valid": bool(valid), "reason": str(reason)}


def _run(method, ham, opts):
    if method == "exact":
        if min(ham.n_visible, ham.n_hidden) > freeenergy.EXACT_MAX_UNITS:
            return _row(reason=f"not enumerable: min(N, M) = {min(ham.n_visible, ham.n_hidden)} > "
                               f"{freeenergy.EXACT_MAX_UNITS}")
        return _row(float(freeenergy.exact_log_z(ham)), 0.0, True)
    if method in ("gaussian", "mean_field", "tap"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = getattr(freeenergy, "gaussian_log_z" if method == "gaussian" else method)(ham)
        # where the Gaussian cannot apply (an unstable mode) its ln Z is infinite: the table shows NaN
        return _row(res.log_z if np.isfinite(res.log_z) else np.nan, res.std, res.valid, res.reason)
    if method == "lower_bound":
        starts = [x for x in (opts["data"], opts["samples"]) if x is not None]
        res = log_z_lower_bound(ham, starts=starts, seed=opts["seeds"][0])
        return _row(res.log_z, res.std, res.valid, res.reason)
    kw = {"n_betas": opts["n_betas"], "schedule": opts["schedule"], "dtype": opts["dtype"]}
    if method == "ais":
        res = ais(ham, n_chains=opts["n_chains"], seed=opts["seeds"][0], data=opts["data"], **kw)
        return _row(res.log_z, res.std, res.valid, res.reason)
    samples, origin = opts["samples"], "given samples"
    if samples is None:
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
        used), ``log_z_std`` (statistical standard deviation, 0 for deterministic methods),
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
        {"log_z": col("log_z"), "log_z_std": col("log_z_std"), "valid": col("valid"), "reason": col("reason", str),
         "seconds": col("seconds")},
        coords={"estimator": list(methods)}, attrs={"seed": int(seed), "beta": float(ham.beta)})
    ds.log_z.attrs.update(units="nats", long_name="ln Z")
    ds.log_z_std.attrs.update(units="nats", long_name="standard deviation of ln Z")
    ds.seconds.attrs.update(units="s")
    if test is not None:
        mean_neg_f = float(np.mean(-ham.beta * ham.free_energy(test)))
        ds["log_likelihood"] = ("estimator", mean_neg_f - ds.log_z.values)
        ds.log_likelihood.attrs.update(units="nats per sample", long_name="mean test log-likelihood")
    return ds


# ---------------------------------------------------------------------------- convergence
#: Work presets of :func:`test_log_likelihood`: schedule lengths of the convergence series (the last
#: one gives the forward and reverse AIS estimates), chains, replica-exchange sweeps and replicas before
#: reverse AIS, the RAISE subset (examples, chains per example, schedule length), and the steps per
#: record of trajectory AIS (with a history).
BUDGETS = {
    "tiny": {"n_betas": (250, 1000), "n_chains": 100, "n_sweeps": 500, "n_replicas": 8,
             "raise_examples": 50, "raise_chains": 5, "raise_betas": 1000, "trajectory_steps": 200},
    "quick": {"n_betas": (2000, 15000), "n_chains": 100, "n_sweeps": 2000, "n_replicas": 16,
              "raise_examples": 100, "raise_chains": 10, "raise_betas": 2000, "trajectory_steps": 1000},
    "paper": {"n_betas": (2000, 15000, 50000), "n_chains": 100, "n_sweeps": 10000, "n_replicas": 32,
              "raise_examples": 1000, "raise_chains": 10, "raise_betas": 15000, "trajectory_steps": 2000},
}
_SIGMAS = 2.0  # the interval ends and the drift test use ± 2 standard deviations


def _drift(results):
    """Drift of the last estimate from the one before, its error, and whether it is within the error."""
    if len(results) < 2:
        return float("nan"), float("nan"), True
    a, b = results[-2], results[-1]
    drift = b.log_z - a.log_z
    error = _SIGMAS * float(np.hypot(a.std, b.std))
    return float(drift), error, bool(np.isfinite(error) and abs(drift) <= error)


def _convergence(ham, n_betas_list, *, n_chains, schedule, seed, data, lower_bound, dtype):
    results, seconds = [], []
    for k, n_betas in enumerate(n_betas_list):
        t0 = time.perf_counter()
        results.append(ais(ham, n_chains=n_chains, n_betas=int(n_betas), schedule=schedule,
                           seed=(seed + k) % 2**64, data=data, lower_bound=lower_bound, dtype=dtype))
        seconds.append(time.perf_counter() - t0)
    drift, error, ok = _drift(results)
    ds = xr.Dataset(
        {"log_z": ("n_betas", [r.log_z for r in results]), "log_z_std": ("n_betas", [r.std for r in results]),
         "ess": ("n_betas", [r.ess for r in results]), "valid": ("n_betas", [r.valid for r in results]),
         "reason": ("n_betas", np.array([r.reason for r in results], dtype=str)), "seconds": ("n_betas", seconds)},
        coords={"n_betas": np.asarray(n_betas_list, dtype=np.int64)},
        attrs={"drift": drift, "drift_error": error, "converged": int(ok), "seed": int(seed)})
    ds.log_z.attrs.update(units="nats", long_name="ln Z by forward AIS")
    return ds, results


def _check_n_betas_list(n_betas):
    if isinstance(n_betas, (int, np.integer)) and not isinstance(n_betas, bool):
        n_betas = (n_betas,)
    values = tuple(check_int("n_betas", n, minimum=2) for n in n_betas)
    if not values or any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(f"n_betas: expected a non-empty strictly increasing sequence of schedule lengths ≥ 2, "
                         f"got {n_betas!r}")
    return values


def ais_convergence(ham, *, n_betas=(2000, 15000, 50000), n_chains: int = 100, schedule="three_piece",
                    seed: int | None = None, data=None, lower_bound="auto", dtype=np.float32) -> xr.Dataset:
    """Forward AIS at growing schedule lengths and the drift of the estimate.

    A converged AIS estimate does not move when the schedule is lengthened; one that is
    still climbing (or that has missed a mode and will only slowly find it) does. The
    drift is ``ln Ẑ(K_last) − ln Ẑ(K_prev)``; it is within the error when
    ``|drift| ≤ 2·√(std_prev² + std_last²)`` (false when either has no error bar). A
    drift within the error is necessary, not sufficient: an AIS run that missed a mode
    for good does not drift (check it against :func:`pyrbm.log_z_lower_bound`).

    Parameters
    ----------
    ham : Hamiltonian
    n_betas : sequence of int
        Strictly increasing schedule lengths (each ≥ 2).
    n_chains, schedule, data, lower_bound, dtype
        As for :func:`pyrbm.ais`.
    seed : int, optional
        Run ``k`` uses ``seed + k``; ``None`` draws one.

    Returns
    -------
    xarray.Dataset
        Dimension ``n_betas``; variables ``log_z`` (nats), ``log_z_std``, ``ess``, ``valid``,
        ``reason``, ``seconds``. Attributes ``drift``, ``drift_error`` (nats),
        ``converged`` (1/0) and ``seed``.
    """
    ham = check_hamiltonian(ham)
    n_betas = _check_n_betas_list(n_betas)
    n_chains = check_int("n_chains", n_chains, minimum=2)
    seed = check_seed(seed)
    seed = fresh_seed() if seed is None else seed
    return _convergence(ham, n_betas, n_chains=n_chains, schedule=schedule, seed=seed, data=data,
                        lower_bound=lower_bound, dtype=check_float_dtype(dtype))[0]


# ---------------------------------------------------------------------------- the verdict
def _replica_samples(ham, n_chains, n_sweeps, n_replicas, train, seed, dtype):
    """Model samples for reverse AIS: the β-replica of replica-exchange chains (hot replicas at
    β·geomspace(0.05, 1)) after ``n_sweeps`` sweeps, started from training rows when given."""
    ladder = ham.beta * np.geomspace(0.05, 1.0, n_replicas)
    ladder[-1] = ham.beta
    sampler = ReplicaExchangeSampler(n_chains, betas=ladder, seed=seed, dtype=dtype)
    v0 = None if train is None else train[np.arange(n_chains) % train.shape[0]]
    state = sampler.advance(ham, state=sampler.init_state(ham, v0=v0), n_steps=n_sweeps)
    rows = slice((n_replicas - 1) * n_chains, n_replicas * n_chains)
    origin = (f"replica exchange, {n_replicas} replicas β·[0.05 … 1], {n_sweeps} sweeps from "
              f"{'training rows' if v0 is not None else 'uniform configurations'}")
    return np.array(state.v[rows], dtype=np.float64), origin


def test_log_likelihood(ham, data, *, train=None, samples=None, history=None, budget="quick",
                        tolerance: float = 1.0, schedule="three_piece", seed: int | None = None,
                        dtype=np.float32) -> xr.Dataset:
    r"""Test log-likelihood with the interval that every estimator defends together, and a verdict.

    Runs, on one model:

    * ``lower_bound`` — :func:`pyrbm.log_z_lower_bound` from the uniform point and the
      training and test rows: :math:`\ln Z \ge L_{var}` always;
    * ``ais`` — forward AIS at the budget's growing schedule lengths
      (:func:`ais_convergence`), the last one the estimate: :math:`\ln\hat Z` is low in
      expectation, and is marked invalid below the lower bound;
    * ``reverse_ais`` — reverse AIS from the β-replica of replica-exchange chains
      (:class:`pyrbm.ReplicaExchangeSampler`; hot replicas carry the chains between
      modes, which plain Gibbs chains of the same length do not cross, and reverse AIS is
      high in expectation only from equilibrium samples), or from ``samples``;
    * ``trajectory_ais`` (with ``history``) — :func:`pyrbm.trajectory_ais` through the saved
      parameters of the training run that ended at ``ham``, its last record;
    * ``raise`` — :func:`pyrbm.raise_log_likelihood` on a random subset of ``data``: a
      stochastic lower bound on the annealing model's log-likelihood, i.e. an upper
      estimate :math:`\ln Z \lesssim \overline{\ln f}_{sub} - \overline{\mathrm{RAISE}}`.

    Interval on ``ln Z``: lower end :math:`L = \max(L_{var},\ \ln\hat Z_{AIS} - 2\sigma)`
    over the valid AIS estimates (temperature and trajectory); upper end :math:`U` the larger (the more conservative) of
    :math:`\ln\hat Z_{rev} + 2\sigma` and the RAISE value :math:`+ 2\sigma`, over those that are valid.
    The test log-likelihood per example is :math:`\overline{-\beta F(v)} - \ln Z`, so its
    interval is :math:`[\overline{-\beta F} - U,\ \overline{-\beta F} - L]`.

    The verdict ``interval_valid`` is false, with every reason in ``interval_reason``, when
    AIS has no error bar or lies below the lower bound; forward and reverse AIS differ by
    more than ``tolerance`` nats (per example: ``ln Z`` is shared); the schedule-length
    series drifts by more than its error; the ends contradict each other (:math:`U < L`); or
    the interval is wider than ``tolerance`` (the estimators cannot decide).

    Parameters
    ----------
    ham : Hamiltonian
        Binary or spin units.
    data : array_like, shape (n_test, N)
        Test examples (at least one).
    train : array_like, shape (n, N), optional
        Training data: fits the AIS base model, starts the lower bound and the replica chains.
    samples : array_like, shape (C, N), optional
        Model samples to start reverse AIS from instead of replica exchange.
    history : xarray.Dataset, optional
        Training history with the parameters of every record (``record_params=True``) whose
        last record is ``ham``: adds trajectory AIS.
    budget : {"tiny", "quick", "paper"} or dict
        Work preset of :data:`BUDGETS` (a dict overrides keys of ``"quick"``).
    tolerance : float
        Nats per example (> 0).
    schedule : str or array
        Named schedule of every annealing run.
    seed : int, optional
        Base seed of every random step; ``None`` draws one.
    dtype : {numpy.float32, numpy.float64}

    Returns
    -------
    xarray.Dataset
        Dimension ``estimator`` = (``lower_bound``, ``ais``, ``reverse_ais``, ``raise``, and
        ``trajectory_ais`` with a history) with
        ``log_z`` (nats; for RAISE its upper estimate), ``log_likelihood`` (nats per test
        example, ``mean(−βF) − log_z``), ``log_z_std``, ``ess``, ``valid``, ``reason``,
        ``seconds``; dimension ``n_betas`` with the convergence series ``convergence_log_z``
        and ``convergence_std``; scalars ``log_z_low``, ``log_z_high``, ``ll_low``,
        ``ll_high``, ``interval_valid`` and ``mean_neg_free_energy``. Attributes
        ``interval_reason``, ``reverse_start``, ``drift``, ``drift_error``, ``tolerance``,
        ``seed``. ``ds.ll_low``/``ds.ll_high`` are what a figure draws per epoch.
    """
    ham = check_hamiltonian(ham)
    data = _configurations("data", data, ham)
    train = None if train is None else _configurations("train", train, ham)
    if samples is not None:
        samples = _configurations("samples", samples, ham)
        if samples.shape[0] < 2:
            raise ValueError(f"samples: expected at least 2 configurations, got {samples.shape[0]}")
    tolerance = check_positive("tolerance", tolerance)
    if isinstance(budget, str):
        if budget not in BUDGETS:
            raise ValueError(f"budget: expected one of {tuple(BUDGETS)} or a dict, got {budget!r}")
        opts = dict(BUDGETS[budget])
    elif isinstance(budget, dict):
        unknown = set(budget) - set(BUDGETS["quick"])
        if unknown:
            raise ValueError(f"budget: unknown keys {sorted(unknown)}; expected some of {sorted(BUDGETS['quick'])}")
        opts = {**BUDGETS["quick"], **budget}
    else:
        raise TypeError(f"budget: expected a preset name or a dict, got {type(budget).__name__}")
    n_betas_list = _check_n_betas_list(opts["n_betas"])
    for key in ("n_chains", "n_sweeps", "n_replicas", "raise_examples", "raise_chains", "raise_betas",
                "trajectory_steps"):
        opts[key] = check_int(key, opts[key], minimum={"n_sweeps": 0, "n_replicas": 2, "raise_chains": 1,
                                                        "n_chains": 2, "raise_betas": 2}.get(key, 1))
    dtype = check_float_dtype(dtype)
    seed = check_seed(seed)
    seed = fresh_seed() if seed is None else seed
    seeds = [(seed + 101 * i) % 2**64 for i in range(6)]
    rows = {}

    # the rigorous lower bound
    t0 = time.perf_counter()
    starts = [data] + ([train] if train is not None else []) + ([samples] if samples is not None else [])
    bound = log_z_lower_bound(ham, starts=starts, seed=seeds[0])
    rows["lower_bound"] = (bound.log_z, 0.0, np.nan, True, bound.reason, time.perf_counter() - t0)

    # forward AIS and its convergence series
    t0 = time.perf_counter()
    conv, results = _convergence(ham, n_betas_list, n_chains=opts["n_chains"], schedule=schedule, seed=seeds[1],
                                 data=train, lower_bound=bound, dtype=dtype)
    fwd = results[-1]
    rows["ais"] = (fwd.log_z, fwd.std, fwd.ess, fwd.valid, fwd.reason, time.perf_counter() - t0)

    # reverse AIS from replica exchange (or given samples)
    t0 = time.perf_counter()
    if samples is None:
        samples, origin = _replica_samples(ham, opts["n_chains"], opts["n_sweeps"], opts["n_replicas"], train,
                                           seeds[2], dtype)
    else:
        origin = "given samples"
    rev = reverse_ais(ham, samples, n_betas=n_betas_list[-1], schedule=schedule, seed=seeds[3], data=train,
                      lower_bound=bound, dtype=dtype)
    rev_reason = "; ".join(filter(None, [rev.reason, f"started from {origin}"]))
    rows["reverse_ais"] = (rev.log_z, rev.std, rev.ess, rev.valid, rev_reason, time.perf_counter() - t0)

    # RAISE on a subset of the test data
    t0 = time.perf_counter()
    rng = np.random.default_rng(seeds[4])
    n_sub = min(opts["raise_examples"], data.shape[0])
    subset = np.sort(rng.choice(data.shape[0], size=n_sub, replace=False))
    ra = raise_log_likelihood(ham, data[subset], n_betas=opts["raise_betas"], n_chains=opts["raise_chains"],
                              schedule=schedule, seed=seeds[4], train=train, dtype=dtype)
    ln_f_sub = float(np.mean(-ham.beta * ham.free_energy(data[subset])))
    raise_log_z = ln_f_sub - float(ra.ll_mean)
    raise_std = float(ra.std_mc)
    raise_ok = bool(np.isfinite(raise_std))
    raise_reason = (f"upper estimate of ln Z from RAISE on {n_sub} of {data.shape[0]} test examples, "
                    f"{opts['raise_chains']} chains each, {opts['raise_betas']} betas"
                    + ("" if raise_ok else "; one chain per example: no error bar"))
    rows["raise"] = (raise_log_z, raise_std, float(np.median(ra.ess)), raise_ok, raise_reason,
                     time.perf_counter() - t0)

    # trajectory AIS through the saved records
    reasons = []
    lows = [bound.check_value]
    if history is not None:
        t0 = time.perf_counter()
        tr = trajectory_ais(history, n_chains=opts["n_chains"], n_steps=opts["trajectory_steps"],
                            n_betas=n_betas_list[0], seed=seeds[5], data=train, dtype=dtype)
        last = {k: float(tr[k][-1]) for k in ("log_z", "log_z_std", "ess")}
        W_last = np.asarray(history.W[-1]) if "W" in history else None
        tr_reasons = []
        if W_last is None or not np.allclose(W_last, ham.W, rtol=1e-6, atol=1e-6):
            tr_reasons.append("the last record of the history is not this model")
        if not np.isfinite(last["log_z_std"]):
            tr_reasons.append("no error bar (effective sample size below 1.5)")
        elif last["log_z"] + 3 * last["log_z_std"] < bound.check_value:
            tr_reasons.append(f"ln Z estimate {last['log_z']:.6g} lies below the rigorous lower bound "
                              f"{bound.check_value:.6g}")
        rows["trajectory_ais"] = (last["log_z"], last["log_z_std"], last["ess"], not tr_reasons, "; ".join(tr_reasons),
                                  time.perf_counter() - t0)
        if not tr_reasons:
            lows.append(last["log_z"] - _SIGMAS * last["log_z_std"])

    # the interval and the verdict
    if fwd.valid:
        lows.append(fwd.log_z - _SIGMAS * fwd.std)
    else:
        reasons.append(f"forward AIS is invalid: {fwd.reason}")
    low = max(lows)
    uppers = [v + _SIGMAS * s for v, s, ok in ((rev.log_z, rev.std, rev.valid), (raise_log_z, raise_std, raise_ok))
              if ok]
    high = max(uppers) if uppers else float("inf")
    if not rev.valid:
        reasons.append(f"reverse AIS is invalid: {rev.reason}")
    if abs(fwd.log_z - rev.log_z) > tolerance:
        reasons.append(f"forward and reverse AIS differ by {abs(fwd.log_z - rev.log_z):.3g} nats per example "
                       f"(> tolerance {tolerance:g})")
    drift, error, converged = _drift(results)
    if not converged:
        reasons.append(f"the AIS estimate moved by {drift:.3g} nats from {n_betas_list[-2]} to {n_betas_list[-1]} "
                       f"betas, more than its error {error:.3g}")
    if high < low:
        reasons.append(f"the estimators contradict each other: upper end {high:.6g} below lower end {low:.6g}")
    elif high - low > tolerance:
        reasons.append(f"cannot decide: the defended interval is {high - low:.3g} nats wide (> tolerance "
                       f"{tolerance:g})")
    mean_f = float(np.mean(-ham.beta * ham.free_energy(data)))
    names = list(rows)

    def col(i, dtype=float):
        return ("estimator", np.array([rows[n][i] for n in names], dtype=dtype))

    ds = xr.Dataset(
        {"log_z": col(0), "log_z_std": col(1), "ess": col(2), "valid": col(3, bool), "reason": col(4, str),
         "seconds": col(5), "convergence_log_z": conv.log_z, "convergence_std": conv.log_z_std,
         "log_z_low": low, "log_z_high": high, "ll_low": mean_f - high, "ll_high": mean_f - low,
         "interval_valid": not reasons, "mean_neg_free_energy": mean_f},
        coords={"estimator": names},
        attrs={"interval_reason": "; ".join(reasons), "reverse_start": origin, "drift": drift,
               "drift_error": error, "tolerance": float(tolerance), "seed": int(seed), "beta": float(ham.beta),
               "n_test": int(data.shape[0])})
    ds["log_likelihood"] = mean_f - ds.log_z
    ds.log_likelihood.attrs.update(units="nats per example", long_name="test log-likelihood")
    for name in ("log_z", "log_z_low", "log_z_high"):
        ds[name].attrs.update(units="nats")
    for name in ("ll_low", "ll_high"):
        ds[name].attrs.update(units="nats per example")
    return ds


test_log_likelihood.__test__ = False  # not a test for pytest when imported into a test module
