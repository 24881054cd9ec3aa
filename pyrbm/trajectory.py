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

import contextlib
import datetime as _dt
import os
import warnings
from numbers import Integral, Real
from pathlib import Path

import netCDF4
import numpy as np
import xarray as xr

from . import __version__
from ._checks import check_bool, check_hamiltonian, check_units
from ._io import atomic_path, check_writable, netcdf_serialised

__all__ = [
    "SCHEMA",
    "DIMS",
    "REQUIRED_ATTRS",
    "validate",
    "save",
    "load",
    "load_hamiltonian",
    "TrajectoryWriter",
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


# ----------------------------------------------------------------------------
# streaming
# ----------------------------------------------------------------------------
class TrajectoryWriter:
    """Stream a trajectory to disk chunk by chunk, in bounded memory.

    The first :meth:`append` defines the variables (written through xarray,
    with ``step`` as an unlimited dimension); later chunks are appended along
    ``step`` with the netCDF4 library. :meth:`close` writes the Hamiltonian
    group and renames the temporary file into place. Used as a context
    manager, an exception inside the block removes the temporary file and
    leaves any previous file at ``path`` untouched. Memory use is one chunk
    plus the variables without a ``step`` dimension, whatever the run length.

    Parameters
    ----------
    path : str or os.PathLike
        Output file. Refused before any work if it exists (unless
        ``overwrite``) or its directory is missing or not writable.
    overwrite : bool, default False
        Replace an existing file (only when :meth:`close` succeeds).
    hamiltonian : pyrbm.Hamiltonian, optional
        Stored in the ``hamiltonian`` group; also supplies ``units``, ``beta``,
        ``n_visible`` and ``n_hidden`` attributes when they are missing.
    attrs : dict, optional
        Global attributes (flat str/int/float); they override the first
        chunk's attributes. ``schema``, ``pyrbm_version`` and ``created`` are
        added when missing.

    Examples
    --------
    >>> with TrajectoryWriter("run.nc", hamiltonian=ham) as w:   # doctest: +SKIP
    ...     for chunk in chunks:          # xr.Dataset with a "step" dim
    ...         w.append(chunk)
    """

    def __init__(self, path, overwrite: bool = False, hamiltonian=None, attrs: dict | None = None):
        self._overwrite = check_bool("overwrite", overwrite)
        self._hamiltonian = _check_hamiltonian(hamiltonian)
        if attrs is None:
            attrs = {}
        if not isinstance(attrs, dict):
            raise TypeError(f"attrs: expected a dict of flat str/int/float values, got {type(attrs).__name__}")
        bad = [k for k, v in attrs.items() if not isinstance(k, str) or not _is_flat_attr(v)]
        if bad:
            raise ValueError(
                f"attrs: values of {bad} are not flat str, int or float (netCDF attributes); "
                f"encode bools as 0/1, drop None, flatten dicts"
            )
        if "units" in attrs:
            check_units(attrs["units"])
        self._attrs = dict(attrs)
        self.path = check_writable(path, self._overwrite)
        self._ctx = None
        self._tmp: Path | None = None
        self._nc = None
        self._layout: dict | None = None
        self._fixed: dict = {}
        self._n_steps = 0
        self._closed = False

    # -- properties ------------------------------------------------------------
    @property
    def n_steps(self) -> int:
        """Number of steps written so far."""
        return self._n_steps

    @property
    def closed(self) -> bool:
        """True after :meth:`close` or :meth:`abort`."""
        return self._closed

    # -- writing ----------------------------------------------------------------
    def _check_chunk(self, chunk) -> None:
        if self._closed:
            raise ValueError(f"TrajectoryWriter for {self.path} is closed; open a new writer to write again")
        if not isinstance(chunk, xr.Dataset):
            raise TypeError(f"chunk: expected an xarray.Dataset with a 'step' dimension, got {type(chunk).__name__}")
        if "step" not in chunk.dims:
            raise ValueError(f"chunk: expected a 'step' dimension, got dims {tuple(chunk.dims)}")
        for name, var in chunk.variables.items():
            if "step" in var.dims and var.dtype.kind not in "iufb":
                raise ValueError(
                    f"chunk: variable {name!r} has dtype {var.dtype}; streamed variables must be real numeric"
                )

    def append(self, chunk: xr.Dataset) -> None:
        """Append one chunk along ``step``.

        Parameters
        ----------
        chunk : xarray.Dataset
            Variables with a ``step`` dim are appended; variables without it
            (coordinates such as ``mode``/``singular_value``) are written with
            the first chunk and must be identical in later ones. Every chunk
            must have the same variables with the same dims and sizes (except
            ``step``). Attributes of later chunks are ignored.

        Raises
        ------
        ValueError
            The chunk does not match the first one or the schema; nothing of
            it is written and the writer stays usable.
        """
        self._check_chunk(chunk)
        if self._layout is None:
            self._append_first(chunk)
        else:
            self._append_more(chunk)

    @netcdf_serialised
    def _append_first(self, chunk: xr.Dataset) -> None:
        ds = chunk.copy(deep=False)
        ds.attrs = {**chunk.attrs, **self._attrs}
        ds = _prepare(ds, self._hamiltonian)
        encoding = _encoding(ds, chunk_dim="step")
        self._ctx = atomic_path(self.path, self._overwrite)
        self._tmp = self._ctx.__enter__()
        try:
            ds.to_netcdf(self._tmp, mode="w", format="NETCDF4", engine="netcdf4",
                         encoding=encoding, unlimited_dims=["step"])
            self._nc = netCDF4.Dataset(self._tmp, "a")
            self._nc.set_auto_maskandscale(False)
        except BaseException as exc:
            self.abort(exc)
            raise
        layout = {}
        for name, var in ds.variables.items():
            layout[name] = (var.dims, var.dtype)
            if "step" not in var.dims:
                self._fixed[name] = var.values.copy()
        self._layout = layout
        self._sizes = {d: s for d, s in ds.sizes.items() if d != "step"}
        self._units = ds.attrs.get("units")
        self._n_steps = ds.sizes["step"]

    @netcdf_serialised
    def _append_more(self, chunk: xr.Dataset) -> None:
        problems = []
        names = set(chunk.variables)
        if names != set(self._layout):
            problems.append(
                f"variables {sorted(names)} differ from the first chunk's {sorted(self._layout)}"
            )
        for d, s in chunk.sizes.items():
            if d != "step" and self._sizes.get(d, s) != s:
                problems.append(f"dimension {d!r} has size {s}, the first chunk had {self._sizes[d]}")
        arrays = {}
        if not problems:
            for name, (dims, dtype) in self._layout.items():
                var = chunk.variables[name]
                if set(var.dims) != set(dims):
                    problems.append(f"variable {name!r} has dims {var.dims}, the first chunk had {dims}")
                    continue
                values = np.asarray(var.transpose(*dims).values)
                if "step" not in dims:
                    if not np.array_equal(values, self._fixed[name]):
                        problems.append(
                            f"variable {name!r} (no 'step' dim) differs from the first chunk's; "
                            f"it must be the same in every chunk"
                        )
                    continue
                if name in CONFIG_LAYERS:
                    msg = _config_values_problem(name, values, self._units)
                    if msg:
                        problems.append(msg)
                        continue
                    values = values.astype(np.int8)
                elif not np.can_cast(values.dtype, dtype, casting="same_kind"):
                    problems.append(f"variable {name!r} has dtype {values.dtype}, the file stores {dtype}")
                    continue
                arrays[name] = (dims.index("step"), values.astype(dtype, copy=False))
        if problems:
            raise ValueError(
                f"chunk: does not match the trajectory being written to {self.path}:\n  - " + "\n  - ".join(problems)
            )
        n0 = self._n_steps
        k = chunk.sizes["step"]
        try:
            for name, (axis, values) in arrays.items():
                index = [slice(None)] * values.ndim
                index[axis] = slice(n0, n0 + k)
                self._nc.variables[name][tuple(index)] = values
        except BaseException as exc:
            self.abort(exc)
            raise
        self._n_steps = n0 + k

    # -- finishing --------------------------------------------------------------
    @netcdf_serialised
    def close(self) -> Path:
        """Finish the file: write the Hamiltonian group and rename into place.

        Returns
        -------
        pathlib.Path
            The output path.

        Raises
        ------
        ValueError
            Nothing was appended (no file is written).
        """
        if self._closed:
            return self.path
        if self._layout is None:
            self._closed = True
            raise ValueError(f"TrajectoryWriter: no chunk was appended; nothing written to {self.path}")
        try:
            self._nc.close()
            self._nc = None
            if self._hamiltonian is not None:
                self._hamiltonian.to_dataset().to_netcdf(
                    self._tmp, mode="a", group=HAMILTONIAN_GROUP, engine="netcdf4"
                )
        except BaseException as exc:
            self.abort(exc)
            raise
        ctx, self._ctx = self._ctx, None
        self._closed = True
        ctx.__exit__(None, None, None)
        return self.path

    def abort(self, exc: BaseException | None = None) -> None:
        """Discard everything written: the temporary file is removed, ``path`` untouched."""
        if self._nc is not None:
            with contextlib.suppress(Exception):
                self._nc.close()
            self._nc = None
        ctx, self._ctx = self._ctx, None
        self._closed = True
        if ctx is not None:
            err = exc if isinstance(exc, BaseException) else RuntimeError("trajectory writing aborted")
            with contextlib.suppress(BaseException):
                ctx.__exit__(type(err), err, err.__traceback__)
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self._tmp)

    def __enter__(self) -> "TrajectoryWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.close()
        else:
            self.abort(exc)
        return False

    def __del__(self):
        if not getattr(self, "_closed", True):
            if getattr(self, "_layout", None) is not None:
                with contextlib.suppress(Exception):
                    warnings.warn(
                        f"TrajectoryWriter for {self.path} was never closed; its data were discarded "
                        f"(call close() or use it as a context manager)",
                        ResourceWarning,
                        stacklevel=2,
                    )
            with contextlib.suppress(Exception):
                self.abort()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"TrajectoryWriter({str(self.path)!r}, n_steps={self._n_steps}, {state})"
