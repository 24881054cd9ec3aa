"""The ``ds.rbm`` accessor: one-line statistics on a trajectory Dataset.

Registered on ``import pyrbm``::

    ds = pyrbm.load("run.nc")
    ds.rbm.tau_int("energy")          # integrated autocorrelation time (steps)
    ds.rbm.ess("energy")              # effective sample size
    ds.rbm.rhat("m_visible")          # split R-hat
    ds.rbm.blocking_error("energy")   # standard error of the mean
    ds.rbm.landau("u", mode=1)        # -ln P(u_1) as a DataArray (mode labels are 1-based)
    ds.rbm.landau_fit("u", mode=1)    # quartic fit of -ln P(u_1), single or double well
    ds.rbm.transitions()              # susceptibility and Binder cumulant per step and mode
    history.rbm.hierarchy()           # when each mode leaves the bulk and crosses 4T
    history.rbm.by_rank()             # per-mode variables over (epoch, rank): rank 1 = largest σ now
    ds.rbm.hamiltonian()              # the model stored with the file

Variables with extra dims (e.g. ``mode``) give one value per extra index. The analysis
one-liners work the same on one run and on a combined scan: dimensions beyond the ones
an analysis needs (``n_hidden``, ``seed``, ``lr``, ...) are kept, the analysis running once
per point.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from . import diagnostics, stats
from .landau import landau_fit, landau_profile
from .hamiltonian import Hamiltonian
from .io import read_model
from .io.model import GROUP as HAMILTONIAN_GROUP
from .io.netcdf import CHECKSUM_ATTR, open_verified

__all__ = ["RBMAccessor"]


@xr.register_dataset_accessor("rbm")
class RBMAccessor:
    """Statistics and the Hamiltonian of a pyrbm trajectory (``ds.rbm``)."""

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    def _var(self, var: str) -> xr.DataArray:
        if not isinstance(var, str):
            raise TypeError(f"var: expected a variable name (str), got {type(var).__name__}")
        if var not in self._ds.data_vars:
            raise ValueError(
                f"var: no data variable {var!r} in this dataset; available: {sorted(self._ds.data_vars)}"
            )
        da = self._ds[var]
        if "step" not in da.dims:
            raise ValueError(f"var: {var!r} has dims {da.dims}; statistics need a 'step' dimension")
        return da

    def tau_int(self, var: str, c: float = 5.0) -> xr.DataArray:
        """Integrated autocorrelation time of ``var`` in recorded steps (:func:`pyrbm.stats.tau_int`)."""
        return stats.tau_int(self._var(var), c=c)

    def ess(self, var: str, c: float = 5.0) -> xr.DataArray:
        """Effective sample size of ``var`` (:func:`pyrbm.stats.ess`)."""
        return stats.ess(self._var(var), c=c)

    def rhat(self, var: str, rank_normalize: bool = True) -> xr.DataArray:
        """Split R-hat of ``var`` over chains (:func:`pyrbm.stats.split_rhat`)."""
        return stats.split_rhat(self._var(var), rank_normalize=rank_normalize)

    def blocking_error(self, var: str) -> xr.DataArray:
        """Standard error of the mean of ``var`` (:func:`pyrbm.stats.blocking_error`)."""
        return stats.blocking_error(self._var(var))

    def landau(self, var: str, mode: int | None = 1, bins=50, range=None) -> xr.DataArray:  # noqa: A002
        r"""Landau profile :math:`-\ln P(m)` of ``var`` pooled over chains and steps.

        Parameters
        ----------
        var : str
            Order-parameter variable, e.g. ``"u"``, ``"order_parameter"``, ``"x"``.
        mode : int or None, default 1
            For a variable with a ``mode`` dim: the 1-based mode label (the
            ``mode`` coordinate; the position + 1 when there is no
            coordinate). Ignored for variables without ``mode``.
        bins, range
            As in :func:`pyrbm.landau.landau_profile`.

        Returns
        -------
        xarray.DataArray
            ``-ln P`` with dim ``var`` (bin centres as coordinate); NaN in empty bins.
        """
        da = self._var(var)
        if "mode" in da.dims:
            if mode is None:
                raise ValueError(f"mode: {var!r} has a 'mode' dim; pick one mode, e.g. mode=1")
            if "mode" in da.coords:
                if mode not in da["mode"].values:
                    raise ValueError(f"mode: {mode!r} not among the recorded modes {da['mode'].values.tolist()}")
                da = da.sel(mode=mode)
            else:
                if not 1 <= mode <= da.sizes["mode"]:
                    raise ValueError(f"mode: expected a label 1..{da.sizes['mode']}, got {mode!r}")
                da = da.isel(mode=mode - 1)
        extra = [d for d in da.dims if d not in ("chain", "step")]
        if extra:
            raise ValueError(f"var: {var!r} has extra dims {extra}; select one index of them first")
        centres, f = landau_profile(da, bins=bins, range=range)
        attrs = {"long_name": f"-ln P({var})", "units": "1", "formula": r"F(m)/T = -\ln P(m)"}
        coord_attrs = {k: da.attrs[k] for k in ("long_name", "units") if k in da.attrs}
        out = xr.DataArray(f, dims=(var,), coords={var: (var, centres, coord_attrs)}, name="landau", attrs=attrs)
        if "mode" in self._ds[var].dims:
            out = out.assign_coords(mode=np.asarray(da["mode"].values) if "mode" in da.coords else mode)
        return out

    def landau_fit(self, var: str = "order_parameter", *, mode: int = 1, **options) -> xr.Dataset:
        """Quartic Landau fit of ``var`` (one mode label), per point of a scan (:func:`pyrbm.landau_fit`).

        On a collected scan every point is fitted on one shared bin grid; the scan's dims
        come first, then ``m`` or ``coefficient``.
        """
        self._var(var)
        return landau_fit(self._ds, var=var, mode=mode, **options)

    def transitions(self, var: str = "order_parameter", **options) -> xr.Dataset:
        """Susceptibility and Binder cumulant of each mode per step (:func:`pyrbm.mode_transitions`)."""
        from .landau import mode_transitions

        return mode_transitions(self._ds, var=var, **options)

    def hierarchy(self, **options) -> xr.Dataset:
        """When each mode of a training history leaves the bulk and crosses 4T (:func:`pyrbm.hierarchy`).

        On combined histories (``n_hidden``, ``seed``, ... dims) one table per point.
        """
        from .symmetry import hierarchy

        return _per_point(self._ds, ("epoch", "mode"), lambda ds: hierarchy(ds, **options))

    def by_rank(self, *, threshold: float | None = None) -> xr.Dataset:
        """A training history's per-mode variables over (epoch, rank), rank 1 = largest σ at each record.

        ``mode`` is then a variable (the tracked label at that rank); see
        :func:`pyrbm.modetracking.by_rank` (``identity``: a match with |overlap| below
        ``threshold`` starts a new mode).
        """
        from .modetracking import MIN_OVERLAP, by_rank

        return by_rank(self._ds, threshold=MIN_OVERLAP if threshold is None else threshold)

    def hamiltonian(self):
        """The Hamiltonian that made this trajectory.

        Taken from, in order: variables ``W``, ``a``, ``b`` of the dataset
        itself (a :meth:`Hamiltonian.to_dataset`-like dataset); the
        ``hamiltonian`` group of the file the dataset was loaded from by :func:`pyrbm.load`
        (``ds.encoding["source"]``), provided the file still has the checksum it had then.

        Raises
        ------
        ValueError
            Neither is available (save with ``pyrbm.save(ds, path, hamiltonian=ham)``),
            the file was replaced since the dataset was loaded, the dataset was not read by
            ``pyrbm.load``, or it combines several files (``xr.open_mfdataset``, a scan):
            each file has its own model, read with ``pyrbm.load_hamiltonian(path)``.
        """
        ds = self._ds
        if all(k in ds.variables for k in ("W", "a", "b")):
            return Hamiltonian(
                ds["W"].transpose("visible", "hidden").values, ds["a"].values, ds["b"].values,
                beta=float(ds.attrs.get("beta", 1.0)), units=str(ds.attrs.get("units", "binary")),
            )
        source = ds.encoding.get("source")
        if source:
            combined = ValueError(
                f"this dataset (dims {dict(ds.sizes)}) is not the single file {source} it names as its source: "
                f"it combines several files, each with its own model; read each with pyrbm.load_hamiltonian(path)")
            loaded = ds.encoding.get(CHECKSUM_ATTR)
            if loaded is None:  # not read by pyrbm.load: which model belongs to it cannot be told
                raise ValueError(
                    f"this dataset was not read by pyrbm.load (it carries no verified checksum of {source}), so "
                    f"whether the model stored there is its own cannot be told; load it with pyrbm.load(path), "
                    f"or read the model with pyrbm.load_hamiltonian(path)")
            with open_verified(source, lazy=True, verify=False) as one:
                now, sizes = one.encoding.get(CHECKSUM_ATTR), dict(one.sizes)
            if now != loaded:
                raise ValueError(
                    f"{source} was replaced since this dataset was loaded from it (its checksum changed): the "
                    f"model stored there now is not this dataset's; load the file again")
            if dict(ds.sizes) != sizes:
                raise combined
            return read_model(source)
        raise ValueError(
            "this dataset carries no Hamiltonian: it was not loaded from a file with a "
            f"{HAMILTONIAN_GROUP!r} group and has no W/a/b variables; save it with "
            "pyrbm.save(ds, path, hamiltonian=ham) and load it with pyrbm.load(path); a dataset combining "
            "several files (xr.open_mfdataset, a scan) has one model per file: read each with "
            "pyrbm.load_hamiltonian(path)"
        )

    def summary(self, var_names=None) -> xr.Dataset:
        """Mean, sd, MCSE, bulk/tail ESS and R-hat per variable and mode (:func:`pyrbm.diagnostics.summary`)."""
        return diagnostics.summary(self._ds, var_names)

    def to_arviz(self, var_names=None, *, group: str = "posterior"):
        """The trajectory as an ArviZ DataTree, ``(chain, draw, ...)`` (:func:`pyrbm.diagnostics.to_arviz`)."""
        return diagnostics.to_arviz(self._ds, var_names, group=group)


def _per_point(ds: xr.Dataset, core: tuple, func) -> xr.Dataset:
    """``func`` on every point of the dims of ``ds`` outside ``core`` (scan keys), results stacked.

    A single run (no extra dims) is passed through; a combined scan gives the per-point
    results concatenated along its extra dims (NaN where shapes differ, e.g. hidden sizes).
    """
    extra = [d for d in ds.dims if d not in core]
    if not extra:
        return func(ds)
    stacked = ds.stack(_point=extra)
    parts = []
    for i in range(stacked.sizes["_point"]):
        point = stacked.isel(_point=i).drop_vars("_point")   # the scan keys stay as scalar coordinates
        for dim in ("epoch", "mode"):   # padding of shorter runs and smaller models
            if dim in point.dims and "singular_value" in point:
                point = point.dropna(dim, how="all", subset=["singular_value"])
        parts.append(func(point))
    parts = [p.drop_vars(extra, errors="ignore") for p in parts]
    out = xr.concat(parts, dim="_point", join="outer", combine_attrs="drop_conflicts")
    out = out.assign_coords(xr.Coordinates.from_pandas_multiindex(stacked.indexes["_point"], "_point"))
    return out.unstack("_point")
