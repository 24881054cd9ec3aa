r"""Marčenko–Pastur law for the singular values of a Gaussian coupling matrix (docs/physics.md §9).

For ``W`` with i.i.d. ``N(0, σ_w²)`` entries, ``N ≥ M`` (the roles swap otherwise) and
``q = M σ_w²``, the singular values λ follow, as N, M → ∞ at fixed M/N,

.. math::
    \rho(\lambda) = \frac{\sqrt{(\lambda_+^2 - \lambda^2)(\lambda^2 - \lambda_-^2)}}{\pi q \lambda},
    \qquad \lambda_\pm = \sigma_w(\sqrt N \pm \sqrt M),

a density in λ on ``[λ−, λ+]`` that integrates to 1 (784×500, σ_w = 0.01: [0.0564, 0.5036]).

Its distribution function has a closed form. With ``μ = λ²``, ``A = λ−²``, ``B = λ+²``,
``c = (A+B)/2``, ``r = (B−A)/2`` and ``μ = c − r cos θ`` (θ ∈ [0, π]):

.. math::
    F(\lambda) = \frac{1}{2\pi q}\Big[r\sin\theta + c\,\theta
                 - 2\sqrt{AB}\,\arctan\!\Big(\sqrt{B/A}\,\tan\tfrac{\theta}{2}\Big)\Big],

(derived by integrating ``ρ`` in θ; ``F(λ+) = (√B − √A)²/(4q) = 1``), evaluated with
``arctan2`` so that it also holds for N = M (A = 0). It agrees with numerical quadrature of
``ρ`` to better than 1e-12 (tested).
"""

from __future__ import annotations

import numpy as np
import scipy.optimize

from ._checks import check_finite_array, check_int, check_positive

__all__ = ["mp_edges", "mp_pdf", "mp_cdf", "fit_sigma_w", "count_outliers", "edge_fluctuation"]


def _sizes(n_visible, n_hidden):
    n = check_int("n_visible", n_visible, minimum=1)
    m = check_int("n_hidden", n_hidden, minimum=1)
    return max(n, m), min(n, m)


def mp_edges(n_visible: int, n_hidden: int, *, sigma_w: float) -> tuple[float, float]:
    r"""Bulk edges ``λ± = σ_w(√N ± √M)`` (N ≥ M after swapping) of the singular values.

    Parameters
    ----------
    n_visible, n_hidden : int
        Matrix shape N × M.
    sigma_w : float
        Standard deviation of the entries (> 0).

    Returns
    -------
    (float, float)
        ``(λ−, λ+)``, same units as W.

    Examples
    --------
    >>> [round(e, 4) for e in mp_edges(784, 500, sigma_w=0.01)]
    [0.0564, 0.5036]
    """
    n, m = _sizes(n_visible, n_hidden)
    sigma_w = check_positive("sigma_w", sigma_w)
    return float(sigma_w * (np.sqrt(n) - np.sqrt(m))), float(sigma_w * (np.sqrt(n) + np.sqrt(m)))


def mp_pdf(s, n_visible: int, n_hidden: int, *, sigma_w: float) -> np.ndarray:
    r"""Marčenko–Pastur density of singular values, ``ρ(λ) = √((λ+²−λ²)(λ²−λ−²))/(π q λ)``.

    Parameters
    ----------
    s : array_like, any shape
        Singular values λ at which to evaluate.
    n_visible, n_hidden : int
    sigma_w : float

    Returns
    -------
    ndarray, shape of ``s``
        Density (1/units of W), zero outside ``[λ−, λ+]``. For N = M (λ− = 0) it is the
        quarter circle ``√(λ+² − λ²)/(π q)``, finite at 0.
    """
    s = check_finite_array("s", s)
    lo, hi = mp_edges(n_visible, n_hidden, sigma_w=sigma_w)
    _, m = _sizes(n_visible, n_hidden)
    q = m * sigma_w**2
    lam2 = s * s
    inside = (s >= lo) & (s <= hi)
    out = np.zeros_like(s)
    li = lam2[inside]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(li > 0, np.sqrt(np.maximum(li - lo * lo, 0.0) / li), 1.0 if lo == 0 else 0.0)
    out[inside] = np.sqrt(np.maximum(hi * hi - li, 0.0)) * ratio / (np.pi * q)
    return out


def mp_cdf(s, n_visible: int, n_hidden: int, *, sigma_w: float) -> np.ndarray:
    r"""Marčenko–Pastur distribution function ``F(λ) = ∫_0^λ ρ``, closed form (module notes).

    Parameters
    ----------
    s : array_like, any shape
    n_visible, n_hidden : int
    sigma_w : float

    Returns
    -------
    ndarray, shape of ``s``
        In [0, 1]; 0 below λ−, 1 above λ+. Vectorised; usable as the ``cdf`` of
        ``scipy.stats.kstest``.
    """
    s = check_finite_array("s", s)
    lo, hi = mp_edges(n_visible, n_hidden, sigma_w=sigma_w)
    _, m = _sizes(n_visible, n_hidden)
    q = m * sigma_w**2
    A, B = lo * lo, hi * hi
    c, r = (A + B) / 2.0, (B - A) / 2.0
    cos_t = np.clip((c - s * s) / r, -1.0, 1.0)
    theta = np.arccos(cos_t)
    half = theta / 2.0
    atan = np.arctan2(hi * np.sin(half), lo * np.cos(half))   # arctan(√(B/A) tan(θ/2)) in [0, π/2]
    F = (r * np.sin(theta) + c * theta - 2.0 * lo * hi * atan) / (2.0 * np.pi * q)
    F = np.where(s <= lo, 0.0, np.where(s >= hi, 1.0, F))
    return np.clip(F, 0.0, 1.0)


def _median_unit(n: int, m: int) -> float:
    """Median of the MP law at σ_w = 1."""
    lo, hi = mp_edges(n, m, sigma_w=1.0)
    return scipy.optimize.brentq(lambda x: mp_cdf(x, n, m, sigma_w=1.0) - 0.5, lo, hi, xtol=1e-14, rtol=1e-14)


def fit_sigma_w(s, n_visible: int, n_hidden: int, *, method: str = "moment") -> float:
    r"""Estimate σ_w from singular values of one or more N × M matrices.

    Parameters
    ----------
    s : array_like, 1-d
        Singular values; may pool several matrices (any number of values).
    n_visible, n_hidden : int
    method : {"moment", "median"}
        ``"moment"``: second moment, ``E[λ²] = max(N, M) σ_w²`` (since
        ``Σ_k λ_k² = Σ_ij W_ij²``), so ``σ̂_w = sqrt(mean(λ²)/max(N, M))``; unbiased for σ_w²
        at any size, but pulled up by outliers (learned modes).
        ``"median"``: ``σ̂_w = median(λ)/λ_med(σ_w=1)``, matching the MP median; a few
        outliers above the bulk barely move it (robust fit for partly trained models).

    Returns
    -------
    float
    """
    s = check_finite_array("s", s, ndim=1)
    n, m = _sizes(n_visible, n_hidden)
    if s.size == 0 or np.any(s < 0):
        raise ValueError("s: expected a non-empty array of non-negative singular values")
    if method == "moment":
        return float(np.sqrt(np.mean(s * s) / n))
    if method == "median":
        return float(np.median(s) / _median_unit(n, m))
    raise ValueError(f"method: expected 'moment' or 'median', got {method!r}")


def edge_fluctuation(n_visible: int, n_hidden: int, *, sigma_w: float) -> tuple[float, float]:
    r"""Tracy–Widom scale of the smallest and largest singular value (finite-size width).

    Johnstone's (2001) scaling of the extreme eigenvalues of ``WᵀW`` — at the upper edge
    ``σ_w²(√N + √M)(1/√N + 1/√M)^{1/3}``, at the lower edge
    ``σ_w²(√N − √M)(1/√M − 1/√N)^{1/3}`` — converted to singular values by
    ``δλ = δμ/(2λ±)``. For 784×500 at σ_w = 0.01 this is (1.04e-3, 2.16e-3): the extreme
    singular values fluctuate by a few of these around the edges (upper-edge
    Tracy–Widom-1 mean −1.2, standard deviation 1.3 in these units).

    Returns
    -------
    (float, float)
        Scales at λ− and λ+ (units of W). The lower one is ``nan`` when N = M.
    """
    n, m = _sizes(n_visible, n_hidden)
    lo, hi = mp_edges(n, m, sigma_w=sigma_w)
    up = sigma_w**2 * (np.sqrt(n) + np.sqrt(m)) * (1 / np.sqrt(n) + 1 / np.sqrt(m)) ** (1 / 3) / (2 * hi)
    if n == m:
        return float("nan"), float(up)
    down = sigma_w**2 * (np.sqrt(n) - np.sqrt(m)) * (1 / np.sqrt(m) - 1 / np.sqrt(n)) ** (1 / 3) / (2 * lo)
    return float(down), float(up)


def count_outliers(s, n_visible: int, n_hidden: int, *, sigma_w: float, tol: float | None = None) -> int:
    r"""Number of singular values above the upper Marčenko–Pastur edge.

    Counts ``λ > λ+ + margin``.

    Parameters
    ----------
    s : array_like, 1-d
        Singular values of one matrix (or several, pooled).
    n_visible, n_hidden : int
    sigma_w : float
        Scale of the bulk (the initialisation's σ_w, or :func:`fit_sigma_w`).
    tol : float or None
        Relative margin: ``margin = tol·λ+``. ``None`` (default) uses 6 Tracy–Widom scales,
        ``margin = 6·δλ+`` (:func:`edge_fluctuation`): an unlearned Gaussian matrix then has an
        outlier with probability of order 1e-6 (Tracy–Widom-1 tail), while a learned mode 2.6 %
        above the edge already counts (784×500, σ_w = 0.01).

    Returns
    -------
    int
    """
    s = check_finite_array("s", s, ndim=1)
    _, hi = mp_edges(n_visible, n_hidden, sigma_w=sigma_w)
    if tol is None:
        margin = 6.0 * edge_fluctuation(n_visible, n_hidden, sigma_w=sigma_w)[1]
    else:
        margin = check_positive("tol", tol, allow_zero=True) * hi
    return int(np.count_nonzero(s > hi + margin))
