"""Euler-Maruyama steps of the reciprocal-space Langevin dynamics.

Per chain, the state is the visible and hidden reciprocal coordinates ``x`` (N,) and
``y`` (M,).  The first K = min(N, M) of each are paired, the rest are free.  One step
of the overdamped dynamics :math:`dz = -\\nabla\\Phi\\,dt + \\sqrt{2}\\,dW` is

.. math::

    z \\leftarrow z - \\nabla\\Phi(z)\\,\\Delta t + \\sqrt{2\\Delta t}\\,\\xi,
    \\qquad \\xi \\sim \\mathcal N(0, I),

    \\partial_{x_k}\\Phi = \\frac{x_k - \\mu_{x,k}}{s^2}
        - \\beta(\\tilde a_k + \\sigma_k y_k) + 2\\sqrt2\\, g_k u_k^3,
    \\qquad
    \\partial_{y_k}\\Phi = \\frac{y_k - \\mu_{y,k}}{s^2}
        - \\beta(\\tilde b_k + \\sigma_k x_k) + 2\\sqrt2\\, g_k u_k^3,

with :math:`u_k = [(x_k-\\mu_{x,k}) + (y_k-\\mu_{y,k})]/\\sqrt2` the displacement of
mode k from the uniform-measure mean along the soft direction: the optional quartic
confinement :math:`g_k u_k^4` of the finite-N density of states (``g = 0`` switches it
off).  Free modes feel only their Gaussian and bias terms.  All arithmetic is float64
whatever the storage dtype of ``x`` and ``y``.

Divergence: a paired mode whose new ``|x_k - mu_x,k|`` or ``|y_k - mu_y,k|`` exceeds
``bound`` (or is not finite) is frozen at its last value inside the bound, and the step
number is written to ``divergence_step[c, k]`` (``-1`` while the mode is finite).  The
stored state therefore never holds inf or NaN.

Normals come from Box-Muller on the chain's counter-based stream
(:mod:`pyrbm._kernels.rng`), with logarithm, sine and cosine written as polynomials in
plain IEEE arithmetic so the loop vectorises and gives identical results for any thread
count and any split of a run.  Every step uses ``2 * ceil((N + M) / 2)`` words.

This module imports only numpy, numba and math.
"""

import math

import numba
import numpy as np
from numba import prange

from .ieee import LN2_HI, LN2_LO, bitcast
from .rng import mix64, row_start, u64_to_unit64

__all__ = ["em_steps", "fill_normals", "log64", "sincos_2pi", "box_muller", "words_per_step"]


_MANT = np.int64(0x000FFFFFFFFFFFFF)
_ONE_BITS = np.int64(0x3FF0000000000000)
_SQRT2 = math.sqrt(2.0)
_HALF_PI = 0.5 * math.pi


@numba.njit(inline="always", cache=True)
def log64(u):
    """Natural logarithm of a positive normal float64 (relative error ~ 2e-16)."""
    bits = bitcast(u)
    e = (bits >> np.int64(52)) - np.int64(1023)
    m = bitcast((bits & _MANT) | _ONE_BITS)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    ef = np.float64(e + 1) if big else np.float64(e)
    f = (m - 1.0) / (m + 1.0)
    s = f * f
    p = 1.0 + s * (1.0 / 3 + s * (1.0 / 5 + s * (1.0 / 7 + s * (1.0 / 9 + s * (
        1.0 / 11 + s * (1.0 / 13 + s * (1.0 / 15 + s * (1.0 / 17 + s * (1.0 / 19)))))))))
    return ef * LN2_HI + (2.0 * f * p + ef * LN2_LO)


@numba.njit(inline="always", cache=True)
def sincos_2pi(u):
    """``(cos 2πθ, sin 2πθ)`` for an angle θ drawn from ``u`` in [0, 1).

    The angle is ``q π/2 + φ`` with quadrant ``q = floor(4u)`` and
    ``φ = (4u - q - 1/2) π/2`` in [-π/4, π/4): a bijection of [0, 1) onto the circle, so
    a uniform ``u`` gives a uniform angle.
    """
    t = u * 4.0
    qf = np.floor(t)
    phi = (t - qf - 0.5) * _HALF_PI
    p2 = phi * phi
    sn = phi * (1.0 + p2 * (-1.0 / 6 + p2 * (1.0 / 120 + p2 * (-1.0 / 5040 + p2 * (
        1.0 / 362880 + p2 * (-1.0 / 39916800 + p2 * (1.0 / 6227020800 + p2 * (
            -1.0 / 1307674368000))))))))
    cs = 1.0 + p2 * (-0.5 + p2 * (1.0 / 24 + p2 * (-1.0 / 720 + p2 * (1.0 / 40320 + p2 * (
        -1.0 / 3628800 + p2 * (1.0 / 479001600 + p2 * (-1.0 / 87178291200 + p2 * (
            1.0 / 20922789888000))))))))
    q = np.int64(qf)
    odd = (q & np.int64(1)) == np.int64(1)
    c1 = sn if odd else cs
    s1 = cs if odd else sn
    c = -c1 if (q == np.int64(1) or q == np.int64(2)) else c1
    s = -s1 if q >= np.int64(2) else s1
    return c, s


@numba.njit(inline="always", cache=True)
def box_muller(w1, w2):
    """Two independent N(0, 1) draws from two 64-bit words."""
    r = math.sqrt(-2.0 * log64(u64_to_unit64(w1)))
    c, s = sincos_2pi(u64_to_unit64(w2))
    return r * c, r * s


def words_per_step(n_visible, n_hidden):
    """Stream words used by one Euler-Maruyama step of one chain."""
    return 2 * ((n_visible + n_hidden + 1) // 2)


@numba.njit(parallel=True, cache=True)
def em_steps(x, y, mu_x, mu_y, a_t, b_t, s, g, beta, s2, dt, bound, streams, step0,
             n_steps, divergence_step):
    """Advance every chain by ``n_steps`` Euler-Maruyama steps, in place.

    Parameters
    ----------
    x : ndarray (C, N), float32 or float64
        Visible reciprocal coordinates (paired first, then free).
    y : ndarray (C, M), same dtype
        Hidden reciprocal coordinates.
    mu_x, a_t : ndarray (N,) float64
        Uniform-measure means and reciprocal biases ã of x.
    mu_y, b_t : ndarray (M,) float64
        Same for y.
    s : ndarray (K,) float64
        Singular values.
    g : ndarray (K,) float64
        Quartic confinement strengths (zeros: no confinement).
    beta, s2, dt, bound : float
        Inverse temperature, uniform-measure variance of one coordinate, time step,
        divergence threshold on ``|x - mu_x|`` and ``|y - mu_y|``.
    streams : ndarray (C, 4) uint64
        Per-chain streams; counters advance by ``words_per_step(N, M)`` per step.
    step0 : int
        Step number before this call; the steps done here are ``step0 + 1, ...``.
    n_steps : int
    divergence_step : ndarray (C, K) int64
        ``-1`` for finite modes; set to the step at which a mode diverged (then frozen).
    """
    n_chains, n = x.shape
    m = y.shape[1]
    k_pair = s.shape[0]
    n_pairs = (n + m + 1) // 2
    inv_s2 = 1.0 / s2
    noise = math.sqrt(2.0 * dt)
    q_fac = 2.0 * _SQRT2
    inv_sqrt2 = 1.0 / _SQRT2
    for c in prange(n_chains):
        key = streams[c, 0]
        gamma = streams[c, 1]
        n0 = streams[c, 2]
        z = np.empty(2 * n_pairs)
        xr = x[c]
        yr = y[c]
        dstep = divergence_step[c]
        for t in range(n_steps):
            step = step0 + t + 1
            base = key + n0 * gamma
            for j in range(n_pairs):
                w1 = mix64(base + np.uint64(j) * gamma)
                w2 = mix64(base + np.uint64(j + n_pairs) * gamma)
                z1, z2 = box_muller(w1, w2)
                z[j] = z1
                z[j + n_pairs] = z2
            n0 += np.uint64(2 * n_pairs)
            for k in range(k_pair):
                xk = np.float64(xr[k])
                yk = np.float64(yr[k])
                dx = xk - mu_x[k]
                dy = yk - mu_y[k]
                uq = (dx + dy) * inv_sqrt2
                q = q_fac * g[k] * uq * uq * uq
                gx = dx * inv_s2 - beta * (a_t[k] + s[k] * yk) + q
                gy = dy * inv_s2 - beta * (b_t[k] + s[k] * xk) + q
                xn = xk - dt * gx + noise * z[k]
                yn = yk - dt * gy + noise * z[n + k]
                ok = abs(xn - mu_x[k]) <= bound and abs(yn - mu_y[k]) <= bound
                live = dstep[k] < 0
                upd = ok and live
                xr[k] = xn if upd else xk
                yr[k] = yn if upd else yk
                dstep[k] = step if (live and not ok) else dstep[k]
            for k in range(k_pair, n):
                xk = np.float64(xr[k])
                xr[k] = xk - dt * ((xk - mu_x[k]) * inv_s2 - beta * a_t[k]) + noise * z[k]
            for k in range(k_pair, m):
                yk = np.float64(yr[k])
                yr[k] = yk - dt * ((yk - mu_y[k]) * inv_s2 - beta * b_t[k]) + noise * z[n + k]
        streams[c, 2] = n0


@numba.njit(parallel=True, cache=True)
def fill_normals(streams, out):
    """Fill ``out`` (C, 2P) float64 with N(0, 1) draws, row ``c`` from stream ``c``.

    Pair ``j`` of row ``c`` uses words ``n0 + j`` and ``n0 + P + j``; the counter
    advances by ``2P`` (the same layout as one step of :func:`em_steps`).
    """
    n_rows, width = out.shape
    n_pairs = width // 2
    for c in prange(n_rows):
        base, gamma, n0 = row_start(streams, c)
        row = out[c]
        for j in range(n_pairs):
            z1, z2 = box_muller(mix64(base + np.uint64(j) * gamma),
                                mix64(base + np.uint64(j + n_pairs) * gamma))
            row[j] = z1
            row[j + n_pairs] = z2
        streams[c, 2] = n0 + np.uint64(2 * n_pairs)
