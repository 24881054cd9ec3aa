"""Block-Gibbs throughput: pyrbm against the machine's BLAS limit and its peers.

For a 784 x 500 RBM with 1,000, 10,000 and 100,000 chains, in float32 and float64,
prints the rate in chain-sweeps per second (one sweep: h ~ p(h|v), then v ~ p(v|h)) of

* ``blas``   the two matrix products of a sweep alone (numpy matmul with out=), the
             ceiling for any sampler that uses dense products;
* ``pyrbm``  ``GibbsSampler(n).run(ham, n_steps=k, observables=[])`` continued from the
             previous state (what a user calls, with its set-up and checks; BLAS
             products + fused numba kernels, tile by tile);
* ``numpy``  a plain numpy implementation (matmul, exp, random, compare);
* ``torch``  the same on the CPU in PyTorch, when it is installed, with
             ``torch.bernoulli`` (``torch``) and with ``rand < p`` (``torch_rand``).

Each rate is the best of ``--repeats`` rounds in which all implementations are timed
in turn (the machine may be shared); the ratio pyrbm/blas is the median over the rounds
of the ratio within a round.  Then, for each chain count, the peak memory of one
``run`` (numpy allocations, :mod:`tracemalloc`) against the chains' own state (v, h and
the streams), and the process's peak resident size.  The BLAS library and thread counts
are printed first; the last line is a one-line summary of the ratios.

Usage: ``python benchmarks/gibbs.py [--chains 1000 10000 100000] [--dtypes float32 float64]
[--seconds 2] [--repeats 3] [--no-peers]``
"""

from __future__ import annotations

import argparse
import os
import platform
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
from pyrbm.samplers import GibbsSampler

N_VISIBLE, N_HIDDEN = 784, 500


def _calibrate(fn, seconds):
    """Number of sweeps that takes about ``seconds`` (after a warm-up call)."""
    fn(1)  # warm-up: compilation, thread pools, page faults
    t0 = time.perf_counter()
    fn(1)
    per = max(time.perf_counter() - t0, 1e-6)
    return max(1, int(seconds / per))


def best_rates(runners, n_chains, seconds, repeats):
    """Chain-sweeps per second of each runner: best of ``repeats`` rounds.

    The runners are timed in turn within each round, so a burst of load from other
    processes on a shared machine does not favour one of them.  Returns the best rates
    and, per runner, the median over the rounds of its rate over the ``blas`` rate of
    the same round.
    """
    ks = {name: _calibrate(fn, seconds) for name, fn in runners.items()}
    best = dict.fromkeys(runners, 0.0)
    ratios = {name: [] for name in runners}
    for _ in range(repeats):
        rates = {}
        for name, fn in runners.items():
            t0 = time.perf_counter()
            fn(ks[name])
            rates[name] = ks[name] * n_chains / (time.perf_counter() - t0)
            best[name] = max(best[name], rates[name])
        for name in runners:
            ratios[name].append(rates[name] / rates["blas"])
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


def bench_pyrbm(ham, n_chains, dtype):
    sampler = GibbsSampler(n_chains, seed=0, dtype=dtype)
    holder = {"state": sampler.init_state(ham)}

    def run(k):
        holder["state"] = sampler.run(ham, state=holder["state"], n_steps=k, observables=[])[1]

    return run


def peak_memory(ham, n_chains, dtype):
    """Peak numpy allocations of one ``run`` from scratch (MB), and the chains' state (MB)."""
    tracemalloc.start()
    _, state = GibbsSampler(n_chains, seed=0, dtype=dtype).run(ham, n_steps=1, observables=[])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    own = state.v.nbytes + state.h.nbytes + state.streams.nbytes
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
    lines = [f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
             f"load average {os.getloadavg()[0]:.2f} (other processes share these cores)"]
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    parser.add_argument("--seconds", type=float, default=2.0, help="target duration of one timing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-peers", action="store_true", help="time only blas and pyrbm")
    args = parser.parse_args(argv)

    for line in machine_info():
        print(line)
    have_torch = torch is not None and not args.no_peers
    if args.no_peers:
        print("peers: not timed (--no-peers)")
    elif have_torch:
        print(f"torch {torch.__version__}: {torch.get_num_threads()} threads")
    else:
        print("torch: not installed (pip install torch to compare)")

    ham = pyrbm.Hamiltonian.random(N_VISIBLE, N_HIDDEN, sigma_w=0.01, seed=0)
    names = ["blas", "pyrbm"] + ([] if args.no_peers else ["numpy"]) + (["torch", "torch_rand"] if have_torch else [])
    print("chain-sweeps/s of a %dx%d RBM (torch: torch.bernoulli(p); torch_rand: rand(p.shape) < p)"
          % (N_VISIBLE, N_HIDDEN))
    print(f"{'dtype':>8} {'chains':>7} " + " ".join(f"{n:>10}" for n in names) + f" {'pyrbm/blas':>10}")
    results = {}
    for dtype in map(np.dtype, args.dtypes):
        for n_chains in args.chains:
            runners = {"blas": bench_blas(ham, n_chains, dtype), "pyrbm": bench_pyrbm(ham, n_chains, dtype)}
            if not args.no_peers:
                runners["numpy"] = bench_numpy(ham, n_chains, dtype)
            if have_torch:
                runners["torch"] = bench_torch(ham, n_chains, dtype, "bernoulli")
                runners["torch_rand"] = bench_torch(ham, n_chains, dtype, "rand")
            row, ratio = best_rates(runners, n_chains, args.seconds, args.repeats)
            del runners  # release the chains before the next size
            results[(dtype.name, n_chains)] = row, ratio
            print(f"{dtype.name:>8} {n_chains:>7} " + " ".join(f"{row[n]:>10.0f}" for n in names)
                  + f" {ratio['pyrbm']:>10.2f}", flush=True)

    print("peak memory of one run (numpy allocations) against the chains' own state (v, h, streams):")
    for dtype in map(np.dtype, args.dtypes):
        for n_chains in args.chains:
            peak, own = peak_memory(ham, n_chains, dtype)
            print(f"{dtype.name:>8} {n_chains:>7}: peak {peak:9.1f} MB, state {own:9.1f} MB, "
                  f"peak/state {peak / own:.2f}", flush=True)
    print(f"process peak resident size: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB")

    parts = []
    for (dt, n_chains), (row, ratio) in results.items():
        txt = f"{dt} C={n_chains}: pyrbm/blas={ratio['pyrbm']:.2f}"
        if not args.no_peers:
            txt += f" pyrbm/numpy={row['pyrbm'] / row['numpy']:.1f}"
        if have_torch:
            txt += (f" pyrbm/torch={row['pyrbm'] / row['torch']:.1f}"
                    f" pyrbm/torch_rand={row['pyrbm'] / row['torch_rand']:.1f}")
        parts.append(txt)
    print("SUMMARY gibbs (targets float32: pyrbm/blas >= 0.85 at every chain count, pyrbm/torch >= 4; "
          "pyrbm/blas is the median of per-round ratios): " + "; ".join(parts))


if __name__ == "__main__":
    main()
