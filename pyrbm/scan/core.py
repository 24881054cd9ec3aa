"""The :class:`Scan`: a grid of parameter points, one directory each, run and collected."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr

from ..io import load
from ..io.netcdf import NETCDF_LOCK, kind_of
from . import _worker
from ._grid import check_grid, expand, point_name
from .executors import backend
from .points import BUILTIN, RESULT, ConfigError

__all__ = ["Scan", "RunSummary", "Point"]

#: Total size of the result files above which :meth:`Scan.collect` opens them lazily (dask).
LAZY_BYTES = 256 * 2**20
_RESERVED = {"func", "root", "name", "params", "threads", "key", "pure", "workers", "resources", "retries",
             "priority", "allow_other_workers", "actor", "actors", "fifo_timeout", "annotations"}


@dataclasses.dataclass(frozen=True)
class Point:
    """One parameter point: position along each grid key, the scanned values, all parameters."""

    index: tuple
    values: dict
    params: dict
    name: str


@dataclasses.dataclass
class RunSummary:
    """What :meth:`Scan.run` did: counts, the failed points with the last line of their error."""

    root: str
    done: int = 0
    skipped: int = 0
    failed: int = 0
    errors: dict = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def __str__(self) -> str:
        text = (f"scan {self.root}: {self.done + self.skipped + self.failed} points, {self.done} done, "
                f"{self.skipped} skipped, {self.failed} failed ({self.seconds:.1f} s)")
        if self.errors:
            name, err = next(iter(self.errors.items()))
            text += f"; first failure {name}: {err} (traceback in {name}/error.txt)"
        return text


class Scan:
    """A grid of parameter points, each run once into its own directory.

    Parameters
    ----------
    root : path-like
        Directory of the scan (created on :meth:`run`). Point ``p`` lives in
        ``root/<key=value,...>-<hash8>`` (see :mod:`pyrbm.scan._grid`) and holds
        ``params.json``, ``status.json``, ``result.nc`` (done) or ``error.txt`` (failed).
    grid : dict of str -> sequence
        Scanned parameters; the points are the Cartesian product, in key order. Values are
        str, int, float or bool; they become the coordinates of :meth:`collect`.
    fixed : dict, optional
        Parameters shared by every point (part of each point's hash).

    Examples
    --------
    >>> scan = Scan("scans/lr", {"lr": [0.01, 0.05], "seed": [0, 1]},
    ...             fixed={"n_hidden": 16, "n_epochs": 3})              # doctest: +SKIP
    >>> scan.run("train", executor="processes")                          # doctest: +SKIP
    >>> ds = scan.collect()     # dims (lr, seed, epoch, mode)           # doctest: +SKIP
    """

    def __init__(self, root, grid: dict, fixed: dict | None = None):
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root: expected a directory path, got {type(root).__name__}")
        self.root = Path(root)
        self.grid, self.fixed = check_grid(grid, fixed)
        self.points = [Point(i, v, p, point_name(v, p)) for i, v, p in expand(self.grid, self.fixed)]

    @classmethod
    def open(cls, root) -> "Scan":
        """The scan last run in ``root`` (from its ``scan.json``)."""
        path = Path(root) / "scan.json"
        if not path.is_file():
            raise FileNotFoundError(f"root: {root} holds no scan.json; is it a scan directory (written by Scan.run)?")
        try:
            meta = json.loads(path.read_text())
            grid, fixed = meta["grid"], meta["fixed"]
        except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise ValueError(f"root: {path} is not a scan description written by Scan.run ({type(exc).__name__}: "
                             f"{exc}); restore it, or create the Scan with its grid and fixed parameters") from None
        return cls(root, grid, fixed)

    def __repr__(self) -> str:
        shape = " x ".join(f"{k}[{len(v)}]" for k, v in self.grid.items())
        return f"Scan({str(self.root)!r}, {shape} = {len(self.points)} points)"

    def __len__(self) -> int:
        return len(self.points)

    # ------------------------------------------------------------------ state
    def path(self, point: Point) -> Path:
        """The directory of ``point``."""
        return self.root / point.name

    def status(self) -> dict:
        """Point name -> "done", "failed" or "pending"."""
        out = {}
        for p in self.points:
            d = self.path(p)
            out[p.name] = "done" if (d / RESULT).is_file() else "failed" if (d / "error.txt").is_file() else "pending"
        return out

    def clean(self) -> list:
        """Remove temporaries of killed runs (dead processes on this host) and trash; return them."""
        removed = []
        if not self.root.is_dir():
            return removed
        me = _worker.host()
        for entry in os.scandir(self.root):
            if entry.name.startswith(_worker.TRASH_PREFIX):
                stale = True
            elif entry.name.startswith(_worker.TMP_PREFIX):
                parts = entry.name.split("@")
                stale = len(parts) >= 5 and parts[1] == me and parts[2].isdigit() and not _alive(int(parts[2]))
            else:
                continue
            if stale:
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.name)
        return removed

    # ------------------------------------------------------------------ run
    def run(self, func="train", *, executor="serial", inputs: dict | None = None, workers: int | None = None,
            progress: bool | None = None) -> RunSummary:
        """Run every point not yet done; failed points record their traceback and the others go on.

        Parameters
        ----------
        func : {"train", "gibbs", "langevin"} or callable
            A built-in point (:mod:`pyrbm.scan.points`) or ``func(params, out, **inputs)``
            that writes ``out / "result.nc"`` or returns an ``xarray.Dataset``. A
            ``func.check(params)`` attribute, when present, validates every point first.
        executor : "serial", "processes", "dask", distributed.Client, str or Executor
            Where points run (:func:`pyrbm.scan.executors.backend`): in this process, a
            local process pool, a dask ``LocalCluster`` started here (``workers`` processes,
            one thread each), an existing client, a scheduler address.
        inputs : dict, optional
            Large objects passed to every call as keywords (e.g. ``{"data": array}``);
            they reach each worker once (pool initializer / dask scatter with broadcast).
            An existing dask Future is passed as it is.
        workers : int, optional
            Worker processes of "processes" and "dask" (default: the cores).
        progress : bool, optional
            Progress bar over points; default when standard error is a terminal.

        Returns
        -------
        RunSummary
            Also printed as one line to standard error.
        """
        start = time.perf_counter()
        if getattr(multiprocessing.current_process(), "_inheriting", False):
            # a worker of executor="processes" importing a script without a main guard: it ends here,
            # silently; its runner reports the cause once (pyrbm.scan.executors.Processes)
            raise SystemExit(1)
        if isinstance(func, str):
            if func not in BUILTIN:
                raise ValueError(f"func: expected one of {', '.join(map(repr, BUILTIN))} or a callable, got {func!r}")
            func = BUILTIN[func]
        if not callable(func):
            raise TypeError(f"func: expected a point function func(params, out, **inputs), got {func!r}")
        inputs = {} if inputs is None else dict(inputs)
        bad = sorted(set(inputs) & _RESERVED)
        if bad:
            raise ValueError(f"inputs: names {bad} are reserved; rename them (e.g. 'data')")
        check = getattr(func, "check", None)
        if check is not None:
            problems = []
            for p in self.points:
                try:
                    check(p.params)
                except ConfigError as err:
                    problems += [f"{p.name}: {msg}" for msg in err.problems]
            if problems:
                raise ConfigError(problems)
        self.root.mkdir(parents=True, exist_ok=True)
        with _worker.runner_lock(self.root):  # a second runner on this root is refused
            _worker.write_json(self.root / "scan.json", {"grid": self.grid, "fixed": self.fixed,
                                                          "func": getattr(func, "__name__", "point")}, sort_keys=False)
            self.clean()
            summary = RunSummary(str(self.root))
            state = self.status()
            pending = [(p.name, p.params) for p in self.points if state[p.name] != "done"]
            params = dict(pending)
            summary.skipped = len(self.points) - len(pending)
            if pending:
                be = backend(executor, func, inputs, workers)  # a pool that cannot start is reported here
                bar = _bar(progress, len(pending))
                try:
                    for info in be.run(self.root, pending):
                        key = {"done": "done", "skipped": "skipped"}.get(info["status"], "failed")
                        setattr(summary, key, getattr(summary, key) + 1)
                        if key == "failed":
                            summary.errors[info["name"]] = info.get("error", "")
                            if info.get("unrecorded"):  # the worker died: its error.txt is written here
                                _worker.record_failure(self.root, info["name"], params[info["name"]], info["error"])
                        if bar is not None:
                            bar.update(1)
                            bar.set_postfix(done=summary.done, failed=summary.failed)
                finally:
                    if bar is not None:
                        bar.close()
                    be.close()
        summary.seconds = time.perf_counter() - start
        print(summary, file=sys.stderr)
        return summary

    # ------------------------------------------------------------------ collect
    def collect(self, *, reduce=None, lazy: bool | None = None, missing: str = "nan") -> xr.Dataset:
        """Merge the results into one dataset with the grid keys as leading dims.

        Parameters
        ----------
        reduce : callable, optional
            ``ds -> ds`` applied to every point's result first (e.g. keep the last epoch,
            average over chains) — needed when results differ in shape beyond what NaN
            padding can align. Without it, dims of different lengths (``mode`` for
            different ``n_hidden``) are padded with NaN (outer join).
        lazy : bool, optional
            Open the results as dask arrays instead of reading them; default when the
            result files exceed 256 MiB together.
        missing : {"nan", "raise"}
            Points not done (failed, pending) filled with NaN, or refused.

        Returns
        -------
        xarray.Dataset
            Dims ``(*grid, ...)``; coordinates the grid values; attrs: the attrs shared by
            every point, ``fixed_<key>`` for the fixed parameters, ``n_missing``.
        """
        if missing not in ("nan", "raise"):
            raise ValueError(f"missing: expected 'nan' or 'raise', got {missing!r}")
        if reduce is not None and not callable(reduce):
            raise TypeError(f"reduce: expected a function ds -> ds, got {reduce!r}")
        files = {p.name: self.path(p) / RESULT for p in self.points}
        absent = [n for n, f in files.items() if not f.is_file()]
        if absent and (missing == "raise" or len(absent) == len(files)):
            raise FileNotFoundError(f"{len(absent)} of {len(files)} points of {self.root} have no result "
                                    f"(first: {absent[0]}); run the scan first (failed points: see error.txt)")
        if lazy is None:
            lazy = sum(f.stat().st_size for f in files.values() if f.is_file()) > LAZY_BYTES
        results = {}
        for p in self.points:
            if p.name in absent:
                continue
            ds = _open(files[p.name], lazy)
            results[p.name] = reduce(ds) if reduce is not None else ds
        template = next(iter(results.values()))
        blank = None
        keys = list(self.grid)
        # numeric settings that differ between points (e.g. a history's mp_edge) become coordinates
        names = set().union(*(r.attrs for r in results.values())) - set(keys) - {"checksum"}
        varying = sorted(k for k in names
                         if all(isinstance(r.attrs.get(k), (int, float, np.number)) for r in results.values())
                         and len({float(r.attrs[k]) for r in results.values()}) > 1)

        def cell(p: Point) -> xr.Dataset:
            nonlocal blank
            ds = results.get(p.name)
            if ds is None:
                if blank is None:
                    blank = xr.full_like(template.astype("float64", keep_attrs=True), np.nan)
                ds = blank
            # results may carry a grid key themselves (histories: n_hidden, seed as length-1 dims)
            ds = ds.squeeze([k for k in keys if k in ds.dims], drop=True)
            ds = ds.drop_vars([k for k in keys if k in ds.variables])
            ds = ds.assign_coords({k: ((), ds.attrs[k], {"long_name": k, "units": "1"}) for k in varying
                                   if k in ds.attrs})
            return ds.expand_dims({k: [p.values[k]] for k in keys})

        nested = np.empty([len(v) for v in self.grid.values()], dtype=object)
        for p in self.points:
            nested[p.index] = cell(p)
        out = xr.combine_nested(nested.tolist(), concat_dim=keys, join="outer", combine_attrs="drop_conflicts",
                                coords="different", compat="no_conflicts", data_vars="all")
        for k in ("created", "seed"):
            if k in out.attrs and k not in self.fixed:
                out.attrs.pop(k)
        out.attrs.update({f"fixed_{k}": (v if not isinstance(v, (bool, list)) else json.dumps(v))
                          for k, v in self.fixed.items() if v is not None})
        out.attrs.update(scan_root=str(self.root), n_missing=len(absent))
        return out


def _open(path: Path, lazy: bool) -> xr.Dataset:
    if kind_of(path)[0] is not None:
        ds = load(path, lazy=lazy)   # a pyrbm file: checksum verified, in its in-memory form
        return ds.chunk() if lazy else ds
    if lazy:
        return xr.open_dataset(path, engine="netcdf4", chunks={})
    with NETCDF_LOCK, xr.open_dataset(path, engine="netcdf4") as ds:
        return ds.load()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _bar(progress, total):
    show = progress if progress is not None else sys.stderr.isatty()
    if not show or total == 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="point", desc="scan", dynamic_ncols=True, leave=True)
