"""Train a binary RBM and record its reciprocal-space history.

Quick run (default, well under a minute on 2 cores): 784 x 100, PCD-1, SGD lr 0.01, batch 100, on
20,000 MNIST images for 10 epochs -- or, when the MNIST files are not found (via
$PYRBM_DATA or the user cache), on the embedded synthetic hierarchy
(``pyrbm.datasets.hierarchical``, 784 units, 7 planted features). The script says
which.

Paper scale (docs/physics.md §13): ``--paper`` = 59,500 images, 500 hidden units,
batch 500, 500 persistent chains, k = 500 sweeps, Adam lr 1e-3, 100 epochs; flags given
with it override these.

Writes into ``--out`` (default ``runs/``) a directory named after every setting that
changes the result, ``train_<data><n>_M<M>_<method><k>_<optimizer>_lr<lr>_B<batch>_C<chains>
_e<epochs>_seed<seed>`` (plus ``_mom<momentum>`` and ``_rec<record-every>`` when set),
holding ``history.nc`` (the history, with the final model in group ``hamiltonian``),
``model.nc``, ``checkpoint.npz`` and ``summary.txt``. A directory that already holds a
run is never overwritten silently: ``--resume`` continues it from its checkpoint (to
more epochs, say), ``--overwrite`` replaces it; ``--resume`` without a checkpoint is an
error.

    python simulations/train.py                       # quick
    python simulations/train.py --n-hidden 500 --epochs 20 --samples 0   # all images
    python simulations/train.py --paper
    python simulations/train.py --paper --epochs 10 --out runs/paper10   # flags override --paper
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from pyrbm.cli.config import int_at_least, positive_number
from pyrbm.cli.report import epoch_table
from pyrbm.datasets import hierarchical, mnist
from pyrbm.io import save
from pyrbm.io.history import save_history
from pyrbm.io.netcdf import atomic_path
from pyrbm.training import Trainer


#: ``--paper``: the settings of docs/physics.md §13.
PAPER = {"samples": 59500, "n_hidden": 500, "batch_size": 500, "n_chains": 500, "k": 500, "optimizer": "adam",
         "lr": 1e-3, "epochs": 100}

EXAMPLES = """examples:
  python simulations/train.py                                # quick
  python simulations/train.py --n-hidden 500 --epochs 20 --samples 0   # all images
  python simulations/train.py --paper
  python simulations/train.py --paper --epochs 10 --out runs/paper10   # flags override --paper
"""


def load_data(kind: str, n_samples: int, seed: int, download: bool = True):
    """Return (data, description). kind: auto | mnist | synthetic.

    ``auto`` uses MNIST when the files are found (``$PYRBM_DATA``, the user cache) or can
    be downloaded (md5-checked), and the embedded synthetic hierarchy otherwise.
    """
    if kind in ("auto", "mnist"):
        try:
            try:
                data = mnist("train")
            except FileNotFoundError:
                if not download:
                    raise
                print("MNIST not found locally; trying to download it (md5-checked)", file=sys.stderr)
                data = mnist("train", download=True)
        except OSError as err:  # FileNotFoundError, or a failed download
            if kind == "mnist":
                raise
            reason = " ".join(str(err).split())[:160]
            print(f"MNIST unavailable ({reason}); training on the embedded synthetic hierarchy instead",
                  file=sys.stderr)
        else:
            if n_samples:
                rows = np.random.default_rng(seed).permutation(len(data))[:n_samples]
                data = data[np.sort(rows)]
            return data, f"MNIST train, {len(data)} images binarised at 0.5"
    n = n_samples or 10000
    h = hierarchical(n_samples=n, n_visible=784, depth=3, branching=2, noise=0.05, seed=seed)
    return h.data, (f"synthetic hierarchy: {n} samples, 784 units, depth 3, branching 2, "
                    f"noise 0.05, 7 planted features (variances "
                    + ", ".join(f"{v:.2f}" for v in h.variances) + ")")


def summary(history, description: str, elapsed: float) -> str:
    a = history.attrs
    lines = [
        f"data: {description}",
        f"model: {a['n_visible']} x {a['n_hidden']}, {a['trainer_method']}-{a['trainer_k']}, "
        f"{a['trainer_optimizer']} lr {a['trainer_lr']}, batch {a['trainer_batch_size']}, "
        f"chains {a['trainer_n_chains']}, seed {a['seed']}",
        f"training time: {elapsed:.1f} s ({a['updates_per_epoch']} updates per epoch)",
        f"Marchenko-Pastur edge at initialisation: {a['mp_edge']:.4f}; threshold 4T = 4",
        "",
    ]
    return "\n".join(lines) + "\n" + epoch_table(history, top=5)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=("auto", "mnist", "synthetic"), default="auto")
    p.add_argument("--download", action=argparse.BooleanOptionalAction, default=True,
                   help="fetch MNIST from the canonical mirrors when it is not found locally")
    p.add_argument("--samples", type=int_at_least(0), default=20000, help="training images (0: all)")
    p.add_argument("--n-hidden", type=int_at_least(1), default=100)
    p.add_argument("--method", choices=("pcd", "cd"), default="pcd")
    p.add_argument("-k", type=int_at_least(1), default=1)
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    p.add_argument("--lr", type=positive_number, default=0.01)
    p.add_argument("--momentum", type=float, default=0.0)
    p.add_argument("--batch-size", type=int_at_least(1), default=100)
    p.add_argument("--n-chains", type=int_at_least(1), default=None)
    p.add_argument("--epochs", type=int_at_least(1), default=10)
    p.add_argument("--record-every", type=int_at_least(1), default=None, help="updates between records (default: epoch)")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="seed of the run (an integer >= 0)")
    p.add_argument("--out", default="runs")
    p.add_argument("--resume", action="store_true",
                   help="continue the run from its checkpoint (error when there is none)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier run with the same settings")
    p.add_argument("--log-likelihood", action="store_true",
                   help="record the exact log-likelihood (min(N, M) <= 24; 2^min(N, M) terms per record)")
    p.add_argument("--paper", action="store_true",
                   help="the paper's settings (hours); flags given with it override them")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    if p.parse_known_args(argv)[0].paper:  # the paper's settings become the defaults
        p.set_defaults(**PAPER)
    args = p.parse_args(argv)
    if args.resume and args.overwrite:
        p.error("--resume continues the earlier run, --overwrite replaces it: pass one of them")

    if Path(args.out).exists() and not Path(args.out).is_dir():
        p.error(f"--out: {args.out} is a file; give a directory (runs go into a subdirectory of it)")
    try:  # every setting checked before any data are read
        trainer = Trainer(method=args.method, k=args.k, optimizer=args.optimizer, lr=args.lr,
                          momentum=args.momentum, batch_size=args.batch_size, n_epochs=args.epochs,
                          n_chains=args.n_chains, seed=args.seed, record_every=args.record_every,
                          progress=args.progress, log_likelihood=args.log_likelihood)
    except (TypeError, ValueError) as err:
        p.error(str(err))
    try:
        data, description = load_data(args.data, args.samples, args.seed, args.download)
    except OSError as err:  # --data mnist without the files (or a download)
        p.error(f"--data {args.data}: " + " ".join(str(err).split())[:300])
    tag = "mnist" if description.startswith("MNIST") else "synthetic"
    print(f"training on {description}")
    out = Path(args.out) / run_name(args, tag, len(data))
    ck = out / "checkpoint.npz"
    earlier = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if args.resume and not ck.is_file():
        p.error(f"--resume: no checkpoint at {ck}; run without --resume to start this run")
    if earlier and not (args.resume or args.overwrite):
        p.error(f"{out} already holds a run ({', '.join(earlier)}); pass --resume to continue it "
                "(e.g. to more --epochs) or --overwrite to replace it")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ham, history = trainer.fit(data, n_hidden=args.n_hidden, checkpoint=ck,
                               resume=ck if args.resume else None)
    elapsed = time.perf_counter() - t0
    history.attrs["data"] = description
    save_history(history, out / "history.nc", hamiltonian=ham, overwrite=True)
    save(ham, out / "model.nc", overwrite=True)
    text = summary(history, description, elapsed)
    with atomic_path(out / "summary.txt", overwrite=True) as tmp:
        Path(tmp).write_text(text)
    print(text, end="")
    print(f"wrote {out}/history.nc, model.nc, checkpoint.npz, summary.txt")


def run_name(args, tag: str, n_data: int) -> str:
    """Directory name of a run: every setting that changes its result."""
    chains = args.n_chains or args.batch_size
    name = (f"train_{tag}{n_data}_M{args.n_hidden}_{args.method}{args.k}_{args.optimizer}"
            f"_lr{args.lr:g}_B{args.batch_size}_C{chains}")
    if args.momentum:
        name += f"_mom{args.momentum:g}"
    if args.record_every:
        name += f"_rec{args.record_every}"
    return name + f"_seed{args.seed}"


if __name__ == "__main__":
    main()
