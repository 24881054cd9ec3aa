"""Replicas (hidden size x seed) of one training setup: the scan behind ``train_replicas``."""

from __future__ import annotations

import hashlib

import numpy as np

from .core import Scan
from .points import POINTS, RESULT, _trainer_keys

__all__ = ["replicas", "train_replicas"]


def replicas(data, *, n_hidden, seeds, trainer=None, root="runs", executor="serial", workers=None,
             progress=None):
    """Train every (hidden size, seed) pair as a :class:`Scan` with the built-in training point.

    Parameters
    ----------
    data : array_like (n_samples, N) or str
        Binary training data (passed to the workers once: scattered on dask), or a named
        source / ``.npy`` path read by each worker (``"mnist"``, ``"synthetic"``).
    n_hidden, seeds : sequence of int
        The grid: hidden sizes and one replica per seed.
    trainer : pyrbm.Trainer, optional
        Shared settings (its seed is replaced by the grid's).
    root : path-like
        Scan directory; one sub-directory per replica holding ``result.nc`` (the history
        with the final model in group ``hamiltonian``).
    executor, workers, progress
        As :meth:`Scan.run`.

    Returns
    -------
    scan : Scan
        ``scan.collect()`` stacks the histories along ``n_hidden`` and ``seed``.
    paths : list of pathlib.Path
        The result files in (n_hidden, seed) order.
    """
    fixed = {}
    if trainer is not None:
        keys = _trainer_keys()
        fixed = {k: v for k, v in trainer.settings().items() if k in keys and k != "seed"}
        if fixed.get("record_every") == 0:  # settings() writes None as 0, bools as ints
            fixed.pop("record_every")
        fixed.update({k: bool(v) for k, v in fixed.items() if k in POINTS["train"]
                      and POINTS["train"][k].kind == "bool"})
    inputs = {}
    if isinstance(data, str):
        fixed["data"] = data
    else:
        from ..datasets import validate_data

        arr = validate_data(data, name="data")
        digest = hashlib.blake2b(np.ascontiguousarray(arr).tobytes(), digest_size=8).hexdigest()
        fixed["data"] = f"array:{arr.shape[0]}x{arr.shape[1]}:{digest}"
        inputs["data"] = arr
    grid = {"n_hidden": [int(m) for m in np.atleast_1d(n_hidden)], "seed": [int(s) for s in np.atleast_1d(seeds)]}
    scan = Scan(root, grid, fixed)
    scan.run(_train_on_array if inputs else "train", executor=executor, inputs=inputs, workers=workers, progress=progress)
    return scan, [scan.path(p) / RESULT for p in scan.points]


def _train_on_array(params, out, data):
    """The built-in training point on an array input (the ``data`` key only names it)."""
    from .points import train

    return train({**params, "data": "synthetic"}, out, data=data)


def _check_array_point(params):
    from .points import train

    return train.check({**params, "data": "synthetic"})


_train_on_array.check = _check_array_point


#: ``pyrbm.train_replicas``: the replicas of one training setup, as a scan.
train_replicas = replicas
