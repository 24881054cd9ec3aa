"""Configurations of the ``pyrbm`` command: TOML files and flags, validated in full before work.

A run command (``train``, ``sample``, ``langevin``) takes the keys of the matching built-in
point (:data:`pyrbm.scan.POINTS`) plus ``out``; ``scan`` takes ``out``, ``point``,
``executor``, ``workers`` and the tables ``[grid]`` (key -> list of values) and
``[fixed]``. Flags override the file. Every problem is reported at once, naming the key and
what it accepts; nothing is written when any is found.
"""

from __future__ import annotations

import argparse
import math

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10 (setup.cfg requires tomli there)
    import tomli as tomllib
from pathlib import Path

from ..datasets import validate_data
from ..io import read_model
from ..scan import POINTS, RESULT, ConfigError, Scan, check_params, load_data
from ..scan.points import _trainer
from ..training import EXACT_LL_MAX

__all__ = ["ConfigError", "int_at_least", "positive_number", "read_toml", "parse_value", "run_config", "resolve_inputs", "scan_config",
           "COMMAND_POINT", "SCAN_KEYS"]

#: The built-in point behind each run command.
COMMAND_POINT = {"train": "train", "sample": "gibbs", "langevin": "langevin"}
SCAN_KEYS = {
    "out": "scan directory (created; a rerun skips the points already done)",
    "point": "built-in point: 'train', 'gibbs' or 'langevin' (default 'train')",
    "executor": "'serial' (default), 'processes', 'dask' or a scheduler address 'tcp://host:port'",
    "workers": "worker processes of 'processes' / 'dask' (default: the cores)",
    "grid": "table: parameter -> list of values (the points are every combination)",
    "fixed": "table: parameters shared by every point",
}


def int_at_least(minimum: int):
    """An ``argparse`` type: an integer ``>= minimum`` (a bad value exits 2 naming the option)."""

    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if n < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {n}")
        return n

    return parse


def positive_number(text: str) -> float:
    """An ``argparse`` type: a finite number > 0."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not math.isfinite(x) or x <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return x


def read_toml(path) -> dict:
    """The TOML file as a dict; a missing or malformed file is a :class:`ConfigError`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"config: no file at {path}"])
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError([f"config: {path} is not valid TOML ({err})"]) from None
    except RecursionError:
        raise ConfigError([f"config: {path} nests tables or arrays too deeply to read; a pyrbm configuration "
                           f"has at most the tables [grid] and [fixed] of flat values"]) from None


def parse_value(text: str):
    """A flag's value as a TOML literal (``3``, ``0.01``, ``true``, ``[1, 2]``), else the string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except RecursionError:
        raise ConfigError([f"value {text[:40]!r}...: nested too deeply; flags take flat values"]) from None


#: Integers pyrbm's settings take (numpy's int64).
_INT_RANGE = (-2**63, 2**63 - 1)


def _range_problems(config, where: str = "") -> list[str]:
    """Integers outside int64 anywhere in ``config`` (numpy cannot hold them)."""
    if isinstance(config, dict):
        return [p for k, v in config.items() for p in _range_problems(v, f"{where}.{k}" if where else str(k))]
    if isinstance(config, list):
        return [p for v in config for p in _range_problems(v, where)]
    if isinstance(config, int) and not isinstance(config, bool) and not _INT_RANGE[0] <= config <= _INT_RANGE[1]:
        return [f"{where}: the integer {config} is out of range; pyrbm takes integers in [-2**63, 2**63)"]
    return []


def _check_out(out, problems: list) -> None:
    if out is None:
        problems.append("out: required, expected a directory path that does not exist yet (--out DIR)")
    elif not isinstance(out, str) or not out:
        problems.append(f"out: expected a directory path, got {out!r}")
    elif Path(out).exists() and not _failed_attempt(Path(out)):
        problems.append(f"out: {out} exists; choose a new directory (results are never overwritten)")
    else:
        above = next(p for p in Path(out).resolve().parents if p.exists())
        if not above.is_dir():
            problems.append(f"out: {above} is a file, not a directory; choose an --out below a directory")


def _failed_attempt(out: Path) -> bool:
    """A directory left by a run that failed (``error.txt``, no result): a retry replaces it."""
    return out.is_dir() and (out / "error.txt").is_file() and not (out / RESULT).exists()


def run_config(command: str, config: dict) -> tuple[Path, dict]:
    """Validate a run command's configuration; return ``(out, params)`` (defaults filled in).

    ``out`` must not exist, unless it holds a failed attempt of a run (``error.txt`` and no
    result), which the retry replaces.
    """
    kind = COMMAND_POINT[command]
    config = dict(config)
    problems = _range_problems(config)
    if problems:
        raise ConfigError(problems)
    out = config.pop("out", None)
    _check_out(out, problems)
    nested = sorted(k for k, v in config.items() if isinstance(v, dict))
    if nested:
        problems.append(f"{', '.join(nested)}: tables are not read by '{command}'; "
                        f"put the keys at the top level (allowed keys: out, {', '.join(sorted(POINTS[kind]))})")
        config = {k: v for k, v in config.items() if k not in nested}
    try:
        params = check_params(kind, config)
    except ConfigError as err:
        problems += err.problems
        params = None
    if problems:
        raise ConfigError(problems)
    return Path(out), {k: v for k, v in params.items() if v is not None}


def resolve_inputs(command: str, params: dict) -> tuple[dict, dict]:
    """Read a run's inputs before any work; return ``(params, inputs)`` with the real settings.

    ``train`` reads the training data (``inputs["data"]``) and builds the Trainer
    (``inputs["trainer"]``); ``params`` then records the data actually used (``n_visible``,
    ``n_samples``) and the settings the Trainer chose (``lr``, ``n_chains``). ``sample`` and
    ``langevin`` with a ``model`` read it and record its ``n_visible``, ``n_hidden`` and
    ``beta`` (the random-model keys ``sigma_w`` and ``model_seed`` do not apply and are
    dropped). A missing or unreadable input is a :class:`ConfigError` (the command exits 2).
    """
    params = dict(params)
    if COMMAND_POINT[command] == "train":
        p = check_params("train", params)
        try:
            data = validate_data(load_data(p["data"], p["n_samples"], p["n_visible"], p["data_seed"]), name="data")
        except (OSError, ValueError) as err:
            text = " ".join(str(err).split())
            raise ConfigError([text if text.startswith("data:") else f"data: {p['data']!r}: {text}"]) from None
        trainer = _trainer(p)
        problems = []
        if trainer.batch_size > len(data):
            problems.append(f"batch_size: {trainer.batch_size} is larger than the data set ({len(data)} samples); "
                            f"lower batch_size or raise n_samples")
        if trainer.log_likelihood and min(data.shape[1], p["n_hidden"]) > EXACT_LL_MAX:
            problems.append(f"log_likelihood: the exact log-likelihood enumerates 2^min(N, M) states; it is "
                            f"limited to min(N, M) <= {EXACT_LL_MAX} (here N={data.shape[1]}, M={p['n_hidden']}): "
                            f"set log_likelihood = false")
        if problems:
            raise ConfigError(problems)
        params.update(n_visible=int(data.shape[1]), n_samples=int(data.shape[0]), lr=trainer.lr,
                      n_chains=trainer.n_chains)
        return params, {"data": data, "trainer": trainer}
    if params.get("model") is None:
        return params, {}
    path = Path(params["model"])
    path = path / RESULT if path.is_dir() else path
    try:
        ham = read_model(path)
    except (OSError, ValueError) as err:
        text = " ".join(str(err).split())
        raise ConfigError([f"model: cannot read a model from {params['model']} ({text}); give a model file or "
                           f"a finished training run"]) from None
    for key in ("sigma_w", "model_seed"):
        params.pop(key, None)
    params.update(n_visible=ham.n_visible, n_hidden=ham.n_hidden,
                  beta=float(params["beta"]) if params.get("beta") is not None else float(ham.beta))
    return params, {}


def _input_problems(point: str, params: dict) -> list[str]:
    """Input paths of a scan point that do not exist (a data ``.npy`` file, a model)."""
    data, model = params.get("data"), params.get("model")
    if point == "train" and data not in (None, "synthetic", "mnist") and not Path(data).is_file():
        return [f"data: no file at {data}; expected 'synthetic', 'mnist' or the path of a .npy file"]
    if point != "train" and model is not None and not (Path(model).is_file() or (Path(model) / RESULT).is_file()):
        return [f"model: no model file or finished run at {model}"]
    return []


def scan_config(config: dict) -> tuple[Scan, dict]:
    """Validate a scan configuration and every point of its grid; return the scan and run options."""
    problems = _range_problems(config)
    if problems:
        raise ConfigError(problems)
    unknown = sorted(set(config) - set(SCAN_KEYS))
    if unknown:
        problems.append(f"{', '.join(unknown)}: unknown key{'s' if len(unknown) > 1 else ''} for 'scan'; "
                        f"allowed keys: {', '.join(SCAN_KEYS)} (parameters go in [grid] or [fixed])")
    out = config.get("out")
    if out is None:
        problems.append("out: required, expected a directory path (--out DIR)")
    elif not isinstance(out, str) or not out:
        problems.append(f"out: expected a directory path, got {out!r}")
    point = config.get("point", "train")
    if point not in POINTS:
        problems.append(f"point: expected one of {', '.join(map(repr, POINTS))}, got {point!r}")
    executor = config.get("executor", "serial")
    if not (executor in ("serial", "processes", "dask") or isinstance(executor, str) and "://" in executor):
        problems.append(f"executor: expected 'serial', 'processes', 'dask' or a scheduler address "
                        f"'tcp://host:port', got {executor!r}")
    workers = config.get("workers")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        problems.append(f"workers: expected an integer >= 1, got {workers!r}")
    grid, fixed = config.get("grid"), config.get("fixed", {})
    if not isinstance(grid, dict) or not grid:
        problems.append("grid: required, expected a table of parameter -> list of values, "
                        "e.g. [grid] n_hidden = [16, 32] (or --grid n_hidden=16,32)")
    if not isinstance(fixed, dict):
        problems.append(f"fixed: expected a table of parameter -> value, got {fixed!r}")
    scan = None
    if isinstance(grid, dict) and grid and isinstance(fixed, dict):
        try:
            scan = Scan(out if isinstance(out, str) and out else ".", grid, fixed)
        except (TypeError, ValueError) as err:
            problems.append(str(err))
    if scan is not None and point in POINTS:
        seen = set()
        for p in scan.points:
            try:
                check_params(point, p.params)
                found = _input_problems(point, p.params)
            except ConfigError as err:
                found = err.problems
            for msg in found:  # the same problem at many points is reported once
                if msg not in seen:
                    seen.add(msg)
                    problems.append(msg)
    if problems:
        raise ConfigError(problems)
    return scan, {"func": point, "executor": executor, "workers": workers}
