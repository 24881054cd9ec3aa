"""Mode identity across training: a planted history with a sign flip and an order swap,
the matching rule against brute force, and a real MNIST run."""

import itertools

import numpy as np
import pytest

from pyrbm.datasets import mnist
from pyrbm.hamiltonian import Hamiltonian
from pyrbm.modetracking import ModeTracker, track_modes, tracked_vectors
from pyrbm.training import Trainer

from mnist_available import needs_mnist


def _planted(t):
    """Modes at time t in [0, 1]: u1 = (cos θ, −sin θ, 0...) with θ: 40° → 50° (its two largest
    entries, of opposite signs, swap magnitude at 45°: the single-model rule flips it); σ2 and
    σ3 cross at t = 1/2; u3, u4 rotate in their plane."""
    th = np.deg2rad(40 + 10 * t)
    ph = 0.1 + 0.2 * t
    U = np.zeros((6, 4))
    U[:2, 0] = np.cos(th), -np.sin(th)
    U[:2, 1] = np.sin(th), np.cos(th)
    U[2:4, 2] = np.cos(ph), np.sin(ph)
    U[2:4, 3] = -np.sin(ph), np.cos(ph)
    V = np.linalg.qr(np.random.default_rng(7).standard_normal((4, 4)))[0]
    s = np.array([3.0, 2.0 + (t - 0.5), 2.0 - (t - 0.5), 0.5])
    return U, V, s


A = np.array([2.0, -1.0, 3.0, 1.0, -0.3, 0.2])
B = np.random.default_rng(2).normal(size=4)


def _history(ts):
    tracker = ModeTracker()
    out = {k: [] for k in ("s", "a", "b", "rank", "sign", "overlap", "a_single")}
    for t in ts:
        U, V, s = _planted(t)
        md = Hamiltonian(U @ np.diag(s) @ V.T, A, B).modes
        m = tracker(md)
        out["s"].append(md.s[m.index])
        out["a"].append(m.sign * md.a_tilde[:4][m.index])
        out["b"].append(m.sign * md.b_tilde[:4][m.index])
        out["a_single"].append(md.a_tilde[:4].copy())
        out["rank"].append(m.rank)
        out["sign"].append(m.sign)
        out["overlap"].append(m.overlap)
    return {k: np.array(v) for k, v in out.items()}


def test_planted_swap_and_flip_are_tracked():
    ts = np.linspace(0, 1, 20)            # t = 1/2 (σ2 = σ3) is not a record
    h = _history(ts)
    # The single-model convention jumps: mode 1's a~ changes sign at 45°, ranks 2, 3 swap.
    jumps = np.abs(np.diff(h["a_single"], axis=0)).max(axis=0)
    assert jumps[0] > 1.0 and jumps[1] > 0.3
    # Tracked: each label follows its planted mode with one sign for the whole history.
    for label, col in enumerate((0, 2, 1, 3)):     # at t = 0, σ of column 2 > σ of column 1
        ref_a = np.array([_planted(t)[0][:, col] @ A for t in ts])
        ref_b = np.array([_planted(t)[1][:, col] @ B for t in ts])
        ref_s = np.array([_planted(t)[2][col] for t in ts])
        sgn = np.sign(h["a"][0, label] * ref_a[0])
        np.testing.assert_allclose(h["a"][:, label], sgn * ref_a, atol=1e-12)
        np.testing.assert_allclose(h["b"][:, label], sgn * ref_b, atol=1e-12)
        np.testing.assert_allclose(h["s"][:, label], ref_s, atol=1e-12)
    # Continuity: consecutive tracked values differ by far less than the single-model jumps.
    assert np.abs(np.diff(h["a"], axis=0)).max() < 0.25 * jumps.max()
    # The matching: labels 2 and 3 exchange ranks after the crossing, label 1 changes sign.
    late = ts > 0.5
    np.testing.assert_array_equal(h["rank"][~late], np.tile([1, 2, 3, 4], (np.sum(~late), 1)))
    np.testing.assert_array_equal(h["rank"][late], np.tile([1, 3, 2, 4], (np.sum(late), 1)))
    flipped = np.deg2rad(40 + 10 * ts) > np.pi / 4
    np.testing.assert_array_equal(h["sign"][:, 0], np.where(flipped, -1, 1))
    # Signed overlaps of consecutive records: positive, cos of the rotation step (≈ 1).
    assert np.isnan(h["overlap"][0]).all()
    assert np.all(h["overlap"][1:] > 0.99)
    # saddle energy a~ b~ / σ is the same in both conventions
    eps_tracked = h["a"] * h["b"] / h["s"]
    assert np.all(np.isfinite(eps_tracked))


def test_assignment_is_the_best_matching():
    """The matching maximises the summed |pair overlap| (brute force over permutations)."""
    rng = np.random.default_rng(3)
    N, M, K = 7, 5, 5
    for _ in range(20):
        Up = np.linalg.qr(rng.standard_normal((N, K)))[0]
        Vp = np.linalg.qr(rng.standard_normal((M, K)))[0]
        mix = np.linalg.qr(np.eye(K) + 0.6 * rng.standard_normal((K, K)))[0]
        U, V = Up @ mix, Vp @ mix
        m = track_modes(Up, Vp, U, V)
        O = 0.5 * (Up.T @ U + Vp.T @ V)
        best = max(itertools.permutations(range(K)), key=lambda p: sum(abs(O[i, p[i]]) for i in range(K)))
        assert sum(abs(O[i, m.index[i]]) for i in range(K)) == pytest.approx(
            sum(abs(O[i, best[i]]) for i in range(K)), rel=1e-12)
        np.testing.assert_array_equal(m.sign, np.where(O[np.arange(K), m.index] < 0, -1, 1))
        Ut, Vt = tracked_vectors(U, V, m.index, m.sign)
        np.testing.assert_allclose(m.overlap, np.sum(Up * Ut, axis=0), atol=1e-14)
        assert np.all(np.sum(Up * Ut, axis=0) + np.sum(Vp * Vt, axis=0) >= 0)


def test_track_modes_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="U_prev, V_prev"):
        track_modes(np.eye(3), np.eye(2), np.eye(3), np.eye(2))
    with pytest.raises(ValueError, match="U: expected 2 columns"):
        track_modes(np.eye(3)[:, :2], np.eye(2), np.eye(3), np.eye(2)[:, :1].repeat(3, 1))
    with pytest.raises(ValueError, match="U, V"):
        ModeTracker(U=np.eye(2))


@needs_mnist
def test_mnist_run_keeps_mode_signs_between_records():
    """Adam on MNIST, 50 records: the single-model signs of the top 8 modes flip between
    records; the tracked modes never have a negative overlap with their previous record."""
    try:
        data = mnist("train")[:6000]
    except FileNotFoundError as err:
        pytest.fail(f"MNIST is required: set PYRBM_DATA to the directory of the IDX files\n{err}")
    tr = Trainer(method="pcd", k=1, optimizer="adam", lr=3e-3, batch_size=100, n_epochs=10, seed=0,
                 record_every=12, record_params=True, monitor_size=200, progress=False)
    _, hist = tr.fit(data, n_hidden=32)
    assert hist.sizes["epoch"] == 51
    rank, sign = hist["rank"].values, hist["mode_sign"].values
    single_flips, tracked_neg = 0, 0
    prev = prev_t = None
    for t, W in enumerate(hist.W.values):      # plain-numpy SVD, single-model sign rule
        U, s, _ = np.linalg.svd(W, full_matrices=False)
        U = U * np.sign(U[np.argmax(np.abs(U), axis=0), np.arange(U.shape[1])])
        Ut = U[:, rank[t] - 1] * sign[t]        # tracked vectors, from the recorded matching
        if prev is not None:
            single_flips += int(np.sum(np.sum(U[:, :8] * prev[:, :8], axis=0) < -0.9))
            top = (rank[t] <= 8) & (rank[t - 1] <= 8)
            ov = np.sum(Ut * prev_t, axis=0)
            np.testing.assert_allclose(hist.mode_overlap.values[t], ov, atol=1e-6)
            tracked_neg += int(np.sum(ov[top] < 0))
        prev, prev_t = U, Ut
    print(f"single-model sign flips (overlap < -0.9) among the top 8 modes: {single_flips}; "
          f"tracked: {tracked_neg} negative overlaps")
    assert single_flips > 0 and tracked_neg == 0
    assert np.all(hist.mode_overlap.values[1:][rank[1:] <= 8] >= 0)


# ----------------------------------------------------------------------------- rank view, identity
import xarray as xr  # noqa: E402
from scipy.linalg import hadamard  # noqa: E402

import pyrbm  # noqa: E402  (registers ds.rbm)
from pyrbm.modetracking import split_identities  # noqa: E402


def _crossing_history():
    """18 x 18 models over 6 records: σ_A = 1 + t rises through σ_B = 5 − t/2 (they cross between
    t = 2 and 3), 16 bulk modes at σ ≤ 0.5, and at t = 3 a feature emerges from the bulk: the bulk
    basis turns by a Hadamard matrix (every overlap with an old bulk vector ±1/4) and its first
    vector takes σ = 10."""
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((18, 18)))[0]
    P = np.linalg.qr(rng.standard_normal((18, 18)))[0]
    H = hadamard(16) / 4.0
    bulk_s = np.linspace(0.5, 0.05, 16)
    tracker, rows = ModeTracker(), []
    for t in range(6):
        s = np.zeros(18)
        s[0], s[1] = 1.0 + t, 5.0 - 0.5 * t
        U, V = Q.copy(), P.copy()
        s[2:] = bulk_s
        if t >= 3:
            U[:, 2:], V[:, 2:] = Q[:, 2:] @ H, P[:, 2:] @ H
            s[2] = 10.0
        md = Hamiltonian(U @ np.diag(s) @ V.T, np.zeros(18), np.zeros(18)).modes
        m = tracker(md)
        rows.append((md.s[m.index], m.rank, m.overlap))
    sv, rank, ov = (np.stack(x) for x in zip(*rows))
    return xr.Dataset({"singular_value": (("epoch", "mode"), sv), "rank": (("epoch", "mode"), rank),
                       "mode_overlap": (("epoch", "mode"), ov)},
                      coords={"epoch": np.arange(6.0), "mode": np.arange(1, 19)})


def test_rank_view_identity_view_and_a_mode_from_the_bulk():
    h = _crossing_history()
    r = h.rbm.by_rank()
    sv = r.singular_value.transpose("epoch", "rank").values
    # rank view: σ_1 is the largest at every record, sorted down the ranks
    np.testing.assert_allclose(sv[:, 0], h.singular_value.max("mode").values)
    assert np.all(np.diff(sv, axis=1) <= 0)
    np.testing.assert_allclose(sv[:, 0], [5, 4.5, 4, 10, 10, 10])
    # identity view: the two crossing modes keep their series through the crossing
    a = int(h.mode[np.argmin(np.abs(h.singular_value.isel(epoch=0).values - 1.0))])
    b = int(h.mode[np.argmin(np.abs(h.singular_value.isel(epoch=0).values - 5.0))])
    np.testing.assert_allclose(h.singular_value.sel(mode=a), 1.0 + np.arange(6))
    np.testing.assert_allclose(h.singular_value.sel(mode=b), 5.0 - 0.5 * np.arange(6))
    # and the rank view swaps them: rank 2 at t = 2 is B (4.0 > 3.0), at t = 4 A (5.0 > 3.0)
    assert int(r["mode"].sel(epoch=2, rank=1)) == b and int(r["mode"].sel(epoch=4, rank=2)) == a
    # the emerging feature was matched to some bulk label with overlap 1/4: a new identity
    top = r.sel(epoch=3, rank=1)
    assert abs(float(top.mode_overlap)) == pytest.approx(0.25, abs=1e-9)
    assert int(top.new_identity) == 1 and int(top.identity) > 18
    assert int(r.new_identity.sel(epoch=3).sum()) == 16      # every bulk label rotated away
    assert int(r.new_identity.sel(epoch=4).sum()) == 0       # and then continues
    # the crossing modes keep their identities through the emergence (overlap 1)
    assert int(r.identity.sel(epoch=3, rank=2)) == a and int(r.identity.sel(epoch=3, rank=3)) == b


def test_rank_view_of_a_real_history_and_a_combined_scan():
    data = pyrbm.datasets.hierarchical(n_samples=500, n_visible=12, seed=0).data
    hists = [Trainer(lr=0.1, batch_size=50, n_epochs=4, seed=s, progress=False).fit(data, n_hidden=8)[1]
             for s in (0, 1)]
    both = xr.concat(hists, dim="seed")
    r = both.rbm.by_rank()
    assert r.singular_value.dims == ("seed", "epoch", "rank")
    np.testing.assert_allclose(r.singular_value.sel(rank=1), both.singular_value.max("mode"))
    np.testing.assert_allclose(r.singular_value.isel(seed=1), hists[1].rbm.by_rank().singular_value)


def test_split_identities_rules():
    ov = np.array([[np.nan, np.nan], [0.9, -0.2], [0.95, 0.99], [0.1, np.nan]])
    np.testing.assert_array_equal(split_identities(ov), [[1, 2], [1, 3], [1, 3], [4, 3]])
    with pytest.raises(ValueError, match="threshold"):
        split_identities(ov, threshold=0)
    with pytest.raises(ValueError, match="history"):
        xr.Dataset({"x": ("epoch", [1.0])}).rbm.by_rank()
