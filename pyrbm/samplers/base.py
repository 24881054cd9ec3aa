r"""The sampler family's common part: the state base class and the run loop.

A sampler separates the *what* (a :class:`~pyrbm.Hamiltonian`), the *how* (the
sampler's settings) and the *where* (an immutable :class:`SamplerState` holding the
chains and their random streams).  :class:`Sampler` owns the run loop once:

    checks → initial state → burn-in → record loop → finish (streamed or in memory)

and each family supplies only what differs: its state type, its step
(:meth:`Sampler._advance`), what a record holds (a :class:`RecordPlan`) and its
attributes.  A result depends only on the seed: not on the number of threads, nor on
whether a run is done in one call or continued from a returned state.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import sys
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np
import xarray as xr

from .._checks import (available_memory, check_bool, check_float_dtype, check_hamiltonian, check_int,
                       check_seed, fresh_seed)
from .._kernels.rng import STREAM_WIDTH
from ..io.netcdf import check_writable, interrupt_at_safe_points
from ..io.storage import open_store
from ..io.trajectory import read_state

__all__ = ["SamplerState", "Sampler", "RecordPlan", "state_from_dataset", "load_state", "continuation"]

#: State classes by their ``kind`` tag in files (filled by the subclasses).
_STATE_KINDS: dict[str, type] = {}


# =============================================================================
# state
# =============================================================================
@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class SamplerState:
    r"""Immutable snapshot of a sampler's chains: the base of every family's state.

    Parameters
    ----------
    streams : ndarray (R, 4) uint64
        Per-row counter-based random streams (:mod:`pyrbm._kernels.rng`); ``R`` rows
        (``n_chains``, or ``n_replicas * n_chains`` for replica exchange).
    step : int
        Sweeps (Gibbs) or Euler-Maruyama steps (Langevin) since initialisation (≥ 0).
    seed : int
        The seed the streams were derived from.

    Notes
    -----
    Arrays are made read-only on construction; samplers copy them before advancing, so a
    state can be reused as a starting point any number of times, unless the caller gives
    it up (``donate=True``): then the run advances its arrays in place, without a copy,
    and refuses the spent state afterwards.  Subclasses name the
    arrays that evolve in ``_evolving`` and check their own fields in ``_check``.
    """

    streams: np.ndarray
    step: int = 0
    seed: int = 0

    kind: ClassVar[str] = ""
    _evolving: ClassVar[tuple] = ("streams",)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("kind"):
            _STATE_KINDS[cls.kind] = cls

    def __post_init__(self):
        if type(self) is SamplerState:
            raise TypeError("SamplerState is a base class; build a GibbsState, TemperingState or LangevinState "
                            "(or get one from a sampler's init_state)")
        check_int("step", self.step, minimum=0)
        check_seed(self.seed)
        object.__setattr__(self, "step", int(self.step))
        object.__setattr__(self, "seed", int(self.seed))
        streams = self.streams
        if not isinstance(streams, np.ndarray) or streams.dtype != np.uint64 or streams.ndim != 2 \
                or streams.shape[1] != STREAM_WIDTH or streams.shape[0] == 0:
            raise ValueError(f"streams: expected a uint64 array of shape (n_rows, {STREAM_WIDTH}) from "
                             f"pyrbm._kernels.rng.make_streams, got {_describe(streams)}; start with init_state(ham)")
        self._check()
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                value = np.ascontiguousarray(value)
                value.flags.writeable = False
                object.__setattr__(self, f.name, value)

    def _check(self) -> None:
        """Subclass hook: check the family's own arrays (shapes among themselves, dtypes)."""

    @property
    def n_rows(self) -> int:
        """Rows of the state arrays (chains × replicas)."""
        return self.streams.shape[0]

    @property
    def n_chains(self) -> int:
        """Number of chains."""
        return self.n_rows

    def _copies(self, donate: bool = False) -> dict:
        """Writable copies of the arrays that evolve; with ``donate``, the arrays themselves.

        A donated state hands its buffers to the run (no copy) and is spent: samplers
        refuse it afterwards. Arrays that cannot be made writable again (views of
        another array) are copied.
        """
        if not donate:
            return {name: np.array(getattr(self, name), copy=True, order="C") for name in self._evolving}
        out = {}
        for name in self._evolving:
            arr = getattr(self, name)
            try:
                arr.flags.writeable = True
            except ValueError:
                arr = np.array(arr, copy=True, order="C")
            out[name] = arr
        object.__setattr__(self, "_spent", True)
        return out

    def _evolve(self, step: int, arrays: dict) -> "SamplerState":
        """A new state of the same kind with ``arrays`` (the sampler's own, trusted) and ``step`` replaced."""
        new = copy.copy(self)
        new.__dict__.pop("_spent", None)  # a donated state's successor is usable
        object.__setattr__(new, "step", int(step))
        for name, value in arrays.items():
            value.flags.writeable = False
            object.__setattr__(new, name, value)
        return new

    def to_dataset(self) -> xr.Dataset:
        """The state as a dataset (for storing with a run): one variable per array, attrs kind/step/seed."""
        data = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                data[f.name] = (tuple(f"{f.name}_{i}" for i in range(value.ndim)), value)
        return xr.Dataset(data, attrs={"kind": self.kind, "step": self.step, "seed": self.seed})

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(n_chains={self.n_chains}, step={self.step}, seed={self.seed}"
                f"{self._repr_extra()})")

    def _repr_extra(self) -> str:
        return ""


def state_from_dataset(ds: xr.Dataset) -> SamplerState:
    """Rebuild a state from :meth:`SamplerState.to_dataset` (the ``kind`` attribute picks the class)."""
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds: expected an xarray.Dataset, got {type(ds).__name__}")
    kind = ds.attrs.get("kind")
    if kind not in _STATE_KINDS:
        raise ValueError(f"ds: attribute 'kind' is {kind!r}, expected one of {sorted(_STATE_KINDS)}")
    cls = _STATE_KINDS[kind]
    arrays = {name: np.asarray(ds[name].values) for name in ds.data_vars}
    return cls(step=int(ds.attrs["step"]), seed=int(ds.attrs["seed"]), **arrays)


def load_state(path) -> SamplerState:
    """The sampler state stored with a streamed run: the state that continues it.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by ``Sampler.run(..., out=path)`` (checksums verified).

    Returns
    -------
    GibbsState, TemperingState or LangevinState
        The state after the run's last record;
        ``sampler.run(ham, state=pyrbm.load_state(path), n_steps=n, out=path)`` appends ``n``
        more steps to the run, exactly as if it had been run in one call.

    Raises
    ------
    ValueError
        The file stores no state (written by ``pyrbm.save`` without ``state=``).
    pyrbm.IntegrityError
        The file is damaged or lacks its checksum.
    """
    return state_from_dataset(read_state(path))


def _same_state(a: SamplerState, b: SamplerState) -> bool:
    return (type(a) is type(b) and a.step == b.step and a.seed == b.seed
            and all(getattr(a, f).tobytes() == getattr(b, f).tobytes() for f in a._evolving))


def continuation(out, state, burn_in: int) -> bool:
    """Whether ``run(..., state=state, out=out)`` (without ``overwrite``) continues the run stored at ``out``.

    ``False`` when ``out`` does not exist (a new file); ``True`` when it holds a run and
    ``state`` is the state stored with it (:func:`load_state`): only then are records appended.

    Raises
    ------
    FileExistsError
        ``out`` exists and ``state`` is ``None`` (a rerun would silently append to another
        run), or ``state`` is not the state stored with it (another seed, step or kind), or
        ``out`` is not a run that can be continued.
    ValueError
        ``burn_in`` > 0: the records of a continued run follow the file's without a gap.
    """
    if not isinstance(out, (str, os.PathLike)) or not os.path.exists(out) or os.path.isdir(out):
        return False  # a new file (the path itself is checked by check_writable)
    out = Path(out)
    choices = (f"pass state=pyrbm.load_state({str(out)!r}) to continue the run stored there, "
               f"overwrite=True to replace it, or another name")
    try:
        stored = load_state(out)
    except (ValueError, FileNotFoundError) as exc:  # not a trajectory, no state group, damaged, a dangling link
        raise FileExistsError(f"out: {out} exists and holds no run that can be continued ({exc}); "
                              f"pass overwrite=True to replace it, or another name") from None
    if state is None:
        raise FileExistsError(f"out: {out} exists: it holds a run that ends at step {stored.step} (seed "
                              f"{stored.seed}); {choices}")
    if not _same_state(state, stored):
        raise FileExistsError(
            f"out: {out} exists and this run does not continue it: it holds a run that ends at step {stored.step} "
            f"(seed {stored.seed}, {type(stored).__name__}); the state given is at step {state.step} (seed "
            f"{state.seed}, {type(state).__name__}); {choices}")
    if burn_in:
        raise ValueError(f"burn_in: continuing the run in {out}, the new records follow the stored ones; "
                         f"pass burn_in=0 (got {burn_in})")
    return True


def _describe(x) -> str:
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape} and dtype {x.dtype}"
    return type(x).__name__


# =============================================================================
# what a run records
# =============================================================================
@dataclasses.dataclass
class RecordPlan:
    """What one run records, supplied by the sampler family.

    Attributes
    ----------
    record : callable
        ``record(arrays) -> {name: ndarray (n_chains, ...)}``, called after every
        ``thin`` steps with the (writable) evolving arrays of the state.
    static : dict
        Coordinates without a ``step`` dim: ``{name: (dims, values, attrs)}``.
    meta : dict
        Per-variable ``{name: (dims after "step", attrs)}``.
    attrs : dict
        The family's own dataset attributes (added to the common ones).
    step_coords : dict
        Extra coordinates along ``step``: ``{name: (fn(steps), attrs)}``.
    begin : callable
        Called once after the burn-in, before the first record (resets counters).
    """

    record: Callable[[dict], dict]
    static: dict
    meta: dict
    attrs: dict
    step_coords: dict = dataclasses.field(default_factory=dict)
    begin: Callable[[], None] = lambda: None


# =============================================================================
# the sampler base class
# =============================================================================
class Sampler:
    r"""Base class of pyrbm's samplers: settings, checks and the run loop.

    Subclasses set ``name`` and ``state_type`` and implement ``init_state``,
    ``_work`` (per-run buffers), ``_advance`` (the dynamics, in place), ``_expected``
    (state array shapes and dtypes for a Hamiltonian), ``_bytes_per_row`` and a public
    ``run`` that builds a :class:`RecordPlan` and calls :meth:`_run`.

    Parameters
    ----------
    n_chains : int
        Number of independent chains (≥ 1).
    seed : int, optional
        Seed of the per-chain random streams; ``None`` draws one from the operating
        system (recorded in the state and the dataset's ``seed`` attribute).
    dtype : {numpy.float32, numpy.float64}
        Storage (and, for Gibbs, arithmetic) precision of the chains.
    """

    name: ClassVar[str] = ""
    state_type: ClassVar[type] = SamplerState

    def __init__(self, n_chains: int, *, seed: int | None = None, dtype=np.float32):
        self.n_chains = check_int("n_chains", n_chains, minimum=1)
        self.seed = check_seed(seed)
        self.dtype = check_float_dtype(dtype)

    # -- hooks ----------------------------------------------------------------
    def _n_rows(self) -> int:
        return self.n_chains

    def _beta(self, ham) -> float:
        """The inverse temperature the dynamics runs at."""
        return float(ham.beta)

    def _check_model(self, ham):
        """Family-specific checks of the Hamiltonian (before any work); returns ``ham``."""
        return ham

    def _expected(self, ham) -> dict:  # pragma: no cover - abstract
        """``{array name: (shape, dtype)}`` of a state usable with ``ham``."""
        raise NotImplementedError

    def _bytes_per_row(self, ham) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _work(self, ham):  # pragma: no cover - abstract
        raise NotImplementedError

    def _advance(self, work, arrays: dict, n: int, step0: int) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _finished(self, ham, before, after) -> None:
        """Called with the states before and after ``advance``/``run`` (e.g. to warn)."""

    def _donatable(self) -> bool:
        """Whether a run may advance a given-up state's arrays in place: not when ``_finished``
        compares the states before and after (the before state must keep its values)."""
        return type(self)._finished is Sampler._finished

    # -- shared checks ----------------------------------------------------------
    def _resolve_seed(self, seed) -> int:
        seed = check_seed(seed)
        if seed is not None:
            return seed
        return self.seed if self.seed is not None else fresh_seed()

    def _check_memory(self, ham) -> None:
        """Refuse chain counts whose state cannot fit in memory, before allocating anything."""
        need = self._n_rows() * self._bytes_per_row(ham)
        avail = available_memory()
        if avail is not None and need > avail:
            raise MemoryError(
                f"n_chains: {self.n_chains} chains of a {ham.n_visible}x{ham.n_hidden} model need about "
                f"{need / 2**30:.3g} GiB for their state, but {avail / 2**30:.3g} GiB are available; "
                f"use fewer chains (or run them in batches with different seeds)")

    def _check_state(self, ham, state) -> SamplerState:
        if type(state) is not self.state_type:
            raise TypeError(f"state: expected a {self.state_type.__name__} (from init_state or run of a "
                            f"{type(self).__name__}), got {type(state).__name__}")
        if getattr(state, "_spent", False):
            raise ValueError("state: it was given to an earlier run with donate=True, which used its arrays; "
                             "continue from the state that run returned")
        for name, (shape, dtype) in self._expected(ham).items():
            arr = getattr(state, name)
            if arr.shape != shape or arr.dtype != dtype:
                raise ValueError(
                    f"state: {name} is {_describe(arr)}, this sampler and Hamiltonian need shape {shape} and "
                    f"dtype {np.dtype(dtype)}; start with init_state(ham) or create the sampler with "
                    f"the state's n_chains and dtype")
        return state

    # -- public dynamics ----------------------------------------------------------
    def advance(self, ham, *, state: SamplerState, n_steps: int, donate: bool = False) -> SamplerState:
        """``n_steps`` steps from ``state``, nothing recorded.

        Parameters
        ----------
        donate : bool
            Give ``state`` up: its arrays become the new state's (no copy of the chains)
            and it cannot be used again (samplers that compare the states before and
            after, such as Langevin's divergence warning, copy anyway).

        Returns
        -------
        SamplerState
            A new state (``state`` itself is unchanged unless donated), ``step`` increased by ``n_steps``.
        """
        ham = self._check_model(check_hamiltonian(ham))
        n_steps = check_int("n_steps", n_steps, minimum=0)
        donate = check_bool("donate", donate)
        self._check_state(ham, state)
        arrays = state._copies(donate and self._donatable())
        self._advance(self._work(ham), arrays, n_steps, state.step)
        new = state._evolve(state.step + n_steps, arrays)
        self._finished(ham, state, new)
        return new

    def _run(self, ham, state, n_steps, thin, burn_in, out, overwrite, progress, make_plan, donate=False):
        """The run loop: checks → initial state → burn-in → records → finish.

        ``make_plan(ham, work)`` returns the :class:`RecordPlan` (validated options,
        coordinates, attributes).  ``donate``: the run takes ``state``'s arrays instead
        of copying them (as it always does with a state it created itself). Returns
        ``(dataset, final state)``.
        """
        donate = check_bool("donate", donate)
        ham = self._check_model(check_hamiltonian(ham))
        n_steps = check_int("n_steps", n_steps, minimum=1)
        thin = check_int("thin", thin, minimum=1)
        burn_in = check_int("burn_in", burn_in, minimum=0)
        if n_steps < thin:
            raise ValueError(f"n_steps: expected at least thin = {thin} steps so that one record is made, "
                             f"got {n_steps}")
        overwrite = check_bool("overwrite", overwrite)
        if progress is not None:
            progress = check_bool("progress", progress)
        resume = False
        if out is not None and not overwrite:  # continue the run stored at out, or refuse
            resume = continuation(out, state, burn_in)
        path = None if out is None else check_writable(out, overwrite or resume)
        if state is None:
            self._check_memory(ham)
        work = self._work(ham)
        plan = make_plan(ham, work)
        if state is None:
            state, donate = self.init_state(ham), True  # nobody else holds it: no copy
        else:
            self._check_state(ham, state)

        attrs = {
            "sampler": self.name, "beta": self._beta(ham), "seed": int(state.seed),
            "n_chains": int(self.n_chains), "thin": int(thin), "burn_in": int(burn_in),
            "n_steps": int(n_steps), "first_step": int(state.step), "dtype": self.dtype.name,
            "units": ham.units, "n_visible": int(ham.n_visible), "n_hidden": int(ham.n_hidden),
            **plan.attrs,
        }
        n_records = n_steps // thin
        store = open_store(path, n_records, state.step + burn_in, thin, ham, attrs, plan.static, plan.meta,
                           plan.step_coords, overwrite=overwrite, resume=resume)
        arrays = state._copies(donate and self._donatable())
        step = state.step
        bar = _progress_bar(progress, n_records, self.name)
        try:
            with interrupt_at_safe_points() as interrupt:  # Ctrl-C/SIGTERM: handled after a record
                self._advance(work, arrays, burn_in, step)
                step += burn_in
                plan.begin()
                if interrupt.pending:
                    interrupt.raise_()
                for _ in range(n_records):
                    self._advance(work, arrays, thin, step)
                    step += thin
                    snapshot = lambda: state._evolve(step, {k: v.copy() for k, v in arrays.items()}).to_dataset()
                    store.add(plan.record(arrays), snapshot=snapshot)  # the state after this record
                    if bar is not None:
                        bar.update(1)
                    if interrupt.pending:  # keep every record so far, with the state after the last
                        store.keep(snapshot)
                        interrupt.raise_()
                rest = n_steps - thin * n_records
                self._advance(work, arrays, rest, step)
                step += rest
                new = state._evolve(step, arrays)
                ds = store.finish(state=new.to_dataset())
        except BaseException as exc:
            store.abort(exc)  # Ctrl-C, SIGTERM: the records are kept, with the state after the last of them
            raise
        finally:
            if bar is not None:
                bar.close()
        self._finished(ham, state, new)
        return ds, new


def _progress_bar(progress, total, name):
    show = progress if progress is not None else sys.stderr.isatty()
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="rec", dynamic_ncols=True, desc=name, leave=True)
