"""RAISE against exact enumeration: the annealing model's marginal, and exact log-likelihoods."""

import numpy as np
import pytest
from scipy.special import expit, logsumexp

import pyrbm
from pyrbm import Hamiltonian, annealing_schedule, raise_log_likelihood

from conftest import all_states, brute_log_p_visible
from likmodels import trained_small


def _annealing_marginal(ham, betas, base):
    """p_ann(v) of the forward annealing chain: v_0 ~ p_A ∝ e^{a_A·v}, then one block-Gibbs sweep at each of
    β_1 … β_{K−1} (hidden given visible, visible given hidden), by products of exact transition matrices."""
    V = all_states(ham.n_visible)
    H = all_states(ham.n_hidden)
    p = np.exp(V @ base - logsumexp(V @ base))
    for bk in betas[1:-1]:
        s = bk * ham.beta
        ph = expit(s * (ham.b + V @ ham.W))  # (2^N, M)
        P_h = np.prod(np.where(H[None] == 1, ph[:, None], 1 - ph[:, None]), axis=-1)  # (2^N, 2^M)
        pv = expit(s * (ham.a + H @ ham.W.T) + (1 - bk) * base)  # (2^M, N)
        P_v = np.prod(np.where(V[None] == 1, pv[:, None], 1 - pv[:, None]), axis=-1)  # (2^M, 2^N)
        p = p @ P_h @ P_v
    return V, p


def test_raise_is_unbiased_for_the_annealing_model():
    """mean_c p̂_c(v) → p_ann(v) (exact transition matrices), which differs from p(v) on a short path."""
    rng = np.random.default_rng(0)
    ham = Hamiltonian(1.5 * rng.standard_normal((5, 3)), 0.5 * rng.standard_normal(5), 0.5 * rng.standard_normal(3))
    betas = annealing_schedule("linear", n_betas=4)
    V, p_ann = _annealing_marginal(ham, betas, ham.beta * ham.a)
    p_exact = np.exp(brute_log_p_visible(ham.W, ham.a, ham.b, V))
    assert abs(p_ann.sum() - 1) < 1e-12 and np.max(np.abs(np.log(p_ann / p_exact))) > 0.1
    pick = np.argsort(p_exact)[[-1, -5, 10, 3]]
    ds = raise_log_likelihood(ham, V[pick], n_betas=None, schedule=betas, n_chains=40_000, seed=1, dtype=np.float64)
    ln_f = -ham.beta * ham.free_energy(V[pick])
    p_hat = np.exp(ln_f[:, None] - ds.attrs["log_z_base"] + ds.log_weights.values)  # per chain
    mean, se = p_hat.mean(axis=1), p_hat.std(axis=1) / np.sqrt(p_hat.shape[1])
    assert np.all(np.abs(mean - p_ann[pick]) < 4 * se), (mean, se, p_ann[pick])
    np.testing.assert_allclose(ds.log_likelihood.values, np.log(mean), rtol=1e-10)


def test_raise_below_and_near_exact_on_trained_model():
    ham, data = trained_small()
    test = data[::10]
    exact = brute_log_p_visible(ham.W, ham.a, ham.b, test, beta=ham.beta)
    short = raise_log_likelihood(ham, test, n_betas=5, schedule="linear", n_chains=5, seed=2, train=data)
    long = raise_log_likelihood(ham, test, n_betas=1000, schedule="linear", n_chains=20, seed=2, train=data)
    for ds in (short, long):
        assert ds.sizes == {"example": 100, "chain": ds.attrs["n_chains"]} and ds.attrs["method"] == "raise"
        assert float(ds.ll_mean) <= exact.mean() + 2 * float(ds.std_mc), (float(ds.ll_mean), exact.mean())
    assert abs(float(long.ll_mean) - exact.mean()) < 0.1 and float(long.std_mc) < 0.05
    assert float(short.ll_mean) < float(long.ll_mean)  # a shorter path is more conservative here
    np.testing.assert_allclose(long.log_likelihood.values, exact, atol=0.3)


def test_raise_bad_input():
    ham, data = trained_small()
    with pytest.raises(ValueError, match=r"data: expected configurations of shape \(\.\.\., 16\)"):
        raise_log_likelihood(ham, data[:, :15], n_betas=10)
    with pytest.raises(ValueError, match="data: binary units take the values 0 and 1"):
        raise_log_likelihood(ham, data * 0.5, n_betas=10)
    with pytest.raises(ValueError, match="data: expected a non-empty 2-d array"):
        raise_log_likelihood(ham, data[:0], n_betas=10)
    with pytest.raises(ValueError, match="n_betas: expected an integer ≥ 2"):
        raise_log_likelihood(ham, data[:3], n_betas=1, schedule="linear")
    with pytest.raises(ValueError, match="n_chains"):
        raise_log_likelihood(ham, data[:3], n_betas=10, n_chains=0)
    with pytest.raises(ValueError, match="W: expected finite values"):
        Hamiltonian(np.full((3, 2), np.nan), np.zeros(3), np.zeros(2))
