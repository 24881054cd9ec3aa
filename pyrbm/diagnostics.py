r"""One-call MCMC diagnostics of a trajectory, and its export to ArviZ.

* :func:`summary` -- mean, sd, MCSE of the mean, bulk and tail ESS and R̂ of every variable
  with a ``step`` dimension, per index of its other dimensions (``mode``, ...): what
  ``arviz.summary`` gives, computed with :mod:`pyrbm.stats` and with no optional dependency.
* :func:`to_arviz` -- the same variables as an ArviZ ``DataTree`` in the ``(chain, draw, ...)``
  layout (needs the optional ``arviz-base``: ``pip install 'pyrbm[arviz]'``).

Both are one-liners on a trajectory: ``ds.rbm.summary()``, ``ds.rbm.to_arviz()``.

Estimators, and where they differ from ArviZ's (``arviz_stats``)
----------------------------------------------------------------
``ess`` and ``mcse_mean`` use Sokal's integrated autocorrelation time
(:func:`pyrbm.stats.tau_int`: chain-averaged autocorrelation, each chain's own mean removed,
summed up to the first window ``W ≥ c τ(W)``, ``c = 5``) where ArviZ uses Geyer's initial
monotone positive sequence on the multi-chain autocorrelation of Vehtari et al. (2021),
which includes the between-chain variance. For stationary, mixed chains both estimate
``n_chains n_steps / τ_int``: on AR(1) traces of 10⁵ draws (τ from 1 to 19) they agree with
each other and with the closed form to within 3 % (tests/test_diagnostics.py). For chains
that have not mixed they differ by orders of magnitude: Sokal's τ removes each chain's own
mean and sees only the decorrelation within chains, so four AR(1) chains (τ = 19) with one
shifted by 1.5 sd have ``ess_bulk`` 5,535 here against 13 in ArviZ. Read R̂ first (here
1.22); the ESS columns mean something only where ``r_hat < 1.01``.

* ``mean``, ``sd`` -- over every chain and step (``sd`` with ``ddof = 1``).
* ``mcse_mean`` -- ``sd / sqrt(ess_mean)``, ``ess_mean`` the ESS (:func:`pyrbm.stats.ess`) of
  the raw draws of the split chains; :func:`pyrbm.stats.blocking_error` is an independent check.
* ``ess_bulk`` -- ESS of the rank-normalised draws (normal scores of the pooled ranks, Blom
  offsets) of the chains split in halves (Vehtari et al. 2021, with Sokal's τ).
* ``ess_tail`` -- the smaller ESS of the indicators ``1[x ≤ q_{0.05}]`` and
  ``1[x ≤ q_{0.95}]`` on split chains (Vehtari et al. 2021, with Sokal's τ).
* ``r_hat`` -- :func:`pyrbm.stats.split_rhat`: rank-normalised, folded split R̂, the
  same estimator as ArviZ's default ``method="rank"``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from . import stats
from .stats import _split_chains, _z_scale

__all__ = ["STATISTICS", "summary", "to_arviz"]

#: The statistics of :func:`summary`, in order (the ``statistic`` coordinate).
STATISTICS = ("mean", "sd", "mcse_mean", "ess_bulk", "ess_tail", "r_hat")
STEP, CHAIN = "step", "chain"


def _variables(ds: xr.Dataset, var_names) -> list[str]:
    """Names of the requested variables, each checked to be numeric with a ``step`` dim."""
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds: expected an xarray.Dataset (a trajectory), got {type(ds).__name__}")
    if var_names is None:
        names = [k for k, v in ds.data_vars.items()
                 if STEP in v.dims and v.dtype.kind in "biuf"]
        if not names:
            raise ValueError(f"ds: no numeric variable with a {STEP!r} dimension; variables: "
                             f"{sorted(ds.data_vars)}")
        return names
    if isinstance(var_names, str):
        var_names = [var_names]
    names = list(var_names)
    for k in names:
        if k not in ds.data_vars:
            raise ValueError(f"var_names: no data variable {k!r}; available: {sorted(ds.data_vars)}")
        if STEP not in ds[k].dims or ds[k].dtype.kind not in "biuf":
            raise ValueError(f"var_names: {k!r} (dims {ds[k].dims}, dtype {ds[k].dtype}) is not a numeric "
                             f"trajectory with a {STEP!r} dimension")
    if not names:
        raise ValueError("var_names: expected at least one variable name")
    return names


def _chain_step(da: xr.DataArray, n_chains: int = 1) -> xr.DataArray:
    """``da`` as (..., chain, step); a variable without ``chain`` is repeated over ``n_chains``."""
    if CHAIN not in da.dims:
        da = da.expand_dims({CHAIN: n_chains})
    return da.transpose(..., CHAIN, STEP)


def _statistics(arr: np.ndarray) -> np.ndarray:
    """arr (..., chain, step) -> the :data:`STATISTICS` (..., 6)."""
    draws = arr.reshape(*arr.shape[:-2], -1)
    mean = draws.mean(axis=-1)
    sd = draws.std(axis=-1, ddof=1)
    const = ~(sd > 0)
    split = _split_chains(arr)
    kw = {"step_axis": -1, "chain_axis": -2}
    if np.all(const):
        nan = np.full(mean.shape, np.nan)
        return np.stack([mean, sd, np.zeros_like(mean), nan, nan, nan], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ess_mean = stats.ess(split, **kw)
        ess_bulk = stats.ess(_z_scale(split), **kw)
        q05, q95 = (np.quantile(draws, q, axis=-1)[..., None, None] for q in (0.05, 0.95))
        ess_tail = np.fmin(*(stats.ess((split <= q).astype(np.float64), **kw) for q in (q05, q95)))
        r_hat = stats.split_rhat(arr, **kw)
        mcse = sd / np.sqrt(ess_mean)
    out = np.stack(np.broadcast_arrays(mean, sd, mcse, ess_bulk, ess_tail, r_hat), axis=-1)
    out[const, 2] = 0.0
    out[const, 3:] = np.nan
    return out


def summary(ds: xr.Dataset, var_names=None) -> xr.Dataset:
    r"""Mean, sd, MCSE, bulk/tail ESS and R̂ of every trajectory variable, in one call.

    Parameters
    ----------
    ds : xarray.Dataset
        A trajectory: variables with dims ``(step, chain, ...)`` (``chain`` optional).
    var_names : str or sequence of str, optional
        Variables to summarise; default every numeric variable with a ``step`` dim.

    Returns
    -------
    xarray.Dataset
        One variable per input variable, its ``step`` and ``chain`` dims replaced by
        ``statistic`` (coordinate :data:`STATISTICS`: ``mean``, ``sd``, ``mcse_mean``,
        ``ess_bulk``, ``ess_tail``, ``r_hat``), other dims (``mode``, ...) and their
        coordinates kept: ``summary(ds)["u"].sel(statistic="ess_bulk", mode=1)``.
        ``mean``, ``sd`` and ``mcse_mean`` are in the variable's units, ESS in draws, R̂
        dimensionless; ``.to_dataframe()`` gives a table. A constant series has ``sd = 0``,
        ``mcse_mean = 0`` and NaN ESS and R̂. Formulas and the differences from ArviZ: the
        module documentation (:mod:`pyrbm.diagnostics`).

    Warns
    -----
    RuntimeWarning
        From :func:`pyrbm.stats.tau_int` when a trajectory is shorter than 50 τ_int.
    """
    out = {}
    for name in _variables(ds, var_names):
        da = _chain_step(ds[name])
        if da.sizes[STEP] < 16:
            raise ValueError(f"ds: {name!r} has {da.sizes[STEP]} steps; the diagnostics need at least 16 "
                             f"(record a longer trajectory)")
        values = _statistics(da.values.astype(np.float64))
        other = [d for d in da.dims if d not in (CHAIN, STEP)]
        coords = {k: v for k, v in da.coords.items() if set(v.dims) <= set(other)}
        out[name] = xr.DataArray(values, dims=(*other, "statistic"), coords=coords,
                                 attrs={k: ds[name].attrs[k] for k in ("long_name", "units") if k in ds[name].attrs})
    res = xr.Dataset(out).assign_coords(statistic=list(STATISTICS))
    res.attrs.update(description="MCMC diagnostics per variable: mean, sd, mcse_mean (sd/sqrt(ESS of the raw "
                                 "draws)), ess_bulk, ess_tail (Sokal windowing on rank-normalised / indicator "
                                 "split chains), r_hat (rank-normalised folded split R-hat); see pyrbm.diagnostics")
    res.attrs.update({k: ds.sizes[k] for k in (STEP, CHAIN) if k in ds.sizes})
    return res


def to_arviz(ds: xr.Dataset, var_names=None, *, group: str = "posterior"):
    """The trajectory as an ArviZ ``DataTree``, draws in ``(chain, draw, ...)`` layout.

    Parameters
    ----------
    ds : xarray.Dataset
        A trajectory (``step`` and optional ``chain`` dims; a dataset without ``chain`` is
        one chain).
    var_names : str or sequence of str, optional
        Variables to export; default every numeric variable with a ``step`` dim.
    group : str, default "posterior"
        The group that holds the draws (ArviZ's diagnostics read ``posterior``).

    Returns
    -------
    xarray.DataTree
        Group ``group`` with every selected variable, ``step`` renamed ``draw`` (its
        coordinate values kept), dims ordered ``(chain, draw, ...)``, values, dtypes,
        coordinates and attributes unchanged; the dataset's attributes on the group. A
        variable without ``chain`` (one value per step, e.g. a sweep counter) is repeated
        for every chain of the dataset.

    Raises
    ------
    ImportError
        Without ``arviz-base`` (``pip install 'pyrbm[arviz]'``).
    """
    try:
        import arviz_base  # optional dependency, imported on use (about 1 s)
    except ImportError as err:
        raise ImportError("to_arviz needs arviz-base: pip install 'pyrbm[arviz]'") from err
    names = _variables(ds, var_names)
    if not isinstance(group, str) or not group:
        raise TypeError(f"group: expected a group name (str), got {group!r}")
    if "draw" in ds.dims:
        raise ValueError("ds: already has a 'draw' dimension; the trajectory's 'step' becomes 'draw'")
    n_chains = ds.sizes.get(CHAIN, 1)
    post = xr.Dataset({k: _chain_step(ds[k], n_chains).rename({STEP: "draw"}) for k in names},
                      attrs=dict(ds.attrs))
    post = post.transpose(CHAIN, "draw", ...)
    return arviz_base.convert_to_datatree(post, group=group)
