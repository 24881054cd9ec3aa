r"""The trajectory schema as code: validate, save (atomic), load, stream.

Every run of pyrbm is one self-describing netCDF4 file holding an
:class:`xarray.Dataset`:

Dimensions
    ``chain``   independent Markov chain;
    ``step``    recorded sweep or Langevin step (unlimited in streamed files);
    ``mode``    singular pair, by descending σ, with coordinate
                ``singular_value(mode)`` (0 for free modes beyond ``min(N, M)``);
    ``visible`` visible unit;  ``hidden`` hidden unit;
    ``epoch``   training epoch;  ``replica`` independent replica (seed);
    plus scan parameters (``n_hidden``, ``seed``, ``beta``, ...) added by scans.

Attributes (flat ``str``/``int``/``float`` only: netCDF has no dict, bool or None)
    required: ``schema`` (= ``"pyrbm.trajectory/1"``), ``pyrbm_version``,
    ``created`` (ISO 8601, UTC); ``units`` (``"binary"``/``"spin"``) whenever the
    configurations ``v``/``h`` are present. Checked when present: ``beta`` (> 0),
    ``n_visible``/``n_hidden`` (match the ``visible``/``hidden`` sizes), ``seed``
    (integer ≥ 0), ``sampler`` (str); any other settings of what made the file.

Variables
    configurations ``v(..., visible)`` and ``h(..., hidden)``, stored as
    ``int8`` (0/1, or ±1 in spin units), every other variable as it is in
    memory; all compressed with zlib. The Hamiltonian, when given, is stored
    bit-exactly in the netCDF group ``hamiltonian`` (``Hamiltonian.to_dataset``).

Files are written under a temporary name beside the target and renamed into
place, so a crash leaves either the previous file or the new one.
"""

from __future__ import annotations

import datetime as _dt
import os
from numbers import Integral, Real
from pathlib import Path

import netCDF4
import numpy as np
import xarray as xr

from . import __version__
from ._checks import check_bool, check_hamiltonian
from ._io import atomic_path, check_writable, netcdf_serialised

__all__ = [
    "SCHEMA",
    "DIMS",
    "REQUIRED_ATTRS",
    "validate",
    "save",
    "load",
    "load_hamiltonian",
]

SCHEMA = "pyrbm.trajectory/1"

#: The dimensions of the schema and what they index.
DIMS = {
    "chain": "independent Markov chain",
    "step": "recorded sweep or Langevin step",
    "mode": "singular pair k, by descending singular value (coordinate singular_value)",
    "visible": "visible unit i",
    "hidden": "hidden unit j",
    "epoch": "training epoch",
    "replica": "independent replica (seed)",
}

#: Attributes every trajectory must carry.
REQUIRED_ATTRS = ("schema", "pyrbm_version", "created")

HAMILTONIAN_GROUP = "hamiltonian"
CONFIG_LAYERS = {"v": "visible", "h": "hidden"}
_COMPRESSION = {"zlib": True, "complevel": 4}
_CHUNK_BYTES = 1 << 20  # target size of one HDF5 chunk of a streamed variable


# ----------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------
def _is_flat_attr(value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    return isinstance(value, (str, Integral, Real, np.integer, np.floating))


def _describe(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) < 40 else text[:37] + '...'}"


def _in_memory(var: xr.Variable) -> bool:
    return bool(getattr(var, "_in_memory", True))


def _config_values_problem(name: str, values: np.ndarray, units) -> str | None:
    allowed = (-1, 1) if units == "spin" else (0, 1)
    if values.dtype.kind not in "iufb":
        return f"variable {name!r}: expected numeric configurations, got dtype {values.dtype}"
    if values.size and not np.all((values == allowed[0]) | (values == allowed[1])):
        return (
            f"variable {name!r}: {units or 'binary'} configurations take the values "
            f"{allowed[0]} and {allowed[1]} only (they are stored as int8); store probabilities "
            f"or means under another name"
        )
    return None


def _problems(ds: xr.Dataset) -> list[str]:
    problems: list[str] = []
    attrs = ds.attrs
    missing = [k for k in REQUIRED_ATTRS if k not in attrs]
    if missing:
        problems.append(
            f"missing required attribute(s) {missing}; save() and TrajectoryWriter add them, "
            f"or set them yourself (schema={SCHEMA!r})"
        )
    if "schema" in attrs and attrs["schema"] != SCHEMA:
        problems.append(f"attribute 'schema' is {attrs['schema']!r}, expected {SCHEMA!r}")
    for key in ("pyrbm_version", "created", "sampler"):
        if key in attrs and not isinstance(attrs[key], str):
            problems.append(f"attribute {key!r} must be a str, got {_describe(attrs[key])}")
    if "units" in attrs:
        if attrs["units"] not in ("binary", "spin"):
            problems.append(f"attribute 'units' must be 'binary' or 'spin', got {attrs['units']!r}")
    elif any(k in ds.variables for k in CONFIG_LAYERS):
        problems.append("attribute 'units' ('binary' or 'spin') is required when configurations v/h are stored")
    if "beta" in attrs and not (
        _is_flat_attr(attrs["beta"]) and not isinstance(attrs["beta"], str)
        and np.isfinite(attrs["beta"]) and attrs["beta"] > 0
    ):
        problems.append(f"attribute 'beta' must be a finite number > 0, got {_describe(attrs['beta'])}")
    for key in ("n_visible", "n_hidden", "seed"):
        if key in attrs:
            val = attrs[key]
            if isinstance(val, (bool, np.bool_)) or not isinstance(val, (Integral, np.integer)) or val < 0:
                problems.append(f"attribute {key!r} must be an integer >= 0, got {_describe(val)}")
    for key, dim in (("n_visible", "visible"), ("n_hidden", "hidden")):
        if key in attrs and dim in ds.sizes and isinstance(attrs[key], (Integral, np.integer)):
            if int(attrs[key]) != ds.sizes[dim]:
                problems.append(
                    f"attribute {key!r} = {attrs[key]} does not match the size {ds.sizes[dim]} of dimension {dim!r}"
                )
    for key, val in attrs.items():
        if not isinstance(key, str):
            problems.append(f"attribute name {key!r} must be a str")
        elif not _is_flat_attr(val):
            problems.append(
                f"attribute {key!r} is {_describe(val)}; netCDF attributes must be flat str, int or float "
                f"(encode bools as 0/1, drop None, flatten dicts into separate keys)"
            )
    for name, var in ds.variables.items():
        if not isinstance(name, str) or "/" in name or not name:
            problems.append(f"variable name {name!r} must be a non-empty str without '/'")
        for key, val in var.attrs.items():
            if not _is_flat_attr(val):
                problems.append(
                    f"variable {name!r}: attribute {key!r} is {_describe(val)}; use a flat str, int or float"
                )
        if var.dtype.kind in "cV":
            problems.append(
                f"variable {name!r}: dtype {var.dtype} cannot be stored; convert to a real numeric dtype"
            )
    if "mode" in ds.dims:
        sv = ds.coords.get("singular_value")
        if sv is None or sv.dims != ("mode",):
            problems.append(
                "dimension 'mode' needs the coordinate 'singular_value' with dims ('mode',) "
                "(0 for free modes beyond min(N, M))"
            )
    for name, dim in CONFIG_LAYERS.items():
        if name in ds.variables:
            var = ds.variables[name]
            if dim not in var.dims:
                problems.append(f"variable {name!r}: expected a {dim!r} dimension, got dims {var.dims}")
            elif _in_memory(var):
                msg = _config_values_problem(name, np.asarray(var.values), attrs.get("units"))
                if msg:
                    problems.append(msg)
    return problems


def validate(ds: xr.Dataset) -> xr.Dataset:
    """Check a dataset against the trajectory schema.

    Parameters
    ----------
    ds : xarray.Dataset
        A trajectory, training history or scan result.

    Returns
    -------
    xarray.Dataset
        ``ds`` itself, unchanged, so calls can be chained.

    Raises
    ------
    TypeError
        ``ds`` is not an ``xarray.Dataset``.
    ValueError
        Listing every problem found: missing required attributes, a wrong
        ``schema``, attributes that are not flat str/int/float, inconsistent
        ``n_visible``/``n_hidden``, a ``mode`` dimension without its
        ``singular_value`` coordinate, configurations that are not 0/1 (±1 in
        spin units), dtypes netCDF cannot store. Values of lazily loaded
        configurations are not read.
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds: expected an xarray.Dataset, got {type(ds).__name__}")
    problems = _problems(ds)
    if problems:
        raise ValueError(
            f"ds: not a valid {SCHEMA} dataset ({len(problems)} problem(s)):\n  - " + "\n  - ".join(problems)
        )
    return ds


# ----------------------------------------------------------------------------
# helpers shared by save() and TrajectoryWriter
# ----------------------------------------------------------------------------
def _check_hamiltonian(hamiltonian):
    return None if hamiltonian is None else check_hamiltonian(hamiltonian, "hamiltonian")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _stamp(attrs: dict, hamiltonian) -> dict:
    """Provenance attributes that are missing, and the Hamiltonian's settings."""
    out = dict(attrs)
    out.setdefault("schema", SCHEMA)
    out.setdefault("pyrbm_version", __version__)
    out.setdefault("created", _now())
    if hamiltonian is not None:
        out.setdefault("units", hamiltonian.units)
        out.setdefault("beta", float(hamiltonian.beta))
        out.setdefault("n_visible", int(hamiltonian.n_visible))
        out.setdefault("n_hidden", int(hamiltonian.n_hidden))
    return out


def _hamiltonian_problems(ds: xr.Dataset, hamiltonian) -> list[str]:
    if hamiltonian is None:
        return []
    out = []
    for dim, n in (("visible", hamiltonian.n_visible), ("hidden", hamiltonian.n_hidden)):
        if dim in ds.sizes and ds.sizes[dim] != n:
            out.append(f"hamiltonian: has {n} {dim} units but the dataset's {dim!r} dimension has size {ds.sizes[dim]}")
    if "units" in ds.attrs and ds.attrs["units"] != hamiltonian.units:
        out.append(f"hamiltonian: units {hamiltonian.units!r} differ from the dataset's units {ds.attrs['units']!r}")
    return out


def _prepare(ds: xr.Dataset, hamiltonian) -> xr.Dataset:
    """Stamp, validate, cast configurations to int8 and drop stale encodings."""
    ds = ds.copy(deep=False)
    ds.attrs = _stamp(ds.attrs, hamiltonian)
    problems = _problems(ds) + _hamiltonian_problems(ds, hamiltonian)
    if problems:
        raise ValueError(
            f"ds: not a valid {SCHEMA} dataset ({len(problems)} problem(s)):\n  - " + "\n  - ".join(problems)
        )
    for name in CONFIG_LAYERS:
        if name in ds.variables and ds.variables[name].dtype != np.int8:
            var = ds.variables[name]
            if not _in_memory(var):
                msg = _config_values_problem(name, np.asarray(var.values), ds.attrs.get("units"))
                if msg:
                    raise ValueError(f"ds: {msg}")
            ds[name] = var.astype(np.int8)
    for var in ds.variables.values():
        var.encoding = {}
    ds.encoding = {}
    return ds


def _encoding(ds: xr.Dataset, chunk_dim: str | None = None) -> dict:
    enc = {}
    for name, var in ds.variables.items():
        if var.dtype.kind not in "iufb" or (name in ds.dims and chunk_dim is None):
            continue
        e = dict(_COMPRESSION)
        if chunk_dim is not None and chunk_dim in var.dims:
            sizes = [ds.sizes[d] for d in var.dims]
            per_step = max(1, var.dtype.itemsize * int(np.prod([s for d, s in zip(var.dims, sizes) if d != chunk_dim])))
            n_step = int(min(4096, max(1, _CHUNK_BYTES // per_step)))
            e["chunksizes"] = tuple(n_step if d == chunk_dim else max(1, s) for d, s in zip(var.dims, sizes))
        enc[name] = e
    return enc


# ----------------------------------------------------------------------------
# save / load
# ----------------------------------------------------------------------------
def save(ds: xr.Dataset, path, hamiltonian=None, overwrite: bool = False) -> Path:
    """Write a trajectory to a netCDF4 file, atomically.

    Missing ``schema``, ``pyrbm_version`` and ``created`` attributes are added
    (and ``units``, ``beta``, ``n_visible``, ``n_hidden`` from the Hamiltonian,
    when one is given); then the dataset is validated (:func:`validate`).
    Configurations ``v``/``h`` are stored as ``int8``, every variable is
    zlib-compressed, and the Hamiltonian goes bit-exactly into the group
    ``"hamiltonian"``. The file is written under a temporary name beside
    ``path`` and renamed into place.

    Parameters
    ----------
    ds : xarray.Dataset
        The trajectory (dims of the schema; see the module docstring).
    path : str or os.PathLike
        Output file (conventionally ``*.nc``).
    hamiltonian : pyrbm.Hamiltonian, optional
        The model that made the trajectory; makes the file self-contained.
    overwrite : bool, default False
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is false (checked before any work).
    FileNotFoundError, PermissionError
        The directory is missing or not writable (checked before any work).
    ValueError
        The dataset does not follow the schema (every problem listed).
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds: expected an xarray.Dataset, got {type(ds).__name__}")
    overwrite = check_bool("overwrite", overwrite)
    hamiltonian = _check_hamiltonian(hamiltonian)
    path = check_writable(path, overwrite)
    ds = _prepare(ds, hamiltonian)
    return write_netcdf(ds, path, hamiltonian, overwrite, encoding=_encoding(ds))


@netcdf_serialised
def write_netcdf(ds: xr.Dataset, path, hamiltonian=None, overwrite: bool = False, encoding=None) -> Path:
    """Write ``ds`` (and ``hamiltonian`` in the group ``hamiltonian``) to netCDF4, atomically.

    The low-level writer behind :func:`save` and the training history files; it does not
    validate against the trajectory schema.
    """
    with atomic_path(path, overwrite) as tmp:
        ds.to_netcdf(tmp, mode="w", format="NETCDF4", engine="netcdf4", encoding=encoding)
        if hamiltonian is not None:
            hamiltonian.to_dataset().to_netcdf(tmp, mode="a", group=HAMILTONIAN_GROUP, engine="netcdf4")
    return Path(path)


def _check_existing(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no file at {path}; check the name (trajectories are written by pyrbm.save)")
    return path


@netcdf_serialised
def load(path, lazy: bool = False) -> xr.Dataset:
    """Read a trajectory written by :func:`save` or :class:`TrajectoryWriter`.

    Parameters
    ----------
    path : str or os.PathLike
        A pyrbm netCDF4 file.
    lazy : bool, default False
        ``False``: every variable is read into memory and the file is closed
        before returning, so it is never held open (a later ``save(...,
        overwrite=True)`` to the same path is safe). ``True``: variables are
        read on access; the file stays open until ``ds.close()`` (use
        ``with pyrbm.load(path, lazy=True) as ds: ...``) -- for trajectories
        larger than memory.

    Returns
    -------
    xarray.Dataset
        Configurations ``v``/``h`` come back as ``int8``. ``ds.encoding["source"]``
        is the file, which ``ds.rbm.hamiltonian()`` uses to read the Hamiltonian.
        The dataset is not validated; call :func:`validate` for that.
    """
    path = _check_existing(path)
    if not isinstance(lazy, (bool, np.bool_)):
        raise TypeError(f"lazy: expected True or False, got {_describe(lazy)}")
    ds = xr.open_dataset(path, engine="netcdf4", cache=not lazy)
    if lazy:
        return ds
    with ds:
        ds.load()
    return ds


@netcdf_serialised
def load_hamiltonian(path):
    """Read the Hamiltonian stored in a trajectory file's ``hamiltonian`` group.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save` or :class:`TrajectoryWriter` with a Hamiltonian.

    Returns
    -------
    pyrbm.Hamiltonian
        Bit-identical to the one that was saved.

    Raises
    ------
    ValueError
        The file has no ``hamiltonian`` group.
    """
    from .hamiltonian import Hamiltonian

    path = _check_existing(path)
    with netCDF4.Dataset(path, "r") as nc:
        has = HAMILTONIAN_GROUP in nc.groups
    if not has:
        raise ValueError(
            f"path: {path} has no {HAMILTONIAN_GROUP!r} group; save the trajectory with "
            f"pyrbm.save(ds, path, hamiltonian=ham) to store the model with it"
        )
    return Hamiltonian.load(path, group=HAMILTONIAN_GROUP)
