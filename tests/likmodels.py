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
