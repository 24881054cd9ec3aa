r"""One file layer for every kind of file pyrbm writes.

Each file is a netCDF4 file holding an :class:`xarray.Dataset` whose ``schema`` attribute
names its kind:

=========================  ==============================  ==================================
``schema``                 written by                      :func:`load` returns
=========================  ==============================  ==================================
``"pyrbm.trajectory/2"``   :func:`pyrbm.trajectory.save`,  ``xarray.Dataset`` (dims ``step``,
                           ``Sampler.run(out=...)``        ``chain``, ...)
``"pyrbm.history/2"``      :func:`pyrbm.history.           ``xarray.Dataset`` (dims ``epoch``,
                           save_history`, ``Trainer``      ``mode``)
``"pyrbm.hamiltonian/1"``  :func:`save` of a Hamiltonian,  :class:`pyrbm.Hamiltonian`
                           :meth:`Hamiltonian.save`
=========================  ==============================  ==================================

:func:`save`, :func:`load` and :func:`validate` dispatch on that attribute. Files of the
first redesign (``/1`` trajectories and histories: 0-based ``mode``, no checksum) are
refused with a message saying how to read them with plain xarray.

Conventions, checked by the ``validate`` of every kind:

* provenance: ``schema``, ``pyrbm_version``, ``created`` (ISO 8601, UTC) and
  ``Conventions = "CF-1.10"``, stamped by :func:`stamp` and nowhere else;
* every variable and coordinate has a ``long_name`` and ``units`` (CF). pyrbm's quantities are
  dimensionless: ``units = "1"``. Energies, couplings and fields are measured in units of
  k_B T at beta = 1 (the scale in which the Boltzmann weight is ``exp(-beta E)``), log
  likelihoods in nats; both are ``"1"``, and the ``long_name`` says which. Words that are
  not units (``"energy"``, ``"nats"``, ``"binary"``, ``"spin"``, ``""``) are refused;
* ``mode`` coordinates are 1-based labels (``ds.sel(mode=1)`` is σ₁);
* integrity: every variable (also in the groups) is stored with the HDF5 Fletcher-32 filter,
  and the attribute ``checksum`` holds a SHA-256 digest of the whole content (every group's
  variables, their values, dims, dtypes and attributes, and the global attributes).
  :func:`load` verifies it and raises :class:`IntegrityError` naming the file on a mismatch.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from numbers import Integral, Real
import os
from pathlib import Path

import netCDF4
import numpy as np
import xarray as xr

from . import __version__
from ._io import netcdf_serialised, TemporaryFile, check_writable, write_failed

__all__ = ["CONVENTIONS", "IntegrityError", "stamp", "save", "load", "validate", "kind_of", "cf_problems"]

CONVENTIONS = "CF-1.10"
CHECKSUM_ATTR = "checksum"
#: Attribute values that are not units; dimensionless quantities take ``units = "1"``.
NOT_UNITS = ("", "energy", "nats", "binary", "spin", "none", "dimensionless", "-")
ENERGY_UNIT_NOTE = "in units of k_B T at beta = 1"
#: Files of these schemas have the 0-based mode labels and no checksum of the first redesign.
OLD_SCHEMAS = ("pyrbm.trajectory/1", "pyrbm.history/1")
#: Records hashed per block when a lazily opened file is verified.
_BLOCK_BYTES = 16 << 20


class IntegrityError(ValueError):
    """A file's content does not match its checksum, or it cannot be read at all."""


# ----------------------------------------------------------------------------- provenance
def now() -> str:
    """The current time, ISO 8601 UTC to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def stamp(attrs: dict, schema: str) -> dict:
    """Add the missing provenance attributes: the one place they are made.

    ``schema``, ``pyrbm_version``, ``created`` (now) and ``Conventions`` are set when
    missing; a stale ``checksum`` is dropped (it is recomputed when written).
    """
    out = {k: v for k, v in attrs.items() if k != CHECKSUM_ATTR}
    out.setdefault("schema", schema)
    out.setdefault("pyrbm_version", __version__)
    out.setdefault("created", now())
    out.setdefault("Conventions", CONVENTIONS)
    return out


def provenance_problems(attrs: dict, schema: str) -> list[str]:
    """Missing or wrong provenance attributes."""
    problems = []
    missing = [k for k in ("schema", "pyrbm_version", "created", "Conventions") if k not in attrs]
    if missing:
        problems.append(f"missing required attribute(s) {missing}; pyrbm's save functions add them "
                        f"(schema={schema!r}, Conventions={CONVENTIONS!r})")
    if "schema" in attrs and attrs["schema"] != schema:
        problems.append(f"attribute 'schema' is {attrs['schema']!r}, expected {schema!r}")
    for key in ("pyrbm_version", "created", "Conventions"):
        if key in attrs and not isinstance(attrs[key], str):
            problems.append(f"attribute {key!r} must be a str, got {type(attrs[key]).__name__}")
    return problems


def cf_problems(ds: xr.Dataset, where: str = "") -> list[str]:
    """Variables or coordinates without a ``long_name`` or with a missing/invalid ``units``."""
    problems = []
    for name, var in ds.variables.items():
        what = f"{where}{'coordinate' if name in ds.coords else 'variable'} {name!r}"
        ln = var.attrs.get("long_name")
        if not isinstance(ln, str) or not ln.strip():
            problems.append(f"{what}: needs a 'long_name' attribute (what it is, in words)")
        units = var.attrs.get("units")
        if not isinstance(units, str):
            problems.append(f"{what}: needs a 'units' attribute ('1' for dimensionless quantities)")
        elif units.strip().lower() in NOT_UNITS:
            problems.append(f"{what}: units {units!r} is not a unit; use '1' for dimensionless quantities "
                            f"(energies: '1' with '{ENERGY_UNIT_NOTE}' in the long_name)")
    return problems


def mode_problems(ds: xr.Dataset) -> list[str]:
    """A ``mode`` coordinate must hold distinct 1-based integer labels."""
    if "mode" not in ds.coords:
        return []
    labels = np.asarray(ds["mode"].values)
    if labels.dtype.kind not in "iu" or labels.size and (labels.min() < 1 or len(set(labels.tolist())) != labels.size):
        return [f"coordinate 'mode' must hold distinct 1-based integer labels (mode=1 is sigma_1), "
                f"got {labels.tolist()[:8]}"]
    return []


# ----------------------------------------------------------------------------- checksum
def _canonical_attr(value) -> str:
    if isinstance(value, (str, bytes)):
        return "s:" + (value.decode() if isinstance(value, bytes) else value)
    if isinstance(value, (Integral, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return f"i:{int(value)}"
    if isinstance(value, (Real, np.floating)):
        return "f:" + float(value).hex()
    return "r:" + repr(np.asarray(value).tolist())


def _header(name: str, var: xr.Variable, shape) -> bytes:
    kind = "str" if var.dtype.kind in "OUS" else var.dtype.str
    attrs = ";".join(f"{k}={_canonical_attr(v)}" for k, v in sorted(var.attrs.items()))
    return f"{name}|{','.join(var.dims)}|{kind}|{tuple(shape)}|{attrs}".encode()


def block_bytes(values: np.ndarray, dims) -> bytes:
    """Canonical bytes of a block of a variable: ``step`` first, C order (strings joined)."""
    values = np.asarray(values)
    if "step" in dims:
        values = np.moveaxis(values, list(dims).index("step"), 0)
    if values.dtype.kind in "OUS":
        return "\x1f".join(str(x) for x in values.ravel()).encode()
    return np.ascontiguousarray(values).tobytes()


def _blocks(var: xr.Variable):
    if "step" not in var.dims or getattr(var, "_in_memory", True):
        yield var.values
        return
    per = max(1, var.dtype.itemsize * int(np.prod([s for d, s in var.sizes.items() if d != "step"])))
    n = max(1, _BLOCK_BYTES // per)
    for i in range(0, var.sizes["step"], n):
        yield var.isel(step=slice(i, i + n)).values


class ContentHash:
    """The checksum of a file's content, fed group by group (streams feed ``step`` blocks)."""

    def __init__(self):
        self._entries: dict[str, bytes] = {}

    def add_dataset(self, group: str, ds: xr.Dataset, data_digests: dict | None = None,
                    keep: dict | None = None) -> None:
        """Hash ``ds`` (stored as ``group``; ``""`` is the root).

        ``data_digests`` are digests of values hashed elsewhere (streamed); ``keep`` receives
        the hash objects of the ``step`` variables, to be fed more records (a continued run).
        """
        data_digests = data_digests or {}
        attrs = ";".join(f"{k}={_canonical_attr(v)}" for k, v in sorted(ds.attrs.items()) if k != CHECKSUM_ATTR)
        self._entries[f"{group}/"] = attrs.encode()
        for name, var in ds.variables.items():
            if name in data_digests:
                digest = data_digests[name]
            else:
                h = hashlib.sha256()
                for block in _blocks(var):
                    h.update(block_bytes(block, var.dims))
                digest = h.digest()
                if keep is not None and "step" in var.dims:
                    keep[name] = h
            self._entries[f"{group}/{name}"] = _header(name, var, var.shape) + b"|" + digest

    def hexdigest(self) -> str:
        h = hashlib.sha256()
        for key in sorted(self._entries):
            h.update(key.encode() + b"\x00" + self._entries[key] + b"\x00")
        return "sha256:" + h.hexdigest()


def checksum(groups: dict) -> str:
    """The checksum of ``{group name ("" = root): Dataset}``."""
    ch = ContentHash()
    for name, ds in groups.items():
        ch.add_dataset(name, ds)
    return ch.hexdigest()


def with_group_checksum(name: str, ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with its own ``checksum`` attribute, so that the group can be verified alone."""
    ds = ds.copy(deep=False)
    ds.attrs = {k: v for k, v in ds.attrs.items() if k != CHECKSUM_ATTR}
    ds.attrs[CHECKSUM_ATTR] = checksum({name: ds})
    return ds


@netcdf_serialised
def read_group(path, group: str, *, verify: bool = True) -> xr.Dataset:
    """A group of a pyrbm file, in memory, its own checksum verified (and stripped)."""
    path = _check_existing(path)
    try:
        with xr.open_dataset(path, engine="netcdf4", group=group) as ds:
            ds = ds.load()
    except (OSError, RuntimeError, ValueError, KeyError, IndexError, TypeError, OverflowError) as exc:
        raise _damaged(path, exc) from exc
    stored = ds.attrs.pop(CHECKSUM_ATTR, None)
    if verify and stored is not None and checksum({group: ds}) != stored:
        raise IntegrityError(f"path: the group {group!r} of {path} does not match its checksum: the file was "
                             f"damaged after it was written; restore it from a copy or write it again")
    return ds


# ----------------------------------------------------------------------------- writing
def encoding(ds: xr.Dataset, *, compress: bool = True, chunks: dict | None = None) -> dict:
    """netCDF encoding: Fletcher-32 on every variable with dims, zlib when ``compress``.

    ``chunks`` maps a variable name to its chunk sizes.
    """
    enc = {}
    for name, var in ds.variables.items():
        if var.dtype.kind not in "iufb":
            continue
        e = {}
        if var.ndim:
            e["fletcher32"] = True
        if compress and (name not in ds.dims or chunks):
            e.update(zlib=True, complevel=4)
        if chunks and name in chunks:
            e["chunksizes"] = chunks[name]
        enc[name] = e
    return enc


def _clean(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy(deep=False)
    for var in ds.variables.values():
        var.encoding = {}
    ds.encoding = {}
    return ds


@netcdf_serialised
def write(path, groups: dict, *, overwrite: bool = False, compress: bool = True) -> Path:
    """Write ``{group ("" = root): Dataset}`` atomically, with the checksum and Fletcher-32.

    The datasets must be prepared (stamped, validated) by the caller. Raises
    :class:`OSError` naming ``path`` when the write fails (full disk, ...), and
    :class:`FileExistsError` when another process created ``path`` meanwhile
    (``overwrite=False``).
    """
    path = check_writable(path, overwrite)
    groups = {name: _clean(ds) if not name else with_group_checksum(name, _clean(ds)) for name, ds in groups.items()}
    root = groups[""]
    root.attrs[CHECKSUM_ATTR] = checksum(groups)
    handle = TemporaryFile(path, overwrite)
    try:
        try:
            root.to_netcdf(handle.tmp, mode="w", format="NETCDF4", engine="netcdf4",
                           encoding=encoding(root, compress=compress))
            handle.created()
            for name, ds in groups.items():
                if name:
                    handle.check()
                    ds.to_netcdf(handle.tmp, mode="a", group=name, engine="netcdf4",
                                 encoding=encoding(ds, compress=False))
        except (FileNotFoundError, FileExistsError):
            raise
        except (OSError, RuntimeError) as exc:
            raise write_failed(path, exc, handle.tmp) from exc
        handle.commit()
    finally:
        handle.release()
    return Path(path)


# ----------------------------------------------------------------------------- reading
def _check_existing(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no file at {path}; check the name (pyrbm files are written by pyrbm.save)")
    return path


def _damaged(path, exc) -> IntegrityError:
    return IntegrityError(f"path: cannot read {path} ({type(exc).__name__}: {exc}); the file is damaged or "
                          f"not a netCDF4 file written by pyrbm; restore it from a copy or write it again")


@netcdf_serialised
def kind_of(path) -> tuple[str | None, list[str]]:
    """The ``schema`` attribute of a file and the names of its groups."""
    path = _check_existing(path)
    try:
        with netCDF4.Dataset(path, "r") as nc:
            schema = nc.getncattr("schema") if "schema" in nc.ncattrs() else None
            return schema, list(nc.groups)
    except OSError as exc:
        raise _damaged(path, exc) from exc


def _refuse_old(path, schema):
    raise ValueError(
        f"path: {path} is a {schema!r} file, written by pyrbm before mode labels became 1-based and "
        f"files carried checksums; this pyrbm reads only '/2' files. Read it with "
        f"xarray.open_dataset(path) (add 1 to ds['mode'] for 1-based labels), then pyrbm.save it again")


@netcdf_serialised
def open_verified(path, *, lazy: bool, verify: bool, schema: str | None = None,
                  keep: dict | None = None) -> xr.Dataset:
    """Open the root dataset of a pyrbm file, verify its checksum, strip the ``checksum`` attribute.

    The checksum goes to ``ds.encoding["checksum"]``; ``ds.encoding["source"]`` is the file.
    ``keep`` receives the hash objects of the ``step`` variables (:meth:`ContentHash.add_dataset`).
    """
    path = _check_existing(path)
    file_schema, groups = kind_of(path)
    if file_schema in OLD_SCHEMAS:
        _refuse_old(path, file_schema)
    if schema is not None and file_schema != schema:
        raise ValueError(f"path: {path} has schema {file_schema!r}, expected {schema!r}; "
                         f"pyrbm.load(path) reads every kind of pyrbm file")
    try:
        ds = xr.open_dataset(path, engine="netcdf4", cache=not lazy)
        try:
            if not lazy:
                ds.load()
            stored = ds.attrs.get(CHECKSUM_ATTR)
            if verify:
                if stored is None and file_schema not in ("pyrbm.hamiltonian/1",):
                    raise IntegrityError(f"path: {path} has no {CHECKSUM_ATTR!r} attribute, which every "
                                         f"{file_schema} file carries; it is damaged or was not written by pyrbm")
                if stored is not None:
                    ch = ContentHash()
                    ch.add_dataset("", ds, keep=keep)
                    for g in groups:
                        with xr.open_dataset(path, engine="netcdf4", group=g) as gds:
                            ch.add_dataset(g, gds.load())
                    if ch.hexdigest() != stored:
                        raise IntegrityError(
                            f"path: {path} does not match its checksum: the file was damaged after it was "
                            f"written (disk, transfer or a later edit); restore it from a copy or write it again")
        except BaseException:
            ds.close()
            raise
    except (IntegrityError, KeyboardInterrupt):
        raise
    except (OSError, RuntimeError, ValueError, KeyError, IndexError, TypeError, OverflowError) as exc:
        raise _damaged(path, exc) from exc
    ds.attrs.pop(CHECKSUM_ATTR, None)
    if stored is not None:
        ds.encoding[CHECKSUM_ATTR] = stored
    return ds


# ----------------------------------------------------------------------------- dispatch
def _hamiltonian_cls():
    from .hamiltonian import Hamiltonian

    return Hamiltonian


def _hamiltonian_schema() -> str:
    from .hamiltonian import SCHEMA

    return SCHEMA


def save(obj, path, *, hamiltonian=None, overwrite: bool = False) -> Path:
    """Write any pyrbm object to a netCDF4 file (atomic, checksummed).

    Parameters
    ----------
    obj : xarray.Dataset or pyrbm.Hamiltonian
        A trajectory (``schema`` ``"pyrbm.trajectory/2"`` or none), a training history
        (``"pyrbm.history/2"``) or a Hamiltonian.
    path : str or os.PathLike
    hamiltonian : pyrbm.Hamiltonian, optional
        Stored with a dataset in the group ``hamiltonian``.
    overwrite : bool, default False

    Returns
    -------
    pathlib.Path
    """
    from . import history, trajectory

    if isinstance(obj, _hamiltonian_cls()):
        if hamiltonian is not None:
            raise ValueError("hamiltonian: saving a Hamiltonian itself; leave hamiltonian=None")
        from ._checks import check_bool

        check_bool("overwrite", overwrite)
        ds = obj.to_dataset()
        ds.attrs = stamp(ds.attrs, ds.attrs["schema"])
        return write(path, {"": ds}, overwrite=overwrite, compress=False)
    if not isinstance(obj, xr.Dataset):
        raise TypeError(f"obj: expected an xarray.Dataset or a pyrbm.Hamiltonian, got {type(obj).__name__}")
    schema = obj.attrs.get("schema")
    if schema == history.SCHEMA:
        return history.save_history(obj, path, hamiltonian=hamiltonian, overwrite=overwrite)
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
        Trajectories and histories as datasets (:func:`pyrbm.trajectory.load`,
        :func:`pyrbm.history.load_history`), Hamiltonian files as a Hamiltonian.

    Raises
    ------
    FileNotFoundError
    IntegrityError
        The file does not match its checksum or cannot be read.
    ValueError
        Not a pyrbm file, or a ``/1`` file of the first redesign.
    """
    from . import history, trajectory

    schema, _ = kind_of(path)
    if schema == trajectory.SCHEMA:
        return trajectory.load(path, lazy=lazy, verify=verify)
    if schema == history.SCHEMA:
        return history.load_history(path, lazy=lazy, verify=verify)
    if schema == _hamiltonian_schema():
        with open_verified(path, lazy=False, verify=verify, schema=schema) as ds:
            return _hamiltonian_cls().from_dataset(ds)
    if schema in OLD_SCHEMAS:
        _refuse_old(path, schema)
    raise ValueError(f"path: {path} is not a pyrbm file (schema {schema!r}); pyrbm reads "
                     f"{trajectory.SCHEMA!r}, {history.SCHEMA!r} and {_hamiltonian_schema()!r} files")


def validate(ds: xr.Dataset) -> xr.Dataset:
    """Check a dataset against the schema named by its ``schema`` attribute (trajectory when absent).

    Returns ``ds``; raises ``ValueError`` listing every problem.
    """
    from . import history, trajectory

    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds: expected an xarray.Dataset, got {type(ds).__name__}")
    schema = ds.attrs.get("schema")
    if schema == history.SCHEMA:
        return history.validate(ds)
    if schema == _hamiltonian_schema():
        problems = provenance_problems(ds.attrs, schema) + cf_problems(ds)
        problems += [f"missing variable {k!r}" for k in ("W", "a", "b") if k not in ds]
        if problems:
            raise ValueError(f"ds: not a valid {schema} dataset ({len(problems)} problem(s)):\n  - "
                             + "\n  - ".join(problems))
        return ds
    return trajectory.validate(ds)
