r"""Where a run's records go: one interface, kept in memory or streamed to a netCDF file.

As emcee's backends, a sampler's run loop talks to a :class:`RecordStore` and does not know
where the records end up::

    store = open_store(path, n_records, first_step, thin, ham, attrs, static, meta, ...)
    for each record:
        store.add(record, snapshot=lambda: <state right after this record>.to_dataset())
    ds = store.finish(state=final_state.to_dataset())     # after the run
    store.abort(exc)                                      # when the run raised (then re-raise)

:class:`MemoryStore` keeps every record and returns the dataset; :class:`NetCDFStore`
streams them through a :class:`~pyrbm.io.writer.TrajectoryWriter` in bounded memory.

Bounded loss
------------
A streamed run's records reach ``path`` as a complete, checksummed file (with the sampler
state after the last of them, so the run can be continued from it) at least every
:data:`SYNC_SECONDS` seconds, and on SIGINT (Ctrl-C) or SIGTERM before the process ends.
A process killed without warning (SIGKILL, power loss) thus loses at most the records of
the last :data:`SYNC_SECONDS` seconds; when copying the file takes longer than a tenth of
that, the interval grows to ten times the copy's duration (the run spends at most about 10 %
of its time on these copies). Any other exception discards the new records.
"""

from __future__ import annotations

import time

import numpy as np
import xarray as xr

from .._checks import available_memory
from .netcdf import deferred_interrupt
from .trajectory import complete, load
from .writer import TrajectoryWriter

__all__ = ["RecordStore", "MemoryStore", "NetCDFStore", "open_store", "SYNC_SECONDS", "BUFFER_BYTES"]

#: Longest time (seconds) between two moments at which a streamed run's records are in its file.
SYNC_SECONDS = 5.0
#: Bytes of records buffered in memory before they are appended to the temporary file.
BUFFER_BYTES = 8 * 2 ** 20


class RecordStore:
    """What a run loop writes its records to (base class).

    Parameters
    ----------
    n_records, first_step, thin : int
        Records of this run; step of the first counted sweep (``state.step + burn_in``);
        sweeps between records. Record ``r`` (1-based) is at step ``first_step + thin r``.
    ham : pyrbm.Hamiltonian
    attrs : dict
        The run's attributes (``n_steps`` of this run).
    static_coords : dict
        ``{name: (dims, values, attrs)}`` coordinates without ``step``.
    var_meta : dict
        ``{name: (dims after step, attrs)}`` of each recorded variable.
    extra_step_coords : dict, optional
        ``{name: (fn(step array), attrs)}`` more coordinates along ``step``.
    """

    def __init__(self, n_records, first_step, thin, ham, attrs, static_coords, var_meta, extra_step_coords=None):
        self.n_records = n_records
        self.first_step = first_step
        self.thin = thin
        self.ham = ham
        self.attrs = attrs
        self.static_coords = static_coords
        self.var_meta = var_meta
        self.extra_step_coords = extra_step_coords or {}
        self.buffers = None
        self.chunk = 0
        self.fill = 0
        self.written = 0

    def _chunk_records(self, per_record: int) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def add(self, record: dict, snapshot=None) -> None:
        """Store one record (``{name: ndarray}``); ``snapshot()`` gives the state right after it."""
        if self.buffers is None:
            per_record = sum(a.nbytes for a in record.values())
            self.chunk = self._chunk_records(per_record)
            self.buffers = {k: np.empty((self.chunk,) + a.shape, dtype=a.dtype) for k, a in record.items()}
        for k, a in record.items():
            self.buffers[k][self.fill] = a
        self.fill += 1

    def _dataset(self, n: int) -> xr.Dataset:
        steps = self.first_step + self.thin * (self.written + np.arange(1, n + 1, dtype=np.int64))
        coords = {"step": ("step", steps, {})}
        for name, (fn, attrs) in self.extra_step_coords.items():
            coords[name] = ("step", fn(steps), attrs)
        for name, (dims, values, attrs) in self.static_coords.items():
            coords[name] = (dims, values, attrs)
        data = {}
        for k, buf in self.buffers.items():
            dims, attrs = self.var_meta[k]
            data[k] = (("step",) + tuple(dims), buf[:n], attrs)
        return complete(xr.Dataset(data, coords=coords, attrs=dict(self.attrs)), self.ham)

    def keep(self, snapshot) -> None:
        """Before an interruption: make the records so far durable, ``snapshot()`` the state after them."""

    def finish(self, state: xr.Dataset | None = None) -> xr.Dataset:  # pragma: no cover - abstract
        """The run's dataset, after its last record; ``state`` is the final sampler state."""
        raise NotImplementedError

    def abort(self, exc: BaseException) -> None:
        """After the run raised ``exc``."""


class MemoryStore(RecordStore):
    """Keeps every record in memory; :meth:`finish` returns them as one dataset."""

    def _chunk_records(self, per_record: int) -> int:
        need, avail = self.n_records * per_record, available_memory()
        if avail is not None and need > avail:
            raise MemoryError(
                f"n_steps: {self.n_records} records of {per_record} bytes each need {need / 2**30:.3g} GiB in memory, "
                f"but {avail / 2**30:.3g} GiB are available; pass out=path to stream them to a file in bounded "
                f"memory, or record less (a larger thin, fewer observables, keep_configs=False)")
        return max(1, self.n_records)

    def finish(self, state=None) -> xr.Dataset:
        if self.buffers is None:
            raise ValueError("n_steps: the run recorded nothing (n_steps < thin); record at least once")
        return self._dataset(self.fill)


class NetCDFStore(RecordStore):
    """Streams records to ``path`` (see the module docstring for what reaches the file when).

    Parameters
    ----------
    path, overwrite, resume
        Output file and how to treat an existing one (:class:`~pyrbm.io.writer.TrajectoryWriter`);
        refused before any work (or the run to continue checked).
    sync_seconds : float
        Longest time between two syncs of the file (default :data:`SYNC_SECONDS`).
    **kwargs
        As :class:`RecordStore`.
    """

    def __init__(self, path, overwrite, resume, *args, sync_seconds: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.path = path
        self.resume = resume
        self.flushed_state = None
        self.sync_seconds = float(SYNC_SECONDS if sync_seconds is None else sync_seconds)
        self._interval = self.sync_seconds
        self._last_sync = time.monotonic()
        self._synced = 0
        self.writer = TrajectoryWriter(path, overwrite=overwrite, resume=resume, hamiltonian=self.ham,
                                       attrs=self.attrs)

    def _chunk_records(self, per_record: int) -> int:
        return int(max(1, min(self.n_records, BUFFER_BYTES // max(1, per_record))))

    def add(self, record, snapshot=None) -> None:
        super().add(record)
        due = time.monotonic() - self._last_sync >= self._interval
        if self.fill == self.chunk or due:
            self._flush(snapshot() if snapshot is not None else None)
        if due:
            self._sync()

    def _flush(self, state=None) -> None:
        if self.fill == 0:
            return
        with deferred_interrupt():  # the bookkeeping always matches what the file holds
            self.writer.append(self._dataset(self.fill))
            self.written += self.fill
            self.fill = 0
            self.flushed_state = state

    def keep(self, snapshot) -> None:
        if self.fill:
            self._flush(snapshot())

    def _sync(self) -> None:
        """Put the flushed records (and the state after them) at ``path`` now."""
        started = time.monotonic()
        if self.written > self._synced and self.flushed_state is not None:
            self.writer.sync(state=self.flushed_state, attrs={"n_steps": self.thin * self.written})
            self._synced = self.written
        now = time.monotonic()
        self._interval = max(self.sync_seconds, 10.0 * (now - started))
        self._last_sync = now

    def finish(self, state=None) -> xr.Dataset:
        """Close the file (``state`` stored with it) and return it, read lazily."""
        if self.writer.n_steps + self.fill == 0 and not self.resume:
            self.writer.abort()
            raise ValueError(f"n_steps: the run recorded nothing (n_steps < thin); nothing written to {self.path}")
        self._flush()
        self.writer.close(state=state)
        # lazily loaded: a streamed run may not fit in memory; values are read on access
        return load(self.path, lazy=True, verify=False)

    def abort(self, exc) -> None:
        """On SIGINT/SIGTERM (KeyboardInterrupt) keep what was flushed, with its state; else discard."""
        if self.writer.closed:
            return
        if isinstance(exc, KeyboardInterrupt) and self.written and self.flushed_state is not None:
            self.writer.close(state=self.flushed_state, attrs={"n_steps": self.thin * self.written})
        else:
            self.writer.abort(exc)


def open_store(path, n_records, first_step, thin, ham, attrs, static_coords, var_meta, extra_step_coords=None,
               *, overwrite: bool = False, resume: bool = False) -> RecordStore:
    """A :class:`NetCDFStore` for ``path``, a :class:`MemoryStore` when ``path`` is None."""
    args = (n_records, first_step, thin, ham, attrs, static_coords, var_meta, extra_step_coords)
    if path is None:
        return MemoryStore(*args)
    return NetCDFStore(path, overwrite, resume, *args)
