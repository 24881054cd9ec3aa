"""Rotation divergence, hierarchy, order parameters and the Gaussian limit against independent references."""

import numpy as np
import pytest
import xarray as xr
from scipy.spatial.distance import jensenshannon
from scipy.special import expit
from scipy.stats import entropy

import pyrbm
from mnist_available import needs_mnist, require_mnist
from pyrbm.symmetry import (givens_rotation, hierarchy, histogram_divergences, kurtosis, kurtosis_scaling,
                            order_parameters, rotation_divergence)

FLOOR = 5.7e-4  # JS of a random 784x500 Gaussian W, 1000 bins (docs/physics.md §11)


# ----------------------------------------------------------------------------- rotation test
def test_divergences_match_scipy():
    rng = np.random.default_rng(0)
    p, q = rng.random(50), rng.random(50)
    p, q = p / p.sum(), q / q.sum()
    kl, js = histogram_divergences(p, q)
    assert abs(kl - entropy(p, q)) < 1e-7
    assert abs(js - jensenshannon(p, q) ** 2) < 1e-7


def test_givens_product_is_orthogonal_and_local():
    R = givens_rotation(200, 20, np.random.default_rng(1))
    np.testing.assert_allclose(R @ R.T, np.eye(200), atol=1e-12)
    touched = np.flatnonzero(np.any(R != np.eye(200), axis=1))
    assert 2 <= touched.size <= 40


@pytest.fixture(scope="module")
def mnist_pcs():
    require_mnist()
    X = pyrbm.datasets.mnist("train")[:3000].astype(np.float64)
    X -= X.mean(0)
    ev, vecs = np.linalg.eigh(X.T @ X)
    return np.sqrt(np.clip(ev[::-1], 0, None)), vecs[:, ::-1].T


def test_rotation_divergence_noise_floor_and_structure(mnist_pcs):
    """Random init at the floor; low-rank MNIST structure several times above; one spike barely moves it."""
    rng = np.random.default_rng(2)
    noise = 0.01 * rng.standard_normal((784, 500))
    floor = [float(rotation_divergence(0.01 * np.random.default_rng(10 + s).standard_normal((784, 500)),
                                       seed=s).js) for s in range(1)]
    assert all(4.5e-4 < f < 7.5e-4 for f in floor), floor
    sv, pcs = mnist_pcs
    Q = np.linalg.qr(rng.standard_normal((500, 20)))[0]
    W = (pcs[:20].T * (10 * sv[:20] / sv[0])) @ Q.T + noise
    res = rotation_divergence(W, seed=3)
    assert float(res.js) > 5 * np.mean(floor), float(res.js)
    assert 0 < float(res.js) < np.log(2) and float(res.kl) > 0
    assert res["js"].attrs["units"] == "1" and "(nats)" in res["js"].attrs["long_name"] and res.js.dtype == np.float64
    spike = noise + 3.0 * np.outer(pcs[0], Q[:, 0])
    assert float(rotation_divergence(spike, seed=3).js) < 2 * np.mean(floor)
    small = W[:100, :80]
    assert float(rotation_divergence(small, seed=3).js) == float(rotation_divergence(small, seed=3).js)


def test_rotation_divergence_refuses_bad_input():
    W = np.ones((5, 4))
    W[1, 1] = np.inf
    with pytest.raises(ValueError, match="W: expected finite"):
        rotation_divergence(W, seed=0)
    with pytest.raises(ValueError, match="seed"):
        rotation_divergence(np.ones((5, 4)), seed=None)
    with pytest.raises(ValueError, match="n_bins"):
        rotation_divergence(np.ones((5, 4)), seed=0, n_bins=1)


@pytest.mark.slow
@needs_mnist
def test_rotation_divergence_of_a_trained_model():
    """784x500, PCD-5, Adam 3e-3, 3 epochs on 10,000 images (measured JS ≈ see report, floor 5.7e-4)."""
    X = pyrbm.datasets.mnist("train")[:10000]
    ham, _ = pyrbm.Trainer(method="pcd", k=5, optimizer="adam", lr=3e-3, batch_size=100, n_epochs=3, seed=0,
                           progress=False).fit(X, n_hidden=500)
    js = [float(rotation_divergence(ham, seed=s).js) for s in range(3)]
    assert 3 * FLOOR < np.mean(js) < 20 * FLOOR, js


# ----------------------------------------------------------------------------- Gaussian limit
def test_mean_kurtosis_of_haar_modes_follows_closed_form():
    sizes = [50, 100, 200, 400, 800]
    res = kurtosis_scaling(sizes, n_hidden=50, seed=0)
    np.testing.assert_allclose(res["mean_kurtosis"], 3 - 6 / (np.array(sizes) + 2.0), atol=0.01)
    assert abs(float(res.fit_intercept) - 3.0) < 0.01
    assert abs(float(res.fit_slope) + 6.0) < 0.6


def test_kurtosis_exact_and_from_samples():
    # a mode on a single pixel is a Bernoulli(1/2) variable: kurtosis exactly 1;
    # a mode spread evenly over 4 pixels: 3 - 2·4·(1/2)⁴ = 5/2
    W = np.zeros((6, 3))
    W[2, 0], W[4, 1] = 3.0, 2.0
    W[[0, 1, 3, 5], 2] = 0.25
    ham = pyrbm.Hamiltonian(W, np.zeros(6), np.zeros(3))
    k = kurtosis(ham)
    assert k.dims == ("mode",) and k["mode"].values[0] == 1
    np.testing.assert_allclose(k.values[:3], [1.0, 1.0, 2.5], atol=1e-12)
    ham = pyrbm.Hamiltonian.random(40, 30, seed=1)
    v = (np.random.default_rng(2).random((50_000, 40)) < 0.5).astype(float)
    est = kurtosis(ham, samples=v)
    exact = 3 - 2 * np.sum(np.linalg.svd(ham.W)[0] ** 4, axis=0)
    assert np.all(np.abs(est.values - exact) < 5 * np.sqrt(24 / 50_000) + 0.01)
    assert abs(est.values.mean() - exact.mean()) < 0.01
    with pytest.raises(ValueError, match="samples"):
        kurtosis(ham, samples=np.full((10, 40), 0.5))


# ----------------------------------------------------------------------------- histories
def synthetic_history(s, epochs, **attrs):
    s = np.asarray(s, dtype=float)
    return xr.Dataset({"singular_value": (("epoch", "mode"), s)},
                      coords={"epoch": epochs, "mode": np.arange(1, s.shape[1] + 1)},
                      attrs={"mp_edge": 0.5, "threshold_4T": 4.0, **attrs})


def test_hierarchy_of_prescribed_trajectories():
    epochs = np.arange(6.0)
    s = np.array([[0.4, 0.3, 0.2], [0.6, 0.3, 0.2], [2.0, 0.55, 0.2], [4.5, 1.0, 0.2], [9, 3.0, 0.45],
                  [12, 5.0, 0.45]])
    out = hierarchy(synthetic_history(s, epochs), margin=0.0)
    np.testing.assert_array_equal(out.epoch_leaves_bulk.values, [1.0, 2.0, np.nan])
    np.testing.assert_array_equal(out.epoch_above_4T.values, [3.0, 5.0, np.nan])
    np.testing.assert_array_equal(out.order_leaves_bulk.values, [1, 2, 0])
    np.testing.assert_array_equal(out["mode"].values, [1, 2, 3])
    assert out.epoch_leaves_bulk.attrs["units"] == "epoch"


def test_history_without_singular_values_is_refused():
    h = synthetic_history(np.ones((2, 2)), [0.0, 1.0]).rename({"singular_value": "s"})
    with pytest.raises(ValueError, match=r"history: missing variable\(s\) \['singular_value'\]"):
        hierarchy(h)
    with pytest.raises(ValueError, match="record_params=True"):
        order_parameters(h, data=np.zeros((3, 4)), seed=0)
    with pytest.raises(TypeError, match="history"):
        hierarchy(np.ones((2, 2)))


@pytest.fixture(scope="module")
def trained():
    require_mnist()
    X, y = pyrbm.datasets.mnist("train", return_labels=True)
    X, y = X[:3000], y[:3000]
    ham, hist = pyrbm.Trainer(method="pcd", k=1, optimizer="adam", lr=3e-3, batch_size=50, n_epochs=1, seed=0,
                              record_every=6, record_params=True, progress=False).fit(X, n_hidden=40)
    return ham, hist, X, y


def test_hierarchy_of_an_mnist_model_lists_top_modes_in_order(trained):
    _, hist, _, _ = trained
    out = hierarchy(hist)
    leave = out.epoch_leaves_bulk.values            # listed by rank at the last record
    assert out.final_rank.values.tolist() == list(range(1, out.sizes["mode"] + 1))
    assert np.all(np.isfinite(leave[:3])), leave
    assert leave[0] == np.nanmin(leave)
    assert np.all(np.diff(leave[:3]) >= 0), leave[:3]
    assert out.order_leaves_bulk.values[0] == 1


def test_order_parameters_against_direct_projection(trained):
    _, hist, X, y = trained
    hist = hist.isel(epoch=[0, 3, 6, 10])
    data, labels = X[:400], y[:400]
    op = order_parameters(hist, data=data, labels=labels, modes=2, n_chains=100, n_steps=20, seed=1)
    assert list(op.source.values[:2]) == ["data", "digit 0"] and op.source.values[-1] == "gibbs"
    assert op.u_mean.dtype == np.float64 and op.u_mean.attrs["units"] == "1"
    prev = None
    for t in range(hist.sizes["epoch"]):
        W = hist.W.isel(epoch=t).values
        a, b = hist.a.isel(epoch=t).values, hist.b.isel(epoch=t).values
        U, s, Vt = np.linalg.svd(W)
        K = s.size
        c = np.sign(U[np.argmax(np.abs(U[:, :K]), axis=0), np.arange(K)])   # largest |entry| positive
        U, V = U[:, :K] * c, Vt[:K].T * c
        # the history's tracked identity: label k is the pair rank(t, k) with sign mode_sign(t, k)
        cols = hist["rank"].isel(epoch=t).values[:2] - 1
        sign = hist["mode_sign"].isel(epoch=t).values[:2]
        u1, v1, s = U[:, cols] * sign, V[:, cols] * sign, s[cols]
        if prev is not None:
            assert np.all(np.sum(u1 * prev, axis=0) > 0)       # signs continuous across records
        prev = u1
        x_star, y_star = -(b @ v1) / s, -(a @ u1) / s
        mu_u = ((0.5 * u1.sum(0) - x_star) + (0.5 * v1.sum(0) - y_star)) / np.sqrt(2)
        np.testing.assert_allclose(op.u_uniform.isel(epoch=t), mu_u, rtol=1e-8, atol=1e-8)
        # data: E[u] over h ~ p(h|v) = projection of p(h|v)
        ph = expit(b + data @ W)
        u = ((data @ u1 - x_star) + (ph @ v1 - y_star)) / np.sqrt(2)
        tol = 5 * 0.5 / np.sqrt(len(data)) + 1e-9
        np.testing.assert_allclose(op.u_mean.isel(epoch=t).sel(source="data"), u.mean(0), atol=tol)
        digit = labels == 3
        np.testing.assert_allclose(op.u_mean.isel(epoch=t).sel(source="digit 3"), u[digit].mean(0),
                                   atol=5 * 0.5 / np.sqrt(digit.sum()))
    np.testing.assert_allclose(op.u_saddle, 0.0, atol=1e-12)     # saddle frame
    dens = op.u_hist.isel(epoch=-1).sel(source="gibbs", mode=1)
    width = np.diff(op.u_centre.sel(mode=1).values)[0]
    assert abs(float(dens.sum()) * width - 1) < 1e-9


def test_order_parameters_refuse_bad_data(trained):
    _, hist, X, _ = trained
    with pytest.raises(ValueError, match="data: expected configurations of shape"):
        order_parameters(hist, data=X[:10, :100], seed=0)
    with pytest.raises(ValueError, match="labels"):
        order_parameters(hist, data=X[:10], labels=np.zeros(3), seed=0)


def test_flipping_mode_one_changes_samples_more_than_rotating_10_to_20(trained):
    ham, _, _, _ = trained
    _, state = pyrbm.GibbsSampler(300, seed=2).run(ham, n_steps=100, observables=[], progress=False)
    flip = pyrbm.probe_modes(ham, state.h, modes=[1], operation="flip", seed=3)
    rot = pyrbm.probe_modes(ham, state.h, modes=list(range(10, 21)), operation="rotate", seed=3)
    assert float(flip.hamming.mean()) > 5 * float(rot.hamming.mean()), (float(flip.hamming.mean()),
                                                                         float(rot.hamming.mean()))


# ----------------------------------------------------------------------------- one model, replicas
from scipy.stats import linregress  # noqa: E402

from pyrbm.symmetry import align_replicas, fit_kurtosis_scaling, model_order_parameters  # noqa: E402


@pytest.fixture(scope="module")
def small():
    ham = pyrbm.Hamiltonian.random(12, 8, sigma_w=0.6, seed=4)
    ham = ham.replace(a=np.random.default_rng(1).normal(0, 0.5, 12), b=np.random.default_rng(2).normal(0, 0.5, 8))
    data = (np.random.default_rng(3).random((3000, 12)) < 0.3).astype(float)
    return ham, data


def test_model_order_parameters_against_direct_projection(small):
    ham, data = small
    op = model_order_parameters(ham, data=data, modes=3, n_chains=50, n_steps=5, seed=0)
    W, a, b = ham.W, ham.a, ham.b
    U, s, Vt = np.linalg.svd(W)
    c = np.sign(U[np.argmax(np.abs(U[:, :8]), axis=0), np.arange(8)])
    U, V = U[:, :3] * c[:3], Vt[:3].T * c[:3]
    x_star, y_star = -(b @ V) / s[:3], -(a @ U) / s[:3]
    ph = expit(b + data @ W)
    u = ((data @ U - x_star) + (ph @ V - y_star)) / np.sqrt(2)
    # E over h ~ p(h|v) is the projection of p(h|v); sampling h adds at most 0.5/sqrt(n) per unit
    np.testing.assert_allclose(op.u_mean.sel(source="data"), u.mean(0), atol=5 * 0.5 / np.sqrt(len(data)))
    mu_u = ((0.5 * U.sum(0) - x_star) + (0.5 * V.sum(0) - y_star)) / np.sqrt(2)
    np.testing.assert_allclose(op.u_uniform, mu_u, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(op.u_saddle, 0.0, atol=1e-12)
    np.testing.assert_allclose(np.abs(op.U.values), np.abs(U), atol=1e-12)
    # a reference with flipped, permuted columns: modes matched and signs follow it
    flipped = model_order_parameters(ham, data=data, modes=3, reference=(-U[:, [2, 0, 1]], -V[:, [2, 0, 1]]),
                                     n_chains=50, n_steps=5, seed=0)
    assert flipped.svd_index.values.tolist() == [3, 1, 2]
    np.testing.assert_array_equal(flipped.sign.values, [-1, -1, -1])
    np.testing.assert_allclose(flipped.overlap.values, 1.0, atol=1e-12)
    np.testing.assert_allclose(flipped.u_uniform.values, -op.u_uniform.values[[2, 0, 1]], atol=1e-12)
    rank_order = model_order_parameters(ham, data=data, modes=3, reference=(-U[:, [2, 0, 1]], -V[:, [2, 0, 1]]),
                                        match=False, n_chains=50, n_steps=5, seed=0)
    assert rank_order.svd_index.values.tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="reference: expected"):
        model_order_parameters(ham, data=data, modes=3, reference=(U[:, :2], V[:, :2]), seed=0)


def test_align_replicas_undoes_permutations_and_sign_flips(small):
    ham, data = small
    op = model_order_parameters(ham, data=data, modes=3, n_chains=50, n_steps=5, seed=0)
    perm, sign = [1, 2, 0], np.array([-1.0, 1.0, -1.0])

    def scrambled(ds):
        out = ds.isel(mode=perm).assign_coords(mode=ds["mode"].values)
        for name in ("u_mean", "w_mean", "u_saddle", "w_saddle", "u_uniform", "w_uniform", "U", "V", "sign"):
            out[name] = out[name] * xr.DataArray(sign, dims="mode")
        return out

    epochs = [op, op]
    reps = [xr.concat(epochs, dim="epoch"), xr.concat([scrambled(o) for o in epochs], dim="epoch")]
    ds = xr.concat(reps, dim="replica")
    assert not np.allclose(ds.u_mean.isel(replica=0), ds.u_mean.isel(replica=1))
    al = align_replicas(ds)
    for name in ("u_mean", "u_std", "w_mean", "u_uniform", "singular_value", "U", "V"):
        np.testing.assert_allclose(al[name].isel(replica=1), al[name].isel(replica=0), atol=1e-12, err_msg=name)
    np.testing.assert_allclose(al.replica_overlap, 1.0, atol=1e-12)


def test_fit_kurtosis_scaling_against_linregress():
    n = np.array([100, 200, 400, 800])
    exact = fit_kurtosis_scaling(n, 3 - 6 / n)
    assert float(exact.fit_intercept) == pytest.approx(3.0, abs=1e-12)
    assert float(exact.fit_slope) == pytest.approx(-6.0, abs=1e-9)
    y = 3 - 6 / n + np.random.default_rng(0).normal(0, 1e-3, 4)
    ref = linregress(1 / n, y)
    fit = fit_kurtosis_scaling(n, np.stack([y, y], axis=1))
    np.testing.assert_allclose(fit.fit_slope, ref.slope, rtol=1e-9)
    np.testing.assert_allclose(fit.fit_intercept, ref.intercept, rtol=1e-9)
    np.testing.assert_allclose(fit.fit_slope_std, ref.stderr, rtol=1e-6)
    np.testing.assert_allclose(fit.fit_intercept_std, ref.intercept_stderr, rtol=1e-6)
    with pytest.raises(ValueError, match="kurtosis_values"):
        fit_kurtosis_scaling(n, [1.0, 2.0])


def test_hierarchy_reports_the_mean_field_crossing_later_than_4T_with_fields():
    """Records of rank-one models W = σ 1 1ᵀ/n with activations 0.1 at zero coupling: σ passes 4
    before the mean-field state breaks (at σ ≈ 4.5, where exact enumeration puts the jump)."""
    from scipy.special import logit

    n, sig = 20, np.array([1.0, 3.0, 4.2, 4.4, 4.8, 6.0])
    one = np.ones(n) / np.sqrt(n)
    W = np.stack([s * np.outer(one, one) for s in sig])
    sv = np.zeros((sig.size, n))
    sv[:, 0] = sig
    h = xr.Dataset({"singular_value": (("epoch", "mode"), sv), "W": (("epoch", "visible", "hidden"), W),
                    "a": (("epoch", "visible"), np.full((sig.size, n), logit(0.1))),
                    "b": (("epoch", "hidden"), np.full((sig.size, n), logit(0.1)))},
                   coords={"epoch": np.arange(sig.size), "mode": np.arange(1, n + 1)}, attrs={"mp_edge": 0.1})
    out = hierarchy(h, margin=0.0)
    top = out.isel(mode=0)
    assert float(top.epoch_above_4T) == 2 and float(top.epoch_above_mean_field) == 4
    assert np.isnan(out.epoch_above_mean_field.values[1:]).all()
    assert np.isnan(hierarchy(h, margin=0.0, mean_field=False).epoch_above_mean_field).all()
