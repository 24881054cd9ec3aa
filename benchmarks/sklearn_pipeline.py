"""``Pipeline(RBM, LogisticRegression)`` on MNIST: pyrbm.sklearn.RBM versus scikit-learn's BernoulliRBM.

Both pipelines get the same data (the first ``--n-train`` training images, binarised at
``x >= 0.5``; with ``--grey`` the grey levels, which pyrbm binarises at 0.5 itself and
BernoulliRBM reads as probabilities), the same RBM settings (``n_components``, ``learning_rate``, ``batch_size``,
``n_iter``, ``random_state``; scikit-learn's example ``plot_rbm_logistic_classification``
uses 100 hidden units, rate 0.06, batch 10, 10 epochs) and the same classifier
``LogisticRegression(C, max_iter=1000)``. Printed per estimator: the test accuracy on the
10,000 test images, the RBM fit time and the whole pipeline fit time (medians over
``--repeat`` interleaved rounds); then the time ratios BernoulliRBM / pyrbm. The issue's
target: pyrbm's accuracy >= BernoulliRBM's, in less time.

    PYRBM_DATA=/path/to/mnist python benchmarks/sklearn_pipeline.py [--n-iter 10] [--repeat 1]

Seen on a shared 2-core Xeon (load average 9 to 11, so the times are noisy; about 2.5 to
3.5 min a run), one round each:

* defaults (binarised input): accuracy 0.9229 (pyrbm) vs 0.9143 (BernoulliRBM); RBM fit
  5.8 s vs 98.1 s (16.8x); pipeline fit 16.1 s vs 123.4 s (7.7x);
* ``--grey``: accuracy 0.9229 vs 0.9196; RBM fit 10.1 s vs 133.6 s (13.3x); pipeline fit
  46.4 s vs 164.5 s (3.5x).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import BernoulliRBM
from sklearn.pipeline import Pipeline

from pyrbm.datasets import mnist
from pyrbm.sklearn import RBM
from _machine import cpu_model  # noqa: E402  (benchmarks run as scripts)


def run(cls, X, y, Xt, yt, args) -> dict:
    rbm = cls(n_components=args.n_components, learning_rate=args.learning_rate, batch_size=args.batch_size,
              n_iter=args.n_iter, random_state=args.seed)
    pipe = Pipeline([("rbm", rbm), ("logistic", LogisticRegression(C=args.C, max_iter=1000))])
    # what Pipeline.fit does, step by step, to time the RBM on its own
    t0 = time.perf_counter()
    features = pipe["rbm"].fit_transform(X)
    t1 = time.perf_counter()
    pipe["logistic"].fit(features, y)
    t2 = time.perf_counter()
    return {"accuracy": pipe.score(Xt, yt), "rbm": t1 - t0, "pipeline": t2 - t0}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-train", type=int, default=10_000)
    p.add_argument("--n-components", type=int, default=100)
    p.add_argument("--learning-rate", type=float, default=0.06)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--n-iter", type=int, default=10)
    p.add_argument("--C", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--grey", action="store_true",
                   help="give both pipelines grey levels in [0, 1] (BernoulliRBM reads them as probabilities, "
                        "pyrbm binarises them at 0.5)")
    args = p.parse_args()

    binarize = None if args.grey else 0.5
    X, y = mnist("train", return_labels=True, binarize=binarize)
    X, y = X[:args.n_train].astype(np.float64), y[:args.n_train]
    Xt, yt = mnist("test", return_labels=True, binarize=binarize)
    Xt = Xt.astype(np.float64)
    what = "grey levels" if args.grey else "binarised at 0.5"
    print(f"MNIST: {len(X)} training / {len(Xt)} test images, {what}; RBM 784 x {args.n_components}, "
          f"learning_rate {args.learning_rate}, batch {args.batch_size}, {args.n_iter} epochs, seed {args.seed}; "
          f"LogisticRegression(C={args.C:g})")
    print(f"CPU: {cpu_model()}, {os.cpu_count()} logical cores")
    runs = {RBM: [], BernoulliRBM: []}
    for _ in range(args.repeat):
        for cls in runs:
            runs[cls].append(run(cls, X, y, Xt, yt, args))
    med = {cls: {k: float(np.median([r[k] for r in rs])) for k in rs[0]} for cls, rs in runs.items()}
    print(f"{'estimator':<22}{'accuracy':>10}{'RBM fit [s]':>14}{'pipeline fit [s]':>18}")
    for cls, m in med.items():
        name = f"{cls.__module__.split('.')[0]}.{cls.__name__}"
        print(f"{name:<22}{m['accuracy']:>10.4f}{m['rbm']:>14.2f}{m['pipeline']:>18.2f}")
    ours, ref = med[RBM], med[BernoulliRBM]
    print(f"time ratio BernoulliRBM / pyrbm: RBM fit {ref['rbm'] / ours['rbm']:.2f}x, "
          f"pipeline fit {ref['pipeline'] / ours['pipeline']:.2f}x; "
          f"accuracy difference pyrbm - BernoulliRBM: {ours['accuracy'] - ref['accuracy']:+.4f}")


if __name__ == "__main__":
    main()
