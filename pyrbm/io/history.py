r"""The training-history schema as code: build, validate, save, load, combine.

A history is an :class:`xarray.Dataset` with dims ``epoch`` (records) and ``mode``
(singular pairs by descending σ, labelled 1..K so ``sel(mode=1)`` is σ₁), written by
:meth:`pyrbm.Trainer.fit`. Its settings travel with it: the attributes ``n_visible``,
``n_hidden``, ``seed``, ``mp_edge`` and ``trainer_*`` (every :meth:`Trainer.settings` entry:
``trainer_lr``, ``trainer_k``, ...), and the scalar coordinates ``n_hidden`` and ``seed``.

In a file (:func:`save_history`; ``schema = "pyrbm.history/2"``) ``n_hidden`` and ``seed`` are
length-1 dimensions and ``mp_edge`` a coordinate along ``n_hidden``, so that
``xr.open_mfdataset(paths)`` combines the histories of a scan by coordinates into
``(n_hidden, seed, epoch, mode)`` (histories with ``record_params`` need equal sizes);
:func:`load_history` returns the in-memory form. The final model is stored in the group
``hamiltonian``. :func:`combine_histories` stacks any set of histories.

Every variable and coordinate has a short ``long_name`` (the label of a plot, e.g. "singular
value $\sigma$"), ``units`` (``"1"``: energies in units of k_B T at beta = 1, log likelihoods in
nats) and a ``description`` that says it in full (see :mod:`pyrbm.io.netcdf`).
"""

from __future__ import annotations

from numbers import Integral
from pathlib import Path

import numpy as np
import xarray as xr

from .._checks import check_bool, check_hamiltonian
from .netcdf import cf_problems, checked, mode_problems, open_verified, provenance_problems, stamp, write

__all__ = ["SCHEMA", "history_dataset", "validate", "save_history", "load_history", "combine_histories"]

SCHEMA = "pyrbm.history/2"
_E = " (in units of k_B T at beta = 1)"
#: The settings that become dimensions in a file (and of :func:`combine_histories`).
SETTING_DIMS = ("n_hidden", "seed")

#: name: (dims after ``epoch``, long_name, description) of every variable a history can hold
#: (``units`` is ``"1"`` for all). The ``long_name`` is the short label plots show; the
#: ``description`` says what it is in full.
_VARS = {
    "singular_value": (("mode",), r"singular value $\sigma$", "singular value sigma of the tracked mode" + _E),
    "a_tilde": (("mode",), r"visible bias $\tilde a$", "visible bias along the tracked mode, u . a" + _E),
    "b_tilde": (("mode",), r"hidden bias $\tilde b$", "hidden bias along the tracked mode, v . b" + _E),
    "saddle_energy": (("mode",), r"saddle energy $\epsilon$", "saddle energy eps = a~ b~ / sigma of the tracked mode" + _E),
    "rank": (("mode",), r"rank by $\sigma$", "rank of the tracked mode in descending sigma (1 = largest)"),
    "mode_sign": (("mode",), "mode sign", "sign of the tracked mode relative to the single-model rule "
                                          "(largest |u_i| positive)"),
    "saddle_energy_total": ((), "total saddle energy", "total saddle energy sum_k eps_k" + _E),
    "n_above_mp": ((), "modes above MP edge", "modes above the Marchenko-Pastur edge of the initialisation "
                                              "(plus 6 Tracy-Widom widths, pyrbm.spectra.count_outliers)"),
    "n_above_4T": ((), r"modes with $\sigma > 4T$", "modes with sigma_k > 4T (non-convergent in the Gaussian limit)"),
    "mode_overlap": (("mode",), "mode overlap", "signed overlap u(t) . u(t-1) of the tracked mode with the "
                                                       "previous record"),
    "reconstruction_error": ((), "reconstruction error", "mean squared error of v - sigmoid(a + W sigmoid(b + W^T v)), "
                                                         "monitored data"),
    "pseudo_log_likelihood": ((), "pseudo-log-likelihood", "N log sigmoid(F(v~) - F(v)), one fixed flipped unit per "
                                                           "monitored sample (nats)"),
    "log_likelihood": ((), "log-likelihood", "exact mean log-likelihood of the monitored data, "
                                             "Trainer(log_likelihood=True) (nats)"),
    "W": (("visible", "hidden"), "coupling W", "coupling W_ij" + _E),
    "a": (("visible",), "visible bias a", "visible bias a_i" + _E),
    "b": (("hidden",), "hidden bias b", "hidden bias b_j" + _E),
}

_COORDS = {
    "epoch": {"long_name": "epoch", "units": "1", "description": "parameter updates / updates per epoch"},
    "n_updates": {"long_name": "parameter updates", "units": "1", "description": "parameter updates so far"},
    "mode": {"long_name": "mode k", "units": "1",
             "description": "tracked singular pair, labelled by its rank at initialisation (1 = largest)"},
    "n_hidden": {"long_name": "hidden units M", "units": "1", "description": "number of hidden units M"},
    "seed": {"long_name": "seed", "units": "1", "description": "seed of the training run"},
    "mp_edge": {"long_name": "MP edge", "units": "1",
                "description": "Marchenko-Pastur edge of the initialisation" + _E},
}


def history_dataset(records, tr, N, M, n_samples, upe, mp_edge) -> xr.Dataset:
    """The history of a training run from its records (called by the Trainer).

    Parameters
    ----------
    records : list of dict
        One dict per record: ``epoch``, ``update`` and the variables of :data:`_VARS`.
    tr : pyrbm.Trainer
        Its :meth:`settings` become ``trainer_*`` attributes.
    N, M, n_samples, upe, mp_edge
        Visible and hidden sizes, training samples, updates per epoch, MP edge.
    """
    K = min(N, M)
    data_vars = {}
    for name, (dims, long_name, description) in _VARS.items():
        if name not in records[0]:
            continue
        values = np.stack([np.asarray(r[name]) for r in records])
        if name == "log_likelihood" and np.all(np.isnan(values)):
            continue  # not computed (min(N, M) too large to enumerate)
        data_vars[name] = (("epoch",) + dims, values,
                           {"long_name": long_name, "units": "1", "description": description})
    attrs = {"n_visible": N, "n_hidden": M, "n_samples": n_samples, "updates_per_epoch": upe,
             "mp_edge": float(mp_edge), "threshold_4T": 4.0, "beta": 1.0, "units": "binary"}
    attrs.update({f"trainer_{k}": v for k, v in tr.settings().items()})
    attrs["seed"] = int(tr.seed)
    coords = {"epoch": ("epoch", np.array([r["epoch"] for r in records], dtype=float), _COORDS["epoch"]),
              "n_updates": ("epoch", np.array([r["update"] for r in records], dtype=np.int64), _COORDS["n_updates"]),
              "mode": ("mode", np.arange(1, K + 1), _COORDS["mode"]),
              "n_hidden": ((), int(M), _COORDS["n_hidden"]),
              "seed": ((), int(tr.seed), _COORDS["seed"])}
    return xr.Dataset(data_vars, coords=coords, attrs=stamp(attrs, SCHEMA))


def _problems(ds: xr.Dataset) -> list[str]:
    problems = provenance_problems(ds.attrs, SCHEMA) + cf_problems(ds) + mode_problems(ds)
    if "epoch" not in ds.dims:
        problems.append(f"expected an 'epoch' dimension, got dims {tuple(ds.dims)}")
    for key in ("n_visible", "n_hidden", "seed"):
        val = ds.attrs.get(key)
        if val is None:
            problems.append(f"missing attribute {key!r} (a setting of the run)")
        elif isinstance(val, (bool, np.bool_)) or not isinstance(val, (Integral, np.integer)) or val < 0:
            problems.append(f"attribute {key!r} must be an integer >= 0, got {val!r}")
    for key in SETTING_DIMS:
        if key in ds.coords and ds[key].ndim == 0 and key in ds.attrs and int(ds[key]) != ds.attrs[key]:
            problems.append(f"coordinate {key!r} = {int(ds[key])} differs from the attribute {key!r} = {ds.attrs[key]}")
    return problems


def validate(ds: xr.Dataset) -> xr.Dataset:
    """Check a training history against the schema; return it, or raise ``ValueError`` listing every problem.

    Checked: provenance attributes (``schema`` = ``"pyrbm.history/2"``), ``long_name`` and
    ``units`` on every variable and coordinate, 1-based ``mode`` labels, an ``epoch``
    dimension, the settings ``n_visible``, ``n_hidden``, ``seed`` (integers).
    """
    return checked(ds, SCHEMA, _problems)


def _to_file_form(ds: xr.Dataset) -> xr.Dataset:
    """Scalar settings → length-1 dims (and ``mp_edge`` along ``n_hidden``) for combining by coordinates."""
    ds = ds.copy(deep=False)
    for key in SETTING_DIMS:
        if key not in ds.coords:
            ds = ds.assign_coords({key: ((), int(ds.attrs[key]), _COORDS[key])})
    ds = ds.expand_dims(list(SETTING_DIMS))
    if "mp_edge" in ds.attrs:
        ds = ds.assign_coords(mp_edge=("n_hidden", [float(ds.attrs["mp_edge"])], _COORDS["mp_edge"]))
    return ds


def _from_file_form(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.drop_vars("mp_edge", errors="ignore")
    dims = [d for d in SETTING_DIMS if d in ds.dims and ds.sizes[d] == 1]
    return ds.squeeze(dims) if dims else ds


def save_history(history: xr.Dataset, path, *, hamiltonian=None, overwrite: bool = False) -> Path:
    """Write a training history (and the model, group ``hamiltonian``) atomically, checksummed.

    Parameters
    ----------
    history : xarray.Dataset
        As returned by :meth:`pyrbm.Trainer.fit` (validated first: :func:`validate`).
    path : str or os.PathLike
    hamiltonian : pyrbm.Hamiltonian, optional
    overwrite : bool, default False

    Returns
    -------
    pathlib.Path
    """
    if not isinstance(history, xr.Dataset):
        raise TypeError(f"history: expected an xarray.Dataset, got {type(history).__name__}")
    overwrite = check_bool("overwrite", overwrite)
    ds = history.copy(deep=False)
    ds.attrs = stamp(ds.attrs, SCHEMA)
    validate(ds)
    groups = {"": _to_file_form(ds)}
    if hamiltonian is not None:
        groups["hamiltonian"] = check_hamiltonian(hamiltonian, "hamiltonian").to_dataset()
    return write(path, groups, overwrite=overwrite)


def load_history(path, *, lazy: bool = False, verify: bool = True) -> xr.Dataset:
    """Read a history written by :func:`save_history` (checksum verified), in its in-memory form."""
    return _from_file_form(open_verified(path, lazy=lazy, verify=verify, schema=SCHEMA))


def combine_histories(paths) -> xr.Dataset:
    """Stack the histories of a scan by their settings ``n_hidden`` and ``seed``.

    Parameters
    ----------
    paths : sequence of path-like
        History files (from :func:`pyrbm.train_replicas` or :func:`save_history`).

    Returns
    -------
    xarray.Dataset
        Dims ``(n_hidden, seed, epoch, mode)`` with coordinates ``n_hidden``, ``seed`` and
        ``mp_edge(n_hidden)``; padded with NaN where a (n_hidden, seed) pair is missing or
        sizes differ (mode, epoch). Variables with ``visible``/``hidden`` dims are dropped.
        Attributes common to all files are kept.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("paths: expected at least one history file")
    parts, seen = [], {}
    for p in paths:
        with open_verified(p, lazy=False, verify=True, schema=SCHEMA) as ds:
            ds = ds.load()
        ds = ds.drop_vars([v for v in ds.data_vars if {"visible", "hidden"} & set(ds[v].dims)])
        ds = ds.reset_coords("n_updates", drop=True)
        key = (int(ds["n_hidden"].item()), int(ds["seed"].item()))
        if key in seen:
            raise ValueError(f"paths: {seen[key]} and {p} are both the history of n_hidden={key[0]}, seed={key[1]}")
        seen[key] = p
        parts.append(ds)
    out = xr.merge(parts, join="outer", compat="no_conflicts", combine_attrs="drop_conflicts")
    out.attrs = {k: v for k, v in out.attrs.items() if k not in ("created", "mp_edge") + SETTING_DIMS}
    out.attrs["schema"] = SCHEMA
    return out.transpose(*SETTING_DIMS, ...)
