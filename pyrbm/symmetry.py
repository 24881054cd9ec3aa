r"""Symmetry breaking in reciprocal space (docs/physics.md §3, §11).

- :func:`rotation_divergence` — how far ``W`` is from the rotational symmetry of its
  initialisation ensemble: the random-Givens rotation test, JS and KL divergences of the
  histograms of the entries of ``W`` and of ``W_rot``.
- :func:`hierarchy` — the cascade of a training history: per mode, the epoch at which σ_k
  leaves the Marčenko–Pastur bulk and the epoch at which it crosses 4T.
- :func:`order_parameters` — u_k and w_k of data (h ~ p(h|v), by digit) and of Gibbs
  samples at every record of a history, next to the saddle and the uniform-measure mean.
- :func:`kurtosis`, :func:`kurtosis_scaling` — the Gaussian limit of the reciprocal
  variables, ``kurt(x_k) = 3 − 2 Σ_i U_ik⁴`` and its Haar mean ``3 − 6/(N+2)``.

Landau fits and transition indicators live in :mod:`pyrbm.landau`, hierarchical probing and
the Gaussian surrogate in :mod:`pyrbm.probing`.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._checks import (as_configuration, check_finite_array, check_hamiltonian, check_int, check_modes,
                      check_positive, check_seed)
from .hamiltonian import Hamiltonian
from .modetracking import track_modes

__all__ = ["givens_rotation", "rotation_divergence", "histogram_divergences", "hierarchy",
           "order_parameters", "model_order_parameters", "align_replicas", "ODD_VARIABLES", "kurtosis",
           "kurtosis_scaling", "fit_kurtosis_scaling"]

_EPS = 1e-9


def _attrs(long_name: str, units: str = "1", **extra) -> dict:
    return {"long_name": long_name, "units": units, **extra}


def _require_seed(seed) -> int:
    seed = check_seed(seed)
    if seed is None:
        raise ValueError("seed: expected an integer seed (the result is random); pass seed=0 for example")
    return seed


# ----------------------------------------------------------------------------- rotation test
def givens_rotation(n: int, n_rotations: int, rng: np.random.Generator) -> np.ndarray:
    r"""Product of ``n_rotations`` plane (Givens) rotations of ``R^n``, shape (n, n).

    Each factor rotates a random coordinate pair ``(i, j)``, ``i ≠ j``, by an angle uniform
    in ``[0, 2π)``: ``R ← G_{ij}(θ) R`` with ``G`` the identity except
    ``G_ii = G_jj = cos θ``, ``G_ij = −sin θ``, ``G_ji = sin θ``.
    """
    R = np.eye(n)
    if n < 2:
        return R
    for _ in range(n_rotations):
        i, j = rng.choice(n, size=2, replace=False)
        theta = rng.uniform(0.0, 2.0 * np.pi)
        c, s = np.cos(theta), np.sin(theta)
        ri, rj = R[i].copy(), R[j].copy()
        R[i] = c * ri - s * rj
        R[j] = s * ri + c * rj
    return R


def histogram_divergences(p, q) -> tuple[float, float]:
    r"""KL and JS divergences of two normalised histograms (nats), regularised by ε = 1e-9.

    .. math::
        KL = \sum p \ln\frac{p+ε}{q+ε},\quad
        JS = \tfrac12\Big[\sum p \ln\frac{2(p+ε)}{p+q+ε} + \sum q \ln\frac{2(q+ε)}{p+q+ε}\Big].
    """
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    kl = float(np.sum(p * np.log((p + _EPS) / (q + _EPS))))
    js = 0.5 * float(np.sum(p * np.log(2 * (p + _EPS) / (p + q + _EPS)))
                     + np.sum(q * np.log(2 * (q + _EPS) / (p + q + _EPS))))
    return kl, js


def rotation_divergence(W, *, seed, n_bins: int = 1000, fraction: float = 0.1) -> xr.Dataset:
    r"""Rotation test of the symmetry of ``W`` (docs/physics.md §11).

    With the full SVD ``W = U Σ Vᵀ`` (U N×N, V M×M), ``R_U`` the product of ``⌊fraction·N⌋``
    random Givens rotations (:func:`givens_rotation`) and ``R_V`` of ``⌊fraction·M⌋``:

    .. math::  W_{rot} = (R_U U R_U^\top)\, Σ\, (R_V V R_V^\top)^\top ,

    then all N·M entries of W and of ``W_rot`` are histogrammed with the same ``n_bins``
    bins (spanning both), normalised to p and q, and compared with
    :func:`histogram_divergences`. A Gaussian (rotation-invariant) W sits at the noise floor
    of the histograms (784×500, 1000 bins: JS ≈ 5.7e-4); learned structure raises it.
    Only ~10 % of coordinates are rotated, so a single rank-one spike barely moves it.

    Parameters
    ----------
    W : array_like (N, M) or Hamiltonian
        Couplings (energy units; the divergences are dimensionless).
    seed : int
        Seed of the rotations (required: the result is random).
    n_bins : int
        Number of histogram bins (≥ 2).
    fraction : float
        Rotations per dimension, in (0, 1].

    Returns
    -------
    xarray.Dataset
        Scalars ``js`` and ``kl`` (nats) and ``n_rotations_u``/``n_rotations_v``; attrs
        ``seed``, ``n_bins``, ``fraction``.
    """
    if isinstance(W, Hamiltonian):
        W = W.W
    W = check_finite_array("W", W, ndim=2)
    if W.shape[0] < 2 or W.shape[1] < 2:
        raise ValueError(f"W: expected at least 2 rows and 2 columns to rotate, got shape {W.shape}")
    n_bins = check_int("n_bins", n_bins, minimum=2)
    fraction = check_positive("fraction", fraction)
    if fraction > 1:
        raise ValueError(f"fraction: expected a number in (0, 1], got {fraction!r}")
    rng = np.random.default_rng(_require_seed(seed))
    N, M = W.shape
    ku, kv = int(np.floor(fraction * N)), int(np.floor(fraction * M))
    U, s, Vt = np.linalg.svd(W, full_matrices=True)
    R_u, R_v = givens_rotation(N, ku, rng), givens_rotation(M, kv, rng)
    K = s.size
    U_rot = (R_u @ U @ R_u.T)[:, :K]
    Vt_rot = (R_v @ Vt.T @ R_v.T).T[:K]
    W_rot = (U_rot * s) @ Vt_rot
    lo, hi = min(W.min(), W_rot.min()), max(W.max(), W_rot.max())
    if hi <= lo:
        hi = lo + 1.0
    p = np.histogram(W, bins=n_bins, range=(lo, hi))[0] / W.size
    q = np.histogram(W_rot, bins=n_bins, range=(lo, hi))[0] / W_rot.size
    kl, js = histogram_divergences(p, q)
    return xr.Dataset(
        {"js": ((), js, _attrs("Jensen-Shannon divergence of the entries of W and W_rot (nats)")),
         "kl": ((), kl, _attrs("Kullback-Leibler divergence KL(W || W_rot) of the entries (nats)")),
         "n_rotations_u": ((), ku, _attrs("Givens rotations in R_U")),
         "n_rotations_v": ((), kv, _attrs("Givens rotations in R_V"))},
        attrs={"seed": int(seed), "n_bins": n_bins, "fraction": fraction, "n_visible": N, "n_hidden": M,
               "formula": "W_rot = (R_U U R_U^T) S (R_V V R_V^T)^T"})


# ----------------------------------------------------------------------------- histories
def _check_history(history, need=("singular_value",)) -> xr.Dataset:
    if not isinstance(history, xr.Dataset):
        raise TypeError(f"history: expected an xarray.Dataset (a training history), got {type(history).__name__}")
    missing = [v for v in need if v not in history]
    if missing:
        hint = ("train with Trainer(record_params=True) to record W, a, b"
                if {"W", "a", "b"} & set(missing) else "pass the history returned by Trainer.fit")
        raise ValueError(f"history: missing variable(s) {missing} (has {sorted(history.data_vars)}); {hint}")
    if "epoch" not in history.dims or history.sizes["epoch"] == 0:
        raise ValueError("history: expected a non-empty 'epoch' dimension")
    for v in need:
        if not np.all(np.isfinite(history[v].values)):
            raise ValueError(f"history: variable {v!r} has NaN/inf entries; the history is damaged")
    return history


def hierarchy(history, *, margin: float | None = None, mean_field: bool | None = None) -> xr.Dataset:
    r"""When each mode leaves the Marčenko–Pastur bulk, crosses 4T and breaks the mean-field state.

    Mode k leaves the bulk at the first record with ``σ_k > λ+ + margin`` (``λ+`` the
    history's ``mp_edge``; ``margin`` default 6 Tracy–Widom widths of the initialisation,
    as :func:`pyrbm.spectra.count_outliers`) and crosses 4T at the first record with
    ``σ_k s² β > 1`` (``σ_k > threshold_4T``). Modes are those of ``singular_value(epoch,
    mode)``, in the history's (tracked) identity, listed by their rank at the last record
    (``final_rank`` 1 = the largest singular value at the end).

    The 4T crossing is the zero-field criterion: with biases the activations move away
    from ½ and the paramagnetic state breaks later (docs/physics.md §4). With ``W``, ``a``,
    ``b`` recorded (``Trainer(record_params=True)``) and ``mean_field`` not False, each
    record's model is also tested with ``stable_modes(criterion="mean_field")``; the mode
    of final rank r gets ``epoch_above_mean_field``, the first record with at least r
    mean-field-unstable directions (the unstable directions are counted, not identified).

    Returns
    -------
    xarray.Dataset
        dim ``mode`` (1-based labels as in the history, sorted by ``final_rank``):
        ``epoch_leaves_bulk``, ``epoch_above_4T``, ``epoch_above_mean_field`` (NaN if never,
        or not computed), ``order_leaves_bulk`` (1 = first to leave; 0 if never),
        ``final_singular_value``; coordinate ``final_rank``.
    """
    from .spectra import edge_fluctuation

    history = _check_history(history)
    edge = _setting(history, "mp_edge")
    if edge is None:
        raise ValueError("history: attribute 'mp_edge' (upper Marchenko-Pastur edge) missing; "
                         "pass the history returned by Trainer.fit")
    if margin is None:
        sw, n, m = (_setting(history, k) for k in ("trainer_sigma_w", "n_visible", "n_hidden"))
        margin = 6.0 * edge_fluctuation(int(n), int(m), sigma_w=sw)[1] if None not in (sw, n, m) else 0.0
    margin = check_positive("margin", margin, allow_zero=True)
    beta = float(history.attrs.get("beta", 1.0))
    thr = float(history.attrs.get("threshold_4T", 4.0 / beta))
    s = history["singular_value"].transpose("epoch", "mode").values
    epochs = history["epoch"].values.astype(np.float64)

    def first(mask):
        hit = mask.any(axis=0)
        return np.where(hit, epochs[np.argmax(mask, axis=0)], np.nan)

    leave, cross = first(s > edge + margin), first(s > thr)
    final_rank = np.empty(s.shape[1], dtype=np.int64)
    final_rank[np.argsort(-s[-1], kind="stable")] = np.arange(1, s.shape[1] + 1)
    mf = np.full(s.shape[1], np.nan)
    have = all(v in history for v in ("W", "a", "b"))
    if mean_field and not have:
        raise ValueError("mean_field: the history has no W, a, b; train with Trainer(record_params=True)")
    if have and mean_field is not False:
        units = str(history.attrs.get("units", "binary"))
        n_unstable = np.array([np.count_nonzero(~Hamiltonian(
            history["W"].isel(epoch=t).transpose("visible", "hidden").values, history["a"].isel(epoch=t).values,
            history["b"].isel(epoch=t).values, beta=beta, units=units).stable_modes(criterion="mean_field"))
            for t in range(s.shape[0])])
        mf = first(n_unstable[:, None] >= final_rank[None, :])
    order = np.zeros(s.shape[1], dtype=np.int64)
    ok = np.isfinite(leave)
    order[np.flatnonzero(ok)[np.argsort(leave[ok], kind="stable")]] = np.arange(1, ok.sum() + 1)
    out = xr.Dataset(
        {"epoch_leaves_bulk": ("mode", leave, _attrs("first epoch with sigma_k above the MP edge + margin",
                                                     "epoch")),
         "epoch_above_4T": ("mode", cross, _attrs("first epoch with sigma_k > 4T (zero-field criterion)", "epoch")),
         "epoch_above_mean_field": ("mode", mf, _attrs(
             "first epoch with at least final_rank mean-field-unstable directions (NaN: never or not computed)",
             "epoch")),
         "order_leaves_bulk": ("mode", order, _attrs("rank of the mode in leaving the bulk (0: never)")),
         "final_singular_value": ("mode", s[-1], _attrs("singular value at the last record (in units of k_B T at beta = 1)"))},
        coords={"mode": ("mode", history["mode"].values, _attrs("tracked mode label (identity at the first record)")),
                "final_rank": ("mode", final_rank, _attrs("rank by descending singular value at the last record"))},
        attrs={"mp_edge": edge, "margin": margin, "threshold_4T": thr,
               "mean_field": int(have and mean_field is not False)})
    return out.sortby("final_rank")


def _setting(history, key: str):
    """A scalar setting of a history: its attribute, or a scalar coordinate (one point of a scan)."""
    if key in history.attrs:
        return float(history.attrs[key])
    if key in history.variables and history[key].ndim == 0:
        return float(history[key])
    return None


def _tracked(history, t: int, idx: np.ndarray):
    """0-based SVD indices and signs at record t of the tracked modes ``idx`` (0-based labels)."""
    rank = np.asarray(history["rank"].isel(epoch=t).values, dtype=np.int64)[idx] - 1
    return rank, np.asarray(history["mode_sign"].isel(epoch=t).values, dtype=np.float64)[idx]


def _model_uw(ham, idx, sign, data, frame, tags, n_chains, n_steps) -> dict:
    r"""u, w of data (h ~ p(h|v)) and of Gibbs samples for the modes ``idx`` (0-based) with ``sign``.

    Frame ``"saddle"``: ``u = (δx + δy)/√2``, ``w = (δy − δx)/√2`` about ``(x*, y*)``;
    ``"origin"``: about 0. Seeds: ``SeedSequence(tags)`` draws h, ``tags + (1,)`` the chains.
    """
    from .samplers import GibbsSampler

    md = ham.modes
    Uk, Vk = md.U[:, idx] * sign, md.V[:, idx] * sign
    x_star, y_star, _ = md.saddle()
    xs, ys = x_star[idx] * sign, y_star[idx] * sign
    mux, muy = md.mu_x[idx] * sign, md.mu_y[idx] * sign
    off_x, off_y = (xs, ys) if frame == "saddle" else (0.0, 0.0)

    def rot(x, y):
        dx, dy = x - off_x, y - off_y
        return (dx + dy) / np.sqrt(2.0), (dy - dx) / np.sqrt(2.0)

    out = {}
    out["u_saddle"], out["w_saddle"] = rot(xs, ys)
    out["u_uniform"], out["w_uniform"] = rot(mux, muy)
    rng = np.random.default_rng(list(tags))
    p = ham.p_h_given_v(data)
    h = (rng.random(p.shape) < p).astype(np.float64)
    if ham.units == "spin":
        h = 2.0 * h - 1.0
    out["u_data"], out["w_data"] = rot(data @ Uk, h @ Vk)
    gseed = int(np.random.SeedSequence(list(tags) + [1]).generate_state(1, dtype=np.uint64)[0])
    _, state = GibbsSampler(n_chains, seed=gseed).run(ham, n_steps=n_steps, observables=[], progress=False)
    out["u_gibbs"], out["w_gibbs"] = rot(state.v.astype(np.float64) @ Uk, state.h.astype(np.float64) @ Vk)
    out["U"], out["V"] = Uk, Vk
    return out


def model_order_parameters(ham, *, data, modes=1, reference=None, match: bool = True, n_chains: int = 500,
                           n_steps: int = 100, frame: str = "saddle", seed) -> xr.Dataset:
    r"""u_k and w_k of data and of Gibbs samples of one model, next to the saddle and the uniform mean.

    ``x = Uᵀv``, ``y = Vᵀh`` with ``h ~ p(h|v)`` for the data and ``n_chains`` Gibbs chains
    after ``n_steps`` sweeps from uniform visibles; frame ``"saddle"``:
    ``u_k = (δx_k + δy_k)/√2``, ``w_k = (δy_k − δx_k)/√2`` about ``(x*_k, y*_k) =
    (−b̃_k/σ_k, −ã_k/σ_k)``; frame ``"origin"``: about 0 (docs/physics.md §2, §8).

    Modes: the top ``modes`` (count) or these 1-based ranks, each with the single-model
    sign rule; with ``reference`` vectors ``(U_ref (N, n), V_ref (M, n))`` (e.g. the
    previous record's, or another replica's) the sign of each mode is chosen so that its
    pair overlap ``½(u_ref·u + v_ref·v)`` with reference column l is ≥ 0, and with
    ``match=True`` mode l is first chosen among the selected modes by the assignment
    maximising ``Σ|overlap|`` (:func:`pyrbm.modetracking.track_modes`).

    Parameters
    ----------
    ham : Hamiltonian
    data : array_like (n, N)
        Visible configurations (binary or spin, as ``ham``).
    modes : int or sequence of int
    reference : tuple of ndarray, optional
        ``(U_ref, V_ref)`` of shapes (N, n), (M, n), n the number of selected modes.
    match : bool
        Permute the selected modes to the reference (True) or keep rank order (False).
    n_chains, n_steps : int
    frame : {"saddle", "origin"}
    seed : int

    Returns
    -------
    xarray.Dataset
        dims ``source`` ("data", "gibbs") and ``mode`` (labels 1..n; coordinate
        ``svd_index``, the 1-based rank of the mode in this model): ``u_mean``, ``u_std``,
        ``w_mean``, ``w_std`` (source, mode); ``u_saddle``, ``w_saddle``, ``u_uniform``,
        ``w_uniform``, ``singular_value``, ``sign``, ``overlap`` (pair overlap with the
        reference, NaN without) (mode); ``U`` (visible, mode), ``V`` (hidden, mode): the
        signed singular vectors used (pass them as the next call's ``reference``).
    """
    ham = check_hamiltonian(ham)
    if frame not in ("saddle", "origin"):
        raise ValueError(f"frame: expected 'saddle' or 'origin', got {frame!r}")
    seed = _require_seed(seed)
    N, M = ham.n_visible, ham.n_hidden
    if np.ndim(data) != 2 or np.shape(data)[0] == 0:
        raise ValueError(f"data: expected a non-empty 2-d array (n_samples, {N}), got shape {np.shape(data)}")
    data = as_configuration("data", data, N, ham.units)
    idx = check_modes(modes, min(N, M))
    n_chains = check_int("n_chains", n_chains, minimum=2)
    n_steps = check_int("n_steps", n_steps, minimum=1)
    md = ham.modes
    sign = np.ones(idx.size)
    overlap = np.full(idx.size, np.nan)
    if reference is not None:
        U_ref, V_ref = (np.asarray(r, dtype=np.float64) for r in reference)
        if U_ref.shape != (N, idx.size) or V_ref.shape != (M, idx.size):
            raise ValueError(f"reference: expected (U_ref, V_ref) of shapes ({N}, {idx.size}), ({M}, {idx.size}) "
                             f"(one column per selected mode), got {U_ref.shape}, {V_ref.shape}")
        U, V = md.U[:, idx], md.V[:, idx]
        if match:
            m = track_modes(U_ref, V_ref, U, V)
            idx, sign = idx[m.index], m.sign.astype(np.float64)
            overlap = m.pair_overlap
        else:
            o = 0.5 * (np.sum(U_ref * U, axis=0) + np.sum(V_ref * V, axis=0))
            sign, overlap = np.where(o < 0, -1.0, 1.0), np.abs(o)
    r = _model_uw(ham, idx, sign, data, frame, (seed,), n_chains, n_steps)
    dv = {}
    for name in ("u", "w"):
        dv[f"{name}_mean"] = (("source", "mode"), np.stack([r[f"{name}_data"].mean(0), r[f"{name}_gibbs"].mean(0)]),
                              _attrs(f"mean of {name}_k ({frame} frame)"))
        dv[f"{name}_std"] = (("source", "mode"), np.stack([r[f"{name}_data"].std(0), r[f"{name}_gibbs"].std(0)]),
                             _attrs(f"standard deviation of {name}_k"))
    dv.update(u_saddle=("mode", r["u_saddle"], _attrs("u_k of the saddle")),
              w_saddle=("mode", r["w_saddle"], _attrs("w_k of the saddle")),
              u_uniform=("mode", r["u_uniform"], _attrs("uniform-measure mean of u_k")),
              w_uniform=("mode", r["w_uniform"], _attrs("uniform-measure mean of w_k")),
              singular_value=("mode", md.s[idx], _attrs("singular value sigma_k (in units of k_B T at beta = 1)")),
              sign=("mode", sign, _attrs("sign applied to the singular pair (against the reference)")),
              overlap=("mode", overlap, _attrs("pair overlap |(u_ref.u + v_ref.v)/2| with the reference")),
              U=(("visible", "mode"), r["U"], _attrs("signed left singular vectors of the modes")),
              V=(("hidden", "mode"), r["V"], _attrs("signed right singular vectors of the modes")))
    return xr.Dataset(dv, coords={"source": ["data", "gibbs"], "mode": np.arange(1, idx.size + 1),
                                  "svd_index": ("mode", idx + 1, _attrs("1-based rank of the mode in the model"))},
                      attrs={"frame": frame, "seed": seed, "n_chains": n_chains, "n_steps": n_steps})


#: Variables that change sign with their singular pair (odd under u_k, v_k -> -u_k, -v_k).
ODD_VARIABLES = ("u_mean", "w_mean", "u_saddle", "w_saddle", "u_uniform", "w_uniform", "sign")


def align_replicas(ds: xr.Dataset, *, dim: str = "replica", reference: int = 0, U: str = "U", V: str = "V",
                   match: bool = True) -> xr.Dataset:
    r"""Match and sign-fix each replica's modes against a reference replica.

    Independent replicas label and sign their modes independently, so averaging u_k over
    replicas mixes signs (and, where σ's are close, modes). For each replica and every
    other index (e.g. epoch), mode l of the reference is matched to the replica's mode
    by the assignment maximising ``Σ|½(u_ref·u + v_ref·v)|``
    (:func:`pyrbm.modetracking.track_modes`; ``match=False``: same label, sign only) and
    the replica's variables are permuted to the reference's labels; variables of
    :data:`ODD_VARIABLES` take the sign of the matched overlap.

    Parameters
    ----------
    ds : xarray.Dataset
        Has ``dim`` and ``mode``, and the vectors ``U`` (…, visible, mode) and ``V``
        (…, hidden, mode) of every replica (e.g. stacked :func:`model_order_parameters`).
    dim : str
        The replica dimension.
    reference : int
        Position along ``dim`` of the reference replica.

    Returns
    -------
    xarray.Dataset
        ``ds`` aligned, plus ``replica_overlap`` (dim, …, mode): the matched pair overlap
        (1 for the reference).
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds: expected an xarray.Dataset, got {type(ds).__name__}")
    for name, need in ((U, "visible"), (V, "hidden")):
        if name not in ds or need not in ds[name].dims or "mode" not in ds[name].dims or dim not in ds[name].dims:
            raise ValueError(f"ds: expected variable {name!r} with dims ({dim}, ..., {need}, mode); "
                             f"has {sorted(ds.data_vars)}")
    n_rep = ds.sizes[dim]
    reference = check_int("reference", reference, minimum=0)
    if reference >= n_rep:
        raise ValueError(f"reference: expected a position < {n_rep} along {dim!r}, got {reference}")
    Ua = ds[U].transpose(dim, ..., "visible", "mode")
    Va = ds[V].transpose(dim, ..., "hidden", "mode")
    rest = Ua.dims[1:-2]
    shape = tuple(ds.sizes[d] for d in rest)
    K = ds.sizes["mode"]
    perm = np.tile(np.arange(K), (n_rep,) + shape + (1,))
    sign = np.ones((n_rep,) + shape + (K,))
    ov = np.ones((n_rep,) + shape + (K,))
    Uv, Vv = Ua.values.astype(np.float64), Va.values.astype(np.float64)
    for r in range(n_rep):
        if r == reference:
            continue
        for pos in np.ndindex(*shape):
            Ur, Vr = Uv[(reference,) + pos], Vv[(reference,) + pos]
            Ux, Vx = Uv[(r,) + pos], Vv[(r,) + pos]
            if not (np.all(np.isfinite(Ur)) and np.all(np.isfinite(Ux))):
                ov[(r,) + pos] = np.nan
                continue
            if match:
                m = track_modes(Ur, Vr, Ux, Vx)
                perm[(r,) + pos], sign[(r,) + pos], ov[(r,) + pos] = m.index, m.sign, m.pair_overlap
            else:
                o = 0.5 * (np.sum(Ur * Ux, axis=0) + np.sum(Vr * Vx, axis=0))
                sign[(r,) + pos], ov[(r,) + pos] = np.where(o < 0, -1.0, 1.0), np.abs(o)
    dims = (dim,) + rest + ("mode",)
    out = ds.copy()
    for name, var in ds.data_vars.items():
        if "mode" not in var.dims or not set(rest) <= set(var.dims + (dim,)) or dim not in var.dims:
            continue
        order = [d for d in dims if d in var.dims or d == dim]
        other = [d for d in var.dims if d not in dims]
        arr = var.transpose(*[d for d in dims if d in var.dims], *other).values
        if tuple(d for d in dims if d in var.dims) != dims:
            continue  # not resolved along every aligned dim: left as is
        idx = perm.reshape(perm.shape + (1,) * len(other))
        new = np.take_along_axis(arr, np.broadcast_to(idx, perm.shape + arr.shape[len(dims):]), axis=len(dims) - 1)
        if name in ODD_VARIABLES or name in (U, V):
            new = new * sign.reshape(sign.shape + (1,) * len(other))
        out[name] = xr.DataArray(new, dims=order[:len(dims)] + other, attrs=var.attrs).transpose(*var.dims)
    out["replica_overlap"] = (dims, ov, _attrs("pair overlap of the matched mode with the reference replica's"))
    out.attrs["aligned_to"] = f"{dim} position {reference}"
    return out


def order_parameters(history, *, data, labels=None, modes=1, n_chains: int = 500, n_steps: int = 100,
                     bins: int = 40, frame: str = "saddle", seed) -> xr.Dataset:
    r"""u_k and w_k of data and of Gibbs samples at every record of a training history.

    At record t the model ``(W, a, b)`` gives ``x = Uᵀv``, ``y = Vᵀh`` and the saddle
    ``x*_k = −b̃_k/σ_k``, ``y*_k = −ã_k/σ_k``; in the ``"saddle"`` frame
    ``u_k = (δx_k + δy_k)/√2``, ``w_k = (δy_k − δx_k)/√2`` (saddle at 0; docs/physics.md §2), in the
    ``"origin"`` frame ``u_k = (x_k + y_k)/√2``, ``w_k = (y_k − x_k)/√2``. Data: the given
    visibles with ``h ~ p(h|v)``; Gibbs: ``n_chains`` chains after ``n_steps`` sweeps from
    uniform visibles. The uniform measure has mean ``(μ_x, μ_y)`` and standard deviation
    ``s`` in every coordinate. Modes follow the history's tracked identity: label k at
    record t is the singular pair ``rank(t, k)`` with sign ``mode_sign(t, k)``
    (:mod:`pyrbm.modetracking`), so signs are continuous across records.

    Parameters
    ----------
    history : xarray.Dataset
        Training history with ``W``, ``a``, ``b`` per record (``Trainer(record_params=True)``).
    data : array_like (n, N)
        Binary (or spin) visible configurations.
    labels : array_like (n,), optional
        Class labels; adds one source per label ("digit 0", ...).
    modes : int or sequence of int
        Count of top modes or 1-based labels.
    n_chains, n_steps : int
        Gibbs chains and sweeps per record.
    bins : int
        Histogram bins, shared by all records and sources of a mode.
    frame : {"saddle", "origin"}
    seed : int

    Returns
    -------
    xarray.Dataset
        dims ``epoch``, ``source`` ("data", "digit d"…, "gibbs"), ``mode``, ``bin``:
        ``u_mean``, ``u_std``, ``w_mean``, ``w_std`` (epoch, source, mode), ``u_hist``,
        ``w_hist`` (density, epoch, source, mode, bin) with centres ``u_centre``/``w_centre``
        (mode, bin), ``u_saddle``, ``w_saddle``, ``u_uniform``, ``w_uniform`` (epoch, mode),
        ``sign`` and ``svd_index`` (epoch, mode).
    """
    history = _check_history(history, need=("W", "a", "b", "rank", "mode_sign"))
    if frame not in ("saddle", "origin"):
        raise ValueError(f"frame: expected 'saddle' or 'origin', got {frame!r}")
    seed = _require_seed(seed)
    W0 = history["W"].isel(epoch=0)
    N, M = W0.sizes["visible"], W0.sizes["hidden"]
    units = str(history.attrs.get("units", "binary"))
    beta = float(history.attrs.get("beta", 1.0))
    if np.ndim(data) != 2 or np.shape(data)[0] == 0:
        raise ValueError(f"data: expected a non-empty 2-d array (n_samples, {N}), got shape {np.shape(data)}")
    data = as_configuration("data", data, N, units)
    idx0 = check_modes(modes, min(N, M))
    n_chains = check_int("n_chains", n_chains, minimum=2)
    n_steps = check_int("n_steps", n_steps, minimum=1)
    bins = check_int("bins", bins, minimum=2)
    groups = [("data", np.arange(data.shape[0]))]
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (data.shape[0],):
            raise ValueError(f"labels: expected shape ({data.shape[0]},) (one per data row), got {labels.shape}")
        groups += [(f"digit {d}", np.flatnonzero(labels == d)) for d in np.unique(labels)]
    sources = [g for g, _ in groups] + ["gibbs"]
    T, n_mode, n_src = history.sizes["epoch"], idx0.size, len(sources)
    us, ws = [], []  # per record: list over sources of (n_rows, n_mode)
    out = {k: np.zeros((T, n_mode)) for k in ("u_saddle", "w_saddle", "u_uniform", "w_uniform", "sign",
                                              "svd_index")}
    for t in range(T):
        ham = Hamiltonian(history["W"].isel(epoch=t).transpose("visible", "hidden").values,
                          history["a"].isel(epoch=t).values, history["b"].isel(epoch=t).values,
                          beta=beta, units=units)
        idx, sign = _tracked(history, t, idx0)
        r = _model_uw(ham, idx, sign, data, frame, (seed, t), n_chains, n_steps)
        for k in ("u_saddle", "w_saddle", "u_uniform", "w_uniform"):
            out[k][t] = r[k]
        out["sign"][t], out["svd_index"][t] = sign, idx + 1
        us.append([r["u_data"][rows] for _, rows in groups] + [r["u_gibbs"]])
        ws.append([r["w_data"][rows] for _, rows in groups] + [r["w_gibbs"]])
    data_vars = {}
    coords = {"epoch": history["epoch"].values, "source": sources, "mode": idx0 + 1, "bin": np.arange(bins)}
    for name, vals in (("u", us), ("w", ws)):
        mean = np.array([[v.mean(axis=0) for v in rec] for rec in vals])
        std = np.array([[v.std(axis=0) for v in rec] for rec in vals])
        hist = np.zeros((T, n_src, n_mode, bins))
        centres = np.zeros((n_mode, bins))
        for k in range(n_mode):
            allv = np.concatenate([v[:, k] for rec in vals for v in rec])
            lo, hi = allv.min(), allv.max()
            hi = hi if hi > lo else lo + 1.0
            edges = np.linspace(lo, hi, bins + 1)
            centres[k] = 0.5 * (edges[1:] + edges[:-1])
            for t, rec in enumerate(vals):
                for j, v in enumerate(rec):
                    if v.shape[0]:
                        hist[t, j, k] = np.histogram(v[:, k], bins=edges, density=True)[0]
        coord = "rotated coordinate about the saddle" if frame == "saddle" else "rotated coordinate"
        data_vars[f"{name}_mean"] = (("epoch", "source", "mode"), mean, _attrs(f"mean of {name}_k ({coord})"))
        data_vars[f"{name}_std"] = (("epoch", "source", "mode"), std, _attrs(f"standard deviation of {name}_k"))
        data_vars[f"{name}_hist"] = (("epoch", "source", "mode", "bin"), hist, _attrs(f"density of {name}_k"))
        coords[f"{name}_centre"] = (("mode", "bin"), centres, _attrs(f"bin centre of {name}_k"))
    for k, v in out.items():
        long = {"u_saddle": "u of the saddle", "w_saddle": "w of the saddle", "u_uniform": "uniform-measure mean of u",
                "w_uniform": "uniform-measure mean of w", "sign": "sign applied to the singular pair (continuity)",
                "svd_index": "1-based position of the tracked mode in the record's SVD"}[k]
        data_vars[k] = (("epoch", "mode"), v, _attrs(long))
    return xr.Dataset(data_vars, coords=coords,
                      attrs={"frame": frame, "seed": seed, "n_chains": n_chains, "n_steps": n_steps,
                             "uniform_std": float(np.sqrt(0.25 if units == "binary" else 1.0)), "units": units})


# ----------------------------------------------------------------------------- Gaussian limit
def kurtosis(ham, *, layer: str = "visible", samples=None) -> xr.DataArray:
    r"""Kurtosis of every reciprocal coordinate of one layer.

    Without samples: exact under the uniform measure, ``kurt(x_k) = 3 − 2 Σ_i U_ik⁴``
    (y with V). With samples (n, N) or (n, M): the estimate ``m₄/m₂²`` of the centred
    projections ``x = Uᵀv`` (``y = Vᵀh``) of those configurations.

    Returns
    -------
    xarray.DataArray, dim ``mode`` (1-based), dimensionless (3 for a Gaussian).
    """
    ham = check_hamiltonian(ham)
    if layer not in ("visible", "hidden"):
        raise ValueError(f"layer: expected 'visible' or 'hidden', got {layer!r}")
    md = ham.modes
    basis = md.U if layer == "visible" else md.V
    if samples is None:
        k4, how = (md.kurtosis_x if layer == "visible" else md.kurtosis_y), "exact, uniform measure"
    else:
        n = basis.shape[0]
        samples = as_configuration("samples", samples, n, ham.units)
        if samples.ndim != 2 or samples.shape[0] < 4:
            raise ValueError(f"samples: expected a 2-d array of at least 4 configurations of {layer} units, "
                             f"got shape {samples.shape}")
        z = samples @ basis
        z = z - z.mean(axis=0)
        m2 = np.mean(z * z, axis=0)
        if np.any(m2 == 0):
            raise ValueError("samples: some projections have zero variance; draw more (or distinct) samples")
        k4, how = np.mean(z**4, axis=0) / m2**2, f"estimated from {samples.shape[0]} samples"
    return xr.DataArray(np.asarray(k4, dtype=np.float64), dims=("mode",),
                        coords={"mode": np.arange(1, basis.shape[1] + 1)}, name="kurtosis",
                        attrs=_attrs(f"kurtosis of the {layer} reciprocal coordinates ({how})",
                                     formula="3 - 2 sum_i U_ik^4"))


def fit_kurtosis_scaling(n_visible, kurtosis_values) -> xr.Dataset:
    r"""Least-squares fit ``kurt = intercept + slope/N`` (intercept 3 in the Gaussian limit).

    Parameters
    ----------
    n_visible : array_like of int, shape (n,)
        The sizes N (at least 3 for standard errors, at least 2 for the fit).
    kurtosis_values : array_like, shape (n,) or (n, r)
        Mean kurtosis per size (one column per replica: one fit each).

    Returns
    -------
    xarray.Dataset
        ``fit_intercept``, ``fit_slope`` and standard errors ``fit_intercept_std``,
        ``fit_slope_std`` (scalars, or over ``replica``). The standard errors are
        ``sqrt(diag((XᵀX)⁻¹) · RSS/(n − 2))`` (NaN when n = 2).
    """
    sizes = np.asarray(n_visible, dtype=np.float64)
    y = np.asarray(kurtosis_values, dtype=np.float64)
    if sizes.ndim != 1 or sizes.size < 2 or np.any(sizes < 1):
        raise ValueError(f"n_visible: expected at least two sizes >= 1, got {n_visible!r}")
    if y.shape[:1] != sizes.shape or y.ndim > 2 or not np.all(np.isfinite(y)):
        raise ValueError(f"kurtosis_values: expected finite values of shape ({sizes.size},) or ({sizes.size}, r), "
                         f"got shape {y.shape}")
    Y = y.reshape(sizes.size, -1)
    X = np.stack([np.ones(sizes.size), 1.0 / sizes], axis=1)
    coef, *_ = np.linalg.lstsq(X, Y, rcond=None)
    resid = Y - X @ coef
    dof = sizes.size - 2
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.diag(np.linalg.inv(X.T @ X))[:, None] * (resid * resid).sum(axis=0) / dof if dof > 0 else \
            np.full(coef.shape, np.nan)
    err = np.sqrt(var)
    dims = () if y.ndim == 1 else ("replica",)

    def pick(a):
        return a[0] if y.ndim == 1 else a

    return xr.Dataset(
        {"fit_intercept": (dims, pick(coef[0]), _attrs("intercept of kurtosis vs 1/N (3 in the Gaussian limit)")),
         "fit_slope": (dims, pick(coef[1]), _attrs("slope of kurtosis vs 1/N")),
         "fit_intercept_std": (dims, pick(err[0]), _attrs("standard error of fit_intercept")),
         "fit_slope_std": (dims, pick(err[1]), _attrs("standard error of fit_slope"))})


def kurtosis_scaling(n_visible, *, n_hidden: int = 500, sigma_w: float = 0.01, n_samples: int | None = None,
                     seed) -> xr.Dataset:
    r"""Mean kurtosis of the visible modes of random models against 1/N, with a linear fit.

    For each N a random ``N × n_hidden`` Gaussian W (Haar singular vectors) gives the mean
    of :func:`kurtosis` (exact, or from ``n_samples`` uniform configurations) over the
    K = min(N, n_hidden) paired modes; theory ``3 − 6/(N+2)``. The N − K free modes are
    left out: they are an arbitrary orthonormal basis of the null space of Wᵀ (LAPACK's
    choice, often localised), not Haar vectors. The fit is ``kurt = intercept + slope/N`` (least squares).

    Returns
    -------
    xarray.Dataset
        dim ``n_visible``: ``mean_kurtosis``, ``theory``; scalars ``fit_intercept``,
        ``fit_slope`` and their standard errors ``fit_intercept_std``, ``fit_slope_std``.
    """
    sizes = np.atleast_1d(np.asarray(n_visible))
    if sizes.ndim != 1 or sizes.size < 2 or not np.issubdtype(sizes.dtype, np.integer) or np.any(sizes < 2):
        raise ValueError(f"n_visible: expected at least two integer sizes ≥ 2, got {n_visible!r}")
    n_hidden = check_int("n_hidden", n_hidden, minimum=1)
    if n_samples is not None:
        n_samples = check_int("n_samples", n_samples, minimum=4)
    seed = _require_seed(seed)
    mean = np.zeros(sizes.size)
    for i, n in enumerate(sizes):
        ham = Hamiltonian.random(int(n), n_hidden, sigma_w=sigma_w, seed=seed + i)
        v = None
        if n_samples is not None:
            v = (np.random.default_rng([seed, i]).random((n_samples, int(n))) < 0.5).astype(np.float64)
        mean[i] = float(kurtosis(ham, samples=v)[: ham.modes.n_modes].mean())
    fit = fit_kurtosis_scaling(sizes, mean)
    return xr.Dataset(
        {"mean_kurtosis": ("n_visible", mean, _attrs("mean kurtosis of the paired visible modes")),
         "theory": ("n_visible", 3.0 - 6.0 / (sizes + 2.0), _attrs("Haar mean 3 - 6/(N+2)")),
         **{k: fit[k] for k in fit.data_vars}},
        coords={"n_visible": sizes.astype(np.int64)},
        attrs={"n_hidden": n_hidden, "seed": seed, "source": "exact" if n_samples is None else "samples"})
