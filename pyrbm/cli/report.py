"""``pyrbm report`` (summary and figures of a run or scan) and ``pyrbm info`` (what a file holds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from ..hamiltonian import Hamiltonian
from ..io import load, read_model
from ..io.model import GROUP as MODEL_GROUP
from ..io.model import SCHEMA as MODEL_SCHEMA
from ..io.netcdf import NETCDF_LOCK, atomic_path, kind_of
from .._optional import require
from ..scan import RESULT, ConfigError, Scan

__all__ = ["report", "info", "describe", "epoch_table"]

_PROVENANCE = ("schema", "pyrbm_version", "created", "sampler", "seed", "beta", "units", "n_visible", "n_hidden",
               "n_chains", "n_steps", "thin", "burn_in", "dt", "n_samples", "updates_per_epoch")


def _result_file(path: Path) -> Path:
    if path.is_dir():
        if not (path / RESULT).is_file():
            raise ConfigError([f"path: {path} holds no {RESULT}; is it a finished run directory?"])
        return path / RESULT
    if not path.is_file():
        raise ConfigError([f"path: no file or directory at {path}"])
    return path


def _open(path: Path) -> xr.Dataset:
    try:
        if kind_of(path)[0] is not None:
            obj = load(path)      # a pyrbm file: verified, in its in-memory form
            return obj.to_dataset() if isinstance(obj, Hamiltonian) else obj
        with NETCDF_LOCK, xr.open_dataset(path, engine="netcdf4") as ds:
            return ds.load()
    except (OSError, ValueError) as err:
        raise ConfigError([f"path: {path} is not a readable netCDF file ({err})"]) from None


def _model_lines(path: Path) -> list:
    schema, groups = kind_of(path)
    if schema != MODEL_SCHEMA and MODEL_GROUP not in groups:
        return ["model: none stored"]
    ham = read_model(path)
    s = ham.modes.s
    return [f"model: N={ham.n_visible} visible x M={ham.n_hidden} hidden, beta={ham.beta:g}, units={ham.units}",
            f"  top singular values: {', '.join(f'{x:.4g}' for x in s[:5])}; "
            f"modes with sigma > 4T: {int(np.count_nonzero(ham.stable_modes() == 0))}"]


def describe(path) -> str:
    """A text description of a pyrbm file: schema, dims, variables, model, how it was made."""
    path = _result_file(Path(path))
    ds = _open(path)
    lines = [f"file: {path} ({path.stat().st_size / 1024:.1f} KiB)",
             f"schema: {ds.attrs.get('schema', '(none: not written by pyrbm)')}",
             "dims: " + ", ".join(f"{k}={v}" for k, v in ds.sizes.items()),
             "variables:"]
    for name, var in ds.data_vars.items():
        text = var.attrs.get("description", var.attrs.get("long_name", ""))
        lines.append(f"  {name} ({', '.join(var.dims)}) {var.dtype}  {text}".rstrip())
    lines += _model_lines(path)
    made = {k: ds.attrs[k] for k in _PROVENANCE if k in ds.attrs}
    made.update({k: v for k, v in ds.attrs.items() if k.startswith(("trainer_", "sampler_"))})
    lines.append("made by: " + ", ".join(f"{k}={v}" for k, v in made.items()))
    params = path.parent / "params.json"
    if params.is_file():
        lines.append("parameters (params.json): " + params.read_text().replace("\n", " ").strip())
    return "\n".join(lines)


def info(*paths) -> int:
    """Print :func:`describe` of every path (a blank line between); every path is checked first."""
    missing = [f"path: no file or directory at {p}" for p in paths if not Path(p).exists()]
    if missing:
        raise ConfigError(missing)
    print("\n\n".join(describe(p) for p in paths))
    return 0


def epoch_table(history: xr.Dataset, top: int = 1) -> str:
    """The training history as a text table, one row per record.

    Columns: ``epoch``; ``sigma_1`` (the largest singular value at that record, whichever
    tracked mode holds it; ``top > 1`` lists the ``top`` largest, ``sigma_1..top``);
    ``>MP`` and ``>4T`` (modes above the Marchenko-Pastur edge of the initialisation and
    above 4T); ``recon`` (reconstruction error) and ``PLL`` (pseudo-log-likelihood, nats),
    both on the monitored data.
    """
    head = "sigma_1" if top == 1 else f"sigma_1..{top}"
    width = max(len(head), 7 * top - 1)
    lines = [f"{'epoch':>7} {head:>{width}} {'>MP':>4} {'>4T':>4} {'recon':>8} {'PLL':>9}"]
    sv = np.sort(history.singular_value.values, axis=1)[:, ::-1][:, :top]
    for i in range(history.sizes["epoch"]):
        r = history.isel(epoch=i)
        sig = " ".join(f"{x:6.3f}" for x in sv[i])
        lines.append(f"{float(r.epoch):7.2f} {sig:>{width}} {int(r.n_above_mp):4d} {int(r.n_above_4T):4d} "
                     f"{float(r.reconstruction_error):8.5f} {float(r.pseudo_log_likelihood):9.2f}")
    return "\n".join(lines) + "\n"


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path, overwrite=True) as tmp:
        Path(tmp).write_text(text)


def _savefig(fig, path: Path) -> None:
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False) if matplotlib.get_backend().lower() != "agg" else None
    import matplotlib.pyplot as plt

    return plt


def _run_summary(ds: xr.Dataset, path: Path) -> list:
    lines = [describe(path), ""]
    if "singular_value" in ds and "epoch" in ds.dims:
        last = ds.isel(epoch=-1)
        lines.append(f"training: {ds.sizes['epoch'] - 1} records after initialisation, final epoch "
                     f"{float(ds.epoch[-1]):g}")
        top = -np.sort(-last.singular_value.values)[:8]  # labels are identities: sort to get σ_1 ≥ σ_2 ≥ …
        lines.append("  final singular values (largest first): " + ", ".join(f"{x:.4g}" for x in top))
        for var in ("n_above_mp", "n_above_4T", "reconstruction_error", "pseudo_log_likelihood", "log_likelihood"):
            if var in last:
                lines.append(f"  {var}: {float(last[var]):.6g}")
    for var in ("energy", "free_energy", "m_visible"):
        if var in ds and "step" in ds[var].dims:
            v = ds[var]
            lines.append(f"{var}: mean {float(v.mean()):.6g}, std {float(v.std()):.4g} over "
                         f"{ds.sizes['step']} records x {ds.sizes.get('chain', 1)} chains")
    return lines


def _run_figures(ds: xr.Dataset, out: Path, plt) -> list:
    written = []
    if "singular_value" in ds and "epoch" in ds.dims:
        fig, ax = plt.subplots(figsize=(6, 4))
        sv = ds.rbm.by_rank().singular_value if "rank" in ds and "mode_overlap" in ds else ds.singular_value
        dim = "rank" if "rank" in sv.dims else "mode"
        for k in range(min(sv.sizes[dim], 10)):
            ax.plot(ds.epoch, sv.isel({dim: k}), lw=1)
        ax.axhline(4.0, color="k", ls="--", lw=0.8, label="4T")
        ax.set(xlabel="epoch", ylabel="singular value", title="training: top singular values")
        ax.legend()
        written.append(out / "singular_values.png")
        _savefig(fig, written[-1])
        plt.close(fig)
    series = [v for v in ("energy", "x") if v in ds and "step" in ds[v].dims]
    if series:
        var = ds[series[0]]
        fig, ax = plt.subplots(figsize=(6, 4))
        other = [d for d in var.dims if d != "step"]
        mean = var.mean(other)
        ax.plot(ds.step, mean)
        ax.set(xlabel="step", ylabel=f"mean {series[0]}", title=f"{series[0]} over the run")
        written.append(out / f"{series[0]}.png")
        _savefig(fig, written[-1])
        plt.close(fig)
    return written


def _scan_report(root: Path, out: Path, plt) -> tuple[list, list]:
    scan = Scan.open(root)
    status = scan.status()
    counts = {s: sum(1 for v in status.values() if v == s) for s in ("done", "failed", "pending")}
    lines = [f"scan: {root}, {len(scan)} points ({', '.join(f'{v} {k}' for k, v in counts.items())})",
             "grid: " + ", ".join(f"{k}={v}" for k, v in scan.grid.items()),
             "fixed: " + json.dumps(scan.fixed, sort_keys=True), ""]
    for p in scan.points:
        line = f"  {p.name}: {status[p.name]}"
        if status[p.name] == "failed":
            err = (scan.path(p) / "error.txt").read_text().strip().splitlines()
            line += f" ({err[-1] if err else ''})"
        lines.append(line)
    written = []
    if counts["done"]:
        ds = scan.collect(reduce=lambda d: d.isel(epoch=-1) if "epoch" in d.dims else d)
        key = next(iter(scan.grid))
        for var in ("singular_value", "reconstruction_error", "energy"):
            if var not in ds:
                continue
            da = ds[var]
            if "mode" in da.dims:  # σ_1 = the largest at the final record (mode labels are identities)
                da = da.max("mode") if var == "singular_value" else da.isel(mode=0)
            extra = [d for d in da.dims if d not in scan.grid]
            if extra:
                da = da.mean(extra)
            lines.append(f"{var}{' (largest, sigma_1)' if var == 'singular_value' else ''}, final, by {key}: "
                         + ", ".join(f"{v}: {float(da.sel({key: v}).mean()):.5g}" for v in scan.grid[key]))
            if plt is not None:
                fig, ax = plt.subplots(figsize=(6, 4))
                rest = [d for d in da.dims if d != key]
                flat = da.stack(curve=rest) if rest else da.expand_dims(curve=[0])
                for i in range(flat.sizes["curve"]):
                    ax.plot(scan.grid[key], flat.isel(curve=i).values, "o-", lw=1)
                ax.set(xlabel=key, ylabel=var, title=f"scan: final {var} by {key}")
                written.append(out / f"scan_{var}.png")
                _savefig(fig, written[-1])
                plt.close(fig)
    return lines, written


def report(path, out=None) -> int:
    """Write ``summary.txt`` and figures for a run directory, a result file or a scan directory;
    for a study of ``simulations/paper.py`` (``study.json``), every figure and ``report.md``."""
    require("matplotlib", purpose="pyrbm report")
    path = Path(path)
    if not path.exists():
        raise ConfigError([f"path: no file or directory at {path}"])
    if path.is_dir() and (path / "study.json").is_file():
        from ..report import write_report

        written = write_report(path, out=out)
        print(f"pyrbm report: wrote {written}")
        return 0
    out = Path(out) if out is not None else (path if path.is_dir() else path.parent) / "report"
    plt = _pyplot()
    if path.is_dir() and (path / "scan.json").is_file():
        out.mkdir(parents=True, exist_ok=True)
        lines, written = _scan_report(path, out, plt)
    else:
        result = _result_file(path)
        ds = _open(result)
        lines = _run_summary(ds, result)
        out.mkdir(parents=True, exist_ok=True)
        written = _run_figures(ds, out, plt)
    lines.append("figures: " + (", ".join(str(w) for w in written) if written else "none"))
    text = "\n".join(lines) + "\n"
    _write_text(out / "summary.txt", text)
    print(text, end="")
    print(f"pyrbm report: wrote {out / 'summary.txt'}")
    return 0
