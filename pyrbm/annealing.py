r"""Annealed importance sampling (AIS) and reverse AIS estimates of ``ln Z``.

The path runs from an independent-site base model over the visible units,
:math:`p_A(v) \propto e^{a_A^\top v}`, to the RBM at its inverse temperature β, through

.. math::

    p_k(v) \propto f_k(v) = \exp\big((1-\beta_k)\,a_A^\top v + \beta_k\beta\,a^\top v\big)
        \prod_j \sum_{h_j} e^{\beta_k\beta\,h_j (b + W^\top v)_j},
    \qquad 0 = \beta_0 < \beta_1 < \dots < \beta_K = 1,

the hidden units summed analytically: :math:`\ln f_k(v) = (1-\beta_k) a_A^\top v +
\beta_k\beta a^\top v + \sum_j g(\beta_k\beta(b + W^\top v)_j)` with
:math:`g(z) = \ln(1 + e^z)` (binary units) or :math:`\ln 2\cosh z` (spin units).
:math:`Z_0 = 2^M \prod_i \sum_{v_i} e^{a_{A,i} v_i}` is known exactly and
:math:`Z_K = Z`. Between two temperatures a chain gains the log-weight
:math:`\ln f_k(v) - \ln f_{k-1}(v)` and then makes one block-Gibbs sweep that leaves
:math:`p_k` invariant,

.. math::

    h \sim \sigma\big(\lambda\beta_k\beta(b + W^\top v)\big),\qquad
    v \sim \sigma\big(\lambda[(1-\beta_k)a_A + \beta_k\beta(a + W h)]\big),

(:math:`\lambda = 1` binary, 2 spin: probability of 1, resp. +1). With ``C`` chains of
log-weights :math:`w_c`,

* AIS (Neal 2001; Salakhutdinov & Murray 2008) starts from exact samples of
  :math:`p_A`: :math:`\ln\hat Z = \ln Z_0 + \operatorname{logsumexp}_c w_c - \ln C`.
  :math:`\hat Z` is unbiased, so :math:`\ln\hat Z` is low in expectation (Jensen) and
  :math:`P(\ln\hat Z > \ln Z + t) \le e^{-t}` (Markov): a stochastic lower bound. It can
  still be far too low with a healthy effective sample size when the chains miss a mode;
  :func:`pyrbm.log_z_lower_bound` catches that (:attr:`AISResult.valid`).
* Reverse AIS runs the same path backwards from samples of the RBM to :math:`p_A`; its
  weights estimate :math:`Z_0/Z`:
  :math:`\ln\hat Z = \ln Z_0 - (\operatorname{logsumexp}_c w_c - \ln C)`. From *exact*
  model samples it is a stochastic upper bound (high in expectation; the reverse half of
  bidirectional Monte Carlo, Grosse, Ghahramani & Adams 2015). From approximate samples
  (Gibbs chains that have not mixed between modes) it is not a bound at all and can land
  below ``ln Z``.
* RAISE (Burda, Grosse & Salakhutdinov 2015, :func:`raise_log_likelihood`) runs the reverse
  path from each *test example* and gives a stochastic lower bound on the log-likelihood of
  the annealing model, which approaches the RBM as the schedule is refined.
* :func:`trajectory_ais` anneals through the saved parameters of a training run instead of
  temperature.

Matrix products run in BLAS in the chains' dtype; sampling uses
:func:`pyrbm._kernels.gibbs.sample_layer` and the log-weights are accumulated in
float64 (:func:`pyrbm._kernels.annealing.log_weight_step`). The same seed gives the
same numbers bit for bit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.special import logsumexp

from ._checks import (
    as_configuration,
    check_finite_array,
    check_fits,
    check_float_dtype,
    check_hamiltonian,
    check_int,
    check_seed,
    fresh_seed,
)
from ._kernels.annealing import log_weight_step
from ._kernels.gibbs import default_tile_rows, sample_layer
from ._kernels.rng import make_streams
from ._threads import run_tiles, sampler_threads
from .hamiltonian import Hamiltonian, log2cosh, softplus

from .bounds import LowerBound, log_z_lower_bound
from .freeenergy import LogZ

__all__ = ["AISResult", "SCHEDULES", "CLASSIC_N_BETAS", "annealing_schedule", "ais", "reverse_ais",
           "raise_log_likelihood", "trajectory_ais"]

#: Schedule names understood by :func:`annealing_schedule`.
SCHEDULES = ("linear", "geometric", "three_piece")
#: Inverse temperatures of the classic three-piece schedule (14,500 steps).
CLASSIC_N_BETAS = 14_501
_GEOMETRIC_START = 1e-3
_PIECES = ((0.5, 500), (0.9, 4_000), (1.0, 10_000))  # (end, steps) of Salakhutdinov & Murray (2008)
_SPREAD = 3.0  # log_z_low/high: ln of the mean weight ∓ 3 standard errors
_GROUPS = 10  # independent groups of chains behind the group standard deviation
_BOOTSTRAP = 200  # bootstrap resamples of the chains
_BOUND_ITER = 200  # mean-field iterations of the automatic lower bound (it holds at every iterate)
_MIN_ESS_BAR = 1.5  # below this effective sample size one chain carries the estimate: no error bar


@dataclass(frozen=True, eq=False, repr=False)
class AISResult(LogZ):
    """``ln Z`` from (reverse) annealed importance sampling; a :class:`LogZ` with the weights.

    Attributes
    ----------
    log_z, std, method, valid, reason, beta
        As for every :class:`LogZ`; ``method`` is ``"ais"`` or ``"reverse_ais"``.
        ``std`` is the standard deviation of ``ln Ẑ``: with well-spread weights (ESS ≥ C/4)
        the largest of the delta method ``std(e^w) / (√C mean(e^w))`` (:attr:`std_delta`),
        the spread of the estimates of ``G = min(10, C/2)`` independent groups of chains
        divided by ``√G``, a bootstrap over chains (200 resamples) and the log-normal value
        ``√((e^{var w} − 1)/C)``; with heavy-tailed weights (ESS < C/4), where all of these
        miss the chains not drawn, the spread of the group estimates itself (that of a run
        with ``C/G`` chains: conservative). ``valid`` is false when ESS < ``min(20, C/2)``
        (a few chains carry the estimate); ``std`` is NaN when ESS < 1.5 (one chain carries
        it: too low for any error bar). ``valid`` is also false when ``ln Ẑ`` lies more
        than three ``std`` below the rigorous lower bound :attr:`lower_bound` (below it at
        all without an error bar): the annealing missed part of the distribution — a
        mode — which ESS does not show.
    log_weights : ndarray, shape (C,), float64
        Per-chain log-weights ``w_c`` (reverse AIS: estimates of ``ln(Z_0/Z)``).
    ess : float
        Effective sample size of the weights, ``(Σ e^w)² / Σ e^{2w}``, in [1, C].
    std_delta : float
        The delta-method standard deviation alone (nats).
    lower_bound : float
        The lower bound on ``ln Z`` the estimate was checked against
        (:meth:`LowerBound.check_value` of :func:`pyrbm.log_z_lower_bound`; NaN: not checked).
    log_z_low, log_z_high : float
        ``ln Z`` from the mean weight minus and plus three delta-method standard errors (may be ∓inf).
    log_z_base : float
        ``ln Z_0`` of the start of the path (base model and 2^M hidden configurations).
    base_bias : ndarray, shape (N,)
        Natural parameters ``a_A`` of the base model, ``p_A(v) ∝ exp(a_A·v)``.
    schedule : ndarray, shape (K+1,)
        Inverse temperatures ``β_k`` from 0 to 1 (in the direction of the path for AIS).
    n_chains : int
    seed : int
    """

    log_weights: np.ndarray | None = None
    ess: float = float("nan")
    std_delta: float = float("nan")
    lower_bound: float = float("nan")
    log_z_low: float = float("nan")
    log_z_high: float = float("nan")
    log_z_base: float = float("nan")
    base_bias: np.ndarray | None = None
    schedule: np.ndarray | None = None
    n_chains: int = 0
    seed: int | None = None


# ---------------------------------------------------------------------------- schedules
def annealing_schedule(kind: str = "three_piece", *, n_betas: int = CLASSIC_N_BETAS) -> np.ndarray:
    r"""Inverse temperatures ``0 = β_0 < … < β_K = 1`` of an annealing path (``K = n_betas − 1`` steps).

    Parameters
    ----------
    kind : {"linear", "geometric", "three_piece"}
        ``"linear"``: equal steps. ``"geometric"``: ``β_0 = 0`` then ``n_betas − 1`` values
        in geometric progression from 10⁻³ to 1. ``"three_piece"``: the schedule of
        Salakhutdinov & Murray (2008), steps of 10⁻³ up to 0.5, 10⁻⁴ up to 0.9 and
        10⁻⁵ up to 1 (500 + 4,000 + 10,000 = 14,500 steps at ``n_betas = 14501``); other
        lengths keep the three pieces in the same proportions of steps.
    n_betas : int
        Number of inverse temperatures, both ends included (≥ 2 linear, ≥ 3 geometric,
        ≥ 4 three_piece).

    Returns
    -------
    ndarray, shape (n_betas,), float64
    """
    if kind not in SCHEDULES:
        raise ValueError(f"schedule: expected one of {SCHEDULES} or an array of inverse temperatures "
                         f"from 0 to 1, got {kind!r}")
    minimum = {"linear": 2, "geometric": 3, "three_piece": 4}[kind]
    n_betas = check_int("n_betas", n_betas, minimum=minimum)
    if kind == "linear":
        out = np.linspace(0.0, 1.0, n_betas)
    elif kind == "geometric":
        out = np.concatenate([[0.0], np.geomspace(_GEOMETRIC_START, 1.0, n_betas - 1)])
    else:
        n_steps = n_betas - 1
        total = sum(s for _, s in _PIECES)
        s1 = max(1, round(n_steps * _PIECES[0][1] / total))
        s2 = max(1, round(n_steps * _PIECES[1][1] / total))
        s2 = min(s2, n_steps - s1 - 1)
        parts, start = [np.zeros(1)], 0.0
        for (end, _), steps in zip(_PIECES, (s1, s2, n_steps - s1 - s2)):
            parts.append(np.linspace(start, end, steps + 1)[1:])
            start = end
        out = np.concatenate(parts)
    out[0], out[-1] = 0.0, 1.0
    return out


def _check_schedule(schedule, n_betas) -> np.ndarray:
    if isinstance(schedule, str):
        return annealing_schedule(schedule, n_betas=CLASSIC_N_BETAS if n_betas is None else n_betas)
    betas = check_finite_array("schedule", schedule, ndim=1)
    if betas.size < 2:
        raise ValueError(f"schedule: expected at least 2 inverse temperatures (0 and 1), got {betas.size}")
    if betas[0] != 0.0 or betas[-1] != 1.0:
        raise ValueError(f"schedule: the inverse temperatures must start at exactly 0 (base model) and end at "
                         f"exactly 1 (the model), got first {float(betas[0])!r} and last {float(betas[-1])!r}; "
                         "e.g. pass pyrbm.annealing_schedule('linear', n_betas=1000)")
    steps = np.diff(betas)
    if np.any(steps <= 0):
        k = int(np.flatnonzero(steps <= 0)[0])
        raise ValueError(f"schedule: expected strictly increasing inverse temperatures, got "
                         f"beta[{k}]={float(betas[k])!r} followed by beta[{k + 1}]={float(betas[k + 1])!r}")
    if n_betas is not None and int(n_betas) != betas.size:
        raise ValueError(f"n_betas: got {n_betas} with an explicit schedule of {betas.size} values; "
                         "leave n_betas=None when passing an array")
    return betas.copy()


# ---------------------------------------------------------------------------- base model
def _base_bias(ham, data, base_bias) -> np.ndarray:
    """Natural parameters a_A of the independent-site base model (validated, float64)."""
    n = ham.n_visible
    if data is not None and base_bias is not None:
        raise ValueError("data, base_bias: give at most one of them (the base model is fitted to data or "
                         "given by its biases)")
    if base_bias is not None:
        return check_finite_array("base_bias", base_bias, shape=(n,)).copy()
    if data is None:
        return ham.beta * np.asarray(ham.a, dtype=np.float64)
    data = _configurations("data", data, ham)
    # smoothed frequency of the "up" value (1 binary, +1 spin): p = (count + 1/2) / (n + 1)
    up = np.count_nonzero(data == 1.0, axis=0)
    p = (up + 0.5) / (data.shape[0] + 1.0)
    logit = np.log(p) - np.log1p(-p)
    return logit / 2.0 if ham.spin else logit


def _log_z_base(ham, base) -> float:
    """ln Z_0 = Σ_i ln Σ_{v_i} e^{a_A,i v_i} + M ln 2."""
    per_site = log2cosh(base) if ham.spin else softplus(base)
    return float(np.sum(per_site) + ham.n_hidden * np.log(2.0))


def _configurations(name, x, ham) -> np.ndarray:
    x = as_configuration(name, x, ham.n_visible, ham.units)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty 2-d array (n_samples, {ham.n_visible}), got shape {x.shape}")
    return x


# ---------------------------------------------------------------------------- the path
def _anneal(ham, betas, base, v, streams) -> np.ndarray:
    """Log-weights of chains started at ``v`` (overwritten) along ``betas``; one Gibbs sweep per step."""
    n_chains = v.shape[0]
    dtype = v.dtype
    beta, spin = ham.beta, ham.spin
    W = np.array(ham.W, dtype=dtype, order="C", copy=True)
    WT = W.T  # BLAS reads the transpose in place
    a = np.asarray(ham.a, dtype=np.float64)
    b = np.array(ham.b, dtype=np.float64, copy=True)
    c = beta * a - base
    field_h = np.empty((n_chains, ham.n_hidden), dtype=dtype)  # also holds h after sampling
    field_v = np.empty((n_chains, ham.n_visible), dtype=dtype)
    work = np.empty((n_chains, 2 * ham.n_hidden + ham.n_visible))
    logw = np.zeros(n_chains)
    last = betas.size - 1
    rows = default_tile_rows(n_chains, ham.n_visible, ham.n_hidden, dtype)
    tiles = [slice(r, min(r + rows, n_chains)) for r in range(0, n_chains, rows)]

    def anneal_tile(i, slot):  # a thread takes a row tile through the whole path (pyrbm._threads)
        t = tiles[i]
        v_, field_h_, field_v_, logw_, work_, streams_ = v[t], field_h[t], field_v[t], logw[t], work[t], streams[t]
        for k in range(1, last + 1):
            s_new = betas[k] * beta
            np.matmul(v_, W, out=field_h_)
            log_weight_step(field_h_, v_, b, c, s_new, betas[k - 1] * beta, betas[k] - betas[k - 1], spin, logw_,
                            work_)
            if k == last:
                break
            # one sweep leaving p_k invariant: v bias (1-β_k) a_A + β_k β a at scale β_k β
            sample_layer(field_h_, b, s_new, spin, streams_, field_h_)
            np.matmul(field_h_, WT, out=field_v_)
            sample_layer(field_v_, a + ((1.0 - betas[k]) / s_new) * base, s_new, spin, streams_, v_)

    run_tiles(anneal_tile, len(tiles))
    return logw


def _log_mean(logw, axis=None):
    return logsumexp(logw, axis=axis) - np.log(logw.shape[-1] if axis is not None else logw.size)


def _spread(logw, seed, heavy):
    """Standard deviations of ln mean(e^w): delta method, and the honest one (see AISResult.std)."""
    n = logw.size
    w = np.exp(logw - np.max(logw))
    delta = float(np.std(w, ddof=1) / (np.sqrt(n) * np.mean(w)))
    n_groups = min(_GROUPS, n // 2)
    size = n // n_groups
    groups = _log_mean(logw[: n_groups * size].reshape(n_groups, size), axis=1)
    group = float(np.std(groups, ddof=1))
    if heavy:  # a few chains carry the estimate: no 1/√G, the spread of a run G times smaller
        return delta, max(delta, group)
    rng = np.random.default_rng([seed, 0x5EED])
    boot = float(np.std(_log_mean(logw[rng.integers(0, n, size=(_BOOTSTRAP, n))], axis=1), ddof=1))
    lognormal = float(np.sqrt(np.expm1(min(np.var(logw, ddof=1), 700.0)) / n))
    return delta, max(delta, group / np.sqrt(n_groups), boot, lognormal)


def _lower_bound(ham, lower_bound, starts, seed):
    """The lower bound the estimate is checked against: 'auto' computes it, None skips (NaN)."""
    if lower_bound is None:
        return float("nan")
    if isinstance(lower_bound, str):
        if lower_bound != "auto":
            raise ValueError(f"lower_bound: expected 'auto', None, a number or a pyrbm.LowerBound, got {lower_bound!r}")
        return log_z_lower_bound(ham, starts=starts, n_samples=0, seed=seed, max_iter=_BOUND_ITER).check_value
    if isinstance(lower_bound, LowerBound):
        return lower_bound.check_value
    value = float(lower_bound)
    if not np.isfinite(value):
        raise ValueError(f"lower_bound: expected a finite number, got {lower_bound!r}")
    return value


def _result(ham, logw, betas, base, log_z0, seed, reverse, bound) -> AISResult:
    n = logw.size
    shift = float(np.max(logw))
    w = np.exp(logw - shift)
    mean, sd = float(np.mean(w)), float(np.std(w, ddof=1))
    se = sd / np.sqrt(n)
    log_mean = float(_log_mean(logw))
    ess = float(np.sum(w) ** 2 / np.sum(w * w))
    lo = shift + (np.log(mean - _SPREAD * se) if mean > _SPREAD * se else -np.inf)
    hi = shift + np.log(mean + _SPREAD * se)
    if reverse:
        log_z, low, high = log_z0 - log_mean, log_z0 - hi, log_z0 - lo
    else:
        log_z, low, high = log_z0 + log_mean, log_z0 + lo, log_z0 + hi
    heavy = ess < n / 4.0
    delta, std = _spread(logw, seed, heavy)
    min_ess = min(20.0, n / 2.0)
    reasons = []
    if not np.isfinite(log_z):
        reasons.append("the estimate is not finite")
    if ess < _MIN_ESS_BAR:
        std = float("nan")
        reasons.append(f"effective sample size {ess:.3g} of {n} chains: one chain carries the estimate, too low for "
                       "any error bar; lengthen the schedule (n_betas) or add chains")
    elif ess < min_ess:
        reasons.append(f"effective sample size {ess:.3g} of {n} chains is below {min_ess:g}: a few chains carry the "
                       "estimate; its error bar is the spread of single groups of chains (conservative), "
                       "lengthen the schedule (n_betas) or add chains")
    if np.isfinite(bound) and (log_z + _SPREAD * std < bound or (log_z < bound and not np.isfinite(std))):
        reasons.append(f"ln Z estimate {log_z:.6g} lies {bound - log_z:.3g} nats below the rigorous lower bound "
                       f"{bound:.6g} (pyrbm.log_z_lower_bound): the annealing missed part of the distribution "
                       "(a mode), which neither ESS nor a longer schedule need reveal")
    return AISResult(log_z=float(log_z), std=float(std), method="reverse_ais" if reverse else "ais",
                     valid=not reasons, reason="; ".join(reasons), beta=float(ham.beta), log_weights=logw, ess=ess,
                     std_delta=delta, lower_bound=float(bound), log_z_low=float(low), log_z_high=float(high),
                     log_z_base=log_z0, base_bias=base, schedule=betas, n_chains=int(n), seed=seed)


_COMMON = """
    n_betas : int, optional
        Number of inverse temperatures, both ends included: default 14,501 for a named
        schedule (the classic 14,500 steps); ``None`` with an explicit array.
    schedule : {"three_piece", "linear", "geometric"} or array_like
        Named schedule (:func:`annealing_schedule`) or the inverse temperatures
        themselves, strictly increasing from exactly 0 to exactly 1.
    seed : int, optional
        Seed of the per-chain random streams; ``None`` draws one (recorded in the result).
    data : array_like, shape (n_samples, N), optional
        Training data to fit the base model to: ``a_A = logit((n_up + ½)/(n + 1))`` per
        unit (half of it for spin units). By default the base model is the model's own
        visible biases, ``a_A = βa``.
    base_bias : array_like, shape (N,), optional
        The base model's natural parameters ``a_A`` directly (instead of ``data``).
    dtype : {numpy.float32, numpy.float64}
        Precision of the chains and matrix products; log-weights are float64 always.
    lower_bound : "auto", None, float or LowerBound
        Rigorous lower bound on ``ln Z`` to check the estimate against (``valid`` is
        false when ``ln Ẑ + 3 std`` is below it). ``"auto"``: :func:`pyrbm.log_z_lower_bound`
        from the uniform point, the
        uncoupled means and ``data`` (and, for reverse AIS, the starting samples) — at most
        200 mean-field iterations, small next to the annealing. ``None``: no check.

    Returns
    -------
    AISResult
        ``float(result)`` is ``ln Ẑ`` (nats); ``result.log_weights`` the per-chain
        log-weights, ``result.ess`` their effective sample size.

    Notes
    -----
    Cost: ``n_betas − 1`` block-Gibbs sweeps of ``C`` chains (two ``C×N×M`` products each).
"""


def ais(ham, *, n_chains: int = 100, n_betas: int | None = CLASSIC_N_BETAS, schedule="three_piece",
        seed: int | None = None, data=None, base_bias=None, dtype=np.float32, lower_bound="auto") -> AISResult:
    r"""``ln Z`` by annealed importance sampling from an independent-site base model.

    Chains start from exact samples of the base model :math:`p_A(v) \propto e^{a_A^\top v}`
    and are annealed to the model; :math:`\hat Z` is unbiased and ``ln Ẑ`` is low in
    expectation. See the module documentation for the path and the transitions.

    Parameters
    ----------
    ham : Hamiltonian
        Binary or spin units, at its own β.
    n_chains : int
        Independent annealing runs C (≥ 2).
    """
    ham = check_hamiltonian(ham)
    n_chains = check_int("n_chains", n_chains, minimum=2)
    betas = _check_schedule(schedule, n_betas)
    seed = check_seed(seed)
    dtype = check_float_dtype(dtype)
    check_fits("n_chains", n_chains, 4.0 * n_chains * (ham.n_visible + ham.n_hidden) * np.dtype(dtype).itemsize,
               "the chains' states and fields", "use fewer chains (or average runs with different seeds)")
    base = _base_bias(ham, data, base_bias)
    seed = fresh_seed() if seed is None else seed
    streams = make_streams(seed, n_chains)
    v = np.empty((n_chains, ham.n_visible), dtype=dtype)
    with sampler_threads():  # exact samples of the base model: p(up) = σ(λ a_A)
        sample_layer(np.zeros_like(v), base, 1.0, ham.spin, streams, v)
    logw = _anneal(ham, betas, base, v, streams)
    bound = _lower_bound(ham, lower_bound, None if data is None else [_configurations("data", data, ham)], seed)
    return _result(ham, logw, betas, base, _log_z_base(ham, base), seed, reverse=False, bound=bound)


def reverse_ais(ham, samples, *, n_betas: int | None = CLASSIC_N_BETAS, schedule="three_piece",
                seed: int | None = None, data=None, base_bias=None, dtype=np.float32,
                lower_bound="auto") -> AISResult:
    r"""``ln Z`` by reverse AIS: anneal from samples of the model down to the base model.

    The path of :func:`ais` is run backwards (β from 1 to 0), one chain per sample.
    Started from *exact* samples of the model, ``ln Ẑ`` is high in expectation (the
    reverse half of bidirectional Monte Carlo, Grosse, Ghahramani & Adams 2015), so that
    with forward AIS it brackets ``ln Z`` in expectation. From approximate samples — Gibbs
    chains that have not crossed between modes, or data — it carries no such guarantee:
    from 100-sweep Gibbs chains it has landed 25 nats below ``ln Z``. Replica exchange
    (:class:`pyrbm.ReplicaExchangeSampler`) gives better starting samples; RAISE
    (:func:`raise_log_likelihood`) is the related estimator started from test data.

    Parameters
    ----------
    ham : Hamiltonian
        Binary or spin units, at its own β.
    samples : array_like, shape (C, N)
        Visible configurations of the model (0/1 or ±1), one chain each (C ≥ 2).
    """
    ham = check_hamiltonian(ham)
    samples = _configurations("samples", samples, ham)
    if samples.shape[0] < 2:
        raise ValueError(f"samples: expected at least 2 configurations (one chain each), got {samples.shape[0]}")
    betas = _check_schedule(schedule, n_betas)
    seed = check_seed(seed)
    dtype = check_float_dtype(dtype)
    base = _base_bias(ham, data, base_bias)
    seed = fresh_seed() if seed is None else seed
    streams = make_streams(seed, samples.shape[0])
    v = np.array(samples, dtype=dtype, order="C", copy=True)
    logw = _anneal(ham, betas[::-1].copy(), base, v, streams)
    starts = [samples] if data is None else [samples, _configurations("data", data, ham)]
    bound = _lower_bound(ham, lower_bound, starts, seed)
    return _result(ham, logw, betas, base, _log_z_base(ham, base), seed, reverse=True, bound=bound)


_RAISE_BLOCK = 4096  # chains annealed together by raise_log_likelihood (memory: a few × block × (N + M) floats)


def raise_log_likelihood(ham, data, *, n_betas: int | None = CLASSIC_N_BETAS, n_chains: int = 10,
                         schedule="three_piece", seed: int | None = None, train=None, base_bias=None,
                         dtype=np.float32) -> xr.Dataset:
    r"""Per-example log-likelihood by RAISE, reverse annealing started from each example.

    RAISE (Burda, Grosse & Salakhutdinov 2015): the forward annealing chain of :func:`ais`
    (base sample, then one sweep at each of :math:`\beta_1, \dots, \beta_{K-1}`) is itself a
    generative model :math:`p_{ann}(v)`, and the reverse chain started at a test example
    :math:`v` (the path of :func:`reverse_ais`, log-weight :math:`w = \sum_{k=1}^{K}[\ln f_{k-1}(v_k) -
    \ln f_k(v_k)]`, :math:`v_K = v`) is an importance proposal for it:

    .. math::

        \hat p(v) = \frac{f_K(v)}{Z_0}\, e^{w},\qquad \mathbb{E}[\hat p(v)] = p_{ann}(v),

    so :math:`\ln \frac{1}{C}\sum_c \hat p_c(v)` over ``C`` chains is a stochastic lower
    bound on :math:`\ln p_{ann}(v)` (Jensen). It needs no model samples and no estimate of
    ``ln Z``. :math:`p_{ann} \to p` as the schedule is refined; on a model whose modes the
    forward chain cannot reach, :math:`p_{ann}` — and RAISE — assigns the examples in those
    modes a low likelihood: RAISE errs on the conservative side where forward AIS errs on
    the optimistic one.

    Parameters
    ----------
    ham : Hamiltonian
        Binary or spin units, at its own β.
    data : array_like, shape (n_examples, N)
        Test examples (0/1 or ±1), at least one.
    n_betas, schedule
        The annealing path, as for :func:`ais`.
    n_chains : int
        Reverse chains per example C (≥ 1).
    seed : int, optional
        Seed of the per-chain streams (chain ``c`` of example ``e`` uses stream ``e·C + c``);
        ``None`` draws one (recorded in the result).
    train : array_like, shape (n, N), optional
        Training data to fit the base model to (as ``data`` of :func:`ais`); default the
        model's own visible biases.
    base_bias : array_like, shape (N,), optional
        The base model's natural parameters directly.
    dtype : {numpy.float32, numpy.float64}
        Precision of the chains and matrix products.

    Returns
    -------
    xarray.Dataset
        Dimensions ``example`` and ``chain``. Variables ``log_likelihood`` (example; nats,
        ``ln mean_c p̂_c(v)``), ``log_weights`` (example, chain), ``ess`` (example; effective
        sample size of the example's chains), ``ll_std`` (example; delta-method standard
        deviation over its chains, NaN for one chain), and the scalars ``ll_mean`` (mean over
        examples, nats per example), ``std_mc`` (its Monte-Carlo standard error from the
        chains, ``√(Σ ll_std²)/n``; NaN for one chain), ``std_examples`` (standard error of the
        mean over the test examples, ``sd(log_likelihood)/√n``) and ``seconds``. Attributes ``method="raise"``,
        ``bound`` (what it bounds), ``seed``, ``n_betas``, ``log_z_base``.

    Notes
    -----
    Cost: ``n_examples · C`` chains for ``n_betas − 1`` sweeps, the same per chain-sweep as
    :func:`ais`. The chains run in blocks of 4,096.
    """
    t0 = time.perf_counter()
    ham = check_hamiltonian(ham)
    data = _configurations("data", data, ham)
    n_chains = check_int("n_chains", n_chains, minimum=1)
    betas = _check_schedule(schedule, n_betas)
    seed = check_seed(seed)
    dtype = check_float_dtype(dtype)
    base = _base_bias(ham, train, base_bias)
    seed = fresh_seed() if seed is None else seed
    log_z0 = _log_z_base(ham, base)
    n_ex = data.shape[0]
    total = n_ex * n_chains
    streams = make_streams(seed, total)
    reverse = betas[::-1].copy()
    logw = np.empty(total)
    rows = np.repeat(np.arange(n_ex), n_chains)
    for start in range(0, total, _RAISE_BLOCK):
        stop = min(start + _RAISE_BLOCK, total)
        v = np.array(data[rows[start:stop]], dtype=dtype, order="C")
        block = np.ascontiguousarray(streams[start:stop])
        logw[start:stop] = _anneal(ham, reverse, base, v, block)
    logw = logw.reshape(n_ex, n_chains)
    ln_f = -ham.beta * ham.free_energy(data)
    ll = ln_f - log_z0 + _log_mean(logw, axis=1)
    w = np.exp(logw - logw.max(axis=1, keepdims=True))
    ess = w.sum(axis=1) ** 2 / (w * w).sum(axis=1)
    if n_chains > 1:
        std = w.std(axis=1, ddof=1) / (np.sqrt(n_chains) * w.mean(axis=1))
        std_mc = float(np.sqrt(np.sum(std**2)) / n_ex)
    else:
        std, std_mc = np.full(n_ex, np.nan), float("nan")
    std_examples = float(np.std(ll, ddof=1) / np.sqrt(n_ex)) if n_ex > 1 else float("nan")
    ds = xr.Dataset(
        {"log_likelihood": ("example", ll), "log_weights": (("example", "chain"), logw), "ess": ("example", ess),
         "ll_std": ("example", std), "ll_mean": float(np.mean(ll)), "std_mc": std_mc, "std_examples": std_examples,
         "seconds": time.perf_counter() - t0},
        coords={"example": np.arange(n_ex), "chain": np.arange(n_chains)},
        attrs={"method": "raise", "seed": int(seed), "n_betas": int(betas.size), "n_chains": int(n_chains),
               "log_z_base": float(log_z0), "beta": float(ham.beta),
               "bound": "stochastic lower bound on ln p_ann(v), the annealing model's log-likelihood (→ ln p(v) as "
                        "the schedule is refined); conservative where the annealing misses a mode"})
    ds.log_likelihood.attrs.update(units="nats", long_name="RAISE log-likelihood per example")
    ds.ll_mean.attrs.update(units="nats per example", long_name="mean RAISE log-likelihood")
    return ds


def _records(history_or_models, beta, units):
    """Hamiltonians of every record and the record coordinate (name, values)."""
    if isinstance(history_or_models, xr.Dataset):
        ds = history_or_models
        missing = [k for k in ("W", "a", "b") if k not in ds]
        if missing:
            raise ValueError(f"history_or_models: the history holds no {missing} per record; train with "
                             "Trainer(record_params=True) to keep the parameters of every record")
        dim = ds.W.dims[0]
        beta = float(ds.attrs.get("beta", 1.0)) if beta is None else beta
        units = str(ds.attrs.get("units", "binary")) if units is None else units
        W, a, b = ds.W.values, ds.a.values, ds.b.values
        models = [Hamiltonian(W[k], a[k], b[k], beta=beta, units=units) for k in range(W.shape[0])]
        coord = (dim, ds[dim].values if dim in ds.coords else np.arange(len(models)))
    else:
        models = [check_hamiltonian(m, f"history_or_models[{k}]") for k, m in enumerate(history_or_models)]
        coord = ("record", np.arange(len(models)))
    if not models:
        raise ValueError("history_or_models: expected at least one record")
    first = models[0]
    for k, m in enumerate(models):
        if (m.n_visible, m.n_hidden, m.units, m.beta) != (first.n_visible, first.n_hidden, first.units, first.beta):
            raise ValueError(f"history_or_models: record {k} has shape ({m.n_visible}, {m.n_hidden}), {m.units} units, "
                             f"beta {m.beta:g}; record 0 has ({first.n_visible}, {first.n_hidden}), {first.units}, "
                             f"beta {first.beta:g}: every record must be the same kind of model")
    return models, coord


def _ln_f(params, v, beta, spin):
    """ln f(v) = β aᵀv + Σ_j g(β(b + Wᵀv)_j) for parameters (W, a, b), float64, per row of v."""
    W, a, b = params
    z = beta * (b + v @ W)
    return beta * (v @ a) + (log2cosh(z) if spin else softplus(z)).sum(axis=1)


def trajectory_ais(history_or_models, *, n_chains: int = 100, n_steps: int = 1000, n_betas: int = 1000,
                   seed: int | None = None, data=None, dtype=np.float64, beta=None, units=None) -> xr.Dataset:
    r"""``ln Z`` of every record of a training run by annealing along the trajectory of its parameters.

    The chains are annealed by temperature (the path of :func:`ais`, ``n_betas`` values)
    from the independent-site base model to the first record — at initialisation a nearly
    uncoupled model, easy to reach — and then through the parameters of every record in
    turn, linearly interpolated between consecutive records,
    :math:`\theta_t = (1-t)\,\theta_r + t\,\theta_{r+1}`, ``n_steps`` steps each
    (Salakhutdinov & Murray 2008 anneal in temperature only; annealing along the training
    trajectory meets the modes in the order training created them instead of jumping to
    them). Every intermediate is an RBM, so one block-Gibbs sweep of
    :math:`\theta_t` follows each log-weight increment
    :math:`\ln f_{\theta_t}(v) - \ln f_{\theta_{t-1}}(v)`, and the running estimate at the
    end of segment ``r`` is an AIS estimate of :math:`\ln Z_{r+1}` (low in expectation, like
    :func:`ais`).

    Parameters
    ----------
    history_or_models : xarray.Dataset or sequence of Hamiltonian
        A training history holding ``W`` (record, N, M), ``a`` and ``b`` per record (train with
        ``Trainer(record_params=True)``: it stores ``N·M + N + M`` float64 per record, 3.1 MB per
        record at 784×500), or the models themselves, in training order.
    n_chains : int
        Annealing chains C (≥ 2).
    n_steps : int
        Interpolation steps between consecutive records (≥ 1).
    n_betas : int
        Temperature schedule length (linear) from the base model to the first record (≥ 2).
    seed : int, optional
    data : array_like, shape (n, N), optional
        Training data to fit the base model to (as for :func:`ais`).
    dtype : {numpy.float32, numpy.float64}
        Precision of the chains and matrix products (log-weights are float64).
    beta, units : optional
        Override the history's attributes.

    Returns
    -------
    xarray.Dataset
        Along the records' dimension (``epoch`` of a history, ``record`` for models):
        ``log_z`` (nats), ``log_z_std`` (as :attr:`AISResult.std`), ``ess``; attributes ``seed``,
        ``log_z_base``, ``n_steps``, ``n_betas``, ``n_chains``.
    """
    models, (dim, coord) = _records(history_or_models, beta, units)
    n_chains = check_int("n_chains", n_chains, minimum=2)
    n_steps = check_int("n_steps", n_steps, minimum=1)
    betas = annealing_schedule("linear", n_betas=n_betas)
    seed = check_seed(seed)
    dtype = check_float_dtype(dtype)
    first = models[0]
    base = _base_bias(first, data, None)
    seed = fresh_seed() if seed is None else seed
    streams = make_streams(seed, n_chains)
    spin, beta = first.spin, first.beta
    v = np.empty((n_chains, first.n_visible), dtype=dtype)
    with sampler_threads():
        sample_layer(np.zeros_like(v), base, 1.0, spin, streams, v)
    logw = _anneal(first, betas, base, v, streams)
    log_z0 = _log_z_base(first, base)
    out = [logw.copy()]
    h = np.empty((n_chains, first.n_hidden), dtype=dtype)
    field_v = np.empty_like(v)
    ts = np.linspace(0.0, 1.0, n_steps + 1)[1:]
    for r in range(1, len(models)):
        old = (np.asarray(models[r - 1].W), np.asarray(models[r - 1].a), np.asarray(models[r - 1].b))
        new = (np.asarray(models[r].W), np.asarray(models[r].a), np.asarray(models[r].b))
        prev = old
        for t in ts:
            cur = tuple((1.0 - t) * o + t * n for o, n in zip(old, new))
            v64 = v.astype(np.float64)
            logw += _ln_f(cur, v64, beta, spin) - _ln_f(prev, v64, beta, spin)
            prev = cur
            W = np.asarray(cur[0], dtype=dtype)
            with sampler_threads():
                sample_layer(np.matmul(v, W), cur[2], beta, spin, streams, h)
                np.matmul(h, W.T, out=field_v)
                sample_layer(field_v, cur[1], beta, spin, streams, v)
        out.append(logw.copy())
    log_z, std, ess = [], [], []
    for w in out:
        res = _result(first, w, betas, base, log_z0, seed, reverse=False, bound=float("nan"))
        log_z.append(res.log_z)
        std.append(res.std)
        ess.append(res.ess)
    ds = xr.Dataset({"log_z": (dim, log_z), "log_z_std": (dim, std), "ess": (dim, ess)}, coords={dim: coord},
                    attrs={"method": "trajectory_ais", "seed": int(seed), "log_z_base": float(log_z0),
                           "n_steps": int(n_steps), "n_betas": int(betas.size), "n_chains": int(n_chains)})
    ds.log_z.attrs.update(units="nats", long_name="ln Z by AIS along the training trajectory")
    return ds


if ais.__doc__ and reverse_ais.__doc__:  # docstrings are stripped under python -OO
    ais.__doc__ += _COMMON
    reverse_ais.__doc__ += _COMMON
