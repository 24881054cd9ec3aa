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

A history stores, per record ``t`` and label ``l``: ``rank[t, l]`` (1-based position
of the mode in descending σ) and ``mode_sign[t, l]``; the tracked vector is then
``mode_sign[t, l] * ModeBasis.U[:, rank[t, l] - 1]`` of the model at record t
(:func:`tracked_vectors`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["ModeMatch", "ModeTracker", "track_modes", "tracked_vectors", "first_match"]


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
