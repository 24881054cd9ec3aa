r"""The model schema (``"pyrbm.hamiltonian/1"``) and the one way to read a model from any pyrbm file.

A model file holds :meth:`pyrbm.Hamiltonian.to_dataset` at its root (variables ``W``, ``a``,
``b``; attributes ``beta``, ``units``). Trajectories, histories and scan points store the model
they were made with in their group ``hamiltonian``; :func:`read_model` reads either.
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from .._checks import check_bool
from ..hamiltonian import SCHEMA, Hamiltonian
from .netcdf import (cf_problems, kind_of, open_verified, provenance_problems, read_group, stamp, write)

__all__ = ["SCHEMA", "GROUP", "validate", "save_model", "read_model"]

#: The group in which trajectories and histories store their model.
GROUP = "hamiltonian"


def validate(ds: xr.Dataset) -> xr.Dataset:
    """Check a model dataset (provenance, CF attributes, ``W``, ``a``, ``b``); return it or raise ``ValueError``."""
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds: expected an xarray.Dataset, got {type(ds).__name__}")
    problems = provenance_problems(ds.attrs, SCHEMA) + cf_problems(ds)
    problems += [f"missing variable {k!r}" for k in ("W", "a", "b") if k not in ds]
    if problems:
        raise ValueError(f"ds: not a valid {SCHEMA} dataset ({len(problems)} problem(s)):\n  - "
                         + "\n  - ".join(problems))
    return ds


def save_model(ham: Hamiltonian, path, *, overwrite: bool = False) -> Path:
    """Write a Hamiltonian to a model file, atomically and checksummed (bit-exact float64 round trip)."""
    if not isinstance(ham, Hamiltonian):
        raise TypeError(f"ham: expected a pyrbm.Hamiltonian, got {type(ham).__name__}")
    check_bool("overwrite", overwrite)
    ds = ham.to_dataset()
    ds.attrs = stamp(ds.attrs, SCHEMA)
    return write(path, {"": validate(ds)}, overwrite=overwrite, compress=False)


def read_model(path, *, verify: bool = True) -> Hamiltonian:
    """The model stored in any pyrbm file: a model file, or the ``hamiltonian`` group of another.

    Parameters
    ----------
    path : str or os.PathLike
    verify : bool, default True
        Check the checksums (the file's and the group's); a file or group without one is refused.

    Returns
    -------
    pyrbm.Hamiltonian
        Bit-identical to the one that was saved.

    Raises
    ------
    ValueError
        The file stores no model (save a trajectory with ``pyrbm.save(ds, path, hamiltonian=ham)``).
    IntegrityError
        The file is damaged, lacks its checksum or does not match it.
    """
    schema, groups = kind_of(path)
    if schema == SCHEMA:
        with open_verified(path, lazy=False, verify=verify, schema=SCHEMA) as ds:
            return Hamiltonian.from_dataset(ds)
    if GROUP not in groups:
        raise ValueError(f"path: {path} (schema {schema!r}) stores no model: it has no {GROUP!r} group; save a "
                         f"trajectory with pyrbm.save(ds, path, hamiltonian=ham) to store the model with it")
    return Hamiltonian.from_dataset(read_group(path, GROUP))
