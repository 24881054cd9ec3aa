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

This module imports only numpy, numba and math; the tiled entry points take the thread
policy's tile runner (:func:`pyrbm._threads.run_tiles`) as an argument.
"""


import numba
import numpy as np
from numba import prange

from .ieee import exp, exp64, fma, like, sigmoid
from .rng import STREAM_WIDTH, mix64, row_start, u32_to_unit32, u64_to_unit64, uniform, unit32_pair

__all__ = [
    "sample_layer",
    "prob_layer",
    "joint_energy",
    "swap_replicas",
    "GibbsWorkspace",
    "TILE_BYTES",
    "default_tile_rows",
    "make_workspace",
    "block_gibbs_sweeps",
    "sample_hidden",
    "sample_uniform",
]


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


@numba.njit(inline="always", cache=True)
def _row_f32(field, bias, scale, spin, streams, out, c):
    """Row ``c`` of the float32 kernel: two 23-bit uniforms per stream word."""
    n = field.shape[1]
    m = n // 2
    odd = n - 2 * m
    low = np.float32(-1.0) if spin else np.float32(0.0)
    lam = np.float32(2.0) if spin else np.float32(1.0)
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


@numba.njit(inline="always", cache=True)
def _row_f64(field, bias, scale, spin, streams, out, c):
    """Row ``c`` of the float64 kernel: one 52-bit uniform per stream word."""
    n = field.shape[1]
    low = -1.0 if spin else 0.0
    lam = 2.0 if spin else 1.0
    word, gamma, n0 = row_start(streams, c)
    nsc = -(scale[c] * lam)
    for j in range(n):
        u = u64_to_unit64(mix64(word))
        word += gamma
        out[c, j] = _draw(u, nsc * (field[c, j] + bias[j]), low)
    streams[c, 2] = n0 + np.uint64(n)


# nogil: the threads of pyrbm._threads.run_tiles run these kernels side by side, one
# numba thread each.
@numba.njit(parallel=True, nogil=True, cache=True)
def _sample_f32(field, bias, scale, spin, streams, out):
    for c in prange(field.shape[0]):
        _row_f32(field, bias, scale, spin, streams, out, c)


@numba.njit(parallel=True, nogil=True, cache=True)
def _sample_f64(field, bias, scale, spin, streams, out):
    for c in prange(field.shape[0]):
        _row_f64(field, bias, scale, spin, streams, out, c)


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
    Rows run in parallel on numba's threads (``prange``; one thread, the GIL released,
    inside a tile of :func:`pyrbm._threads.run_tiles`); the result does not depend on
    the number of threads.
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
@numba.njit(parallel=True, nogil=True, cache=True)
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
    for r in prange(v.shape[0]):
        _energy_row(v, h, field_v, a, b, out, r)


@numba.njit(inline="always", cache=True)
def _energy_row(v, h, field_v, a, b, out, r):
    e = 0.0
    for i in range(v.shape[1]):
        e -= np.float64(v[r, i]) * (a[i] + np.float64(field_v[r, i]))
    for j in range(h.shape[1]):
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


# ---------------------------------------------------------------------------
# block-Gibbs sweeps over row tiles, one thread per tile
# ---------------------------------------------------------------------------
TILE_BYTES = 8 * 2 ** 20
"""Bytes of the two field buffers of one tile (a few L2 caches); one such pair per thread."""

PARALLEL_TILE_WORK = 1 << 24
"""Multiply-adds of one tile's product below which a tile is not split further for threads."""

MAX_SPLIT = 8
"""Most tiles that chains whose fields fit in :data:`TILE_BYTES` are split into for threads."""


class GibbsWorkspace:
    """Field buffers of row tiles, one pair per thread (:func:`make_workspace`).

    Attributes
    ----------
    field_h : ndarray (tile_rows, M)
        ``v[tile] @ W`` (the first thread's buffer).
    field_v : ndarray (tile_rows, N)
        ``h[tile] @ W.T``.
    tile_rows : int
        Rows (chains) per tile; the last tile of a pass may be shorter.

    Notes
    -----
    The buffers of the other threads of :func:`pyrbm._threads.run_tiles` are allocated
    on their first use (:meth:`buffers`): memory ``threads·tile_rows·(N + M)`` numbers.
    """

    __slots__ = ("field_h", "field_v", "tile_rows", "_more")

    def __init__(self, field_h, field_v, tile_rows):
        self.field_h, self.field_v, self.tile_rows = field_h, field_v, tile_rows
        self._more = {}

    def buffers(self, slot: int):
        """``(field_h, field_v)`` of thread ``slot`` (each slot is used by one thread at a time)."""
        if slot == 0:
            return self.field_h, self.field_v
        if slot not in self._more:
            self._more[slot] = (np.empty_like(self.field_h), np.empty_like(self.field_v))
        return self._more[slot]


def default_tile_rows(n_rows, n_visible, n_hidden, dtype):
    """Rows per tile: fields in cache, and enough tiles for the threads when the products are large.

    .. math::

        n = \\max\\Big(\\Big\\lceil \\frac{R\\,(N + M)\\,s}{B} \\Big\\rceil,\\
            \\min\\Big(S, \\Big\\lfloor \\frac{R}{\\lceil W_p / (N M) \\rceil} \\Big\\rfloor\\Big)\\Big),
        \\qquad T = \\lceil R / n \\rceil,

    with :math:`R` rows, :math:`s` the item size, :math:`B` = ``TILE_BYTES``,
    :math:`S` = ``MAX_SPLIT`` and :math:`W_p` = ``PARALLEL_TILE_WORK``: tiles whose
    fields fit in cache, split further (at most ``S`` tiles) while each tile's product
    keeps at least :math:`W_p` multiply-adds, so that threads can share them. Tiles are
    balanced (no short remainder tile, whose small BLAS product runs slowly) and small
    products stay one tile (:math:`T = R`, the untiled sweep). The rule depends only on
    the shapes and the dtype, never on the machine or its threads, so a seed gives the
    same chains everywhere the BLAS library does.
    """
    row_bytes = (n_visible + n_hidden) * np.dtype(dtype).itemsize
    max_rows = max(1, TILE_BYTES // row_bytes)
    n_tiles = -(-n_rows // max_rows)
    min_rows = -(-PARALLEL_TILE_WORK // max(1, n_visible * n_hidden))
    n_tiles = max(n_tiles, min(MAX_SPLIT, n_rows // min_rows))
    return max(1, -(-n_rows // max(1, n_tiles)))


def make_workspace(n_rows, n_visible, n_hidden, dtype, tile_rows=None):
    """Field buffers for sweeps of ``n_rows`` chains in tiles of ``tile_rows`` rows.

    Parameters
    ----------
    n_rows : int
        Chains (rows of ``v`` and ``h``), >= 1.
    n_visible, n_hidden : int
        Layer sizes N and M.
    dtype : {numpy.float32, numpy.float64}
    tile_rows : int, optional
        Rows per tile (>= 1; values above ``n_rows`` mean one tile).  Default:
        :func:`default_tile_rows`.

    Returns
    -------
    GibbsWorkspace
        ``min(tile_rows, n_rows) * (N + M)`` numbers per thread: memory independent of
        the chain count once it exceeds one tile.
    """
    for name, val, low in (("n_rows", n_rows, 1), ("n_visible", n_visible, 1), ("n_hidden", n_hidden, 1)):
        if not isinstance(val, (int, np.integer)) or isinstance(val, bool) or val < low:
            raise ValueError(f"{name}: expected an integer >= {low}, got {val!r}")
    dt = np.dtype(dtype)
    if dt != np.float32 and dt != np.float64:
        raise TypeError(f"dtype: expected float32 or float64, got {dt}")
    if tile_rows is None:
        tile_rows = default_tile_rows(n_rows, n_visible, n_hidden, dt)
    elif not isinstance(tile_rows, (int, np.integer)) or isinstance(tile_rows, bool) or tile_rows < 1:
        raise ValueError(f"tile_rows: expected an integer >= 1 or None, got {tile_rows!r}")
    rows = int(min(tile_rows, n_rows))
    return GibbsWorkspace(np.empty((rows, int(n_hidden)), dt), np.empty((rows, int(n_visible)), dt), rows)


def _check_c(name, x, shape, dtype, writeable=False):
    if (not isinstance(x, np.ndarray) or x.shape != shape or x.dtype != dtype or not x.flags.c_contiguous
            or (writeable and not x.flags.writeable)):
        got = f"{type(x).__name__} {getattr(x, 'shape', '')} {getattr(x, 'dtype', '')}"
        raise ValueError(f"{name}: expected a{' writeable' if writeable else ''} C-contiguous ndarray of shape "
                         f"{shape} and dtype {np.dtype(dtype)}, got {got}")


def _check_layers(v, h, W, beta_rows, streams, workspace):
    """Shapes and dtypes shared by the tiled entry points; returns ``(kernel, tiles)``."""
    if not isinstance(v, np.ndarray) or v.ndim != 2:
        raise ValueError("v: expected a 2-D ndarray (n_rows, n_visible)")
    dt = v.dtype
    if dt != np.float32 and dt != np.float64:
        raise TypeError(f"v: expected dtype float32 or float64, got {dt}")
    (n_rows, n), m = v.shape, (h.shape[1] if isinstance(h, np.ndarray) and h.ndim == 2 else -1)
    _check_c("v", v, (n_rows, n), dt, writeable=True)
    _check_c("h", h, (n_rows, m), dt, writeable=True)
    if W is not None:
        _check_c("W", W, (n, m), dt)
    _check_c("beta_rows", beta_rows, (n_rows,), np.float64)
    _check_c("streams", streams, (n_rows, STREAM_WIDTH), np.uint64, writeable=True)
    if (not isinstance(workspace, GibbsWorkspace) or workspace.field_h.shape[1:] != (m,)
            or workspace.field_v.shape[1:] != (n,) or workspace.field_h.dtype != dt
            or workspace.tile_rows != min(workspace.field_h.shape[0], n_rows)):
        raise ValueError(f"workspace: expected make_workspace({n_rows}, {n}, {m}, {dt.name}) (or with "
                         f"another tile_rows), got {workspace!r:.200}")
    t = workspace.tile_rows
    tiles = [slice(s, min(s + t, n_rows)) for s in range(0, n_rows, t)]
    return (_sample_f32 if dt == np.float32 else _sample_f64), tiles


def _serial_tiles(fn, n_tiles):
    """Tile runner that runs every tile on the calling thread, in order."""
    for t in range(n_tiles):
        fn(t, 0)


def block_gibbs_sweeps(v, h, W, a, b, beta_rows, spin, streams, n_sweeps, workspace, energy=None,
                       energy_biases=None, runner=None):
    """``n_sweeps`` block-Gibbs sweeps of every chain in place, tile by tile, a thread per tile.

    One sweep of chain (row) ``c`` is :math:`h_c \\sim p(h|v_c)`, then
    :math:`v_c \\sim p(v|h_c)`:

    .. math::

        h_c = \\mathrm{draw}(v_c W + b), \\qquad v_c = \\mathrm{draw}(h_c W^\\top + a),

    with ``draw`` the fused kernel of :func:`sample_layer` at :math:`\\beta_c` =
    ``beta_rows[c]``.  The rows are processed in tiles of ``workspace.tile_rows``, shared
    by the threads of :func:`pyrbm._threads.run_tiles`: a thread runs the BLAS products
    ``np.matmul(v[tile], W, out=...)`` (on one BLAS thread) and the fused kernels of its
    tile for all ``n_sweeps`` sweeps before it takes the next tile, so the tile's fields
    and chains stay in its cache and threads never wait for each other between
    products.  Chains are independent and draw from their own streams, so the samples
    equal those of full-size products followed by the kernel whenever the BLAS library
    computes each row of a product the same way in a tile and in the whole (it may not:
    small products take other code paths, and a row's field can then differ by an ulp
    and, rarely, a draw); the tiles depend only on the shapes, never on the threads.

    Parameters
    ----------
    v : ndarray (R, N); h : ndarray (R, M)
        Chains, float32 or float64, C-contiguous, overwritten.
    W : ndarray (N, M); a : ndarray (N,); b : ndarray (M,)
        Couplings and biases in the dtype of ``v`` (C-contiguous).
    beta_rows : ndarray (R,) float64
        Inverse temperature of each row.
    spin : bool
        Spin (±1) units instead of binary (0/1) ones.
    streams : ndarray (R, 4) uint64
        Per-row random streams (:func:`pyrbm._kernels.rng.make_streams`), advanced.
    n_sweeps : int
        Sweeps (>= 0).
    workspace : GibbsWorkspace
        From :func:`make_workspace` for these shapes and dtype.
    energy : ndarray (R,) float64, optional
        Receives the joint energies :math:`E(v, h)` after the last sweep, from its
        visible field (:func:`joint_energy`); needs ``n_sweeps >= 1``.
    energy_biases : tuple of ndarray (N,), (M,) float64
        ``(a, b)`` in float64 for ``energy``.
    runner : callable, optional
        ``runner(fn, n_tiles)`` calls ``fn(tile, slot)`` for every tile:
        :func:`pyrbm._threads.run_tiles` (threads, as the samplers pass), or by default
        every tile in order on the calling thread. Results do not depend on it.
    """
    kern, tiles = _check_layers(v, h, W, beta_rows, streams, workspace)
    dt = v.dtype
    n, m = W.shape
    _check_c("a", a, (n,), dt)
    _check_c("b", b, (m,), dt)
    if not isinstance(n_sweeps, (int, np.integer)) or isinstance(n_sweeps, bool) or n_sweeps < 0:
        raise ValueError(f"n_sweeps: expected an integer >= 0, got {n_sweeps!r}")
    if energy is not None:
        _check_c("energy", energy, (v.shape[0],), np.float64, writeable=True)
        if n_sweeps < 1:
            raise ValueError("energy: needs n_sweeps >= 1 (it is computed from the last sweep's field)")
        if not isinstance(energy_biases, tuple) or len(energy_biases) != 2:
            raise ValueError("energy_biases: expected a tuple (a, b) of float64 arrays with energy")
        _check_c("energy_biases[0]", energy_biases[0], (n,), np.float64)
        _check_c("energy_biases[1]", energy_biases[1], (m,), np.float64)
    spin = bool(spin)
    WT = W.T  # BLAS reads the transpose in place
    matmul = np.matmul

    def tile(i, slot):
        t = tiles[i]
        k = t.stop - t.start
        vt, ht, st, bt = v[t], h[t], streams[t], beta_rows[t]
        fh, fv = workspace.buffers(slot)
        fh, fv = fh[:k], fv[:k]
        for _ in range(n_sweeps):
            matmul(vt, W, out=fh)
            kern(fh, b, bt, spin, st, ht)
            matmul(ht, WT, out=fv)
            kern(fv, a, bt, spin, st, vt)
        if energy is not None:
            joint_energy(vt, ht, fv, energy_biases[0], energy_biases[1], energy[t])

    (runner or _serial_tiles)(tile, len(tiles))
    return v, h


def sample_hidden(v, h, W, b, beta_rows, spin, streams, workspace, runner=None):
    """Half a sweep in place, tile by tile: :math:`h_c \\sim p(h|v_c)`, from ``v @ W + b``.

    Arguments as in :func:`block_gibbs_sweeps`; the streams advance by one layer.
    """
    kern, tiles = _check_layers(v, h, W, beta_rows, streams, workspace)
    _check_c("b", b, (W.shape[1],), v.dtype)
    spin = bool(spin)

    def tile(i, slot):
        t = tiles[i]
        fh = workspace.buffers(slot)[0][:t.stop - t.start]
        np.matmul(v[t], W, out=fh)
        kern(fh, b, beta_rows[t], spin, streams[t], h[t])

    (runner or _serial_tiles)(tile, len(tiles))
    return h


def sample_uniform(v, h, beta_rows, spin, streams, workspace, runner=None):
    """Uniform visible units in place: each 1 (+1) or 0 (-1) with probability 1/2.

    The fused kernel of :func:`sample_layer` with a zero field and bias
    (:math:`\\sigma(0) = 1/2`), tile by tile; ``h`` only gives the hidden size and is
    left unchanged.  The streams advance by one visible layer; ``runner`` as in
    :func:`block_gibbs_sweeps`.
    """
    kern, tiles = _check_layers(v, h, None, beta_rows, streams, workspace)
    zero_bias = np.zeros(v.shape[1], v.dtype)
    spin = bool(spin)

    def tile(i, slot):
        t = tiles[i]
        fv = workspace.buffers(slot)[1][:t.stop - t.start]
        fv[...] = 0
        kern(fv, zero_bias, beta_rows[t], spin, streams[t], v[t])

    (runner or _serial_tiles)(tile, len(tiles))
    return v
