"""Log-weight increments of annealed importance sampling (AIS), hidden units summed out.

Between inverse temperatures :math:`\\beta_{old}` and :math:`\\beta_{new}` of the annealing
path, chain ``c`` with visible configuration :math:`v_c` gains

.. math::

    \\Delta_c = (\\beta_{new} - \\beta_{old})\\, c^\\top v_c
      + \\sum_j \\big[g(s_{new}\\, y_{cj}) - g(s_{old}\\, y_{cj})\\big],
    \\qquad y_{cj} = (W^\\top v_c)_j + b_j,

with :math:`s = \\beta_k\\beta` and :math:`g` the softplus :math:`\\ln(1 + e^z)` (binary
units) or :math:`\\ln 2\\cosh z` (spin units).  Both are written as a linear part plus
:math:`\\ln(1 + e^{-\\lambda|z|})` (:math:`\\lambda = 1` binary, 2 spin), so that, since
:math:`s \\ge 0`,

.. math::

    \\Delta_c = (\\beta_{new} - \\beta_{old})\\, c^\\top v_c
      + (s_{new} - s_{old}) \\sum_j \\ell(y_{cj})
      + \\ln \\prod_j \\frac{1 + e^{-\\lambda s_{new}|y_{cj}|}}{1 + e^{-\\lambda s_{old}|y_{cj}|}},

:math:`\\ell(y) = \\max(y, 0)` (binary) or :math:`|y|` (spin).  Every factor of the product
lies in [1/2, 2]; the logarithm is taken every 256 factors. For the small steps of long
schedules (every :math:`|x_j| = \\lambda|s_{new} - s_{old}|\\,|y_j| \\le 10^{-2}` in a row)
the difference is instead the odd Taylor series about the midpoint
:math:`s_m = (s_{new} + s_{old})/2`, with :math:`p = \\sigma(-\\lambda s_m |y|)`,

.. math::

    g(s_{new} y) - g(s_{old} y) = (s_{new} - s_{old})\\,\\ell(y) - x p
      - \\frac{x^3}{24} p (1 - p)(1 - 2p) + O(x^5/1920),

one exponential per unit instead of two (truncation below 1e-13 per unit).  Everything is computed and
accumulated in float64 from the field of either precision, with :func:`~.ieee.exp64`
(plain IEEE arithmetic), and the sums run in a fixed order: results do not depend on
the number of threads.

This module imports only numpy, numba and math.
"""

import math

import numba
import numpy as np
from numba import prange

from .ieee import exp64

__all__ = ["log_weight_step"]

_BLOCK = 256  # factors in [1/2, 2] multiplied before one logarithm (2^±256 stays in range)
_SERIES_MAX = 1e-2  # largest |λ Δs y| of a row summed by the series (truncation < 1e-13 per unit)


@numba.njit(inline="always", cache=True)
def _sum4(x, n):
    """Sum of ``x[:n]`` in four interleaved partial sums (fixed order, no reassociation)."""
    s0 = s1 = s2 = s3 = 0.0
    n4 = n - n % 4
    for j in range(0, n4, 4):
        s0 += x[j]
        s1 += x[j + 1]
        s2 += x[j + 2]
        s3 += x[j + 3]
    for j in range(n4, n):
        s0 += x[j]
    return (s0 + s1) + (s2 + s3)


@numba.njit(inline="always", cache=True)
def _log_prod4(x, n):
    """``ln prod x[:n]`` for factors in [1/2, 2]: four interleaved products, a log every block."""
    out = 0.0
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        p0 = p1 = p2 = p3 = 1.0
        n4 = stop - (stop - start) % 4
        for j in range(start, n4, 4):
            p0 *= x[j]
            p1 *= x[j + 1]
            p2 *= x[j + 2]
            p3 *= x[j + 3]
        for j in range(n4, stop):
            p0 *= x[j]
        out += math.log((p0 * p1) * (p2 * p3))
    return out


@numba.njit(inline="always", cache=True)
def _abs_max4(field, b, r, m):
    """``max_j |field[r, j] + b[j]|`` in four interleaved maxima."""
    a0 = a1 = a2 = a3 = 0.0
    m4 = m - m % 4
    for j in range(0, m4, 4):
        a0 = max(a0, abs(np.float64(field[r, j]) + b[j]))
        a1 = max(a1, abs(np.float64(field[r, j + 1]) + b[j + 1]))
        a2 = max(a2, abs(np.float64(field[r, j + 2]) + b[j + 2]))
        a3 = max(a3, abs(np.float64(field[r, j + 3]) + b[j + 3]))
    for j in range(m4, m):
        a0 = max(a0, abs(np.float64(field[r, j]) + b[j]))
    return max(max(a0, a1), max(a2, a3))


@numba.njit(inline="always", cache=True)
def _step_row(field, v, b, c, s_new, s_old, d_beta, spin, logw, work, r):
    m = field.shape[1]
    n = v.shape[1]
    lam = 2.0 if spin else 1.0
    t_new, t_old = -lam * s_new, -lam * s_old
    ds, s_mid = s_new - s_old, 0.5 * (s_new + s_old)
    q = work[r, :m]
    lin = work[r, m:2 * m]
    vis = work[r, 2 * m:]
    # elementwise passes (vectorised), then fixed-order reductions
    if lam * abs(ds) * _abs_max4(field, b, r, m) <= _SERIES_MAX:
        # small steps: odd Taylor series about the midpoint, one exponential per unit
        for j in range(m):
            y = np.float64(field[r, j]) + b[j]
            ay = abs(y)
            x = lam * ds * ay
            p = 1.0 / (1.0 + exp64(lam * s_mid * ay))  # σ(−λ s_mid |y|)
            q[j] = ds * (ay if spin else max(y, 0.0)) - x * p - (x * x * x) * (p * (1.0 - p) * (1.0 - 2.0 * p)) / 24.0
        hidden = _sum4(q, m)
    else:
        for j in range(m):
            y = np.float64(field[r, j]) + b[j]
            ay = abs(y)
            q[j] = (1.0 + exp64(t_new * ay)) / (1.0 + exp64(t_old * ay))
            lin[j] = ay if spin else max(y, 0.0)
        hidden = ds * _sum4(lin, m) + _log_prod4(q, m)
    for i in range(n):
        vis[i] = np.float64(v[r, i]) * c[i]
    logw[r] += d_beta * _sum4(vis, n) + hidden


@numba.njit(parallel=True, nogil=True, cache=True)  # nogil: tiles of pyrbm._threads.run_tiles
def _step(field, v, b, c, s_new, s_old, d_beta, spin, logw, work):
    for r in prange(field.shape[0]):
        _step_row(field, v, b, c, s_new, s_old, d_beta, spin, logw, work, r)


def log_weight_step(field, v, b, c, s_new, s_old, d_beta, spin, logw, work):
    """Add the AIS log-weight increment of one temperature step to every chain, in place.

    Parameters
    ----------
    field : ndarray, shape (C, M), float32 or float64, C-contiguous
        Hidden field without bias, ``v @ W``.
    v : ndarray, shape (C, N), same dtype as ``field``
        Visible configurations (0/1 or ±1).
    b : ndarray, shape (M,), float64
        Hidden bias of the target model.
    c : ndarray, shape (N,), float64
        ``β a − a_A``: target visible bias times β minus the base model's bias.
    s_new, s_old : float
        ``β_new·β`` and ``β_old·β`` (≥ 0): scale of the hidden field at the two ends.
    d_beta : float
        ``β_new − β_old`` (negative on a reverse path).
    spin : bool
        Spin units (``ln 2cosh``) instead of binary units (softplus).
    logw : ndarray, shape (C,), float64
        Log-weights, incremented in place.
    work : ndarray, shape (C, 2M + N), float64, C-contiguous
        Scratch space.

    Returns
    -------
    logw : ndarray
    """
    s_new, s_old = float(s_new), float(s_old)
    if not (s_new >= 0.0 and s_old >= 0.0):
        raise ValueError(f"s_new, s_old: expected scales >= 0, got {s_new}, {s_old}")
    _step(field, v, b, c, s_new, s_old, float(d_beta), bool(spin), logw, work)
    return logw
