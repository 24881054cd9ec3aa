r"""Run the paper's experiments for one profile, resumably, and read the results back.

Layout of a study directory ``DIR``::

    DIR/study.json                         profile and settings of the run
    DIR/<experiment>/<point>/result.nc     one directory per point (training: + history.nc)
    DIR/work/training/M<M>_seed<s>/        checkpoints and finished epochs of the training points

A point whose ``result.nc`` exists is skipped, so rerunning the same command after an
interruption continues; the training points also resume inside a replica from their
per-epoch checkpoint. Points run serially, in a process pool or on a dask cluster.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import xarray as xr

from .._io import atomic_path
from .config import EXPERIMENTS, load_profile
from .points import POINTS, RESULT

__all__ = ["points_of", "run_study", "load_study"]


def points_of(experiment: str, cfg: dict, root: Path) -> list[tuple[str, dict]]:
    """The (name, params) of every point of one experiment's settings."""
    if experiment == "marchenko_pastur":
        return [(f"M{m}", {**cfg, "n_hidden": m}) for m in cfg["n_hidden"]]
    if experiment == "kurtosis":
        pts = [(f"N{n}", {**cfg, "n_visible": n}) for n in cfg["n_visible"]]
        return pts + [("histograms", {**cfg, "n_visible": cfg["hist_n_visible"], "n_hidden": cfg["hist_n_hidden"],
                                      "hist": True})]
    if experiment == "training":
        work = str(Path(root) / "work" / "training")
        return [(f"M{m}_seed{s}", {**{k: v for k, v in cfg.items() if k != "seeds"}, "n_hidden": m, "seed": s,
                                   "work_dir": work})
                for m in cfg["n_hidden"] for s in cfg["seeds"]]
    if experiment == "langevin":
        return [(f"beta{b:g}", {**{k: v for k, v in cfg.items() if k != "betas"}, "beta": b})
                for b in cfg["betas"]]
    raise ValueError(f"experiment: expected one of {', '.join(EXPERIMENTS)}, got {experiment!r}")


def _timed(fn, params: dict, out: str) -> float:
    """Run one point; return its wall time in seconds."""
    t0 = time.perf_counter()
    fn(params, out)
    return time.perf_counter() - t0


def _executor(spec: str, workers: int | None):
    """(submit, close) for 'serial', 'processes' or a dask scheduler address."""
    if spec == "serial":
        class _Done:
            def __init__(self, fn, *a):
                self._v = fn(*a)

            def result(self):
                return self._v
        return _Done, lambda: None
    if spec == "processes":
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(max_workers=workers)
        return pool.submit, pool.shutdown
    from distributed import Client  # a dask scheduler address such as tcp://host:8786

    client = Client(spec)
    return (lambda fn, *a: client.submit(fn, *a, pure=False)), client.close


def run_study(out, *, profile: str = "quick", executor: str = "serial", workers: int | None = None,
              overrides=(), experiments=EXPERIMENTS, config_dir=None, log=print) -> dict:
    """Run (or continue) every point of ``experiments`` for ``profile`` into ``out``.

    The settings are read and checked first (:func:`pyrbm.experiments.config.load_profile`);
    nothing runs if any is invalid, or if ``out`` holds a study of another profile or settings.

    Parameters
    ----------
    out : path-like
        Study directory (created).
    profile : {"tiny", "quick", "paper"}
    executor : str
        ``"serial"``, ``"processes"`` (a local process pool of ``workers``) or the address
        of a dask scheduler (``"tcp://host:8786"``).
    overrides : sequence of str
        ``EXPERIMENT.KEY=VALUE`` settings replacing the profile's.

    Returns
    -------
    dict
        experiment -> seconds its points ran (summed over points; absent when all existed).
    """
    cfgs = load_profile(profile, config_dir=config_dir, overrides=overrides, experiments=experiments)
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    meta_path = root / "study.json"
    meta = {"profile": profile, "overrides": list(overrides), "settings": cfgs}
    if meta_path.is_file():
        old = json.loads(meta_path.read_text())
        clash = [e for e in cfgs if e in old.get("settings", {}) and old["settings"][e] != cfgs[e]]
        if clash:
            raise ValueError(f"out: {root} holds a study with other settings for {clash} (profile "
                             f"{old.get('profile')!r}); choose another directory or remove it")
        meta["settings"] = {**old.get("settings", {}), **cfgs}
    with atomic_path(meta_path, overwrite=True) as tmp:
        Path(tmp).write_text(json.dumps(meta, indent=1))
    submit, close = _executor(executor, workers)
    timings = {}
    try:
        pending = []
        for exp in cfgs:
            for name, params in points_of(exp, cfgs[exp], root):
                d = root / exp / name
                if (d / RESULT).is_file():
                    continue
                d.mkdir(parents=True, exist_ok=True)
                pending.append((exp, name, submit(_timed, POINTS[exp], params, str(d))))
        for exp, name, fut in pending:
            seconds = fut.result()
            timings[exp] = timings.get(exp, 0.0) + seconds
            log(f"{exp}/{name}: done in {seconds:.1f} s")
    finally:
        close()
    return timings


# ----------------------------------------------------------------------------- reading
def _open(path: Path) -> xr.Dataset:
    return xr.load_dataset(path, engine="netcdf4")


def load_study(root) -> dict:
    """Read a study directory into datasets for the figures and the report.

    Returns
    -------
    dict
        ``profile``, ``settings`` and, for each experiment present:
        ``marchenko_pastur`` {M: Dataset}; ``kurtosis`` Dataset (n_visible, replica) with the
        fit, ``kurtosis_hist`` Dataset; ``training`` {(M, seed): (history, result)},
        ``histories`` (combined, dims n_hidden, replica, epoch, mode), ``results`` (the
        per-epoch measurements stacked over n_hidden, replica); ``langevin`` {beta: Dataset}.
    """
    from ..history import combine_histories

    root = Path(root)
    if not (root / "study.json").is_file():
        raise FileNotFoundError(f"root: {root} is not a study directory (no study.json); run "
                                "simulations/paper.py --out DIR first")
    meta = json.loads((root / "study.json").read_text())
    study = {"profile": meta["profile"], "settings": meta["settings"], "root": root}
    cfg = meta["settings"]
    if "marchenko_pastur" in cfg:
        study["marchenko_pastur"] = {m: _open(root / "marchenko_pastur" / f"M{m}" / RESULT)
                                     for m in cfg["marchenko_pastur"]["n_hidden"]
                                     if (root / "marchenko_pastur" / f"M{m}" / RESULT).is_file()}
    if "kurtosis" in cfg:
        parts = [_open(root / "kurtosis" / f"N{n}" / RESULT) for n in cfg["kurtosis"]["n_visible"]
                 if (root / "kurtosis" / f"N{n}" / RESULT).is_file()]
        if len(parts) >= 2:
            study["kurtosis"] = _kurtosis_fit(parts)
        h = root / "kurtosis" / "histograms" / RESULT
        if h.is_file():
            study["kurtosis_hist"] = _open(h)
    if "training" in cfg:
        t = cfg["training"]
        runs = {}
        for m in t["n_hidden"]:
            for s in t["seeds"]:
                d = root / "training" / f"M{m}_seed{s}"
                if (d / RESULT).is_file():
                    runs[(m, s)] = (_open(d / "history.nc"), _open(d / RESULT))
        if runs:
            study["training"] = runs
            study["histories"] = combine_histories([root / "training" / f"M{m}_seed{s}" / "history.nc"
                                                    for m, s in runs])
            study["results"] = _stack_results(runs)
    if "langevin" in cfg:
        study["langevin"] = {b: _open(root / "langevin" / f"beta{b:g}" / RESULT) for b in cfg["langevin"]["betas"]
                             if (root / "langevin" / f"beta{b:g}" / RESULT).is_file()}
    return study


def _kurtosis_fit(parts) -> xr.Dataset:
    ds = xr.concat(parts, dim="n_visible", combine_attrs="drop")
    n = np.array([p.attrs["n_visible"] for p in parts], dtype=np.int64)
    ds = ds.assign_coords(n_visible=n)
    ds["theory"] = ("n_visible", 3.0 - 6.0 / (n + 2.0), {"long_name": "Haar mean 3 - 6/(N+2)"})
    X = np.stack([np.ones(n.size), 1.0 / n], axis=1)
    for src in ("exact", "sampled"):
        y = ds[f"kurtosis_{src}"].transpose("n_visible", "replica").values
        coefs = np.array([np.linalg.lstsq(X, y[:, r], rcond=None)[0] for r in range(y.shape[1])])
        ds[f"fit_intercept_{src}"] = ("replica", coefs[:, 0], {"long_name": "intercept of kurtosis vs 1/N"})
        ds[f"fit_slope_{src}"] = ("replica", coefs[:, 1], {"long_name": "slope of kurtosis vs 1/N"})
    ds.attrs = {"n_hidden": int(parts[0].attrs["n_hidden"])}
    return ds


def _stack_results(runs) -> xr.Dataset:
    keep = ["u_mean", "u_std", "w_mean", "w_std", "u_saddle", "w_saddle", "u_uniform", "w_uniform", "js",
            "ll_exact", "ll_ais", "ll_ais_std", "ll_reverse_ais", "ll_reverse_ais_std", "hamming_probe_top",
            "hamming_probe_mid"]
    sizes = sorted({m for m, _ in runs})
    per = []
    for m in sizes:
        reps = [runs[k][1][[v for v in keep if v in runs[k][1]]] for k in sorted(runs) if k[0] == m]
        per.append(xr.concat([r.assign_attrs({}) for r in reps], dim="replica", join="outer",
                             combine_attrs="drop"))
    out = xr.concat(per, dim="n_hidden", join="outer", combine_attrs="drop")
    return out.assign_coords(n_hidden=sizes, replica=np.arange(out.sizes["replica"]))
