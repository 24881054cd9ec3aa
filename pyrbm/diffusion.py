r"""Growth rates and stationary variances of the reciprocal-space Langevin diffusion.

Each paired mode of the Gaussian surrogate is a 2-D Ornstein–Uhlenbeck process
(docs/physics.md §4): along ``u`` with rate ``κ_u = 1/s² − βσ_k``, along ``w`` with
``κ_w = 1/s² + βσ_k``. :func:`divergence_rates` measures both regimes from a trajectory
of :meth:`pyrbm.LangevinSampler.run` and puts them next to the theory:

- unstable (κ < 0): ``Var u(t) = e^{2|κ|t}(Var u(0) + 1/|κ|) − 1/|κ|`` grows with rate
  ``2|κ|`` — the slope of ``ln Var u`` over the chains, fitted over the records before the
  first chain leaves the sampler's bound (after that chains freeze and the variance over
  the rest is meaningless);
- stable (κ > 0): the Euler–Maruyama recursion ``z' = (1 − κΔt) z + √(2Δt) ξ`` has the
  stationary variance ``1/(κ(1 − κΔt/2))`` (→ ``1/κ`` as Δt → 0), compared with the time
  average of ``Var u`` over the second half of the run.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["divergence_rates", "em_stationary_variance"]

#: Tolerances of the report's checks: relative error of the growth rate, of the variance.
RATE_TOLERANCE, VARIANCE_TOLERANCE = 0.10, 0.05


def _attrs(long_name: str, units: str = "1") -> dict:
    return {"long_name": long_name, "units": units}


def em_stationary_variance(kappa, dt: float):
    r"""Stationary variance of the Euler–Maruyama Ornstein–Uhlenbeck recursion.

    ``z' = (1 − κΔt) z + √(2Δt) ξ`` has ``Var z = 2Δt / (1 − (1 − κΔt)²) = 1/(κ(1 − κΔt/2))``,
    finite for ``0 < κΔt < 2``; NaN elsewhere.

    Parameters
    ----------
    kappa : array_like
        Rates κ (per unit time).
    dt : float
        Time step Δt.
    """
    k = np.asarray(kappa, dtype=np.float64)
    ok = (k > 0) & (k * dt < 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, 1.0 / (k * (1.0 - 0.5 * k * dt)), np.nan)


def divergence_rates(ds: xr.Dataset, *, var: str = "u", min_points: int = 3) -> xr.Dataset:
    r"""Fitted growth rate of ``Var u_k`` (or ``w_k``) and the stationary variance, per mode.

    Parameters
    ----------
    ds : xarray.Dataset
        A trajectory of :meth:`pyrbm.LangevinSampler.run` without the quartic term:
        ``var`` and ``divergence_step`` with dims (step, chain, mode), coordinates ``time``
        and ``singular_value``; attributes ``beta``, ``dt``, ``units``.
    var : {"u", "w"}
        The normal coordinate: ``κ_u = 1/s² − βσ_k``, ``κ_w = 1/s² + βσ_k``.
    min_points : int
        Records a fit needs (≥ 2); fewer give NaN.

    Returns
    -------
    xarray.Dataset
        over ``mode`` (the trajectory's labels, coordinate ``singular_value``):

        - ``kappa``: ``1/s² ∓ βσ_k``;
        - ``rate``: least-squares slope of ``ln Var`` over time, over the later half of the
          records at which no chain has yet been frozen (fitted for every mode; ≈ 0 for
          stable ones);
        - ``theory``: ``2|κ|`` for unstable modes (κ < 0), 0 for stable ones;
        - ``theory_em``: the growth rate of the Euler–Maruyama recursion,
          ``2 ln(1 + |κ|Δt)/Δt`` (unstable modes; ``2|κ|(1 − |κ|Δt/2 + …)``);
        - ``fit_start``, ``fit_end``: the time window of the fit;
        - ``variance``: time average of ``Var`` over the second half of the run (stable modes
          with every chain finite; NaN otherwise);
        - ``variance_theory``: :func:`em_stationary_variance` ``1/(κ(1 − κΔt/2))`` (stable modes);
        - ``unstable``: 1 where κ < 0;

        and over (step, mode) ``var_curve``: ``Var`` over the chains, NaN from the first record
        at which a chain of that mode is frozen.

    Raises
    ------
    ValueError
        ``ds`` is not a Langevin trajectory, lacks ``var``, has the quartic term, or
        ``var`` is not "u" or "w".
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds: expected an xarray.Dataset from LangevinSampler.run, got {type(ds).__name__}")
    if var not in ("u", "w"):
        raise ValueError(f"var: expected 'u' or 'w', got {var!r}")
    missing = [n for n in (var, "divergence_step", "time", "singular_value") if n not in ds.variables]
    if missing or ds.attrs.get("sampler") != "langevin":
        raise ValueError(f"ds: expected a trajectory of LangevinSampler.run (variables {var!r}, 'divergence_step', "
                         f"coordinates 'time', 'singular_value'); missing {missing or 'the attribute sampler=langevin'}")
    if int(ds.attrs.get("quartic", 0)):
        raise ValueError("ds: the run has the quartic confinement (quartic=1); the Ornstein-Uhlenbeck rates apply "
                         "to the Gaussian surrogate only; run LangevinSampler(quartic=False)")
    if int(min_points) < 2:
        raise ValueError(f"min_points: expected an integer >= 2, got {min_points!r}")
    beta, dt = float(ds.attrs["beta"]), float(ds.attrs["dt"])
    s2 = 0.25 if ds.attrs.get("units", "binary") == "binary" else 1.0
    sigma = ds["singular_value"].values.astype(np.float64)
    kappa = 1.0 / s2 + (-1.0 if var == "u" else 1.0) * beta * sigma
    t = np.asarray(ds["time"].values, dtype=np.float64)
    z = ds[var].transpose("step", "chain", "mode").values.astype(np.float64)
    finite = np.all(ds["divergence_step"].transpose("step", "chain", "mode").values < 0, axis=1)  # (step, mode)
    finite = np.logical_and.accumulate(finite, axis=0)
    curve = np.where(finite, z.var(axis=1, ddof=1), np.nan)
    n_mode = sigma.size
    rate, start, end = np.full(n_mode, np.nan), np.full(n_mode, np.nan), np.full(n_mode, np.nan)
    variance = np.full(n_mode, np.nan)
    second_half = t >= t[0] + 0.5 * (t[-1] - t[0])
    for k in range(n_mode):
        idx = np.flatnonzero(finite[:, k])
        window = idx[idx.size // 2:]
        if window.size >= int(min_points) and np.all(curve[window, k] > 0):
            rate[k] = np.polyfit(t[window], np.log(curve[window, k]), 1)[0]
            start[k], end[k] = t[window[0]], t[window[-1]]
        if kappa[k] > 0 and np.all(finite[second_half, k]):
            variance[k] = float(np.mean(curve[second_half, k]))
    unstable = kappa < 0
    coords = {"mode": ds["mode"].values,
              "singular_value": ("mode", sigma, _attrs("singular value sigma_k", "k_B T at beta = 1"))}
    what = "1/s^2 - beta sigma_k" if var == "u" else "1/s^2 + beta sigma_k"
    out = xr.Dataset(
        {"kappa": ("mode", kappa, _attrs(f"Ornstein-Uhlenbeck rate kappa_{var} = {what}", "per unit time")),
         "rate": ("mode", rate, _attrs(f"fitted slope of ln Var {var}_k before any chain froze", "per unit time")),
         "theory": ("mode", np.where(unstable, -2.0 * kappa, 0.0),
                    _attrs(f"growth rate 2|kappa_{var}| of Var {var}_k (0 for stable modes)", "per unit time")),
         "theory_em": ("mode", np.where(unstable, 2.0 * np.log1p(-kappa * dt) / dt, 0.0),
                       _attrs(f"Euler-Maruyama growth rate 2 ln(1 + |kappa_{var}| dt)/dt (-> 2|kappa_{var}| as dt -> 0)",
                              "per unit time")),
         "fit_start": ("mode", start, _attrs("first time of the rate fit", "time")),
         "fit_end": ("mode", end, _attrs("last time of the rate fit", "time")),
         "variance": ("mode", variance, _attrs(f"time average of Var {var}_k over the second half of the run")),
         "variance_theory": ("mode", em_stationary_variance(kappa, dt),
                             _attrs(f"Euler-Maruyama stationary variance 1/(kappa (1 - kappa dt/2)) of {var}_k")),
         "unstable": ("mode", unstable.astype(np.int8), _attrs(f"1 if kappa_{var} < 0 (the mode diverges)")),
         "var_curve": (("step", "mode"), curve,
                       _attrs(f"Var {var}_k over the chains (NaN once a chain froze)"))},
        coords={**coords, "step": ds["step"].values, "time": ("step", t, _attrs("time t = step * dt", "time"))},
        attrs={"var": var, "beta": beta, "dt": dt, "s2": s2, "threshold": 1.0 / (beta * s2)})
    return out
