"""AIS throughput against the machine's BLAS limit, on a quiet machine and under a competing load.

For a 784 x 500 float32 RBM and 100 chains, runs ``pyrbm.ais`` (three-piece schedule of
Salakhutdinov & Murray 2008, ``--n-betas`` temperatures; the classic 14,501 takes a
minute) with the default thread settings and with one thread, and times

* ``blas``  the two matrix products of one sweep alone (numpy matmul with out=, same
            shapes and dtype), with BLAS's default threads and with one BLAS thread; the
            bound is the faster of the two (on a loaded machine the multi-threaded
            product is the slower one);
* ``ais``   chain-sweeps per second of the whole AIS run (one sweep per temperature:
            the log-weight update, h ~ p_k(h|v), v ~ p_k(v|h)), default threads;
* ``ais1``  the same with one thread (``numba.set_num_threads(1)``: pyrbm's whole policy).
* ``raise`` chain-sweeps per second of ``pyrbm.raise_log_likelihood`` on ``--raise-images``
  random images with ``--raise-chains`` chains each and ``--raise-betas`` temperatures, and
  the cost scaled to 1,000 test images at the classic 14,501 β's (linear in both).

Every contender runs ``--rounds`` times interleaved; medians are printed with the ratios
``ais / blas`` (target >= 0.7 on a quiet machine) and ``time(ais) / time(ais1)`` (target
<= 1.5 under load). Then the same again while ``--load`` CPU-bound processes (default:
one per CPU) compete for the cores. Process CPU time per chain-sweep is printed too (it
does not depend on the load).

Usage: ``python benchmarks/ais.py [--chains 100] [--n-betas 1001] [--rounds 3] [--load N] [--no-load]
[--raise-images 10] [--raise-chains 10] [--raise-betas 1000]``
"""

from __future__ import annotations

import argparse
import os
import time

import numba
import numpy as np

import pyrbm
from _machine import competing_load, cpu_model, load_average, timed  # noqa: E402  (run as a script)
from pyrbm._threads import blas_serial

N_VISIBLE, N_HIDDEN = 784, 500


def blas_runner(ham, n_chains, serial):
    W = np.array(ham.W, dtype=np.float32, order="C")
    WT = W.T
    rng = np.random.default_rng(0)
    v = (rng.random((n_chains, ham.n_visible)) < 0.5).astype(np.float32)
    h = (rng.random((n_chains, ham.n_hidden)) < 0.5).astype(np.float32)
    fh, fv = np.empty_like(h), np.empty_like(v)

    def run(k):
        ctx = blas_serial() if serial else _null()
        with ctx:
            for _ in range(k):
                np.matmul(v, W, out=fh)
                np.matmul(h, WT, out=fv)

    return run


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def ais_runner(ham, n_chains, n_betas, threads):
    def run():
        old = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            pyrbm.ais(ham, n_chains=n_chains, n_betas=n_betas, schedule="three_piece", seed=0)
        finally:
            numba.set_num_threads(old)
    return run


def measure(ham, args):
    """Median wall and CPU seconds of each contender over interleaved rounds."""
    steps = args.n_betas - 1
    short = min(steps, 100)  # multi-threaded products on a loaded machine are very slow: time fewer, scale up
    runners = {
        "blas": lambda: blas_runner(ham, args.chains, False)(short),
        "blas1": lambda: blas_runner(ham, args.chains, True)(short),
        "ais": ais_runner(ham, args.chains, args.n_betas, numba.get_num_threads()),
        "ais1": ais_runner(ham, args.chains, args.n_betas, 1),
    }
    times = {k: [] for k in runners}
    for _ in range(args.rounds):
        for name, fn in runners.items():
            times[name].append(timed(fn))
    scale = {"blas": steps / short, "blas1": steps / short}
    return {k: (float(np.median([w for w, _ in v])) * scale.get(k, 1.0),
                float(np.median([c for _, c in v])) * scale.get(k, 1.0)) for k, v in times.items()}


def report(label, t, args):
    steps = args.n_betas - 1
    rate = {k: args.chains * steps / w for k, (w, _) in t.items()}
    bound = max(rate["blas"], rate["blas1"])
    print(f"{label}: chain-sweeps/s (median of {args.rounds} interleaved rounds), CPU µs per chain-sweep")
    for k in ("blas", "blas1", "ais", "ais1"):
        print(f"  {k:6s} {rate[k]:10,.0f}   wall {t[k][0]:7.2f} s   cpu {1e6 * t[k][1] / (args.chains * steps):6.2f} µs")
    r_bound = rate["ais"] / bound
    r_one = t["ais"][0] / t["ais1"][0]
    print(f"  ratio ais/blas bound = {r_bound:.2f} (bound: the faster of blas {rate['blas']:,.0f} and blas1 "
          f"{rate['blas1']:,.0f}); ais/blas(default threads) = {rate['ais'] / rate['blas']:.2f}; "
          f"time(ais)/time(ais1) = {r_one:.2f}")
    return r_bound, r_one


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=100)
    parser.add_argument("--n-betas", type=int, default=1001)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--load", type=int, default=None, help="competing processes (default: one per CPU)")
    parser.add_argument("--no-load", action="store_true", help="skip the pass under a competing load")
    parser.add_argument("--model", default=None, help="a Hamiltonian saved with Hamiltonian.save")
    parser.add_argument("--raise-images", type=int, default=10, help="test images for the RAISE timing (0: skip)")
    parser.add_argument("--raise-chains", type=int, default=10, help="RAISE chains per image")
    parser.add_argument("--raise-betas", type=int, default=1000, help="RAISE schedule length for the timing")
    args = parser.parse_args(argv)

    ham = (pyrbm.load_hamiltonian(args.model) if args.model
           else pyrbm.Hamiltonian.random(N_VISIBLE, N_HIDDEN, sigma_w=0.05, seed=0))
    try:
        from threadpoolctl import threadpool_info
        blas = "; ".join(f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads)"
                         for i in threadpool_info() if i.get("user_api") == "blas")
    except ImportError:
        blas = "threadpoolctl not installed"
    print(f"cpu: {cpu_model()} ({os.cpu_count()} logical cores); blas: {blas}; numba threads: "
          f"{numba.get_num_threads()} ({numba.config.THREADING_LAYER}); load average before: {load_average()}")
    print(f"model: {ham.n_visible} x {ham.n_hidden}, float32, {args.chains} chains, "
          f"{args.n_betas - 1} annealing steps (three_piece)")
    pyrbm.ais(ham, n_chains=args.chains, n_betas=20, seed=0)  # compile and warm up
    quiet = report("as found (other users' load: %s)" % load_average(), measure(ham, args), args)
    summary = f"SUMMARY ais: as found ais/bound={quiet[0]:.2f} ais/ais1-time={quiet[1]:.2f}"
    if not args.no_load:
        with competing_load(args.load) as n:
            busy = report(f"under load ({n} competing CPU-bound processes; load average {load_average()})",
                          measure(ham, args), args)
        summary += f"; under load ais/bound={busy[0]:.2f} ais/ais1-time={busy[1]:.2f} (target <= 1.5)"
    print(summary + " (targets: ais/bound >= 0.7 quiet; time(ais)/time(ais1) <= 1.5 under load)")
    if args.raise_images > 0:
        images = (np.random.default_rng(1).random((args.raise_images, ham.n_visible)) < 0.5).astype(np.float64)
        t0 = time.perf_counter()
        pyrbm.raise_log_likelihood(ham, images, n_betas=args.raise_betas, n_chains=args.raise_chains, seed=0)
        wall = time.perf_counter() - t0
        sweeps = args.raise_images * args.raise_chains * (args.raise_betas - 1)
        per_1000 = wall / args.raise_images * 1000 * (pyrbm.annealing.CLASSIC_N_BETAS - 1) / (args.raise_betas - 1)
        print(f"raise: {sweeps / wall:,.0f} chain-sweeps/s ({args.raise_images} images x {args.raise_chains} chains "
              f"x {args.raise_betas - 1} steps in {wall:.1f} s); scaled: {per_1000 / 3600:.2f} h per 1,000 test "
              f"images at {args.raise_chains} chains and 14,500 steps")


if __name__ == "__main__":
    main()
