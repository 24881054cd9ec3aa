r"""Run the paper's experiments for one profile, resumably, and read the results back.

Layout of a study directory ``DIR``::

    DIR/study.json                               profile and settings of the run
    DIR/<experiment>[/<part>]/scan.json          one pyrbm.scan.Scan per experiment (part)
    DIR/<experiment>[/<part>]/<point>/result.nc  one directory per point (training: + history.nc)
    DIR/training/_work/M<M>_seed<s>/             checkpoints and finished epochs of training points

A point whose ``result.nc`` exists is skipped, so rerunning the same command after an
interruption continues; the training points also resume inside a replica from their
per-epoch checkpoint. Points run serially, in a process pool or on a dask cluster
(:meth:`pyrbm.scan.Scan.run`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from ..io.history import combine_histories, load_history
from ..io.netcdf import atomic_path
from ..scan import Scan
from ..symmetry import align_replicas, fit_kurtosis_scaling
from .config import EXPERIMENTS, load_profile
from .points import POINTS
from .results import RESULT, read_dataset

__all__ = ["scans_of", "run_study", "load_study"]


def scans_of(experiment: str, cfg: dict) -> list[tuple[str, dict, dict]]:
    """The scans of one experiment's settings: ``(sub-directory, grid, fixed)`` each."""
    def rest(*drop):
        return {k: v for k, v in cfg.items() if k not in drop}

    if experiment == "marchenko_pastur":
        return [("", {"n_hidden": cfg["n_hidden"]}, rest("n_hidden"))]
    if experiment == "kurtosis":
        hist = {**rest("n_visible", "n_hidden", "hist_n_visible", "hist_n_hidden"), "n_hidden": cfg["hist_n_hidden"],
                "hist": True}
        return [("scaling", {"n_visible": cfg["n_visible"]}, rest("n_visible")),
                ("histograms", {"n_visible": [cfg["hist_n_visible"]]}, hist)]
    if experiment == "training":
        return [("", {"n_hidden": cfg["n_hidden"], "seed": cfg["seeds"]}, rest("n_hidden", "seeds"))]
    if experiment == "divergence":
        fixed = rest("betas", "singular_values")
        fixed["singular_values"] = ",".join(repr(float(x)) for x in cfg["singular_values"])
        return [("", {"beta": [float(b) for b in cfg["betas"]]}, fixed)]
    raise ValueError(f"experiment: expected one of {', '.join(EXPERIMENTS)}, got {experiment!r}")


def run_study(out, *, profile: str = "quick", executor="serial", workers: int | None = None,
              overrides=(), experiments=EXPERIMENTS, config_dir=None, progress: bool | None = False) -> dict:
    """Run (or continue) every point of ``experiments`` for ``profile`` into ``out``.

    The settings are read and checked first (:func:`pyrbm.experiments.config.load_profile`);
    nothing runs if any is invalid, or if ``out`` holds a study of other settings. Each
    experiment is one or two :class:`pyrbm.scan.Scan` in ``out/<experiment>[/<part>]``.

    Parameters
    ----------
    out : path-like
        Study directory (created).
    profile : {"tiny", "quick", "paper"}
    executor : str or executor
        As :meth:`pyrbm.scan.Scan.run`: ``"serial"``, ``"processes"``, ``"dask"`` (a local
        cluster), a dask scheduler address (``"tcp://host:8786"``) or a client.
    workers : int, optional
        Worker processes of ``"processes"`` and ``"dask"``.
    overrides : sequence of str
        ``EXPERIMENT.KEY=VALUE`` settings replacing the profile's.

    Returns
    -------
    dict
        experiment -> seconds its scans ran (absent when every point existed).

    Raises
    ------
    RuntimeError
        Some points failed (each failed point keeps its traceback in ``error.txt``).
    """

    cfgs = load_profile(profile, config_dir=config_dir, overrides=overrides, experiments=experiments)
    root = Path(out)
    meta_path = root / "study.json"
    meta = {"profile": profile, "overrides": list(overrides), "settings": cfgs}
    if meta_path.is_file():
        old = json.loads(meta_path.read_text())
        clash = [e for e in cfgs if e in old.get("settings", {}) and old["settings"][e] != cfgs[e]]
        if clash:
            raise ValueError(f"out: {root} holds a study with other settings for {clash} (profile "
                             f"{old.get('profile')!r}); choose another directory or remove it")
        meta["settings"] = {**old.get("settings", {}), **cfgs}
    root.mkdir(parents=True, exist_ok=True)
    with atomic_path(meta_path, overwrite=True) as tmp:
        Path(tmp).write_text(json.dumps(meta, indent=1))
    timings, failed = {}, []
    for exp, cfg in cfgs.items():
        for sub, grid, fixed in scans_of(exp, cfg):
            summary = Scan(root / exp / sub, grid, fixed).run(POINTS[exp], executor=executor, workers=workers,
                                                             progress=progress)
            if summary.done:
                timings[exp] = timings.get(exp, 0.0) + summary.seconds
            if not summary.ok:
                failed.append(str(summary))
    if failed:
        raise RuntimeError("some points failed:\n" + "\n".join(failed))
    return timings


# ----------------------------------------------------------------------------- reading
def load_study(root) -> dict:
    """Read a study directory into datasets for the figures and the report.

    Returns
    -------
    dict
        ``profile``, ``settings`` and, for each experiment present:
        ``marchenko_pastur`` {M: Dataset}; ``kurtosis`` Dataset (n_visible, replica) with the
        fit, ``kurtosis_hist`` Dataset; ``training`` {(M, seed): (history, result)},
        ``histories`` (combined, dims n_hidden, replica, epoch, mode; ``replica`` holds the
        seeds), ``results`` (the per-epoch measurements stacked over n_hidden, replica); ``divergence`` {beta: Dataset} (:func:`pyrbm.divergence_rates`).
    """

    root = Path(root)
    if not (root / "study.json").is_file():
        raise FileNotFoundError(f"root: {root} is not a study directory (no study.json); run "
                                "simulations/paper.py --out DIR first")
    meta = json.loads((root / "study.json").read_text())
    study = {"profile": meta["profile"], "settings": meta["settings"], "root": root}
    cfg = meta["settings"]

    def points(exp, sub=""):
        d = root / exp / sub
        if not (d / "scan.json").is_file():
            return []
        scan = Scan.open(d)
        return [(p.values, scan.path(p)) for p in scan.points if (scan.path(p) / RESULT).is_file()]

    if "marchenko_pastur" in cfg:
        study["marchenko_pastur"] = {v["n_hidden"]: read_dataset(d / RESULT) for v, d in points("marchenko_pastur")}
    if "kurtosis" in cfg:
        parts = [read_dataset(d / RESULT) for _, d in points("kurtosis", "scaling")]
        if len(parts) >= 2:
            study["kurtosis"] = _kurtosis_fit(parts)
        for _, d in points("kurtosis", "histograms"):
            study["kurtosis_hist"] = read_dataset(d / RESULT)
    if "training" in cfg:
        found = {(v["n_hidden"], v["seed"]): d for v, d in points("training")}
        runs = {k: (load_history(d / "history.nc"), read_dataset(d / RESULT)) for k, d in sorted(found.items())}
        if runs:
            study["training"] = runs
            hist = combine_histories([found[k] / "history.nc" for k in sorted(found)])
            study["histories"] = hist.rename(seed="replica")
            study["results"] = _stack_results(runs)
    if "divergence" in cfg:
        study["divergence"] = {v["beta"]: read_dataset(d / RESULT) for v, d in points("divergence")}
    return study


def _kurtosis_fit(parts) -> xr.Dataset:
    """Stack the kurtosis points over n_visible and fit each replica (:func:`pyrbm.symmetry.fit_kurtosis_scaling`)."""

    ds = xr.concat(parts, dim="n_visible", combine_attrs="drop")
    n = np.array([p.attrs["n_visible"] for p in parts], dtype=np.int64)
    ds = ds.assign_coords(n_visible=n)
    ds["theory"] = ("n_visible", 3.0 - 6.0 / (n + 2.0), {"long_name": "Haar mean 3 - 6/(N+2)", "units": "1"})
    for src in ("exact", "sampled"):
        fit = fit_kurtosis_scaling(n, ds[f"kurtosis_{src}"].transpose("n_visible", "replica").values)
        for k in fit.data_vars:
            ds[f"{k}_{src}"] = fit[k]
    ds.attrs = {"n_hidden": int(parts[0].attrs["n_hidden"])}
    return ds


def _stack_results(runs) -> xr.Dataset:
    """Per-epoch measurements stacked over (n_hidden, replica), modes matched and signs fixed
    against the first replica of each size (:func:`pyrbm.symmetry.align_replicas`)."""

    keep = ["u_mean", "u_std", "w_mean", "w_std", "u_saddle", "w_saddle", "u_uniform", "w_uniform", "sign",
            "singular_value", "U", "V", "js", "hamming_probe_top", "hamming_probe_mid"]
    keep += sorted({v for _, r in runs.values() for v in r.data_vars if v.startswith("ll_")})
    sizes = sorted({m for m, _ in runs})
    seeds = sorted({s for _, s in runs})
    per = []
    for m in sizes:
        reps = [runs[k][1][[v for v in keep if v in runs[k][1]]] for k in sorted(runs) if k[0] == m]
        stacked = xr.concat([r.assign_attrs({}) for r in reps], dim="replica", join="outer", combine_attrs="drop")
        per.append(align_replicas(stacked).drop_vars(["U", "V"]))
    out = xr.concat(per, dim="n_hidden", join="outer", combine_attrs="drop")
    return out.assign_coords(n_hidden=sizes, replica=seeds[:out.sizes["replica"]])
