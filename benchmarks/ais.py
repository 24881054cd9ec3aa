"""AIS throughput: the classic 14,500-step schedule against the machine's BLAS limit.

For a 784 x 500 float32 RBM and 100 chains, runs ``pyrbm.ais`` with the three-piece
schedule of Salakhutdinov & Murray (2008) and prints

* ``blas``  the two matrix products of one sweep alone (numpy matmul with out=, the
            same shapes, dtype and thread policy), the ceiling for any AIS that uses
            dense products; best of three rounds, timed just before and just after the
            AIS run (on a shared machine the two differ when the load changed);
* ``ais``   chain-sweeps per second of the whole AIS run (one sweep per temperature:
            the log-weight update, h ~ p_k(h|v), v ~ p_k(v|h));
* the ratio ``ais / blas`` (target ≥ 0.7), the wall time, and the estimated ln Z;
* ``raise`` chain-sweeps per second of ``pyrbm.raise_log_likelihood`` on ``--raise-images``
  random images with ``--raise-chains`` chains each and ``--raise-betas`` temperatures, and
  the cost scaled to 1,000 test images at the classic 14,501 β's (linear in both).

The model is random (σ_w = 0.05, seed 0) unless ``--model`` names a saved Hamiltonian.

Usage: ``python benchmarks/ais.py [--chains 100] [--n-betas 14501] [--model PATH] [--seconds 2]
[--raise-images 10] [--raise-chains 10] [--raise-betas 1000]``
"""

from __future__ import annotations

import argparse
import os
import time

import numba
import numpy as np

import pyrbm
from pyrbm._threads import sampler_threads
from _machine import cpu_model  # noqa: E402  (benchmarks run as scripts)

N_VISIBLE, N_HIDDEN = 784, 500


def blas_rate(ham, n_chains, seconds, repeats=3):
    """Chain-sweeps per second of the two float32 products of a sweep, best of ``repeats``."""
    W = np.array(ham.W, dtype=np.float32, order="C")
    WT = W.T
    rng = np.random.default_rng(0)
    v = (rng.random((n_chains, ham.n_visible)) < 0.5).astype(np.float32)
    h = (rng.random((n_chains, ham.n_hidden)) < 0.5).astype(np.float32)
    fh = np.empty_like(h)
    fv = np.empty_like(v)

    def run(k):
        with sampler_threads():
            for _ in range(k):
                np.matmul(v, W, out=fh)
                np.matmul(h, WT, out=fv)

    run(2)
    t0 = time.perf_counter()
    run(5)
    k = max(5, int(seconds / max((time.perf_counter() - t0) / 5, 1e-6)))
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(k)
        best = max(best, k * n_chains / (time.perf_counter() - t0))
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=100)
    parser.add_argument("--n-betas", type=int, default=pyrbm.annealing.CLASSIC_N_BETAS)
    parser.add_argument("--model", default=None, help="a Hamiltonian saved with Hamiltonian.save")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one BLAS timing round")
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
          f"{numba.get_num_threads()}")
    print(f"model: {ham.n_visible} x {ham.n_hidden}, float32, {args.chains} chains, "
          f"{args.n_betas - 1} annealing steps (three_piece)")

    pyrbm.ais(ham, n_chains=args.chains, n_betas=20, seed=0)  # compile and warm up
    before = blas_rate(ham, args.chains, args.seconds)
    t0 = time.perf_counter()
    res = pyrbm.ais(ham, n_chains=args.chains, n_betas=args.n_betas, schedule="three_piece", seed=0)
    wall = time.perf_counter() - t0
    after = blas_rate(ham, args.chains, args.seconds)
    blas = 0.5 * (before + after)
    rate = args.chains * (args.n_betas - 1) / wall
    print(f"blas: {blas:,.0f} chain-sweeps/s (mean of before {before:,.0f} and after {after:,.0f})")
    print(f"ais:  {rate:,.0f} chain-sweeps/s")
    print(f"ratio ais/blas: {rate / blas:.2f} (target >= 0.7; {rate / before:.2f} against before, "
          f"{rate / after:.2f} against after); wall time {wall:.1f} s; ess {res.ess:.1f}")
    print(f"ln Z = {res.log_z:.4f} +- {res.std:.4f}")
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
