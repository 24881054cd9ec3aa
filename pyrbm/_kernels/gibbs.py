"""Fused field -> probability -> sample kernels for block Gibbs sampling.

The matrix products of a Gibbs sweep stay in BLAS (``field = v @ W``); these kernels
do everything else in one pass over the field, a ``prange`` over chains (rows):

.. math::

    t_{cj} = \\beta_c\\,\\lambda\\,(f_{cj} + b_j), \\qquad
    p_{cj} = \\sigma(t_{cj}) = \\frac{1}{1 + e^{-t_{cj}}}, \\qquad
    s_{cj} = \\begin{cases} 1 & u_{cj} < p_{cj} \\\\ 0 \\text{ (binary) or } -1
    \\text{ (spin)} & \\text{otherwise} \\end{cases}

with :math:`\\lambda = 1` for binary units and :math:`\\lambda = 2` for spin units
(:math:`p(s=+1) = \\sigma(2\\beta(\\text{field}))`), and :math:`u_{cj}` a uniform
from chain ``c``'s counter-based stream (see :mod:`pyrbm._kernels.rng`).  The test
:math:`u < \\sigma(t)` is evaluated as :math:`u + u e^{-t} < 1` (one fused multiply-add).

The exponential (:func:`pyrbm._kernels.ieee.exp32` and ``exp64``) is a Cody-Waite range
reduction plus a Taylor polynomial (error below one float32 ulp for float32, about one
float64 ulp for float64) written with plain
IEEE arithmetic and explicit fused multiply-adds (``llvm.fma``, exactly rounded), so the
loop vectorises without ``fastmath`` and gives bit-identical results in vector and scalar
code paths (hence for every thread count, every buffer alignment and every split of a
run).  A float32 field uses two 23-bit uniforms per
64-bit word, a float64 field one 52-bit uniform per word.  Stream counters advance by
``ceil(n / 2)`` (float32) or ``n`` (float64) words per row per call.

This module imports only numpy, numba and math.
"""

import numba
import numpy as np
from numba import prange

from .ieee import exp, exp64, fma, like, sigmoid
from .rng import STREAM_WIDTH, mix64, row_start, u32_to_unit32, u64_to_unit64, uniform, unit32_pair

__all__ = ["sample_layer", "prob_layer", "joint_energy", "swap_replicas"]


# ---------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------
@numba.njit(inline="always", cache=True)
def _draw(u, t, low):
    """``1`` if :math:`u < \\sigma(-t)`, else ``low``.

    Tested as :math:`u + u e^{t} < 1` (one fused multiply-add), in the precision of ``u``.
    """
    one = like(1.0, u)
    return one if fma(u, exp(t), u) < one else low


@numba.njit(parallel=True, cache=True)
def _sample_f32(field, bias, scale, spin, streams, out):
    n_chains, n = field.shape
    m = n // 2
    odd = n - 2 * m
    low = np.float32(-1.0) if spin else np.float32(0.0)
    lam = np.float32(2.0) if spin else np.float32(1.0)
    for c in prange(n_chains):
        word, gamma, n0 = row_start(streams, c)  # counter word n0 + j: mix64(word + j gamma)
        nsc = -(np.float32(scale[c]) * lam)
        for j in range(m):
            u1, u2 = unit32_pair(mix64(word))
            word += gamma
            out[c, j] = _draw(u1, nsc * (field[c, j] + bias[j]), low)
            out[c, j + m] = _draw(u2, nsc * (field[c, j + m] + bias[j + m]), low)
        if odd:
            u1 = u32_to_unit32(mix64(word))
            out[c, n - 1] = _draw(u1, nsc * (field[c, n - 1] + bias[n - 1]), low)
        streams[c, 2] = n0 + np.uint64(m + odd)


@numba.njit(parallel=True, cache=True)
def _sample_f64(field, bias, scale, spin, streams, out):
    n_chains, n = field.shape
    low = -1.0 if spin else 0.0
    lam = 2.0 if spin else 1.0
    for c in prange(n_chains):
        word, gamma, n0 = row_start(streams, c)
        nsc = -(scale[c] * lam)
        for j in range(n):
            u = u64_to_unit64(mix64(word))
            word += gamma
            out[c, j] = _draw(u, nsc * (field[c, j] + bias[j]), low)
        streams[c, 2] = n0 + np.uint64(n)


@numba.njit(parallel=True, cache=True)
def _prob(field, bias, scale, spin, out):
    n_chains, n = field.shape
    lam = like(2.0 if spin else 1.0, field)
    for c in prange(n_chains):
        sc = like(scale[c], field) * lam
        frow = field[c]
        orow = out[c]
        for j in range(n):
            orow[j] = sigmoid(sc * (frow[j] + bias[j]))


# ---------------------------------------------------------------------------
# Python entry points (type normalisation keeps one compiled signature per dtype)
# ---------------------------------------------------------------------------
def _prepare(field, bias, beta, out):
    if not isinstance(field, np.ndarray) or field.ndim != 2:
        raise TypeError("field: expected a 2-D ndarray (n_chains, n_units)")
    dt = field.dtype
    if dt != np.float32 and dt != np.float64:
        raise TypeError(f"field: expected dtype float32 or float64, got {dt}")
    if not field.flags.c_contiguous:
        raise ValueError("field: expected a C-contiguous array; pass np.ascontiguousarray(field)")
    if not isinstance(out, np.ndarray) or out.shape != field.shape or out.dtype != dt:
        raise ValueError(
            f"out: expected an ndarray of shape {field.shape} and dtype {dt}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out: expected a writeable C-contiguous array")
    bias = np.array(bias, dtype=dt, copy=True)  # writable: one compiled signature
    if bias.shape != (field.shape[1],):
        raise ValueError(f"bias: expected shape ({field.shape[1]},), got {bias.shape}")
    scale = np.asarray(beta, dtype=np.float64)
    if scale.ndim == 0:
        scale = np.full(field.shape[0], float(scale))
    elif scale.shape != (field.shape[0],):
        raise ValueError(
            f"beta: expected a scalar or an array of shape ({field.shape[0]},) "
            f"(one inverse temperature per chain), got shape {scale.shape}")
    else:
        scale = np.array(scale, copy=True)
    return bias, scale


def sample_layer(field, bias, beta, spin, streams, out):
    """Sample one layer of every chain from its field, in place, in one pass.

    Parameters
    ----------
    field : ndarray, shape (C, n), float32 or float64, C-contiguous
        Field without bias, e.g. ``v @ W`` for the hidden layer.
    bias : array_like, shape (n,)
        Layer bias (``b`` for hidden, ``a`` for visible); cast to ``field.dtype``.
    beta : float or ndarray, shape (C,)
        Inverse temperature, one for all chains or one per chain.
    spin : bool
        False: binary units, samples in {0, 1} with :math:`p = \\sigma(\\beta(f+b))`.
        True: spin units, samples in {-1, +1} with :math:`p(+1) = \\sigma(2\\beta(f+b))`.
    streams : ndarray of uint64, shape (C, 4)
        Per-chain stream states (:func:`pyrbm._kernels.rng.make_streams`); the
        counters advance by ``ceil(n/2)`` (float32) or ``n`` (float64).
    out : ndarray, shape (C, n), same dtype as ``field``
        Receives the samples; may be ``field`` itself.

    Returns
    -------
    out : ndarray

    Notes
    -----
    Rows run in parallel on numba's threads (``prange``); the result does not depend
    on their number.  Between multi-threaded BLAS products (a Gibbs sweep) the kernel is
    best called with ``numba.set_num_threads(1)``, as :class:`pyrbm.GibbsSampler` does:
    worker threads spin-waiting after one call otherwise take cores from the next.
    """
    bias, scale = _prepare(field, bias, beta, out)
    if (not isinstance(streams, np.ndarray) or streams.dtype != np.uint64
            or streams.shape != (field.shape[0], STREAM_WIDTH)
            or not streams.flags.c_contiguous or not streams.flags.writeable):
        raise ValueError(
            f"streams: expected a writeable C-contiguous uint64 array of shape "
            f"({field.shape[0]}, {STREAM_WIDTH}) from make_streams")
    if field.dtype == np.float32:
        _sample_f32(field, bias, scale, bool(spin), streams, out)
    else:
        _sample_f64(field, bias, scale, bool(spin), streams, out)
    return out


def prob_layer(field, bias, beta, spin, out):
    """Conditional probabilities of one layer, :math:`p = \\sigma(\\beta\\lambda(f + b))`.

    Same arguments as :func:`sample_layer` without ``streams``; ``out`` receives
    :math:`p(s=1)` (binary) or :math:`p(s=+1)` (spin, :math:`\\lambda = 2`).
    """
    bias, scale = _prepare(field, bias, beta, out)
    _prob(field, bias, scale, bool(spin), out)
    return out


# ---------------------------------------------------------------------------
# replica exchange helpers
# ---------------------------------------------------------------------------
@numba.njit(parallel=True, cache=True)
def joint_energy(v, h, field_v, a, b, out):
    """Joint energies of rows, :math:`E = -v\\cdot(a + Wh) - b\\cdot h`, accumulated in float64.

    Parameters
    ----------
    v : ndarray (R, N); h : ndarray (R, M)
        Configurations (float32 or float64).
    field_v : ndarray (R, N)
        ``h @ W.T`` (the field the visible layer was sampled from, bias excluded).
    a, b : ndarray (N,), (M,) float64
        Biases.
    out : ndarray (R,) float64
        Receives the energies.
    """
    n_rows, n = v.shape
    m = h.shape[1]
    for r in prange(n_rows):
        e = 0.0
        for i in range(n):
            e -= np.float64(v[r, i]) * (a[i] + np.float64(field_v[r, i]))
        for j in range(m):
            e -= np.float64(h[r, j]) * b[j]
        out[r] = e


@numba.njit(inline="always", cache=True)
def _swap_rows(x, i, j):
    """Exchange rows ``i`` and ``j`` of the 2-D array ``x`` in place."""
    for k in range(x.shape[1]):
        t = x[i, k]
        x[i, k] = x[j, k]
        x[j, k] = t


@numba.njit(parallel=True, cache=True)
def swap_replicas(v, h, energy, betas, n_chains, parity, streams, accepted):
    """One pass of replica-exchange moves between neighbouring inverse temperatures.

    Rows are replica-major: row ``r * n_chains + c`` holds chain ``c`` at ``betas[r]``.
    For every chain and every pair ``(r, r+1)`` with ``r % 2 == parity`` the two
    configurations are exchanged with probability

    .. math:: \\min\\{1, \\exp[(\\beta_r - \\beta_{r+1})(E_r - E_{r+1})]\\},

    which keeps :math:`\\prod_r e^{-\\beta_r E(v_r, h_r)}` invariant.  The uniform comes
    from the stream of row ``r * n_chains + c`` (one word per attempted pair, drawn
    whether or not it is needed).  ``accepted[c, r]`` counts accepted exchanges.
    """
    n_rep = betas.shape[0]
    for c in prange(n_chains):
        for r in range(parity, n_rep - 1, 2):
            i = r * n_chains + c
            j = i + n_chains
            u = uniform(streams, i)
            log_alpha = (betas[r] - betas[r + 1]) * (energy[i] - energy[j])
            if log_alpha >= 0.0 or u < exp64(log_alpha):
                _swap_rows(v, i, j)
                _swap_rows(h, i, j)
                e = energy[i]
                energy[i] = energy[j]
                energy[j] = e
                accepted[c, r] += 1
