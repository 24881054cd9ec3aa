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

import numpy as np
import xarray as xr
from scipy.special import expit

from ._checks import (
    HamiltonianType,
    as_configuration,
    check_finite_array,
    check_fits,
    check_int,
    check_positive,
    check_seed,
    check_units,
)
from ._meta import ENERGY_UNIT_NOTE, __version__
from .modes import ModeBasis, _readonly

SCHEMA = "pyrbm.hamiltonian/1"
_LOGIT_CLIP = 1e-6


def softplus(z):
    """Overflow-free ``ln(1 + e^z)``."""
    return np.logaddexp(0.0, z)


def log2cosh(z):
    """Overflow-free ``ln(2 cosh z)``."""
    az = np.abs(z)
    return az + np.log1p(np.exp(-2.0 * az))


#: A mean-field continuation step (refined 8-fold three times) that still moves an activation
#: by more than this fraction of its range has left its branch (a fold).
_FOLD_JUMP = 0.1


def _mean_field_point(act, beta, W, a, b, mv, mh, *, damping: float = 0.5, tol: float = 1e-10,
                      max_iter: int = 20_000):
    """Naive mean-field fixed point ``m_v = act(β(a + W m_h))``, ``m_h = act(β(b + Wᵀm_v))``
    by damped iteration from ``(mv, mh)``."""
    for _ in range(max_iter):
        nv = act(beta * (a + W @ mh))
        nh = act(beta * (b + W.T @ nv))
        nv, nh = damping * mv + (1 - damping) * nv, damping * mh + (1 - damping) * nh
        done = max(np.max(np.abs(nv - mv), initial=0.0), np.max(np.abs(nh - mh), initial=0.0)) < tol
        mv, mh = nv, nh
        if done:
            break
    return mv, mh


def _haar_orthogonal(n: int, rng: np.random.Generator) -> np.ndarray:
    """Haar-distributed ``n×n`` orthogonal matrix (QR of a Gaussian matrix, sign-corrected)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


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
        check_fits("n_hidden", m, 3 * 8.0 * n * m, f"the float64 weights of a {n}x{m} model and their "
                   "construction", "use a smaller model")
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

    def stable_modes(self, *, beta: float | None = None, criterion: str = "uniform",
                     n_steps: int = 64) -> np.ndarray:
        r"""Which modes keep the paramagnetic (single-well) state stable, bool (K,).

        ``criterion="uniform"`` (the Gaussian density of states about the uniform measure,
        docs/physics.md §4): ``βσ_k s² < 1``, i.e. ``σ_k < 4T`` for binary units and
        ``σ_k < T`` for spin units; modes with numerically zero σ_k are always stable.
        This is the zero-field case of the next criterion.

        ``criterion="mean_field"``: the naive mean-field state
        ``m_v = σ(β(a + W m_h))``, ``m_h = σ(β(b + Wᵀ m_v))`` (binary; ``tanh`` for spins)
        loses stability along direction k when the k-th singular value of the stability
        matrix

        .. math::  J = \beta\, D_v^{1/2} W D_h^{1/2},\qquad D = \mathrm{diag}(m(1-m))
                   \ (\text{spin: } 1 - m^2),

        reaches 1. At ``m = ½`` (no field) ``J = βW/4``: the 4T rule. Fields move the
        activations away from ½, shrink D and push the instability to larger σ. The
        paramagnetic branch is followed by continuation in the coupling strength,
        ``W → tW`` for t = 1/n_steps, …, 1, from the independent-unit state at t = 0 (each
        fixed point solved by damped iteration from the previous one); mode k is unstable
        when ``λ_k(t) ≥ 1`` somewhere on the branch, or when the branch ends (a fold: the
        iteration jumps to another fixed point) while λ_k is the largest — the first-order
        jump of a biased mode — or when ``λ_k ≥ 1`` at the fixed point reached by iteration
        from the uniform measure's mean (m = ½; spins 0), which in zero field is the
        symmetric state the biased path t < 1 goes around. Returns False for those (index
        k follows the descending singular values of J, which match the modes of W in order
        when D is nearly uniform).

        Parameters
        ----------
        beta : float, optional
            Inverse temperature (> 0); default the Hamiltonian's own β.
        criterion : {"uniform", "mean_field"}
        n_steps : int
            Continuation steps of the mean-field criterion (≥ 2).
        """
        beta = self._beta if beta is None else check_positive("beta", beta)
        if criterion == "uniform":
            return beta * self.modes.sigma * self.s2 < 1.0
        if criterion != "mean_field":
            raise ValueError(f"criterion: expected 'uniform' or 'mean_field', got {criterion!r}")
        return self.mean_field_stability(beta=beta, n_steps=n_steps)["lambda_max"] < 1.0

    def mean_field_stability(self, *, beta: float | None = None, n_steps: int = 64) -> dict:
        r"""The mean-field stability values along the paramagnetic branch (:meth:`stable_modes`).

        Returns
        -------
        dict
            ``lambda`` (K,): singular values of ``J = βD_v^{1/2}WD_h^{1/2}`` at t = 1 on
            the branch followed; ``lambda_uniform`` (K,): those at the fixed point reached
            from m = ½; ``lambda_max`` (K,): the maximum of both over the branch, set to
            1 for the mode that was largest where the branch ended (a fold); ``t_cross``
            (K,): the first coupling fraction t at which λ_k reached 1 (NaN if never);
            ``m_v`` (N,), ``m_h`` (M,): the fixed point at t = 1.
        """
        beta = self._beta if beta is None else check_positive("beta", beta)
        n_steps = check_int("n_steps", n_steps, minimum=2)
        K = min(self.n_visible, self.n_hidden)
        act = np.tanh if self.spin else expit
        W, a, b = self._W, self._a, self._b

        def var(m):
            return 1.0 - m * m if self.spin else m * (1.0 - m)

        mv, mh = act(beta * a), act(beta * b)
        lam_max, t_cross = np.zeros(K), np.full(K, np.nan)
        lam = np.zeros(K)

        def step(t0, t1, mv, mh, depth=0):
            """Fixed point at t1 from the one at t0; also whether the branch ended (a fold) between."""
            nv, nh = _mean_field_point(act, beta, t1 * W, a, b, mv, mh)
            big = max(np.max(np.abs(nv - mv), initial=0.0), np.max(np.abs(nh - mh), initial=0.0)) > \
                _FOLD_JUMP * (2.0 if self.spin else 1.0)
            if not big or depth == 3:  # a jump that survives three 8-fold refinements is a fold
                return nv, nh, big
            fold = False
            for t in np.linspace(t0, t1, 9)[1:]:
                mv, mh, f = step(t0, t, mv, mh, depth + 1)
                fold, t0 = fold or f, t
            return mv, mh, fold

        t_prev = 0.0
        for t in np.arange(1, n_steps + 1) / n_steps:
            nv, nh, jumped = step(t_prev, t, mv, mh)
            t_prev = t
            k = int(np.argmax(lam))
            if jumped and np.isnan(t_cross[k]):
                lam_max[k], t_cross[k] = max(lam_max[k], 1.0), t
            mv, mh = nv, nh
            lam = np.linalg.svd(beta * t * np.sqrt(var(mv))[:, None] * W * np.sqrt(var(mh))[None, :],
                                compute_uv=False)[:K]
            new = (lam >= 1.0) & np.isnan(t_cross)
            t_cross[new] = t
            lam_max = np.maximum(lam_max, lam)
        # the fixed point reached from the uniform measure's mean (m = 1/2; spins 0): in zero
        # field it is the symmetric state itself, which the biased path t < 1 goes around
        c = 0.0 if self.spin else 0.5
        uv, uh = _mean_field_point(act, beta, W, a, b, np.full(self.n_visible, c), np.full(self.n_hidden, c))
        lam_u = np.linalg.svd(beta * np.sqrt(var(uv))[:, None] * W * np.sqrt(var(uh))[None, :], compute_uv=False)[:K]
        new = (lam_u >= 1.0) & np.isnan(t_cross)
        t_cross[new] = 1.0
        return {"lambda": lam, "lambda_uniform": lam_u, "lambda_max": np.maximum(lam_max, lam_u),
                "t_cross": t_cross, "m_v": mv, "m_h": mh}

    def bosons(self):
        """The per-mode coupled-boson form (:class:`pyrbm.bosons.Bosons`)."""
        from .bosons import Bosons

        return Bosons(self)

    # ------------------------------------------------------------------ persistence
    def to_dataset(self) -> xr.Dataset:
        """Parameters as a self-describing ``xr.Dataset`` (dims ``visible``, ``hidden``)."""
        return xr.Dataset(
            {
                "W": (("visible", "hidden"), self._W, {"long_name": f"coupling W_ij ({ENERGY_UNIT_NOTE})",
                                                       "units": "1"}),
                "a": ("visible", self._a, {"long_name": f"visible bias a_i ({ENERGY_UNIT_NOTE})", "units": "1"}),
                "b": ("hidden", self._b, {"long_name": f"hidden bias b_j ({ENERGY_UNIT_NOTE})", "units": "1"}),
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


HamiltonianType.register(Hamiltonian)
