"""The ``pyrbm`` command: train, sample, langevin, scan, report, info.

Every command takes flags or a TOML file (``--config``; flags override it), validates the
whole configuration and reads its inputs (data, model, files) before any work (errors name
the key and what it accepts), shows progress bars on long work (on standard error when it is
a terminal; ``--progress``/``--no-progress``) and exits 0 on success, 1 when the work itself
failed and 2 on any bad input (a bad configuration, a missing or unreadable input path), with
a one-line reason on standard error. The parent directories of ``--out`` are created.
"""

from __future__ import annotations

import argparse
import sys

from .._optional import MissingDependency
from ..io import load
from ..io.history import save_history
from ..scan import POINTS, _worker, points
from . import report
from .config import (COMMAND_POINT, SCAN_KEYS, ConfigError, parse_value, read_toml, resolve_inputs, run_config,
                     scan_config)

__all__ = ["main", "build_parser"]

EXAMPLES = {
    "train": """examples:
  pyrbm train --out runs/syn16 --n-hidden 16 --n-epochs 5 --data synthetic
  pyrbm train --out runs/mnist64 --data mnist --n-samples 2000 --n-hidden 64 --lr 0.01 --seed 1
  pyrbm train --config train.toml --lr 0.05        # flags override the file

  train.toml:
    out = "runs/mnist64-lr05"
    data = "mnist"
    n_samples = 2000
    n_hidden = 64
    n_epochs = 5

  The run's directory (parents created) holds params.json (the settings used), status.json
  and result.nc (history and model); the per-epoch table is printed at the end.
""",
    "sample": """examples:
  pyrbm sample --out runs/gibbs --model runs/mnist64 --n-chains 500 --n-steps 200 --thin 10
  pyrbm sample --out runs/random --n-visible 20 --n-hidden 10 --sigma-w 0.3 --beta 2.0
""",
    "langevin": """examples:
  pyrbm langevin --out runs/diffusion --model runs/mnist64 --n-chains 200 --n-steps 2000 --dt 0.01 --modes 5
""",
    "scan": """examples:
  pyrbm scan --out scans/lr --grid lr=0.01,0.05 --grid seed=0,1 --set n_hidden=16 --set n_epochs=3
  pyrbm scan --config scan.toml --executor processes --workers 2

  scan.toml:
    out = "scans/hidden"
    point = "train"            # or "gibbs", "langevin"
    executor = "dask"          # a LocalCluster; or "tcp://host:8786"
    workers = 2
    [grid]
    n_hidden = [16, 32]
    seed = [0, 1]
    [fixed]
    data = "mnist"
    n_samples = 2000
    n_epochs = 5

  A rerun skips the points already done and retries the failed ones.
""",
    "report": """examples:
  pyrbm report runs/mnist64            # writes runs/mnist64/report/summary.txt and figures
  pyrbm report scans/lr --out figs/lr
""",
    "info": """examples:
  pyrbm info runs/mnist64/result.nc
  pyrbm info runs/mnist64 runs/gibbs   # several files; a run directory means its result file
""",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pyrbm", description="Restricted Boltzmann Machines as Hamiltonians of coupled modes: "
                     "training, sampling, scans and reports.",
                     epilog="Run 'pyrbm COMMAND --help' for a command's keys and examples.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    fmt = argparse.RawDescriptionHelpFormatter
    helps = {"train": "train an RBM (CD/PCD) and write its history and model",
             "sample": "Gibbs-sample a model and write the trajectory",
             "langevin": "run Langevin diffusion in reciprocal space and write the trajectory"}
    for cmd, kind in COMMAND_POINT.items():
        p = sub.add_parser(cmd, help=helps[cmd], description=helps[cmd] + ".", epilog=EXAMPLES[cmd],
                           formatter_class=fmt)
        p.add_argument("--config", metavar="FILE", help="TOML file with any of the keys below (flags override it)")
        p.add_argument("--out", metavar="DIR", help="output directory (must not exist): params.json, result.nc")
        _progress(p)
        for key, spec in POINTS[kind].items():
            default = "" if spec.default is None else f" (default {spec.default!r})"
            req = " (required)" if spec.required else ""
            p.add_argument(_flag(key), dest=f"key_{key}", metavar="VALUE", type=parse_value,
                           help=f"{spec.help + '; ' if spec.help else ''}{spec.expected()}{default}{req}")
        if kind == "train":
            p.epilog += "\nAny other pyrbm.Trainer setting can be given in the config file.\n"
    p = sub.add_parser("scan", help="run a grid of points (resumable), one directory each",
                       description="Run every combination of the grid values with a built-in point; finished "
                                   "points are skipped on rerun, failed ones record their traceback.",
                       epilog=EXAMPLES["scan"], formatter_class=fmt)
    p.add_argument("--config", metavar="FILE", help="TOML file: " + "; ".join(f"{k}: {v}" for k, v in SCAN_KEYS.items()))
    p.add_argument("--out", metavar="DIR", help=SCAN_KEYS["out"])
    p.add_argument("--point", choices=sorted(POINTS), help=SCAN_KEYS["point"])
    p.add_argument("--executor", metavar="EXECUTOR", help=SCAN_KEYS["executor"])
    p.add_argument("--workers", type=parse_value, metavar="N", help=SCAN_KEYS["workers"])
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...", help="a scanned parameter (repeat)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a fixed parameter (repeat)")
    _progress(p)
    p = sub.add_parser("report", help="figures and a summary of a run or scan directory",
                       description="Write summary.txt and figures (PNG) for a run directory, a result "
                                   "file or a scan directory, and print the summary.",
                       epilog=EXAMPLES["report"], formatter_class=fmt)
    p.add_argument("path", metavar="PATH", help="run directory, result file or scan directory")
    p.add_argument("--out", metavar="DIR", help="where the report goes (default PATH/report)")
    p = sub.add_parser("info", help="what a file holds: schema, dims, variables, model, provenance",
                       epilog=EXAMPLES["info"], formatter_class=fmt)
    p.add_argument("paths", metavar="FILE", nargs="+", help="pyrbm netCDF files (or run directories)")
    return parser


def _progress(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None, help="show progress bars")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")


def _pairs(items, what: str, split: bool) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError([f"--{what} {item}: expected KEY=VALUE{',VALUE...' if split else ''}"])
        key, text = item.split("=", 1)
        if split:
            value = parse_value(text) if text.strip().startswith("[") else [parse_value(t) for t in text.split(",")]
        else:
            value = parse_value(text)
        out[key.strip()] = value
    return out


def _run_command(args) -> int:
    config = read_toml(args.config) if args.config else {}
    config.update({k[4:]: v for k, v in vars(args).items() if k.startswith("key_") and v is not None})
    if args.out is not None:
        config["out"] = args.out
    out, params = run_config(args.command, config)
    params, inputs = resolve_inputs(args.command, params)
    out.resolve().parent.mkdir(parents=True, exist_ok=True)
    if args.command == "train":
        info = _worker.execute(_train, out.resolve().parent, out.name, params, progress=args.progress, **inputs)
    else:
        bar = _spinner(args.progress, args.command)
        try:
            info = _worker.execute(points.BUILTIN[COMMAND_POINT[args.command]], out.resolve().parent, out.name,
                                   params)
        finally:
            if bar is not None:
                bar.close()
    if info["status"] != "done":
        print(f"pyrbm {args.command}: failed: {info['error']} (traceback in {out / 'error.txt'})", file=sys.stderr)
        return 1
    if args.command == "train":
        print(report.epoch_table(load(out / points.RESULT)), end="")
    print(f"pyrbm {args.command}: wrote {out / points.RESULT} ({info['seconds']:.1f} s)")
    return 0


def _train(params: dict, out, data, trainer, progress=None) -> None:
    """The ``train`` command's point: :func:`pyrbm.scan.points.train` with a progress bar (tqdm,
    standard error; shown when it is a terminal, or as ``--progress``/``--no-progress`` say)."""
    ham, history = trainer.replace(progress=progress).fit(data, n_hidden=params["n_hidden"])
    save_history(history, out / points.RESULT, hamiltonian=ham)


def _spinner(progress, name):
    show = progress if progress is not None else sys.stderr.isatty()
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=None, desc=name, bar_format="{desc}: {elapsed}")


def _scan_command(args) -> int:
    config = read_toml(args.config) if args.config else {}
    for key in ("out", "point", "executor", "workers"):
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)
    if args.grid:
        config["grid"] = {**config.get("grid", {}), **_pairs(args.grid, "grid", True)}
    if args.set:
        config["fixed"] = {**config.get("fixed", {}), **_pairs(args.set, "set", False)}
    scan, opts = scan_config(config)
    summary = scan.run(opts["func"], executor=opts["executor"], workers=opts["workers"], progress=args.progress)
    return 0 if summary.ok else 1


def main(argv=None) -> int:
    """Entry point of the ``pyrbm`` console script and ``python -m pyrbm``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command in COMMAND_POINT:
            return _run_command(args)
        if args.command == "scan":
            return _scan_command(args)
        if args.command == "report":
            return report.report(args.path, out=args.out)
        return report.info(*args.paths)
    except ConfigError as err:
        what = "bad input" if args.command in ("report", "info") else "invalid configuration"
        print(f"pyrbm {args.command}: {what}: {err}", file=sys.stderr)
        return 2
    except MissingDependency as err:
        print(f"pyrbm {args.command}: {err}", file=sys.stderr)
        return 2
    except (OSError, ValueError, TypeError) as err:
        print(f"pyrbm {args.command}: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"pyrbm {args.command}: interrupted", file=sys.stderr)
        return 130
