r"""Every reciprocal-space mode of an RBM as a pair of coupled bosons (docs/physics.md §7).

The overdamped Langevin dynamics of paired mode ``k`` in the Gaussian-DOS potential

.. math::  \Phi_k = \frac{(x-\mu_x)^2 + (y-\mu_y)^2}{2 s^2} - \beta(\tilde a_k x + \tilde b_k y + \sigma_k x y)

has a Fokker–Planck operator which the similarity transform ``p = e^{−Φ/2} ψ`` turns
into a Schrödinger operator (coordinates measured from the stationary point of Φ)

.. math::  H_k = p_x^2 + p_y^2 + \frac{\Omega^2}{4}(x^2 + y^2) - \frac{c_k}{s^2} x y - \frac{1}{s^2},
           \qquad \Omega^2 = \frac{1}{s^4} + c_k^2,\quad c_k = \beta\sigma_k .

With ``p_x² + (Ω²/4)x²`` an oscillator of mass 1/2 and frequency Ω, the ladder operators
``x = Ω^{-1/2}(a + a†)``, ``y = Ω^{-1/2}(b + b†)`` give

.. math::  H_k = \Omega(a^\dagger a + b^\dagger b + 1) - g_k (a + a^\dagger)(b + b^\dagger) - \frac{1}{s^2},
           \qquad g_k = \frac{c_k}{s^2\,\Omega} .

(Both normalisations re-derived here and checked against the truncated-Fock spectrum in
the tests.) The 45° rotation ``u = (x+y)/√2``, ``w = (y−x)/√2`` diagonalises the
potential, ``(Ω²/4)(x²+y²) − (c/s²)xy = (κ_u²/4)u² + (κ_w²/4)w²`` with the normal rates
``κ_u = 1/s² − c_k``, ``κ_w = 1/s² + c_k``. Each normal direction is an oscillator
``p² + κ²q²/4 − κ/2`` with levels ``|κ|(n + 1/2) − κ/2``, hence the exact spectrum

.. math::  E_{n_u n_w} = |\kappa_u|\,(n_u + \tfrac12) - \tfrac{\kappa_u}{2} + n_w \kappa_w .

* Stable mode (``c_k s² < 1``, i.e. σ_k < 4T in binary units, σ_k < T in spin units):
  ``E = n_u κ_u + n_w κ_w``, ground state 0 — the stationary distribution ``e^{−Φ}``.
* Unstable mode (``c_k s² > 1``): κ_u < 0 and the Fokker–Planck potential is inverted
  along u, so the zero mode ``e^{−Φ/2}`` is not normalisable. The operator H_k itself stays
  bounded below (``g_k ≤ Ω/2`` for every σ_k): its spectrum is
  ``|κ_u|(n_u + 1) + n_w κ_w``, with a gap ``|κ_u| > 0`` and no zero eigenvalue — every
  normalisable density decays, there is no stationary state. The naive ladder
  ``n_u κ_u + n_w κ_w`` would be unbounded below; the Fock matrix shows it is not.
* Threshold (``c_k s² = 1``): κ_u = 0, ``g_k = Ω/2``, the u-boson is a free particle with a
  continuous spectrum from 0; truncated-Fock levels drift down towards 0 as the
  truncation grows and never converge.

Free modes (the |N − M| unpaired coordinates) feel only ``(x−μ)²/(2s²) − βã x``: uncoupled
bosons of frequency ``1/s²`` with levels ``n/s²``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from ._checks import check_hamiltonian, check_int

__all__ = ["Bosons"]

# Fock dimension up to which fock_spectrum uses dense eigh (LAPACK) rather than eigsh.
_DENSE_LIMIT = 200


def _fock_basis(n_max: int):
    """Occupations (n_a, n_b) with n_a + n_b ≤ n_max, ordered by total number then n_a."""
    na = np.concatenate([np.arange(t + 1) for t in range(n_max + 1)])
    nt = np.concatenate([np.full(t + 1, t) for t in range(n_max + 1)])
    return na, nt - na


class Bosons:
    r"""Per-mode coupled-boson form of a :class:`~pyrbm.hamiltonian.Hamiltonian`.

    Built by ``Bosons(ham)`` or ``ham.bosons()``. All arrays have shape (K,), one entry per
    paired mode (K = min(N, M), descending σ_k); methods take the 1-based mode label
    (mode 1 has the largest σ). Uses ``s² = ham.s2`` (1/4 binary, 1 spin) and
    ``β = ham.beta``.

    Attributes
    ----------
    sigma : ndarray (K,)
        Singular values σ_k (energy units), ``ham.modes.sigma``: numerically zero ones
        (below the rank threshold) are exactly 0, uncoupled bosons.
    Omega : ndarray (K,)
        Bare boson frequency ``Ω_k = sqrt(1/s⁴ + β²σ_k²)`` (inverse time of the Langevin
        dynamics, β absorbed).
    g : ndarray (K,)
        Coupling ``g_k = βσ_k/(s²Ω_k)``; always ``≤ Ω_k/2``, equal at the threshold.
    kappa_u, kappa_w : ndarray (K,)
        Normal rates ``κ_u = 1/s² − βσ_k`` (downhill direction) and ``κ_w = 1/s² + βσ_k``.
    stable : ndarray of bool (K,)
        ``βσ_k s² < 1`` (κ_u > 0): the mode's Gaussian-DOS diffusion has a stationary state.
    free_frequency : float
        ``1/s²``, the frequency of each free boson.
    n_free_visible, n_free_hidden : int
        Number of free x- and y-bosons (N − K and M − K).

    Notes
    -----
    Fock truncation used by :meth:`fock_hamiltonian`: all states with total occupation
    ``n_a + n_b ≤ n_max`` (dimension ``(n_max+1)(n_max+2)/2``). The beam-splitter part of
    the coupling conserves ``n_a + n_b`` and the squeezing part changes it by ±2, so this
    "triangle" keeps every state a low-energy eigenvector needs at about half the size of
    the square box ``n_a, n_b ≤ n_max``. Being a subspace, the truncation gives upper bounds
    to every level that decrease monotonically as ``n_max`` grows (Cauchy interlacing).
    """

    def __init__(self, ham):
        check_hamiltonian(ham)
        modes = ham.modes
        s2 = float(ham.s2)
        beta = float(ham.beta)
        self.s2 = s2
        self.beta = beta
        self.sigma = np.array(modes.sigma, dtype=np.float64)
        c = beta * self.sigma
        self.Omega = np.sqrt(1.0 / s2**2 + c**2)
        self.g = c / (s2 * self.Omega)
        self.kappa_u = 1.0 / s2 - c
        self.kappa_w = 1.0 / s2 + c
        self.stable = c * s2 < 1.0
        self.free_frequency = 1.0 / s2
        self.n_free_visible = int(modes.n_free_visible)
        self.n_free_hidden = int(modes.n_free_hidden)
        for arr in (self.sigma, self.Omega, self.g, self.kappa_u, self.kappa_w, self.stable):
            arr.flags.writeable = False

    @property
    def n_modes(self) -> int:
        """K, the number of paired modes."""
        return self.sigma.size

    def __repr__(self) -> str:
        return (f"Bosons(n_modes={self.n_modes}, n_unstable={int(np.sum(~self.stable))}, "
                f"s2={self.s2:g}, beta={self.beta:g})")

    # ------------------------------------------------------------------ checks
    def _check_mode(self, mode) -> int:
        """0-based index of the 1-based label ``mode``."""
        mode = check_int("mode", mode)
        if not 1 <= mode <= self.n_modes:
            raise ValueError(f"mode: expected a 1-based mode label in [1, {self.n_modes}] (K = min(N, M) paired "
                             f"modes, mode 1 has the largest singular value), got {mode}")
        return mode - 1

    # ------------------------------------------------------------------ analytic spectrum
    def levels(self, mode, *, n_levels: int = 6) -> np.ndarray:
        r"""The exact lowest levels of ``H_k`` from its normal modes.

        .. math::  E_{n_u n_w} = |\kappa_u|(n_u + \tfrac12) - \tfrac{\kappa_u}{2} + n_w\kappa_w ,

        i.e. ``n_u κ_u + n_w κ_w`` for a stable mode and ``|κ_u|(n_u+1) + n_w κ_w`` for an
        unstable one (see the module notes). At the threshold (κ_u = 0) the true spectrum
        is continuous; this returns the κ_u → 0 limit (all zeros along n_u).

        Parameters
        ----------
        mode : int
            1-based mode label in [1, K].
        n_levels : int
            How many levels (≥ 1), ascending, with multiplicity.

        Returns
        -------
        ndarray (n_levels,)
        """
        k = self._check_mode(mode)
        n_levels = check_int("n_levels", n_levels, minimum=1)
        ku, kw = self.kappa_u[k], self.kappa_w[k]
        n = np.arange(n_levels)
        e_u = abs(ku) * (n + 0.5) - ku / 2.0
        e_w = kw * n
        return np.sort((e_u[:, None] + e_w[None, :]).ravel())[:n_levels]

    def free_levels(self, *, n_levels: int = 6) -> np.ndarray:
        """Levels ``n/s²`` (n = 0, 1, …) of one free boson, shape (n_levels,)."""
        n_levels = check_int("n_levels", n_levels, minimum=1)
        return np.arange(n_levels) * self.free_frequency

    # ------------------------------------------------------------------ Fock space
    def fock_hamiltonian(self, mode, *, n_max: int) -> scipy.sparse.csr_matrix:
        r"""Truncated two-mode Fock matrix of mode ``k``.

        .. math::  H_k = \Omega(a^\dagger a + b^\dagger b + 1) - g_k(a + a^\dagger)(b + b^\dagger) - 1/s^2

        on the states ``|n_a, n_b⟩`` with ``n_a + n_b ≤ n_max``, ordered by total occupation
        ``t = n_a + n_b`` and then ``n_a`` (index ``t(t+1)/2 + n_a``).

        Parameters
        ----------
        mode : int
            1-based mode label in [1, K].
        n_max : int
            Largest total occupation kept (≥ 1).

        Returns
        -------
        scipy.sparse.csr_matrix, shape (D, D), D = (n_max+1)(n_max+2)/2
            Real symmetric.
        """
        k = self._check_mode(mode)
        n_max = check_int("n_max", n_max, minimum=1)
        na, nb = _fock_basis(n_max)
        dim = na.size
        idx = lambda a, b: (a + b) * (a + b + 1) // 2 + a  # noqa: E731
        rows, cols, vals = [np.arange(dim)], [np.arange(dim)], [self.Omega[k] * (na + nb + 1.0) - 1.0 / self.s2]
        g = self.g[k]
        # −g (a + a†)(b + b†): the four terms a b, a b†, a† b, a† b†.
        for da in (-1, 1):
            for db in (-1, 1):
                ta, tb = na + da, nb + db
                ok = (ta >= 0) & (tb >= 0) & (ta + tb <= n_max)
                amp = np.sqrt(np.maximum(na, ta)[ok] * np.maximum(nb, tb)[ok].astype(np.float64))
                rows.append(idx(ta[ok], tb[ok]))
                cols.append(np.flatnonzero(ok))
                vals.append(-g * amp)
        H = scipy.sparse.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                    shape=(dim, dim))
        return H.tocsr()

    def fock_spectrum(self, mode, *, n_max: int, n_levels: int = 6) -> np.ndarray:
        """Lowest ``n_levels`` eigenvalues of :meth:`fock_hamiltonian` (ascending).

        Dense ``numpy.linalg.eigvalsh`` up to dimension 200; above, sparse
        ``scipy.sparse.linalg.eigsh`` in shift-invert mode about ``−Ω_k`` (below the whole
        spectrum, which is ≥ 0: the exact levels are ≥ 0 and truncation only raises them).

        Returns
        -------
        ndarray (n_levels,)
            Upper bounds on the true levels, decreasing monotonically in ``n_max``.
        """
        k = self._check_mode(mode)
        n_max = check_int("n_max", n_max, minimum=1)
        n_levels = check_int("n_levels", n_levels, minimum=1)
        dim = (n_max + 1) * (n_max + 2) // 2
        if n_levels > dim:
            raise ValueError(f"n_levels: the truncated Fock space with n_max={n_max} has only {dim} states, "
                             f"asked for {n_levels}; raise n_max or ask for fewer levels")
        H = self.fock_hamiltonian(mode, n_max=n_max)
        if dim <= _DENSE_LIMIT or n_levels >= dim - 1:
            return np.linalg.eigvalsh(H.toarray())[:n_levels]
        vals = scipy.sparse.linalg.eigsh(H.tocsc(), k=n_levels, sigma=-float(self.Omega[k]), which="LM",
                                         return_eigenvectors=False)
        return np.sort(vals)
