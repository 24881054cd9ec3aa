r"""The measurement schema (``"pyrbm.result/1"``): any labelled dataset a study measures.

A result is an :class:`xarray.Dataset` of any dims and variables whose ``schema`` attribute is
``"pyrbm.result/1"``. The file layer asks of it what it asks of every pyrbm file: provenance
(:func:`pyrbm.io.netcdf.stamp`), a ``long_name`` and ``units`` on every variable and
coordinate (CF; ``"1"`` for dimensionless quantities), flat attributes, real numeric or
string variables, and a checksum verified on reading. ``pyrbm.save(ds, path)`` writes it,
``pyrbm.load`` / ``pyrbm.validate`` / ``pyrbm info`` accept it.

Examples
--------
>>> ds = xr.Dataset({"chi": ("beta", [0.1, 0.4], {"long_name": "susceptibility", "units": "1"})},
...                 coords={"beta": ("beta", [0.5, 1.0], {"long_name": "inverse temperature", "units": "1"})},
...                 attrs={"schema": "pyrbm.result/1"})
>>> pyrbm.save(ds, "chi.nc")   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from .._checks import check_bool
from .netcdf import (cf_problems, checked, is_flat_attr, mode_problems, open_verified, provenance_problems, stamp,
                     write)

__all__ = ["SCHEMA", "validate", "save_result", "load_result"]

SCHEMA = "pyrbm.result/1"


def _problems(ds: xr.Dataset) -> list[str]:
    problems = provenance_problems(ds.attrs, SCHEMA) + cf_problems(ds) + mode_problems(ds)
    for key, val in ds.attrs.items():
        if not isinstance(key, str) or not is_flat_attr(val):
            problems.append(f"attribute {key!r} is {type(val).__name__}; netCDF attributes must be flat "
                            f"str, int or float")
    for name, var in ds.variables.items():
        if var.dtype.kind not in "biufUSO":
            problems.append(f"variable {name!r}: dtype {var.dtype} cannot be stored; convert to a real numeric "
                            f"dtype (split complex values into real and imaginary parts)")
        for key, val in var.attrs.items():
            if not is_flat_attr(val):
                problems.append(f"variable {name!r}: attribute {key!r} is {type(val).__name__}; use a flat str, "
                                f"int or float")
    return problems


def validate(ds: xr.Dataset) -> xr.Dataset:
    """Check a result dataset against the schema; return it, or raise ``ValueError`` listing every problem."""
    return checked(ds, SCHEMA, _problems)


def save_result(ds: xr.Dataset, path, *, overwrite: bool = False) -> Path:
    """Write a result atomically, stamped and checksummed (validated first: :func:`validate`)."""
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds: expected an xarray.Dataset, got {type(ds).__name__}")
    overwrite = check_bool("overwrite", overwrite)
    ds = ds.copy(deep=False)
    ds.attrs = stamp(ds.attrs, SCHEMA)
    return write(path, {"": validate(ds)}, overwrite=overwrite)


def load_result(path, *, lazy: bool = False, verify: bool = True) -> xr.Dataset:
    """Read a result written by :func:`save_result` (checksum verified)."""
    return open_verified(path, lazy=lazy, verify=verify, schema=SCHEMA)
