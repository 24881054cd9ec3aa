r"""Training histories: the per-record reciprocal-space summary of a training run.

A history is an :class:`xarray.Dataset` with dims ``epoch`` (records) and ``mode``
(singular pairs by descending σ), written by :meth:`pyrbm.Trainer.fit`; files carry the
final model in the group ``hamiltonian``.  :func:`combine_histories` stacks replicas.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np
import xarray as xr

from . import __version__
from ._io import check_writable
from .trajectory import write_netcdf

__all__ = ["SCHEMA", "history_dataset", "save_history", "combine_histories"]

SCHEMA = "pyrbm.history/1"

_VARS = {
    "singular_value": (("mode",), "singular value sigma of the tracked mode", "energy"),
    "a_tilde": (("mode",), "visible bias along the tracked mode, u . a", "energy"),
    "b_tilde": (("mode",), "hidden bias along the tracked mode, v . b", "energy"),
    "saddle_energy": (("mode",), "saddle energy eps = a~ b~ / sigma of the tracked mode", "energy"),
    "rank": (("mode",), "rank of the tracked mode in descending sigma (1 = largest)", "1"),
    "mode_sign": (("mode",), "sign of the tracked mode relative to the single-model rule "
                             "(largest |u_i| positive)", "1"),
    "saddle_energy_total": ((), "total saddle energy sum_k eps_k", "energy"),
    "n_above_mp": ((), "modes above the Marchenko-Pastur edge of the initialisation "
                       "(plus 6 Tracy-Widom widths, pyrbm.spectra.count_outliers)", "1"),
    "n_above_4T": ((), "modes with sigma_k > 4T (non-convergent in the Gaussian limit)", "1"),
    "mode_overlap": (("mode",), "signed overlap u(t) . u(t-1) of the tracked mode with the "
                                "previous record", "1"),
    "reconstruction_error": ((), "mean squared error of v - sigmoid(a + W sigmoid(b + W^T v)), monitored data", "1"),
    "pseudo_log_likelihood": ((), "N log sigmoid(F(v~) - F(v)), one fixed flipped unit per monitored sample", "nats"),
    "log_likelihood": ((), "exact mean log-likelihood of the monitored data (Trainer(log_likelihood=True))", "nats"),
    "W": (("visible", "hidden"), "coupling W_ij", "energy"),
    "a": (("visible",), "visible bias a_i", "energy"),
    "b": (("hidden",), "hidden bias b_j", "energy"),
}


def history_dataset(records, tr, N, M, n_samples, upe, mp_edge) -> xr.Dataset:
    K = min(N, M)
    data_vars = {}
    for name, (dims, long_name, units) in _VARS.items():
        if name not in records[0]:
            continue
        values = np.stack([np.asarray(r[name]) for r in records])
        if name == "log_likelihood" and np.all(np.isnan(values)):
            continue  # not computed (min(N, M) too large to enumerate)
        data_vars[name] = (("epoch",) + dims, values, {"long_name": long_name, "units": units})
    attrs = {"schema": SCHEMA, "pyrbm_version": __version__,
             "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
             "n_visible": N, "n_hidden": M, "n_samples": n_samples, "updates_per_epoch": upe,
             "mp_edge": float(mp_edge), "threshold_4T": 4.0, "beta": 1.0, "units": "binary"}
    attrs.update({f"trainer_{k}": v for k, v in tr.settings().items()})
    attrs["seed"] = tr.seed
    return xr.Dataset(
        data_vars,
        coords={"epoch": ("epoch", np.array([r["epoch"] for r in records], dtype=float),
                          {"long_name": "epoch (updates / updates per epoch)"}),
                "n_updates": ("epoch", np.array([r["update"] for r in records], dtype=np.int64),
                           {"long_name": "parameter updates so far"}),
                "mode": ("mode", np.arange(K), {"long_name": "singular pair, by descending sigma"})},
        attrs=attrs)


def save_history(history: xr.Dataset, path, hamiltonian=None, overwrite: bool = False) -> Path:
    """Write a training history (and optionally the model, group ``hamiltonian``) atomically."""
    return write_netcdf(history, check_writable(path, overwrite), hamiltonian, overwrite)


def combine_histories(paths) -> xr.Dataset:
    """Stack histories of several replicas along ``n_hidden`` and ``replica``.

    Parameters
    ----------
    paths : sequence of path-like
        History files (from :func:`train_replicas` or :func:`save_history`).

    Returns
    -------
    xarray.Dataset
        Dims ``(n_hidden, replica, epoch, mode)``; ``replica`` indexes the seeds of each
        hidden size in the order given, with coordinate ``seed(n_hidden, replica)`` (-1 where
        a size has fewer replicas). The mode axis (and the epoch axis) are padded with NaN
        where sizes differ; variables with ``visible``/``hidden`` dims are dropped.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("paths: expected at least one history file")
    groups: dict[int, list] = {}
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"paths: no history file at {p}")
        with xr.open_dataset(p, engine="netcdf4") as ds:
            ds = ds.load()
        if ds.attrs.get("schema") != SCHEMA:
            raise ValueError(f"paths: {p} is not a training history (schema {ds.attrs.get('schema')!r})")
        ds = ds.drop_vars([v for v in ds.data_vars if {"visible", "hidden"} & set(ds[v].dims)])
        ds = ds.reset_coords("n_updates", drop=True)
        groups.setdefault(int(ds.attrs["n_hidden"]), []).append(ds)
    sizes = sorted(groups)
    n_rep = max(len(g) for g in groups.values())
    per_size = []
    seeds = np.full((len(sizes), n_rep), -1, dtype=np.int64)
    for i, m in enumerate(sizes):
        for r, ds in enumerate(groups[m]):
            seeds[i, r] = int(ds.attrs.get("seed", -1))
        stacked = xr.concat([ds.assign_attrs({}) for ds in groups[m]], dim="replica", join="outer",
                            combine_attrs="drop")
        per_size.append(stacked)
    out = xr.concat(per_size, dim="n_hidden", join="outer", combine_attrs="drop")
    edges = [float(groups[m][0].attrs.get("mp_edge", np.nan)) for m in sizes]
    out = out.assign_coords(n_hidden=("n_hidden", sizes), replica=np.arange(n_rep),
                            seed=(("n_hidden", "replica"), seeds),
                            mp_edge=("n_hidden", edges, {"long_name": "Marchenko-Pastur edge at initialisation"}))
    first = groups[sizes[0]][0].attrs
    out.attrs = {k: v for k, v in first.items()
                 if k not in ("n_hidden", "seed", "trainer_seed", "created", "mp_edge")}
    out.attrs["schema"] = SCHEMA
    return out
