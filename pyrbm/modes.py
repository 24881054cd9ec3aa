r"""Reciprocal space of a Hamiltonian: the sign-fixed full SVD ``W = U Σ Vᵀ``.

In this basis (``x = Uᵀv``, ``y = Vᵀh``, ``ã = Uᵀa``, ``b̃ = Vᵀb``) the energy decouples into
paired modes, saddles of curvature ``±σ_k``, and free modes (docs/physics.md §2–§5).
:class:`ModeBasis` is built by :attr:`pyrbm.Hamiltonian.modes`.
"""

from __future__ import annotations

import functools

import numpy as np

from ._checks import check_finite_array, check_modes

__all__ = ["ModeBasis"]

_SQRT2 = np.sqrt(2.0)


def _fix_signs(m: np.ndarray) -> np.ndarray:
    """Sign of each column that makes its entry of largest magnitude positive."""
    if m.shape[1] == 0:
        return np.ones(0)
    idx = np.argmax(np.abs(m), axis=0)
    sign = np.sign(m[idx, np.arange(m.shape[1])])
    sign[sign == 0] = 1.0
    return sign


def _last_axis(name: str, arr, n: int) -> np.ndarray:
    """``arr`` as finite float64 with last axis of length ``n`` (any real values allowed)."""
    out = check_finite_array(name, arr)
    if out.ndim == 0 or out.shape[-1] != n:
        raise ValueError(f"{name}: expected an array of shape (..., {n}), got {out.shape}")
    return out


def _frozen(arr: np.ndarray) -> np.ndarray:
    """``arr`` itself (a fresh array nobody else holds), made read-only."""
    arr.flags.writeable = False
    return arr


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr, dtype=np.float64, copy=True)
    arr.flags.writeable = False
    return arr


class ModeBasis:
    r"""Reciprocal space of a Hamiltonian: the sign-fixed full SVD ``W = U Σ Vᵀ``.

    Attributes
    ----------
    U : ndarray (N, N)
        Left singular vectors (columns); the first K are paired, the rest free.
    s : ndarray (K,)
        Singular values σ_1 ≥ … ≥ σ_K ≥ 0, K = min(N, M), as LAPACK returns them.
    sigma_tol : float
        Rank threshold ``max(N, M)·ε·σ_1`` (ε the float64 machine epsilon), the one
        ``numpy.linalg.matrix_rank`` uses: a singular value at or below it is rounding noise.
    coupled : ndarray of bool (K,)
        ``σ_k > sigma_tol``: the paired modes that really couple x_k and y_k and have a
        saddle. The others (numerically zero σ_k, rank-deficient W) are free modes: no
        saddle, normal coordinates about the uniform-measure mean (docs/physics.md §5).
    rank : int
        Number of coupled modes, the numerical rank of W.
    sigma : ndarray (K,)
        ``σ_k`` where coupled and exactly 0 elsewhere: the singular values every formula
        uses (Gaussian free energy, threshold, bosons).
    V : ndarray (M, M)
        Right singular vectors (columns).
    a_tilde, b_tilde : ndarray (N,), (M,)
        Biases in reciprocal space, ``ã = Uᵀa``, ``b̃ = Vᵀb``.
    mu_x, mu_y : ndarray (N,), (M,)
        Uniform-measure means ``Uᵀ(μ1)``, ``Vᵀ(μ1)`` (μ = 1/2 binary, 0 spin).
    s2 : float
        Uniform-measure variance of every reciprocal coordinate (1/4 binary, 1 spin).
    kurtosis_x, kurtosis_y : ndarray (N,), (M,)
        Uniform-measure kurtosis ``3 − 2 Σ_i U_ik⁴`` (same for binary and spin units).
    quartic_g : ndarray (K,)
        Finite-N quartic confinement ``g_k = (g_x + g_y)/4`` along u, from the fourth
        cumulant of the uniform measure, ``g_x = −κ₄(x_k)/(24 s⁸) = Σ_i U_ik⁴/(12 s⁴)``:
        ``(4/3) Σ_i U_ik⁴`` in binary units, ``Σ_i U_ik⁴/12`` in spin units.

    Notes
    -----
    ``mu_x``, ``mu_y``, ``kurtosis_x``, ``kurtosis_y`` and ``quartic_g`` are computed on
    first access (a training record reads none of them). Sign convention: the entry of largest magnitude of every column of U is positive (the
    matching column of V flips with it); free columns of V follow the same rule on V.
    """

    def __init__(self, ham):
        U, s, Vt = np.linalg.svd(ham.W, full_matrices=True)
        V = Vt.T
        K = s.size
        sign_u = _fix_signs(U)
        U = U * sign_u  # a new array: made read-only in place, no further copy
        V[:, :K] *= sign_u[:K]
        V[:, K:] *= _fix_signs(V[:, K:])
        self.U, self.s, self.V = _frozen(U), _readonly(s), _frozen(V)
        self.sigma_tol = float(max(ham.W.shape) * np.finfo(np.float64).eps * (s[0] if K else 0.0))
        coupled = s > self.sigma_tol
        self.coupled = np.array(coupled, copy=True)
        self.coupled.flags.writeable = False
        self.rank = int(np.count_nonzero(coupled))
        self.sigma = _readonly(np.where(coupled, s, 0.0))
        self.beta, self.mu, self.s2 = ham.beta, ham.mu, ham.s2
        self.a_tilde = _frozen(self.U.T @ ham.a)
        self.b_tilde = _frozen(self.V.T @ ham.b)

    # The uniform-measure extras are computed on first use only (a training record needs
    # none of them; U**4 over an N x N basis costs more than the SVD itself).
    @functools.cached_property
    def mu_x(self) -> np.ndarray:
        return _frozen(self.U.sum(axis=0) * self.mu)

    @functools.cached_property
    def mu_y(self) -> np.ndarray:
        return _frozen(self.V.sum(axis=0) * self.mu)

    @functools.cached_property
    def _u4(self) -> np.ndarray:
        return np.sum(self.U**4, axis=0)

    @functools.cached_property
    def _v4(self) -> np.ndarray:
        return np.sum(self.V**4, axis=0)

    @functools.cached_property
    def kurtosis_x(self) -> np.ndarray:
        return _frozen(3.0 - 2.0 * self._u4)

    @functools.cached_property
    def kurtosis_y(self) -> np.ndarray:
        return _frozen(3.0 - 2.0 * self._v4)

    @functools.cached_property
    def quartic_g(self) -> np.ndarray:
        K = self.n_modes
        return _frozen((self._u4[:K] + self._v4[:K]) / (48.0 * self.s2**2))

    n_modes = property(lambda self: self.s.size, doc="K = min(N, M), the number of paired modes.")
    n_free_visible = property(lambda self: self.U.shape[0] - self.s.size, doc="N − K free x-modes.")
    n_free_hidden = property(lambda self: self.V.shape[0] - self.s.size, doc="M − K free y-modes.")

    def x(self, v) -> np.ndarray:
        """Visible reciprocal coordinates ``x = Uᵀv``: (..., N) → (..., N)."""
        return _last_axis("v", v, self.U.shape[0]) @ self.U

    def y(self, h) -> np.ndarray:
        """Hidden reciprocal coordinates ``y = Vᵀh``: (..., M) → (..., M)."""
        return _last_axis("h", h, self.V.shape[0]) @ self.V

    def saddle(self):
        r"""Saddle of every paired mode: ``x*_k = −b̃_k/σ_k``, ``y*_k = −ã_k/σ_k``, ``ε_k = ã_k b̃_k/σ_k``.

        docs/physics.md §2.

        Returns
        -------
        x_star, y_star, eps : ndarray (K,)
            NaN for a mode that is not :attr:`coupled` (σ_k numerically zero): it has no
            saddle. ``np.nansum(eps)`` is the total saddle energy of the coupled modes.
        """
        K = self.n_modes
        c = self.coupled
        x_star, y_star, eps = np.full(K, np.nan), np.full(K, np.nan), np.full(K, np.nan)
        x_star[c] = -self.b_tilde[:K][c] / self.s[c]
        y_star[c] = -self.a_tilde[:K][c] / self.s[c]
        eps[c] = self.a_tilde[:K][c] * self.b_tilde[:K][c] / self.s[c]
        return x_star, y_star, eps

    def curvature(self) -> np.ndarray:
        """Hessian eigenvalues of every paired mode's energy, (K, 2) = [−σ_k, +σ_k]."""
        return np.stack([-self.s, self.s], axis=-1)

    def uw_origin(self):
        r"""Origin of the normal coordinates of every paired mode, ``(x0_k, y0_k)``, each (K,).

        The saddle ``(x*_k, y*_k)`` of a :attr:`coupled` mode; the uniform-measure mean
        ``(μ_{x,k}, μ_{y,k})`` of a mode with numerically zero σ_k, which has no saddle.
        """
        x_star, y_star, _ = self.saddle()
        K = self.n_modes
        c = self.coupled
        return np.where(c, x_star, self.mu_x[:K]), np.where(c, y_star, self.mu_y[:K])

    def _selected(self, modes):
        """0-based indices of ``modes`` (None: all K paired modes)."""
        if modes is None:
            return np.arange(self.n_modes)
        return check_modes(modes, self.n_modes)

    def uw(self, x, y, *, modes=None):
        r"""Rotated normal-mode coordinates about :meth:`uw_origin`.

        ``u_k = (δx_k + δy_k)/√2`` (downhill, curvature −σ_k),
        ``w_k = (δy_k − δx_k)/√2`` (uphill, curvature +σ_k), ``δx = x − x0``, ``δy = y − y0``
        with ``(x0, y0)`` the saddle (coupled modes) or the uniform-measure mean (σ_k
        numerically zero). docs/physics.md §2, §5.

        Parameters
        ----------
        x, y : array_like
            Without ``modes``: all reciprocal coordinates, x (..., N), y (..., M); the first
            K of each are used. With ``modes``: only the selected ones, (..., n_selected).
        modes : int or sequence of int, optional
            Top-n count or 1-based labels (:func:`pyrbm._checks.check_modes`) of the paired
            modes that the last axis of ``x`` and ``y`` holds.

        Returns
        -------
        u, w : ndarray (..., K) or (..., n_selected)
        """
        idx = self._selected(modes)
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if modes is None:
            x, y = x[..., : self.n_modes], y[..., : self.n_modes]
        if x.shape[-1:] != (idx.size,) or y.shape[-1:] != (idx.size,):
            raise ValueError(f"x, y: expected a last axis of length {idx.size} (the selected paired modes), "
                             f"got shapes {x.shape} and {y.shape}")
        x0, y0 = self.uw_origin()
        dx, dy = x - x0[idx], y - y0[idx]
        return (dx + dy) / _SQRT2, (dy - dx) / _SQRT2

    def xy_from_uw(self, u, w, *, modes=None):
        """Inverse of :meth:`uw`: ``(x_k, y_k)`` of the paired (or the selected) modes, (..., K)."""
        idx = self._selected(modes)
        u, w = np.asarray(u, dtype=np.float64), np.asarray(w, dtype=np.float64)
        x0, y0 = self.uw_origin()
        return x0[idx] + (u - w) / _SQRT2, y0[idx] + (u + w) / _SQRT2

    def energy_xy(self, x, y) -> np.ndarray:
        r"""``E = −ãᵀx − b̃ᵀy − Σ_k σ_k x_k y_k``; x (..., N), y (..., M) → (...)."""
        K = self.n_modes
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        return -(x @ self.a_tilde) - (y @ self.b_tilde) - np.sum(self.s * x[..., :K] * y[..., :K], axis=-1)

    def energy_uw(self, u, w, x_free=None, y_free=None) -> np.ndarray:
        r"""``E = Σ_k [ε_k − (σ_k/2)(u_k² − w_k²)] − Σ_free ã_k x_k − Σ_free b̃_k y_k``.

        u, w (..., K); x_free (..., N−K) and y_free (..., M−K) are the free coordinates
        ``x[..., K:]``, ``y[..., K:]`` (may be omitted when there are none). A paired mode
        that is not :attr:`coupled` contributes ``−ã_k x_k − b̃_k y_k`` with
        ``(x_k, y_k)`` from :meth:`xy_from_uw`.
        """
        K = self.n_modes
        c = self.coupled
        _, _, eps = self.saddle()
        u, w = np.asarray(u, dtype=np.float64), np.asarray(w, dtype=np.float64)
        e = np.sum(np.where(c, eps, 0.0) - 0.5 * self.sigma * (u * u - w * w), axis=-1)
        if not np.all(c):
            xk, yk = self.xy_from_uw(u, w)
            e = e - np.sum(np.where(c, 0.0, self.a_tilde[:K] * xk + self.b_tilde[:K] * yk), axis=-1)
        if self.n_free_visible:
            if x_free is None:
                raise ValueError(f"x_free: this model has {self.n_free_visible} free visible modes; pass x[..., {K}:]")
            e = e - np.asarray(x_free) @ self.a_tilde[K:]
        if self.n_free_hidden:
            if y_free is None:
                raise ValueError(f"y_free: this model has {self.n_free_hidden} free hidden modes; pass y[..., {K}:]")
            e = e - np.asarray(y_free) @ self.b_tilde[K:]
        return e

    def potential(self, x, y) -> np.ndarray:
        r"""Gaussian-DOS effective potential (β absorbed; docs/physics.md §4).

        ``Φ = |x − μ_x|²/(2s²) + |y − μ_y|²/(2s²) − β(ãᵀx + b̃ᵀy + Σ_k σ_k x_k y_k)``,
        x (..., N), y (..., M) → (...). Dimensionless.
        """
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        gauss = (np.sum((x - self.mu_x) ** 2, axis=-1) + np.sum((y - self.mu_y) ** 2, axis=-1)) / (2 * self.s2)
        return gauss + self.beta * self.energy_xy(x, y)

    def potential_grad(self, x, y):
        r"""Gradient of :meth:`potential`: ``∂Φ/∂x = (x − μ_x)/s² − β(ã + σ∘y)``, likewise for y."""
        K = self.n_modes
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        gx = (x - self.mu_x) / self.s2 - self.beta * self.a_tilde
        gy = (y - self.mu_y) / self.s2 - self.beta * self.b_tilde
        gx[..., :K] -= self.beta * self.s * y[..., :K]
        gy[..., :K] -= self.beta * self.s * x[..., :K]
        return gx, gy
