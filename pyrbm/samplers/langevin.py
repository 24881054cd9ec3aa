r"""Overdamped Langevin dynamics in reciprocal space (Euler-Maruyama).

.. math::

    z \leftarrow z - \nabla\Phi(z)\,\Delta t + \sqrt{2\Delta t}\,\xi,\qquad
    \Phi = \frac{|x-\mu_x|^2 + |y-\mu_y|^2}{2s^2}
           - \beta\Big(\tilde a^\top x + \tilde b^\top y + \sum_k \sigma_k x_k y_k\Big)
           \;[+ \textstyle\sum_k g_k u_k^4],

``z = (x, y)``, all N + M reciprocal coordinates (docs/physics.md, "Diffusion").  Per
paired mode this is a 2-D Ornstein-Uhlenbeck process with rates
:math:`\kappa_{u,w} = 1/s^2 \mp \beta\sigma_k`; modes with :math:`\beta\sigma_k s^2 > 1`
(σ_k > 4T in binary units) are inverted along u and diverge like
:math:`e^{(\beta\sigma_k - 1/s^2)t}`.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from .._checks import check_bool, check_finite_array, check_hamiltonian, check_modes, check_positive
from .._kernels import langevin as _lk
from .._kernels import rng as _rng
from .base import RecordPlan, Sampler, SamplerState

__all__ = ["LangevinState", "LangevinSampler", "DivergenceWarning"]


class DivergenceWarning(RuntimeWarning):
    """Paired modes of a Langevin run diverged (and were frozen) during the call."""


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class LangevinState(SamplerState):
    r"""Trajectories of a :class:`LangevinSampler`.

    Parameters
    ----------
    x : ndarray (n_chains, N)
        Visible reciprocal coordinates :math:`x = U^\top v` (all N, paired and free).
    y : ndarray (n_chains, M)
        Hidden reciprocal coordinates :math:`y = V^\top h`.
    divergence_step : ndarray (n_chains, K) int64
        The step at which each paired mode diverged (and was frozen), ``-1`` if never.
    streams, step, seed
        As :class:`~pyrbm.samplers.SamplerState`.
    """

    x: np.ndarray
    y: np.ndarray
    divergence_step: np.ndarray

    kind = "langevin"
    _evolving = ("x", "y", "streams", "divergence_step")

    def _check(self) -> None:
        rows = self.streams.shape[0]
        for name in ("x", "y"):
            arr = getattr(self, name)
            if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.shape[0] != rows \
                    or arr.dtype not in (np.float32, np.float64):
                raise ValueError(f"{name}: expected a float32 or float64 array of shape ({rows}, n) "
                                 f"(one row per stream)")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name}: expected finite coordinates (diverged modes are frozen at finite values)")
        div = self.divergence_step
        if not isinstance(div, np.ndarray) or div.dtype != np.int64 or div.ndim != 2 or div.shape[0] != rows \
                or div.shape[1] != min(self.x.shape[1], self.y.shape[1]) or np.any(div < -1):
            raise ValueError(f"divergence_step: expected an int64 array of shape ({rows}, min(N, M)) with "
                             f"values >= -1")

    @property
    def dtype(self) -> np.dtype:
        return self.x.dtype

    @property
    def diverged(self) -> np.ndarray:
        """bool (n_chains, K): True for paired modes that diverged."""
        return self.divergence_step >= 0

    def _repr_extra(self) -> str:
        return f", dtype={self.x.dtype}, diverged={int(self.diverged.any(axis=0).sum())} modes"


class LangevinSampler(Sampler):
    r"""Overdamped Langevin dynamics on the Gaussian-DOS potential Φ, Euler-Maruyama.

    Parameters
    ----------
    n_chains : int
        Number of independent trajectories (≥ 1).
    dt : float
        Time step (> 0 and < 2 s², the Euler-Maruyama stability limit of a free mode).
        Time is in the units of Φ (β absorbed), as in the paper (dt = 0.01).
    beta : float, optional
        Inverse temperature of Φ; ``None`` uses the Hamiltonian's own β.
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
    diverged too (the coordinate ``stable`` of the dataset tells the two apart).  A
    :class:`DivergenceWarning` names the modes that diverged during a call.
    """

    name = "langevin"
    state_type = LangevinState

    def __init__(self, n_chains: int, *, dt: float = 0.01, beta: float | None = None, seed: int | None = None,
                 quartic: bool = False, dtype=np.float64, bound: float = 1e6):
        super().__init__(n_chains, seed=seed, dtype=dtype)
        self.dt = check_positive("dt", dt)
        self.beta = None if beta is None else check_positive("beta", beta)
        self.quartic = check_bool("quartic", quartic)
        self.bound = check_positive("bound", bound)

    def __repr__(self) -> str:
        return (f"LangevinSampler(n_chains={self.n_chains}, dt={self.dt:g}, beta={self.beta}, seed={self.seed}, "
                f"quartic={self.quartic}, dtype={self.dtype.name})")

    # -- family hooks -------------------------------------------------------------
    def _beta(self, ham) -> float:
        return float(ham.beta) if self.beta is None else self.beta

    def _check_model(self, ham):
        if self.dt >= 2.0 * ham.s2:
            raise ValueError(
                f"dt: {self.dt:g} is at or past the Euler-Maruyama stability limit 2 s^2 = {2 * ham.s2:g} "
                f"of a free mode in {ham.units} units; use a smaller dt (the paper uses 0.01)")
        return ham

    def _expected(self, ham) -> dict:
        n = self.n_chains
        return {"x": ((n, ham.n_visible), self.dtype), "y": ((n, ham.n_hidden), self.dtype),
                "streams": ((n, _rng.STREAM_WIDTH), np.uint64),
                "divergence_step": ((n, ham.modes.n_modes), np.int64)}

    def _bytes_per_row(self, ham) -> int:
        n, m = ham.n_visible, ham.n_hidden
        return (n + m) * (self.dtype.itemsize + 8) + 8 * min(n, m) + 8 * _rng.STREAM_WIDTH

    def _work(self, ham):
        md = ham.modes
        g = md.quartic_g if self.quartic else np.zeros(md.n_modes)
        # fresh writable float64 copies: one compiled kernel signature per storage dtype
        arrays = [np.array(a, dtype=np.float64, copy=True) for a in (md.mu_x, md.mu_y, md.a_tilde, md.b_tilde, md.s, g)]
        return (*arrays, self._beta(ham), float(ham.s2), self.dt, self.bound)

    def _advance(self, work, arrays, n, step0):
        if n > 0:
            _lk.em_steps(arrays["x"], arrays["y"], *work, arrays["streams"], int(step0), int(n),
                         arrays["divergence_step"])

    def _finished(self, ham, before, after) -> None:
        new = after.diverged & ~before.diverged
        if not new.any():
            return
        modes = np.flatnonzero(new.any(axis=0))
        beta, s = self._beta(ham), ham.modes.s
        past = [int(k) + 1 for k in modes if beta * s[k] * ham.s2 >= 1.0]
        other = [int(k) + 1 for k in modes if beta * s[k] * ham.s2 < 1.0]
        parts = []
        if past:
            parts.append(f"modes {past} past the threshold beta sigma_k s^2 >= 1 (expected: no stationary state)")
        if other:
            parts.append(f"modes {other} below the threshold (Euler-Maruyama instability: lower dt)")
        warnings.warn(f"Langevin: {int(new.any(axis=1).sum())} of {self.n_chains} chains had paired modes diverge "
                      f"between steps {before.step} and {after.step}: " + "; ".join(parts)
                      + "; they are frozen and reported in divergence_step", DivergenceWarning, stacklevel=3)

    # -- state ----------------------------------------------------------------
    def init_state(self, ham, *, seed: int | None = None, x0=None, y0=None) -> LangevinState:
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

        Returns
        -------
        LangevinState
            At step 0, no mode diverged.
        """
        ham = self._check_model(check_hamiltonian(ham))
        seed = self._resolve_seed(seed)
        md = ham.modes
        n, m = ham.n_visible, ham.n_hidden
        coords = []
        for name, arr, dim in (("x0", x0, n), ("y0", y0, m)):
            if arr is None:
                coords.append(None)
                continue
            a = check_finite_array(name, arr)
            if a.ndim == 1 and a.shape == (dim,):
                a = np.broadcast_to(a, (self.n_chains, dim))
            elif a.shape != (self.n_chains, dim):
                raise ValueError(f"{name}: expected shape ({dim},) or ({self.n_chains}, {dim}), got {a.shape}")
            coords.append(np.array(a, dtype=self.dtype))
        self._check_memory(ham)
        streams = _rng.make_streams(seed, self.n_chains)
        if coords[0] is None or coords[1] is None:
            z = _gaussian_block(streams, self.n_chains, n + m)
            x = (md.mu_x + np.sqrt(ham.s2) * z[:, :n]).astype(self.dtype)
            y = (md.mu_y + np.sqrt(ham.s2) * z[:, n:]).astype(self.dtype)
            coords = [x if coords[0] is None else coords[0], y if coords[1] is None else coords[1]]
        div = np.full((self.n_chains, md.n_modes), -1, dtype=np.int64)
        return LangevinState(x=coords[0], y=coords[1], streams=streams, divergence_step=div, step=0, seed=seed)

    # -- run ------------------------------------------------------------------
    def run(self, ham, *, state: LangevinState | None = None, n_steps: int, thin: int = 1, burn_in: int = 0,
            modes=None, out=None, overwrite: bool = False, progress: bool | None = None):
        r"""Integrate and record the paired modes every ``thin`` steps.

        Parameters
        ----------
        ham : Hamiltonian
        state : LangevinState, optional
            Where to continue from; ``None`` starts with :meth:`init_state`.
        n_steps, thin, burn_in : int
            As for :meth:`GibbsSampler.run` (steps instead of sweeps).
        modes : int or sequence of int, optional
            Paired modes to record: the top ``modes`` ones, or these 1-based labels
            (``1`` is σ₁).  Default: all K.
        out : str or os.PathLike, optional
            Stream the records to this netCDF4 file (bounded memory); the returned
            dataset is then read lazily from the file.
        overwrite : bool
        progress : bool, optional
            Progress bar over records; default: shown when standard error is a terminal.

        Returns
        -------
        ds : xarray.Dataset
            ``x``, ``y`` (step, chain, mode): reciprocal coordinates;
            ``u``, ``w`` (step, chain, mode): normal-mode coordinates about the saddle
            (``ham.modes.uw``; about the uniform-measure mean for modes with
            σ_k = 0, which have no saddle); ``divergence_step`` (step, chain, mode)
            int64, the step at which the mode diverged or -1.  Coordinates ``time``
            (step) = step * dt, ``mode`` (1-based label), ``singular_value`` (mode),
            ``stable`` (mode) (βσ_k s² < 1).
        state : LangevinState
        """
        def make_plan(ham, work):
            md = ham.modes
            K = md.n_modes
            idx = np.arange(K) if modes is None else check_modes(modes, K)
            beta = self._beta(ham)
            s = md.s[idx]
            static = {
                "chain": ("chain", np.arange(self.n_chains), {"long_name": "chain", "units": "1",
                                                              "description": "chain index"}),
                "mode": ("mode", idx.astype(np.int64) + 1, {
                    "long_name": "mode k", "units": "1",
                    "description": "paired mode label k (1 = largest singular value)"}),
                "singular_value": ("mode", s.copy(), {"long_name": r"singular value $\sigma$", "units": "1",
                                                      "description": "singular value sigma_k"}),
                "stable": ("mode", (beta * s * ham.s2 < 1.0).astype(np.int8), {
                    "long_name": "stable mode", "units": "1",
                    "description": "1 if beta sigma_k s^2 < 1 (the mode's diffusion converges)"}),
            }
            meta = {
                "x": (("chain", "mode"), {"long_name": "reciprocal coordinate x", "units": "1",
                                          "description": "visible reciprocal coordinate x_k = (U^T v)_k"}),
                "y": (("chain", "mode"), {"long_name": "reciprocal coordinate y", "units": "1",
                                          "description": "hidden reciprocal coordinate y_k = (V^T h)_k"}),
                "u": (("chain", "mode"), {
                    "long_name": "normal coordinate u", "units": "1",
                    "description": "soft normal coordinate u_k = (dx_k + dy_k)/sqrt(2) about the saddle"}),
                "w": (("chain", "mode"), {
                    "long_name": "normal coordinate w", "units": "1",
                    "description": "stiff normal coordinate w_k = (dy_k - dx_k)/sqrt(2) about the saddle"}),
                "divergence_step": (("chain", "mode"), {
                    "long_name": "divergence step", "units": "1",
                    "description": "step at which the mode diverged and was frozen (-1: finite so far)"}),
            }
            attrs = {"dt": self.dt, "quartic": int(self.quartic), "bound": self.bound,
                     "dynamics": "z <- z - grad Phi(z) dt + sqrt(2 dt) xi (Euler-Maruyama)"}
            dt = self.dt

            def record(arrays):
                xk = arrays["x"][:, idx].astype(np.float64)
                yk = arrays["y"][:, idx].astype(np.float64)
                uk, wk = md.uw(xk, yk, modes=idx + 1)
                return {"x": xk, "y": yk, "u": uk, "w": wk,
                        "divergence_step": arrays["divergence_step"][:, idx].copy()}

            return RecordPlan(record=record, static=static, meta=meta, attrs=attrs, step_coords={
                "time": (lambda st: st * dt, {"long_name": "time t", "units": "1",
                                              "description": "time t = step * dt"})})

        return self._run(ham, state, n_steps, thin, burn_in, out, overwrite, progress, make_plan)


def _gaussian_block(streams, n_rows, n):
    """(n_rows, n) standard normals from the streams (Box-Muller kernel); advances counters."""
    z = np.empty((n_rows, n + (n % 2)))
    _lk.fill_normals(streams, z)
    return z[:, :n]
