r"""Landau analysis of an order parameter and the transition indicators of each mode.

- :func:`landau_fit` — the profile ``F(m)/T = −ln P(m)`` of samples and a weighted fit
  ``F(m) = c + h m + a₂ m² + a₃ m³ + a₄ m⁴`` with standard errors; verdict single or
  double well (docs/physics.md §11).
- :func:`susceptibility` ``χ = β·n·Var(m)`` and :func:`binder_cumulant`
  ``U = 1 − ⟨δm⁴⟩/(3⟨δm²⟩²)`` about the mean (0 for any Gaussian, 2/3 for two sharp wells ±m₀);
  :func:`mode_transitions` evaluates both per record and mode of a trajectory, to locate
  each mode's symmetry-breaking point and compare hidden sizes.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._checks import check_finite_array, check_int, check_positive

__all__ = ["landau_profile", "landau_fit", "susceptibility", "binder_cumulant", "mode_transitions"]


def _samples(name: str, samples) -> np.ndarray:
    arr = samples.values if isinstance(samples, xr.DataArray) else samples
    arr = check_finite_array(name, arr).ravel()
    if arr.size < 10:
        raise ValueError(f"{name}: expected at least 10 samples, got {arr.size}")
    return arr


def _profile(m: np.ndarray, bins, range):  # noqa: A002 (numpy's name)
    """Histogram of ``m`` as ``(centres, counts, F = −ln P)``, P normalised over the binned range."""
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        if bins < 1:
            raise ValueError(f"bins: expected a positive number of bins, got {bins}")
    elif np.ndim(bins) != 1 or len(bins) < 2:
        raise ValueError(f"bins: expected a positive integer or a 1-D sequence of at least 2 edges, got {bins!r}")
    range = _check_range(range)
    counts, edges = np.histogram(m, bins=bins, range=range)
    centres = 0.5 * (edges[1:] + edges[:-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        F = -np.log(counts / (counts.sum() * np.diff(edges)))
    F[counts == 0] = np.nan
    return centres, counts, F


def _check_range(range):  # noqa: A002 (numpy's name)
    """``range`` as a (low, high) tuple with low < high, or None."""
    if range is None:
        return None
    range = tuple(check_finite_array("range", range, shape=(2,)))
    if range[1] <= range[0]:
        raise ValueError(f"range: expected (low, high) with low < high, got {range!r}")
    return range


def landau_profile(samples, *, bins=50, range=None):  # noqa: A002 (numpy's name)
    r"""Landau free-energy profile of an order parameter from its samples.

    .. math::

        \frac{F(m)}{T} = -\ln P(m)

    where :math:`P` is the normalised histogram density (integrates to 1 over
    the binned range), so for Gaussian samples of variance :math:`\sigma^2`
    the profile is :math:`m^2/(2\sigma^2) + \tfrac12 \ln(2\pi\sigma^2)`.

    Parameters
    ----------
    samples : array_like or xarray.DataArray
        Samples of the order parameter; every element is one sample (chains
        and steps are pooled, the array is flattened).
    bins : int or sequence of float, default 50
        Number of bins, or bin edges (as in :func:`numpy.histogram`).
    range : (float, float), optional
        Binned range; default the sample range.

    Returns
    -------
    centres : ndarray, shape (n_bins,)
        Bin centres, in the units of ``samples``.
    F : ndarray, shape (n_bins,)
        :math:`-\ln P` at the centres (dimensionless, units of ``T``); NaN in empty bins.
    """
    arr = samples.values if isinstance(samples, xr.DataArray) else samples
    arr = check_finite_array("samples", arr).ravel()
    if arr.size < 2:
        raise ValueError(f"samples: need at least 2 samples for a histogram, got {arr.size}")
    centres, _, F = _profile(arr, bins, range)
    return centres, F


def landau_fit(samples, *, var: str | None = None, mode: int | None = None, bins: int = 50,
               range=None, min_count: int = 10, min_barrier: float = 0.5) -> xr.Dataset:  # noqa: A002
    r"""Landau profile of an order parameter and its quartic fit, per point of a scan.

    The histogram of the samples (``n_j`` counts in bins of width Δ) gives
    ``F_j = −ln(n_j/(n Δ))`` (:func:`landau_profile`) with Poisson error ``1/√n_j``. Bins with at least
    ``min_count`` samples are fitted by weighted least squares with

    .. math::  F(m) = c + h\,m + a_2 m^2 + a_3 m^3 + a_4 m^4 ,

    (m rescaled by its standard deviation inside the solve, for conditioning). The verdict
    is ``"double well"`` when the fitted F has two local minima inside the fitted range and
    the barrier between them exceeds the higher minimum by more than ``min_barrier`` (units
    of T), ``"single well"`` otherwise.

    A trajectory whose ``var`` has dims beyond ``step`` and ``chain`` (after selecting
    ``mode``) is a scan (e.g. :meth:`pyrbm.scan.Scan.collect`, dims ``beta``, ``seed``, ...):
    every point is fitted on its own samples, all on one shared bin grid (``bins`` bins over
    ``range``, default the range of every point's samples together), so that profiles of
    different points share the ``m`` coordinate. NaN samples are padding of a scan (shorter
    or missing points) and are left out; a point without samples gets NaN (``verdict`` "",
    ``n_minima`` −1).

    Parameters
    ----------
    samples : array_like, xarray.DataArray or xarray.Dataset
        Samples of the order parameter (pooled, flattened), finite; or a trajectory or a
        collected scan, with ``var`` (and ``mode``, a 1-based label, when ``var`` has a
        ``mode`` dim).
    var : str, optional
        The variable of a trajectory, e.g. ``"order_parameter"`` or ``"u"``.
    mode : int, optional
        Mode label to select from ``var``.
    bins : int
        Histogram bins.
    range : (float, float), optional
        Histogram range; default the sample range (of all points of a scan).
    min_count : int
        Smallest count of a fitted bin.
    min_barrier : float
        Barrier (in units of T) that makes a double well.

    Returns
    -------
    xarray.Dataset
        The scan's dims first (none for one run), then: dim ``m`` (bin centres):
        ``profile`` (−ln P, NaN in empty bins), ``profile_std``, ``fit`` (the fitted
        polynomial), ``fitted``; dim ``coefficient`` (c, h, a2, a3, a4): ``value``,
        ``value_std`` (its standard error); ``chi2_per_dof``, ``barrier``, ``verdict``
        (str), ``n_minima``, and the samples per point: attribute ``n_samples`` for one
        run, variable ``n_samples`` for a scan.
    """
    bins = check_int("bins", bins, minimum=6)
    min_count = check_int("min_count", min_count, minimum=1)
    min_barrier = check_positive("min_barrier", min_barrier, allow_zero=True)
    range = _check_range(range)
    da = _select(samples, var, mode)
    grid = [d for d in da.dims if d not in ("step", "chain")] if isinstance(samples, xr.Dataset) else []
    if not grid:
        m = _samples("samples", da)
        out = _fit(m, bins, range, min_count, min_barrier)
        out.attrs = {"n_samples": int(m.size), "min_barrier": min_barrier}
        return out
    values = np.asarray(da.values, dtype=np.float64)
    if np.isinf(values).any():
        raise ValueError(f"samples: {var!r} holds infinite values; pass finite samples")
    if not np.isfinite(values).any():
        raise ValueError(f"samples: {var!r} holds no samples (all NaN); run the scan first")
    edges = np.histogram_bin_edges(values[np.isfinite(values)], bins=bins, range=range)
    stacked = da.transpose(*grid, ...).stack(_point=grid)
    centres = 0.5 * (edges[1:] + edges[:-1])
    parts = []
    for i, key in enumerate(stacked.indexes["_point"]):
        m = stacked.isel(_point=i).values.ravel()
        m = m[np.isfinite(m)]
        where = ", ".join(f"{d}={v}" for d, v in zip(grid, key if isinstance(key, tuple) else (key,)))
        if m.size == 0:   # a point not run (NaN padding of a scan): NaN throughout
            nan = np.full(centres.size, np.nan)
            part = _result(centres, nan, nan, nan, np.zeros(centres.size, bool), np.full(5, np.nan),
                           np.full(5, np.nan), np.nan, np.nan, -1, "")
        elif m.size < 10:
            raise ValueError(f"samples at {where}: expected at least 10 samples, got {m.size}")
        else:
            part = _fit(m, edges, None, min_count, min_barrier, where=where)
        parts.append(part.assign(n_samples=((), m.size, {"long_name": "samples of the point", "units": "1"})))
    out = xr.concat(parts, dim="_point")
    out = out.assign_coords(xr.Coordinates.from_pandas_multiindex(stacked.indexes["_point"], "_point"))
    out = out.unstack("_point").transpose(*grid, ...)
    extra = {k: c for k, c in da.coords.items() if k not in out.coords and set(c.dims) <= set(grid)}
    out = out.assign_coords(extra)
    for d in grid:
        if d in da.coords:
            out[d].attrs = da[d].attrs
    out.attrs = {"min_barrier": min_barrier, "bins": "shared by every point"}
    return out


def _fit(m, bins, range, min_count, min_barrier, *, where: str = ""):  # noqa: A002
    """Profile and quartic fit of pooled samples ``m`` (see :func:`landau_fit`); ``where`` names a scan point."""
    centres, counts, F = _profile(m, bins, range)
    with np.errstate(divide="ignore"):
        F_err = 1.0 / np.sqrt(counts)
    F_err[counts == 0] = np.nan
    use = counts >= min_count
    if use.sum() < 6:
        at = f" at {where}" if where else ""
        grid = " (the bin grid is shared by every point: give range= around this point's samples)" if where else ""
        raise ValueError(f"samples{at}: only {use.sum()} bins hold ≥ {min_count} samples; a quartic fit needs 6 — "
                         f"draw more samples, use fewer bins or lower min_count{grid}")
    scale = float(np.std(m)) or 1.0
    z = centres[use] / scale
    X = np.stack([z**p for p in np.arange(5)], axis=1) / F_err[use, None]
    coef_z, *_ = np.linalg.lstsq(X, F[use] / F_err[use], rcond=None)
    cov_z = np.linalg.inv(X.T @ X)
    jac = scale ** -np.arange(5.0)
    coef, cov = coef_z * jac, cov_z * np.outer(jac, jac)
    resid = (F[use] - np.polyval(coef[::-1], centres[use])) / F_err[use]
    chi2 = float(resid @ resid) / max(int(use.sum()) - 5, 1)
    # stationary points of the fitted F inside the fitted range
    lo, hi = centres[use].min(), centres[use].max()
    dF = np.polynomial.Polynomial(coef).deriv()
    roots = dF.roots()
    roots = np.sort(roots[(np.abs(roots.imag) < 1e-9 * max(1.0, scale)) & (roots.real >= lo)
                          & (roots.real <= hi)].real)
    d2 = dF.deriv()
    poly = np.polynomial.Polynomial(coef)
    minima = roots[d2(roots) > 0]
    barrier = 0.0
    if minima.size >= 2:
        maxima = roots[(d2(roots) < 0) & (roots > minima[0]) & (roots < minima[-1])]
        if maxima.size:
            barrier = float(poly(maxima).max() - max(poly(minima[0]), poly(minima[-1])))
    verdict = "double well" if minima.size >= 2 and barrier > min_barrier else "single well"
    return _result(centres, F, F_err, poly(centres), use, coef, np.sqrt(np.diag(cov)), chi2, barrier,
                   int(minima.size), verdict)


def _result(centres, F, F_err, fit, use, coef, coef_std, chi2, barrier, n_minima, verdict) -> xr.Dataset:
    """The result layout of :func:`landau_fit` for one point."""
    return xr.Dataset(
        {"profile": ("m", F, {"long_name": "-ln P(m)", "units": "1", "formula": "F(m)/T = -ln P(m)"}),
         "profile_std": ("m", F_err, {"long_name": "Poisson error of -ln P(m), 1/sqrt(count)", "units": "1"}),
         "fit": ("m", fit, {"long_name": "fitted c + h m + a2 m^2 + a3 m^3 + a4 m^4", "units": "1"}),
         "fitted": ("m", use, {"long_name": "bin used in the fit", "units": "1"}),
         "value": ("coefficient", coef, {"long_name": "fitted coefficient", "units": "1"}),
         "value_std": ("coefficient", coef_std, {"long_name": "standard error of the fitted coefficient "
                                                               "(Poisson weights)", "units": "1"}),
         "chi2_per_dof": ((), chi2, {"long_name": "weighted chi^2 per degree of freedom", "units": "1"}),
         "barrier": ((), barrier, {"long_name": "barrier between the two minima of the fit", "units": "T"}),
         "n_minima": ((), n_minima, {"long_name": "local minima of the fit in the fitted range", "units": "1"}),
         "verdict": ((), verdict, {"long_name": "single well or double well"})},
        coords={"m": ("m", centres, {"long_name": "order parameter (bin centre)", "units": "1"}),
                "coefficient": ["c", "h", "a2", "a3", "a4"]})


def _select(samples, var, mode):
    """The DataArray ``var`` (at ``mode``) of a trajectory, or ``samples`` unchanged."""
    if not isinstance(samples, xr.Dataset):
        return samples
    if var is None or var not in samples:
        raise ValueError(f"var: the trajectory has no variable {var!r} (has {sorted(samples.data_vars)}); "
                         "record it (e.g. observables=[pyrbm.OrderParameter(modes=...)]) or pass var=")
    da = samples[var]
    if "mode" in da.dims:
        labels = da["mode"].values.tolist() if "mode" in da.coords else []
        if mode is None or mode not in labels:
            raise ValueError(f"mode: expected one of the recorded mode labels {labels} of {var!r}, got {mode!r}")
        da = da.sel(mode=mode)
    return da


def _reduce(m, dim, name):
    if isinstance(m, xr.DataArray):
        dims = (dim,) if isinstance(dim, str) else tuple(dim)
        missing = [d for d in dims if d not in m.dims]
        if missing:
            raise ValueError(f"dim: {missing} not among the dims {list(m.dims)} of {name}")
        check_finite_array(name, m.values)
        return m.astype(np.float64), dims
    arr = check_finite_array(name, m)
    if arr.ndim == 0 or arr.shape[0] < 2:
        raise ValueError(f"{name}: expected samples along the first axis (at least 2), got shape {arr.shape}")
    return xr.DataArray(arr, dims=("sample",) + tuple(f"dim_{i}" for i in np.arange(1, arr.ndim))), ("sample",)


def _plain(out: xr.DataArray, was_array: bool):
    return out.values if was_array else out


def susceptibility(m, *, dim="chain", n_units: float = 1.0, beta: float = 1.0):
    r"""Susceptibility from the fluctuations of an order parameter, ``χ = β·n·Var(m)`` over ``dim``.

    Fluctuation–dissipation: with a field h conjugate to the total ``n·m``
    (``−βE → −βE + βh·n·m``), ``χ = ∂⟨m⟩/∂h = β n (⟨m²⟩ − ⟨m⟩²)``. For an intensive
    magnetisation ``m = (1/N) Σ_i s_i`` take ``n = N``: the textbook per-spin
    susceptibility (Curie–Weiss: ``β/(1 − βJ)`` above T_c as N → ∞). For a unit-norm
    projection ``x = u·v`` (``|u| = 1``, e.g. the mode order parameter u_k, whose field is
    conjugate to x itself) take ``n = 1``: ``χ = β Var(x)``.

    Parameters
    ----------
    m : xarray.DataArray or array_like
        Samples; for an array the samples run along axis 0.
    dim : str or sequence of str
        Dims reduced (DataArray only).
    n_units : float
        n: N for an intensive m, 1 for an extensive or unit-norm-projection m.
    beta : float
        Inverse temperature β.
    """
    n_units = check_positive("n_units", n_units)
    beta = check_positive("beta", beta)
    da, dims = _reduce(m, dim, "m")
    out = beta * n_units * da.var(dim=dims)
    out.attrs = {"long_name": "susceptibility beta n Var(m)", "units": "1"}
    return _plain(out, not isinstance(m, xr.DataArray))


def binder_cumulant(m, *, dim="chain", center="mean"):
    r"""Binder cumulant ``U = 1 − ⟨δm⁴⟩/(3⟨δm²⟩²)``, ``δm = m − c``, over ``dim``.

    With the default ``center="mean"`` (``c = ⟨m⟩``, the moments central): 0 for any
    Gaussian, wherever it sits; 2/3 for two sharp symmetric wells ±m₀; values in between
    for a broad double well. A number centres the moments there instead (e.g. ``0.0``,
    the saddle of the order parameter u_k: then a single well displaced by d standard
    deviations gives ``1 − (d⁴ + 6d² + 3)/(3(d² + 1)²)``, 0.54 at d = 3, near the
    two-well value; use it only when the symmetric point is known).

    Parameters
    ----------
    m : xarray.DataArray or array_like
    dim : str or sequence of str
    center : "mean" or float
    """
    if not (isinstance(center, str) and center == "mean") and not (
            isinstance(center, (int, float, np.number)) and not isinstance(center, bool) and np.isfinite(center)):
        raise ValueError(f"center: expected 'mean' or a finite number, got {center!r}")
    da, dims = _reduce(m, dim, "m")
    d = da - (da.mean(dim=dims) if isinstance(center, str) else float(center))
    m2 = (d**2).mean(dim=dims)
    if np.any(m2.values == 0):
        raise ValueError("m: zero second moment; the samples are all at the centre")
    out = 1.0 - (d**4).mean(dim=dims) / (3.0 * m2**2)
    out.attrs = {"long_name": "Binder cumulant 1 - <dm^4>/(3<dm^2>^2)", "units": "1"}
    return _plain(out, not isinstance(m, xr.DataArray))


def mode_transitions(ds, *, var: str = "order_parameter", dim="chain", n_units: float = 1.0,
                     center="mean") -> xr.Dataset:
    r"""Susceptibility and Binder cumulant of each mode's order parameter, per record.

    Parameters
    ----------
    ds : xarray.Dataset
        Trajectory with ``var`` of dims (…, chain, mode), e.g. from
        ``GibbsSampler.run(observables=[OrderParameter(modes=5)])``.
    var : str
        The order-parameter variable.
    dim : str or sequence of str
        Dims over which the moments are taken (``"chain"``: one value per recorded step).
    n_units : float
        n in ``χ = β·n·Var(m)`` (:func:`susceptibility`): 1 for the order parameter u_k, a
        unit-norm projection; N for an intensive magnetisation. β is the trajectory's ``beta``.
    center : "mean" or float
        As :func:`binder_cumulant`.

    Returns
    -------
    xarray.Dataset
        ``susceptibility``, ``binder`` over the remaining dims (e.g. step, mode).
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds: expected an xarray.Dataset (a trajectory), got {type(ds).__name__}")
    if var not in ds:
        raise ValueError(f"var: the trajectory has no variable {var!r} (has {sorted(ds.data_vars)}); record it "
                         "with observables=[pyrbm.OrderParameter(modes=...)] or pass var=")
    if "mode" not in ds[var].dims:
        raise ValueError(f"var: {var!r} has no 'mode' dim (dims {ds[var].dims}); pass a mode projection")
    beta = float(ds.attrs.get("beta", 1.0))
    return xr.Dataset({"susceptibility": susceptibility(ds[var], dim=dim, n_units=n_units, beta=beta),
                       "binder": binder_cumulant(ds[var], dim=dim, center=center)},
                      attrs={"var": var, "n_units": float(n_units), "beta": beta})
