"""Continuous-coordinate conditionals, probing and the Gaussian surrogate against closed forms."""

import numpy as np
import pytest
from scipy.special import expit

import pyrbm
from pyrbm.probing import decode_visible, gaussian_surrogate, probe_modes


@pytest.fixture(scope="module")
def ham():
    rng = np.random.default_rng(0)
    return pyrbm.Hamiltonian(rng.normal(0, 0.7, (9, 6)), rng.normal(0, 0.5, 9), rng.normal(0, 0.5, 6), beta=1.3)


@pytest.mark.parametrize("units", ["binary", "spin"])
def test_decode_of_hidden_coordinates_is_p_v_given_h(ham, units):
    """y = Vᵀh decodes to σ(β(a + W h)) written with W directly (not through the SVD)."""
    ham = ham.replace(units=units)
    rng = np.random.default_rng(1)
    h = (rng.random((50, 6)) < 0.5).astype(float)
    if units == "spin":
        h = 2 * h - 1
    y = h @ ham.modes.V
    gain = 2.0 if units == "spin" else 1.0
    expect = expit(gain * ham.beta * (ham.a + h @ ham.W.T))
    np.testing.assert_allclose(decode_visible(ham, y, sample=False), expect, atol=1e-12)
    np.testing.assert_allclose(decode_visible(ham, y[:, :6], sample=False), expect, atol=1e-12)


def test_decoded_samples_follow_their_probabilities(ham):
    y = np.tile(np.linspace(-1, 1, 6), (40_000, 1))
    v = decode_visible(ham, y, seed=2)
    p = expit(ham.beta * (ham.a + ham.W @ (ham.modes.V @ y[0])))
    assert set(np.unique(v)) <= {0.0, 1.0}
    assert np.all(np.abs(v.mean(axis=0) - p) < 5 * np.sqrt(p * (1 - p) / 40_000) + 1e-9)


def test_probe_flip_of_all_modes_mirrors_the_field(ham):
    """Flipping every paired column of U maps UΣy to its negative: p' = σ(β(a − W h))."""
    h = (np.random.default_rng(3).random((30, 6)) < 0.5).astype(float)
    out = probe_modes(ham, h, modes=6, operation="flip", seed=4)
    np.testing.assert_allclose(out["p"].values, expit(ham.beta * (ham.a - h @ ham.W.T)), atol=1e-12)
    np.testing.assert_allclose(out["p_reference"].values, ham.p_v_given_h(h), atol=1e-12)
    np.testing.assert_array_equal(out["hamming"].values, np.sum(out["v"].values != out["v_reference"].values, 1))
    # a rotation of a span keeps the norm of the projected field
    rot = probe_modes(ham, h, modes=[2, 3, 4], operation="rotate", seed=5)
    f = np.log(rot["p"].values / (1 - rot["p"].values)) / ham.beta - ham.a
    f0 = np.log(rot["p_reference"].values / (1 - rot["p_reference"].values)) / ham.beta - ham.a
    np.testing.assert_allclose(np.linalg.norm(f, axis=1), np.linalg.norm(f0, axis=1), rtol=1e-8)


def test_gaussian_surrogate_matches_the_moments_it_was_fitted_to(ham):
    rng = np.random.default_rng(6)
    n = 4000
    v = (rng.random((n, 9)) < 0.3).astype(float)
    h = (rng.random((n, 6)) < 0.6).astype(float)
    z = np.concatenate([v @ ham.modes.U, h @ ham.modes.V], axis=1)
    out = gaussian_surrogate(ham, v, h, n_samples=100_000, seed=7)
    draw = np.concatenate([out["x"].values, out["y"].values], axis=1)
    sd = z.std(axis=0)
    assert np.all(np.abs(draw.mean(axis=0) - z.mean(axis=0)) < 5 * sd / np.sqrt(100_000))
    np.testing.assert_allclose(np.cov(draw, rowvar=False), np.cov(z, rowvar=False), atol=0.01)
    assert set(np.unique(out["v"].values)) <= {0.0, 1.0}
    # decoded visibles: the mean decoding probability of the drawn y
    p = expit(ham.beta * (ham.a + (out["y"].values[:, :6] * ham.modes.s) @ ham.modes.U[:, :6].T))
    assert np.all(np.abs(out["v"].values.mean(0) - p.mean(0)) < 5 * 0.5 / np.sqrt(100_000))


def test_bad_input_is_refused_before_work(ham):
    h = np.ones((4, 6))
    with pytest.raises(ValueError, match="y: expected hidden reciprocal coordinates"):
        decode_visible(ham, np.ones((3, 5)), seed=0)
    with pytest.raises(ValueError, match="y: expected finite values"):
        decode_visible(ham, np.full((3, 6), np.nan), seed=0)
    with pytest.raises(ValueError, match="seed"):
        decode_visible(ham, np.ones((3, 6)))
    with pytest.raises(ValueError, match="modes"):
        probe_modes(ham, h, modes=[7], seed=0)
    with pytest.raises(ValueError, match="at least 2 modes"):
        probe_modes(ham, h, modes=[2], operation="rotate", seed=0)
    with pytest.raises(ValueError, match="operation"):
        probe_modes(ham, h, modes=[1], operation="mirror", seed=0)
    v = np.ones((4, 9))
    v[0, 0] = np.nan
    with pytest.raises(ValueError, match="v: expected finite values"):
        gaussian_surrogate(ham, v, h, n_samples=3, seed=0)
