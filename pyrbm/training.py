r"""Training binary RBMs by contrastive divergence (CD-k) and persistent CD (PCD-k).

One update on a batch of B data vectors :math:`v^+` and C negative chains :math:`v^-`:

.. math::

    p^+ = \sigma(b + W^\top v^+),\qquad
    h \sim \mathrm{Bernoulli}(p^-_{\text{prev}}) \ (\text{PCD}) \text{ or } \mathrm{Bernoulli}(p^+)\ (\text{CD}),

then k Gibbs sweeps :math:`v^- \sim \sigma(a + W h)`, :math:`p^- = \sigma(b + W^\top v^-)`
(with :math:`h \sim p^-` between sweeps), and a step along the log-likelihood gradient

.. math::

    \nabla_W = \tfrac1B {v^+}^\top p^+ - \tfrac1C {v^-}^\top p^- - \lambda W,\quad
    \nabla_a = \langle v^+\rangle - \langle v^-\rangle,\quad
    \nabla_b = \langle p^+\rangle - \langle p^-\rangle,

by SGD with momentum or Adam. In PCD the chains persist between updates and the
first hidden sample of an update is drawn from the probabilities the previous update
computed (the previous model's conditional), so each update costs exactly k visible and
k hidden half-sweeps. The visible half-sweep is a BLAS product ``h @ W.T`` followed by
the fused sampling kernel :func:`pyrbm._kernels.gibbs.sample_layer`; hidden fields of
binary visible rows are exact gathers over their active units (sparse data such as
MNIST) or BLAS products (dense data); the whole weight gradient is one BLAS product
``[v⁺; v⁻]ᵀ[p⁺/B; −p⁻/C]``; sigmoids, sampling, bias gradients and the optimiser step are
fused numba kernels (:mod:`pyrbm._kernels.training`) that take the cores, while BLAS runs
on the calling thread (see :func:`pyrbm._threads.training_threads`).

Initialisation follows the paper (:meth:`Hamiltonian.from_data`): :math:`W_{ij}\sim
N(0, \sigma_w^2)`, :math:`\sigma_w = 0.01`, :math:`a_i = \mathrm{logit}(\bar v_i)` with the
pixel means clipped to :math:`[10^{-6}, 1-10^{-6}]`, :math:`b = 0`.

Reproducibility: every random number is a function of the seed. The data order of
epoch e is a permutation drawn from ``SeedSequence([seed, 2, e])``, the chains own
counter-based streams (:mod:`pyrbm._kernels.rng`), and every sum runs in a fixed order;
a run interrupted and resumed from a checkpoint is bit-for-bit the uninterrupted run.

Checkpoints are ``.npz`` files (numpy's zip of arrays, exact for every dtype including
the uint64 stream states) written to a temporary name and renamed into place, so a crash
during a write leaves the previous checkpoint intact. They hold the parameters, the
optimiser moments, the persistent chains and their streams, the update counter, the
tracked singular vectors of the last record and the history so far; every array is
checked (shape, dtype, finiteness, consistency with the data and settings) before the
kernels see it.

Mode identity: the history follows every singular pair through training by overlap with
the previous record (:mod:`pyrbm.modetracking`): label ``l`` is the mode of rank ``l`` at
initialisation, ``rank(epoch, mode)`` its rank in σ at each record and ``mode_sign`` its
sign relative to the single-model rule, so that σ, ã, b̃ and the saddle energies are
continuous time series.
"""

from __future__ import annotations

import contextlib
import json
import sys
import warnings

import numba
import numpy as np
import xarray as xr
from scipy.special import expit

from ._meta import __version__
from ._checks import check_float_dtype, check_int, check_positive, check_seed, fresh_seed
from .io.netcdf import check_writable
from ._kernels import training as _kt
from ._kernels.gibbs import sample_layer
from ._kernels.rng import make_streams
from .io.checkpoint import CHECKPOINT_FORMAT, MOMENT_KEYS, check_resume, load_checkpoint, write_checkpoint
from .io.checkpoint import fingerprint as data_fingerprint
from .datasets import validate_data
from .freeenergy import exact_log_z
from .hamiltonian import _LOGIT_CLIP, Hamiltonian
from .modetracking import ModeTracker
from .spectra import count_outliers
from ._threads import Team, run_tiles, training_threads
from .io.history import history_dataset

__all__ = ["Trainer", "TrainingState", "load_checkpoint"]

#: Largest min(N, M) for which ``log_likelihood=True`` is accepted (2^24 terms per record).
EXACT_LL_MAX = 24
#: Largest singular value of W before a run is reported as diverging (β = 1: a coupling
#: mode this strong saturates every sigmoid by a factor e^10000).
DIVERGENCE_SIGMA = 1e4
#: Fraction of active units below which v @ W is a gather instead of a BLAS product.
_GATHER_DENSITY = 0.25
#: Multiply-adds of the product h Wᵀ from which a sparse update is shared by a thread team
#: (measured on 2 cores, time against numba's threads: 784 x 500 with 500 chains 0.78 x,
#: with 100 chains 1.08 x, so kept on numba's threads).
TEAM_WORK = 1 << 26
_TAG_INIT, _TAG_CHAINS, _TAG_ORDER, _TAG_MONITOR, _TAG_VALIDATION = 0, 1, 2, 3, 4
#: Separates the training data's digest from the validation data's in a checkpoint.
_VALIDATION_MARK = "|validation="
#: History variables of ``Trainer.fit(validation=...)``: name -> (long_name, description).
_VALIDATION_VARS = {
    "validation_pseudo_log_likelihood": (
        "validation pseudo-log-likelihood (nats)",
        "N log sigmoid(F(v~) - F(v)) averaged over the validation rows, one fixed flipped unit "
        "per row (the estimator of pseudo_log_likelihood on held-out data; nats)"),
    "free_energy_gap": (
        "free-energy gap, validation - training (k_B T)",
        "mean F(v) over the validation rows minus mean F(v) over the monitored training rows "
        "(in units of k_B T at beta = 1); log Z cancels, so it equals the mean log-likelihood "
        "of the monitored training rows minus that of the validation rows: it grows when "
        "the model overfits"),
    "validation_log_likelihood": (
        "validation log-likelihood (nats)",
        "exact mean log-likelihood of the validation rows, Trainer(log_likelihood=True) (nats)"),
}

# Settings that change the trajectory of a run: a resumed run must use the same.
_DYNAMIC = ("method", "k", "optimizer", "lr", "momentum", "batch_size", "n_chains", "seed",
            "dtype", "record_every", "record_params", "weight_decay", "sigma_w", "monitor_size",
            "beta1", "beta2", "eps")


def _subseed(seed: int, *tags: int) -> int:
    """A 63-bit integer seed derived from ``(seed, *tags)``."""
    return int(np.random.SeedSequence([seed, *tags]).generate_state(1, np.uint64)[0] >> np.uint64(1))


class Trainer:
    r"""CD-k / PCD-k trainer of binary RBMs with a per-epoch history in reciprocal space.

    Parameters
    ----------
    method : {"pcd", "cd"}
        Persistent chains (PCD) or chains restarted at the batch (CD).
    k : int
        Gibbs sweeps per update.
    optimizer : {"sgd", "adam"}
        SGD with momentum, or Adam (``beta1``, ``beta2``, ``eps``).
    lr : float, optional
        Learning rate; default 0.01 (SGD) or 1e-3 (Adam).
    momentum : float
        SGD momentum in [0, 1).
    batch_size : int
        Data vectors per update B; an epoch is ``n_samples // batch_size`` updates (the
        remainder of the shuffled data is left out of that epoch).
    n_epochs : int
        Epochs to train (a resumed run continues up to this many).
    n_chains : int, optional
        Persistent chains C (PCD; default ``batch_size``). CD uses one chain per batch vector.
    seed : int, optional
        Seed of everything random; ``None`` draws one (recorded in the history).
    dtype : {numpy.float32, numpy.float64}
        Precision of the parameters and the sampling.
    record_every : int, optional
        Record the history every this many updates; default every epoch. The state at
        initialisation is always recorded.
    record_params : bool
        Also record ``W``, ``a``, ``b`` at every record.
    progress : bool, optional
        Progress bar (tqdm) with epoch, updates/s and the top singular value; default:
        shown when standard error is a terminal.
    weight_decay : float
        L2 penalty λ on W.
    sigma_w : float
        Standard deviation of the initial couplings (paper: 0.01).
    monitor_size : int
        Data vectors (a fixed random subset) on which the reconstruction error,
        pseudo-log-likelihood and exact log-likelihood are evaluated.
    beta1, beta2, eps : float
        Adam constants.
    log_likelihood : bool
        Record the exact log-likelihood of the monitored data at every record. It
        enumerates the smaller layer, :math:`2^{\min(N, M)}` terms per record (about
        15 s at min(N, M) = 20 for N = 784), so it is off by default and refused above
        ``min(N, M) = 24``.

    Examples
    --------
    >>> trainer = Trainer(method="pcd", k=1, lr=0.01, batch_size=100, n_epochs=5, seed=0)
    >>> ham, history = trainer.fit(data, n_hidden=100)        # doctest: +SKIP
    >>> history.singular_value.plot(x="epoch", hue="mode")    # doctest: +SKIP

    The ``mode`` axis of the history holds tracked modes (label = rank at
    initialisation), so each line above is one mode followed through training.
    """

    def __init__(self, *, method: str = "pcd", k: int = 1, optimizer: str = "sgd", lr: float | None = None,
                 momentum: float = 0.0, batch_size: int = 100, n_epochs: int = 10,
                 n_chains: int | None = None, seed: int | None = None, dtype=np.float32,
                 record_every: int | None = None, record_params: bool = False,
                 progress: bool | None = None, weight_decay: float = 0.0, sigma_w: float = 0.01,
                 monitor_size: int = 1000, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, log_likelihood: bool = False):
        given = {k: v for k, v in locals().items() if k != "self"}
        if method not in ("pcd", "cd"):
            raise ValueError(f"method: expected 'pcd' or 'cd', got {method!r}")
        if optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer: expected 'sgd' or 'adam', got {optimizer!r}")
        self.method = method
        self.optimizer = optimizer
        self.k = check_int("k", k, minimum=1)
        self.lr = check_positive("lr", (0.01 if optimizer == "sgd" else 1e-3) if lr is None else lr)
        self.momentum = check_positive("momentum", momentum, allow_zero=True)
        if self.momentum >= 1:
            raise ValueError(f"momentum: expected a number in [0, 1), got {momentum!r}")
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.n_epochs = check_int("n_epochs", n_epochs, minimum=0)
        if n_chains is not None:
            n_chains = check_int("n_chains", n_chains, minimum=1)
            if method == "cd" and n_chains != self.batch_size:
                raise ValueError(f"n_chains: CD runs one chain per batch vector (batch_size="
                                 f"{self.batch_size}); leave n_chains=None or use method='pcd'")
        self.n_chains = self.batch_size if n_chains is None or method == "cd" else n_chains
        seed = check_seed(seed)
        self.seed = fresh_seed() if seed is None else seed
        self._given = {**given, "seed": self.seed}  # the arguments, for replace()
        self.dtype = check_float_dtype(dtype)
        self.record_every = None if record_every is None else check_int("record_every", record_every, minimum=1)
        if not isinstance(record_params, (bool, np.bool_)):
            raise TypeError(f"record_params: expected True or False, got {record_params!r}")
        self.record_params = bool(record_params)
        if progress is not None and not isinstance(progress, (bool, np.bool_)):
            raise TypeError(f"progress: expected True, False or None (auto), got {progress!r}")
        self.progress = progress
        self.weight_decay = check_positive("weight_decay", weight_decay, allow_zero=True)
        self.sigma_w = check_positive("sigma_w", sigma_w)
        self.monitor_size = check_int("monitor_size", monitor_size, minimum=1)
        self.beta1 = check_positive("beta1", beta1, allow_zero=True)
        self.beta2 = check_positive("beta2", beta2, allow_zero=True)
        if self.beta1 >= 1 or self.beta2 >= 1:
            raise ValueError(f"beta1, beta2: expected numbers in [0, 1), got {beta1!r}, {beta2!r}")
        self.eps = check_positive("eps", eps)
        if not isinstance(log_likelihood, (bool, np.bool_)):
            raise TypeError(f"log_likelihood: expected True or False, got {log_likelihood!r}")
        self.log_likelihood = bool(log_likelihood)

    # ------------------------------------------------------------------ settings
    def settings(self) -> dict:
        """The settings as a flat dict of str/int/float (netCDF-attribute safe)."""
        out = {}
        for key in ("method", "k", "optimizer", "lr", "momentum", "batch_size", "n_epochs",
                    "n_chains", "seed", "record_every", "record_params", "weight_decay",
                    "sigma_w", "monitor_size", "beta1", "beta2", "eps", "log_likelihood"):
            val = getattr(self, key)
            if val is None:
                val = 0 if key == "record_every" else val
            out[key] = int(val) if isinstance(val, bool) else val
        out["dtype"] = self.dtype.name
        return out

    def replace(self, **changes) -> "Trainer":
        """A copy with some settings changed (e.g. ``seed``); defaults follow the new settings."""
        return Trainer(**{**self._given, **changes})

    def __repr__(self) -> str:
        s = self.settings()
        return "Trainer(" + ", ".join(f"{k}={v!r}" for k, v in s.items()) + ")"

    # ------------------------------------------------------------------ fit
    def fit(self, data, *, n_hidden: int, resume=None, checkpoint=None, init=None, callbacks=(),
            validation=None):
        r"""Train an RBM on binary data.

        Parameters
        ----------
        data : array_like, shape (n_samples, N)
            Binary (0/1) training data, e.g. :func:`pyrbm.datasets.mnist`.
        n_hidden : int
            Number of hidden units M.
        resume : path-like, optional
            A checkpoint written by an earlier ``fit(..., checkpoint=...)`` with the same
            data and settings (``n_epochs`` may grow, not shrink below the checkpoint's
            progress); training continues from it. Every array is checked first.
        init : Hamiltonian, optional
            Warm start from this model's parameters (see Notes).
        checkpoint : path-like, optional
            Where to write the full training state (``.npz``), atomically, at every record
            and at the end.
        callbacks : sequence of callable
            Each is called at every new record (the initial one included; a resumed run
            starts after its checkpoint's last record) as ``callback(hamiltonian, record,
            state)``: the model at that record (a float64 copy), the record (dict of the
            history's variables at that record, per-mode arrays in tracked order) and a
            :class:`TrainingState`. A callback that returns ``True`` stops training after
            this record (early stopping); the run so far is returned and checkpointed, and
            ``fit(resume=checkpoint)`` continues it bit for bit. Callbacks run before the
            record's checkpoint is written, so a run killed during a callback redoes that
            record when resumed.
        validation : array_like, shape (n_validation, N), optional
            Held-out binary rows (not in ``data``). At every record the history then also
            holds ``validation_pseudo_log_likelihood`` and ``free_energy_gap`` (see Notes),
            with ``log_likelihood=True`` also the exact ``validation_log_likelihood``, and
            callbacks see them in ``record``, so that one can stop on them. A resumed
            run needs the same validation rows. Without it the run is unchanged, bit for bit.

        Returns
        -------
        hamiltonian : Hamiltonian
            The trained model (float64 parameters, β = 1, binary units).
        history : xarray.Dataset
            Dims ``epoch`` (records; coordinate ``epoch`` = updates / updates per epoch,
            and ``n_updates``) and ``mode`` (tracked singular pairs, labelled by their
            rank at initialisation; :mod:`pyrbm.modetracking`). Per mode, in tracked order
            and sign: ``singular_value``, ``a_tilde``, ``b_tilde``, ``saddle_energy``
            (ε = ã b̃/σ), ``rank`` (1-based rank in descending σ at that record),
            ``mode_sign`` (±1 relative to the single-model sign rule) and ``mode_overlap``
            (signed u_l(t)·u_l(t−1), NaN at the first record). Scalars:
            ``saddle_energy_total`` (Σ ε), ``n_above_mp`` (modes above the
            Marčenko–Pastur edge of the initialisation), ``n_above_4T`` (σ > 4T),
            ``reconstruction_error``, ``pseudo_log_likelihood``, ``log_likelihood``
            (exact; only with ``log_likelihood=True``), ``validation_pseudo_log_likelihood``
            and ``free_energy_gap`` (only with ``validation``), ``validation_log_likelihood``
            (with both), optionally ``W``, ``a``, ``b``.

        Warns
        -----
        RuntimeWarning
            When σ₁ exceeds ``DIVERGENCE_SIGMA`` (the run diverges: lower ``lr``).

        Notes
        -----
        ``init=ham`` (a binary :class:`Hamiltonian` at β = 1 of shape (N, n_hidden)) warm-starts
        from its ``W``, ``a``, ``b`` instead of the paper's initialisation; the optimiser
        moments, chains and mode labels start afresh (cannot be combined with ``resume``).

        Validation metrics (the overfitting monitor of Hinton's practical guide, §6): with
        :math:`\tilde v` the row with one unit flipped (drawn once per validation row from
        the seed, independently of the training),

        .. math::

            \mathrm{PLL}_\mathrm{val} = \frac{N}{n_\mathrm{val}} \sum_{v \in \mathrm{val}}
                \ln \sigma\big(F(\tilde v) - F(v)\big),\qquad
            \Delta F = \langle F \rangle_\mathrm{val} - \langle F \rangle_\mathrm{monitored\ train},

        :math:`\mathrm{PLL}_\mathrm{val}` is an unbiased estimate of the mean
        pseudo-log-likelihood :math:`\sum_i \ln p(v_i \mid v_{-i})` of the validation
        rows, directly comparable with ``pseudo_log_likelihood`` of the training rows.
        ``ΔF`` (``free_energy_gap``) equals the mean log-likelihood of the monitored
        training rows minus that of the validation rows (log Z cancels); it grows when
        the model starts to overfit. Cost per record: two free energies of every
        validation row, :math:`O(n_\mathrm{val} N M)`.

        Raises
        ------
        FloatingPointError
            When the parameters become infinite or NaN (the checkpoint, if any, keeps the
            last finite record).
        """
        data = validate_data(data, name="data")
        n_hidden = check_int("n_hidden", n_hidden, minimum=1)
        n_samples, n_visible = data.shape
        if validation is not None:
            validation = validate_data(validation, n_visible=n_visible, name="validation")
        if self.batch_size > n_samples:
            raise ValueError(f"batch_size: {self.batch_size} is larger than the data set "
                             f"({n_samples} samples); lower batch_size")
        if self.log_likelihood and min(n_visible, n_hidden) > EXACT_LL_MAX:
            raise ValueError(f"log_likelihood: the exact log-likelihood enumerates 2^min(N, M) = "
                             f"2^{min(n_visible, n_hidden)} states per record; it is limited to "
                             f"min(N, M) <= {EXACT_LL_MAX}: pass log_likelihood=False")
        if init is not None:
            if resume is not None:
                raise ValueError("init, resume: give at most one (a checkpoint holds its own parameters)")
            if not isinstance(init, Hamiltonian) or init.spin or init.beta != 1.0 \
                    or init.W.shape != (n_visible, n_hidden):
                raise ValueError(f"init: expected a binary pyrbm.Hamiltonian at beta=1 with W of shape "
                                 f"({n_visible}, {n_hidden}), got {init!r}; pass the model an earlier fit "
                                 f"on data of this width returned")
        if checkpoint is not None:
            checkpoint = check_writable(checkpoint, overwrite=True)
        # digest of the data, only needed to write or check a checkpoint (47 MB of MNIST: 0.2 s)
        fingerprint = None
        if checkpoint is not None or resume is not None:
            fingerprint = data_fingerprint(data)
            if validation is not None:
                fingerprint += _VALIDATION_MARK + data_fingerprint(validation)
        state = None
        if resume is not None:
            state = load_checkpoint(resume)
            ours, theirs = (str(f).partition(_VALIDATION_MARK)[2] for f in (fingerprint, state["fingerprint"]))
            if ours != theirs:
                raise ValueError(f"validation: the checkpoint {resume} was written "
                                 + ("without validation rows" if not theirs else "with other validation rows")
                                 + "; resume with the validation= of the run that wrote it")
            check_resume(state, resume, self, n_samples, n_visible, n_hidden, fingerprint, _DYNAMIC)

        if callable(callbacks):
            callbacks = (callbacks,)
        callbacks = tuple(callbacks)
        bad = [c for c in callbacks if not callable(c)]
        if bad:
            raise TypeError(f"callbacks: expected callables callback(hamiltonian, record, state), got {bad!r}")

        with training_threads(max(self.batch_size, self.n_chains), n_visible, n_hidden):
            run = _Run(self, data, n_hidden, fingerprint, state, init, validation)
            with run.parallel():
                run.train(checkpoint, callbacks)
        return run.hamiltonian(), run.history()


class TrainingState:
    """What a :meth:`Trainer.fit` callback sees of the run at a record (read-only).

    Attributes
    ----------
    trainer : Trainer
        The settings.
    update : int
        Parameter updates done.
    epoch : float
        ``update / updates_per_epoch``.
    n_updates : int
        Updates the run is to reach (``n_epochs * updates_per_epoch``).
    n_records : int
        Records so far (this one included).
    """

    __slots__ = ("_run",)

    def __init__(self, run: "_Run"):
        self._run = run

    trainer = property(lambda self: self._run.tr)
    update = property(lambda self: self._run.update)
    epoch = property(lambda self: self._run.update / self._run.updates_per_epoch)
    n_updates = property(lambda self: self._run.tr.n_epochs * self._run.updates_per_epoch)
    n_records = property(lambda self: len(self._run.records))

    def history(self) -> xr.Dataset:
        """The history so far (as :meth:`Trainer.fit` returns it)."""
        return self._run.history()

    def __repr__(self) -> str:
        return f"TrainingState(update={self.update}, epoch={self.epoch:g}, n_records={self.n_records})"


class _Run:
    """The mutable state of one training run (parameters, moments, chains, history)."""

    def __init__(self, tr: Trainer, data: np.ndarray, n_hidden: int, fingerprint: str, state=None,
                 init=None, validation=None):
        self.tr = tr
        dt = tr.dtype
        self.n_samples, self.N = data.shape
        self.M = n_hidden
        self.K = min(self.N, self.M)
        self.fingerprint = fingerprint
        self.updates_per_epoch = self.n_samples // tr.batch_size
        self.C = tr.n_chains
        self.data = data
        # Monitoring subset (fixed) and the unit flipped for each sample's pseudo-likelihood.
        mrng = np.random.default_rng(_subseed(tr.seed, _TAG_MONITOR))
        n_mon = min(self.n_samples, tr.monitor_size)
        rows = np.sort(mrng.permutation(self.n_samples)[:n_mon]) if n_mon < self.n_samples \
            else np.arange(self.n_samples)
        self.monitor = np.asarray(data[rows], dtype=np.float64)
        self.flip = mrng.integers(0, self.N, n_mon)
        self.validation = None
        if validation is not None:   # held-out rows and their flipped units (own stream)
            self.validation = np.asarray(validation, dtype=np.float64)
            vrng = np.random.default_rng(_subseed(tr.seed, _TAG_VALIDATION))
            self.validation_flip = vrng.integers(0, self.N, self.validation.shape[0])
        self.mp_edge = tr.sigma_w * (np.sqrt(self.N) + np.sqrt(self.M))

        B, C, N, M = tr.batch_size, self.C, self.N, self.M
        # Products with binary rows as gathers over active units when the data are sparse
        # enough for that to beat BLAS (a fixed choice per run: results stay reproducible).
        self.gather = bool(np.count_nonzero(data) < _GATHER_DENSITY * data.size)
        # Stacked phases: rows < B hold the batch, rows >= B the negative chains.
        self.V2 = np.zeros((B + C, N), dtype=dt)
        self.v_pos, self.v_neg = self.V2[:B], self.V2[B:]
        self.P2s = np.empty((B + C, M), dtype=dt)     # [p+/B; -p-/C]
        self._s_pos, self._s_neg = dt.type(1.0 / B), dt.type(-1.0 / C)
        if state is None:
            # Hamiltonian.from_data's initialisation, from exact column counts of the
            # validated 0/1 data (no float64 copy): W ~ N(0, σ_w²), a = logit(clip(mean)), b = 0.
            ham0 = Hamiltonian.random(self.N, n_hidden, sigma_w=tr.sigma_w,
                                      seed=_subseed(tr.seed, _TAG_INIT))
            p = data.sum(axis=0, dtype=np.int64) / self.n_samples   # exact counts of ones
            p = np.clip(p, _LOGIT_CLIP, 1.0 - _LOGIT_CLIP)
            self.W = np.array(ham0.W, dtype=dt)  # a writable copy (the Hamiltonian is read-only)
            self.a = (np.log(p) - np.log1p(-p)).astype(dt)
            self.b = np.array(ham0.b, dtype=dt)
            if init is not None:   # warm start (Trainer.fit(init=ham))
                self.W, self.a, self.b = (np.array(x, dtype=dt, order="C") for x in (init.W, init.a, init.b))
            self.mom = _kt.moments(self.W, self.a, self.b)
            self.streams = make_streams(_subseed(tr.seed, _TAG_CHAINS), C)
            self.p_neg = np.zeros((C, M), dtype=dt)
            if tr.method == "pcd":
                # Chains start from the independent-unit model of the data, v ~ sigmoid(a),
                # and their hidden probabilities under the initial model.
                sample_layer(np.zeros((C, N), dtype=dt), self.a, 1.0, False,
                             self.streams, self.v_neg)
                self._hidden(self.v_neg, self.p_neg, self.P2s[B:], self._s_neg)
            self.update = 0
            self.tracker = ModeTracker()
            self.records = []
        else:
            self.W, self.a, self.b = state["W"], state["a"], state["b"]
            self.mom = _kt.Moments(*(state[k] for k in MOMENT_KEYS))
            self.streams = state["streams"]
            self.v_neg[:] = state["v_neg"]
            self.p_neg = state["p_neg"]
            self.update = int(state["update"])
            self.tracker = ModeTracker(state["prev_U"], state["prev_V"])
            self.records = state["records"]
        # Work buffers.
        self.p_pos = np.empty((B, M), dtype=dt)
        self.h = np.empty((C, M), dtype=dt)
        self.field_v = np.empty((C, N), dtype=dt)
        if self.gather:
            self.work = _kt.gather_work(N, B + C)
            self.grad_a = np.empty(N, dtype=dt)
        else:
            self.G = np.empty((N, M), dtype=dt)
        self._one_thread()   # until parallel()
        self._order_epoch = -1
        self._order = None
        self._warned = False

    # -------------------------------------------------------------- one update
    def _rows(self, update: int) -> np.ndarray:
        epoch, pos = divmod(update, self.updates_per_epoch)
        if epoch != self._order_epoch:
            rng = np.random.default_rng(_subseed(self.tr.seed, _TAG_ORDER, epoch))
            self._order = rng.permutation(self.n_samples).astype(np.int64)
            self._order_epoch = epoch
        B = self.tr.batch_size
        return self._order[pos * B:(pos + 1) * B]

    def _hidden(self, v, p, ps, s):
        """p = sigmoid(v W + b), ps = s p for binary rows v (gather or BLAS)."""
        if self.gather:
            _kt.binary_prob_scaled(v, self.W, self.b, p, ps, s)
        else:
            np.matmul(v, self.W, out=p)
            _kt.prob_scaled(p, self.b, p, ps, s)

    def _one_thread(self):
        """Updates in one part and records on one thread (outside :meth:`parallel`)."""
        self.team, self.parts, self.record_threads = Team(1), [(0, self.tr.batch_size, 0, self.C, 0, self.N)], 1

    @contextlib.contextmanager
    def parallel(self):
        """The threads of the updates for the block (inside :func:`pyrbm._threads.training_threads`).

        Sparse runs whose product ``hWᵀ`` has at least :data:`TEAM_WORK` multiply-adds
        share every update between numba's thread count of threads (a
        :class:`pyrbm._threads.Team`: BLAS and the kernels of a part on one thread each,
        no numba thread pool; a hand-off costs about 70 µs, so smaller updates gain
        nothing); the others keep BLAS on the calling thread and the numba kernels on
        numba's threads. Records use as many threads (:meth:`record`).
        """
        B, C, N = self.tr.batch_size, self.C, self.N
        n = numba.get_num_threads() if self.gather and C * N * self.M >= TEAM_WORK else 1
        # Parts: batch rows and chains split alike (CD pairs chain c with batch row c), and
        # the visible units of the product h Wᵀ in blocks of 16 columns, which BLAS computes
        # exactly as in one product.
        cols = [min(N, 16 * -(-N * t // (16 * n))) for t in range(n)] + [N]
        self.parts = [(B * t // n, B * (t + 1) // n, C * t // n, C * (t + 1) // n, cols[t], cols[t + 1])
                      for t in range(n)]
        old = self.record_threads = numba.get_num_threads()
        with Team(n) as self.team:
            if n > 1:
                numba.set_num_threads(1)   # all parallel work is in the team's parts
            try:
                yield
            finally:
                numba.set_num_threads(old)
                self._one_thread()

    def step(self):
        """One CD-k/PCD-k parameter update on the next batch.

        Per update: the positive hidden probabilities ``σ(b + v⁺W)``; per sweep a BLAS
        product ``hWᵀ``, the fused visible sampling and ``σ(b + v⁻W)``; one BLAS product
        ``G = [v⁺; v⁻]ᵀ[p⁺/B; −p⁻/C]`` for the whole weight gradient; then one fused pass
        for weight decay, bias gradients and the optimiser step. Products ``vW`` with
        binary rows are gathers over the active units when the data are sparse, and the
        update is then shared by the threads of :meth:`parallel` (:meth:`_sparse_step`).
        """
        tr = self.tr
        B, C = tr.batch_size, self.C
        rows = self._rows(self.update)
        self.v_pos[:] = self.data[rows]
        hp = _kt.hyper(tr.dtype, B, C, tr.lr, tr.momentum, tr.weight_decay, tr.beta1, tr.beta2,
                       tr.eps, t=self.update + 1,
                       opt=_kt.OPT_ADAM if tr.optimizer == "adam" else _kt.OPT_SGD)
        if self.team.n > 1:
            self._sparse_step(hp)
            self.update += 1
            return
        self._hidden(self.v_pos, self.p_pos, self.P2s[:B], self._s_pos)
        _kt.bernoulli(self.p_pos if tr.method == "cd" else self.p_neg, self.streams, self.h)
        for sweep in range(tr.k):
            np.matmul(self.h, self.W.T, out=self.field_v)
            sample_layer(self.field_v, self.a, 1.0, False, self.streams, self.v_neg)
            self._hidden(self.v_neg, self.p_neg, self.P2s[B:], self._s_neg)
            if sweep + 1 < tr.k:
                _kt.bernoulli(self.p_neg, self.streams, self.h)
        if self.gather:
            _kt.update_sparse(self.W, self.a, self.b, self.V2, self.P2s, self.mom, hp, self.work)
        else:
            np.matmul(self.V2.T, self.P2s, out=self.G)
            _kt.update_dense(self.W, self.a, self.b, self.G, self.V2, self.P2s, self.mom, hp)
        self.update += 1

    def _sparse_step(self, hp):
        """The update of sparse data in parts, each phase shared by the team's threads.

        Phases: (rows) ``p⁺`` of the part's batch rows and the first hidden sample of its
        chains; per sweep (columns) the part's visible units of ``hWᵀ``, then (rows) the
        visible sample, ``p⁻`` and the next hidden sample of its chains; (weights) the
        gathered gradient and optimiser step of every n-th weight row. Each row, column
        and weight row is computed as in one piece: the result does not depend on the
        number of parts.
        """
        tr, team, parts = self.tr, self.team, self.parts
        B, k, n = tr.batch_size, tr.k, team.n
        W, b = self.W, self.b
        first = self.p_pos if tr.method == "cd" else self.p_neg

        def start(t):
            p0, p1, c0, c1 = parts[t][:4]
            _kt.binary_prob_scaled(self.v_pos[p0:p1], W, b, self.p_pos[p0:p1], self.P2s[p0:p1], self._s_pos)
            _kt.bernoulli(first[c0:c1], self.streams[c0:c1], self.h[c0:c1])

        def product(t):
            i0, i1 = parts[t][4:]
            np.matmul(self.h, W[i0:i1].T, out=self.field_v[:, i0:i1])

        def sweep(t, last):
            c0, c1 = parts[t][2:4]
            streams, p_neg = self.streams[c0:c1], self.p_neg[c0:c1]
            sample_layer(self.field_v[c0:c1], self.a, 1.0, False, streams, self.v_neg[c0:c1])
            _kt.binary_prob_scaled(self.v_neg[c0:c1], W, b, p_neg, self.P2s[B + c0:B + c1], self._s_neg)
            if not last:
                _kt.bernoulli(p_neg, streams, self.h[c0:c1])

        team.run(start)
        for s in range(k):
            team.run(product)
            team.run(lambda t: sweep(t, s + 1 == k))
        _kt.gather_columns(self.V2, self.work)
        team.run(lambda t: _kt.update_sparse_rows(W, self.P2s, self.mom, hp, self.work, self.grad_a, t, n))
        _kt.update_biases(self.a, b, self.grad_a, self.P2s, self.mom, hp)

    # -------------------------------------------------------------- loop
    def _is_record(self, update: int) -> bool:
        every = self.tr.record_every or self.updates_per_epoch
        return update % every == 0

    def _notify(self, callbacks) -> bool:
        """Call every callback on the last record; True if one asks to stop."""
        if not callbacks:
            return False
        rec = {k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v for k, v in self.records[-1].items()}
        ham, state = self.hamiltonian(), TrainingState(self)
        stop = False
        for callback in callbacks:
            stop = (callback(ham, rec, state) is True) or stop
        return stop

    def train(self, checkpoint, callbacks=()):
        tr = self.tr
        total = tr.n_epochs * self.updates_per_epoch
        stop = False
        if not self.records:
            self.record()
            stop = self._notify(callbacks)
        show = tr.progress if tr.progress is not None else sys.stderr.isatty()
        bar = None
        if show and self.update < total:
            from tqdm.auto import tqdm
            bar = tqdm(total=total, initial=self.update, unit="upd", dynamic_ncols=True,
                       desc="training", leave=True)
            bar.set_postfix(self._postfix())
        saved = False
        try:
            while self.update < total and not stop:
                self.step()
                saved = False
                if bar is not None:
                    bar.update(1)
                if self._is_record(self.update):
                    self.record()
                    stop = self._notify(callbacks)
                    if checkpoint is not None:
                        self.save(checkpoint)
                        saved = True
                    if bar is not None:
                        bar.set_postfix(self._postfix())
        finally:
            if bar is not None:
                bar.close()
        if checkpoint is not None and not saved:
            self.save(checkpoint)

    def _postfix(self):
        r = self.records[-1]
        return {"epoch": f"{r['epoch']:.2f}", "sigma_1": f"{np.max(r['singular_value']):.3g}"}

    # -------------------------------------------------------------- records
    def _check_divergence(self, s1=None):
        """Stop on non-finite parameters; warn (once) when σ₁ passes ``DIVERGENCE_SIGMA``."""
        tr = self.tr
        where = f"after {self.update} updates (epoch {self.update / self.updates_per_epoch:g})"
        if s1 is None:
            if not (np.all(np.isfinite(self.W)) and np.all(np.isfinite(self.a))
                    and np.all(np.isfinite(self.b))):
                raise FloatingPointError(f"training diverged: the parameters are infinite or NaN "
                                         f"{where}; lower lr (now {tr.lr:g})")
        elif s1 > DIVERGENCE_SIGMA and not self._warned:
            self._warned = True
            warnings.warn(f"training diverges: sigma_1 = {s1:.3g} > {DIVERGENCE_SIGMA:g} {where}; "
                          f"lower lr (now {tr.lr:g})", RuntimeWarning, stacklevel=5)

    def record(self):
        """Append a record of the model now (history variables of :mod:`pyrbm.io.history`).

        Its two independent halves -- the SVD of W with the mode tracking, and the float64
        monitors of the monitored (and validation) rows -- run side by side when training
        has more than one thread (:func:`pyrbm._threads.run_tiles`), each on one BLAS
        thread as before, so the recorded numbers do not depend on it.
        """
        tr = self.tr
        self._check_divergence()
        ham = self.hamiltonian()
        out = {}

        def modes():
            md = ham.modes
            out["match"], out["eps"] = self.tracker(md), md.saddle()[2]

        def monitors():
            mon = self.monitor
            recon = expit(expit(mon @ ham.W + ham.b) @ ham.W.T + ham.a)
            out["rec_err"] = float(np.mean((mon - recon) ** 2))
            out["pll"], out["free"] = _pseudo_log_likelihood(ham, mon, self.flip)
            if self.validation is not None:
                out["validation"] = _pseudo_log_likelihood(ham, self.validation, self.validation_flip)

        run_tiles(lambda t, slot: (modes, monitors)[t](), 2, self.record_threads)
        md = ham.modes
        K, s = self.K, md.s
        self._check_divergence(float(s[0]))
        match, rec_err, pll, free = out["match"], out["rec_err"], out["pll"], out["free"]
        idx, sign = match.index, match.sign
        eps = np.where(np.isfinite(out["eps"]), out["eps"], np.nan)
        log_z = float(exact_log_z(ham)) if tr.log_likelihood else np.nan
        ll = float(np.mean(-free) - log_z) if tr.log_likelihood else np.nan
        rec = {
            "update": self.update,
            "epoch": self.update / self.updates_per_epoch,
            # per mode: tracked order and sign (ε is sign-invariant)
            "singular_value": s[idx],
            "a_tilde": sign * md.a_tilde[:K][idx],
            "b_tilde": sign * md.b_tilde[:K][idx],
            "saddle_energy": eps[idx],
            "rank": match.rank,
            "mode_sign": sign,
            "mode_overlap": match.overlap,
            "saddle_energy_total": float(np.nansum(eps)),
            "n_above_mp": count_outliers(s, self.N, self.M, sigma_w=tr.sigma_w),
            "n_above_4T": int(np.count_nonzero(s > 4.0)),
            "reconstruction_error": rec_err,
            "pseudo_log_likelihood": pll,
            "log_likelihood": ll,
        }
        if self.validation is not None:
            val_pll, val_free = out["validation"]
            rec.update(validation_pseudo_log_likelihood=val_pll,
                       free_energy_gap=float(np.mean(val_free) - np.mean(free)))
            if tr.log_likelihood:
                rec["validation_log_likelihood"] = float(np.mean(-val_free) - log_z)
        if tr.record_params:
            rec.update(W=ham.W, a=ham.a, b=ham.b)
        self.records.append(rec)

    def hamiltonian(self) -> Hamiltonian:
        return Hamiltonian(self.W.astype(np.float64), self.a.astype(np.float64),
                           self.b.astype(np.float64))

    def history(self) -> xr.Dataset:
        ds = history_dataset(self.records, self.tr, self.N, self.M, self.n_samples,
                             self.updates_per_epoch, self.mp_edge)
        for name, (long_name, description) in _VALIDATION_VARS.items():
            if name in self.records[0]:
                ds[name] = ("epoch", np.array([r[name] for r in self.records], dtype=np.float64),
                            {"long_name": long_name, "units": "1", "description": description})
        return ds

    # -------------------------------------------------------------- checkpoints
    def save(self, path):
        arrays = {"W": self.W, "a": self.a, "b": self.b, "streams": self.streams,
                  "v_neg": self.v_neg, "p_neg": self.p_neg, "update": np.int64(self.update),
                  "prev_U": self.tracker.U, "prev_V": self.tracker.V,
                  "meta": np.array(json.dumps({
                      "format": CHECKPOINT_FORMAT, "config": self.tr.settings(),
                      "fingerprint": self.fingerprint, "pyrbm_version": __version__,
                      "n_visible": self.N, "n_hidden": self.M,
                      "record_keys": sorted(self.records[0]) if self.records else [],
                      "n_records": len(self.records)}))}
        arrays.update(zip(MOMENT_KEYS, self.mom))
        for key in (self.records[0] if self.records else ()):
            arrays["rec__" + key] = np.stack([np.asarray(r[key]) for r in self.records])
        write_checkpoint(path, arrays)


def _pseudo_log_likelihood(ham: Hamiltonian, rows: np.ndarray, flip: np.ndarray):
    r"""Stochastic pseudo-log-likelihood of binary rows and their free energies.

    Parameters
    ----------
    ham : Hamiltonian
        Binary model at β = 1.
    rows : ndarray, shape (n, N)
        Binary rows (float64).
    flip : ndarray of int, shape (n,)
        The unit flipped in each row.

    Returns
    -------
    pll : float
        :math:`N \langle \ln\sigma(F(\tilde v) - F(v)) \rangle_\mathrm{rows}` (nats), an
        unbiased estimate of :math:`\sum_i \ln p(v_i\mid v_{-i})` averaged over the rows.
    free : ndarray, shape (n,)
        :math:`F(v)` of every row (k_B T).
    """
    free = ham.free_energy(rows)
    flipped = rows.copy()
    idx = np.arange(rows.shape[0])
    flipped[idx, flip] = 1.0 - flipped[idx, flip]
    pll = float(rows.shape[1] * np.mean(-np.logaddexp(0.0, -(ham.free_energy(flipped) - free))))
    return pll, free
