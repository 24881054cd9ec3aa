r"""The run loop's side of streaming: :class:`Recorder` buffers a sampler's records into chunks
for a :class:`~pyrbm.writer.TrajectoryWriter` (or keeps them in memory), and
:func:`continuation` decides whether ``run(..., out=path)`` continues the run stored at
``path``.

What the run loop calls (``pyrbm.samplers.base.Sampler._run``)::

    resume, state = continuation(out, state, burn_in)       # before any work (out given, no overwrite)
    rec = Recorder(n_records, state.step + burn_in, thin, path, overwrite, ham, attrs, static, meta,
                   extra_step_coords=..., resume=resume)
    for each record:
        rec.add(record, snapshot=lambda: <state right after this record>.to_dataset())
    ds = rec.finish(state=final_state.to_dataset())          # after the run
    rec.abort(exc)                                          # when the run raised (then re-raise)

A Ctrl-C (KeyboardInterrupt) during a streamed run keeps the records flushed so far with the
state at the last of them, and ``n_steps`` = ``thin`` × records kept, so the run can be
continued from its file; any other exception discards the new records.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from . import writer as _writer
from ._io import deferred_interrupt
from .trajectory import complete, load
from .writer import TrajectoryWriter

__all__ = ["Recorder", "continuation"]

def continuation(out, state, burn_in: int):
    """Whether ``run(..., state=state, out=out)`` continues the run stored at ``out``, and from which state.

    Returns ``(resume, state)``: ``(False, state)`` when ``out`` does not exist; ``(True,
    stored state)`` when it holds a run that ``state`` continues (``state`` is ``None``, or
    equal to the state stored with the run: same kind, step, seed and arrays).

    Raises
    ------
    FileExistsError
        ``out`` exists but is not a run that ``state`` continues.
    ValueError
        ``burn_in`` > 0: the records of a continued run follow the file's without a gap.
    """
    from .samplers.base import state_from_dataset
    from .trajectory import load_state

    if not isinstance(out, (str, os.PathLike)) or not Path(out).is_file():
        return False, state  # a new file (the path itself is checked by check_writable)
    out = Path(out)
    why = None
    try:
        stored = state_from_dataset(load_state(out))
    except ValueError as exc:  # not a trajectory, a /1 file, no state group, damaged
        why = str(exc)
    else:
        if state is not None and (type(state) is not type(stored) or state.step != stored.step
                                  or state.seed != stored.seed or any(
                                      getattr(state, f).tobytes() != getattr(stored, f).tobytes()
                                      for f in state._evolving)):
            why = (f"it holds a run that ends at step {stored.step} (seed {stored.seed}); the state given is at "
                   f"step {state.step} (seed {state.seed}), not the state stored with the run")
    if why is not None:
        raise FileExistsError(
            f"out: {out} exists and this run does not continue it: {why}; pass the state the run returned (or "
            f"state=None) to continue it, overwrite=True to replace it, or another name")
    if burn_in:
        raise ValueError(f"burn_in: continuing the run in {out}, the new records follow the stored ones; "
                         f"pass burn_in=0 (got {burn_in})")
    return True, stored



class Recorder:
    """Collects a run's per-record arrays; writes chunks to a TrajectoryWriter or keeps them.

    The run loop calls ``add(record, snapshot=...)`` after each record, then ``finish(state=...)``
    after the run, or ``abort(exc)`` when the run raised. ``snapshot`` is a callable returning
    the sampler state right after this record as a dataset (``state.to_dataset()``); it is
    called only when the buffer is flushed to disk, so a Ctrl-C keeps the flushed records
    together with the state at the last of them.

    Parameters
    ----------
    n_records, first_step, thin
        Records of this run; step of the first counted sweep (``state.step + burn_in``);
        sweeps between records. Record ``r`` (1-based) is at step ``first_step + thin r``.
    path, overwrite, resume
        Output file (None: keep in memory) and how to treat an existing one
        (:class:`TrajectoryWriter`).
    ham, attrs
        The Hamiltonian and the run's attributes (``n_steps`` of this run).
    static_coords : dict
        ``{name: (dims, values, attrs)}`` coordinates without ``step``.
    var_meta : dict
        ``{name: (dims after step, attrs)}`` of each recorded variable.
    extra_step_coords : dict, optional
        ``{name: (fn(step array), attrs)}`` more coordinates along ``step``.
    """

    def __init__(self, n_records, first_step, thin, path, overwrite, ham, attrs, static_coords,
                 var_meta, extra_step_coords=None, *, resume=False):
        self.n_records = n_records
        self.first_step = first_step
        self.thin = thin
        self.path = path
        self.overwrite = overwrite
        self.resume = resume
        self.ham = ham
        self.attrs = attrs
        self.static_coords = static_coords  # {name: (dims, values, attrs)}
        self.var_meta = var_meta  # {name: (extra dims, attrs)}
        self.extra_step_coords = extra_step_coords or {}  # {name: (fn(step array), attrs)}
        self.buffers = None
        self.fill = 0
        self.written = 0
        self.writer = None
        self.flushed_state = None
        if path is not None:  # refuses a bad path (or an incompatible run to continue) before any work
            self.writer = TrajectoryWriter(path, overwrite=overwrite, resume=resume, hamiltonian=ham, attrs=attrs)

    def _allocate(self, record):
        per_record = sum(a.nbytes for a in record.values())
        if self.path is None:
            self.chunk = max(1, self.n_records)
        else:
            self.chunk = int(max(1, min(self.n_records, _writer._CHUNK_BYTES // max(1, per_record))))
        self.buffers = {k: np.empty((self.chunk,) + a.shape, dtype=a.dtype) for k, a in record.items()}

    def add(self, record: dict, snapshot=None):
        """Buffer one record; flush a full buffer (calling ``snapshot()`` for the state now)."""
        if self.buffers is None:
            self._allocate(record)
        for k, a in record.items():
            self.buffers[k][self.fill] = a
        self.fill += 1
        if self.path is not None and self.fill == self.chunk:
            self._flush(snapshot() if snapshot is not None else None)

    def _dataset(self, n):
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

    def _flush(self, state=None):
        if self.fill == 0:
            return
        with deferred_interrupt():  # the bookkeeping always matches what the file holds
            self.writer.append(self._dataset(self.fill))
            self.written += self.fill
            self.fill = 0
            self.flushed_state = state

    def finish(self, state: xr.Dataset | None = None):
        """The run's dataset: in memory, or the closed file read lazily (``state`` stored with it)."""
        if self.path is None:
            if self.buffers is None:
                raise ValueError("n_steps: the run recorded nothing (n_steps < thin); record at least once")
            return self._dataset(self.fill)
        if self.writer.n_steps + self.fill == 0 and not self.resume:
            self.writer.abort()
            raise ValueError(f"n_steps: the run recorded nothing (n_steps < thin); nothing written to {self.path}")
        if self.fill:
            self._flush()
        self.writer.close(state=state)
        # lazily loaded: a streamed run may not fit in memory; values are read on access
        return load(self.path, lazy=True, verify=False)

    def abort(self, exc):
        """After the run raised: on Ctrl-C keep what was flushed (with its state); else discard."""
        if self.writer is None or self.writer.closed:
            return
        if isinstance(exc, KeyboardInterrupt) and self.written and self.flushed_state is not None:
            n_steps = self.thin * self.written
            self.writer.close(state=self.flushed_state, attrs={"n_steps": n_steps})
        else:
            self.writer.abort(exc)
