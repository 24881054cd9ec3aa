r"""Samplers: block Gibbs, replica exchange (parallel tempering) and reciprocal Langevin.

Every sampler separates the *what* (a :class:`~pyrbm.Hamiltonian`) from the *how* (the
sampler's settings) and the *where* (an explicit, immutable :class:`SamplerState`
holding the chains and their random streams).  A result depends only on the seed:
not on the number of numba threads, nor on whether a run is done in one call or
continued from a returned state.

* :class:`GibbsSampler` -- block Gibbs sweeps ``h ~ p(h|v)``, ``v ~ p(v|h)`` at the
  Hamiltonian's β, binary or spin units.  The matrix products are BLAS calls, the
  bias/sigmoid/draw step one fused numba pass (:mod:`pyrbm._kernels.gibbs`).
* :class:`ReplicaExchangeSampler` -- the same sweeps on a ladder of inverse temperatures
  with configuration exchanges between neighbours; records the replica at the
  Hamiltonian's own β, which it samples exactly.
* :class:`LangevinSampler` -- overdamped Euler-Maruyama dynamics on the Gaussian-DOS
  potential Φ in reciprocal space (PHYSICS §4), recording x, y and the normal-mode
  coordinates u, w; modes past the threshold βσ_k s² > 1 diverge, are frozen and
  reported.

``run`` returns ``(xr.Dataset, SamplerState)``; with ``out=path`` the records stream to
a netCDF4 file chunk by chunk (bounded memory) and the returned dataset is
``pyrbm.trajectory.load(path, lazy=True)``: variables are read from the file on access
(``ds.load()`` reads everything; ``ds.close()`` releases the file).
"""

from __future__ import annotations

import collections.abc
import contextlib
import dataclasses
import datetime
import numbers

import numba
import numpy as np
import xarray as xr

from . import __version__
from ._checks import (as_configuration, check_bool, check_finite_array, check_float_dtype, check_hamiltonian,
                      check_int, check_positive, check_seed, fresh_seed)
from ._io import check_writable
from ._kernels import gibbs as _gk
from ._kernels import langevin as _lk
from ._kernels import rng as _rng
from .hamiltonian import Hamiltonian

__all__ = [
    "SamplerState",
    "GibbsSampler",
    "ReplicaExchangeSampler",
    "LangevinSampler",
]

_CHUNK_BYTES = 8 * 2 ** 20  # records buffered before a streamed write



# =============================================================================
# checks
# =============================================================================
def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


# =============================================================================
# state
# =============================================================================
@dataclasses.dataclass(frozen=True, eq=False)
class SamplerState:
    r"""Immutable snapshot of a sampler's chains and random streams.

    Parameters
    ----------
    v : ndarray (R, N)
        Gibbs samplers: visible configurations (0/1 or ±1) in the sampler's dtype.
        Langevin: the visible reciprocal coordinates ``x`` (also available as
        :attr:`x`).  ``R`` is ``n_chains`` (``n_replicas * n_chains`` for replica
        exchange, replica-major: row ``r * n_chains + c``).
    h : ndarray (R, M)
        Hidden configurations, or the hidden reciprocal coordinates ``y``.
    streams : ndarray (R, 4) uint64
        Per-row counter-based random streams (:mod:`pyrbm._kernels.rng`).
    step : int
        Sweeps (Gibbs) or Euler-Maruyama steps (Langevin) done since initialisation.
    seed : int
        The seed the streams were derived from.
    kind : {"gibbs", "tempering", "langevin"}
        The sampler family the state belongs to.
    betas : ndarray (n_replicas,) or None
        The inverse-temperature ladder (replica exchange only).
    divergence_step : ndarray (n_chains, K) int64 or None
        Langevin only: the step at which each paired mode diverged, ``-1`` if never.

    Notes
    -----
    The arrays are read-only; samplers copy them before advancing, so a state can be
    reused as a starting point any number of times.
    """

    v: np.ndarray
    h: np.ndarray
    streams: np.ndarray
    step: int = 0
    seed: int = 0
    kind: str = "gibbs"
    betas: np.ndarray | None = None
    divergence_step: np.ndarray | None = None

    @property
    def n_chains(self) -> int:
        """Number of chains (per replica for replica exchange)."""
        if self.kind == "tempering":
            return self.v.shape[0] // self.betas.shape[0]
        return self.v.shape[0]

    @property
    def dtype(self) -> np.dtype:
        return self.v.dtype

    @property
    def x(self) -> np.ndarray:
        """Visible reciprocal coordinates (Langevin states), shape (n_chains, N)."""
        if self.kind != "langevin":
            raise AttributeError("x: only Langevin states hold reciprocal coordinates; use ham.modes.x(state.v)")
        return self.v

    @property
    def y(self) -> np.ndarray:
        """Hidden reciprocal coordinates (Langevin states), shape (n_chains, M)."""
        if self.kind != "langevin":
            raise AttributeError("y: only Langevin states hold reciprocal coordinates; use ham.modes.y(state.h)")
        return self.h

    @property
    def diverged(self) -> np.ndarray | None:
        """Langevin only: bool (n_chains, K), True for modes that diverged."""
        return None if self.divergence_step is None else self.divergence_step >= 0

    def _arrays(self):
        """Writable copies of the mutable arrays."""
        out = [self.v.copy(), self.h.copy(), self.streams.copy()]
        if self.divergence_step is not None:
            out.append(self.divergence_step.copy())
        return out

    def __repr__(self) -> str:
        extra = "" if self.betas is None else f", n_replicas={self.betas.size}"
        return (f"SamplerState(kind={self.kind!r}, n_chains={self.n_chains}, step={self.step}, "
                f"seed={self.seed}, dtype={self.v.dtype}{extra})")


def _make_state(v, h, streams, step, seed, kind, betas=None, divergence_step=None) -> SamplerState:
    return SamplerState(
        v=_readonly(v), h=_readonly(h), streams=_readonly(streams), step=int(step), seed=int(seed),
        kind=kind, betas=None if betas is None else _readonly(np.array(betas, dtype=np.float64)),
        divergence_step=None if divergence_step is None else _readonly(divergence_step))


# =============================================================================
# recording and streaming
# =============================================================================
class _Recorder:
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
            from .trajectory import TrajectoryWriter

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
            from .trajectory import SCHEMA

            ds = self._dataset(self.fill)
            ds.attrs.setdefault("schema", SCHEMA)
            ds.attrs.setdefault("created", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
            return ds
        self._flush()
        self.writer.close()
        from .trajectory import load

        # lazily loaded: a streamed run may not fit in memory; values are read on access
        return load(self.path, lazy=True)

    def abort(self, exc):
        if self.writer is not None:
            self.writer.abort(exc)


def _check_run_args(n_steps, thin, burn_in, out, overwrite):
    n_steps = check_int("n_steps", n_steps, minimum=1)
    thin = check_int("thin", thin, minimum=1)
    burn_in = check_int("burn_in", burn_in, minimum=0)
    if n_steps < thin:
        raise ValueError(f"n_steps: expected at least thin = {thin} steps so that one record is made, got {n_steps}")
    overwrite = check_bool("overwrite", overwrite)
    path = None if out is None else check_writable(out, overwrite)
    return n_steps, thin, burn_in, path, overwrite


# =============================================================================
# Gibbs
# =============================================================================
@contextlib.contextmanager
def _kernel_threads(n):
    """Run numba kernels of the calling thread on ``n`` threads inside the block."""
    old = numba.get_num_threads()
    numba.set_num_threads(min(n, old))
    try:
        yield
    finally:
        numba.set_num_threads(old)


class _GibbsWork:
    """Per-run buffers and the model cast to the sampler's dtype."""

    def __init__(self, ham: Hamiltonian, n_rows: int, dtype: np.dtype, beta_rows: np.ndarray):
        # fresh writable copies: one compiled kernel signature whatever the caller holds
        self.W = np.array(ham.W, dtype=dtype, order="C", copy=True)
        self.a = np.array(ham.a, dtype=dtype, copy=True)
        self.b = np.array(ham.b, dtype=dtype, copy=True)
        self.spin = bool(ham.spin)
        self.beta_rows = np.ascontiguousarray(beta_rows, dtype=np.float64)
        self.a64 = np.array(ham.a, dtype=np.float64, copy=True)  # joint energies (replica exchange)
        self.b64 = np.array(ham.b, dtype=np.float64, copy=True)
        self.ws = _gk.make_workspace(n_rows, ham.n_visible, ham.n_hidden, dtype)  # one row tile of fields

    def sweeps(self, v, h, streams, n, energy=None):
        """``n`` block-Gibbs sweeps in place: h ~ p(h|v), then v ~ p(v|h), tile by tile.

        ``energy`` (float64, one per row) receives the joint energies after the last sweep.

        The fused kernels run on the calling thread only, between multi-threaded BLAS
        products: OpenMP or BLAS worker threads that spin-wait after one call take cores
        from the next, and on 2 cores a sweep of 1,000 chains of a 784x500 RBM ran at
        0.25-0.7x the BLAS-only rate with two kernel threads against 0.6-1.0x with one
        (the kernel costs ~1.2 ns per unit, a few percent of the products).  Results do
        not depend on the thread count.
        """
        with _kernel_threads(1):
            _gk.block_gibbs_sweeps(v, h, self.W, self.a, self.b, self.beta_rows, self.spin, streams, n, self.ws,
                                   energy=energy, energy_biases=(self.a64, self.b64))


class GibbsSampler:
    r"""Block Gibbs sampling of :math:`p(v, h) \propto e^{-\beta E(v, h)}` at the Hamiltonian's β.

    One step is one sweep: :math:`h \sim p(h|v)`, then :math:`v \sim p(v|h)`, with
    :math:`p(h_j=1|v) = \sigma(\beta(b_j + (W^\top v)_j))` (binary units) or
    :math:`p(h_j=+1|v) = \sigma(2\beta(b_j + (W^\top v)_j))` (spin units).

    Parameters
    ----------
    n_chains : int
        Number of independent chains (>= 1).
    seed : int, optional
        Seed of the per-chain random streams.  ``None`` draws one from the operating
        system (it is recorded in the state and the dataset's ``seed`` attribute).
    dtype : {numpy.float32, numpy.float64}
        Arithmetic and storage of the chains: float32 is the fast default, float64 the
        reference.

    Examples
    --------
    >>> ham = pyrbm.Hamiltonian.random(784, 500, seed=0)            # doctest: +SKIP
    >>> ds, state = GibbsSampler(1000, seed=1).run(ham, n_steps=500, thin=10)  # doctest: +SKIP
    >>> ds2, state = GibbsSampler(1000, seed=1).run(ham, state, n_steps=500)   # doctest: +SKIP
    """

    name = "gibbs"
    _kind = "gibbs"

    def __init__(self, n_chains: int, seed: int | None = None, dtype=np.float32):
        self.n_chains = check_int("n_chains", n_chains, minimum=1)
        self.seed = check_seed(seed)
        self.dtype = check_float_dtype(dtype)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_chains={self.n_chains}, seed={self.seed}, dtype={self.dtype.name})"

    # -- layout hooks (overridden by replica exchange) ------------------------
    def _n_rows(self) -> int:
        return self.n_chains

    def _beta_rows(self, ham) -> np.ndarray:
        return np.full(self._n_rows(), float(ham.beta))

    def _state_extra(self) -> dict:
        return {}

    # -- state ----------------------------------------------------------------
    def init_state(self, ham: Hamiltonian, seed: int | None = None, v0=None) -> SamplerState:
        r"""Initial chains: uniform random visible units, or given ones; h ~ p(h|v).

        Parameters
        ----------
        ham : Hamiltonian
        seed : int, optional
            Overrides the sampler's seed.  If both are ``None`` a fresh seed is drawn.
        v0 : array_like, shape (N,) or (n_chains, N), optional
            Starting visible configurations (0/1 for binary units, ±1 for spin units);
            a single configuration is copied to every chain.

        Returns
        -------
        SamplerState
            At step 0.
        """
        ham = check_hamiltonian(ham)
        seed = check_seed(seed)
        seed = seed if seed is not None else (self.seed if self.seed is not None else fresh_seed())
        rows = self._n_rows()
        if v0 is not None:
            v0 = as_configuration("v0", v0, ham.n_visible, ham.units, dtype=self.dtype)
            if v0.ndim == 1:
                v0 = np.broadcast_to(v0, (rows, ham.n_visible))
            elif v0.shape == (self.n_chains, ham.n_visible) and rows != self.n_chains:
                v0 = np.tile(v0, (rows // self.n_chains, 1))
            elif v0.ndim != 2 or v0.shape[0] != rows:
                raise ValueError(
                    f"v0: expected shape ({ham.n_visible},) or ({self.n_chains}, {ham.n_visible}), "
                    f"got {v0.shape}; give one configuration per chain")
        streams = _rng.make_streams(seed, rows)
        v = np.empty((rows, ham.n_visible), dtype=self.dtype)
        h = np.empty((rows, ham.n_hidden), dtype=self.dtype)
        work = _GibbsWork(ham, rows, self.dtype, self._beta_rows(ham))
        if v0 is None:  # sigma(0) = 1/2: uniform units from the streams
            _gk.sample_uniform(v, h, work.beta_rows, work.spin, streams, work.ws)
        else:
            v[...] = v0
        _gk.sample_hidden(v, h, work.W, work.b, work.beta_rows, work.spin, streams, work.ws)
        return _make_state(v, h, streams, 0, seed, self._kind, **self._state_extra())

    def _check_state(self, ham: Hamiltonian, state) -> None:
        if not isinstance(state, SamplerState):
            raise TypeError(f"state: expected a SamplerState (from init_state or run), got {type(state).__name__}")
        rows = self._n_rows()
        if state.kind != self._kind:
            raise ValueError(f"state: a {state.kind!r} state cannot continue with a {self.name} sampler; "
                             f"use init_state")
        want_v, want_h = (rows, ham.n_visible), (rows, ham.n_hidden)
        if state.v.shape != want_v or state.h.shape != want_h:
            raise ValueError(
                f"state: chains have shapes {state.v.shape} and {state.h.shape}, this sampler and Hamiltonian "
                f"need {want_v} and {want_h}; start with init_state(ham)")
        if state.v.dtype != self.dtype:
            raise ValueError(f"state: dtype {state.v.dtype} differs from the sampler's {self.dtype}; "
                             f"create the sampler with dtype={state.v.dtype}")
        if state.streams.shape != (rows, _rng.STREAM_WIDTH) or state.streams.dtype != np.uint64:
            raise ValueError("state: random streams have the wrong shape or dtype; start with init_state(ham)")

    # -- dynamics -------------------------------------------------------------
    def advance(self, ham: Hamiltonian, state: SamplerState, n_steps: int) -> SamplerState:
        """``n_steps`` sweeps from ``state``, nothing recorded.

        Returns
        -------
        SamplerState
            A new state (``state`` itself is unchanged), ``step`` increased by ``n_steps``.
        """
        ham = check_hamiltonian(ham)
        n_steps = check_int("n_steps", n_steps, minimum=0)
        self._check_state(ham, state)
        work = self._work(ham)
        v, h, streams = state._arrays()
        self._advance_arrays(work, v, h, streams, n_steps, state.step)
        return _make_state(v, h, streams, state.step + n_steps, state.seed, self._kind, **self._state_extra())

    def _work(self, ham):
        return _GibbsWork(ham, self._n_rows(), self.dtype, self._beta_rows(ham))

    def _advance_arrays(self, work, v, h, streams, n, step0):
        work.sweeps(v, h, streams, n)

    def _record_rows(self, ham):
        return slice(0, self.n_chains)

    def _extra_record(self, work):
        return {}

    def _extra_meta(self, ham):
        return {}, {}

    def _extra_attrs(self, ham) -> dict:
        return {}

    def run(self, ham: Hamiltonian, state: SamplerState | None = None, n_steps: int = 100, thin: int = 1,
            burn_in: int = 0, observables=None, keep_configs: bool = False, out=None,
            overwrite: bool = False):
        r"""Sample and record observables every ``thin`` sweeps.

        Parameters
        ----------
        ham : Hamiltonian
            The model; sampled at ``ham.beta`` in ``ham.units``.
        state : SamplerState, optional
            Where to continue from; ``None`` starts with :meth:`init_state`.
        n_steps : int
            Sweeps after the burn-in (>= ``thin``).  Records are made after sweeps
            ``thin, 2 thin, ...``; ``n_steps // thin`` of them.
        thin : int
            Sweeps between records.
        burn_in : int
            Sweeps before the first counted sweep, not recorded.
        observables : sequence, optional
            :class:`pyrbm.observables.Observable` instances or classes, or callables
            ``f(ham, v, h) -> (n_chains, ...)``.  Default:
            :func:`pyrbm.observables.default_observables`.
        keep_configs : bool
            Also store the configurations ``v`` (step, chain, visible) and ``h``
            (step, chain, hidden) as int8.
        out : str or os.PathLike, optional
            Stream the records to this netCDF4 file (bounded memory); refused before
            any work if it exists (unless ``overwrite``) or cannot be written.  The
            returned dataset is then read lazily from the file (``ds.close()`` when done).
        overwrite : bool
            Replace an existing ``out``.

        Returns
        -------
        ds : xarray.Dataset
            dims ``step``, ``chain`` (+ the observables' dims, ``visible``/``hidden``);
            coordinate ``step`` counts sweeps since initialisation; attrs ``sampler``,
            ``beta``, ``seed``, ``n_chains``, ``thin``, ``burn_in``, ``dtype``, ``units``,
            ``n_visible``, ``n_hidden``, ``pyrbm_version``.
        state : SamplerState
            The state after ``burn_in + n_steps`` sweeps.
        """
        from .observables import as_observable, default_observables

        ham = check_hamiltonian(ham)
        n_steps, thin, burn_in, path, overwrite = _check_run_args(n_steps, thin, burn_in, out, overwrite)
        keep_configs = check_bool("keep_configs", keep_configs)
        if observables is None:
            obs = list(default_observables())
        else:
            if isinstance(observables, (str, bytes)) or not isinstance(observables, collections.abc.Sequence):
                observables = [observables]
            obs = [as_observable(o) for o in observables]
        names = [o.name for o in obs]
        reserved = {"v", "h", "step", "chain", "swap_acceptance"}
        clash = [n for n in names if n in reserved or names.count(n) > 1]
        if clash:
            raise ValueError(f"observables: names must be unique and not one of {sorted(reserved)}; got {clash}")
        if state is not None:
            self._check_state(ham, state)
        else:
            state = self.init_state(ham)

        static, meta = {"chain": ("chain", np.arange(self.n_chains), {"long_name": "chain index"})}, {}
        owner = {}
        for o in obs:
            for cname, cval in (o.coords(ham) or {}).items():
                if isinstance(cval, tuple):
                    entry = cval if len(cval) == 3 else (cval[0], cval[1], {})
                elif isinstance(cval, xr.DataArray):
                    entry = (cval.dims, cval.values, dict(cval.attrs))
                else:
                    entry = (cname, np.asarray(cval), {})
                if cname in static and not np.array_equal(np.asarray(static[cname][1]), np.asarray(entry[1])):
                    raise ValueError(
                        f"observables: {owner[cname]!r} and {o.name!r} give different coordinates "
                        f"{cname!r} (e.g. different modes=); observables that share a dimension must agree")
                static[cname] = entry
                owner[cname] = o.name
            meta[o.name] = (("chain",) + tuple(o.dims), dict(o.attrs))
        if keep_configs:
            meta["v"] = (("chain", "visible"), {"long_name": "visible configuration"})
            meta["h"] = (("chain", "hidden"), {"long_name": "hidden configuration"})
        extra_static, extra_meta = self._extra_meta(ham)
        static.update(extra_static)
        meta.update(extra_meta)
        attrs = {
            "sampler": self.name, "beta": float(ham.beta), "seed": int(state.seed),
            "n_chains": int(self.n_chains), "thin": int(thin), "burn_in": int(burn_in),
            "n_steps": int(n_steps), "first_step": int(state.step), "dtype": self.dtype.name,
            "units": ham.units, "n_visible": int(ham.n_visible), "n_hidden": int(ham.n_hidden),
            "pyrbm_version": __version__,
        }
        attrs.update(self._extra_attrs(ham))

        work = self._work(ham)
        v, h, streams = state._arrays()
        rec = _Recorder(n_steps // thin, state.step + burn_in, thin, path, overwrite, ham, attrs, static, meta)
        rows = self._record_rows(ham)
        step = state.step
        try:
            self._advance_arrays(work, v, h, streams, burn_in, step)
            step += burn_in
            self._extra_record(work)  # per-record counters (swap acceptance) start after burn-in
            for _ in range(n_steps // thin):
                self._advance_arrays(work, v, h, streams, thin, step)
                step += thin
                vr, hr = v[rows], h[rows]
                record = {o.name: np.asarray(o.compute(ham, vr, hr)) for o in obs}
                if keep_configs:
                    record["v"] = vr.astype(np.int8)
                    record["h"] = hr.astype(np.int8)
                record.update(self._extra_record(work))
                rec.add(record)
            rest = n_steps - thin * (n_steps // thin)
            self._advance_arrays(work, v, h, streams, rest, step)
            step += rest
            ds = rec.finish()
        except BaseException as exc:
            rec.abort(exc)
            raise
        new_state = _make_state(v, h, streams, step, state.seed, self._kind, **self._state_extra())
        return ds, new_state


class ReplicaExchangeSampler(GibbsSampler):
    r"""Parallel tempering: Gibbs sweeps on a ladder of inverse temperatures plus exchanges.

    Each of the ``n_chains`` chains is a set of ``n_replicas`` configurations, one per
    β in ``betas``.  After every sweep, neighbouring replicas ``(r, r+1)`` (first the
    pairs with even ``r``, then those with odd ``r``) exchange configurations with
    probability :math:`\min\{1, e^{(\beta_r-\beta_{r+1})(E_r - E_{r+1})}\}`, where
    :math:`E` is the joint energy :math:`E(v, h)`.  The product of the Boltzmann
    distributions is invariant, so the replica at the Hamiltonian's own β samples
    :math:`e^{-\beta E}/Z` exactly; hot replicas carry it across barriers.

    Parameters
    ----------
    n_chains : int
        Independent chains (each with ``n_replicas`` replicas).
    betas : array_like (n_replicas,)
        Inverse temperatures, strictly increasing or decreasing, all > 0; must contain
        the β of every Hamiltonian the sampler is used with.
    seed : int, optional
    dtype : {numpy.float32, numpy.float64}

    Notes
    -----
    ``run`` records the observables of the replica at ``ham.beta`` and the variable
    ``swap_acceptance`` (step, pair): the fraction of exchange attempts between
    ``beta_low(pair)`` and ``beta_high(pair)`` accepted since the previous record.
    """

    name = "replica_exchange"
    _kind = "tempering"

    def __init__(self, n_chains: int, betas, seed: int | None = None, dtype=np.float32):
        super().__init__(n_chains, seed=seed, dtype=dtype)
        betas = check_finite_array("betas", betas, ndim=1)
        if betas.size < 2:
            raise ValueError(f"betas: expected at least two inverse temperatures, got {betas.size}")
        if np.any(betas <= 0):
            raise ValueError(f"betas: expected values > 0, got minimum {betas.min():g}")
        d = np.diff(betas)
        if not (np.all(d > 0) or np.all(d < 0)):
            raise ValueError("betas: expected a strictly monotonic ladder (e.g. np.linspace(0.2, 1.0, 8))")
        self.betas = _readonly(betas.copy())

    def __repr__(self) -> str:
        return (f"ReplicaExchangeSampler(n_chains={self.n_chains}, n_replicas={self.betas.size}, "
                f"seed={self.seed}, dtype={self.dtype.name})")

    @property
    def n_replicas(self) -> int:
        return self.betas.size

    def _n_rows(self) -> int:
        return self.n_chains * self.betas.size

    def _beta_rows(self, ham) -> np.ndarray:
        return np.repeat(self.betas, self.n_chains)

    def _state_extra(self) -> dict:
        return {"betas": self.betas}

    def _target(self, ham) -> int:
        hit = np.flatnonzero(np.isclose(self.betas, ham.beta, rtol=1e-12, atol=0.0))
        if hit.size != 1:
            raise ValueError(
                f"ham: its beta = {ham.beta!r} is not on the ladder betas = {self.betas.tolist()}; "
                f"include it, or use ham.replace(beta=...)")
        return int(hit[0])

    def _check_state(self, ham, state) -> None:
        super()._check_state(ham, state)
        if state.betas is None or not np.array_equal(state.betas, self.betas):
            raise ValueError("state: its beta ladder differs from this sampler's; start with init_state(ham)")

    def init_state(self, ham, seed=None, v0=None) -> SamplerState:
        self._target(check_hamiltonian(ham))
        return super().init_state(ham, seed=seed, v0=v0)

    def _work(self, ham):
        self._target(ham)
        work = super()._work(ham)
        work.energy = np.empty(self._n_rows())
        work.a64 = np.array(ham.a, dtype=np.float64, copy=True)
        work.b64 = np.array(ham.b, dtype=np.float64, copy=True)
        work.accepted = np.zeros((self.n_chains, self.n_replicas - 1), dtype=np.int64)
        work.attempted = np.zeros(self.n_replicas - 1, dtype=np.int64)
        return work

    def _advance_arrays(self, work, v, h, streams, n, step0):
        for _ in range(n):
            work.sweeps(v, h, streams, 1, energy=work.energy)
            with _kernel_threads(1):
                for parity in (0, 1):
                    _gk.swap_replicas(v, h, work.energy, self.betas, self.n_chains, parity, streams,
                                      work.accepted)
            work.attempted += self.n_chains

    def _record_rows(self, ham):
        r = self._target(ham)
        return slice(r * self.n_chains, (r + 1) * self.n_chains)

    def _extra_record(self, work):
        acc = work.accepted.sum(axis=0) / np.maximum(work.attempted, 1)
        work.accepted[...] = 0
        work.attempted[...] = 0
        return {"swap_acceptance": acc}

    def _extra_meta(self, ham):
        static = {
            "pair": ("pair", np.arange(self.n_replicas - 1), {"long_name": "neighbouring replica pair"}),
            "beta_low": ("pair", self.betas[:-1].copy(), {"long_name": "inverse temperature of replica r"}),
            "beta_high": ("pair", self.betas[1:].copy(), {"long_name": "inverse temperature of replica r+1"}),
        }
        meta = {"swap_acceptance": (("pair",), {
            "long_name": "fraction of accepted replica exchanges since the previous record", "units": "1"})}
        return static, meta

    def _extra_attrs(self, ham) -> dict:
        return {"n_replicas": int(self.n_replicas), "betas": ",".join(repr(float(b)) for b in self.betas),
                "target_replica": self._target(ham)}


# =============================================================================
# Langevin
# =============================================================================
class LangevinSampler:
    r"""Overdamped Langevin dynamics in reciprocal space, Euler-Maruyama.

    .. math::

        z \leftarrow z - \nabla\Phi(z)\,\Delta t + \sqrt{2\Delta t}\,\xi,\qquad
        \Phi = \frac{|x-\mu_x|^2 + |y-\mu_y|^2}{2s^2}
               - \beta\Big(\tilde a^\top x + \tilde b^\top y + \sum_k \sigma_k x_k y_k\Big)
               \;[+ \textstyle\sum_k g_k u_k^4],

    ``z = (x, y)``, all N + M coordinates (paired and free), as
    :meth:`pyrbm.hamiltonian.ModeBasis.potential_grad`.  Per paired mode this is a 2-D
    Ornstein-Uhlenbeck process with rates :math:`\kappa_{u,w} = 1/s^2 \mp \beta\sigma_k`;
    modes with :math:`\beta\sigma_k s^2 > 1` (σ_k > 4T, binary) are inverted along u and
    diverge like :math:`e^{(\beta\sigma_k - 1/s^2)t}`.  Time is in the units of Φ
    (β absorbed), as in the paper (dt = 0.01).

    Parameters
    ----------
    n_chains : int
        Number of independent trajectories (>= 1).
    dt : float
        Time step (> 0 and < 2 s², the Euler-Maruyama stability limit of a free mode).
    T : float, optional
        Temperature of Φ (β = 1/T).  ``None`` uses the Hamiltonian's own β.
    seed : int, optional
    quartic : bool
        Add the finite-N confinement :math:`g_k u_k^4` (``ham.modes.quartic_g``) with
        :math:`u_k = [(x_k-\mu_{x,k}) + (y_k-\mu_{y,k})]/\sqrt2` measured from the
        uniform-measure mean, the centre of the density of states it comes from.
    dtype : {numpy.float64, numpy.float32}
        Storage of x and y (arithmetic is float64).
    bound : float
        A paired mode with :math:`|x_k-\mu_{x,k}|` or :math:`|y_k-\mu_{y,k}|` above
        ``bound`` counts as diverged: it is frozen at its last value and reported.

    Notes
    -----
    Besides the physical divergence of modes past the threshold, Euler-Maruyama itself
    is unstable along the stiff direction when :math:`\Delta t\,\kappa_w \ge 2`,
    i.e. :math:`\Delta t\,(1/s^2 + \beta\sigma_k) \ge 2`; such modes are flagged as
    diverged too (the coordinate ``stable`` of the dataset tells the two apart).
    """

    name = "langevin"
    _kind = "langevin"

    def __init__(self, n_chains: int, dt: float = 0.01, T: float | None = None, seed: int | None = None,
                 quartic: bool = False, dtype=np.float64, bound: float = 1e6):
        self.n_chains = check_int("n_chains", n_chains, minimum=1)
        self.dt = check_positive("dt", dt)
        self.T = None if T is None else check_positive("T", T)
        self.seed = check_seed(seed)
        self.quartic = check_bool("quartic", quartic)
        self.dtype = check_float_dtype(dtype)
        self.bound = check_positive("bound", bound)

    def __repr__(self) -> str:
        return (f"LangevinSampler(n_chains={self.n_chains}, dt={self.dt:g}, T={self.T}, seed={self.seed}, "
                f"quartic={self.quartic}, dtype={self.dtype.name})")

    def _beta(self, ham) -> float:
        return float(ham.beta) if self.T is None else 1.0 / self.T

    def _check_dt(self, ham):
        if self.dt >= 2.0 * ham.s2:
            raise ValueError(
                f"dt: {self.dt:g} is at or past the Euler-Maruyama stability limit 2 s^2 = {2 * ham.s2:g} "
                f"of a free mode in {ham.units} units; use a smaller dt (the paper uses 0.01)")

    def init_state(self, ham: Hamiltonian, seed: int | None = None, x0=None, y0=None) -> SamplerState:
        r"""Initial coordinates: the uniform-measure Gaussian :math:`N(\mu, s^2 I)`, or given.

        Parameters
        ----------
        ham : Hamiltonian
        seed : int, optional
            Overrides the sampler's seed.
        x0 : array_like (N,) or (n_chains, N), optional
            Starting visible coordinates (e.g. ``ham.modes.x(v)`` of data).
        y0 : array_like (M,) or (n_chains, M), optional
            Starting hidden coordinates.
        """
        ham = check_hamiltonian(ham)
        self._check_dt(ham)
        seed = check_seed(seed)
        seed = seed if seed is not None else (self.seed if self.seed is not None else fresh_seed())
        md = ham.modes
        n, m = ham.n_visible, ham.n_hidden
        streams = _rng.make_streams(seed, self.n_chains)
        coords = []
        for name, arr, dim, mu in (("x0", x0, n, md.mu_x), ("y0", y0, m, md.mu_y)):
            if arr is None:
                coords.append(None)
                continue
            a = check_finite_array(name, arr)
            if a.ndim == 1 and a.shape == (dim,):
                a = np.broadcast_to(a, (self.n_chains, dim))
            elif a.shape != (self.n_chains, dim):
                raise ValueError(f"{name}: expected shape ({dim},) or ({self.n_chains}, {dim}), got {a.shape}")
            coords.append(np.array(a, dtype=self.dtype))
        if coords[0] is None or coords[1] is None:
            z = _gaussian_block(streams, self.n_chains, n + m)
            x = (md.mu_x + np.sqrt(ham.s2) * z[:, :n]).astype(self.dtype)
            y = (md.mu_y + np.sqrt(ham.s2) * z[:, n:]).astype(self.dtype)
            coords = [x if coords[0] is None else coords[0], y if coords[1] is None else coords[1]]
        div = np.full((self.n_chains, md.n_modes), -1, dtype=np.int64)
        return _make_state(coords[0], coords[1], streams, 0, seed, self._kind, divergence_step=div)

    def _check_state(self, ham, state):
        if not isinstance(state, SamplerState):
            raise TypeError(f"state: expected a SamplerState (from init_state or run), got {type(state).__name__}")
        if state.kind != self._kind:
            raise ValueError(f"state: a {state.kind!r} state cannot continue with a Langevin sampler; use init_state")
        want = ((self.n_chains, ham.n_visible), (self.n_chains, ham.n_hidden))
        if (state.v.shape, state.h.shape) != want:
            raise ValueError(f"state: coordinates have shapes {state.v.shape} and {state.h.shape}, "
                             f"expected {want[0]} and {want[1]}; start with init_state(ham)")
        if state.v.dtype != self.dtype:
            raise ValueError(f"state: dtype {state.v.dtype} differs from the sampler's {self.dtype}")

    def _params(self, ham):
        md = ham.modes
        g = md.quartic_g if self.quartic else np.zeros(md.n_modes)
        # fresh writable float64 copies: one compiled kernel signature per storage dtype
        arrays = [np.array(a, dtype=np.float64, copy=True) for a in (md.mu_x, md.mu_y, md.a_tilde, md.b_tilde, md.s, g)]
        return (*arrays, self._beta(ham), float(ham.s2), self.dt, self.bound)

    @staticmethod
    def _steps(params, x, y, streams, step0, n, div):
        if n > 0:
            _lk.em_steps(x, y, *params, streams, int(step0), int(n), div)

    def advance(self, ham: Hamiltonian, state: SamplerState, n_steps: int) -> SamplerState:
        """``n_steps`` Euler-Maruyama steps from ``state``, nothing recorded (returns a new state)."""
        ham = check_hamiltonian(ham)
        self._check_dt(ham)
        n_steps = check_int("n_steps", n_steps, minimum=0)
        self._check_state(ham, state)
        x, y, streams, div = state._arrays()
        self._steps(self._params(ham), x, y, streams, state.step, n_steps, div)
        return _make_state(x, y, streams, state.step + n_steps, state.seed, self._kind, divergence_step=div)

    def run(self, ham: Hamiltonian, state: SamplerState | None = None, n_steps: int = 1000, thin: int = 1,
            burn_in: int = 0, modes=None, out=None, overwrite: bool = False):
        r"""Integrate and record the paired modes every ``thin`` steps.

        Parameters
        ----------
        ham : Hamiltonian
        state : SamplerState, optional
            Where to continue from; ``None`` starts with :meth:`init_state`.
        n_steps, thin, burn_in : int
            As for :meth:`GibbsSampler.run` (steps instead of sweeps).
        modes : int or sequence of int, optional
            Paired modes to record: the first ``modes`` ones, or these indices.
            Default: all K.
        out : str or os.PathLike, optional
            Stream the records to this netCDF4 file (bounded memory); the returned
            dataset is then read lazily from the file.
        overwrite : bool

        Returns
        -------
        ds : xarray.Dataset
            ``x``, ``y`` (step, chain, mode): reciprocal coordinates;
            ``u``, ``w`` (step, chain, mode): normal-mode coordinates about the saddle
            (``ham.modes.uw``; about the uniform-measure mean for modes with
            σ_k = 0, which have no saddle); ``divergence_step`` (step, chain, mode)
            int64, the step at which the mode diverged or -1 (the same in memory and on
            disk; ``state.diverged`` is the flag at the end of the run).  Coordinates ``time`` (step) =
            step * dt, ``singular_value`` (mode), ``stable`` (mode) (βσ_k s² < 1).
        state : SamplerState
        """
        ham = check_hamiltonian(ham)
        self._check_dt(ham)
        n_steps, thin, burn_in, path, overwrite = _check_run_args(n_steps, thin, burn_in, out, overwrite)
        md = ham.modes
        K = md.n_modes
        if modes is None:
            idx = np.arange(K)
        elif isinstance(modes, numbers.Integral) and not isinstance(modes, (bool, np.bool_)):
            if not 1 <= int(modes) <= K:
                raise ValueError(f"modes: expected a count in [1, {K}] or a list of mode indices, got {modes}")
            idx = np.arange(int(modes))
        else:
            idx = np.asarray(modes)
            if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= K \
                    or np.unique(idx).size != idx.size:
                raise ValueError(f"modes: expected distinct mode indices in [0, {K}), got {modes!r}")
        if state is not None:
            self._check_state(ham, state)
        else:
            state = self.init_state(ham)
        beta = self._beta(ham)
        x_star, y_star, _ = md.saddle()
        ok = np.isfinite(x_star) & np.isfinite(y_star)
        x0 = np.where(ok, x_star, md.mu_x[:K])[idx]
        y0 = np.where(ok, y_star, md.mu_y[:K])[idx]
        r2 = np.sqrt(2.0)
        s = md.s[idx]
        static = {
            "chain": ("chain", np.arange(self.n_chains), {"long_name": "chain index"}),
            "mode": ("mode", idx.astype(np.int64), {"long_name": "paired mode index k (descending sigma)"}),
            "singular_value": ("mode", s.copy(), {"long_name": "singular value sigma_k", "units": "energy"}),
            "stable": ("mode", (beta * s * ham.s2 < 1.0).astype(np.int8),
                       {"long_name": "1 if beta sigma_k s^2 < 1 (the mode's diffusion converges)"}),
        }
        meta = {
            "x": (("chain", "mode"), {"long_name": "visible reciprocal coordinate x_k = (U^T v)_k"}),
            "y": (("chain", "mode"), {"long_name": "hidden reciprocal coordinate y_k = (V^T h)_k"}),
            "u": (("chain", "mode"), {
                "long_name": "soft normal coordinate u_k = (dx_k + dy_k)/sqrt(2) about the saddle"}),
            "w": (("chain", "mode"), {
                "long_name": "stiff normal coordinate w_k = (dy_k - dx_k)/sqrt(2) about the saddle"}),
            "divergence_step": (("chain", "mode"), {
                "long_name": "step at which the mode diverged and was frozen (-1: finite so far)"}),
        }
        attrs = {
            "sampler": self.name, "beta": beta, "seed": int(state.seed), "n_chains": int(self.n_chains),
            "thin": int(thin), "burn_in": int(burn_in), "n_steps": int(n_steps), "first_step": int(state.step),
            "dtype": self.dtype.name, "units": ham.units, "n_visible": int(ham.n_visible),
            "n_hidden": int(ham.n_hidden), "pyrbm_version": __version__, "dt": self.dt,
            "quartic": int(self.quartic), "bound": self.bound,
            "dynamics": "z <- z - grad Phi(z) dt + sqrt(2 dt) xi (Euler-Maruyama)",
        }
        dt = self.dt
        step_coords = {"time": (lambda st: st * dt, {"long_name": "time t = step * dt", "units": "1"})}
        rec = _Recorder(n_steps // thin, state.step + burn_in, thin, path, overwrite, ham, attrs, static, meta,
                        extra_step_coords=step_coords)
        params = self._params(ham)
        x, y, streams, div = state._arrays()
        step = state.step
        try:
            self._steps(params, x, y, streams, step, burn_in, div)
            step += burn_in
            for _ in range(n_steps // thin):
                self._steps(params, x, y, streams, step, thin, div)
                step += thin
                xk = x[:, idx].astype(np.float64)
                yk = y[:, idx].astype(np.float64)
                dx, dy = xk - x0, yk - y0
                rec.add({"x": xk, "y": yk, "u": (dx + dy) / r2, "w": (dy - dx) / r2,
                         "divergence_step": div[:, idx].copy()})
            rest = n_steps - thin * (n_steps // thin)
            self._steps(params, x, y, streams, step, rest, div)
            step += rest
            ds = rec.finish()
        except BaseException as exc:
            rec.abort(exc)
            raise
        new_state = _make_state(x, y, streams, step, state.seed, self._kind, divergence_step=div)
        return ds, new_state


def _gaussian_block(streams, n_rows, n):
    """(n_rows, n) standard normals from the streams (Box-Muller kernel); advances counters."""
    z = np.empty((n_rows, n + (n % 2)))
    _lk.fill_normals(streams, z)
    return z[:, :n]
