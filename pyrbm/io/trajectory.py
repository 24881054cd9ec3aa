r"""The trajectory schema as code: validate, save (atomic), load, stream.

Every run of pyrbm is one self-describing netCDF4 file holding an
:class:`xarray.Dataset`:

Dimensions
    ``chain``   independent Markov chain;
    ``step``    recorded sweep or Langevin step (unlimited in streamed files);
    ``mode``    singular pair, by descending σ, labelled 1..K (``sel(mode=1)`` is σ₁),
                with coordinate ``singular_value(mode)`` (0 for free modes beyond ``min(N, M)``);
    ``visible`` visible unit;  ``hidden`` hidden unit;
    ``epoch``   training epoch;  ``replica`` independent replica (seed);
    plus scan parameters (``n_hidden``, ``seed``, ``beta``, ...) added by scans.

Attributes (flat ``str``/``int``/``float`` only: netCDF has no dict, bool or None)
    required: ``schema`` (= ``"pyrbm.trajectory/2"``), ``pyrbm_version``,
    ``created`` (ISO 8601, UTC), ``Conventions`` (``"CF-1.10"``), ``checksum`` (in files); ``units`` (``"binary"``/``"spin"``) whenever the
    configurations ``v``/``h`` are present. Checked when present: ``beta`` (> 0),
    ``n_visible``/``n_hidden`` (match the ``visible``/``hidden`` sizes), ``seed``
    (integer ≥ 0), ``sampler`` (str); any other settings of what made the file.

Variables
    every variable and coordinate has ``long_name`` and ``units`` (``"1"`` for
    dimensionless; energies in units of k_B T at beta = 1, see :mod:`pyrbm.io.netcdf`);
    configurations ``v(..., visible)`` and ``h(..., hidden)``, stored as
    ``int8`` (0/1, or ±1 in spin units), every other variable as it is in
    memory; all compressed with zlib. The Hamiltonian, when given, is stored
    bit-exactly in the netCDF group ``hamiltonian`` (``Hamiltonian.to_dataset``), the
    sampler state after the last record in the group ``state`` (``state.to_dataset()``),
    so that a run can be continued from its file alone.

Files are written under a temporary name beside the target and moved into
place (:mod:`pyrbm.io.netcdf`), so a crash leaves either the previous file or the new
one; every variable is checksummed (:mod:`pyrbm.io.netcdf`).
"""

from __future__ import annotations

from numbers import Integral
from pathlib import Path

import numpy as np
import xarray as xr

from .._checks import check_bool, check_hamiltonian
from .netcdf import (cf_problems, is_flat_attr, mode_problems, open_verified, provenance_problems,
                     read_group, stamp, write)

__all__ = [
    "SCHEMA",
    "DIMS",
    "COORD_ATTRS",
    "REQUIRED_ATTRS",
    "validate",
    "save",
    "load",
    "read_state",
]

SCHEMA = "pyrbm.trajectory/2"

#: The dimensions of the schema and what they index.
DIMS = {
    "chain": "independent Markov chain",
    "step": "recorded sweep or Langevin step",
    "mode": "singular pair k = 1..K, by descending singular value (coordinate singular_value)",
    "visible": "visible unit i",
    "hidden": "hidden unit j",
    "epoch": "training epoch",
    "replica": "independent replica (seed)",
}

#: ``long_name`` (short: a plot's label), ``units`` and ``description`` of the schema's
#: coordinates, filled in when a producer left them out.
COORD_ATTRS = {
    "step": {"long_name": "step", "units": "1", "description": "sweep or step number since initialisation"},
    "chain": {"long_name": "chain", "units": "1", "description": "chain index"},
    "mode": {"long_name": "mode k", "units": "1", "description": "singular pair label k (1 = largest singular value)"},
    "singular_value": {"long_name": r"singular value $\sigma$", "units": "1",
                       "description": "singular value sigma_k of W (in units of k_B T at beta = 1)"},
    "visible": {"long_name": "visible unit i", "units": "1", "description": "visible unit index"},
    "hidden": {"long_name": "hidden unit j", "units": "1", "description": "hidden unit index"},
    "epoch": {"long_name": "epoch", "units": "1", "description": "training epoch"},
    "replica": {"long_name": "replica", "units": "1", "description": "replica index"},
}

#: Attributes every trajectory must carry.
REQUIRED_ATTRS = ("schema", "pyrbm_version", "created", "Conventions")

HAMILTONIAN_GROUP = "hamiltonian"
STATE_GROUP = "state"
CONFIG_LAYERS = {"v": "visible", "h": "hidden"}
_CHUNK_BYTES = 1 << 20  # target size of one HDF5 chunk of a streamed variable


# ----------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------
def _describe(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) < 40 else text[:37] + '...'}"


def _in_memory(var: xr.Variable) -> bool:
    return bool(getattr(var, "_in_memory", True))


def check_chunk_values(name: str, values: np.ndarray, units) -> str | None:
    """A problem with configuration values ``values`` of variable ``name`` (or None)."""
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
    problems += provenance_problems(attrs, SCHEMA)
    for key in ("sampler",):
        if key in attrs and not isinstance(attrs[key], str):
            problems.append(f"attribute {key!r} must be a str, got {_describe(attrs[key])}")
    if "units" in attrs:
        if attrs["units"] not in ("binary", "spin"):
            problems.append(f"attribute 'units' must be 'binary' or 'spin', got {attrs['units']!r}")
    elif any(k in ds.variables for k in CONFIG_LAYERS):
        problems.append("attribute 'units' ('binary' or 'spin') is required when configurations v/h are stored")
    if "beta" in attrs and not (
        is_flat_attr(attrs["beta"]) and not isinstance(attrs["beta"], str)
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
        elif not is_flat_attr(val):
            problems.append(
                f"attribute {key!r} is {_describe(val)}; netCDF attributes must be flat str, int or float "
                f"(encode bools as 0/1, drop None, flatten dicts into separate keys)"
            )
    for name, var in ds.variables.items():
        if not isinstance(name, str) or "/" in name or not name:
            problems.append(f"variable name {name!r} must be a non-empty str without '/'")
        for key, val in var.attrs.items():
            if not is_flat_attr(val):
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
    problems += cf_problems(ds)
    problems += mode_problems(ds)
    for name, dim in CONFIG_LAYERS.items():
        if name in ds.variables:
            var = ds.variables[name]
            if dim not in var.dims:
                problems.append(f"variable {name!r}: expected a {dim!r} dimension, got dims {var.dims}")
            elif _in_memory(var):
                msg = check_chunk_values(name, np.asarray(var.values), attrs.get("units"))
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
        ``schema``, a variable or coordinate without ``long_name`` and ``units``,
        ``mode`` labels that are not 1-based, attributes that are not flat str/int/float, inconsistent
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
def optional_hamiltonian(hamiltonian):
    """``None``, or ``hamiltonian`` checked to be a :class:`pyrbm.Hamiltonian`."""
    return None if hamiltonian is None else check_hamiltonian(hamiltonian, "hamiltonian")


def _settings(attrs: dict, hamiltonian) -> dict:
    """Provenance (:func:`pyrbm.io.netcdf.stamp`) and the Hamiltonian's settings, where missing."""
    out = stamp(attrs, SCHEMA)
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


def complete(ds: xr.Dataset, hamiltonian=None) -> xr.Dataset:
    """A shallow copy with provenance, the Hamiltonian's settings and the schema's coordinate attrs added."""
    ds = ds.copy(deep=False)
    ds.attrs = _settings(ds.attrs, hamiltonian)
    for name, attrs in COORD_ATTRS.items():
        if name in ds.coords:  # a producer's own long_name keeps its own description (or none)
            given = ds[name].attrs
            fill = {"units": attrs["units"]} if "long_name" in given else attrs
            ds[name].attrs = {**fill, **given}
    return ds


def prepare(ds: xr.Dataset, hamiltonian) -> xr.Dataset:
    """Complete (:func:`complete`), validate, cast configurations to int8, drop stale encodings."""
    ds = complete(ds, hamiltonian)
    problems = _problems(ds) + _hamiltonian_problems(ds, hamiltonian)
    if problems:
        raise ValueError(
            f"ds: not a valid {SCHEMA} dataset ({len(problems)} problem(s)):\n  - " + "\n  - ".join(problems)
        )
    for name in CONFIG_LAYERS:
        if name in ds.variables and ds.variables[name].dtype != np.int8:
            var = ds.variables[name]
            if not _in_memory(var):
                msg = check_chunk_values(name, np.asarray(var.values), ds.attrs.get("units"))
                if msg:
                    raise ValueError(f"ds: {msg}")
            ds[name] = var.astype(np.int8)
    for var in ds.variables.values():
        var.encoding = {}
    ds.encoding = {}
    return ds


def chunk_sizes(ds: xr.Dataset) -> dict:
    """HDF5 chunk sizes of the streamed variables: about 1 MiB, whole along other dims."""
    out = {}
    for name, var in ds.variables.items():
        if "step" in var.dims and var.dtype.kind in "iufb":
            per_step = max(1, var.dtype.itemsize * int(np.prod([s for d, s in var.sizes.items() if d != "step"])))
            n_step = int(min(4096, max(1, _CHUNK_BYTES // per_step)))
            out[name] = tuple(n_step if d == "step" else max(1, s) for d, s in var.sizes.items())
    return out


def _groups(ds: xr.Dataset, hamiltonian, state=None) -> dict:
    groups = {"": ds}
    if hamiltonian is not None:
        groups[HAMILTONIAN_GROUP] = hamiltonian.to_dataset()
    if state is not None:
        groups[STATE_GROUP] = state
    return groups


# ----------------------------------------------------------------------------
# save / load
# ----------------------------------------------------------------------------
def save(ds: xr.Dataset, path, *, hamiltonian=None, state=None, overwrite: bool = False) -> Path:
    """Write a trajectory to a netCDF4 file, atomically and checksummed.

    Missing provenance attributes are added (:func:`pyrbm.io.netcdf.stamp`; and ``units``,
    ``beta``, ``n_visible``, ``n_hidden`` from the Hamiltonian, when one is given), as are
    missing ``long_name``/``units`` of the schema's coordinates (:data:`COORD_ATTRS`); then
    the dataset is validated (:func:`validate`). Configurations ``v``/``h`` are stored as
    ``int8``, every variable is zlib-compressed and Fletcher-32 checksummed, the
    Hamiltonian goes bit-exactly into the group ``"hamiltonian"``.

    Parameters
    ----------
    ds : xarray.Dataset
        The trajectory (dims of the schema; see the module docstring).
    path : str or os.PathLike
        Output file (conventionally ``*.nc``).
    hamiltonian : pyrbm.Hamiltonian, optional
        The model that made the trajectory; makes the file self-contained.
    state : xarray.Dataset, optional
        The sampler state after the last record (``state.to_dataset()``), group ``"state"``.
    overwrite : bool, default False
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is false (checked before any work, and again
        atomically when the file is moved into place).
    FileNotFoundError, PermissionError
        The directory is missing or not writable (checked before any work).
    ValueError
        The dataset does not follow the schema (every problem listed).
    OSError
        The write failed (e.g. a full disk), naming ``path``; ``path`` is unchanged.
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds: expected an xarray.Dataset, got {type(ds).__name__}")
    overwrite = check_bool("overwrite", overwrite)
    hamiltonian = optional_hamiltonian(hamiltonian)
    if state is not None and not isinstance(state, xr.Dataset):
        raise TypeError(f"state: expected an xarray.Dataset (state.to_dataset()), got {type(state).__name__}")
    ds = prepare(ds, hamiltonian)
    return write(path, _groups(ds, hamiltonian, state), overwrite=overwrite)


def load(path, *, lazy: bool = False, verify: bool = True) -> xr.Dataset:
    """Read a trajectory written by :func:`save` or :class:`pyrbm.io.writer.TrajectoryWriter`.

    Parameters
    ----------
    path : str or os.PathLike
        A pyrbm trajectory file (``schema = "pyrbm.trajectory/2"``).
    lazy : bool, default False
        ``False``: every variable is read into memory and the file is closed
        before returning, so it is never held open (a later ``save(...,
        overwrite=True)`` to the same path is safe). ``True``: variables are
        read on access; the file stays open until ``ds.close()`` (use
        ``with pyrbm.load(path, lazy=True) as ds: ...``) -- for trajectories
        larger than memory.
    verify : bool, default True
        Check the stored checksum; with ``lazy`` the file is read once in blocks.

    Returns
    -------
    xarray.Dataset
        Configurations ``v``/``h`` come back as ``int8``. ``ds.encoding["source"]``
        is the file, which ``ds.rbm.hamiltonian()`` uses to read the Hamiltonian;
        ``ds.encoding["checksum"]`` the verified checksum. The dataset is not
        validated; call :func:`validate` for that.

    Raises
    ------
    pyrbm.IntegrityError
        The file does not match its checksum or cannot be read.
    ValueError
        The file is not a ``pyrbm.trajectory/2`` file.
    """
    if not isinstance(lazy, (bool, np.bool_)):
        raise TypeError(f"lazy: expected True or False, got {_describe(lazy)}")
    if not isinstance(verify, (bool, np.bool_)):
        raise TypeError(f"verify: expected True or False, got {_describe(verify)}")
    return open_verified(path, lazy=bool(lazy), verify=bool(verify), schema=SCHEMA)


def read_state(path) -> xr.Dataset:
    """The sampler state stored with a run (group ``state``) as a dataset, the file verified.

    :func:`pyrbm.load_state` turns it into the typed state that continues the run.

    Raises
    ------
    ValueError
        The file has no ``state`` group (written by ``pyrbm.save`` without ``state=``).
    IntegrityError
        The file or the group does not match its checksum (or lacks it).
    """
    return read_group(path, STATE_GROUP, "only runs streamed by Sampler.run(out=...) store their final state")
