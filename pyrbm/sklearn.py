r"""A scikit-learn estimator backed by :class:`pyrbm.Trainer`: ``pyrbm.sklearn.RBM``.

A drop-in for :class:`sklearn.neural_network.BernoulliRBM` (same constructor arguments,
methods and fitted attributes, with the same meanings), trained by pyrbm's PCD-k/CD-k
kernels and giving the model as a :class:`pyrbm.Hamiltonian` for everything else pyrbm does::

    from sklearn.pipeline import Pipeline
    from sklearn.linear_model import LogisticRegression
    from pyrbm.sklearn import RBM

    clf = Pipeline([("rbm", RBM(n_components=256, n_iter=10, random_state=0)),
                    ("logistic", LogisticRegression(max_iter=1000))]).fit(X, y)
    ham = clf.named_steps["rbm"].to_hamiltonian()

scikit-learn is an optional extra (``pip install 'pyrbm[sklearn]'``); ``import pyrbm`` does
not import this module.

Conventions shared with BernoulliRBM: ``components_`` is :math:`W^\top`, shape
(n_components, n_features); ``intercept_hidden_`` is ``b`` and ``intercept_visible_`` is
``a`` of :math:`E(v, h) = -a^\top v - b^\top h - v^\top W h`; ``transform`` gives
:math:`p(h_j = 1 \mid v) = \sigma(b + W^\top v)_j`; ``score_samples`` is by default the
stochastic pseudo-log-likelihood of one randomly chosen unit per sample, scaled by the
number of units, with the unit drawn from ``random_state`` exactly as BernoulliRBM draws it.

Differences (all documented at :class:`RBM`): inputs are binarised at ``binarize`` (pyrbm
trains binary units, where BernoulliRBM reads grey levels as probabilities), the visible
biases start at the logit of the data means (the paper's initialisation), the data are
shuffled every epoch, and an epoch is ``n_samples // batch_size`` updates.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

try:
    from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as err:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError("pyrbm.sklearn needs scikit-learn >= 1.6: pip install 'pyrbm[sklearn]'") from err

from ._checks import check_int, check_positive
from .annealing import ais
from .freeenergy import EXACT_MAX_UNITS, exact_log_z
from .hamiltonian import Hamiltonian
from .training import Trainer

__all__ = ["RBM"]

#: Methods of :meth:`RBM.score_samples`.
SCORE_METHODS = ("pseudo", "exact", "ais")
_SEED_MAX = 2**31 - 1


class RBM(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    r"""Binary restricted Boltzmann machine as a scikit-learn transformer, trained by pyrbm.

    Parameters
    ----------
    n_components : int, default 256
        Number of hidden units M.
    learning_rate : float, default 0.1
        SGD step on the batch-mean log-likelihood gradient (BernoulliRBM's convention).
    batch_size : int, default 10
        Examples per update (lowered to the number of samples for smaller data sets).
    n_iter : int, default 10
        Epochs over the training data; one epoch is ``n_samples // batch_size`` updates on
        a fresh random permutation (the remainder of the permutation is left out).
    verbose : int, default 0
        Non-zero shows pyrbm's progress bar (epoch, updates/s, top singular value).
    random_state : int, RandomState instance or None, default None
        An integer is the seed of :class:`pyrbm.Trainer` itself (``RBM(random_state=s)`` is
        ``Trainer(seed=s)``); a RandomState draws the seed. Also the generator of the unit
        flipped by the pseudo-likelihood, of :meth:`gibbs` and of AIS.
    method : {"pcd", "cd"}, default "pcd"
        Persistent contrastive divergence (BernoulliRBM's stochastic maximum likelihood) or CD.
    k : int, default 1
        Gibbs sweeps per update.
    momentum : float, default 0.0
        SGD momentum in [0, 1).
    weight_decay : float, default 0.0
        L2 penalty on ``W``.
    binarize : float or None, default 0.5
        Every input (fit, transform, score, gibbs; dense or scipy.sparse, densified) becomes
        ``1[X >= binarize]``, as :func:`pyrbm.datasets.mnist` binarises grey levels; ``None``
        requires 0/1 input.

    Attributes
    ----------
    components_ : ndarray, shape (n_components, n_features)
        Couplings :math:`W^\top` (BernoulliRBM's ``components_``).
    intercept_hidden_ : ndarray, shape (n_components,)
        Hidden biases ``b``.
    intercept_visible_ : ndarray, shape (n_features,)
        Visible biases ``a``.
    n_features_in_ : int
        Number of features N seen in :meth:`fit`.
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.
    history_ : xarray.Dataset
        The :class:`pyrbm.Trainer` history of the last :meth:`fit` or :meth:`partial_fit`
        call (singular values per tracked mode, reconstruction error, pseudo-likelihood per
        epoch).
    random_state_ : numpy.random.RandomState
        Generator of :meth:`partial_fit` seeds and :meth:`gibbs`.

    Notes
    -----
    Training is :class:`pyrbm.Trainer` with SGD: ``Trainer(method, k, optimizer="sgd",
    lr=learning_rate, momentum, batch_size, n_epochs=n_iter, seed, weight_decay)``, started
    from ``W ~ N(0, 0.01²)``, ``b = 0``, ``a = logit(mean of the data)`` (BernoulliRBM starts
    ``a`` at 0 and does not shuffle). Results depend only on ``random_state``, not on the
    number of threads.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def __init__(self, n_components=256, *, learning_rate=0.1, batch_size=10, n_iter=10, verbose=0,
                 random_state=None, method="pcd", k=1, momentum=0.0, weight_decay=0.0, binarize=0.5):
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.verbose = verbose
        self.random_state = random_state
        self.method = method
        self.k = k
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.binarize = binarize

    # ------------------------------------------------------------------ helpers
    def _binary(self, X) -> np.ndarray:
        """``X`` (validated by scikit-learn; dense or CSR) as dense 0/1 uint8, (n_samples, n_features)."""
        thr = self.binarize
        if thr is not None and (isinstance(thr, (bool, np.bool_)) or not isinstance(thr, numbers.Real)
                                or not np.isfinite(thr)):
            raise ValueError(f"binarize: expected a finite threshold (e.g. 0.5) or None, got {thr!r}")
        if sp.issparse(X):
            if thr is not None and thr > 0:   # the zeros stay zeros: threshold the stored values only
                X = X.copy()
                X.data = (X.data >= thr).astype(X.dtype)
                return X.toarray().astype(np.uint8)
            X = X.toarray()
        if thr is None:
            if not np.all((X == 0) | (X == 1)):
                raise ValueError("X: binarize=None requires binary (0/1) input; pass binarize=0.5 "
                                 "(or another threshold) to binarise grey levels")
            return X.astype(np.uint8)
        return (X >= thr).astype(np.uint8)

    def _input(self, X, *, reset: bool) -> np.ndarray:
        """Validated (scikit-learn's checks and ``n_features_in_``) and binarised input."""
        return self._binary(validate_data(self, X, accept_sparse="csr", dtype=(np.float64, np.float32),
                                          reset=reset))

    def _trainer(self, seed: int, n_epochs: int) -> Trainer:
        """The Trainer of these settings, each checked (named as here) before any work."""
        check_int("n_components", self.n_components, minimum=1)
        if not isinstance(self.verbose, (numbers.Integral, np.bool_)) or self.verbose < 0:
            raise TypeError(f"verbose: expected an integer >= 0 or a bool (0 = quiet), got {self.verbose!r}")
        return Trainer(method=self.method, k=self.k, optimizer="sgd",
                       lr=check_positive("learning_rate", self.learning_rate), momentum=self.momentum,
                       batch_size=check_int("batch_size", self.batch_size, minimum=1),
                       n_epochs=check_int("n_iter", n_epochs, minimum=0), seed=seed,
                       progress=bool(self.verbose), weight_decay=self.weight_decay)

    def _train(self, X, trainer: Trainer, init) -> "RBM":
        if trainer.batch_size > X.shape[0]:      # BernoulliRBM trains on data sets smaller than a batch
            trainer = trainer.replace(batch_size=X.shape[0])
        ham, self.history_ = trainer.fit(X, n_hidden=self.n_components, init=init)
        self.components_ = np.ascontiguousarray(ham.W.T)
        self.intercept_hidden_ = ham.b.copy()
        self.intercept_visible_ = ham.a.copy()
        self._n_features_out = self.components_.shape[0]
        return self

    # ------------------------------------------------------------------ training
    def fit(self, X, y=None):
        """Train on ``X`` for ``n_iter`` epochs from a fresh initialisation.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Training data (binarised at ``binarize``).
        y : ignored

        Returns
        -------
        self : RBM
        """
        if isinstance(self.random_state, numbers.Integral) and not isinstance(self.random_state, bool):
            seed = int(self.random_state)
        else:
            seed = int(check_random_state(self.random_state).randint(_SEED_MAX))
        trainer = self._trainer(seed, self.n_iter)
        X = self._input(X, reset=True)
        self.random_state_ = check_random_state(self.random_state)
        return self._train(X, trainer, None)

    def partial_fit(self, X, y=None):
        """One epoch over ``X``, warm-started from the current model (a fresh one on the first call).

        Unlike BernoulliRBM, which takes one step with the whole of ``X`` as the batch, this
        runs ``len(X) // batch_size`` updates on shuffled mini-batches of ``X``
        (``Trainer.fit(X, init=self.to_hamiltonian())``); the persistent chains and the
        momentum start afresh at every call. Each call's seed is drawn from ``random_state_``.

        Returns
        -------
        self : RBM
        """
        first = not hasattr(self, "components_")
        if not hasattr(self, "random_state_"):
            self.random_state_ = check_random_state(self.random_state)
        trainer = self._trainer(int(self.random_state_.randint(_SEED_MAX)), 1)
        X = self._input(X, reset=first)
        return self._train(X, trainer, None if first else self.to_hamiltonian())

    # ------------------------------------------------------------------ the fitted model
    def to_hamiltonian(self) -> Hamiltonian:
        """The fitted model as a :class:`pyrbm.Hamiltonian` (``W = components_.T``, β = 1, binary)."""
        check_is_fitted(self)
        return Hamiltonian(self.components_.T, self.intercept_visible_, self.intercept_hidden_)

    def _visible(self, X) -> np.ndarray:
        check_is_fitted(self)
        return self._input(X, reset=False)

    def transform(self, X):
        r"""Hidden activation probabilities :math:`p(h_j = 1 \mid v) = \sigma(b + W^\top v)_j`.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        ndarray, shape (n_samples, n_components), float64
        """
        return self.to_hamiltonian().p_h_given_v(self._visible(X))

    def gibbs(self, v):
        """One Gibbs step ``h ~ p(h | v)``, ``v' ~ p(v | h)`` from ``v``, drawn from ``random_state_``.

        Parameters
        ----------
        v : array_like, shape (n_samples, n_features)

        Returns
        -------
        ndarray of bool, shape (n_samples, n_features)
            The new visible configurations (BernoulliRBM's return type).
        """
        v = self._visible(v)
        if not hasattr(self, "random_state_"):
            self.random_state_ = check_random_state(self.random_state)
        rng, ham = self.random_state_, self.to_hamiltonian()
        p_h = ham.p_h_given_v(v)
        h = (rng.uniform(size=p_h.shape) < p_h).astype(np.float64)
        p_v = ham.p_v_given_h(h)
        return rng.uniform(size=p_v.shape) < p_v

    def score_samples(self, X, method: str = "pseudo"):
        r"""Log-likelihood of each sample, estimated or exact (nats).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        method : {"pseudo", "exact", "ais"}
            ``"pseudo"`` (BernoulliRBM's estimator, cheap): for one unit ``i`` per sample,
            drawn from ``random_state``, :math:`N \ln\sigma(F(v^{(i)}) - F(v))` with
            :math:`v^{(i)}` the sample with unit ``i`` flipped and ``F`` the free energy; its
            mean over ``i`` is the pseudo-log-likelihood :math:`\sum_i \ln p(v_i \mid v_{-i})`.
            ``"exact"``: :math:`\ln p(v) = -F(v) - \ln Z` with ``ln Z`` by enumeration
            (:func:`pyrbm.exact_log_z`, ``min(N, M) ≤ 25``). ``"ais"``: the same with ``ln Z``
            from :func:`pyrbm.ais` (100 chains, the classic 14,501-temperature schedule, base
            model from the visible biases; an estimate, low in expectation, so the scores are
            high in expectation). ``ln Z`` is kept for as long as the parameters stay the same.

        Returns
        -------
        ndarray, shape (n_samples,), float64
        """
        v = self._visible(X)
        if method not in SCORE_METHODS:
            raise ValueError(f"method: expected one of {SCORE_METHODS}, got {method!r}")
        ham = self.to_hamiltonian()
        free = ham.free_energy(v)
        if method == "pseudo":
            rng = check_random_state(self.random_state)
            rows = np.arange(v.shape[0])
            flipped = v.astype(np.float64)
            unit = rng.randint(0, v.shape[1], v.shape[0])
            flipped[rows, unit] = 1.0 - flipped[rows, unit]
            return -v.shape[1] * np.logaddexp(0.0, -(ham.free_energy(flipped) - free))
        return -free - self._log_partition(ham, method)

    def _log_partition(self, ham: Hamiltonian, method: str) -> float:
        """``ln Z`` by ``method``, kept with the parameters it was computed for."""
        params = (self.components_, self.intercept_visible_, self.intercept_hidden_)
        cached = getattr(self, "_log_z", {}).get(method)
        if cached is not None and all(np.array_equal(x, y) for x, y in zip(cached[0], params)):
            return cached[1]
        if method == "exact" and min(ham.n_visible, ham.n_hidden) > EXACT_MAX_UNITS:
            raise ValueError(f"method: 'exact' enumerates 2^min(N, M) states, limited to min(N, M) <= "
                             f"{EXACT_MAX_UNITS}; this model has N={ham.n_visible}, M={ham.n_hidden}: "
                             f"use method='ais'")
        if method == "exact":
            log_z = float(exact_log_z(ham))
        else:
            log_z = float(ais(ham, seed=int(check_random_state(self.random_state).randint(_SEED_MAX))))
        self._log_z = {**getattr(self, "_log_z", {}), method: (tuple(x.copy() for x in params), log_z)}
        return log_z
