"""Shared test helpers: exact enumeration of every state and tiny-model factories.

Plain functions (import them with ``from conftest import ...``; pytest puts this directory on
``sys.path``) and matching fixtures. Every reference here is written from the definitions,
``E(v, h) = −a·v − b·h − v·W·h`` and ``p ∝ exp(−βE)``, with no pyrbm code, so tests can
compare pyrbm with them.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.special import logsumexp

from pyrbm import Hamiltonian


# ----------------------------------------------------------------------------- enumeration
def all_states(n: int, units: str = "binary") -> np.ndarray:
    """Every configuration of ``n`` units, shape (2^n, n), in binary counting order (MSB first).

    Binary units take 0/1, spin units −1/+1.
    """
    s = np.array(list(itertools.product([0.0, 1.0], repeat=n))).reshape(2**n, n)
    return 2.0 * s - 1.0 if units == "spin" else s


def joint_energies(W, a, b, units: str = "binary") -> np.ndarray:
    """``E(v, h)`` of every joint state, shape (2^N, 2^M) (row v, column h, orders of all_states)."""
    W, a, b = np.asarray(W, float), np.asarray(a, float), np.asarray(b, float)
    V, H = all_states(a.size, units), all_states(b.size, units)
    return -(V @ a)[:, None] - (H @ b)[None, :] - V @ W @ H.T


def brute_log_z(W, a, b, beta: float = 1.0, units: str = "binary") -> float:
    """``ln Z`` as the logsumexp of −βE over every joint state (v, h)."""
    return float(logsumexp(-beta * joint_energies(W, a, b, units)))


def exact_joint(W, a, b, beta: float = 1.0, units: str = "binary") -> np.ndarray:
    """Exact Boltzmann probabilities p(v, h), shape (2^N, 2^M), summing to 1."""
    logw = -beta * joint_energies(W, a, b, units)
    return np.exp(logw - logsumexp(logw))


def brute_log_p_visible(W, a, b, data, beta: float = 1.0, units: str = "binary") -> np.ndarray:
    """``ln p(v)`` of every row of ``data`` (hidden layer summed over all 2^M states)."""
    H = all_states(len(b), units)
    data = np.asarray(data, float)
    E = -(data @ np.asarray(a))[:, None] - (H @ np.asarray(b))[None, :] - data @ np.asarray(W) @ H.T
    return logsumexp(-beta * E, axis=1) - brute_log_z(W, a, b, beta, units)


# ----------------------------------------------------------------------------- tiny models
def random_configs(rng, shape, units: str = "binary") -> np.ndarray:
    """Uniformly random configurations of the given shape (0/1 or ±1)."""
    c = rng.integers(0, 2, size=shape).astype(float)
    return 2.0 * c - 1.0 if units == "spin" else c


def tiny_model(n: int, m: int, *, sigma_w: float = 1.0, bias: float = 1.0, seed: int = 0,
               units: str = "binary", beta: float = 1.0) -> Hamiltonian:
    """``W ~ N(0, σ_w²)``, ``a, b ~ N(0, bias²)`` drawn in that order from ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    return Hamiltonian(sigma_w * rng.standard_normal((n, m)), bias * rng.standard_normal(n),
                       bias * rng.standard_normal(m), beta=beta, units=units)


def mode_model(sigmas, n: int | None = None, m: int | None = None, *, seed: int = 0, units: str = "binary",
               beta: float = 1.0, a=None, b=None) -> Hamiltonian:
    """Prescribed singular values with Haar-random singular vectors (N = M = len(sigmas) by default)."""
    sigmas = np.asarray(sigmas, float)
    n = n or sigmas.size
    m = m or sigmas.size
    return Hamiltonian.from_modes(sigmas, n, m, seed=seed, beta=beta, units=units, a=a, b=b)


@pytest.fixture(params=["binary", "spin"])
def units(request):
    """Both unit conventions."""
    return request.param


@pytest.fixture
def enumerate_states():
    """The :func:`all_states` helper as a fixture."""
    return all_states


@pytest.fixture
def ham():
    """A small 6x4 model at beta = 0.8 (the file-layer tests' default; modules may define their own)."""
    rng = np.random.default_rng(11)
    return Hamiltonian(rng.normal(0, 0.7, (6, 4)), rng.normal(0, 0.3, 6), rng.normal(0, 0.3, 4), beta=0.8)
