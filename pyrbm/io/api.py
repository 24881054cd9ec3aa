r"""The one dispatch point of the file layer: :func:`save`, :func:`load`, :func:`validate`.

Each file is a netCDF4 file holding an :class:`xarray.Dataset` whose ``schema`` attribute
names its kind:

=========================  ==============================  ==================================
``schema``                 written by                      :func:`load` returns
=========================  ==============================  ==================================
``"pyrbm.trajectory/2"``   :func:`pyrbm.io.trajectory.save`,  ``xarray.Dataset`` (dims ``step``,
                           ``Sampler.run(out=...)``        ``chain``, ...)
``"pyrbm.history/2"``      :func:`pyrbm.io.history.           ``xarray.Dataset`` (dims ``epoch``,
                           save_history`, ``Trainer``      ``mode``)
``"pyrbm.hamiltonian/1"``  :func:`save` of a Hamiltonian   :class:`pyrbm.Hamiltonian`
``"pyrbm.result/1"``       :func:`save` of a dataset with  ``xarray.Dataset`` (any labelled
                           that ``schema`` (a study's      measurement)
                           measurements)
=========================  ==============================  ==================================

:func:`save`, :func:`load` and :func:`validate` dispatch on that attribute. Files of the
first redesign (``/1`` trajectories and histories: 0-based ``mode``, no checksum) are
refused with a message saying how to read them with plain xarray.

The conventions every kind follows (provenance, CF attributes, 1-based modes, checksums)
are those of :mod:`pyrbm.io.netcdf`.
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from ..hamiltonian import Hamiltonian
from . import history, model, result, trajectory
from .netcdf import OLD_SCHEMAS, IntegrityError, kind_of, refuse_old

__all__ = ["IntegrityError", "SCHEMAS", "save", "load", "validate"]

#: Every kind of file pyrbm writes, by ``schema``.
SCHEMAS = (trajectory.SCHEMA, history.SCHEMA, model.SCHEMA, result.SCHEMA)


def save(obj, path, *, hamiltonian=None, overwrite: bool = False) -> Path:
    """Write any pyrbm object to a netCDF4 file (atomic, checksummed).

    Parameters
    ----------
    obj : xarray.Dataset or pyrbm.Hamiltonian
        A trajectory (``schema`` ``"pyrbm.trajectory/2"`` or none), a training history
        (``"pyrbm.history/2"``), a measurement (``"pyrbm.result/1"``) or a Hamiltonian.
    path : str or os.PathLike
    hamiltonian : pyrbm.Hamiltonian, optional
        Stored with a trajectory or history in the group ``hamiltonian``.
    overwrite : bool, default False

    Returns
    -------
    pathlib.Path
    """
    if isinstance(obj, Hamiltonian):
        if hamiltonian is not None:
            raise ValueError("hamiltonian: saving a Hamiltonian itself; leave hamiltonian=None")
        return model.save_model(obj, path, overwrite=overwrite)
    if not isinstance(obj, xr.Dataset):
        raise TypeError(f"obj: expected an xarray.Dataset or a pyrbm.Hamiltonian, got {type(obj).__name__}")
    schema = obj.attrs.get("schema")
    if schema == history.SCHEMA:
        return history.save_history(obj, path, hamiltonian=hamiltonian, overwrite=overwrite)
    if schema == result.SCHEMA:
        if hamiltonian is not None:
            raise ValueError("hamiltonian: a pyrbm.result/1 dataset is stored alone; save the model "
                             "to its own file (pyrbm.save(ham, path))")
        return result.save_result(obj, path, overwrite=overwrite)
    if schema not in (None, trajectory.SCHEMA):
        raise ValueError(f"obj: attribute 'schema' is {schema!r}; pyrbm writes {SCHEMAS} "
                         f"(a trajectory when the attribute is absent)")
    return trajectory.save(obj, path, hamiltonian=hamiltonian, overwrite=overwrite)


def load(path, *, lazy: bool = False, verify: bool = True):
    """Read any file pyrbm writes; the kind is its ``schema`` attribute.

    Parameters
    ----------
    path : str or os.PathLike
    lazy : bool, default False
        Datasets only: read variables on access (the file stays open until ``ds.close()``).
    verify : bool, default True
        Check the stored checksum (reads the whole file once, in blocks when ``lazy``).

    Returns
    -------
    xarray.Dataset or pyrbm.Hamiltonian
        Trajectories, histories and results as datasets, model files as a Hamiltonian.

    Raises
    ------
    FileNotFoundError
    IntegrityError
        The file does not match its checksum, lacks it, or cannot be read.
    ValueError
        Not a pyrbm file, or a ``/1`` file of the first redesign.
    """
    schema, _ = kind_of(path)
    if schema == trajectory.SCHEMA:
        return trajectory.load(path, lazy=lazy, verify=verify)
    if schema == history.SCHEMA:
        return history.load_history(path, lazy=lazy, verify=verify)
    if schema == result.SCHEMA:
        return result.load_result(path, lazy=lazy, verify=verify)
    if schema == model.SCHEMA:
        return model.read_model(path, verify=verify)
    if schema in OLD_SCHEMAS:
        refuse_old(path, schema)
    raise ValueError(f"path: {path} is not a pyrbm file (schema {schema!r}); pyrbm reads {SCHEMAS} files")


def validate(ds: xr.Dataset) -> xr.Dataset:
    """Check a dataset against the schema named by its ``schema`` attribute (trajectory when absent).

    Returns ``ds``; raises ``ValueError`` listing every problem.
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds: expected an xarray.Dataset, got {type(ds).__name__}")
    schema = ds.attrs.get("schema")
    if schema == history.SCHEMA:
        return history.validate(ds)
    if schema == model.SCHEMA:
        return model.validate(ds)
    if schema == result.SCHEMA:
        return result.validate(ds)
    return trajectory.validate(ds)
