r"""Streaming output: :class:`TrajectoryWriter` appends chunks along ``step``, and
:class:`Recorder` buffers a sampler's per-record arrays into those chunks (or keeps them in
memory).

A streamed file is written under a temporary name and renamed into place on
:meth:`TrajectoryWriter.close`, so a crash leaves the previous file (or none).
"""

from __future__ import annotations

import contextlib
import warnings
import os
from pathlib import Path

import netCDF4
import numpy as np
import xarray as xr

from ._checks import check_bool, check_units
from ._io import atomic_path, check_writable, netcdf_serialised
from .trajectory import (CONFIG_LAYERS, HAMILTONIAN_GROUP, _check_hamiltonian, _config_values_problem, _stamp,
                         _encoding, _is_flat_attr, _prepare, load)

__all__ = ["TrajectoryWriter", "Recorder"]

#: Records buffered in memory before a streamed write.
_CHUNK_BYTES = 8 * 2 ** 20


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


class Recorder:
    """Collects per-record arrays; writes chunks to a TrajectoryWriter or keeps them."""

    def __init__(self, n_records, first_step, thin, path, overwrite, ham, attrs, static_coords,
                 var_meta, extra_step_coords=None):
        self.n_records = n_records
        self.first_step = first_step
        self.thin = thin
        self.path = path
        self.overwrite = overwrite
        self.ham = ham
        self.attrs = attrs
        self.static_coords = static_coords  # {name: (dims, values, attrs)}
        self.var_meta = var_meta  # {name: (extra dims, attrs)}
        self.extra_step_coords = extra_step_coords or {}  # {name: (fn(step array), attrs)}
        self.buffers = None
        self.fill = 0
        self.written = 0
        self.writer = None

    def _allocate(self, record):
        per_record = sum(a.nbytes for a in record.values())
        if self.path is None:
            self.chunk = self.n_records
        else:
            self.chunk = int(max(1, min(self.n_records, _CHUNK_BYTES // max(1, per_record))))
        self.buffers = {k: np.empty((self.chunk,) + a.shape, dtype=a.dtype) for k, a in record.items()}
        if self.path is not None:
            self.writer = TrajectoryWriter(self.path, overwrite=self.overwrite, hamiltonian=self.ham,
                                           attrs=self.attrs)

    def add(self, record: dict):
        if self.buffers is None:
            self._allocate(record)
        for k, a in record.items():
            self.buffers[k][self.fill] = a
        self.fill += 1
        if self.path is not None and self.fill == self.chunk:
            self._flush()

    def _dataset(self, n):
        steps = self.first_step + self.thin * (self.written + np.arange(1, n + 1, dtype=np.int64))
        coords = {"step": ("step", steps, {"long_name": "sweep or step number since initialisation"})}
        for name, (fn, attrs) in self.extra_step_coords.items():
            coords[name] = ("step", fn(steps), attrs)
        for name, (dims, values, attrs) in self.static_coords.items():
            coords[name] = (dims, values, attrs)
        data = {}
        for k, buf in self.buffers.items():
            dims, attrs = self.var_meta[k]
            data[k] = (("step",) + tuple(dims), buf[:n], attrs)
        return xr.Dataset(data, coords=coords, attrs=dict(self.attrs))

    def _flush(self):
        if self.fill == 0:
            return
        self.writer.append(self._dataset(self.fill))
        self.written += self.fill
        self.fill = 0

    def finish(self):
        if self.path is None:
            ds = self._dataset(self.fill)
            ds.attrs = _stamp(ds.attrs, self.ham)
            return ds
        self._flush()
        self.writer.close()
        # lazily loaded: a streamed run may not fit in memory; values are read on access
        return load(self.path, lazy=True)

    def abort(self, exc):
        if self.writer is not None:
            self.writer.abort(exc)
