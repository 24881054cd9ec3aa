r"""Mode identity across a sequence of models: matching singular pairs by overlap.

A single model's modes come from the SVD :math:`W = U\Sigma V^\top`, ordered by
descending :math:`\sigma_k`, with a sign fixed by a rule on that model alone
(:class:`pyrbm.hamiltonian.ModeBasis`: the entry of largest magnitude of every
:math:`u_k` is positive, and :math:`v_k` flips with it). Both choices are arbitrary:
:math:`W` is unchanged when :math:`u_k` and :math:`v_k` flip together, and two modes of
similar :math:`\sigma` have no intrinsic order. Along a training run the rule therefore
flips a mode whenever two of its entries of similar size swap rank (its :math:`\tilde a_k`,
:math:`\tilde b_k`, saddle coordinates and :math:`u, w` jump sign), and the index
:math:`k` jumps to another mode whenever two singular values cross.

Tracking rule (:func:`track_modes`), applied at every record of a history: the modes of
the first record are labelled 1..K in descending :math:`\sigma` with the single-model
signs. At each later record, with the tracked vectors :math:`(u_l', v_l')` of the
previous record and the single-model vectors :math:`(u_k, v_k)` of the current one,

.. math::

    O_{lk} = \tfrac12\,(u_l'\cdot u_k + v_l'\cdot v_k),

label :math:`l` goes to the mode :math:`k = \pi(l)` given by the assignment
:math:`\pi` maximising :math:`\sum_l |O_{l\pi(l)}|` (Hungarian algorithm,
:func:`scipy.optimize.linear_sum_assignment`), and its sign is
:math:`s_l = \mathrm{sign}\,O_{l\pi(l)}` (+1 when 0), so that the tracked vectors
:math:`s_l u_{\pi(l)}, s_l v_{\pi(l)}` continue the previous ones. :math:`u` and :math:`v`
enter together because a flip acts on both; the pair overlap is invariant under the
flip of either record. Under the flip :math:`\tilde a_l = u_l\cdot a` and
:math:`\tilde b_l = v_l\cdot b` change sign together, so the saddle energy
:math:`\varepsilon_l = \tilde a_l\tilde b_l/\sigma_l` is the same in every convention.

Everything built on the tracked vectors (the saddle coordinates
:math:`x^*_l = -\tilde b_l/\sigma_l`, :math:`y^*_l = -\tilde a_l/\sigma_l`, the
rotated coordinates :math:`u, w` of a mode) is then continuous in time too, and a
label keeps its identity when its σ crosses another mode's.

The label ``l`` is the mode's identity at the *first* record (its rank there), not its
rank now: use :func:`by_rank` (``history.rbm.by_rank()``) for σ₁ ≥ σ₂ ≥ … at every
record. The assignment always pairs every label with some mode, also when the mode of a
label has no counterpart (a feature emerging from the bulk is a mixture of many bulk
modes, overlap ~ 1/√(bulk size) with each): :func:`split_identities` starts a new
identity wherever ``|overlap|`` with the previous record falls below :data:`MIN_OVERLAP`.

A history stores, per record ``t`` and label ``l``: ``rank[t, l]`` (1-based position
of the mode in descending σ) and ``mode_sign[t, l]``; the tracked vector is then
``mode_sign[t, l] * ModeBasis.U[:, rank[t, l] - 1]`` of the model at record t
(:func:`tracked_vectors`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy.optimize import linear_sum_assignment

__all__ = ["ModeMatch", "ModeTracker", "track_modes", "tracked_vectors", "first_match", "split_identities",
           "by_rank", "MIN_OVERLAP"]

#: Below this |overlap| with the previous record a match is not the same mode (a new identity).
MIN_OVERLAP = 0.5


@dataclass(frozen=True)
class ModeMatch:
    """The matching of tracked modes to the modes of a new model.

    Attributes
    ----------
    index : ndarray of int64, shape (K,)
        0-based position (in descending σ) of the mode that continues label ``l``.
    sign : ndarray of int64, shape (K,)
        ±1: the tracked vectors are ``sign[l] * (U[:, index[l]], V[:, index[l]])``.
    overlap : ndarray of float64, shape (K,)
        Signed overlap ``u'_l · u_l`` of the tracked left vector with its previous value
        (NaN at the first record).
    pair_overlap : ndarray of float64, shape (K,)
        ``|O_{l, index[l]}|`` in [0, 1], the matched pair overlap.
    """

    index: np.ndarray
    sign: np.ndarray
    overlap: np.ndarray
    pair_overlap: np.ndarray

    @property
    def rank(self) -> np.ndarray:
        """1-based rank of each tracked mode, ``index + 1``."""
        return self.index + 1


def _check_pair(name_u, U, name_v, V, K=None):
    U = np.asarray(U, dtype=np.float64)
    V = np.asarray(V, dtype=np.float64)
    if U.ndim != 2 or V.ndim != 2 or U.shape[1] != V.shape[1]:
        raise ValueError(f"{name_u}, {name_v}: expected matrices (N, K) and (M, K) with the same "
                         f"number of columns, got shapes {U.shape} and {V.shape}")
    if K is not None and U.shape[1] != K:
        raise ValueError(f"{name_u}: expected {K} columns (the previous record's), got {U.shape[1]}")
    return U, V


def first_match(K: int) -> ModeMatch:
    """The matching of the first record: labels 1..K are the modes in σ order, signs +1."""
    return ModeMatch(np.arange(K, dtype=np.int64), np.ones(K, dtype=np.int64),
                     np.full(K, np.nan), np.full(K, np.nan))


def track_modes(U_prev, V_prev, U, V) -> ModeMatch:
    r"""Match the modes of a new model to the tracked modes of the previous one.

    Parameters
    ----------
    U_prev, V_prev : ndarray, shape (N, K), (M, K)
        Tracked singular vectors of the previous record (columns by label).
    U, V : ndarray, shape (N, K), (M, K)
        Singular vectors of the new model (columns by descending σ, any signs).

    Returns
    -------
    ModeMatch
        ``index`` (the assignment maximising :math:`\sum_l |O_{l\pi(l)}|`,
        :math:`O = (U'^\top U + V'^\top V)/2`), ``sign`` (sign of the matched
        :math:`O`), the signed left overlap and the pair overlap; see the module notes.
    """
    U_prev, V_prev = _check_pair("U_prev", U_prev, "V_prev", V_prev)
    U, V = _check_pair("U", U, "V", V, K=U_prev.shape[1])
    if U.shape[0] != U_prev.shape[0] or V.shape[0] != V_prev.shape[0]:
        raise ValueError(f"U, V: shapes {U.shape}, {V.shape} differ from the previous record's "
                         f"{U_prev.shape}, {V_prev.shape}")
    O = 0.5 * (U_prev.T @ U + V_prev.T @ V)
    rows, index = linear_sum_assignment(np.abs(O), maximize=True)
    index = index[np.argsort(rows)].astype(np.int64)
    matched = O[np.arange(O.shape[0]), index]
    sign = np.where(matched < 0, -1, 1).astype(np.int64)
    # C-ordered operands: rows added in order, the same bits whatever the input layout
    # (a resumed run reads U_prev from a checkpoint)
    prod = np.ascontiguousarray(U_prev) * np.ascontiguousarray(U[:, index])
    overlap = sign * np.sum(prod, axis=0)
    return ModeMatch(index, sign, overlap, np.abs(matched))


def tracked_vectors(U, V, index, sign):
    """Columns of ``U`` (N, ≥K) and ``V`` (M, ≥K) in tracked order and sign.

    ``index`` (0-based, K) and ``sign`` (±1, K) as in :class:`ModeMatch`; from a history
    use ``index = rank[t] - 1`` and ``sign = mode_sign[t]``. Returns (N, K), (M, K) float64.
    """
    index = np.asarray(index, dtype=np.int64)
    sign = np.asarray(sign, dtype=np.float64)
    return (np.ascontiguousarray(np.asarray(U)[:, index] * sign),
            np.ascontiguousarray(np.asarray(V)[:, index] * sign))


class ModeTracker:
    """Follows the modes of a sequence of models (the records of a training run).

    Call it with each model's :class:`~pyrbm.hamiltonian.ModeBasis` in order; it returns
    the :class:`ModeMatch` of that record and keeps the tracked vectors for the next.

    Parameters
    ----------
    U, V : ndarray, shape (N, K), (M, K), optional
        Tracked vectors of the previous record (to continue a run, e.g. from a
        checkpoint); default: the next model is the first record.

    Attributes
    ----------
    U, V : ndarray or None
        Tracked singular vectors of the last record, C-ordered float64 (columns by label).
    """

    def __init__(self, U=None, V=None):
        if (U is None) != (V is None):
            raise ValueError("U, V: pass both tracked vector sets or neither")
        if U is not None:
            U, V = _check_pair("U", U, "V", V)
            U, V = np.ascontiguousarray(U), np.ascontiguousarray(V)
        self.U, self.V = U, V

    def __call__(self, modes) -> ModeMatch:
        """Match ``modes`` (a ModeBasis: ``U`` (N, N), ``V`` (M, M), ``s`` (K,)) to the last record."""
        K = modes.s.shape[0]
        U, V = modes.U[:, :K], modes.V[:, :K]
        match = first_match(K) if self.U is None else track_modes(self.U, self.V, U, V)
        self.U, self.V = tracked_vectors(U, V, match.index, match.sign)
        return match


def split_identities(overlap, threshold: float = MIN_OVERLAP) -> np.ndarray:
    r"""Mode identities that end where a match is too weak to be the same mode.

    Parameters
    ----------
    overlap : array_like, shape (T, K)
        Signed overlap of each tracked label with its previous record (a history's
        ``mode_overlap``; row 0, the first record, is ignored).
    threshold : float
        In (0, 1]: a match with ``|overlap| < threshold`` starts a new identity.

    Returns
    -------
    ndarray of int64, shape (T, K)
        ``identity[t, l]``: label l's identity at record t — ``l + 1`` until its first weak
        match, then ``K + 1``, ``K + 2``, … in order of appearance (record, then label).
        NaN overlaps (padding, the first record) keep the identity.
    """
    ov = np.asarray(overlap, dtype=np.float64)
    if ov.ndim != 2:
        raise ValueError(f"overlap: expected an array (records, modes), got shape {ov.shape}")
    if not (0 < float(threshold) <= 1):
        raise ValueError(f"threshold: expected a number in (0, 1], got {threshold!r}")
    T, K = ov.shape
    ident = np.empty((T, K), dtype=np.int64)
    ident[0] = np.arange(1, K + 1)
    nxt = K + 1
    for t in range(1, T):
        ident[t] = ident[t - 1]
        for l in np.flatnonzero(np.abs(np.nan_to_num(ov[t], nan=1.0)) < threshold):
            ident[t, l] = nxt
            nxt += 1
    return ident


def by_rank(history, *, threshold: float = MIN_OVERLAP):
    r"""The per-mode variables of a history indexed by rank: σ₁ ≥ σ₂ ≥ … at every record.

    Every variable with dims (…, epoch, mode) is re-indexed so that ``rank = r`` holds, at
    each record, the tracked mode with ``history.rank == r`` (1 = largest σ at that
    record). ``mode`` becomes a variable: the tracked label at that rank;
    ``identity`` the identity of :func:`split_identities` (a label whose match fell below
    ``threshold`` counts as a new mode) and ``new_identity`` 1 where that identity
    starts at this record (after the first).

    Parameters
    ----------
    history : xarray.Dataset
        A training history (``singular_value``, ``rank``, ``mode_overlap`` over (epoch,
        mode); extra dims of a combined scan are kept).
    threshold : float

    Returns
    -------
    xarray.Dataset
        Dims (…, epoch, rank); variables without ``mode`` are kept as they are.
    """
    if not isinstance(history, xr.Dataset):
        raise TypeError(f"history: expected an xarray.Dataset (a training history), got {type(history).__name__}")
    missing = [v for v in ("rank", "mode_overlap") if v not in history]
    if missing or "epoch" not in history.dims or "mode" not in history.dims:
        raise ValueError(f"history: expected a training history with 'rank' and 'mode_overlap' over (epoch, mode); "
                         f"missing {missing or 'the dims epoch, mode'}")
    rank = history["rank"]
    ident = xr.apply_ufunc(lambda o: _split_last2(o, threshold), history["mode_overlap"],
                           input_core_dims=[["epoch", "mode"]], output_core_dims=[["epoch", "mode"]])
    prev = ident.shift(epoch=1)
    new = ((ident != prev) & prev.notnull()).astype(np.int8)
    labels = xr.broadcast(history["mode"], rank)[0]
    extra = {"mode": labels, "identity": ident, "new_identity": new}

    def reorder(values, r):
        key = np.where(np.isfinite(r), r, np.inf)
        return np.take_along_axis(values, np.argsort(key, axis=-1, kind="stable"), axis=-1)

    out = {}
    for name, da in list(history.data_vars.items()) + list(extra.items()):
        if name == "rank" or "mode" not in da.dims or "epoch" not in da.dims:
            if "mode" not in da.dims:
                out[name] = da
            continue
        moved = xr.apply_ufunc(reorder, da, rank.astype(np.float64), input_core_dims=[["mode"], ["mode"]],
                               output_core_dims=[["mode"]], keep_attrs=True)
        out[name] = moved.rename(mode="rank").drop_vars("rank", errors="ignore")
    res = xr.Dataset(out, attrs=history.attrs)
    for name in ("mode", "identity"):
        if bool(res[name].notnull().all()):
            res[name] = res[name].astype(np.int64)
    res = res.drop_vars([c for c in res.coords if "mode" in res[c].dims], errors="ignore")
    res = res.assign_coords(rank=("rank", np.arange(1, history.sizes["mode"] + 1),
                                  {"long_name": "rank by descending singular value at that record (1 = largest)",
                                   "units": "1"}))
    res["mode"].attrs = {"long_name": "tracked mode label at this rank (identity at the first record)", "units": "1"}
    res["identity"].attrs = {"long_name": f"mode identity (new where |overlap| < {threshold:g})", "units": "1"}
    res["new_identity"].attrs = {"long_name": "1 where a new identity starts at this record", "units": "1"}
    return res


def _split_last2(overlap, threshold):
    """split_identities over the last two axes (epoch, mode) of an array with leading dims."""
    flat = overlap.reshape((-1,) + overlap.shape[-2:])
    return np.stack([split_identities(o, threshold) for o in flat]).reshape(overlap.shape).astype(np.float64)
