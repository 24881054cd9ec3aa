"""Reproduce the paper's experiments, figures and report with one command (docs/physics.md §13).

    python simulations/paper.py --profile quick --out runs/paper-quick
    python simulations/paper.py --profile tiny  --out runs/paper-tiny            # CI scale, ~2-3 min
    python simulations/paper.py --profile paper --out runs/paper --executor tcp://scheduler:8786

Reads the configurations shipped in ``pyrbm/experiments/configs/*.toml`` (the ``[tiny]``, ``[quick]`` or ``[paper]`` table of each
experiment), checks every setting before any work, runs the points that have no result yet
(so rerunning the same command after an interruption continues; training replicas resume
from their per-epoch checkpoints), then draws every figure into ``OUT/figures`` and writes
``OUT/report.md``. ``--set training.n_epochs=2`` overrides one setting (checked the same way).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pyrbm._optional import MissingDependency, require
from pyrbm.cli.config import int_at_least
from pyrbm.experiments import EXPERIMENTS, ConfigError, run_study
from pyrbm.report import write_report


def check_dependencies(args) -> None:
    """Every library the command will need, imported before any work (MissingDependency if not)."""
    if not args.no_report:
        require("matplotlib", purpose="the figures and report.md")
    if args.executor not in ("serial", "processes"):
        require("distributed", purpose=f"--executor {args.executor}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", choices=("tiny", "quick", "paper"), default="quick")
    p.add_argument("--out", required=True, help="study directory (created; reused to resume)")
    p.add_argument("--executor", default="serial",
                   help="'serial', 'processes', 'dask' (a local cluster) or a dask scheduler address "
                        "such as tcp://host:8786 (pyrbm.scan.Scan.run)")
    p.add_argument("--workers", type=int_at_least(1), default=None, help="worker processes of 'processes' and 'dask'")
    p.add_argument("--only", default=",".join(EXPERIMENTS),
                   help=f"comma-separated experiments to run (default all: {','.join(EXPERIMENTS)})")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="EXPERIMENT.KEY=VALUE",
                   help="override one setting of the profile (repeatable)")
    p.add_argument("--no-report", action="store_true", help="run the experiments only")
    args = p.parse_args(argv)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        p.error(f"--out: {out} is a file; expected a study directory (new, or one to resume)")
    t0 = time.perf_counter()
    try:
        check_dependencies(args)
    except MissingDependency as err:
        print(err, file=sys.stderr)
        return 2
    try:
        timings = run_study(args.out, profile=args.profile, executor=args.executor, workers=args.workers,
                            overrides=args.overrides, experiments=tuple(args.only.split(",")))
    except ConfigError as err:
        print(f"invalid configuration:\n{err}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        print(err, file=sys.stderr)
        return 1
    for exp, sec in timings.items():
        print(f"{exp}: {sec:.1f} s of point time")
    print(f"experiments done in {time.perf_counter() - t0:.1f} s")
    if not args.no_report:
        path = write_report(args.out)
        print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
