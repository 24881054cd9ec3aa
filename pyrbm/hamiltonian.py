r"""The binary RBM as a Hamiltonian, and its reciprocal-space (SVD) mode basis.

Energy (binary units ``v ∈ {0,1}^N``, ``h ∈ {0,1}^M``; or spin units ``±1``):

.. math::  E(v, h) = -a^\top v - b^\top h - v^\top W h ,\qquad p(v,h) = e^{-\beta E}/Z .

In the basis of the full SVD ``W = U Σ Vᵀ`` the energy decouples into modes
(``x = Uᵀv``, ``y = Vᵀh``, ``ã = Uᵀa``, ``b̃ = Vᵀb``):

.. math::  E = -\sum_{k\le N} \tilde a_k x_k - \sum_{k\le M} \tilde b_k y_k - \sum_{k\le K}\sigma_k x_k y_k ,

each paired mode a saddle of curvature ``±σ_k`` at ``x*_k = −b̃_k/σ_k``, ``y*_k = −ã_k/σ_k``
with energy ``ε_k = ã_k b̃_k/σ_k``, unless σ_k is numerically zero (``σ_k ≤ max(N, M)·ε·σ_1``,
the rank threshold of ``numpy.linalg.matrix_rank``): such a mode is free, like the
unpaired ones. See docs/physics.md §1–§5.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import xarray as xr
from scipy.special import expit

from . import __version__
from ._checks import (
    as_configuration,
    check_finite_array,
    check_int,
    check_modes,
    check_positive,
    check_seed,
    check_units,
)
from ._io import atomic_path, netcdf_serialised

SCHEMA = "pyrbm.hamiltonian/1"
_LOGIT_CLIP = 1e-6
_SQRT2 = np.sqrt(2.0)


def softplus(z):
    """Overflow-free ``ln(1 + e^z)``."""
    return np.logaddexp(0.0, z)


def log2cosh(z):
    """Overflow-free ``ln(2 cosh z)``."""
    az = np.abs(z)
    return az + np.log1p(np.exp(-2.0 * az))


def _haar_orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    """Haar-distributed ``n×n`` orthogonal matrix (QR of a Gaussian matrix, sign-corrected)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


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


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr, dtype=np.float64, copy=True)
    arr.flags.writeable = False
    return arr


class Hamiltonian:
    r"""An immutable binary (or spin) RBM energy function at inverse temperature β.

    Parameters
    ----------
    W : array_like, shape (N, M)
        Couplings between visible unit ``i`` and hidden unit ``j``.
    a : array_like, shape (N,)
        Visible biases.
    b : array_like, shape (M,)
        Hidden biases.
    beta : float, default 1
        Inverse temperature β = 1/T (> 0).
    units : {"binary", "spin"}
        ``"binary"``: units take 0/1 (default, the paper's convention);
        ``"spin"``: units take ±1.

    Notes
    -----
    ``E(v,h) = −aᵀv − bᵀh − vᵀWh`` and ``p(v,h) ∝ exp(−βE)``. Parameters are stored as
    read-only float64 arrays; use :meth:`replace` to derive a new Hamiltonian.
    """

    def __init__(self, W, a, b, *, beta: float = 1.0, units: str = "binary"):
        W = check_finite_array("W", W, ndim=2)
        n, m = W.shape
        if n == 0 or m == 0:
            raise ValueError(f"W: expected at least one visible and one hidden unit, got shape {W.shape}")
        self._W = _readonly(W)
        self._a = _readonly(check_finite_array("a", a, shape=(n,)))
        self._b = _readonly(check_finite_array("b", b, shape=(m,)))
        self._beta = check_positive("beta", beta)
        self._units = check_units(units)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def random(cls, n_visible: int, n_hidden: int, *, sigma_w: float = 0.01, seed=None,
               beta: float = 1.0, units: str = "binary") -> "Hamiltonian":
        """Gaussian couplings ``W_ij ~ N(0, σ_w²)`` and zero biases.

        Parameters
        ----------
        n_visible, n_hidden : int
            Layer sizes N and M (≥ 1).
        sigma_w : float
            Standard deviation of the couplings (the paper uses 0.01).
        seed : int or None
            Seed of ``numpy.random.default_rng``.
        """
        n = check_int("n_visible", n_visible, minimum=1)
        m = check_int("n_hidden", n_hidden, minimum=1)
        sigma_w = check_positive("sigma_w", sigma_w, allow_zero=True)
        rng = np.random.default_rng(check_seed(seed))
        W = sigma_w * rng.standard_normal((n, m))
        return cls(W, np.zeros(n), np.zeros(m), beta=beta, units=units)

    @classmethod
    def from_data(cls, data, n_hidden: int, *, sigma_w: float = 0.01, seed=None,
                  beta: float = 1.0, units: str = "binary") -> "Hamiltonian":
        r"""The paper's initialisation from a data set.

        ``W_ij ~ N(0, σ_w²)``, hidden bias 0, visible bias matching the data means of an
        uncoupled model: binary ``a_i = logit(p_i)/β`` with ``p_i`` the mean activity clipped
        to ``[1e-6, 1 − 1e-6]``; spin ``a_i = artanh(m_i)/β``.

        Parameters
        ----------
        data : array_like, shape (n_samples, N)
            Configurations in the chosen units.
        """
        units = check_units(units)
        beta = check_positive("beta", beta)
        if np.ndim(data) != 2 or np.shape(data)[0] == 0 or np.shape(data)[1] == 0:
            raise ValueError(f"data: expected a non-empty 2-d array (n_samples, n_visible), got shape {np.shape(data)}")
        data = as_configuration("data", data, np.shape(data)[1], units)
        p = data.mean(axis=0) if units == "binary" else (data.mean(axis=0) + 1.0) / 2.0
        p = np.clip(p, _LOGIT_CLIP, 1.0 - _LOGIT_CLIP)
        a = np.log(p) - np.log1p(-p)            # logit p  (binary)
        if units == "spin":
            a = a / 2.0                          # artanh(2p − 1) = logit(p)/2
        ham = cls.random(data.shape[1], n_hidden, sigma_w=sigma_w, seed=seed, beta=beta, units=units)
        return ham.replace(a=a / beta)

    @classmethod
    def from_modes(cls, s, n_visible: int, n_hidden: int, *, seed=None, a=None, b=None,
                   beta: float = 1.0, units: str = "binary") -> "Hamiltonian":
        """Couplings with prescribed singular values and Haar-random singular vectors.

        Parameters
        ----------
        s : array_like, shape (k,), k ≤ min(N, M)
            Singular values (≥ 0); missing ones are zero.
        a, b : array_like or None
            Biases (zero by default).
        """
        n = check_int("n_visible", n_visible, minimum=1)
        m = check_int("n_hidden", n_hidden, minimum=1)
        s = check_finite_array("s", s, ndim=1)
        k = min(n, m)
        if s.size > k or np.any(s < 0):
            raise ValueError(f"s: expected at most min(n_visible, n_hidden) = {k} non-negative values, got {s.size} "
                             f"values with minimum {s.min() if s.size else 0:g}")
        rng = np.random.default_rng(check_seed(seed))
        U = _haar_orthogonal(n, rng)
        V = _haar_orthogonal(m, rng)
        s_full = np.zeros(k)
        s_full[: s.size] = s
        W = (U[:, :k] * s_full) @ V[:, :k].T
        a = np.zeros(n) if a is None else a
        b = np.zeros(m) if b is None else b
        return cls(W, a, b, beta=beta, units=units)

    def replace(self, *, W=None, a=None, b=None, beta=None, units=None) -> "Hamiltonian":
        """A new Hamiltonian with some parameters replaced."""
        return Hamiltonian(self._W if W is None else W, self._a if a is None else a,
                           self._b if b is None else b, beta=self._beta if beta is None else beta,
                           units=self._units if units is None else units)

    # ------------------------------------------------------------------ parameters
    W = property(lambda self: self._W, doc="Couplings, shape (N, M), read-only float64.")
    a = property(lambda self: self._a, doc="Visible biases, shape (N,).")
    b = property(lambda self: self._b, doc="Hidden biases, shape (M,).")
    beta = property(lambda self: self._beta, doc="Inverse temperature β.")
    units = property(lambda self: self._units, doc='"binary" (0/1) or "spin" (±1).')

    @property
    def T(self) -> float:
        """Temperature T = 1/β."""
        return 1.0 / self._beta

    @property
    def n_visible(self) -> int:
        return self._W.shape[0]

    @property
    def n_hidden(self) -> int:
        return self._W.shape[1]

    @property
    def spin(self) -> bool:
        return self._units == "spin"

    @property
    def mu(self) -> float:
        """Mean of one unit under the uniform measure: 1/2 (binary) or 0 (spin)."""
        return 0.0 if self.spin else 0.5

    @property
    def s2(self) -> float:
        """Variance of one unit under the uniform measure: 1/4 (binary) or 1 (spin)."""
        return 1.0 if self.spin else 0.25

    def __repr__(self) -> str:
        return (f"Hamiltonian(n_visible={self.n_visible}, n_hidden={self.n_hidden}, beta={self._beta:g}, "
                f"units={self._units!r}, sigma_max={self.modes.s[0]:.4g})")

    # ------------------------------------------------------------------ energies
    def _v(self, v):
        return as_configuration("v", v, self.n_visible, self._units)

    def _h(self, h):
        return as_configuration("h", h, self.n_hidden, self._units)

    def energy(self, v, h) -> np.ndarray:
        r"""``E(v,h) = −aᵀv − bᵀh − vᵀWh``; v (..., N), h (..., M) broadcast → (...)."""
        v, h = self._v(v), self._h(h)
        return -(v @ self._a) - (h @ self._b) - np.sum((v @ self._W) * h, axis=-1)

    def hidden_field(self, v) -> np.ndarray:
        """``b + Wᵀv``, shape (..., M) (input checked)."""
        return self._b + self._v(v) @ self._W

    def visible_field(self, h) -> np.ndarray:
        """``a + Wh``, shape (..., N) (input checked)."""
        return self._a + self._h(h) @ self._W.T

    def free_energy(self, v) -> np.ndarray:
        r"""Free energy of visible configurations with the hidden layer summed out.

        binary: ``F(v) = −aᵀv − T Σ_j softplus(β(b + Wᵀv)_j)``;
        spin:   ``F(v) = −aᵀv − T Σ_j ln 2cosh(β(b + Wᵀv)_j)``. Shape (...).
        """
        v = self._v(v)
        z = self._beta * (self._b + v @ self._W)
        g = log2cosh(z) if self.spin else softplus(z)
        return -(v @ self._a) - g.sum(axis=-1) / self._beta

    def p_h_given_v(self, v) -> np.ndarray:
        r"""``p(h_j = 1 | v) = sigmoid(β(b + Wᵀv)_j)`` (spin: ``p(h_j=+1|v) = sigmoid(2β(…))``), (..., M)."""
        return expit((2.0 if self.spin else 1.0) * self._beta * self.hidden_field(v))

    def p_v_given_h(self, h) -> np.ndarray:
        r"""``p(v_i = 1 | h) = sigmoid(β(a + Wh)_i)`` (spin: ``p(v_i=+1|h) = sigmoid(2β(…))``), (..., N)."""
        return expit((2.0 if self.spin else 1.0) * self._beta * self.visible_field(h))

    # ------------------------------------------------------------------ reciprocal space
    @functools.cached_property
    def modes(self) -> "ModeBasis":
        """The sign-fixed SVD mode basis (computed once)."""
        return ModeBasis(self)

    def stable_modes(self, *, beta: float | None = None) -> np.ndarray:
        r"""Paired modes whose Gaussian-DOS diffusion converges: ``βσ_k s² < 1``, bool (K,).

        Binary units: ``σ_k < 4T``; spin units: ``σ_k < T`` (docs/physics.md §4). Modes with
        numerically zero σ_k (free modes, ``ModeBasis.coupled`` false) are always stable.

        Parameters
        ----------
        beta : float, optional
            Inverse temperature (> 0); default the Hamiltonian's own β.
        """
        beta = self._beta if beta is None else check_positive("beta", beta)
        return beta * self.modes.sigma * self.s2 < 1.0

    def bosons(self):
        """The per-mode coupled-boson form (:class:`pyrbm.bosons.Bosons`)."""
        from .bosons import Bosons

        return Bosons(self)

    # ------------------------------------------------------------------ persistence
    def to_dataset(self) -> xr.Dataset:
        """Parameters as a self-describing ``xr.Dataset`` (dims ``visible``, ``hidden``)."""
        return xr.Dataset(
            {
                "W": (("visible", "hidden"), self._W, {"long_name": "coupling W_ij", "units": "energy"}),
                "a": ("visible", self._a, {"long_name": "visible bias a_i", "units": "energy"}),
                "b": ("hidden", self._b, {"long_name": "hidden bias b_j", "units": "energy"}),
            },
            attrs={"schema": SCHEMA, "pyrbm_version": __version__, "beta": self._beta, "units": self._units,
                   "n_visible": self.n_visible, "n_hidden": self.n_hidden,
                   "energy": "E(v,h) = -a.v - b.h - v.W.h"},
        )

    @classmethod
    def from_dataset(cls, ds: xr.Dataset) -> "Hamiltonian":
        """Inverse of :meth:`to_dataset`."""
        if not isinstance(ds, xr.Dataset):
            raise TypeError(f"ds: expected an xarray.Dataset, got {type(ds).__name__}")
        missing = [k for k in ("W", "a", "b") if k not in ds]
        if missing or ds.attrs.get("schema") != SCHEMA:
            raise ValueError(f"ds: not a pyrbm Hamiltonian dataset (schema {ds.attrs.get('schema')!r}, "
                             f"expected {SCHEMA!r}; missing variables {missing})")
        return cls(ds["W"].transpose("visible", "hidden").values, ds["a"].values, ds["b"].values,
                   beta=float(ds.attrs.get("beta", 1.0)), units=str(ds.attrs.get("units", "binary")))

    @netcdf_serialised
    def save(self, path, *, overwrite: bool = False) -> Path:
        """Write a netCDF4 file atomically (bit-exact float64 round trip)."""
        with atomic_path(path, overwrite) as tmp:
            self.to_dataset().to_netcdf(tmp, engine="netcdf4")
        return Path(path)

    @classmethod
    @netcdf_serialised
    def load(cls, path, *, group: str | None = None) -> "Hamiltonian":
        """Read a Hamiltonian written by :meth:`save` (or stored in ``group`` of a trajectory)."""
        with xr.open_dataset(path, engine="netcdf4", group=group) as ds:
            return cls.from_dataset(ds.load())


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
    Sign convention: the entry of largest magnitude of every column of U is positive (the
    matching column of V flips with it); free columns of V follow the same rule on V.
    """

    def __init__(self, ham: Hamiltonian):
        U, s, Vt = np.linalg.svd(ham.W, full_matrices=True)
        V = Vt.T
        K = s.size
        sign_u = _fix_signs(U)
        U = U * sign_u
        V[:, :K] *= sign_u[:K]
        V[:, K:] *= _fix_signs(V[:, K:])
        self.U, self.s, self.V = _readonly(U), _readonly(s), _readonly(V)
        self.sigma_tol = float(max(ham.W.shape) * np.finfo(np.float64).eps * (s[0] if K else 0.0))
        coupled = s > self.sigma_tol
        self.coupled = np.array(coupled, copy=True)
        self.coupled.flags.writeable = False
        self.rank = int(np.count_nonzero(coupled))
        self.sigma = _readonly(np.where(coupled, s, 0.0))
        self.beta, self.mu, self.s2 = ham.beta, ham.mu, ham.s2
        self.a_tilde = _readonly(U.T @ ham.a)
        self.b_tilde = _readonly(V.T @ ham.b)
        self.mu_x = _readonly(U.sum(axis=0) * ham.mu)
        self.mu_y = _readonly(V.sum(axis=0) * ham.mu)
        u4, v4 = np.sum(U**4, axis=0), np.sum(V**4, axis=0)
        self.kurtosis_x = _readonly(3.0 - 2.0 * u4)
        self.kurtosis_y = _readonly(3.0 - 2.0 * v4)
        self.quartic_g = _readonly((u4[:K] + v4[:K]) / (48.0 * ham.s2**2))

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
