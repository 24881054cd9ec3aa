"""The one writer and the one reader of the study's measurement files.

Every study result goes through :func:`write_dataset`: the file layer's ``pyrbm.result/1``
schema (atomic, stamped, checksummed; CF ``long_name`` and ``units`` on every variable and
coordinate), so ``pyrbm.load``, ``pyrbm.validate`` and ``pyrbm info`` read every file of a
study; :func:`read_dataset` reads it back with the checksum verified.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..io import load, save
from ..io.result import SCHEMA as RESULT_SCHEMA
from ..scan.points import RESULT

__all__ = ["RESULT", "RESULT_SCHEMA", "write_dataset", "read_dataset"]


def _a(long_name: str, measured_in: str = "") -> dict:
    """CF attributes: every pyrbm quantity is dimensionless (``units = "1"``, see
    :mod:`pyrbm.io`); energies are in k_B T at β = 1, likelihoods in nats, as the name says."""
    return {"long_name": f"{long_name} ({measured_in})" if measured_in else long_name, "units": "1"}


def write_dataset(ds: xr.Dataset, path) -> Path:
    """Write a study result ``ds`` to ``path`` (netCDF4) atomically, replacing an existing file.

    The one place the study writes measurements: every variable and coordinate gets CF
    ``long_name`` and ``units`` (``"1"``, dimensionless, unless set) and the dataset
    ``attrs["schema"] = "pyrbm.result/1"``. :func:`read_dataset` is its one reader.
    """
    ds = ds.copy()
    for name in ds.variables:
        ds[name].attrs.setdefault("units", "1")
        ds[name].attrs.setdefault("long_name", str(name))
    ds.attrs["schema"] = RESULT_SCHEMA
    return save(ds, path, overwrite=True)


def read_dataset(path) -> xr.Dataset:
    """Read a file written by :func:`write_dataset` into memory (the study's one reader).

    Raises
    ------
    ValueError
        The file is not a ``pyrbm.result/1`` file.
    pyrbm.IntegrityError
        The file changed since it was written.
    """
    ds = load(path)
    if not isinstance(ds, xr.Dataset) or ds.attrs.get("schema") != RESULT_SCHEMA:
        raise ValueError(f"path: {path} is not a study result (schema {getattr(ds, 'attrs', {}).get('schema')!r}, expected "
                         f"{RESULT_SCHEMA!r}); rerun the experiment into a new study directory")
    return ds


def _labels(labels, K: int) -> np.ndarray:
    """1-based labels from a config list: 0 means the last mode K; labels are clipped to K."""
    out = [K if int(k) == 0 else min(int(k), K) for k in labels]
    return np.array(list(dict.fromkeys(out)), dtype=np.int64)


