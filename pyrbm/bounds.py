r"""A rigorous variational lower bound on ``ln Z``, hidden units summed exactly.

For any product distribution :math:`q(v) = \prod_i q_i(v_i)` over the visible units
(means :math:`m`, entropy :math:`H(q)`), with the hidden units summed analytically,
:math:`f(v) = \sum_h e^{-\beta E(v, h)} = e^{\beta a^\top v} \prod_j e^{g(\beta(b + W^\top v)_j)}`,
Gibbs' inequality gives

.. math::

    \ln Z = \ln \sum_v f(v) \;\ge\; H(q) + \mathbb{E}_q[\ln f(v)]
          = H(q) + \beta a^\top m + \sum_j \mathbb{E}_q\, g\big(\beta(b + W^\top v)_j\big),

:math:`g(z) = \ln(1 + e^z)` (binary units) or :math:`\ln 2\cosh z` (spin units). Both are
convex, so Jensen's inequality :math:`\mathbb{E}_q\, g(x) \ge g(\mathbb{E}_q x)` turns this
into a closed form that is still a lower bound,

.. math::

    \ln Z \;\ge\; B(m) = H(m) + \beta a^\top m + \sum_j g\big(\beta(b + W^\top m)_j\big),

for *every* ``m`` (no fixed point needed). ``B(m)`` is the naive mean-field free energy with
the hidden magnetisations at their optimum; its stationary points are the mean-field fixed
points. The expectation :math:`\mathbb{E}_q[\ln f]` itself (tighter, ``≥`` the Jensen
value) has no closed form; it is estimated by Monte Carlo from samples of ``q`` with its
standard error — an unbiased estimate of a lower bound, not a bound. Only the non-negative
convexity remainder :math:`\Delta(v) = \sum_j [g(z_j) - g(\bar z_j) - g'(\bar z_j)(z_j - \bar z_j)]`,
:math:`z = \beta(b + W^\top v)`, :math:`\bar z = \beta(b + W^\top m)`, is sampled:
:math:`H(q) + \mathbb{E}_q \ln f = B(m) + \mathbb{E}_q \Delta`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from ._checks import as_configuration, check_finite_array, check_hamiltonian, check_int, check_seed, fresh_seed
from .freeenergy import _MODE_EDGE as _EDGE
from .freeenergy import LogZ, _ascend, _entropy_rows
from .hamiltonian import log2cosh, softplus

__all__ = ["LowerBound", "log_z_lower_bound"]

_SPREAD = 3.0  # the sampled bound counts for the checks as its value minus 3 standard errors
_SLACK = 1e-6  # ... and minus this (relative): a nearly deterministic q has rare flips no sample shows


@dataclass(frozen=True, eq=False, repr=False)
class LowerBound(LogZ):
    """A lower bound on ``ln Z`` (:func:`log_z_lower_bound`); a :class:`LogZ` with ``method="lower_bound"``.

    Attributes
    ----------
    log_z : float
        The rigorous bound ``max_s B(m_s)`` over the fixed points reached from the starts
        (nats, deterministic, ``std = 0``).
    valid : bool
        Always true: a bound holds for every model.
    m_visible : ndarray, shape (N,)
        Means of the best product distribution ``q``.
    log_z_sampled, std_sampled : float
        Monte-Carlo estimate of the tighter ``H(q) + E_q[ln f]`` at the best ``q`` and its
        standard error (NaN without samples).
    n_samples : int
        Samples of ``q`` behind ``log_z_sampled`` (0: not sampled).
    start_log_z : ndarray, shape (S,)
        Rigorous bound reached from each start, in the order of :attr:`start_names`.
    start_names : tuple of str
        ``"uniform"``, ``"uncoupled"``, ``"starts[k]"`` (a mean vector) or ``"starts[k][r]"``
        (row ``r`` of a configuration array).
    seed : int or None
    """

    log_z_sampled: float = float("nan")
    std_sampled: float = float("nan")
    n_samples: int = 0
    start_log_z: np.ndarray | None = None
    start_names: tuple = ()
    seed: int | None = None

    @property
    def check_value(self) -> float:
        """The value the checks compare estimates with: the rigorous bound, or the sampled
        bound minus three standard errors (and 10⁻⁶ relative) where that is higher (nats)."""
        if self.n_samples > 1 and np.isfinite(self.log_z_sampled):
            sampled = self.log_z_sampled - _SPREAD * self.std_sampled - _SLACK * (1.0 + abs(self.log_z_sampled))
            return max(float(self.log_z), sampled)
        return float(self.log_z)


def _bound(ham, m):
    """B(m) per row of m (S, N): entropy + β aᵀm + Σ_j g(β(b + Wᵀm)_j)."""
    z = ham.beta * (ham.b + m @ ham.W)
    g = log2cosh(z) if ham.spin else softplus(z)
    return _entropy_rows(m, ham.spin) + ham.beta * (m @ ham.a) + g.sum(axis=-1)


def _starts(ham, starts, max_rows, rng):
    """Starting means (S, N) and their names: uniform, uncoupled, then the given ones."""
    spin = ham.spin
    lo = -1.0 if spin else 0.0
    uncoupled = np.tanh(ham.beta * ham.a) if spin else expit(ham.beta * ham.a)
    rows = [np.full(ham.n_visible, 0.0 if spin else 0.5), uncoupled]
    names = ["uniform", "uncoupled"]
    if starts is None:
        starts = []
    elif isinstance(starts, np.ndarray) or not isinstance(starts, (list, tuple)):
        starts = [starts]
    for k, s in enumerate(starts):
        arr = check_finite_array(f"starts[{k}]", s)
        if arr.ndim == 1:
            if arr.shape != (ham.n_visible,) or np.any(arr < lo) or np.any(arr > 1.0):
                raise ValueError(f"starts[{k}]: expected visible means of shape ({ham.n_visible},) in [{lo:g}, 1], "
                                 f"got shape {arr.shape} with range [{arr.min():g}, {arr.max():g}]")
            rows.append(arr)
            names.append(f"starts[{k}]")
        elif arr.ndim == 2:
            arr = as_configuration(f"starts[{k}]", arr, ham.n_visible, ham.units)
            if arr.shape[0] == 0:
                raise ValueError(f"starts[{k}]: expected at least one configuration, got shape {arr.shape}")
            pick = np.arange(arr.shape[0])
            if pick.size > max_rows:
                pick = np.sort(rng.choice(arr.shape[0], size=max_rows, replace=False))
            rows.append(arr.mean(axis=0))
            names.append(f"starts[{k}] mean")
            rows.extend(arr[pick])
            names.extend(f"starts[{k}][{r}]" for r in pick)
        else:
            raise ValueError(f"starts[{k}]: expected visible means (N,) or configurations (n, N), got shape "
                             f"{arr.shape}")
    m = np.array(rows, dtype=np.float64)
    return np.clip(m, lo + _EDGE, 1.0 - _EDGE), tuple(names)


def log_z_lower_bound(ham, *, starts=None, n_samples: int = 1000, seed: int | None = None, damping: float = 0.5,
                      max_iter: int = 1000, tol: float = 1e-9, max_rows: int = 32) -> LowerBound:
    r"""Best variational (product-distribution) lower bound on ``ln Z``, hidden units summed exactly.

    From each start the damped mean-field iteration
    :math:`m \leftarrow \delta m + (1-\delta)\,\sigma\big(\beta(a + W\sigma(\beta(b + W^\top m)))\big)`
    (``tanh`` for spin units) climbs towards a fixed point; the bound
    :math:`B(m) = H(m) + \beta a^\top m + \sum_j g(\beta(b + W^\top m)_j) \le \ln Z`
    (Gibbs' inequality and Jensen's inequality for the convex ``g``; module documentation)
    holds at every ``m``, so the best value met on the way is kept, over all starts.
    At the best ``m`` the tighter ``H(q) + E_q[ln f(v)]`` is also estimated from
    ``n_samples`` samples of ``q`` (an estimate of a bound, with its standard error).

    Parameters
    ----------
    ham : Hamiltonian
        Binary or spin units, at its own β.
    starts : array_like or sequence of array_like, optional
        Extra starting points besides the uniform point (``m = ½``, spin 0) and the
        uncoupled means ``σ(βa)``: visible means of shape (N,), or configurations
        (n, N) — the data, Gibbs samples — of which the mean and up to ``max_rows`` rows
        (a seeded random choice) are each a start. Several starts find several modes.
    n_samples : int
        Samples of the best ``q`` for the Monte-Carlo bound (0: skip).
    seed : int, optional
        Seed of the row choice and of the samples of ``q``; ``None`` draws one.
    damping : float in [0, 1)
        Fraction of the old iterate kept per iteration.
    max_iter : int
        Iterations per start (all starts advance together, ``2 S N M`` multiply-adds each).
    tol : float
        Stop when no mean moves by more than ``tol``.
    max_rows : int
        Most configuration rows used as starts per array.

    Returns
    -------
    LowerBound
        ``float(result)`` is the rigorous bound (nats, ``std = 0``, ``valid`` true,
        ``reason`` saying which start gave it); ``log_z_sampled ± std_sampled`` the
        sampled one; :attr:`LowerBound.check_value` the higher of the two that the checks use.
    """
    ham = check_hamiltonian(ham)
    n_samples = check_int("n_samples", n_samples, minimum=0)
    max_iter = check_int("max_iter", max_iter, minimum=0)
    max_rows = check_int("max_rows", max_rows, minimum=0)
    seed = check_seed(seed)
    damping = float(damping)
    if not 0.0 <= damping < 1.0:
        raise ValueError(f"damping: expected a number in [0, 1) (fraction of the old iterate kept), got {damping}")
    tol = float(tol)
    if not tol > 0.0:
        raise ValueError(f"tol: expected a positive number, got {tol}")
    seed = fresh_seed() if seed is None else seed
    rng = np.random.default_rng(seed)
    m0, names = _starts(ham, starts, max_rows, rng)
    values, ms = _ascend(ham, m0, damping, max_iter, tol)
    best = int(np.argmax(values))
    m = ms[best]
    log_z = float(values[best])
    sampled, se = float("nan"), float("nan")
    if n_samples > 0:
        p_up = (1.0 + m) / 2.0 if ham.spin else m
        v = (rng.random((n_samples, ham.n_visible)) < p_up).astype(np.float64)
        if ham.spin:
            v = 2.0 * v - 1.0
        # E_q ln f = B(m) − H(q) + E_q Δ(v), Δ = Σ_j [g(z_j) − g(z̄_j) − g'(z̄_j)(z_j − z̄_j)] ≥ 0,
        # z = β(b + Wᵀv), z̄ = β(b + Wᵀm); the linear part is exact, only Δ is sampled (zero when W = 0)
        g, dg = (log2cosh, np.tanh) if ham.spin else (softplus, expit)
        z_bar = ham.beta * (ham.b + m @ ham.W)
        z = ham.beta * (ham.b + v @ ham.W)
        delta = (g(z) - g(z_bar) - dg(z_bar) * (z - z_bar)).sum(axis=1)
        sampled = log_z + float(np.mean(delta))
        se = float(np.std(delta, ddof=1) / np.sqrt(n_samples)) if n_samples > 1 else float("inf")
    reason = (f"rigorous lower bound (product distribution, Jensen on the hidden sum) from start {names[best]}"
              + (f"; sampled bound H(q) + E_q[ln f] = {sampled:.6g} ± {se:.2g} (Monte Carlo, {n_samples} samples)"
                 if n_samples > 0 else ""))
    m.flags.writeable = False
    return LowerBound(log_z=log_z, std=0.0, method="lower_bound", valid=True, reason=reason, beta=float(ham.beta),
                      m_visible=m, log_z_sampled=sampled, std_sampled=se, n_samples=n_samples,
                      start_log_z=values, start_names=names, seed=seed)
