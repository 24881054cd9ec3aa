r"""Point functions of the paper's experiments (docs/physics.md §13).

Each has the scan signature ``func(params, out)``: ``params`` a flat dict of one point's
settings (an experiment's profile plus the point's own values), ``out`` a directory in
which it writes ``result.nc`` (and the training point also ``history.nc``); they run through
:meth:`pyrbm.scan.Scan.run`. The training point keeps its checkpoint and finished epochs in
``<scan root>/_work`` (outside the point's temporary directory) so that a killed point
resumes where it stopped.

- :func:`marchenko_pastur_point` — singular values of random initialisations (figure 1).
- :func:`kurtosis_point` — kurtosis of x_k under the uniform measure for one N (figure 5),
  and the x_k histograms of one model (figure 3).
- :func:`training_point` — one PCD replica with its per-epoch measurements (figures 2, 4, 6–11).
- :func:`langevin_point` — diffusion of prescribed modes at one temperature.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..io.netcdf import atomic_path, netcdf_serialised
from ..hamiltonian import Hamiltonian

__all__ = ["RESULT", "write_dataset", "marchenko_pastur_point", "kurtosis_point", "training_point",
           "langevin_point", "POINTS"]

RESULT = "result.nc"


def _a(long_name: str, measured_in: str = "") -> dict:
    """CF attributes: every pyrbm quantity is dimensionless (``units = "1"``, see
    :mod:`pyrbm.files`); energies are in k_B T at β = 1, likelihoods in nats, as the name says."""
    return {"long_name": f"{long_name} ({measured_in})" if measured_in else long_name, "units": "1"}


@netcdf_serialised
def write_dataset(ds: xr.Dataset, path) -> Path:
    """Write ``ds`` to ``path`` (netCDF4) atomically, replacing an existing file."""
    for name in ds.variables:
        ds[name].attrs.setdefault("units", "1")
        ds[name].attrs.setdefault("long_name", str(name))
    with atomic_path(path, overwrite=True) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4")
    return Path(path)


def _subseed(*tags) -> int:
    """A 63-bit seed derived from integer tags."""
    return int(np.random.SeedSequence([int(t) for t in tags]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def _labels(labels, K: int) -> np.ndarray:
    """1-based labels from a config list: 0 means the last mode K; labels are clipped to K."""
    out = [K if int(k) == 0 else min(int(k), K) for k in labels]
    return np.array(list(dict.fromkeys(out)), dtype=np.int64)


# ----------------------------------------------------------------------------- initialisation
def marchenko_pastur_point(params: dict, out) -> None:
    """Singular values of ``n_init`` random N×M initialisations: ``singular_value(init, mode)``."""
    from ..spectra import mp_edges

    N, M, sw = int(params["n_visible"]), int(params["n_hidden"]), float(params["sigma_w"])
    s = np.stack([np.linalg.svd(Hamiltonian.random(N, M, sigma_w=sw, seed=_subseed(params["seed"], M, i)).W,
                                compute_uv=False) for i in range(int(params["n_init"]))])
    lo, hi = mp_edges(N, M, sigma_w=sw)
    ds = xr.Dataset({"singular_value": (("init", "mode"), s, _a("singular value of a random W", "k_B T at beta = 1"))},
                    coords={"mode": np.arange(1, s.shape[1] + 1)},
                    attrs={"n_visible": N, "n_hidden": M, "sigma_w": sw, "mp_lower": lo, "mp_upper": hi,
                           "seed": int(params["seed"])})
    write_dataset(ds, Path(out) / RESULT)


def kurtosis_point(params: dict, out) -> None:
    r"""Mean kurtosis of the paired visible modes of one random N×M model per seed.

    Exact, ``3 − 2 Σ_i U_ik⁴`` averaged over the K paired modes, and estimated from
    ``n_samples`` uniform configurations. With ``hist=True`` it instead stores x_k of
    uniform configurations for the modes ``hist_modes`` (figure 3).
    """
    from ..symmetry import kurtosis

    N, M, sw = int(params["n_visible"]), int(params["n_hidden"]), float(params["sigma_w"])
    seeds = [int(s) for s in params["seeds"]]
    n = int(params["n_samples"])
    if params.get("hist", False):
        ham = Hamiltonian.random(N, M, sigma_w=sw, seed=seeds[0])
        md = ham.modes
        labels = _labels(params["hist_modes"], md.n_modes)
        v = (np.random.default_rng([seeds[0], 1]).random((n, N)) < 0.5).astype(np.float64)
        x = md.x(v)[:, labels - 1]
        ds = xr.Dataset({"x": (("sample", "mode"), x, _a("x_k = (U^T v)_k of uniform configurations")),
                         "mu_x": ("mode", md.mu_x[labels - 1], _a("uniform-measure mean of x_k")),
                         "kurtosis": ("mode", md.kurtosis_x[labels - 1], _a("exact kurtosis 3 - 2 sum_i U_ik^4"))},
                        coords={"mode": labels}, attrs={"n_visible": N, "n_hidden": M, "s2": md.s2,
                                                        "seed": seeds[0]})
        write_dataset(ds, Path(out) / RESULT)
        return None
    exact, sampled = np.zeros(len(seeds)), np.zeros(len(seeds))
    for r, seed in enumerate(seeds):
        ham = Hamiltonian.random(N, M, sigma_w=sw, seed=_subseed(seed, N))
        K = ham.modes.n_modes
        exact[r] = float(kurtosis(ham)[:K].mean())
        v = (np.random.default_rng([seed, N, 1]).random((n, N)) < 0.5).astype(np.float64)
        sampled[r] = float(kurtosis(ham, samples=v)[:K].mean())
    ds = xr.Dataset({"kurtosis_exact": ("replica", exact, _a("mean exact kurtosis of the paired x_k")),
                     "kurtosis_sampled": ("replica", sampled,
                                          _a(f"mean kurtosis of the paired x_k from {n} uniform samples"))},
                    coords={"replica": np.arange(len(seeds)), "seed": ("replica", np.array(seeds))},
                    attrs={"n_visible": N, "n_hidden": M, "theory": 3.0 - 6.0 / (N + 2.0)})
    write_dataset(ds, Path(out) / RESULT)


# ----------------------------------------------------------------------------- Langevin
def langevin_point(params: dict, out) -> None:
    r"""Langevin diffusion of a model with prescribed σ_k at one β (docs/physics.md §4).

    Records ``⟨u_k²⟩ − ⟨u_k⟩²`` and ``⟨w_k²⟩ − ⟨w_k⟩²`` over chains against time; the theory
    is an Ornstein–Uhlenbeck process with rates ``κ_{u,w} = 1/s² ∓ βσ_k``: stationary
    variances ``1/κ`` when ``κ_u > 0``, growth ``Var u ∝ e^{2|κ_u| t}`` when ``βσ_k s² > 1``.
    The growth rate of ``ln Var u`` is fitted over the second half of the run (finite,
    non-frozen chains only).
    """
    import warnings

    from ..samplers import DivergenceWarning, LangevinSampler

    sv = params["singular_values"]
    s = np.asarray([float(x) for x in sv.split(",")] if isinstance(sv, str) else sv, dtype=np.float64)
    beta = float(params["beta"])
    ham = Hamiltonian.from_modes(s, int(params["n_visible"]), int(params["n_hidden"]), seed=int(params["seed"]),
                                 beta=beta)
    order = np.argsort(-s, kind="stable")
    sampler = LangevinSampler(int(params["n_chains"]), dt=float(params["dt"]), seed=int(params["seed"]) + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        ds, _ = sampler.run(ham, n_steps=int(params["n_steps"]), thin=int(params["thin"]), modes=s.size,
                            progress=False)
    finite = (ds["divergence_step"] < 0)
    var_u = ds["u"].where(finite).var("chain")
    var_w = ds["w"].where(finite).var("chain")
    frac = (~finite).mean("chain")
    t = ds["time"].values
    s2 = float(ham.s2)
    sig = ds["singular_value"].values
    kappa_u, kappa_w = 1.0 / s2 - beta * sig, 1.0 / s2 + beta * sig
    half = t >= t[-1] / 2
    rate = np.full(sig.size, np.nan)
    for k in range(sig.size):
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.log(var_u.values[half, k])
        ok = np.isfinite(y)
        if ok.sum() >= 2:
            rate[k] = np.polyfit(t[half][ok], y[ok], 1)[0]
    final_frac = frac.values[-1]
    diverged = (final_frac > 0.5) | (rate > 0.05)
    res = xr.Dataset(
        {"var_u": (("time", "mode"), var_u.values, _a("variance of u_k over finite chains")),
         "var_w": (("time", "mode"), var_w.values, _a("variance of w_k over finite chains")),
         "fraction_diverged": (("time", "mode"), frac.values, _a("fraction of chains frozen past the bound")),
         "kappa_u": ("mode", kappa_u, _a("rate 1/s^2 - beta sigma_k")),
         "kappa_w": ("mode", kappa_w, _a("rate 1/s^2 + beta sigma_k")),
         "growth_rate": ("mode", rate, _a("slope of ln Var u_k over the second half of the run", "per unit time")),
         "theory_rate": ("mode", np.where(kappa_u < 0, -2 * kappa_u, 0.0),
                         _a("growth rate 2 |kappa_u| past the threshold, 0 below", "per unit time")),
         "predicted_divergent": ("mode", (beta * sig * s2 > 1).astype(np.int8), _a("1 if beta sigma_k s^2 > 1")),
         "observed_divergent": ("mode", diverged.astype(np.int8),
                                _a("1 if most chains froze or ln Var u_k grows (slope > 0.05)"))},
        coords={"time": t, "mode": ds["mode"].values, "singular_value": ("mode", sig)},
        attrs={"beta": beta, "T": 1.0 / beta, "threshold": 1.0 / (beta * s2), "s2": s2, "dt": float(params["dt"]),
               "n_chains": int(params["n_chains"]), "n_steps": int(params["n_steps"]), "seed": int(params["seed"]),
               "order": ",".join(map(str, order))})
    write_dataset(res, Path(out) / RESULT)


from .training import training_point  # noqa: E402  (its own module: it is long)

POINTS = {"marchenko_pastur": marchenko_pastur_point, "kurtosis": kurtosis_point, "training": training_point,
          "langevin": langevin_point}
