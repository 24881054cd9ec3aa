"""Tests of pyrbm.training: learning on planted features (exact log-likelihood, mode order),
MNIST spectra, bit-exact resume, crash-safe and checked checkpoints, replicas and bad input.
The fused kernels are tested in test_training_kernels.py."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xarray as xr
from scipy.special import logsumexp

import pyrbm.io.history
import pyrbm.training as training
import pyrbm._threads as _threads
from pyrbm.datasets import hierarchical, mnist
from pyrbm.io.history import combine_histories
from pyrbm import train_replicas
from pyrbm.training import Trainer, load_checkpoint

from mnist_available import needs_mnist


@pytest.fixture(scope="module")
def planted():
    return hierarchical(n_samples=2000, n_visible=20, depth=2, branching=2, noise=0.05, seed=0)


def _brute_log_likelihood(W, a, b, data):
    """Exact mean log-likelihood by enumerating all hidden configurations (reference)."""
    M = W.shape[1]
    h = ((np.arange(2**M)[:, None] >> np.arange(M)) & 1).astype(float)
    log_z = logsumexp(h @ b + np.logaddexp(0.0, a + h @ W.T).sum(axis=1))
    free = -(data @ a) - np.logaddexp(0.0, data @ W + b).sum(axis=1)
    return np.mean(-free) - log_z


# --------------------------------------------------------------------------- learning


@pytest.fixture(scope="module")
def planted_run(planted):
    tr = Trainer(method="pcd", k=5, lr=0.05, batch_size=50, n_epochs=10, seed=1, record_every=10,
                 monitor_size=2000, record_params=True, progress=False, log_likelihood=True)
    return tr.fit(planted.data, n_hidden=8)


def test_exact_log_likelihood_rises(planted, planted_run):
    ham, hist = planted_run
    ll = hist.log_likelihood.values
    data = planted.data.astype(float)
    # The recorded value is the exact one (independent enumeration over the hidden layer).
    W, a, b = (hist[k].values[-1] for k in ("W", "a", "b"))
    assert ll[-1] == pytest.approx(_brute_log_likelihood(W, a, b, data), abs=1e-6)
    np.testing.assert_allclose(W, ham.W, rtol=1e-7)
    # Initial model: independent units with the data means (LL of that product model).
    p = data.mean(0)
    ll_indep = np.mean(data @ np.log(p) + (1 - data) @ np.log1p(-p))
    assert ll[0] == pytest.approx(ll_indep, abs=0.02)
    assert ll[-1] > ll[0] + 4.0          # -12.8 -> about -7.5 nats
    assert np.mean(ll[-10:]) > np.mean(ll[:10]) + 3.0


def test_float64_training_learns_like_float32(planted, planted_run):
    tr = Trainer(method="pcd", k=5, lr=0.05, batch_size=50, n_epochs=10, seed=1, record_every=10,
                 monitor_size=2000, progress=False, dtype=np.float64, log_likelihood=True)
    ham, hist = tr.fit(planted.data, n_hidden=8)
    assert ham.W.dtype == np.float64 and hist.attrs["trainer_dtype"] == "float64"
    ll32, ll64 = planted_run[1].log_likelihood.values, hist.log_likelihood.values
    assert ll64[-1] == pytest.approx(_brute_log_likelihood(ham.W, ham.a, ham.b, planted.data.astype(float)),
                                     abs=1e-9)
    assert ll64[-1] > ll64[0] + 4.0 and abs(np.mean(ll64[-10:]) - np.mean(ll32[-10:])) < 0.5


def test_planted_features_leave_the_bulk_in_planted_order(planted, planted_run):
    _, hist = planted_run
    edge = hist.attrs["mp_edge"]
    assert edge == pytest.approx(0.01 * (np.sqrt(20) + np.sqrt(8)))
    # Strength of each planted direction in W: |W^T d_f|, per record.
    g = np.linalg.norm(np.einsum("fi,tij->tfj", planted.directions, hist.W.values), axis=2)
    crossed = g > edge
    assert crossed[-1].all()
    first = crossed.argmax(axis=0)
    assert first[0] < first[1] < first[2], first
    # The trained model's top three singular vectors are the planted directions, in order.
    U = np.linalg.svd(hist.W.values[-1])[0]
    overlap = np.abs(planted.directions @ U[:, :3])
    assert np.all(np.diag(overlap) > 0.9), overlap
    # Exactly the three planted modes leave the Marchenko-Pastur bulk.
    assert hist.n_above_mp.values[0] == 0 and hist.n_above_mp.values[-1] == 3
    # The leading mode is stable between records once learned (label of the final top mode).
    top = int(np.argmin(hist["rank"].values[-1]))
    assert hist.mode_overlap.values[-1, top] > 0.99


def test_history_variables_against_independent_formulas(planted, planted_run):
    ham, hist = planted_run
    K = 8
    assert hist.sizes == {"epoch": 41, "mode": K, "visible": 20, "hidden": K}
    rank, msign = hist["rank"].values, hist["mode_sign"].values
    # back to the single-model order and signs: label l sits at rank[l], sign msign[l]
    order = np.argsort(rank, axis=1)
    rows = np.arange(rank.shape[0])[:, None]
    s = hist.singular_value.values[rows, order]
    for i in (0, 20, 40):  # recomputed from the recorded parameters with plain numpy
        W, a, b = (hist[k].values[i] for k in ("W", "a", "b"))
        U, sv, Vt = np.linalg.svd(W, full_matrices=False)
        sign = np.sign(U[np.argmax(np.abs(U), axis=0), np.arange(K)])  # largest |U_ik| positive
        U, V = U * sign, Vt.T * sign
        at, bt = U.T @ a, V.T @ b
        np.testing.assert_allclose(s[i], sv, rtol=1e-10)
        untrack = lambda x: (x * msign)[i, order[i]]  # noqa: E731
        np.testing.assert_allclose(untrack(hist.a_tilde.values), at, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(untrack(hist.b_tilde.values), bt, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(hist.saddle_energy.values[i, order[i]], at * bt / sv,
                                   rtol=1e-6, atol=1e-9)
        assert hist.n_above_4T.values[i] == np.count_nonzero(sv > 4)
        # pseudo-log-likelihood: N log sigmoid(F(v~) - F(v)) with each sample's recorded flipped unit
        mon = planted.data.astype(float)
        free = -(mon @ a) - np.logaddexp(0, mon @ W + b).sum(1)
        assert np.isfinite(hist.pseudo_log_likelihood.values[i])
        recon = 1 / (1 + np.exp(-(1 / (1 + np.exp(-(mon @ W + b)))) @ W.T - a))
        assert hist.reconstruction_error.values[i] == pytest.approx(np.mean((mon - recon) ** 2), rel=1e-9)
        # the PLL of any flip pattern is bounded by the best single flip; check the recorded value
        # lies between the PLL with the least and the most favourable flipped unit per sample
        flips = []
        for j in range(mon.shape[1]):
            f = mon.copy()
            f[:, j] = 1 - f[:, j]
            flips.append(-(f @ a) - np.logaddexp(0, f @ W + b).sum(1) - free)
        per_unit = -np.logaddexp(0.0, -np.array(flips))          # (N, samples)
        lo, hi = 20 * per_unit.min(0).mean(), 20 * per_unit.max(0).mean()
        assert lo <= hist.pseudo_log_likelihood.values[i] <= hi
    np.testing.assert_allclose(hist.saddle_energy_total, hist.saddle_energy.sum("mode"))
    assert np.isnan(hist.mode_overlap.values[0]).all()
    assert np.all(np.abs(hist.mode_overlap.values[1:]) <= 1 + 1e-9)
    # The signed overlap is u_l(t) . u_l(t-1) of the tracked vectors (plain-numpy SVD).
    Ws = hist.W.values
    prev = None
    for i in range(Ws.shape[0]):
        U = np.linalg.svd(Ws[i], full_matrices=False)[0]
        U = U * np.sign(U[np.argmax(np.abs(U), axis=0), np.arange(K)])
        U = U[:, rank[i] - 1] * msign[i]
        if prev is not None:
            np.testing.assert_allclose(hist.mode_overlap.values[i], np.sum(U * prev, axis=0),
                                       atol=1e-9)
        prev = U
    # The learned modes keep their sign between records.
    learned = rank[-1] <= 3
    assert np.all(hist.mode_overlap.values[-10:, learned] > 0.9)
    np.testing.assert_allclose(hist.epoch.values, hist.n_updates.values / 40)
    assert hist.reconstruction_error.values[-1] < hist.reconstruction_error.values[0]


@needs_mnist
def test_mnist_top_mode_leaves_the_bulk_and_exceeds_4():
    try:
        data = mnist("train")[:2000]
    except FileNotFoundError as err:
        pytest.fail(f"MNIST is required: set PYRBM_DATA to the directory of the IDX files\n{err}")
    ham, hist = Trainer(method="pcd", k=1, lr=0.05, batch_size=100, n_epochs=5, seed=0,
                        progress=False).fit(data, n_hidden=64)
    s = np.sort(hist.singular_value.values, axis=1)[:, ::-1]   # by rank
    edge = 0.01 * (np.sqrt(784) + np.sqrt(64))
    assert s[0, 0] < edge * 1.05                  # initialisation: inside the bulk
    assert s[-1, 0] > 4.0 and hist.n_above_4T.values[-1] >= 1
    assert hist.n_above_mp.values[0] == 0 and hist.n_above_mp.values[-1] >= 5
    assert hist.sizes == {"epoch": 6, "mode": 64}
    for name in ("singular_value", "a_tilde", "b_tilde", "saddle_energy", "saddle_energy_total",
                 "n_above_mp", "n_above_4T", "mode_overlap", "reconstruction_error",
                 "pseudo_log_likelihood"):
        assert name in hist, name
    assert "log_likelihood" not in hist   # not asked for (and min(N, M) = 64 is too large)
    assert hist.pseudo_log_likelihood.values[-1] > hist.pseudo_log_likelihood.values[0]


# --------------------------------------------------------------------------- resume


def _small_trainer(**kw):
    base = dict(method="pcd", k=2, optimizer="adam", lr=0.01, batch_size=40, n_epochs=3, seed=3,
                record_every=7, record_params=True, monitor_size=300, progress=False)
    base.update(kw)
    return Trainer(**base)


def _assert_same_run(r1, r2):
    (h1, d1), (h2, d2) = r1, r2
    np.testing.assert_array_equal(h1.W, h2.W)
    np.testing.assert_array_equal(h1.a, h2.a)
    np.testing.assert_array_equal(h1.b, h2.b)
    assert set(d1.variables) == set(d2.variables)
    for name in d1.variables:
        np.testing.assert_array_equal(d1[name].values, d2[name].values, err_msg=name)


class _Interrupt(Exception):
    pass


@pytest.mark.parametrize("kw, sparse", [(dict(), False), (dict(), True),
                                        (dict(method="cd", optimizer="sgd", momentum=0.5, k=1), True)])
def test_interrupted_and_resumed_run_is_bit_identical(planted, tmp_path, monkeypatch, kw, sparse):
    data = planted.data[:1000]  # 25 updates per epoch; records every 7 (mid-epoch)
    if sparse:  # about 10 % active units: products are gathers (dense data: BLAS)
        data = data * (np.random.default_rng(5).random(data.shape) < 0.2).astype(np.uint8)
        assert data.mean() < training._GATHER_DENSITY
    else:
        assert data.mean() > training._GATHER_DENSITY
    full = _small_trainer(**kw).fit(data, n_hidden=6)
    ck = tmp_path / "state.npz"
    original = training._Run.step

    def failing_step(self):
        if self.update == 40:   # last checkpoint at update 35; updates 35..39 are lost
            raise _Interrupt
        original(self)

    monkeypatch.setattr(training._Run, "step", failing_step)
    with pytest.raises(_Interrupt):
        _small_trainer(**kw).fit(data, n_hidden=6, checkpoint=ck)
    monkeypatch.setattr(training._Run, "step", original)
    state = load_checkpoint(ck)
    assert state["update"] == 35 and len(state["records"]) == 6
    resumed = _small_trainer(**kw).fit(data, n_hidden=6, resume=ck, checkpoint=ck)
    _assert_same_run(full, resumed)
    # Continuing a finished run to more epochs equals training that long at once.
    longer = _small_trainer(n_epochs=4, **kw)
    _assert_same_run(longer.fit(data, n_hidden=6), longer.fit(data, n_hidden=6, resume=ck))


def test_resume_refuses_a_different_run(planted, tmp_path):
    data = planted.data[:400]
    ck = tmp_path / "c.npz"
    _small_trainer(n_epochs=1).fit(data, n_hidden=4, checkpoint=ck)
    with pytest.raises(ValueError, match="lr"):
        _small_trainer(lr=0.02).fit(data, n_hidden=4, resume=ck)
    with pytest.raises(ValueError, match="data"):
        _small_trainer().fit(1 - data, n_hidden=4, resume=ck)
    with pytest.raises(ValueError, match="data has 19 features"):
        _small_trainer().fit(data[:, :19], n_hidden=4, resume=ck)
    with pytest.raises(FileNotFoundError, match="resume"):
        _small_trainer().fit(data, n_hidden=4, resume=tmp_path / "missing.npz")


def test_failure_during_checkpoint_write_keeps_previous(planted, tmp_path, monkeypatch):
    data = planted.data[:400]
    ck = tmp_path / "c.npz"
    _small_trainer(n_epochs=1).fit(data, n_hidden=4, checkpoint=ck)
    before = load_checkpoint(ck)

    def broken_savez(fh, **arrays):
        fh.write(b"PK\x03\x04 half a zip file")
        raise OSError("disk full")

    monkeypatch.setattr(training.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        _small_trainer(n_epochs=2).fit(data, n_hidden=4, resume=ck, checkpoint=ck)
    monkeypatch.undo()
    after = load_checkpoint(ck)
    assert after["update"] == before["update"]
    np.testing.assert_array_equal(after["W"], before["W"])
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]


_KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import pyrbm.training as training
    from pyrbm.datasets import hierarchical
    data = hierarchical(n_samples=2000, n_visible=20, depth=2, noise=0.05, seed=0).data[:1000]
    writes = [0]
    real_savez = np.savez
    def savez(fh, **arrays):
        writes[0] += 1
        if writes[0] < 3:
            return real_savez(fh, **arrays)
        import io
        buf = io.BytesIO()
        real_savez(buf, **arrays)
        raw = buf.getvalue()
        fh.write(raw[: len(raw) // 2])
        fh.flush()
        os.fsync(fh.fileno())
        os.kill(os.getpid(), signal.SIGKILL)   # killed in the middle of the third write
    training.np.savez = savez
    tr = training.Trainer(method="pcd", k=2, optimizer="adam", lr=0.01, batch_size=40, n_epochs=3,
                          seed=3, record_every=7, record_params=True, monitor_size=300, progress=False)
    tr.fit(data, n_hidden=6, checkpoint=sys.argv[1])
""")


def test_kill_during_checkpoint_write_leaves_previous_loadable(planted, tmp_path):
    ck = tmp_path / "state.npz"
    script = tmp_path / "run.py"
    script.write_text(_KILL_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(ck)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    state = load_checkpoint(ck)         # the second checkpoint, intact
    assert state["update"] == 14
    # A stale temporary file is left by the killed process; it is never the checkpoint.
    assert any(p.name.startswith(".state.npz.tmp-") for p in tmp_path.iterdir())
    full = _small_trainer().fit(planted.data[:1000], n_hidden=6)
    resumed = _small_trainer().fit(planted.data[:1000], n_hidden=6, resume=ck, checkpoint=ck)
    _assert_same_run(full, resumed)
    assert not any(p.name.startswith(".state.npz.tmp-") for p in tmp_path.iterdir())


# --------------------------------------------------------------------------- replicas


def test_train_replicas_and_combine(planted, tmp_path):
    tr = Trainer(batch_size=50, n_epochs=2, lr=0.05, monitor_size=200, progress=False)
    scan, paths = train_replicas(planted.data[:500], n_hidden=[3, 5], seeds=[0, 1], trainer=tr,
                                 root=tmp_path / "reps")
    assert len(paths) == 4 and all(p.name == "result.nc" for p in paths)
    assert sorted(p.parent.name.split("-")[0] for p in paths) == sorted(
        f"n_hidden={m},seed={s}" for m in (3, 5) for s in (0, 1))
    combo = combine_histories(paths)
    assert dict(combo.sizes) == {"n_hidden": 2, "seed": 2, "epoch": 3, "mode": 5}
    assert combo.n_hidden.values.tolist() == [3, 5]
    np.testing.assert_array_equal(combo.seed.values, [0, 1])
    np.testing.assert_allclose(combo.mp_edge, 0.01 * (np.sqrt(20) + np.sqrt([3, 5])))
    sv = combo.singular_value
    assert np.isnan(sv.sel(n_hidden=3).values[..., 3:]).all()
    assert np.isfinite(sv.sel(n_hidden=5).values).all()
    # Each replica is the run of its seed.
    _, h = tr.replace(seed=1).fit(planted.data[:500], n_hidden=3)
    np.testing.assert_array_equal(sv.sel(n_hidden=3, seed=1).values[:, :3], h.singular_value.values)
    with xr.open_dataset(paths[0], group="hamiltonian") as g:
        assert g.W.shape == (20, 3)


def test_train_replicas_on_a_dask_cluster_equals_serial(planted, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    tr = Trainer(batch_size=50, n_epochs=1, lr=0.05, monitor_size=200, progress=False)
    data = planted.data[:300]
    _, serial = train_replicas(data, n_hidden=[4], seeds=[0, 1], trainer=tr, root=tmp_path / "serial")
    with distributed.Client(processes=False, n_workers=2, threads_per_worker=1,
                            dashboard_address=None) as client:
        _, remote = train_replicas(data, n_hidden=[4], seeds=[0, 1], trainer=tr, root=tmp_path / "dask",
                                   executor=client)
    a, b = combine_histories(serial), combine_histories(remote)
    np.testing.assert_array_equal(a.singular_value.values, b.singular_value.values)
    np.testing.assert_array_equal(a.reconstruction_error.values, b.reconstruction_error.values)


# --------------------------------------------------------------------------- bad input


def test_bad_data_is_refused_before_training(monkeypatch):
    def no_training(*args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("training started")

    monkeypatch.setattr(training, "_Run", no_training)
    tr = Trainer(batch_size=2, n_epochs=1, progress=False)
    good = np.zeros((4, 5), dtype=np.uint8)
    cases = [
        (np.full((4, 5), 0.3), r"data must be binary"),
        (np.where(np.eye(4, 5) > 0, np.nan, 0.0), r"data holds .* non-finite"),
        (np.zeros((0, 5)), r"data is empty"),
        (np.arange(10) % 10 + 2, r"labels without images"),
        ((good, np.arange(4)), r"tuple"),
        (np.zeros((3, 4, 5)), r"data must be 2-D"),
    ]
    for bad, msg in cases:
        with pytest.raises((ValueError, TypeError), match=msg):
            tr.fit(bad, n_hidden=3)
    with pytest.raises(ValueError, match="batch_size"):
        Trainer(batch_size=10).fit(good, n_hidden=3)
    with pytest.raises(ValueError, match="n_hidden"):
        tr.fit(good, n_hidden=0)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="method"):
        Trainer(method="pt")
    with pytest.raises(ValueError, match="optimizer"):
        Trainer(optimizer="rmsprop")
    with pytest.raises(ValueError, match="lr"):
        Trainer(lr=-1.0)
    with pytest.raises(ValueError, match="momentum"):
        Trainer(momentum=1.0)
    with pytest.raises(ValueError, match="n_chains"):
        Trainer(method="cd", batch_size=10, n_chains=20)
    with pytest.raises(TypeError, match="dtype"):
        Trainer(dtype=np.int32)
    with pytest.raises(TypeError, match="k"):
        Trainer(k=1.5)


def test_progress_bar_only_when_asked_or_interactive(planted, capfd):
    data = planted.data[:200]
    tr = Trainer(batch_size=50, n_epochs=2, monitor_size=50, seed=0)
    tr.fit(data, n_hidden=3)                     # progress=None: stderr is not a terminal here
    tr.replace(progress=False).fit(data, n_hidden=3)
    assert capfd.readouterr().err == ""
    tr.replace(progress=True).fit(data, n_hidden=3)
    err = capfd.readouterr().err
    assert "8/8" in err and "upd/s" in err and "sigma_1" in err and "epoch" in err


def test_result_does_not_depend_on_the_number_of_threads(monkeypatch):
    rng = np.random.default_rng(2)
    data = (rng.random((600, 64)) < 0.15).astype(np.uint8)   # sparse: gathers
    tr = Trainer(batch_size=300, n_chains=300, n_epochs=2, k=2, seed=4, monitor_size=100,
                 record_params=True, progress=False)
    assert 300 * 64 * 64 >= _threads.PARALLEL_WORK
    threaded = tr.fit(data, n_hidden=64)
    monkeypatch.setattr(_threads, "PARALLEL_WORK", 1 << 62)   # everything on one thread
    _assert_same_run(threaded, tr.fit(data, n_hidden=64))


@pytest.mark.parametrize("method", ["pcd", "cd"])
def test_team_update_equals_the_one_thread_update(monkeypatch, method):
    """The update shared by a thread team (rows, 16-column blocks of h Wᵀ, weight rows) is the one-thread update, bit for bit."""
    import pyrbm.training as training

    rng = np.random.default_rng(5)
    data = (rng.random((480, 100)) < 0.2).astype(np.uint8)   # sparse: gathers; N = 100 splits at 64
    chains = {"pcd": 90, "cd": None}[method]
    tr = Trainer(method=method, batch_size=60, n_chains=chains, n_epochs=2, k=2, seed=6, monitor_size=50,
                 optimizer="adam", record_params=True, progress=False)
    monkeypatch.setattr(_threads, "idle_workers", lambda: 2)
    monkeypatch.setattr(_threads, "PARALLEL_WORK", 0)           # threads for this small model
    monkeypatch.setattr(training, "TEAM_WORK", 0)               # every sparse update by the team
    seen = []
    original = training._Run._sparse_step
    monkeypatch.setattr(training._Run, "_sparse_step", lambda self, hp: seen.append(self.team.n) or original(self, hp))
    team = tr.fit(data, n_hidden=40)
    assert set(seen) == ({2} if _threads.workers() >= 2 else set())
    monkeypatch.setattr(_threads, "PARALLEL_WORK", 1 << 62)   # everything on one thread, no team
    seen.clear()
    _assert_same_run(team, tr.fit(data, n_hidden=40))
    assert not seen


def test_simulation_script_writes_history_and_summary(tmp_path, monkeypatch, capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "simulations" / "train.py"
    spec = importlib.util.spec_from_file_location("sim_train", path)
    sim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sim)
    monkeypatch.setenv("PYRBM_DATA", str(tmp_path / "no_mnist_here"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sim.main(["--samples", "300", "--n-hidden", "8", "--epochs", "2", "--batch-size", "50",
              "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert "synthetic hierarchy" in captured.out and "MNIST not found" in captured.err
    out = tmp_path / "train_synthetic300_M8_pcd1_sgd_lr0.01_B50_C50_seed0"
    assert {p.name for p in out.iterdir()} == {"history.nc", "model.nc", "checkpoint.npz", "summary.txt"}
    with xr.open_dataset(out / "history.nc") as h:
        assert h.sizes["epoch"] == 3 and h.attrs["schema"] == pyrbm.io.history.SCHEMA
    text = (out / "summary.txt").read_text()
    assert "sigma_1..5" in text and ">MP" in text and ">4T" in text and len(text.splitlines()) == 9


def _sim():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "simulations" / "train.py"
    spec = importlib.util.spec_from_file_location("sim_train", path)
    sim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sim)
    return sim


def test_simulation_script_never_replaces_a_run_silently(tmp_path, monkeypatch, capsys):
    sim = _sim()
    monkeypatch.setenv("PYRBM_DATA", str(tmp_path / "no_mnist_here"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    base = ["--data", "synthetic", "--samples", "200", "--n-hidden", "4", "--epochs", "1",
            "--batch-size", "50", "--out", str(tmp_path)]
    sim.main(base)
    sim.main(base + ["--lr", "0.02"])                       # another lr: another directory
    runs = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("train_"))
    assert len(runs) == 2 and any("lr0.02" in r for r in runs) and any("lr0.01" in r for r in runs)
    first = tmp_path / runs[0 if "lr0.01" in runs[0] else 1]
    before = (first / "checkpoint.npz").read_bytes()
    with pytest.raises(SystemExit):                          # rerun without --resume: refused
        sim.main(base)
    assert "--resume" in capsys.readouterr().err
    assert (first / "checkpoint.npz").read_bytes() == before
    with pytest.raises(SystemExit):                          # --resume without a checkpoint
        sim.main(base + ["--seed", "7", "--resume"])
    assert "no checkpoint" in capsys.readouterr().err
    assert not any("seed7" in p.name for p in tmp_path.iterdir())
    sim.main(base + ["--resume", "--epochs", "2"])           # continue to 2 epochs
    with xr.open_dataset(first / "history.nc") as h:
        assert h.sizes["epoch"] == 3                           # init + 2 epochs
    sim.main(base + ["--overwrite"])                         # replace on request
    with xr.open_dataset(first / "history.nc") as h:
        assert h.sizes["epoch"] == 2
    with pytest.raises(SystemExit):
        sim.main(base + ["--samples", "-5"])
    assert "integer >= 0" in capsys.readouterr().err


# --------------------------------------------------------------------------- robustness


def test_divergence_is_reported(planted):
    """lr = 1e6 drives sigma_1 towards float32 overflow: a warning, then an error, never silence."""
    tr = Trainer(lr=1e6, batch_size=50, n_epochs=5, record_every=1, monitor_size=100, seed=0,
                 progress=False)
    with pytest.warns(RuntimeWarning, match=r"training diverges: sigma_1 = .* lower lr"):
        try:
            tr.fit(planted.data[:500], n_hidden=4)
        except FloatingPointError as err:
            assert "infinite or NaN" in str(err) and "lower lr" in str(err)


def _tampered(src, dst, **changes):
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(changes)
    np.savez(dst, **arrays)
    return dst


@pytest.mark.parametrize("key, bad", [
    ("W", lambda x: x[:, :3].copy()),                  # fewer hidden columns: kernels write past the end
    ("W", lambda x: x.astype(np.float64)),             # wrong dtype
    ("streams", lambda x: x[:10].copy()),              # fewer chains than n_chains
    ("streams", lambda x: x.astype(np.int64)),
    ("v_neg", lambda x: x[:, :-1].copy()),
    ("p_neg", lambda x: np.full_like(x, np.nan)),
    ("mW2", lambda x: x.ravel()[:5].copy()),
    ("a", lambda x: np.full_like(x, np.inf)),
    ("prev_U", lambda x: x[:, :2].copy()),
    ("rec__rank", lambda x: x[:, :2].copy()),
])
def test_checkpoint_arrays_are_checked_before_use(planted, tmp_path, monkeypatch, key, bad):
    data = planted.data[:400]
    ck = tmp_path / "c.npz"
    _small_trainer(n_epochs=1).fit(data, n_hidden=4, checkpoint=ck)
    with np.load(ck) as z:
        broken = _tampered(ck, tmp_path / "bad.npz", **{key: bad(z[key])})

    def no_training(*args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("the kernels were reached")

    monkeypatch.setattr(training, "_Run", no_training)
    with pytest.raises(ValueError, match=r"resume: .*bad.npz") as err:
        _small_trainer(n_epochs=2).fit(data, n_hidden=4, resume=broken)
    assert key.replace("rec__", "") in str(err.value)


_BAD_CHECKPOINT_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import pyrbm.training as training
    from pyrbm.datasets import hierarchical
    data = hierarchical(n_samples=400, n_visible=20, depth=2, noise=0.05, seed=0).data
    kw = dict(method="pcd", k=1, optimizer="adam", lr=0.01, batch_size=40, seed=3, progress=False)
    training.Trainer(n_epochs=1, **kw).fit(data, n_hidden=8, checkpoint=sys.argv[1])
    with np.load(sys.argv[1]) as z:
        arrays = {k: z[k] for k in z.files}
    # Adam moments for 2 of the 20 visible units: the update kernel would index past them
    # (before the checks: "munmap_chunk(): invalid pointer" / "double free", exit 134)
    arrays["mW1"] = arrays["mW1"][:2].copy()
    arrays["mW2"] = arrays["mW2"][:2].copy()
    np.savez(sys.argv[1], **arrays)
    try:
        training.Trainer(n_epochs=3, **kw).fit(data, n_hidden=8, resume=sys.argv[1])
    except ValueError as err:
        print("refused:", err)
""")



def test_checkpoint_with_wrong_shapes_cannot_crash_the_process(tmp_path):
    """Before the checks this run read and wrote out of bounds (segfault or heap corruption)."""
    script = tmp_path / "run.py"
    script.write_text(_BAD_CHECKPOINT_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "c.npz")], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert proc.returncode == 0, proc.stderr
    assert "refused:" in proc.stdout and "mW1: float32 (2, 8), expected float32 (20, 8)" in proc.stdout


def test_resume_with_fewer_epochs_is_refused(planted, tmp_path):
    data = planted.data[:400]
    ck = tmp_path / "c.npz"
    _small_trainer(n_epochs=3).fit(data, n_hidden=4, checkpoint=ck)
    with pytest.raises(ValueError, match=r"already trained 3 epochs .* n_epochs=2"):
        _small_trainer(n_epochs=2).fit(data, n_hidden=4, resume=ck)
    # the same number of epochs returns the finished run unchanged
    again = _small_trainer(n_epochs=3).fit(data, n_hidden=4, resume=ck)
    _assert_same_run(_small_trainer(n_epochs=3).fit(data, n_hidden=4), again)


def test_exact_log_likelihood_is_an_explicit_option(planted, monkeypatch):
    data = planted.data[:200]
    calls = []
    real = training.exact_log_z
    monkeypatch.setattr(training, "exact_log_z", lambda ham: calls.append(1) or real(ham))
    tr = Trainer(batch_size=50, n_epochs=1, monitor_size=50, seed=0, progress=False)
    _, hist = tr.fit(data, n_hidden=8)            # min(N, M) = 8: not computed unless asked
    assert "log_likelihood" not in hist and not calls
    _, hist = tr.replace(log_likelihood=True).fit(data, n_hidden=8)
    assert np.isfinite(hist.log_likelihood.values).all() and len(calls) == hist.sizes["epoch"]
    assert hist.attrs["trainer_log_likelihood"] == 1
    with pytest.raises(ValueError, match=r"log_likelihood: .*2\^25"):
        Trainer(log_likelihood=True, batch_size=50, progress=False).fit(
            np.zeros((100, 30), np.uint8), n_hidden=25)
    with pytest.raises(TypeError, match="log_likelihood"):
        Trainer(log_likelihood="yes")


def test_fit_validates_the_data_without_float_copies(monkeypatch):
    """The data are checked once, in one pass over the bytes (no float64 copy, no re-validation)."""
    import tracemalloc

    import pyrbm.hamiltonian

    real = pyrbm.hamiltonian.as_configuration

    def refuse(name, x, *args, **kwargs):
        # the monitored subset is evaluated through the Hamiltonian; the full data never are
        assert np.shape(x)[0] < 1000, "data validated again through a float copy"
        return real(name, x, *args, **kwargs)

    monkeypatch.setattr(pyrbm.hamiltonian, "as_configuration", refuse)
    rng = np.random.default_rng(0)
    data = (rng.random((20000, 200)) < 0.2).astype(np.uint8)          # 4 MB
    tr = Trainer(batch_size=100, n_epochs=0, monitor_size=10, seed=0, progress=False)
    tracemalloc.start()
    try:
        ham, _ = tr.fit(data, n_hidden=4)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # one float64 copy of the data would take 32 MB (the run's buffers take 0.2 MB)
    assert peak < 16e6, peak
    p = np.clip(data.mean(0), 1e-6, 1 - 1e-6)
    np.testing.assert_allclose(ham.a, np.log(p / (1 - p)), rtol=1e-6)


def test_trainer_and_fit_take_keywords():
    with pytest.raises(TypeError):
        Trainer("pcd")
    with pytest.raises(TypeError):
        Trainer().fit(np.zeros((4, 3), np.uint8), 2)


# --------------------------------------------------------------------------- record callbacks
def test_callbacks_see_every_record_and_do_not_change_the_run(planted):
    data = planted.data[:1000]
    seen = []

    def spy(ham, record, state):
        seen.append((state.update, state.n_records, record["singular_value"].copy(), ham.W.copy()))
        record["singular_value"][:] = -1.0  # a callback scribbling on its copy changes nothing

    plain = _small_trainer().fit(data, n_hidden=6)
    watched = _small_trainer().fit(data, n_hidden=6, callbacks=[spy])
    _assert_same_run(plain, watched)
    hist = watched[1]
    assert [u for u, *_ in seen] == hist["n_updates"].values.tolist()
    assert [n for _, n, *_ in seen] == list(range(1, hist.sizes["epoch"] + 1))
    for t, (_, _, s, W) in enumerate(seen):
        np.testing.assert_array_equal(s, hist["singular_value"].isel(epoch=t).values)
        np.testing.assert_array_equal(W, hist["W"].isel(epoch=t).values)


def _patience(metric: str, records: int = 2, last_update: int = 42):
    """A callback: stop when ``metric`` has not improved for ``records`` records, or after ``last_update``."""
    best = {"value": -np.inf, "since": 0}

    def early_stop(ham, record, state):
        if record[metric] > best["value"]:
            best.update(value=record[metric], since=0)
        else:
            best["since"] += 1
        return best["since"] >= records or state.update >= last_update

    return early_stop


def test_early_stopping_callback_and_bit_exact_resume(planted, tmp_path):
    """Stop when the monitored pseudo-likelihood has not improved for 2 records; resume to the end."""
    data = planted.data[:1000]
    early_stop = _patience("pseudo_log_likelihood")  # stop at the latest after update 42

    ck = tmp_path / "ck.npz"
    ham, hist = _small_trainer().fit(data, n_hidden=6, checkpoint=ck, callbacks=[early_stop])
    stopped_at = int(hist["n_updates"].values[-1])
    assert 0 < stopped_at <= 42 < 75 and stopped_at % 7 == 0
    assert load_checkpoint(ck)["update"] == stopped_at
    full = _small_trainer().fit(data, n_hidden=6)
    np.testing.assert_array_equal(hist["singular_value"].values,
                                  full[1]["singular_value"].isel(epoch=slice(0, hist.sizes["epoch"])).values)
    resumed = _small_trainer().fit(data, n_hidden=6, resume=ck)
    _assert_same_run(full, resumed)


def test_bad_callbacks_are_refused(planted):
    with pytest.raises(TypeError, match="callbacks: expected callables"):
        _small_trainer().fit(planted.data[:1000], n_hidden=6, callbacks=[3])


# --------------------------------------------------------------------------- validation data
def _brute_log_p(W, a, b, v):
    """log p(v) (unnormalised by Z) by summing exp(-E(v, h)) over every hidden state (reference)."""
    M = W.shape[1]
    h = ((np.arange(2**M)[:, None] >> np.arange(M)) & 1).astype(float)
    return logsumexp(v @ a[:, None] + h @ b + v @ W @ h.T, axis=-1)


def _brute_pseudo_log_likelihood(W, a, b, v):
    """Mean over rows of sum_i log p(v_i | v_-i), every conditional by enumeration (reference)."""
    total = np.zeros(v.shape[0])
    for i in range(v.shape[1]):
        v0, v1 = v.copy(), v.copy()
        v0[:, i], v1[:, i] = 0.0, 1.0
        l0, l1 = _brute_log_p(W, a, b, v0), _brute_log_p(W, a, b, v1)
        total += np.where(v[:, i] == 1, l1, l0) - np.logaddexp(l0, l1)
    return total


def test_validation_metrics_against_enumeration(planted):
    """The free-energy gap is exact: mean log p(train) - mean log p(validation) by enumeration;
    the one-flip pseudo-likelihood estimates the enumerated one within its standard error."""
    train, held = planted.data[:1000], planted.data[1000:]
    ham, hist = _small_trainer(monitor_size=1000, log_likelihood=True).fit(train, n_hidden=6, validation=held)
    assert hist["validation_pseudo_log_likelihood"].attrs["long_name"]
    W, a, b = hist["W"].values, hist["a"].values, hist["b"].values
    for t in range(hist.sizes["epoch"]):
        np.testing.assert_allclose(hist["validation_log_likelihood"].values[t],
                                   _brute_log_likelihood(W[t], a[t], b[t], held.astype(float)), rtol=1e-9)
        lp_train = _brute_log_p(W[t], a[t], b[t], train.astype(float))
        lp_held = _brute_log_p(W[t], a[t], b[t], held.astype(float))
        np.testing.assert_allclose(hist["free_energy_gap"].values[t], lp_train.mean() - lp_held.mean(),
                                   rtol=1e-9, atol=1e-9)
    pl = _brute_pseudo_log_likelihood(W[-1], a[-1], b[-1], held.astype(float))
    # one-flip estimator N log p(v_i|v_-i), i uniform: its spread per row, by enumeration
    per_unit = []
    for i in range(held.shape[1]):
        v0, v1 = held.astype(float), held.astype(float)
        v0[:, i], v1[:, i] = 0.0, 1.0
        l0, l1 = _brute_log_p(W[-1], a[-1], b[-1], v0), _brute_log_p(W[-1], a[-1], b[-1], v1)
        per_unit.append(held.shape[1] * (np.where(held[:, i] == 1, l1, l0) - np.logaddexp(l0, l1)))
    se = np.std(np.array(per_unit)) / np.sqrt(held.shape[0])
    est = hist["validation_pseudo_log_likelihood"].values[-1]
    assert abs(est - pl.mean()) < 5 * se, (est, pl.mean(), se)
    # The same estimator on the training rows (its own flips): comparable scales.
    assert abs(hist["pseudo_log_likelihood"].values[-1] - est) < 20 * se


def test_validation_pseudo_likelihood_exact_on_a_symmetric_model():
    """Every unit equivalent (identical rows of W, equal a; all-0 and all-1 rows): whichever unit
    is flipped, the estimate is exactly N log p(v_i | v_-i), enumerated here."""
    rng = np.random.default_rng(0)
    N, M = 7, 3
    w = rng.normal(0, 0.5, M)
    init = training.Hamiltonian(np.tile(w, (N, 1)), np.full(N, -0.3), rng.normal(0, 0.5, M))
    data = np.array([[0] * N, [1] * N] * 20, dtype=np.uint8)
    held = np.array([[1] * N, [0] * N, [0] * N], dtype=np.uint8)
    seen = {}

    def first(ham, record, state):
        seen.update(record, ham=ham)
        return True

    _small_trainer(batch_size=8).fit(data, n_hidden=M, init=init, validation=held, callbacks=[first])
    ham = seen["ham"]   # the initial model in the trainer's float32, as float64
    np.testing.assert_allclose(ham.W, init.W, rtol=1e-7)
    pl = _brute_pseudo_log_likelihood(ham.W, ham.a, ham.b, held.astype(float))
    np.testing.assert_allclose(seen["validation_pseudo_log_likelihood"], pl.mean(), rtol=1e-12)
    lp = _brute_log_p(ham.W, ham.a, ham.b, np.vstack([data, held]).astype(float))
    np.testing.assert_allclose(seen["free_energy_gap"], lp[:len(data)].mean() - lp[len(data):].mean(),
                               rtol=1e-12)


def test_validation_leaves_training_unchanged(planted):
    data, held = planted.data[:1000], planted.data[1000:1300]
    plain = _small_trainer().fit(data, n_hidden=6)
    with_val = _small_trainer().fit(data, n_hidden=6, validation=held)
    assert set(with_val[1].data_vars) - set(plain[1].data_vars) == {"validation_pseudo_log_likelihood",
                                                                    "free_energy_gap"}
    assert "validation_log_likelihood" not in with_val[1]   # only with log_likelihood=True
    _assert_same_run(plain, (with_val[0], with_val[1].drop_vars(["validation_pseudo_log_likelihood",
                                                                   "free_energy_gap"])))


def test_early_stopping_on_the_validation_metric_and_bit_exact_resume(planted, tmp_path):
    """Stop when the validation pseudo-likelihood has not improved for 2 records (at the latest
    after update 42); resume from the checkpoint: bit for bit the full run, validation included."""
    data, held = planted.data[:1000], planted.data[1000:1400]
    early_stop = _patience("validation_pseudo_log_likelihood")

    ck = tmp_path / "ck.npz"
    _, hist = _small_trainer().fit(data, n_hidden=6, checkpoint=ck, validation=held, callbacks=[early_stop])
    stopped_at = int(hist["n_updates"].values[-1])
    assert 0 < stopped_at <= 42 < 75
    full = _small_trainer().fit(data, n_hidden=6, validation=held)
    n = hist.sizes["epoch"]
    np.testing.assert_array_equal(hist["validation_pseudo_log_likelihood"].values,
                                  full[1]["validation_pseudo_log_likelihood"].values[:n])
    with pytest.raises(ValueError, match="validation: the checkpoint .* without validation|validation: the "
                                         "checkpoint .* other validation"):
        _small_trainer().fit(data, n_hidden=6, resume=ck, validation=held[:-1])
    with pytest.raises(ValueError, match="validation:"):
        _small_trainer().fit(data, n_hidden=6, resume=ck)
    resumed = _small_trainer().fit(data, n_hidden=6, resume=ck, validation=held)
    _assert_same_run(full, resumed)


@pytest.mark.parametrize("bad, match", [(np.zeros((3, 19), np.uint8), "validation"),
                                        (np.full((3, 20), 2, np.uint8), "validation"),
                                        (np.zeros((0, 20), np.uint8), "validation")])
def test_bad_validation_data_is_refused(planted, bad, match):
    with pytest.raises((TypeError, ValueError), match=match):
        _small_trainer().fit(planted.data[:1000], n_hidden=6, validation=bad)
