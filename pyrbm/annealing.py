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
  :math:`\hat Z` is unbiased, so :math:`\ln\hat Z` is low in expectation (Jensen).
* Reverse AIS (Burda, Grosse & Salakhutdinov 2015) starts from samples of the RBM and
  anneals to :math:`p_A`; its weights estimate :math:`Z_0/Z`:
  :math:`\ln\hat Z = \ln Z_0 - (\operatorname{logsumexp}_c w_c - \ln C)`, high in
  expectation when the starting samples are exact model samples.

Matrix products run in BLAS in the chains' dtype; sampling uses
:func:`pyrbm._kernels.gibbs.sample_layer` and the log-weights are accumulated in
float64 (:func:`pyrbm._kernels.annealing.log_weight_step`). The same seed gives the
same numbers bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from ._checks import (
    as_configuration,
    check_finite_array,
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
from .hamiltonian import log2cosh, softplus

from .freeenergy import LogZ

__all__ = ["AISResult", "SCHEDULES", "CLASSIC_N_BETAS", "annealing_schedule", "ais", "reverse_ais"]

#: Schedule names understood by :func:`annealing_schedule`.
SCHEDULES = ("linear", "geometric", "three_piece")
#: Inverse temperatures of the classic three-piece schedule (14,500 steps).
CLASSIC_N_BETAS = 14_501
_GEOMETRIC_START = 1e-3
_PIECES = ((0.5, 500), (0.9, 4_000), (1.0, 10_000))  # (end, steps) of Salakhutdinov & Murray (2008)
_SPREAD = 3.0  # log_z_low/high: ln of the mean weight ∓ 3 standard errors


@dataclass(frozen=True, eq=False)
class AISResult(LogZ):
    """``ln Z`` from (reverse) annealed importance sampling; a :class:`LogZ` with the weights.

    Attributes
    ----------
    log_z, std, method, valid, reason, beta
        As for every :class:`LogZ`; ``method`` is ``"ais"`` or ``"reverse_ais"``;
        ``std`` is the delta-method standard deviation of ``ln Ẑ``,
        ``std(e^w) / (√C mean(e^w))``; ``valid`` is false when the effective sample
        size is below ``min(10, C/2)`` (a few chains carry the estimate).
    log_weights : ndarray, shape (C,), float64
        Per-chain log-weights ``w_c`` (reverse AIS: estimates of ``ln(Z_0/Z)``).
    ess : float
        Effective sample size of the weights, ``(Σ e^w)² / Σ e^{2w}``, in [1, C].
    log_z_low, log_z_high : float
        ``ln Z`` from the mean weight minus and plus three standard errors (may be ∓inf).
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


def _result(ham, logw, betas, base, log_z0, seed, reverse) -> AISResult:
    n = logw.size
    shift = float(np.max(logw))
    w = np.exp(logw - shift)
    mean, sd = float(np.mean(w)), float(np.std(w, ddof=1))
    se = sd / np.sqrt(n)
    log_mean = float(logsumexp(logw) - np.log(n))
    ess = float(np.sum(w) ** 2 / np.sum(w * w))
    lo = shift + (np.log(mean - _SPREAD * se) if mean > _SPREAD * se else -np.inf)
    hi = shift + np.log(mean + _SPREAD * se)
    if reverse:
        log_z, low, high = log_z0 - log_mean, log_z0 - hi, log_z0 - lo
    else:
        log_z, low, high = log_z0 + log_mean, log_z0 + lo, log_z0 + hi
    min_ess = min(10.0, n / 2.0)
    valid = bool(np.isfinite(log_z) and ess >= min_ess)
    reason = "" if valid else (
        f"effective sample size {ess:.3g} of {n} chains is below {min_ess:g}: a few chains carry the estimate "
        "and its spread is unreliable; lengthen the schedule (n_betas) or add chains")
    return AISResult(log_z=float(log_z), std=float(sd / (np.sqrt(n) * mean)), method="reverse_ais" if reverse
                     else "ais", valid=valid, reason=reason, beta=float(ham.beta), log_weights=logw, ess=ess,
                     log_z_low=float(low), log_z_high=float(high), log_z_base=log_z0, base_bias=base,
                     schedule=betas, n_chains=int(n), seed=seed)


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
        seed: int | None = None, data=None, base_bias=None, dtype=np.float32) -> AISResult:
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
    base = _base_bias(ham, data, base_bias)
    seed = fresh_seed() if seed is None else seed
    streams = make_streams(seed, n_chains)
    v = np.empty((n_chains, ham.n_visible), dtype=dtype)
    with sampler_threads():  # exact samples of the base model: p(up) = σ(λ a_A)
        sample_layer(np.zeros_like(v), base, 1.0, ham.spin, streams, v)
    logw = _anneal(ham, betas, base, v, streams)
    return _result(ham, logw, betas, base, _log_z_base(ham, base), seed, reverse=False)


def reverse_ais(ham, samples, *, n_betas: int | None = CLASSIC_N_BETAS, schedule="three_piece",
                seed: int | None = None, data=None, base_bias=None, dtype=np.float32) -> AISResult:
    r"""``ln Z`` by reverse AIS: anneal from samples of the model down to the base model.

    The path of :func:`ais` is run backwards (β from 1 to 0), one chain per sample
    (Burda, Grosse & Salakhutdinov 2015). Started from exact samples of the model, ``ln Ẑ``
    is high in expectation, so that AIS and reverse AIS bracket ``ln Z``. Long Gibbs
    chains approximate such samples; started from data the estimate carries no such
    guarantee (a model that fits its data poorly gives a wrong bracket).

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
    return _result(ham, logw, betas, base, _log_z_base(ham, base), seed, reverse=True)


if ais.__doc__ and reverse_ais.__doc__:  # docstrings are stripped under python -OO
    ais.__doc__ += _COMMON
    reverse_ais.__doc__ += _COMMON
