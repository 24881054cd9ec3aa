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
- :func:`divergence_point` — Langevin divergence rates of prescribed modes at one temperature.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from ..diffusion import divergence_rates
from ..hamiltonian import Hamiltonian
from ..samplers import DivergenceWarning, LangevinSampler
from ..spectra import mp_edges
from ..symmetry import kurtosis
from ..scan.points import register
from ..training import _subseed
from .results import RESULT, _a, _labels, write_dataset
from .training import training_point

__all__ = ["marchenko_pastur_point", "kurtosis_point", "training_point",
           "divergence_point", "POINTS"]


# ----------------------------------------------------------------------------- initialisation
def marchenko_pastur_point(params: dict, out) -> None:
    """Singular values of ``n_init`` random N×M initialisations: ``singular_value(init, mode)``."""

    N, M, sw = int(params["n_visible"]), int(params["n_hidden"]), float(params["sigma_w"])
    s = np.stack([Hamiltonian.random(N, M, sigma_w=sw, seed=_subseed(params["seed"], M, i)).modes.s
                  for i in range(int(params["n_init"]))])
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
def divergence_point(params: dict, out) -> None:
    r"""Langevin diffusion of a model with prescribed σ_k at one β (docs/physics.md §4).

    Runs :class:`pyrbm.LangevinSampler` and measures it with :func:`pyrbm.divergence_rates`
    (growth rate of Var u_k before any chain froze against ``2|κ_u|``, stationary variance
    against the Euler–Maruyama value); the result is that dataset.
    """

    sv = params["singular_values"]
    s = np.asarray([float(x) for x in sv.split(",")] if isinstance(sv, str) else sv, dtype=np.float64)
    beta = float(params["beta"])
    ham = Hamiltonian.from_modes(s, int(params["n_visible"]), int(params["n_hidden"]), seed=int(params["seed"]),
                                 beta=beta)
    sampler = LangevinSampler(int(params["n_chains"]), dt=float(params["dt"]), seed=int(params["seed"]) + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        ds, _ = sampler.run(ham, n_steps=int(params["n_steps"]), thin=int(params["thin"]), modes=s.size,
                            progress=False)
    res = divergence_rates(ds, var="u")
    res.attrs.update({"T": 1.0 / beta, "n_chains": int(params["n_chains"]), "n_steps": int(params["n_steps"]),
                      "seed": int(params["seed"])})
    write_dataset(res, Path(out) / RESULT)


#: experiment -> the name of its point function in pyrbm.scan's one registry of points.
POINTS = {exp: register(f"study.{exp}", func) for exp, func in (
    ("marchenko_pastur", marchenko_pastur_point), ("kurtosis", kurtosis_point), ("training", training_point),
    ("divergence", divergence_point))}
