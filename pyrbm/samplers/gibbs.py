r"""Block Gibbs sampling and replica exchange (parallel tempering).

* :class:`GibbsSampler` -- block Gibbs sweeps ``h ~ p(h|v)``, ``v ~ p(v|h)`` at the
  Hamiltonian's β, binary or spin units.  The matrix products are BLAS calls, the
  bias/sigmoid/draw step one fused numba pass (:mod:`pyrbm._kernels.gibbs`).
* :class:`ReplicaExchangeSampler` -- the same sweeps on a ladder of inverse temperatures
  with configuration exchanges between neighbours; records the replica at the
  Hamiltonian's own β, which it samples exactly.
"""

from __future__ import annotations

import collections.abc
import dataclasses

import numpy as np
import xarray as xr

from .._checks import as_configuration, check_bool, check_finite_array, check_hamiltonian
from .._kernels import gibbs as _gk
from .._kernels import rng as _rng
from .._threads import run_tiles, sampler_threads
from .base import RecordPlan, Sampler, SamplerState

__all__ = ["GibbsState", "TemperingState", "GibbsSampler", "ReplicaExchangeSampler"]


# =============================================================================
# states
# =============================================================================
@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class GibbsState(SamplerState):
    r"""Chains of a :class:`GibbsSampler`.

    Parameters
    ----------
    v : ndarray (n_chains, N)
        Visible configurations (0/1, or ±1 in spin units) in the sampler's dtype.
    h : ndarray (n_chains, M)
        Hidden configurations.
    streams, step, seed
        As :class:`~pyrbm.samplers.SamplerState`.
    """

    v: np.ndarray
    h: np.ndarray

    kind = "gibbs"
    _evolving = ("v", "h", "streams")

    def _check(self) -> None:
        rows = self.streams.shape[0]
        for name in ("v", "h"):
            arr = getattr(self, name)
            if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.shape[0] != rows \
                    or arr.dtype not in (np.float32, np.float64):
                raise ValueError(f"{name}: expected a float32 or float64 array of shape ({rows}, n_units) "
                                 f"(one row per stream), got "
                                 f"{type(arr).__name__ if not isinstance(arr, np.ndarray) else (arr.shape, arr.dtype)}")
            low = -1 if np.any(arr < 0) else 0
            if not np.all((arr == 1) | (arr == low)):
                raise ValueError(f"{name}: configurations take the values 0/1 (binary) or -1/+1 (spin) only")
        if self.v.dtype != self.h.dtype:
            raise ValueError(f"v, h: dtypes differ ({self.v.dtype}, {self.h.dtype})")

    @property
    def dtype(self) -> np.dtype:
        return self.v.dtype

    def _repr_extra(self) -> str:
        return f", dtype={self.v.dtype}"


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class TemperingState(GibbsState):
    r"""Chains of a :class:`ReplicaExchangeSampler`: a :class:`GibbsState` plus the ladder.

    Rows are replica-major: row ``r * n_chains + c`` is chain ``c`` at ``betas[r]``.

    Parameters
    ----------
    betas : ndarray (n_replicas,)
        The inverse-temperature ladder.
    """

    betas: np.ndarray

    kind = "tempering"

    def _check(self) -> None:
        super()._check()
        betas = np.asarray(self.betas, dtype=np.float64)
        if betas.ndim != 1 or betas.size < 2 or self.streams.shape[0] % betas.size:
            raise ValueError(f"betas: expected a ladder of at least 2 values dividing the {self.streams.shape[0]} "
                             f"rows, got shape {betas.shape}")
        object.__setattr__(self, "betas", betas.copy())

    @property
    def n_chains(self) -> int:
        return self.n_rows // self.betas.size

    def _repr_extra(self) -> str:
        return f", n_replicas={self.betas.size}, dtype={self.v.dtype}"


# =============================================================================
# Gibbs
# =============================================================================
class _GibbsWork:
    """Per-run model cast to the sampler's dtype and one row tile of field buffers."""

    def __init__(self, ham, n_rows: int, dtype: np.dtype, beta_rows: np.ndarray):
        # fresh writable copies: one compiled kernel signature whatever the caller holds
        self.W = np.array(ham.W, dtype=dtype, order="C", copy=True)
        self.a = np.array(ham.a, dtype=dtype, copy=True)
        self.b = np.array(ham.b, dtype=dtype, copy=True)
        self.spin = bool(ham.spin)
        self.beta_rows = np.ascontiguousarray(beta_rows, dtype=np.float64)
        self.a64 = np.array(ham.a, dtype=np.float64, copy=True)  # joint energies (replica exchange)
        self.b64 = np.array(ham.b, dtype=np.float64, copy=True)
        self.ws = _gk.make_workspace(n_rows, ham.n_visible, ham.n_hidden, dtype)

    def sweeps(self, v, h, streams, n, energy=None):
        """``n`` block-Gibbs sweeps in place, a thread per row tile: h ~ p(h|v), then v ~ p(v|h).

        ``energy`` (float64, one per row) receives the joint energies after the last sweep.
        """
        _gk.block_gibbs_sweeps(v, h, self.W, self.a, self.b, self.beta_rows, self.spin, streams, n, self.ws,
                               energy=energy, energy_biases=(self.a64, self.b64), runner=run_tiles)

    def uniform_visible(self, v, h, streams):
        """Uniform random visible units (σ(0) = 1/2) from the streams."""
        _gk.sample_uniform(v, h, self.beta_rows, self.spin, streams, self.ws, runner=run_tiles)

    def hidden_from_visible(self, v, h, streams):
        """h ~ p(h|v)."""
        _gk.sample_hidden(v, h, self.W, self.b, self.beta_rows, self.spin, streams, self.ws, runner=run_tiles)


class GibbsSampler(Sampler):
    r"""Block Gibbs sampling of :math:`p(v, h) \propto e^{-\beta E(v, h)}` at the Hamiltonian's β.

    One step is one sweep: :math:`h \sim p(h|v)`, then :math:`v \sim p(v|h)`, with
    :math:`p(h_j=1|v) = \sigma(\beta(b_j + (W^\top v)_j))` (binary units) or
    :math:`p(h_j=+1|v) = \sigma(2\beta(b_j + (W^\top v)_j))` (spin units)
    (docs/physics.md, "Sampling").

    Parameters
    ----------
    n_chains : int
        Number of independent chains (≥ 1).
    seed : int, optional
        Seed of the per-chain random streams.  ``None`` draws one from the operating
        system (it is recorded in the state and the dataset's ``seed`` attribute).
    dtype : {numpy.float32, numpy.float64}
        Arithmetic and storage of the chains: float32 is the fast default, float64 the
        reference.

    Examples
    --------
    >>> ham = pyrbm.Hamiltonian.random(784, 500, seed=0)                       # doctest: +SKIP
    >>> ds, state = GibbsSampler(1000, seed=1).run(ham, n_steps=500, thin=10)  # doctest: +SKIP
    >>> ds2, state = GibbsSampler(1000, seed=1).run(ham, state=state, n_steps=500)  # doctest: +SKIP
    """

    name = "gibbs"
    state_type = GibbsState

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_chains={self.n_chains}, seed={self.seed}, dtype={self.dtype.name})"

    # -- family hooks -------------------------------------------------------------
    def _beta_rows(self, ham) -> np.ndarray:
        return np.full(self._n_rows(), float(ham.beta))

    def _expected(self, ham) -> dict:
        rows = self._n_rows()
        return {"v": ((rows, ham.n_visible), self.dtype), "h": ((rows, ham.n_hidden), self.dtype),
                "streams": ((rows, _rng.STREAM_WIDTH), np.uint64)}

    def _bytes_per_row(self, ham) -> int:
        # state v, h and streams, plus the sweep's field buffers
        return 2 * (ham.n_visible + ham.n_hidden) * self.dtype.itemsize + 8 * _rng.STREAM_WIDTH

    def _work(self, ham):
        return _GibbsWork(ham, self._n_rows(), self.dtype, self._beta_rows(ham))

    def _advance(self, work, arrays, n, step0):
        work.sweeps(arrays["v"], arrays["h"], arrays["streams"], n)

    def _make_state(self, v, h, streams, seed) -> GibbsState:
        return GibbsState(v=v, h=h, streams=streams, step=0, seed=seed)

    def _record_rows(self, ham) -> slice:
        return slice(0, self.n_chains)

    # -- state ----------------------------------------------------------------
    def init_state(self, ham, *, seed: int | None = None, v0=None) -> GibbsState:
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
        GibbsState
            At step 0.
        """
        ham = self._check_model(check_hamiltonian(ham))
        seed = self._resolve_seed(seed)
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
        self._check_memory(ham)
        streams = _rng.make_streams(seed, rows)
        v = np.empty((rows, ham.n_visible), dtype=self.dtype)
        h = np.empty((rows, ham.n_hidden), dtype=self.dtype)
        work = self._work(ham)
        if v0 is None:
            work.uniform_visible(v, h, streams)
        else:
            v[...] = v0
        work.hidden_from_visible(v, h, streams)
        return self._make_state(v, h, streams, seed)

    # -- run ------------------------------------------------------------------
    def run(self, ham, *, state: GibbsState | None = None, n_steps: int, thin: int = 1, burn_in: int = 0,
            observables=None, keep_configs: bool = False, out=None, overwrite: bool = False,
            progress: bool | None = None, donate: bool = False):
        r"""Sample and record observables every ``thin`` sweeps.

        Parameters
        ----------
        ham : Hamiltonian
            The model; sampled at ``ham.beta`` in ``ham.units``.
        state : GibbsState, optional
            Where to continue from; ``None`` starts with :meth:`init_state`.
        n_steps : int
            Sweeps after the burn-in (≥ ``thin``).  Records are made after sweeps
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
        progress : bool, optional
            Progress bar over records; default: shown when standard error is a terminal.
        donate : bool
            Give ``state`` up: the run advances its arrays in place instead of copying
            them (at 100,000 chains of a 784x500 model the copy is 0.5 GB per call), and
            ``state`` cannot be used again. A run without ``state`` never copies.

        Returns
        -------
        ds : xarray.Dataset
            dims ``step``, ``chain`` (+ the observables' dims, ``visible``/``hidden``);
            coordinate ``step`` counts sweeps since initialisation; attrs ``sampler``,
            ``beta``, ``seed``, ``n_chains``, ``thin``, ``burn_in``, ``n_steps``,
            ``first_step``, ``dtype``, ``units``, ``n_visible``, ``n_hidden``.
        state : GibbsState
            The state after ``burn_in + n_steps`` sweeps.
        """
        keep_configs = check_bool("keep_configs", keep_configs)
        obs = _observables(observables, reserved={"v", "h", "step", "chain", "swap_acceptance"})

        def make_plan(ham, work):
            static, meta = _observable_layout(ham, obs, self.n_chains)
            if keep_configs:
                meta["v"] = (("chain", "visible"), {"long_name": "visible configuration", "units": "1",
                                                    "description": "visible units v_i of each chain"})
                meta["h"] = (("chain", "hidden"), {"long_name": "hidden configuration", "units": "1",
                                                   "description": "hidden units h_j of each chain"})
            rows = self._record_rows(ham)

            def record(arrays):
                vr, hr = arrays["v"][rows], arrays["h"][rows]
                out = {o.name: np.asarray(o.compute(ham, vr, hr)) for o in obs}
                if keep_configs:
                    out["v"] = vr.astype(np.int8)
                    out["h"] = hr.astype(np.int8)
                out.update(self._extra_record(work))
                return out

            plan = RecordPlan(record=record, static=static, meta=meta, attrs=self._extra_attrs(ham))
            self._extend_plan(ham, work, plan)
            return plan

        return self._run(ham, state, n_steps, thin, burn_in, out, overwrite, progress, make_plan, donate)

    def _extra_record(self, work) -> dict:
        return {}

    def _extra_attrs(self, ham) -> dict:
        return {}

    def _extend_plan(self, ham, work, plan) -> None:
        """Replica exchange adds its swap statistics here."""


def _observables(observables, reserved):
    from ..observables import as_observable, default_observables

    if observables is None:
        obs = list(default_observables())
    else:
        if isinstance(observables, (str, bytes)) or not isinstance(observables, collections.abc.Sequence):
            observables = [observables]
        obs = [as_observable(o) for o in observables]
    names = [o.name for o in obs]
    clash = [n for n in names if n in reserved or names.count(n) > 1]
    if clash:
        raise ValueError(f"observables: names must be unique and not one of {sorted(reserved)}; got {clash}")
    return obs


def _observable_layout(ham, obs, n_chains):
    """Coordinates and variable metadata of the observables (they must agree on shared dims)."""
    static = {"chain": ("chain", np.arange(n_chains), {"long_name": "chain", "units": "1",
                                                       "description": "chain index"})}
    meta, owner = {}, {}
    for o in obs:
        for cname, cval in (o.coords(ham) or {}).items():
            if isinstance(cval, tuple):
                entry = cval if len(cval) == 3 else (cval[0], cval[1], {})
            elif isinstance(cval, xr.DataArray):
                entry = (cval.dims, cval.values, dict(cval.attrs))
            else:
                entry = (cname, np.asarray(cval), {})
            # user coordinates without attributes are described by their name (dimensionless)
            entry = (entry[0], entry[1], {"long_name": cname, "units": "1", **entry[2]})
            if cname in static and not np.array_equal(np.asarray(static[cname][1]), np.asarray(entry[1])):
                raise ValueError(
                    f"observables: {owner[cname]!r} and {o.name!r} give different coordinates "
                    f"{cname!r} (e.g. different modes=); observables that share a dimension must agree")
            static[cname] = entry
            owner[cname] = o.name
        meta[o.name] = (("chain",) + tuple(o.dims), dict(o.attrs))
    return static, meta


# =============================================================================
# replica exchange
# =============================================================================
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
    ``beta_low(pair)`` and ``beta_high(pair)`` accepted since the previous record
    (counted from the end of the burn-in).
    """

    name = "replica_exchange"
    state_type = TemperingState

    def __init__(self, n_chains: int, *, betas, seed: int | None = None, dtype=np.float32):
        super().__init__(n_chains, seed=seed, dtype=dtype)
        betas = check_finite_array("betas", betas, ndim=1)
        if betas.size < 2:
            raise ValueError(f"betas: expected at least two inverse temperatures, got {betas.size}")
        if np.any(betas <= 0):
            raise ValueError(f"betas: expected values > 0, got minimum {betas.min():g}")
        d = np.diff(betas)
        if not (np.all(d > 0) or np.all(d < 0)):
            raise ValueError("betas: expected a strictly monotonic ladder (e.g. np.linspace(0.2, 1.0, 8))")
        self.betas = betas.copy()
        self.betas.flags.writeable = False

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

    def _target(self, ham) -> int:
        hit = np.flatnonzero(np.isclose(self.betas, ham.beta, rtol=1e-12, atol=0.0))
        if hit.size != 1:
            raise ValueError(
                f"ham: its beta = {ham.beta!r} is not on the ladder betas = {self.betas.tolist()}; "
                f"include it, or use ham.replace(beta=...)")
        return int(hit[0])

    def _check_model(self, ham):
        self._target(ham)
        return ham

    def _check_state(self, ham, state):
        super()._check_state(ham, state)
        if not np.array_equal(state.betas, self.betas):
            raise ValueError("state: its beta ladder differs from this sampler's; start with init_state(ham)")
        return state

    def _make_state(self, v, h, streams, seed) -> TemperingState:
        return TemperingState(v=v, h=h, streams=streams, step=0, seed=seed, betas=self.betas)

    def _work(self, ham):
        work = super()._work(ham)
        work.energy = np.empty(self._n_rows())
        work.accepted = np.zeros((self.n_chains, self.n_replicas - 1), dtype=np.int64)
        work.attempted = np.zeros(self.n_replicas - 1, dtype=np.int64)
        return work

    def _advance(self, work, arrays, n, step0):
        v, h, streams = arrays["v"], arrays["h"], arrays["streams"]
        for _ in range(n):
            work.sweeps(v, h, streams, 1, energy=work.energy)
            with sampler_threads():
                for parity in (0, 1):
                    _gk.swap_replicas(v, h, work.energy, self.betas, self.n_chains, parity, streams,
                                      work.accepted)
            work.attempted += self.n_chains

    def _record_rows(self, ham) -> slice:
        r = self._target(ham)
        return slice(r * self.n_chains, (r + 1) * self.n_chains)

    def _extra_record(self, work) -> dict:
        acc = work.accepted.sum(axis=0) / np.maximum(work.attempted, 1)
        work.accepted[...] = 0
        work.attempted[...] = 0
        return {"swap_acceptance": acc}

    def _extra_attrs(self, ham) -> dict:
        return {"n_replicas": int(self.n_replicas), "betas": ",".join(repr(float(b)) for b in self.betas),
                "target_replica": self._target(ham)}

    def _extend_plan(self, ham, work, plan) -> None:
        plan.static.update({
            "pair": ("pair", np.arange(self.n_replicas - 1), {"long_name": "replica pair",
                                                               "description": "neighbouring replica pair",
                                                               "units": "1"}),
            "beta_low": ("pair", self.betas[:-1].copy(), {"long_name": r"$\beta$ of replica r", "units": "1",
                                                          "description": "inverse temperature of replica r"}),
            "beta_high": ("pair", self.betas[1:].copy(), {"long_name": r"$\beta$ of replica r+1", "units": "1",
                                                          "description": "inverse temperature of replica r+1"}),
        })
        plan.meta["swap_acceptance"] = (("pair",), {
            "long_name": "exchange acceptance", "units": "1",
            "description": "fraction of accepted replica exchanges since the previous record"})
        plan.begin = lambda: self._extra_record(work)  # counters start after the burn-in
