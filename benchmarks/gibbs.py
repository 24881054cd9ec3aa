"""Block-Gibbs throughput: pyrbm against the machine's BLAS limit, quiet and under a competing load.

First 300 sweeps of a small 200 x 100 RBM with 64 chains, with the default threads and
with one (the products are too small to share). Then, for a 784 x 500 RBM (float32 by
default), the cases of the speed table: 10,000 chains
(calls of about ``--seconds``), 100,000 chains with 2 and with 11 sweeps per call.
Prints the rate in chain-sweeps per second (one sweep: h ~ p(h|v), then v ~ p(v|h)) of

* ``blas``   the two matrix products of a sweep alone (numpy matmul with out=), with
             BLAS's default threads, and ``blas1`` on one BLAS thread: the bound is the
             faster of the two in the same round (the multi-threaded one on a quiet
             machine, the single-threaded one on a loaded machine);
* ``pyrbm``  ``GibbsSampler(n).run(ham, state=state, n_steps=k, observables=[],
             donate=True)`` continued from the previous state (what a user calls, with its
             set-up and checks), and ``pyrbm_copy`` the same without ``donate`` (the
             state's arrays are copied each call);
* with ``--peers``: a plain numpy implementation, and PyTorch on the CPU when installed.

Each rate is the best of ``--repeats`` rounds in which all implementations are timed
in turn (the machine may be shared); the ratio to the bound is the median over the
rounds of the ratio within a round.  Everything is measured twice: as the machine was
found, then while ``--load`` CPU-bound processes (default: one per CPU) compete for the
cores.  Then the peak memory of a run of 2 sweeps continuing a state, with and without
donation (numpy allocations, :mod:`tracemalloc`), against the chains' own state (v, h
and the streams), and the process's peak resident size.  The last line summarises the
ratios.

Usage: ``python benchmarks/gibbs.py [--chains 10000 100000] [--dtypes float32 float64]
[--seconds 2] [--repeats 3] [--peers] [--load N] [--no-load]``
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc

try:  # imported before pyrbm so that PyTorch keeps its own default thread settings
    import torch
except ImportError:
    torch = None

import numba
import numpy as np

import pyrbm
from pyrbm._threads import blas_serial
from pyrbm.samplers import GibbsSampler
from _machine import competing_load, cpu_model, load_average  # noqa: E402  (run as a script)

N_VISIBLE, N_HIDDEN = 784, 500


def _calibrate(fn, seconds):
    """Number of sweeps that takes about ``seconds`` (after a warm-up call)."""
    fn(1)  # warm-up: compilation, thread pools, page faults
    t0 = time.perf_counter()
    fn(1)
    per = max(time.perf_counter() - t0, 1e-6)
    return max(1, int(seconds / per))


def best_rates(runners, n_chains, seconds, repeats, sweeps=None):
    """Chain-sweeps per second of each runner: best of ``repeats`` rounds.

    The runners are timed in turn within each round, so a burst of load from other
    processes on a shared machine does not favour one of them.  ``sweeps`` fixes the
    sweeps per call (else calibrated to ``seconds``; ``blas`` with default threads, very
    slow on a loaded machine, then runs at most 2).  Returns the best rates and, per
    runner, the median over the rounds of its rate over the bound of the same round,
    the faster of ``blas`` and ``blas1``.
    """
    if sweeps is None:
        ks = {name: _calibrate(fn, seconds) for name, fn in runners.items()}
    else:
        for fn in runners.values():
            fn(1)  # warm-up
        ks = {name: (min(sweeps, 2) if name == "blas" else sweeps) for name in runners}
    best = dict.fromkeys(runners, 0.0)
    ratios = {name: [] for name in runners}
    for _ in range(repeats):
        rates = {}
        for name, fn in runners.items():
            t0 = time.perf_counter()
            fn(ks[name])
            rates[name] = ks[name] * n_chains / (time.perf_counter() - t0)
            best[name] = max(best[name], rates[name])
        bound = max(rates["blas"], rates.get("blas1", 0.0))
        for name in runners:
            ratios[name].append(rates[name] / bound)
    return best, {name: float(np.median(r)) for name, r in ratios.items()}


def bench_blas(ham, n_chains, dtype):
    W = np.array(ham.W, dtype=dtype)
    r = np.random.default_rng(0)
    v = (r.random((n_chains, N_VISIBLE)) < 0.5).astype(dtype)
    h = (r.random((n_chains, N_HIDDEN)) < 0.5).astype(dtype)
    fh = np.empty((n_chains, N_HIDDEN), dtype)
    fv = np.empty((n_chains, N_VISIBLE), dtype)

    def run(k):
        for _ in range(k):
            np.matmul(v, W, out=fh)
            np.matmul(h, W.T, out=fv)

    return run


def bench_pyrbm(ham, n_chains, dtype, donate=False):
    """``run`` continued from the previous state, as users call it (``donate``: giving the state up)."""
    sampler = GibbsSampler(n_chains, seed=0, dtype=dtype)
    holder = {"state": sampler.init_state(ham)}

    def run(k):
        holder["state"] = sampler.run(ham, state=holder["state"], n_steps=k, observables=[], donate=donate)[1]

    return run


def bench_blas1(ham, n_chains, dtype):
    """The products of :func:`bench_blas` on one BLAS thread (on a loaded machine the faster bound)."""
    run = bench_blas(ham, n_chains, dtype)

    def run1(k):
        with blas_serial():
            run(k)

    return run1


def peak_memory(ham, n_chains, dtype, donate):
    """Peak numpy allocations (MB, the state included) while one ``run`` continues a state, and the state (MB)."""
    sampler = GibbsSampler(n_chains, seed=0, dtype=dtype)
    tracemalloc.start()
    state = sampler.init_state(ham)
    tracemalloc.reset_peak()
    _, new = sampler.run(ham, state=state, n_steps=2, observables=[], donate=donate)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    own = new.v.nbytes + new.h.nbytes + new.streams.nbytes
    return peak / 1e6, own / 1e6


def bench_numpy(ham, n_chains, dtype):
    W = np.array(ham.W, dtype=dtype)
    a, b = np.array(ham.a, dtype=dtype), np.array(ham.b, dtype=dtype)
    r = np.random.default_rng(0)
    v = (r.random((n_chains, N_VISIBLE)) < 0.5).astype(dtype)
    state = {"v": v}

    def run(k):
        v = state["v"]
        for _ in range(k):
            ph = 1.0 / (1.0 + np.exp(-(v @ W + b)))
            h = (r.random(ph.shape, dtype=dtype) < ph).astype(dtype)
            pv = 1.0 / (1.0 + np.exp(-(h @ W.T + a)))
            v = (r.random(pv.shape, dtype=dtype) < pv).astype(dtype)
        state["v"] = v

    return run


def bench_torch(ham, n_chains, dtype, idiom="bernoulli"):
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    W = torch.tensor(np.array(ham.W), dtype=tdt)
    a, b = torch.tensor(ham.a, dtype=tdt), torch.tensor(ham.b, dtype=tdt)
    gen = torch.Generator().manual_seed(0)
    state = {"v": torch.bernoulli(torch.full((n_chains, N_VISIBLE), 0.5, dtype=tdt), generator=gen)}

    if idiom == "bernoulli":
        def draw(p):
            return torch.bernoulli(p, generator=gen)
    else:
        def draw(p):
            return (torch.rand(p.shape, dtype=tdt, generator=gen) < p).to(tdt)

    @torch.no_grad()
    def run(k):
        v = state["v"]
        for _ in range(k):
            h = draw(torch.sigmoid(v @ W + b))
            v = draw(torch.sigmoid(h @ W.T + a))
        state["v"] = v

    return run


def machine_info():
    lines = [f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs, load average {load_average()} "
             f"(other processes share these cores)"]
    try:
        from threadpoolctl import threadpool_info

        for info in threadpool_info():
            lines.append(f"threadpool: {info.get('internal_api')} {info.get('version')} "
                         f"arch={info.get('architecture')} threads={info.get('num_threads')} "
                         f"({info.get('user_api')})")
    except ImportError:
        lines.append("threadpool: threadpoolctl not installed")
    lines.append(f"numba {numba.__version__}: {numba.get_num_threads()} threads, "
                 f"threading layer {numba.config.THREADING_LAYER}; numpy {np.__version__}; "
                 f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '<unset>')}")
    return lines


#: The cases of the issue's table: (label, chains, sweeps per call or None for calibrated calls).
CASES = [("10,000 chains", 10_000, None), ("100,000 chains, 2 sweeps/call", 100_000, 2),
         ("100,000 chains, 11 sweeps/call", 100_000, 11)]


def small_model(repeats=3):
    """300 sweeps of a 200x100 RBM with 64 chains: wall seconds with the default threads and with one thread."""
    ham = pyrbm.Hamiltonian.random(200, 100, sigma_w=0.05, seed=0)
    out = {}
    for name, threads in (("default", numba.get_num_threads()), ("one", 1)):
        old = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            GibbsSampler(64, seed=0).run(ham, n_steps=10, observables=[])
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                GibbsSampler(64, seed=0).run(ham, n_steps=300, observables=[])
                times.append(time.perf_counter() - t0)
        finally:
            numba.set_num_threads(old)
        out[name] = float(np.median(times))
    print(f"small model (200x100, 64 chains, 300 sweeps): {out['default']:.3f} s with the default threads, "
          f"{out['one']:.3f} s on one thread (ratio {out['default'] / out['one']:.2f})")
    return out["default"] / out["one"]


def one_pass(ham, args, have_torch, label):
    """Every case once: rates and ratios to the BLAS bound; returns {case: ratios}."""
    names = ["blas", "blas1", "pyrbm", "pyrbm_copy"] + ([] if args.no_peers else ["numpy"]) + (
        ["torch", "torch_rand"] if have_torch else [])
    print(f"-- {label}: chain-sweeps/s of a {N_VISIBLE}x{N_HIDDEN} RBM; ratios to the bound "
          f"max(blas, blas1) of the same round, median of {args.repeats} rounds")
    print(f"{'dtype':>8} {'case':>32} " + " ".join(f"{n:>10}" for n in names) + f" {'pyrbm/bnd':>9} {'copy/bnd':>9}")
    out = {("small", "time(default)/time(one thread)"): small_model()}
    for dtype in map(np.dtype, args.dtypes):
        for case, n_chains, sweeps in CASES:
            if n_chains not in args.chains:
                continue
            runners = {"blas": bench_blas(ham, n_chains, dtype), "blas1": bench_blas1(ham, n_chains, dtype),
                       "pyrbm": bench_pyrbm(ham, n_chains, dtype, donate=True),
                       "pyrbm_copy": bench_pyrbm(ham, n_chains, dtype, donate=False)}
            if not args.no_peers:
                runners["numpy"] = bench_numpy(ham, n_chains, dtype)
            if have_torch:
                runners["torch"] = bench_torch(ham, n_chains, dtype, "bernoulli")
                runners["torch_rand"] = bench_torch(ham, n_chains, dtype, "rand")
            row, ratio = best_rates(runners, n_chains, args.seconds, args.repeats, sweeps)
            del runners  # release the chains before the next case
            out[(dtype.name, case)] = row, ratio
            print(f"{dtype.name:>8} {case:>32} " + " ".join(f"{row[n]:>10.0f}" for n in names)
                  + f" {ratio['pyrbm']:>9.2f} {ratio['pyrbm_copy']:>9.2f}", flush=True)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, nargs="+", default=[10000, 100000],
                        help="which of the cases (10000, 100000) to run")
    parser.add_argument("--dtypes", nargs="+", default=["float32"], choices=["float32", "float64"])
    parser.add_argument("--seconds", type=float, default=2.0, help="target duration of one timing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peers", action="store_true", help="also time plain numpy (and torch if installed)")
    parser.add_argument("--load", type=int, default=None, help="competing processes (default: one per CPU)")
    parser.add_argument("--no-load", action="store_true", help="skip the pass under a competing load")
    args = parser.parse_args(argv)
    args.no_peers = not args.peers

    for line in machine_info():
        print(line)
    have_torch = torch is not None and not args.no_peers
    ham = pyrbm.Hamiltonian.random(N_VISIBLE, N_HIDDEN, sigma_w=0.01, seed=0)
    print("blas: the two products of a sweep, default BLAS threads; blas1: on one BLAS thread; pyrbm: "
          "GibbsSampler.run continued from the previous state with donate=True; pyrbm_copy: the same without "
          "donation (the state is copied each call)")
    quiet = one_pass(ham, args, have_torch, f"as found (load average {load_average()})")
    busy = {}
    if not args.no_load:
        with competing_load(args.load) as n:
            busy = one_pass(ham, args, have_torch, f"under load: {n} competing CPU-bound processes "
                                                   f"(load average {load_average()})")

    print("peak memory while a state exists and one run of 2 sweeps continues it (numpy allocations, "
          "tracemalloc), against the chains' state (v, h, streams):")
    for dtype in map(np.dtype, args.dtypes):
        for n_chains in sorted(set(args.chains)):
            for donate in (True, False):
                peak, own = peak_memory(ham, n_chains, dtype, donate)
                print(f"{dtype.name:>8} {n_chains:>7} donate={donate!s:5}: peak {peak:9.1f} MB (the state "
                      f"included), state {own:9.1f} MB, peak/state {peak / own:.2f}", flush=True)
    print(f"process peak resident size: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB")

    parts = [f"small 200x100 model time(default)/time(one thread) {quiet.pop(('small', 'time(default)/time(one thread)')):.2f}"
             + (f", under load {busy.pop(('small', 'time(default)/time(one thread)')):.2f}" if busy else "")]
    for key, (row, ratio) in quiet.items():
        txt = f"{key[0]} {key[1]}: pyrbm/bound={ratio['pyrbm']:.2f} (copy {ratio['pyrbm_copy']:.2f})"
        if key in busy:
            txt += f", under load {busy[key][1]['pyrbm']:.2f} (copy {busy[key][1]['pyrbm_copy']:.2f})"
        parts.append(txt)
    print("SUMMARY gibbs (targets float32: 10,000 chains >= 0.9; 100,000 chains 2 sweeps/call >= 0.85, "
          "11 sweeps/call >= 0.9; bound = max(blas, blas1) of the same round): " + "; ".join(parts))


if __name__ == "__main__":
    main()
