"""Tests of the training kernels (pyrbm._kernels.training): the gathers and the fused update
against the plain gradient formula in float64, the Bernoulli draws, and the named-tuple
arguments (one compiled specialisation per dtype, bit-identical to the array layout)."""

import os

import numpy as np
import pytest
from scipy.special import expit

from pyrbm._kernels import training as kt
from pyrbm._kernels.rng import make_streams




@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hidden_probabilities_gather_equals_dense_formula(dtype):
    rng = np.random.default_rng(0)
    R, N, M = 9, 37, 11
    V = (rng.random((R, N)) < 0.3).astype(dtype)
    V[0] = 0          # no active unit
    V[1] = 1          # all active
    V[2, :3] = 1      # fewer than four
    W = rng.normal(0, 0.5, (N, M)).astype(dtype)
    b = rng.normal(0, 0.5, M).astype(dtype)
    want = expit(V.astype(float) @ W.astype(float) + b)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    for kernel, args in ((kt.binary_prob_scaled, (V, W)), (kt.prob_scaled, (V @ W,))):
        p, ps = np.empty((R, M), dtype), np.empty((R, M), dtype)
        kernel(*args, b, p, ps, dtype(-0.25))
        np.testing.assert_allclose(p, want, rtol=tol, atol=tol)
        np.testing.assert_allclose(ps, -0.25 * want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("kernel", ["dense", "sparse"])
def test_fused_update_matches_the_gradient_formula(dtype, opt, kernel):
    rng = np.random.default_rng(0)
    N, M, B, C = 13, 7, 9, 5
    V2 = (rng.random((B + C, N)) < 0.3).astype(dtype)
    W = rng.normal(0, 0.3, (N, M)).astype(dtype)
    a = rng.normal(0, 0.3, N).astype(dtype)
    b = rng.normal(0, 0.3, M).astype(dtype)
    P = expit(V2.astype(float) @ W.astype(float) + b)
    scale = np.r_[np.full(B, 1.0 / B), np.full(C, -1.0 / C)]
    P2s = (P * scale[:, None]).astype(dtype)
    G = V2.T @ P2s
    lr, mom, wd, t = 0.1, 0.5, 0.01, 3
    mom1 = [rng.normal(0, 0.1, x.shape).astype(dtype) for x in (W, a, b)]
    mom2 = [rng.random(x.shape).astype(dtype) * 0.01 for x in (W, a, b)]
    # Reference: the textbook gradient in float64 from the unstacked phases.
    Vp, Vn, Pp, Pn = V2[:B].astype(float), V2[B:].astype(float), P[:B], P[B:]
    grads = [Vp.T @ Pp / B - Vn.T @ Pn / C - wd * W.astype(float),
             Vp.mean(0) - Vn.mean(0), Pp.mean(0) - Pn.mean(0)]
    ref = []
    for x, g, m1, m2 in zip((W, a, b), grads, mom1, mom2):
        x, m1, m2 = x.astype(float), m1.astype(float), m2.astype(float)
        if opt == "sgd":
            ref.append(x + mom * m1 + lr * g)
        else:
            m1 = 0.9 * m1 + 0.1 * g
            m2 = 0.999 * m2 + 0.001 * g * g
            ref.append(x + lr * (m1 / (1 - 0.9**t)) / (np.sqrt(m2 / (1 - 0.999**t)) + 1e-8))
    code = kt.OPT_ADAM if opt == "adam" else kt.OPT_SGD
    hp = kt.hyper(dtype, B, C, lr, mom if opt == "sgd" else 0.0, wd, t=t, opt=code)
    moments = kt.Moments(W1=mom1[0], W2=mom2[0], a1=mom1[1], a2=mom2[1], b1=mom1[2], b2=mom2[2])
    if kernel == "dense":
        kt.update_dense(W, a, b, G, V2, P2s, moments, hp)
    else:
        kt.update_sparse(W, a, b, V2, P2s, moments, hp, kt.gather_work(N, B + C))
    tol = 2e-6 if dtype == np.float32 else 1e-12
    for got, want in zip((W, a, b), ref):
        np.testing.assert_allclose(got, want, rtol=tol * 10, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bernoulli_kernel_frequencies(dtype):
    C, n, reps = 2000, 7, 2
    p = np.tile(np.linspace(0.05, 0.95, n), (C, 1)).astype(dtype)
    streams = make_streams(11, C)
    out = np.empty_like(p)
    acc = np.zeros(n)
    for _ in range(reps):
        kt.bernoulli(p, streams, out)
        assert set(np.unique(out)) <= {0.0, 1.0}
        acc += out.sum(axis=0)
    freq = acc / (reps * C)
    se = np.sqrt(p[0] * (1 - p[0]) / (reps * C))
    assert np.all(np.abs(freq - p[0]) < 5 * se)
    # Counters advance as documented (two float32 draws per word).
    assert np.all(streams[:, 2] == reps * (4 if dtype == np.float32 else 7))


def test_named_arguments_compile_once_per_dtype():
    rng = np.random.default_rng(1)
    N, M, B, C = 11, 6, 4, 3
    for dtype in (np.float32, np.float64):
        V2 = (rng.random((B + C, N)) < 0.4).astype(dtype)
        W = rng.normal(0, 0.3, (N, M)).astype(dtype)
        a, b = np.zeros(N, dtype), np.zeros(M, dtype)
        P2s = rng.random((B + C, M)).astype(dtype)
        mom = kt.moments(W, a, b)
        work = kt.gather_work(N, B + C)
        for t, opt in ((1, kt.OPT_SGD), (2, kt.OPT_ADAM), (3, kt.OPT_SGD)):
            hp = kt.hyper(dtype, B, C, 0.1 * t, 0.5, 0.01, t=t, opt=opt)
            assert isinstance(hp.lr, np.dtype(dtype).type) and hp.n_pos == B
            kt.update_sparse(W, a, b, V2, P2s, mom, hp, work)
            kt.update_dense(W, a, b, V2.T @ P2s, V2, P2s, mom, hp)
    # hyper-parameter values and the optimiser are data, not types: one specialisation per dtype
    assert len(kt.update_sparse.signatures) <= 2 and len(kt.update_dense.signatures) <= 2
    with pytest.raises(ValueError, match="opt"):
        kt.hyper(np.float32, 1, 1, 0.1, 0, 0, opt=2)
    hp = kt.hyper(np.float32, 4, 5, 0.1, 0.5, 0.0, beta1=0.9, beta2=0.999, t=3)
    assert hp.c1 == np.float32(1 / (1 - 0.9**3)) and hp.inv_neg == np.float32(0.2)
    assert hp._asdict()["momentum"] == np.float32(0.5) and "Hyper(opt=" in repr(hp)
    with pytest.raises(TypeError):
        kt.Moments(np.zeros(1))


def test_training_threads_leave_the_cores_of_other_processes_alone(monkeypatch):
    """Barrier-style kernels use only idle cores: on a loaded machine the training loop runs on one thread."""
    import os

    import numba

    from pyrbm import _threads

    monkeypatch.setattr(_threads, "others_running", lambda: None)  # the load average's path
    monkeypatch.setattr(_threads, "own_load", lambda: 0.0)  # the load is other processes'
    monkeypatch.setattr(os, "getloadavg", lambda: (float(os.cpu_count()), 0.0, 0.0))  # every core busy
    with _threads.training_threads(1000, 784, 500):
        assert numba.get_num_threads() == 1
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))  # quiet machine: all threads
    with _threads.training_threads(1000, 784, 500):
        assert numba.get_num_threads() == _threads.workers()
    with _threads.training_threads(10, 10, 10):  # tiny products: one thread whatever the load
        assert numba.get_num_threads() == 1


def test_own_load_is_not_taken_for_other_processes(monkeypatch):
    """A load average made by this process's own threads (a previous fit) leaves every core to the next fit."""
    import os
    import time

    import numba

    from pyrbm import _threads

    n = os.cpu_count()
    monkeypatch.setattr(_threads, "others_running", lambda: None)  # the load average's path
    monkeypatch.setattr(os, "getloadavg", lambda: (float(n), 0.0, 0.0))
    # this process ran n threads for the last two minutes: its own load equals the load average
    monkeypatch.setattr(_threads, "_own", [time.monotonic() - 120.0, time.process_time() - 120.0 * n, float(n)])
    assert abs(_threads.own_load() - n) < 0.05 * n
    with _threads.training_threads(1000, 784, 500):
        assert numba.get_num_threads() == _threads.workers()
    # and an idle process that has done nothing for minutes has no share of the load average
    monkeypatch.setattr(_threads, "_own", [time.monotonic() - 600.0, time.process_time(), float(n)])
    assert _threads.own_load() < 0.01 * n
    with _threads.training_threads(1000, 784, 500):
        assert numba.get_num_threads() == 1


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="Linux /proc only")
def test_other_processes_running_now_are_counted_and_ended_ones_are_not():
    """Competing CPU-bound processes are seen at once, and forgotten as soon as they end."""
    import subprocess
    import sys
    import time

    from pyrbm import _threads

    before = _threads.others_running(samples=9)   # whatever else this machine runs now
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        time.sleep(0.3)
        during = _threads.others_running(samples=9)
        assert during >= before + 1, (before, during)
        if before == 0:
            assert _threads.idle_workers() <= max(1, (os.cpu_count() or 1) - 1)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    # ended processes count no more at once (the 1-minute load average would still count them)
    assert _threads.others_running(samples=9) <= during - 1, (before, during)


def test_team_runs_every_part_once_on_its_own_thread_and_reraises():
    """Team: part i on thread i for every run, the first exception of any part re-raised, helpers ended on exit."""
    import threading

    from pyrbm._threads import Team

    with Team(3) as team:
        for k in range(300):   # many short hand-offs, spin and lock paths alike
            seen = {}
            team.run(lambda p: seen.__setitem__(p, (k, threading.get_ident())))
            assert sorted(seen) == [0, 1, 2] and {v[0] for v in seen.values()} == {k}
            assert len({v[1] for v in seen.values()}) == 3 and seen[0][1] == threading.get_ident()
        for failing in (0, 2):
            def fn(p, failing=failing):
                if p == failing:
                    raise ValueError(f"part {failing}")
            with pytest.raises(ValueError, match=f"part {failing}"):
                team.run(fn)
        team.run(lambda p: None)   # usable after a failure
        helpers = list(team._threads)
    assert helpers and not any(t.is_alive() for t in helpers)
    one = Team(1)
    calls = []
    one.run(calls.append)
    assert calls == [0] and one._threads == []
