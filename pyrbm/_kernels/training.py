r"""Fused kernels around the matrix products of one RBM training update (CD-k / PCD-k).

The update keeps the large matrix products in BLAS (``h @ W.T`` and the stacked weight
gradient ``[v⁺; v⁻]ᵀ [p⁺/B; −p⁻/C]``) and does everything else here, each in one pass:

* :func:`binary_prob_scaled`: hidden probabilities of binary rows by a gather over their
  active units (about 13 % of the pixels of binarised MNIST), exact up to summation order,

  .. math::  p_{rj} = \sigma\Big(b_j + \sum_{i:\,v_{ri}=1} W_{ij}\Big),\qquad ps = s\,p;

* :func:`prob_scaled`: the same from a precomputed product (dense data);
* :func:`bernoulli`: samples from probabilities with the per-chain streams of
  :mod:`pyrbm._kernels.rng`;
* :func:`update_dense`: weight decay, bias gradients and the optimiser step, SGD with
  momentum (:math:`m \leftarrow \mu m + \eta g,\ \theta \leftarrow \theta + m`) or Adam
  (bias-corrected moments), in one pass over the parameters;
* :func:`update_sparse`: the same with the weight gradient gathered over the active units
  of the binary rows (no ``G`` product); its parts :func:`gather_columns`,
  :func:`update_sparse_rows` (any subset of the weight rows, ``nogil``) and
  :func:`update_biases` let the threads of a training update share it.

The update kernels take their state as named tuples (typed by numba as named tuples, so
one specialisation is compiled per dtype whatever the values): :class:`Moments` (the
optimiser moments), :class:`Hyper` (the constants of one update, :func:`hyper`) and
:class:`GatherWork` (work arrays, :func:`gather_work`).

Every sum runs in a fixed order and parallel loops split independent rows, so results
are reproducible bit for bit whatever the number of threads. Kernels are compiled with numba's
``error_model="numpy"``: the default Python error model checks every float division for
zero, which keeps the sigmoid loops from vectorising (about 8x slower).

This module imports only numpy, numba and its sibling kernels.
"""

import numba
import numpy as np
from numba import prange

from .ieee import sigmoid
from .rng import mix64, row_start, u32_to_unit32, u64_to_unit64, unit32_pair

__all__ = ["binary_prob_scaled", "prob_scaled", "bernoulli", "update_dense", "update_sparse",
           "gather_columns", "update_sparse_rows", "update_biases",
           "hyper", "moments", "gather_work", "Hyper", "Moments", "GatherWork",
           "OPT_SGD", "OPT_ADAM"]

OPT_SGD = 0
OPT_ADAM = 1


def _named_tuple(name: str, fields: str, doc: str):
    """A tuple class with named fields, typed by numba as a named tuple.

    numba compiles any subclass of ``tuple`` with ``_fields`` and ``_asdict`` as a named
    tuple (fields read by name, one compiled specialisation per field-type signature).
    Written out here because kernels import only numpy, numba and math.
    """
    names = tuple(fields.split())
    # The constructor takes exactly the fields, by position or name (numba types its calls).
    args = ", ".join(names)
    scope = {"_new": tuple.__new__}
    exec(f"def __new__(cls, {args}):\n    return _new(cls, ({args},))", scope)  # noqa: S102
    __new__ = scope["__new__"]

    def __repr__(self):
        return f"{name}(" + ", ".join(f"{f}={v!r}" for f, v in zip(names, self)) + ")"

    body = {"__new__": __new__, "__repr__": __repr__, "__slots__": (), "_fields": names,
            "_asdict": lambda self: dict(zip(names, self)), "__doc__": doc,
            "__module__": __name__, "__qualname__": name,
            "__getnewargs__": lambda self: tuple(self)}
    for i, f in enumerate(names):
        body[f] = property(lambda self, i=i: tuple.__getitem__(self, i))
    return type(name, (tuple,), body)


#: Constants of one update (:func:`hyper`): the optimiser code (``OPT_SGD``/``OPT_ADAM``),
#: the number of positive rows ``n_pos`` (int64), and floats of the parameters' dtype:
#: learning rate, momentum, weight decay, Adam's beta1, beta2, eps, bias corrections
#: ``c1 = 1/(1-beta1^t)``, ``c2 = 1/(1-beta2^t)``, ``ob1 = 1-beta1``, ``ob2 = 1-beta2``, and
#: the phase weights ``inv_pos = 1/n_pos``, ``inv_neg = 1/n_neg``.
Hyper = _named_tuple("Hyper", "opt n_pos lr momentum weight_decay beta1 beta2 eps c1 c2 ob1 "
                             "ob2 inv_pos inv_neg", "Constants of one training update.")

#: Optimiser moments, shaped like (W, W, a, a, b, b): SGD uses ``W1, a1, b1`` (velocity),
#: Adam all six (first and second moments).
Moments = _named_tuple("Moments", "W1 W2 a1 a2 b1 b2", "Optimiser moments.")

#: int64 work arrays of :func:`update_sparse`: ``act`` (N,), ``col`` (N + 1,), ``blk`` (>= nnz).
GatherWork = _named_tuple("GatherWork", "act col blk", "Work arrays of update_sparse.")


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _bernoulli_f32(p, streams, out):
    C, n = p.shape
    m = n // 2
    odd = n - 2 * m
    one = np.float32(1.0)
    zero = np.float32(0.0)
    for c in range(C):
        base, gamma, n0 = row_start(streams, c)
        pr = p[c]
        o = out[c]
        for j in range(m):
            u1, u2 = unit32_pair(mix64(base + np.uint64(j) * gamma))
            o[j] = one if u1 < pr[j] else zero
            o[j + m] = one if u2 < pr[j + m] else zero
        if odd:
            r = mix64(base + np.uint64(m) * gamma)
            o[n - 1] = one if u32_to_unit32(r) < pr[n - 1] else zero
        streams[c, 2] = n0 + np.uint64(m + odd)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _bernoulli_f64(p, streams, out):
    C, n = p.shape
    for c in range(C):
        base, gamma, n0 = row_start(streams, c)
        pr = p[c]
        o = out[c]
        for j in range(n):
            u = u64_to_unit64(mix64(base + np.uint64(j) * gamma))
            o[j] = 1.0 if u < pr[j] else 0.0
        streams[c, 2] = n0 + np.uint64(n)


def bernoulli(p, streams, out):
    """``out[c, j] = 1 if u < p[c, j] else 0``, u uniform from chain c's stream.

    Parameters
    ----------
    p : ndarray (C, n), float32 or float64, C-contiguous
        Probabilities.
    streams : ndarray of uint64 (C, 4)
        Per-chain streams (:func:`pyrbm._kernels.rng.make_streams`). As in
        :mod:`pyrbm._kernels.gibbs`, float32 takes two 23-bit uniforms per 64-bit word
        (counter advances by ceil(n/2)), float64 one 52-bit uniform per word (by n).
    out : ndarray (C, n), same dtype; receives the 0/1 samples (may be ``p``).
    """
    if p.dtype == np.float32:
        _bernoulli_f32(p, streams, out)
    else:
        _bernoulli_f64(p, streams, out)
    return out


@numba.njit(inline="always", error_model="numpy")
def _step(x, g, m1, m2, hp):
    """One optimiser step (ascent) of a parameter vector x with gradient g (``hp``: :class:`Hyper`)."""
    lr, mom = hp.lr, hp.momentum
    if hp.opt == 0:
        if mom != 0:
            for j in range(x.shape[0]):
                m1[j] = mom * m1[j] + lr * g[j]
                x[j] += m1[j]
        else:
            for j in range(x.shape[0]):
                x[j] += lr * g[j]
    else:
        b1, b2, eps, c1, c2, ob1, ob2 = hp.beta1, hp.beta2, hp.eps, hp.c1, hp.c2, hp.ob1, hp.ob2
        for j in range(x.shape[0]):
            m1[j] = b1 * m1[j] + ob1 * g[j]
            m2[j] = b2 * m2[j] + ob2 * g[j] * g[j]
            x[j] += lr * (m1[j] * c1) / (np.sqrt(m2[j] * c2) + eps)


@numba.njit(inline="always", error_model="numpy")
def _column_sums(X, like):
    """Column sums of ``X`` (R, M), rows added in order, as an array of ``like``'s dtype."""
    out = np.zeros(X.shape[1], dtype=like.dtype)
    for r in range(X.shape[0]):
        xr = X[r]
        for j in range(out.shape[0]):
            out[j] += xr[j]
    return out


def hyper(dtype, n_pos, n_neg, lr, momentum, weight_decay, beta1=0.9, beta2=0.999, eps=1e-8,
          t=1, opt=OPT_SGD) -> Hyper:
    """Constants of update number ``t`` (1-based) as a :class:`Hyper`.

    Every float is computed in float64 and rounded once to ``dtype`` (the parameters'
    dtype); ``opt`` is ``OPT_SGD`` or ``OPT_ADAM``.
    """
    if opt not in (OPT_SGD, OPT_ADAM):
        raise ValueError(f"opt: expected OPT_SGD ({OPT_SGD}) or OPT_ADAM ({OPT_ADAM}), got {opt!r}")
    f = np.dtype(dtype).type
    c1 = 1.0 / (1.0 - beta1 ** t)
    c2 = 1.0 / (1.0 - beta2 ** t)
    return Hyper(np.int64(opt), np.int64(n_pos), f(lr), f(momentum), f(weight_decay), f(beta1),
                 f(beta2), f(eps), f(c1), f(c2), f(1.0 - beta1), f(1.0 - beta2), f(1.0 / n_pos),
                 f(1.0 / n_neg))


def moments(W, a, b) -> Moments:
    """Zero optimiser moments shaped and typed like the parameters."""
    return Moments(*(np.zeros_like(x) for x in (W, W, a, a, b, b)))


def gather_work(n_visible: int, n_rows: int) -> GatherWork:
    """Work arrays of :func:`update_sparse` for ``n_rows`` stacked rows of ``n_visible`` units."""
    return GatherWork(np.empty(n_visible, np.int64), np.empty(n_visible + 1, np.int64),
                      np.empty(n_rows * n_visible, np.int64))


# ---------------------------------------------------------------------------
# dense path: the matrix products in BLAS, everything around them fused here
# ---------------------------------------------------------------------------
@numba.njit(cache=True, error_model="numpy")
def prob_scaled(field, bias, p, ps, s):
    r"""``p = σ(field + bias)`` and ``ps = s·p`` in one pass (rows of ``field``).

    Parameters
    ----------
    field : ndarray (R, M)   products ``v @ W`` (float32 or float64)
    bias : ndarray (M,)
    p, ps : ndarray (R, M)   outputs (``p`` may be ``field``)
    s : float                scale of the second output (e.g. 1/B, or -1/C)
    """
    R, M = field.shape
    for r in range(R):
        f = field[r]
        pr = p[r]
        qr = ps[r]
        for j in range(M):
            x = sigmoid(f[j] + bias[j])
            pr[j] = x
            qr[j] = x * s


@numba.njit(cache=True, error_model="numpy")
def update_dense(W, a, b, G, V2, P2s, mom, hp):
    r"""Optimiser step from the stacked-phase product, in place.

    ``G = V2ᵀ P2s`` with ``V2 = [v⁺; v⁻]`` (B + C rows, 0/1) and
    ``P2s = [p⁺/B; −p⁻/C]`` is the weight gradient without decay; the visible-bias
    gradient is ``⟨v⁺⟩ − ⟨v⁻⟩`` (rows ``< hp.n_pos`` weighted 1/B, the rest −1/C) and the
    hidden-bias gradient the column sums of ``P2s``.

    Parameters
    ----------
    W, a, b : ndarray (N, M), (N,), (M,)   parameters, updated in place
    G : ndarray (N, M)   ``V2ᵀ P2s``
    V2 : ndarray (B + C, N)   stacked visible rows
    P2s : ndarray (B + C, M)   stacked scaled hidden probabilities
    mom : :class:`Moments`   optimiser moments, updated in place
    hp : :class:`Hyper`   constants of this update (:func:`hyper`)
    """
    N, M = W.shape
    R = V2.shape[0]
    n_pos = hp.n_pos
    wd = hp.weight_decay
    inv_b = hp.inv_pos
    inv_c = hp.inv_neg
    g = np.empty(M, dtype=W.dtype)
    for i in range(N):
        w = W[i]
        gi = G[i]
        for j in range(M):
            g[j] = gi[j] - wd * w[j]
        _step(w, g, mom.W1[i], mom.W2[i], hp)
    ga = np.zeros(N, dtype=W.dtype)
    for r in range(R):
        s = inv_b if r < n_pos else -inv_c
        vr = V2[r]
        for i in range(N):
            ga[i] += s * vr[i]
    _step(a, ga, mom.a1, mom.a2, hp)
    _step(b, _column_sums(P2s, W), mom.b1, mom.b2, hp)


@numba.njit(inline="always", error_model="numpy")
def _add_rows(acc, X, idx, k0, k1):
    """``acc += X[idx[k0]] + ... + X[idx[k1 - 1]]``, four rows at a time, in order.

    Each group of four is summed as ``(x0 + x1) + (x2 + x3)`` before it is added to
    ``acc``; the last ``(k1 - k0) % 4`` rows are added one by one.
    """
    M = acc.shape[0]
    k = k0
    while k + 4 <= k1:
        x0 = X[idx[k]]
        x1 = X[idx[k + 1]]
        x2 = X[idx[k + 2]]
        x3 = X[idx[k + 3]]
        for j in range(M):
            acc[j] += (x0[j] + x1[j]) + (x2[j] + x3[j])
        k += 4
    while k < k1:
        x0 = X[idx[k]]
        for j in range(M):
            acc[j] += x0[j]
        k += 1


@numba.njit(inline="always", error_model="numpy")
def _gather_row(v, W, bias, o, q, s, act):
    """o = sigmoid(bias + sum of the rows of W where v != 0), q = s o."""
    N = v.shape[0]
    M = W.shape[1]
    n_act = 0
    for i in range(N):  # branch-free compaction of the active units
        act[n_act] = i
        n_act += v[i] != 0
    for j in range(M):
        o[j] = bias[j]
    _add_rows(o, W, act, 0, n_act)
    for j in range(M):
        x = sigmoid(o[j])
        o[j] = x
        q[j] = x * s


# nogil: the threads of a training update (pyrbm._threads.Team) run it side by side.
@numba.njit(cache=True, parallel=True, nogil=True, error_model="numpy")
def binary_prob_scaled(V, W, bias, p, ps, s):
    r"""Hidden probabilities of binary rows by a gather over their active units.

    For every row ``r`` of ``V`` (values 0/1), with :math:`A_r = \{i : V_{ri} = 1\}`:

    .. math::  p_{rj} = \sigma\Big(b_j + \sum_{i \in A_r} W_{ij}\Big),\qquad ps_{rj} = s\,p_{rj}

    exactly ``σ(V @ W + b)`` up to the order of the sum (rows of W are added four at a
    time, in increasing ``i``). Costs ``|A_r|·M`` additions per row instead of ``N·M``.
    Rows are independent: the result does not depend on the number of threads.

    Parameters
    ----------
    V : ndarray (R, N)  binary rows (float32/float64)
    W : ndarray (N, M)
    bias : ndarray (M,)
    p, ps : ndarray (R, M)  outputs
    s : float  scale of ``ps``
    """
    R, N = V.shape
    n_blocks = min(R, 64)
    for blk in prange(n_blocks):
        act = np.empty(N, dtype=np.int64)
        for r in range(blk * R // n_blocks, (blk + 1) * R // n_blocks):
            _gather_row(V[r], W, bias, p[r], ps[r], s, act)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def gather_columns(V2, work):
    r"""List, for every visible unit ``i``, the rows ``r`` of ``V2`` with ``V2[r, i] != 0``.

    A transpose of the active units (a counting sort): afterwards the rows of unit ``i``
    are ``work.blk[work.col[i]:work.col[i + 1]]``, in increasing ``r``. The first step of
    :func:`update_sparse`; :func:`update_sparse_rows` reads it.

    Parameters
    ----------
    V2 : ndarray (R, N)   stacked binary visible rows
    work : :class:`GatherWork`   int64 work arrays (:func:`gather_work`), filled in place
    """
    R, N = V2.shape
    act, col, blk = work.act, work.col, work.blk
    for i in range(N + 1):
        col[i] = 0
    for r in range(R):
        v = V2[r]
        for i in range(N):
            col[i + 1] += v[i] != 0
    for i in range(N):
        col[i + 1] += col[i]
    fill = col[:N].copy()
    for r in range(R):
        v = V2[r]
        n_act = 0
        for i in range(N):
            act[n_act] = i
            n_act += v[i] != 0
        for k in range(n_act):
            i = act[k]
            blk[fill[i]] = r
            fill[i] += 1


@numba.njit(inline="always", error_model="numpy")
def _sparse_row(W, P2s, mom, hp, work, ga, g, i):
    """Gradient of row ``i`` of ``W`` gathered over its active rows, its optimiser step, and ``ga[i]``."""
    col, blk = work.col, work.blk
    k0 = col[i]
    k1 = col[i + 1]
    w = W[i]
    wd = hp.weight_decay
    for j in range(W.shape[1]):
        g[j] = -wd * w[j]
    _add_rows(g, P2s, blk, k0, k1)
    _step(w, g, mom.W1[i], mom.W2[i], hp)
    n_p = 0
    for k in range(k0, k1):
        n_p += blk[k] < hp.n_pos
    ga[i] = n_p * hp.inv_pos - (k1 - k0 - n_p) * hp.inv_neg


@numba.njit(cache=True, nogil=True, error_model="numpy")
def update_sparse_rows(W, P2s, mom, hp, work, ga, start, step):
    r"""The weight rows ``start, start + step, ...`` of :func:`update_sparse`, in place.

    For each such row ``i``: :math:`g_j = -\lambda W_{ij} + \sum_{r \in A_i} P2s_{rj}`
    (``A_i`` from :func:`gather_columns`, four rows at a time in increasing ``r``), the
    optimiser step of ``W[i]`` and its moments, and the visible-bias gradient ``ga[i]``.
    Rows are independent, so any split of the rows between threads gives the same
    result; ``nogil``, for the threads of a training update.

    Parameters
    ----------
    ga : ndarray (N,)   receives the visible-bias gradient of the rows done
    start, step : int   the rows ``range(start, N, step)``
    Other parameters as in :func:`update_sparse`.
    """
    g = np.empty(W.shape[1], dtype=W.dtype)
    for i in range(start, W.shape[0], step):
        _sparse_row(W, P2s, mom, hp, work, ga, g, i)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def update_biases(a, b, ga, P2s, mom, hp):
    """The optimiser steps of the biases: ``a`` with gradient ``ga``, ``b`` with the column sums of ``P2s``."""
    _step(a, ga, mom.a1, mom.a2, hp)
    _step(b, _column_sums(P2s, b), mom.b1, mom.b2, hp)


@numba.njit(cache=True, parallel=True, error_model="numpy")
def update_sparse(W, a, b, V2, P2s, mom, hp, work):
    r"""Weight gradient by a gather over active units, fused with the optimiser step.

    Same result as ``G = V2ᵀ P2s`` followed by :func:`update_dense`, without forming
    ``G``: for every visible unit ``i`` the rows ``r`` of ``V2`` with ``V2[r, i] = 1``
    are listed (:func:`gather_columns`), and

    .. math::  G_{ij} = \sum_{r:\,V2_{ri}=1} P2s_{rj},

    summed four rows at a time in increasing ``r``; the row of ``W`` is updated at once
    (as :func:`update_sparse_rows`), then the biases (:func:`update_biases`).
    Costs ``nnz(V2)·M`` additions instead of ``(B + C)·N·M``.

    Parameters
    ----------
    work : :class:`GatherWork`   int64 work arrays (:func:`gather_work`)
    Other parameters as in :func:`update_dense`.
    """
    N, M = W.shape
    gather_columns(V2, work)
    ga = np.empty(N, dtype=W.dtype)
    n_blocks = min(N, 64)
    for blk_i in prange(n_blocks):
        g = np.empty(M, dtype=W.dtype)
        for i in range(blk_i * N // n_blocks, (blk_i + 1) * N // n_blocks):
            _sparse_row(W, P2s, mom, hp, work, ga, g, i)
    update_biases(a, b, ga, P2s, mom, hp)
