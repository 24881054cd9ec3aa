r"""Hierarchical probing and the Gaussian surrogate (docs/physics.md §11).

Both regenerate visible units from continuous hidden reciprocal coordinates ``y``:

.. math::  p(v_i = 1 \mid y) = \sigma\big(\beta\,(U Σ y + a)_i\big)

(binary units; spin units ``p(v_i = +1|y) = σ(2β(…))``), which for ``y = Vᵀh`` is the usual
``p(v|h)`` since ``U Σ Vᵀ h = W h``.

- :func:`decode_visible` — that conditional for any real ``y`` and any basis U.
- :func:`probe_modes` — flip or rotate chosen columns of U and compare the regenerated
  visibles with those of the unchanged U (same random numbers).
- :func:`gaussian_surrogate` — Gaussian fit of ``(x, y)`` of samples, drawn and decoded.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.special import expit

from ._checks import as_configuration, check_finite_array, check_hamiltonian, check_int, check_modes, check_seed

__all__ = ["decode_visible", "probe_modes", "gaussian_surrogate"]


def _rng(seed) -> np.random.Generator:
    seed = check_seed(seed)
    if seed is None:
        raise ValueError("seed: expected an integer seed (the result is random); pass seed=0 for example")
    return np.random.default_rng(seed)


def _check_y(ham, y) -> np.ndarray:
    M, K = ham.n_hidden, ham.modes.n_modes
    y = check_finite_array("y", y)
    if y.ndim == 0 or y.shape[-1] not in (M, K):
        raise ValueError(f"y: expected hidden reciprocal coordinates of shape (..., {M}) (or (..., {K}), the "
                         f"paired modes), got {y.shape}")
    return y


def _field(ham, y, U) -> np.ndarray:
    K = ham.modes.n_modes
    return ham.a + (y[..., :K] * ham.modes.s) @ U[:, :K].T


def _bernoulli(ham, p, uniforms) -> np.ndarray:
    v = (uniforms < p).astype(np.float64)
    return 2.0 * v - 1.0 if ham.spin else v


def decode_visible(ham, y, *, seed=None, U=None, sample: bool = True) -> np.ndarray:
    r"""Visible units from continuous hidden reciprocal coordinates.

    ``p_i = σ(β(U Σ y_K + a)_i)`` (spin: ``σ(2β(…))``), ``y_K`` the first K = min(N, M)
    coordinates.

    Parameters
    ----------
    ham : Hamiltonian
    y : array_like (..., M) or (..., K)
        Hidden reciprocal coordinates (any real values).
    seed : int
        Seed of the Bernoulli draws (required when ``sample``).
    U : array_like (N, N) or (N, K), optional
        Visible basis to use instead of ``ham.modes.U`` (e.g. a probed one).
    sample : bool
        Return samples (0/1 or ±1, float64); ``False`` returns the probabilities.

    Returns
    -------
    ndarray (..., N)
    """
    ham = check_hamiltonian(ham)
    y = _check_y(ham, y)
    K = ham.modes.n_modes
    U = ham.modes.U if U is None else check_finite_array("U", U, ndim=2)
    if U.shape[0] != ham.n_visible or U.shape[1] < K:
        raise ValueError(f"U: expected shape ({ham.n_visible}, ≥{K}), got {U.shape}")
    p = expit((2.0 if ham.spin else 1.0) * ham.beta * _field(ham, y, U))
    if not sample:
        return p
    return _bernoulli(ham, p, _rng(seed).random(p.shape))


def probe_modes(ham, h, *, modes, operation: str = "flip", seed) -> xr.Dataset:
    r"""Hierarchical probing: regenerate visibles with chosen modes of U flipped or rotated.

    ``y = Vᵀh``; ``U' = U R`` with R acting on the chosen mode columns: ``"flip"`` negates
    them (a π-rotation in the plane of two modes), ``"rotate"`` mixes them by a Haar-random
    rotation of their span (≥ 2 modes). Visibles ``v' ~ Bernoulli(σ(β(U' Σ y + a)))`` and
    the reference ``v ~ Bernoulli(σ(β(U Σ y + a)))`` use the same uniform random numbers,
    so their difference is due to the perturbation only.

    Parameters
    ----------
    ham : Hamiltonian
    h : array_like (n, M)
        Hidden configurations (e.g. the final Gibbs state).
    modes : int or sequence of int
        1-based labels of the perturbed modes (≤ K), or a count of top modes.
    operation : {"flip", "rotate"}
    seed : int

    Returns
    -------
    xarray.Dataset
        ``v`` (probed) and ``v_reference`` (sample, visible); ``hamming`` (sample): units
        changed; ``p`` and ``p_reference`` probabilities.
    """
    ham = check_hamiltonian(ham)
    if operation not in ("flip", "rotate"):
        raise ValueError(f"operation: expected 'flip' or 'rotate', got {operation!r}")
    if np.ndim(h) != 2:
        raise ValueError(f"h: expected a 2-d array (n_samples, {ham.n_hidden}), got shape {np.shape(h)}")
    h = as_configuration("h", h, ham.n_hidden, ham.units)
    md = ham.modes
    idx = check_modes(modes, md.n_modes)
    if operation == "rotate" and idx.size < 2:
        raise ValueError(f"modes: a rotation needs at least 2 modes, got {idx.size}; use operation='flip'")
    rng = _rng(seed)
    U2 = np.array(md.U)
    if operation == "flip":
        U2[:, idx] *= -1.0
    else:
        q, r = np.linalg.qr(rng.standard_normal((idx.size, idx.size)))
        U2[:, idx] = md.U[:, idx] @ (q * np.sign(np.diag(r)))
    y = h @ md.V
    gain = (2.0 if ham.spin else 1.0) * ham.beta
    p_ref, p = expit(gain * _field(ham, y, md.U)), expit(gain * _field(ham, y, U2))
    uni = rng.random(p.shape)
    v_ref, v = _bernoulli(ham, p_ref, uni), _bernoulli(ham, p, uni)
    dims = ("sample", "visible")
    return xr.Dataset(
        {"v": (dims, v, {"long_name": "visible units regenerated with the probed U", "units": "1"}),
         "v_reference": (dims, v_ref, {"long_name": "visible units regenerated with U", "units": "1"}),
         "p": (dims, p, {"long_name": "p(v_i = 1 | y) with the probed U", "units": "1"}),
         "p_reference": (dims, p_ref, {"long_name": "p(v_i = 1 | y) with U", "units": "1"}),
         "hamming": ("sample", np.sum(v != v_ref, axis=1).astype(np.float64),
                     {"long_name": "visible units changed by the probe", "units": "1"})},
        attrs={"operation": operation, "modes": ",".join(str(int(k) + 1) for k in idx)})


def gaussian_surrogate(ham, v, h, *, n_samples: int, seed, jitter: float = 1e-9) -> xr.Dataset:
    r"""Samples of the Gaussian surrogate of a model's samples, decoded to visibles.

    ``z = (x, y) = (Uᵀv, Vᵀh)`` of the given samples has mean μ and covariance C; draws
    ``z = μ + L ε`` (``L Lᵀ = C + jitter·I``, Cholesky; ε standard normal) are decoded with
    :func:`decode_visible` from their y part.

    Returns
    -------
    xarray.Dataset
        ``v`` (sample, visible), ``x`` (sample, x_mode), ``y`` (sample, y_mode).
    """
    ham = check_hamiltonian(ham)
    n_samples = check_int("n_samples", n_samples, minimum=1)
    if np.ndim(v) != 2 or np.ndim(h) != 2 or np.shape(v)[0] != np.shape(h)[0] or np.shape(v)[0] < 2:
        raise ValueError(f"v, h: expected 2-d arrays with the same number (≥ 2) of rows, got shapes "
                         f"{np.shape(v)} and {np.shape(h)}")
    v = as_configuration("v", v, ham.n_visible, ham.units)
    h = as_configuration("h", h, ham.n_hidden, ham.units)
    md = ham.modes
    z = np.concatenate([v @ md.U, h @ md.V], axis=1)
    mu = z.mean(axis=0)
    C = np.cov(z, rowvar=False) + jitter * np.eye(z.shape[1])
    try:
        L = np.linalg.cholesky(C)
    except np.linalg.LinAlgError:
        w, Q = np.linalg.eigh(C)
        L = Q * np.sqrt(np.clip(w, 0.0, None))
    rng = _rng(seed)
    draw = mu + rng.standard_normal((n_samples, z.shape[1])) @ L.T
    N = ham.n_visible
    x, y = draw[:, :N], draw[:, N:]
    vis = _bernoulli(ham, decode_visible(ham, y, sample=False), rng.random((n_samples, N)))
    return xr.Dataset(
        {"v": (("sample", "visible"), vis, {"long_name": "decoded visible units", "units": "1"}),
         "x": (("sample", "x_mode"), x, {"long_name": "surrogate visible reciprocal coordinates", "units": "1"}),
         "y": (("sample", "y_mode"), y, {"long_name": "surrogate hidden reciprocal coordinates", "units": "1"})},
        attrs={"n_fit": int(z.shape[0]), "jitter": float(jitter)})
