r"""Streaming output: :class:`TrajectoryWriter` appends chunks along ``step``
(:class:`pyrbm.io.storage.NetCDFStore` feeds it a sampler's records).

A streamed file is written under a temporary name and moved into place on
:meth:`TrajectoryWriter.close`, so a crash leaves the previous file (or none). A run is
continued into its own file (``resume=True``) by writing the previous records and the new
ones to a new temporary (a byte copy of the verified previous file, appended to) and
replacing the file only when everything is written: a kill at any moment leaves either the
complete previous run or the complete continued one. :meth:`TrajectoryWriter.sync` puts what
was appended so far at the path meanwhile (a complete, checksummed file); every commit checks,
under a directory lock and after the fsync, that no other process changed the file it
replaces. SIGINT and SIGTERM are held back during every file operation
(:func:`pyrbm.io.netcdf.deferred_interrupt`), so an interruption never leaves a
half-appended record.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import warnings
from pathlib import Path

import netCDF4
import numpy as np
import xarray as xr

from .._checks import check_bool, check_units
from .netcdf import (CHECKSUM_ATTR, ContentHash, TemporaryFile, block_bytes, check_existing, check_writable,
                     deferred_interrupt, encoding, is_flat_attr, kind_of, netcdf_serialised, open_verified,
                     with_group_checksum, write_failed)
from .trajectory import (CONFIG_LAYERS, HAMILTONIAN_GROUP, SCHEMA, STATE_GROUP, check_chunk_values, chunk_sizes,
                         complete, optional_hamiltonian, prepare)

__all__ = ["TrajectoryWriter", "RUN_PART_ATTRS"]

#: Attributes that describe one part of a run: a continued run keeps the first part's, and
#: ``n_steps`` is the total. Every other attribute must be the same in both parts.
RUN_PART_ATTRS = ("n_steps", "first_step", "burn_in", "created", "pyrbm_version")


class TrajectoryWriter:
    """Stream a trajectory to disk chunk by chunk, in bounded memory.

    The first :meth:`append` defines the variables (written through xarray,
    with ``step`` as an unlimited dimension); later chunks are appended along
    ``step`` with the netCDF4 library. :meth:`close` writes the Hamiltonian
    and state groups, the checksum, and moves the temporary file into place.
    Used as a context manager, an exception inside the block removes the
    temporary file and leaves any previous file at ``path`` untouched. Memory
    use is one chunk plus the variables without a ``step`` dimension.

    Parameters
    ----------
    path : str or os.PathLike
        Output file. Refused before any work if it exists (unless
        ``overwrite`` or ``resume``) or its directory is missing or not writable.
    overwrite : bool, default False
        Replace an existing file (only when :meth:`close` succeeds).
    resume : bool, default False
        Continue the trajectory at ``path``: the file (checksum verified) must
        have the same attributes except :data:`RUN_PART_ATTRS`, the same
        variables and Hamiltonian; the result holds its records followed by the
        appended ones, ``n_steps`` the total, and replaces it on :meth:`close`.
    hamiltonian : pyrbm.Hamiltonian, optional
        Stored in the ``hamiltonian`` group; also supplies ``units``, ``beta``,
        ``n_visible`` and ``n_hidden`` attributes when they are missing.
    attrs : dict, optional
        Global attributes (flat str/int/float); they override the first
        chunk's attributes. Provenance is added when missing.

    Examples
    --------
    >>> with TrajectoryWriter("run.nc", hamiltonian=ham) as w:   # doctest: +SKIP
    ...     for chunk in chunks:          # xr.Dataset with a "step" dim
    ...         w.append(chunk)
    """

    def __init__(self, path, *, overwrite: bool = False, resume: bool = False, hamiltonian=None,
                 attrs: dict | None = None):
        self._overwrite = check_bool("overwrite", overwrite)
        self._resume = check_bool("resume", resume)
        if self._overwrite and self._resume:
            raise ValueError("overwrite, resume: pass one of them; resume=True continues the run at path, "
                             "overwrite=True replaces it")
        self._hamiltonian = optional_hamiltonian(hamiltonian)
        if attrs is None:
            attrs = {}
        if not isinstance(attrs, dict):
            raise TypeError(f"attrs: expected a dict of flat str/int/float values, got {type(attrs).__name__}")
        bad = [k for k, v in attrs.items() if not isinstance(k, str) or not is_flat_attr(v)]
        if bad:
            raise ValueError(
                f"attrs: values of {bad} are not flat str, int or float (netCDF attributes); "
                f"encode bools as 0/1, drop None, flatten dicts"
            )
        if "units" in attrs:
            check_units(attrs["units"])
        self._attrs = dict(attrs)
        self._previous = None
        self._expected = None  # (inode, size, mtime) of the file this writer last put at path
        self._handle: TemporaryFile | None = None
        self._nc = None
        self._layout: dict | None = None
        self._fixed: dict = {}
        self._hashes: dict = {}
        self._n_steps = 0
        self._closed = False
        if self._resume:
            self.path = check_existing(path)
            check_writable(self.path, overwrite=True)
            self._open_previous()
        else:
            self.path = check_writable(path, self._overwrite)

    # -- properties ------------------------------------------------------------
    @property
    def n_steps(self) -> int:
        """Number of steps written so far (with ``resume``: including the previous records)."""
        return self._n_steps

    @property
    def closed(self) -> bool:
        """True after :meth:`close` or :meth:`abort`."""
        return self._closed

    # -- continuing a run ------------------------------------------------------------
    def _open_previous(self) -> None:
        groups = (HAMILTONIAN_GROUP,) if HAMILTONIAN_GROUP in kind_of(self.path)[1] else ()
        old = open_verified(self.path, lazy=True, verify=True, schema=SCHEMA, groups=groups, keep=self._hashes)
        try:
            stat = os.stat(self.path)
            problems = []
            new = complete(xr.Dataset(attrs=self._attrs), self._hamiltonian).attrs
            for key in sorted(set(old.attrs) | set(new)):
                if key in RUN_PART_ATTRS or key in ("created",):
                    continue
                a, b = (v.item() if isinstance(v, np.generic) else v
                        for v in (old.attrs.get(key, "<absent>"), new.get(key, "<absent>")))
                if a != b:
                    problems.append(f"attribute {key!r} is {a!r} in the file and {b!r} in this run")
            if self._hamiltonian is not None:
                stored = old.encoding["groups"].get(HAMILTONIAN_GROUP)
                mine = self._hamiltonian.to_dataset()
                if stored is None or any(stored[k].values.tobytes() != mine[k].values.tobytes()
                                         for k in ("W", "a", "b")):
                    problems.append("the Hamiltonian differs from the one stored in the file")
            if problems:
                raise ValueError(f"path: cannot continue the run in {self.path}:\n  - " + "\n  - ".join(problems)
                                 + "\ncontinue it with the same sampler settings, or write to a new file")
        except BaseException:
            old.close()
            raise
        self._previous = (old, None)
        self._expected = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        self._attrs = {**new, **{k: old.attrs[k] for k in RUN_PART_ATTRS if k in old.attrs and k != "n_steps"}}
        self._base_n_steps = int(old.attrs.get("n_steps", 0))
        if "n_steps" in new:
            self._attrs["n_steps"] = self._base_n_steps + int(new["n_steps"])

    def _copy_previous(self) -> None:
        """Copy the previous file to the temporary (bytes: no recompression) and open it to append."""
        old, _ = self._previous
        self._handle = TemporaryFile(self.path, True)
        try:
            shutil.copyfile(self.path, self._handle.tmp)
            self._handle.created()
            self._nc = netCDF4.Dataset(self._handle.tmp, "a")
            self._nc.set_auto_maskandscale(False)
        except BaseException as exc:
            self._fail(exc)
        self._layout = {name: (var.dims, var.dtype) for name, var in old.variables.items()}
        self._fixed = {name: var.values.copy() for name, var in old.variables.items() if "step" not in var.dims}
        self._sizes = {d: s for d, s in old.sizes.items() if d != "step"}
        self._units = old.attrs.get("units")
        self._n_steps = old.sizes["step"]
        old.close()
        self._previous = (None, None)

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
        OSError
            The write failed (e.g. a full disk), naming ``path``; everything
            written is discarded and ``path`` is unchanged.
        FileNotFoundError
            The temporary file was removed by another process.
        """
        self._check_chunk(chunk)
        if self._previous is not None and self._previous[0] is not None:
            self._copy_previous()
        with deferred_interrupt():  # a Ctrl-C lands after the chunk is written and counted
            self._append(chunk)

    def _append(self, chunk: xr.Dataset) -> None:
        if self._layout is None:
            self._append_first(chunk)
        else:
            self._append_more(chunk)

    def _hash(self, name, dims, values) -> None:
        self._hashes.setdefault(name, hashlib.sha256()).update(block_bytes(values, dims))

    @netcdf_serialised
    def _append_first(self, chunk: xr.Dataset) -> None:
        ds = chunk.copy(deep=False)
        ds.attrs = {**chunk.attrs, **self._attrs}
        ds = prepare(ds, self._hamiltonian)
        enc = encoding(ds, chunks=chunk_sizes(ds))
        self._handle = TemporaryFile(self.path, self._overwrite or self._resume)
        try:
            ds.to_netcdf(self._handle.tmp, mode="w", format="NETCDF4", engine="netcdf4",
                         encoding=enc, unlimited_dims=["step"])
            self._handle.created()
            self._nc = netCDF4.Dataset(self._handle.tmp, "a")
            self._nc.set_auto_maskandscale(False)
        except BaseException as exc:
            self._fail(exc)
        layout = {}
        for name, var in ds.variables.items():
            layout[name] = (var.dims, var.dtype)
            if "step" not in var.dims:
                self._fixed[name] = var.values.copy()
            else:
                self._hash(name, var.dims, var.values)
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
                    msg = check_chunk_values(name, values, self._units)
                    if msg:
                        problems.append(msg)
                        continue
                    values = values.astype(np.int8)
                elif not np.can_cast(values.dtype, dtype, casting="same_kind"):
                    problems.append(f"variable {name!r} has dtype {values.dtype}, the file stores {dtype}")
                    continue
                arrays[name] = (dims, values.astype(dtype, copy=False))
        if problems:
            raise ValueError(
                f"chunk: does not match the trajectory being written to {self.path}:\n  - " + "\n  - ".join(problems)
            )
        n0 = self._n_steps
        k = chunk.sizes["step"]
        try:
            self._handle.check()
            for name, (dims, values) in arrays.items():
                index = [slice(None)] * values.ndim
                index[dims.index("step")] = slice(n0, n0 + k)
                self._nc.variables[name][tuple(index)] = values
        except BaseException as exc:
            self._fail(exc)
        for name, (dims, values) in arrays.items():
            self._hash(name, dims, values)
        self._n_steps = n0 + k

    def _fail(self, exc: BaseException):
        """Discard everything and raise ``exc`` (write errors as an OSError naming the path)."""
        self.abort(exc)
        if isinstance(exc, (OSError, RuntimeError)) and not isinstance(exc, (FileNotFoundError, FileExistsError)):
            raise write_failed(self.path, exc, self._handle.tmp if self._handle else None) from exc
        raise exc

    # -- finishing --------------------------------------------------------------
    def close(self, *, state: xr.Dataset | None = None, attrs: dict | None = None) -> Path:
        """Finish the file: groups, checksum, move into place.

        Parameters
        ----------
        state : xarray.Dataset, optional
            The sampler state after the last record (``state.to_dataset()``),
            stored in the group ``state``.
        attrs : dict, optional
            Global attributes to set now, e.g. ``n_steps`` of an interrupted run
            (with ``resume``, ``n_steps`` counts this part: the file gets the total).

        Returns
        -------
        pathlib.Path
            The output path.

        Raises
        ------
        ValueError
            Nothing was appended (no file is written).
        FileNotFoundError
            The temporary was removed by another process (nothing is written).
        FileExistsError
            Another process created ``path`` meanwhile (``overwrite=False``) or
            changed it (``resume``); this writer's data are discarded.
        """
        if self._closed:
            return self.path
        if state is not None and not isinstance(state, xr.Dataset):
            raise TypeError(f"state: expected an xarray.Dataset (state.to_dataset()), got {type(state).__name__}")
        if self._layout is None and self._previous is not None and self._previous[0] is not None:
            self._copy_previous()
        with deferred_interrupt():  # a Ctrl-C during close lands after the file is in place
            return self._close(state, attrs)

    def sync(self, *, state: xr.Dataset | None = None, attrs: dict | None = None) -> Path:
        """Put what was appended so far at ``path`` now, as a complete, checksummed file.

        The run goes on writing to its temporary; ``path`` holds the records up to now (with
        ``state`` and ``attrs``, e.g. the ``n_steps`` so far), so a process killed later
        (SIGKILL, power loss) leaves them. The file is copied (its size in bytes, each call).
        Later calls and :meth:`close` replace it only if no other process changed it meanwhile.
        """
        if self._closed or self._layout is None:
            return self.path
        with deferred_interrupt():
            self._sync(state, attrs)
        return self.path

    @netcdf_serialised
    def _sync(self, state, attrs) -> None:
        try:
            self._finalize(state, attrs)
            copy = TemporaryFile(self.path, True)
            try:
                shutil.copyfile(self._handle.tmp, copy.tmp)
                copy.created()
                self._commit(copy)
            finally:
                copy.release()
            self._handle.check()
            self._nc = netCDF4.Dataset(self._handle.tmp, "a")
            self._nc.set_auto_maskandscale(False)
        except BaseException as exc:
            self._fail(exc)

    def _commit(self, handle: TemporaryFile) -> None:
        """Move ``handle`` to ``path``: checked against the file this writer expects there."""
        handle.overwrite = self._overwrite or self._expected is not None
        st = os.stat(handle.tmp)  # the same inode, size and mtime at path once moved
        handle.commit(verify=self._unchanged if self._expected is not None else None)
        self._expected = (st.st_ino, st.st_size, st.st_mtime_ns)

    @netcdf_serialised
    def _close(self, state, attrs) -> Path:
        if self._layout is None:
            self._closed = True
            raise ValueError(f"TrajectoryWriter: no chunk was appended; nothing written to {self.path}")
        try:
            self._finalize(state, attrs)
            self._commit(self._handle)
        except BaseException as exc:
            self._fail(exc)
        self._closed = True
        self._handle = None
        return self.path

    def _finalize(self, state, attrs) -> None:
        """Close the library's handle, write attrs and groups and the checksum into the temporary."""
        attrs = dict(attrs or {})
        if self._resume:
            if "n_steps" in attrs:
                attrs["n_steps"] = self._base_n_steps + int(attrs["n_steps"])
            attrs = {**self._attrs, **attrs}  # the whole run's attributes
        groups = {}
        if self._hamiltonian is not None:
            groups[HAMILTONIAN_GROUP] = self._hamiltonian.to_dataset()
        if state is not None:
            groups[STATE_GROUP] = state
        if STATE_GROUP in groups:  # CF: describe the state arrays
            st = groups[STATE_GROUP].copy()
            for name, var in st.variables.items():
                var.attrs = {"long_name": f"sampler state array {name}", "units": "1", **var.attrs}
            groups[STATE_GROUP] = st
        groups = {name: with_group_checksum(name, ds) for name, ds in groups.items()}
        tmp = self._handle.tmp
        self._handle.check()
        if attrs:
            self._nc.setncatts(attrs)
        self._nc.close()
        self._nc = None
        for name, ds in groups.items():
            self._handle.check()
            self._write_group(name, ds)
        self._handle.check()
        content = ContentHash()
        with xr.open_dataset(tmp, engine="netcdf4") as root:
            content.add_dataset("", root, {k: h.digest() for k, h in self._hashes.items()})
        with netCDF4.Dataset(tmp, "r") as nc:
            names = list(nc.groups)
        for name in names:  # also groups copied from the previous file
            with xr.open_dataset(tmp, engine="netcdf4", group=name) as gds:
                content.add_dataset(name, gds.load())
        with netCDF4.Dataset(tmp, "a") as nc:
            nc.setncattr(CHECKSUM_ATTR, content.hexdigest())

    def _unchanged(self) -> None:
        """Raise if another process replaced the file this run continues (run under the commit lock)."""
        st = os.stat(self.path)
        if (st.st_ino, st.st_size, st.st_mtime_ns) != self._expected:
            raise FileExistsError(f"path: {self.path} was changed by another process while this run "
                                  f"continued it; it was left as the other process wrote it, and this "
                                  f"run's records are discarded")

    def _write_group(self, name: str, ds: xr.Dataset) -> None:
        """Write a group; one copied from the previous file is overwritten in place (same shapes)."""
        tmp = self._handle.tmp
        with netCDF4.Dataset(tmp, "a") as nc:
            if name in nc.groups:
                group = nc.groups[name]
                if set(group.variables) != set(ds.variables) or any(
                        group.variables[k].shape != ds[k].shape for k in ds.variables):
                    raise ValueError(f"state: the group {name!r} of {self.path} holds other arrays "
                                     f"({sorted(group.variables)}) than this run's ({sorted(ds.variables)})")
                group.set_auto_maskandscale(False)
                for key, var in ds.variables.items():
                    group.variables[key][...] = var.values
                group.setncatts(ds.attrs)
                return
        ds.to_netcdf(tmp, mode="a", group=name, engine="netcdf4", encoding=encoding(ds, compress=False))

    def abort(self, exc: BaseException | None = None) -> None:
        """Discard everything written: the temporary file is removed, ``path`` untouched."""
        if self._nc is not None:
            with contextlib.suppress(Exception):
                self._nc.close()
            self._nc = None
        if self._previous is not None and self._previous[0] is not None:
            with contextlib.suppress(Exception):
                self._previous[0].close()
        self._closed = True
        if self._handle is not None:
            self._handle.release()

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
