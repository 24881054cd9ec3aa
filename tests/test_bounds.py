"""The variational lower bound on ln Z against exact enumeration of (v, h)."""

import itertools

import numpy as np
import pytest
from scipy.special import logsumexp

import pyrbm
from pyrbm import Hamiltonian, log_z_lower_bound
from pyrbm.bounds import _bound

from likmodels import planted, trained_small


def _configs(n, spin):
    c = np.array(list(itertools.product([0.0, 1.0], repeat=n)))
    return 2 * c - 1 if spin else c


def _brute_log_z(ham):
    """ln Σ_{v,h} e^{−βE(v,h)} by enumerating both layers (no free energy, no hidden sum)."""
    V, H = _configs(ham.n_visible, ham.spin), _configs(ham.n_hidden, ham.spin)
    E = -(V @ ham.a)[:, None] - (H @ ham.b)[None, :] - V @ ham.W @ H.T
    return float(logsumexp(-ham.beta * E))


@pytest.mark.parametrize("units", ["binary", "spin"])
def test_bound_below_exact_on_many_random_models(units):
    rng = np.random.default_rng(0)
    gaps = []
    for trial in range(40):
        n, m = rng.integers(2, 10), rng.integers(1, 7)
        sigma, bias, beta = rng.choice([0.1, 0.5, 1.5, 4.0]), rng.choice([0.0, 0.5, 2.0]), rng.choice([0.5, 1.0, 2.0])
        ham = Hamiltonian(sigma * rng.standard_normal((n, m)), bias * rng.standard_normal(n),
                          bias * rng.standard_normal(m), beta=beta, units=units)
        exact = _brute_log_z(ham)
        data = _configs(n, units == "spin")[rng.integers(0, 2**n, size=20)]
        res = log_z_lower_bound(ham, starts=data, seed=trial, n_samples=2000)
        assert res.valid and res.method == "lower_bound" and "lower bound" in res.reason
        assert res.log_z <= exact + 1e-9, (trial, res.log_z, exact)
        assert np.all(res.start_log_z <= exact + 1e-9)
        # the sampled bound is an estimate of H(q) + E_q ln f ≤ ln Z, within its standard error
        # (plus 1e-6 relative: with a nearly deterministic q, rare flips are missed by every sample)
        assert res.log_z_sampled <= exact + 4 * res.std_sampled + 1e-6 * abs(exact), (trial, res.log_z_sampled, exact)
        assert res.check_value <= exact + 1e-9, (trial, res.check_value, exact)
        gaps.append(exact - res.log_z)
    assert max(gaps) > 0.1  # the test models are not all trivially tight


@pytest.mark.parametrize("units", ["binary", "spin"])
def test_jensen_bound_and_exact_expectation_below_log_z_at_any_means(units):
    """B(m) ≤ H(q) + E_q ln f ≤ ln Z at arbitrary (non-fixed-point) means, E_q by enumeration of q."""
    rng = np.random.default_rng(1)
    spin = units == "spin"
    for _ in range(10):
        ham = Hamiltonian(2.0 * rng.standard_normal((7, 4)), rng.standard_normal(7), rng.standard_normal(4),
                          units=units)
        exact = _brute_log_z(ham)
        V = _configs(7, spin)
        m = rng.uniform(-0.95 if spin else 0.02, 0.95 if spin else 0.98, size=(5, 7))
        p = (1 + m) / 2 if spin else m
        up = V == 1.0
        logq = np.where(up[None], np.log(p)[:, None, :], np.log1p(-p)[:, None, :]).sum(axis=-1)  # (5, 2^7)
        q = np.exp(logq)
        ln_f = -ham.beta * ham.free_energy(V)
        elbo = -(q * logq).sum(axis=1) + q @ ln_f
        jensen = _bound(ham, m)
        assert np.all(jensen <= elbo + 1e-12) and np.all(elbo <= exact + 1e-12), (jensen, elbo, exact)


@pytest.mark.parametrize("units", ["binary", "spin"])
def test_uncoupled_model_bound_is_exact(units):
    """W = 0: p(v) is a product, so the best q is p and the bound equals ln Z."""
    rng = np.random.default_rng(2)
    ham = Hamiltonian(np.zeros((30, 10)), rng.standard_normal(30), rng.standard_normal(10), beta=1.3, units=units)
    g = (lambda z: np.log(2 * np.cosh(z))) if units == "spin" else (lambda z: np.logaddexp(0, z))
    closed = g(1.3 * ham.a).sum() + g(1.3 * ham.b).sum()
    res = log_z_lower_bound(ham, seed=0, n_samples=500)
    assert abs(res.log_z - closed) < 1e-9
    assert abs(res.log_z_sampled - closed) < 1e-9 and res.std_sampled < 1e-9  # ln f is linear in v here


def test_two_equal_modes_bound_is_ln2_below_exact():
    """Planted ±ξ spikes: two equal, well-separated modes. The uniform point is a saddle far below;
    a start in either mode gives one mode's weight, ln Z − ln 2 (a product q holds one mode)."""
    ham = planted(n=14, m=6, strength=10.0, seed=3)
    exact = _brute_log_z(ham)
    xi = np.sign(ham.W[:, 0])
    res = log_z_lower_bound(ham, starts=np.array([(xi > 0), (xi < 0)], dtype=float), seed=0, n_samples=1000)
    names = list(res.start_names)
    uniform = res.start_log_z[names.index("uniform")]
    modes = res.start_log_z[[names.index("starts[0][0]"), names.index("starts[0][1]")]]
    assert uniform < exact - 20 and np.all(modes > uniform + 20)
    assert res.log_z <= exact and abs(exact - res.log_z - np.log(2)) < 0.01, (exact, res.log_z)


def test_bound_below_exact_on_trained_model():
    ham, data = trained_small()
    exact = float(pyrbm.exact_log_z(ham))
    res = log_z_lower_bound(ham, starts=data, seed=0)
    assert res.log_z <= exact and res.log_z_sampled <= exact + 3 * res.std_sampled
    assert exact - res.log_z < 0.5 * abs(exact)


def test_bad_input_is_refused():
    ham = planted()
    with pytest.raises(ValueError, match=r"starts\[0\]: expected visible means"):
        log_z_lower_bound(ham, starts=np.full(5, 0.5))
    with pytest.raises(ValueError, match=r"starts\[0\]: binary units take the values 0 and 1"):
        log_z_lower_bound(ham, starts=np.full((3, 12), 0.5))
    with pytest.raises(ValueError, match="starts"):
        log_z_lower_bound(ham, starts=np.ones((2, 11)))
    with pytest.raises(ValueError, match="damping"):
        log_z_lower_bound(ham, damping=1.0)
    with pytest.raises(TypeError, match="ham"):
        log_z_lower_bound(np.zeros((3, 3)))
