"""Throughput of one training epoch: pyrbm versus scikit-learn, plain numpy and the BLAS bound.

One epoch of PCD-1 on the full binarised MNIST training set (60,000 images), 784 x 500,
batch 100, learning rate 0.01 (600 updates), timed in the same process for

* pyrbm's training loop (``Trainer``: sparse gathers over active pixels, fused kernels);
* scikit-learn's ``BernoulliRBM(n_components=500, batch_size=100, learning_rate=0.01,
  n_iter=1)``, fed float64 data (its default) and float32 data;
* a plain numpy float32 implementation of the same loop (below, about 20 lines);
* the BLAS bound: the loop's matrix products alone (five B x N x M products per update).

Then PCD-10 with batch 500 (updates per second). Every timing is the best of
``--repeat`` runs (the machine may be shared). Machine and BLAS information and the
ratios are printed last.

    PYRBM_DATA=/path/to/mnist python benchmarks/train.py [--repeat 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from scipy.special import expit

import pyrbm.training as training
import pyrbm._threads as _threads
from pyrbm.datasets import mnist

N, M, B, LR = 784, 500, 100, 0.01


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


def blas_bound(X, n_updates, B=B, k=1):
    """The matrix products of the loop alone (same shapes, float32)."""
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


def pyrbm_loop(data, n_updates, B=B, k=1, n_hidden=M, lr=LR):
    """pyrbm's training loop (the updates only; initialisation outside the timing)."""
    tr = training.Trainer(method="pcd", k=k, lr=lr, batch_size=B, n_epochs=1, seed=0, progress=False)
    with _threads.training_threads(B, N, n_hidden):  # as in Trainer.fit
        run = training._Run(tr, data, n_hidden, "bench")
        t0 = time.perf_counter()
        for _ in range(n_updates):
            run.step()
        return time.perf_counter() - t0


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(out if isinstance(out, float) else time.perf_counter() - t0)
    return min(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="100 updates instead of a full epoch")
    p.add_argument("--threads", type=int, default=None,
                   help="limit BLAS/OpenMP threads of every contender (threadpoolctl)")
    args = p.parse_args()
    if args.threads:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(args.threads):
            return run(args)
    return run(args)


def run(args):
    data = mnist("train")                       # uint8 0/1, (60000, 784)
    X32 = data.astype(np.float32)
    X64 = data.astype(np.float64)
    n_upd = 100 if args.quick else len(data) // B
    scale = (len(data) // B) / n_upd            # times are reported per full epoch
    r = args.repeat

    # warm-up (JIT compilation, caches)
    pyrbm_loop(data, 5)
    numpy_pcd(X32, 5)

    res = {}
    res["pyrbm"] = best(lambda: pyrbm_loop(data, n_upd), r) * scale
    res["numpy"] = best(lambda: numpy_pcd(X32, n_upd), r) * scale
    res["blas"] = best(lambda: blas_bound(X32, n_upd), r) * scale
    from sklearn.neural_network import BernoulliRBM

    def sk(X, n):
        rbm = BernoulliRBM(n_components=M, batch_size=B, learning_rate=LR, n_iter=1, random_state=0)
        rbm.fit(X[:n * B])
    res["sklearn_f32"] = best(lambda: sk(X32, n_upd), r) * scale
    res["sklearn_f64"] = best(lambda: sk(X64, n_upd), max(1, r - 1)) * scale

    # PCD-10, batch 500
    n10 = 20 if args.quick else 60
    t10 = best(lambda: pyrbm_loop(data, n10, B=500, k=10), r)
    t10np = best(lambda: numpy_pcd(X32, n10, B=500, k=10), r)
    t10blas = best(lambda: blas_bound(X32, n10, B=500, k=10), r)

    print(f"one epoch of PCD-1, {len(data)} images, {N}x{M}, batch {B} ({len(data) // B} updates), "
          f"lr {LR}{' (extrapolated from %d updates)' % n_upd if args.quick else ''}:")
    for key, label in (("pyrbm", "pyrbm Trainer loop"), ("numpy", "plain numpy float32 loop"),
                       ("blas", "BLAS bound (matrix products alone)"),
                       ("sklearn_f32", "scikit-learn BernoulliRBM, float32 data"),
                       ("sklearn_f64", "scikit-learn BernoulliRBM, float64 data")):
        print(f"  {label:42s} {res[key]:8.3f} s/epoch  {len(data) // B / res[key]:8.1f} updates/s")
    print(f"PCD-10, batch 500, {N}x{M} ({n10} updates):")
    print(f"  pyrbm Trainer loop                         {n10 / t10:8.2f} updates/s  "
          f"({t10 / n10 * 1e3:.1f} ms/update)")
    print(f"  plain numpy float32 loop                   {n10 / t10np:8.2f} updates/s")
    print(f"  BLAS bound                                 {n10 / t10blas:8.2f} updates/s")

    from threadpoolctl import threadpool_info
    import numba

    print("machine:", _cpu_name(), f"{os.cpu_count()} cores,",
          "load average %.2f %.2f %.2f" % os.getloadavg())
    for info in threadpool_info():
        print(f"  {info['user_api']}: {info['internal_api']} {info.get('version')} "
              f"({info.get('architecture', '')}), {info['num_threads']} threads")
    print(f"  numba {numba.__version__}: {numba.get_num_threads()} threads, layer {numba.threading_layer()}")
    print("ratios (higher is better for pyrbm):")
    print(f"  pyrbm vs scikit-learn (float64 data): {res['sklearn_f64'] / res['pyrbm']:6.2f} x   (target >= 10)")
    print(f"  pyrbm vs scikit-learn (float32 data): {res['sklearn_f32'] / res['pyrbm']:6.2f} x")
    print(f"  pyrbm vs plain numpy loop:            {res['numpy'] / res['pyrbm']:6.2f} x   (target >= 1.15)")
    print(f"  pyrbm vs BLAS bound:                  {res['blas'] / res['pyrbm']:6.2f} x")
    print(f"  PCD-10 batch 500, pyrbm vs numpy:     {t10np / t10:6.2f} x")


if __name__ == "__main__":
    main()
