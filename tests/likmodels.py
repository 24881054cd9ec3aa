"""Small trained and planted models for the likelihood tests (enumerable: exact ln Z is known)."""

import functools

import numpy as np

from pyrbm import Hamiltonian, Trainer, datasets


@functools.lru_cache(maxsize=None)
def trained_small(n_visible=16, n_hidden=8, seed=0):
    """An RBM trained by PCD on planted hierarchical data, and its training data (n, N)."""
    data = datasets.hierarchical(n_samples=1000, n_visible=n_visible, depth=2, noise=0.05, seed=seed)
    data = np.asarray(getattr(data, "data", data), dtype=np.float64)
    trainer = Trainer(method="pcd", k=1, lr=0.05, batch_size=50, n_epochs=30, seed=seed, progress=False)
    ham, _ = trainer.fit(data, n_hidden=n_hidden)
    return ham, data


def planted(n=12, m=6, strength=3.0, seed=0, units="binary", tilt=1.0):
    """Two opposite rank-one spikes: visible patterns ±ξ coupled to two hidden groups (two far modes).

    ``tilt`` > 1 strengthens the couplings of the first hidden group, so the +ξ mode weighs more.
    """
    rng = np.random.default_rng(seed)
    xi = rng.choice([-1.0, 1.0], size=n)
    W = np.zeros((n, m))
    W[:, : m // 2] = tilt * strength * xi[:, None] / np.sqrt(n)
    W[:, m // 2:] = -strength * xi[:, None] / np.sqrt(n)
    W += 0.1 * rng.standard_normal((n, m))
    if units == "binary":  # centred couplings: both patterns are competitive
        a, b = -W.sum(axis=1) / 2.0, -W.sum(axis=0) / 2.0
    else:
        a, b = np.zeros(n), np.zeros(m)
    return Hamiltonian(W, a, b, units=units)


def crossing(n=60, m2=2, s=0.8, t=2.0):
    """Two planted modes whose order crosses along the annealing path (forward AIS misses one).

    Mode A: the first half of the visible units on, the rest free (entropy (n/2) ln 2), coupled to
    ``m2`` hidden units with strength ``s``; mode B: the second half on and the first off, coupled to
    ``m2`` other hidden units with the larger strength ``t``. At small annealing β_k mode A holds more
    weight and the chains settle there; at β = 1 mode B dominates (about 10 nats more at the defaults)
    and no Gibbs chain crosses the barrier. Exact ln Z by enumerating the 2·m2 hidden units.
    """
    h = n // 2
    W = np.zeros((n, 2 * m2))
    W[:h, :m2] = s
    W[h:, m2:] = t
    W[:h, m2:] = -t
    b = np.concatenate([np.full(m2, -s * h / 2), np.full(m2, -t * h / 2)])
    return Hamiltonian(W, np.zeros(n), b)


def hidden_enumeration(ham):
    """Exact ln Z and a sampler of exact visible samples, by enumerating the (few) hidden units (binary)."""
    from scipy.special import expit, logsumexp

    m = ham.n_hidden
    H = ((np.arange(2**m)[:, None] >> np.arange(m)) & 1).astype(float)
    z = ham.beta * (ham.a + H @ ham.W.T)
    logp = ham.beta * (H @ ham.b) + np.logaddexp(0, z).sum(axis=1)
    log_z = float(logsumexp(logp))

    def sample(k, seed):
        rng = np.random.default_rng(seed)
        idx = rng.choice(H.shape[0], size=k, p=np.exp(logp - log_z))
        return (rng.random((k, ham.n_visible)) < expit(z[idx])).astype(float)

    return log_z, sample
