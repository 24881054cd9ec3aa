"""Throughput of one training epoch: pyrbm versus plain numpy, the BLAS bound and scikit-learn.

One epoch of PCD-1 on the full binarised MNIST training set (60,000 images), 784 x 500,
batch 100, learning rate 0.01 (600 updates), timed in the same process for

* ``Trainer(...).fit(data, n_hidden=500)`` exactly as a user calls it: validation, set-up,
  the 600 updates, the two history records (SVD, mode tracking, monitors) and the result;
* pyrbm's update loop alone (no set-up, no records), for reference;
* a plain numpy float32 implementation of the same loop (below, about 20 lines; its data
  converted to float32 beforehand, outside the timing), with BLAS's default threads and
  on one BLAS thread (the faster of the two is compared);
* the dense-BLAS bound: the loop's matrix products alone (five B x N x M products per
  update, on float32 data converted beforehand), with BLAS's default threads and on one
  BLAS thread; the bound is the faster of the two (on a loaded machine, one thread);
* optionally (``--sklearn``) scikit-learn's ``BernoulliRBM``;
* the paper-scale update: PCD with batch 500, 500 chains, 784 x 500, against the dense-BLAS
  bound of its products (PCD-500: 1,003 products of 500 x 784 x 500 per update), timed at
  ``--paper-k`` sweeps per update (default 50: 103 products; both sides scale alike).

Everything is measured as the machine is found, then again while ``--load`` CPU-bound
processes (default one per CPU) compete for the cores; the last line summarises both.

The contenders run interleaved, ``--repeat`` rounds of each (the machine may be shared);
medians (and minima) are printed with the ratios, the targets (fit >= 1.5x the numpy loop
and >= 1.3x the BLAS bound), the CPU and the BLAS/numba thread set-up.

    PYRBM_DATA=/path/to/mnist python benchmarks/train.py [--repeat 3] [--quick] [--sklearn]
        [--paper-k 50] [--paper-updates 2] [--no-paper] [--load N] [--no-load]

On OpenBLAS builds, run it with ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` unset
(``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/train.py``) so that
every contender uses the kernels OpenBLAS picks for the CPU.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from scipy.special import expit

import pyrbm.training as training
import pyrbm._threads as _threads
from pyrbm._threads import blas_serial
from pyrbm.datasets import mnist
from _machine import competing_load, cpu_model, load_average  # noqa: E402  (benchmarks run as scripts)

N, M, B, LR = 784, 500, 100, 0.01
#: The clock of every timing: wall time, or process CPU time with ``--cpu-time``.
CLOCK = time.perf_counter


def numpy_pcd(X, n_updates, B=B, k=1, lr=LR, seed=0):
    """Plain numpy float32 PCD-k (sklearn's algorithm): persistent hidden samples."""
    rng = np.random.default_rng(seed)
    f = np.float32
    W = (0.01 * rng.standard_normal((N, M))).astype(f)
    a, b = np.zeros(N, f), np.zeros(M, f)
    h = (rng.random((B, M), dtype=f) < 0.5).astype(f)
    ph, pn, fv = np.empty((B, M), f), np.empty((B, M), f), np.empty((B, N), f)
    vn, uv, uh = np.empty((B, N), f), np.empty((B, N), f), np.empty((B, M), f)
    for t in range(n_updates):
        v = X[t * B:(t + 1) * B]
        np.matmul(v, W, out=ph); ph += b; expit(ph, out=ph)           # noqa: E702
        for _ in range(k):
            np.matmul(h, W.T, out=fv); fv += a; expit(fv, out=fv)     # noqa: E702
            rng.random(out=uv, dtype=f); np.less(uv, fv, out=vn)       # noqa: E702
            np.matmul(vn, W, out=pn); pn += b; expit(pn, out=pn)      # noqa: E702
            rng.random(out=uh, dtype=f); np.less(uh, pn, out=h)        # noqa: E702
        W += (lr / B) * (v.T @ ph - vn.T @ pn)
        a += (lr / B) * (v.sum(0) - vn.sum(0))
        b += (lr / B) * (ph.sum(0) - pn.sum(0))
    return W


def numpy_pcd1(X, n_updates, B=B, k=1):
    """:func:`numpy_pcd` on one BLAS thread (on a loaded machine the faster numpy)."""
    with blas_serial():
        return numpy_pcd(X, n_updates, B=B, k=k)


def blas_bound1(X, n_updates, B=B, k=1):
    """:func:`blas_bound` on one BLAS thread (on a loaded machine the faster bound)."""
    with blas_serial():
        blas_bound(X, n_updates, B=B, k=k)


def blas_bound(X, n_updates, B=B, k=1):
    """The matrix products of the loop alone (same shapes, float32): 2k + 3 products of B x N x M per update."""
    f = np.float32
    W = np.full((N, M), 0.01, f)
    h, ph, fv, G = np.ones((B, M), f), np.empty((B, M), f), np.empty((B, N), f), np.empty((N, M), f)
    for t in range(n_updates):
        v = X[t * B:(t + 1) * B]
        np.matmul(v, W, out=ph)
        for _ in range(k):
            np.matmul(h, W.T, out=fv)
            np.matmul(v, W, out=ph)
        np.matmul(v.T, ph, out=G)
        np.matmul(v.T, ph, out=G)


def pyrbm_fit(data, B=B, k=1, n_hidden=M, lr=LR):
    """One epoch of ``Trainer.fit`` as users call it (everything included)."""
    t0 = CLOCK()
    training.Trainer(method="pcd", k=k, lr=lr, batch_size=B, n_epochs=1, seed=0,
                     progress=False).fit(data, n_hidden=n_hidden)
    return CLOCK() - t0


def pyrbm_loop(data, n_updates, B=B, k=1, n_hidden=M, lr=LR):
    """pyrbm's training loop (the updates only; initialisation outside the timing)."""
    tr = training.Trainer(method="pcd", k=k, lr=lr, batch_size=B, n_epochs=1, seed=0, progress=False)
    with _threads.training_threads(B, N, n_hidden):  # as in Trainer.fit
        run = training._Run(tr, data, n_hidden, "bench")
        with run.parallel():  # as in Trainer.fit
            t0 = CLOCK()
            for _ in range(n_updates):
                run.step()
            return CLOCK() - t0


def timed(fn):
    t0 = CLOCK()
    out = fn()
    return out if isinstance(out, float) else CLOCK() - t0


def interleaved(contenders: dict, repeat: int) -> dict:
    """Run every contender once per round, ``repeat`` rounds; lists of times by name."""
    times = {k: [] for k in contenders}
    for _ in range(repeat):
        for name, fn in contenders.items():
            times[name].append(timed(fn))
    return times


def best(fn, repeat):
    return min(timed(fn) for _ in range(repeat))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--quick", action="store_true",
                   help="loops: 100 updates extrapolated to an epoch (fit always runs a full epoch)")
    p.add_argument("--sklearn", action="store_true", help="also time scikit-learn's BernoulliRBM")
    p.add_argument("--pcd10", action="store_true", help="also time PCD-10 with batch 500")
    p.add_argument("--paper-k", type=int, default=50,
                   help="sweeps per update of the timed paper-scale update (PCD-500 is timed with this k; "
                        "the bound is scaled to the same products)")
    p.add_argument("--paper-updates", type=int, default=2, help="paper-scale updates per timing")
    p.add_argument("--no-paper", action="store_true", help="skip the paper-scale update")
    p.add_argument("--load", type=int, default=None, help="competing processes (default: one per CPU)")
    p.add_argument("--no-load", action="store_true", help="skip the pass under a competing load")
    p.add_argument("--cpu-time", action="store_true",
                   help="everything on one thread (BLAS and numba), timed by process CPU time: "
                        "ratios of work that hold on a loaded machine")
    p.add_argument("--threads", type=int, default=None,
                   help="limit BLAS/OpenMP threads of every contender (threadpoolctl)")
    args = p.parse_args()
    if args.cpu_time:
        global CLOCK
        import numba
        from threadpoolctl import threadpool_limits

        CLOCK = time.process_time
        numba.set_num_threads(1)
        with threadpool_limits(1):
            return run(args)
    if args.threads:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(args.threads):
            return run(args)
    quiet = run(args, f"as found (load average {load_average()})")
    if not args.no_load:
        with competing_load(args.load) as n:
            busy = run(args, f"under load: {n} competing CPU-bound processes (load average {load_average()})")
        print("SUMMARY train: " + "; ".join(
            f"{k} {quiet[k]:.2f} as found, {busy[k]:.2f} under load" for k in quiet))


def paper_update(data, X32, args, r):
    """The paper-scale PCD update (batch 500, 500 chains, 784 x 500) against its dense-BLAS bound.

    Timed with ``args.paper_k`` sweeps per update (PCD-500 costs 2*500 + 3 = 1,003 products
    of 500 x 784 x 500 per update; at k sweeps 2k + 3, and the bound is the same products).
    """
    k, n = args.paper_k, args.paper_updates
    pyrbm_loop(data, 1, B=500, k=2)  # compile at these shapes
    times = interleaved({"pyrbm": lambda: pyrbm_loop(data, n, B=500, k=k),
                         "blas": lambda: blas_bound(X32, n, B=500, k=k),
                         "blas1": lambda: blas_bound1(X32, n, B=500, k=k)}, r)
    med = {key: float(np.median(v)) / n for key, v in times.items()}
    bound = min(med["blas"], med["blas1"])
    scale = (2 * 500 + 3) / (2 * k + 3)
    print(f"paper-scale update: PCD, batch 500, 500 chains, {N}x{M}, timed at k={k} sweeps "
          f"({2 * k + 3} products; PCD-500: x{scale:.1f}), {n} updates per timing, median of {r}:")
    print(f"  pyrbm update       {med['pyrbm']:7.3f} s  (PCD-500 extrapolated {med['pyrbm'] * scale:6.1f} s)")
    print(f"  dense-BLAS bound   {bound:7.3f} s  (default threads {med['blas']:.3f}, one thread {med['blas1']:.3f}; "
          f"PCD-500 {bound * scale:6.1f} s)")
    print(f"  ratio bound/pyrbm  {bound / med['pyrbm']:6.2f} x   (target >= 0.9)")
    return bound / med["pyrbm"]


def run(args, label=""):
    print(f"-- {label}")
    data = mnist("train")                       # uint8 0/1, (60000, 784)
    X32 = data.astype(np.float32)
    n_upd = 100 if args.quick else len(data) // B
    scale = (len(data) // B) / n_upd            # loop times are reported per full epoch
    r = args.repeat

    # warm-up (JIT compilation, caches)
    pyrbm_loop(data, 5)
    numpy_pcd(X32, 5)
    training.Trainer(n_epochs=1, batch_size=B, progress=False).fit(data[:1000], n_hidden=M)

    contenders = {
        "fit": lambda: pyrbm_fit(data),
        "loop": lambda: pyrbm_loop(data, n_upd) * scale,
        "numpy": lambda: numpy_pcd(X32, n_upd),
        "numpy1": lambda: numpy_pcd1(X32, n_upd),
        "blas": lambda: blas_bound(X32, n_upd),
        "blas1": lambda: blas_bound1(X32, n_upd),
    }
    times = interleaved(contenders, r)
    for key in ("numpy", "numpy1", "blas", "blas1"):
        times[key] = [t * scale for t in times[key]]
    if args.sklearn:
        from sklearn.neural_network import BernoulliRBM

        def sk(X, n):
            rbm = BernoulliRBM(n_components=M, batch_size=B, learning_rate=LR, n_iter=1, random_state=0)
            rbm.fit(X[:n * B])
        times["sklearn_f32"] = [timed(lambda: sk(X32, n_upd)) * scale for _ in range(max(1, r // 2))]
    med = {k: float(np.median(v)) for k, v in times.items()}
    low = {k: float(np.min(v)) for k, v in times.items()}

    print(f"one epoch of PCD-1, {len(data)} images, {N}x{M}, batch {B} ({len(data) // B} updates), "
          f"lr {LR}; {r} interleaved rounds, median [min] "
          f"{'CPU s/epoch, one thread' if args.cpu_time else 's/epoch'}"
          f"{' (loops extrapolated from %d updates)' % n_upd if args.quick else ''}:")
    labels = {"fit": "pyrbm Trainer.fit, as called (set-up, records)",
              "loop": "pyrbm update loop alone",
              "numpy": "plain numpy float32 loop",
              "numpy1": "the same on one BLAS thread",
              "blas": "dense-BLAS bound (matrix products alone)",
              "blas1": "the same on one BLAS thread",
              "sklearn_f32": "scikit-learn BernoulliRBM, float32 data"}
    for key in med:
        print(f"  {labels[key]:48s} {med[key]:7.3f} [{low[key]:7.3f}]   "
              f"all: {' '.join(f'{t:.2f}' for t in times[key])}")
    if args.pcd10:
        n10 = 20 if args.quick else 60
        t10 = best(lambda: pyrbm_loop(data, n10, B=500, k=10), r)
        t10np = best(lambda: numpy_pcd(X32, n10, B=500, k=10), r)
        t10blas = best(lambda: blas_bound(X32, n10, B=500, k=10), r)
        print(f"PCD-10, batch 500, {N}x{M} ({n10} updates, best of {r}):")
        print(f"  pyrbm update loop                          {n10 / t10:8.2f} updates/s")
        print(f"  plain numpy float32 loop                   {n10 / t10np:8.2f} updates/s")
        print(f"  BLAS bound                                 {n10 / t10blas:8.2f} updates/s")

    from threadpoolctl import threadpool_info
    import numba

    print("machine:", cpu_model(), f"{os.cpu_count()} cores,",
          "load average %.2f %.2f %.2f" % os.getloadavg(),
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '<unset>')}",
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '<unset>')}")
    for info in threadpool_info():
        print(f"  {info['user_api']}: {info['internal_api']} {info.get('version')} "
              f"({info.get('architecture', '')}), {info['num_threads']} threads")
    print(f"  numba {numba.__version__}: {numba.get_num_threads()} threads, layer {numba.threading_layer()}; "
          f"numpy {np.__version__}")
    bound = min(med["blas"], med["blas1"])
    numpy_best = min(med["numpy"], med["numpy1"])
    print("ratios of medians (higher is better for pyrbm); bound and numpy: the faster of their two timings:")
    print(f"  Trainer.fit vs plain numpy loop:  {numpy_best / med['fit']:6.2f} x   (target >= 1.5)")
    print(f"  Trainer.fit vs dense-BLAS bound:  {bound / med['fit']:6.2f} x   (target >= 1.3)")
    print(f"  update loop vs plain numpy loop:  {numpy_best / med['loop']:6.2f} x")
    if "sklearn_f32" in med:
        print(f"  Trainer.fit vs scikit-learn f32:  {med['sklearn_f32'] / med['fit']:6.2f} x")
    out = {"fit/numpy": numpy_best / med["fit"], "fit/bound": bound / med["fit"]}
    if not args.no_paper:
        out["paper_update/bound"] = paper_update(data, X32, args, r)
    return out


if __name__ == "__main__":
    main()
