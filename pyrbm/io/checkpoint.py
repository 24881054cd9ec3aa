"""Training checkpoints: atomic ``.npz`` files, read back and checked array by array.

A checkpoint holds everything a resumed run needs to continue bit for bit (parameters,
optimiser moments, chains and their streams, the update counter, the tracked singular
vectors of the last record and the records so far) plus a JSON ``meta`` entry (format,
settings, data fingerprint, sizes). The numba kernels index without bounds checks, so
:func:`check_state` verifies the shape, dtype and values of every array against the run
before any kernel sees them.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from .._kernels.rng import STREAM_WIDTH
from .netcdf import atomic_path

__all__ = ["CHECKPOINT_FORMAT", "MOMENT_KEYS", "load_checkpoint", "write_checkpoint",
           "check_resume", "check_state", "fingerprint"]

CHECKPOINT_FORMAT = "pyrbm.checkpoint/2"
#: Keys of the optimiser moments, in the order of :class:`pyrbm._kernels.training.Moments`.
MOMENT_KEYS = ("mW1", "mW2", "ma1", "ma2", "mb1", "mb2")


def write_checkpoint(path, arrays: dict):
    """Write ``arrays`` to ``path`` (.npz, numpy's zip of arrays) atomically."""
    with atomic_path(path, overwrite=True) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def load_checkpoint(path) -> dict:
    """Read a training checkpoint (``.npz``) written by :meth:`Trainer.fit`.

    Returns
    -------
    dict
        ``W, a, b, mW1, mW2, ma1, ma2, mb1, mb2, streams, v_neg, p_neg, update, prev_U,
        prev_V`` (tracked singular vectors of the last record), ``records, config,
        fingerprint, n_visible, n_hidden``. Shapes and dtypes are checked against a run by ``Trainer.fit``.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"resume: expected a path to a checkpoint, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"resume: no checkpoint at {path}; pass the path given as "
                                "checkpoint= to an earlier fit")
    if not zipfile.is_zipfile(path):  # else numpy would suggest allow_pickle, which must never be used here
        raise ValueError(f"resume: {path} is not a pyrbm checkpoint (an .npz archive written by "
                         f"Trainer.fit(checkpoint=...)); pass that file, or start afresh without resume")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrs = {k: z[k] for k in z.files}
        meta = json.loads(str(arrs.pop("meta")))
    except Exception as err:  # noqa: BLE001 - any reading problem means not a checkpoint
        raise ValueError(f"resume: {path} is not a readable pyrbm checkpoint ({err})") from None
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"resume: {path} has format {meta.get('format')!r}, expected "
                         f"{CHECKPOINT_FORMAT!r} (written by another pyrbm version); start afresh")
    try:
        n_rec = int(meta["n_records"])
        records = [{} for _ in range(n_rec)]
        for key in meta["record_keys"]:
            stacked = arrs.pop("rec__" + key)
            if stacked.shape[:1] != (n_rec,):
                raise ValueError(f"record {key!r} holds {stacked.shape[:1]} entries, expected {n_rec}")
            for i in range(n_rec):
                val = stacked[i]
                records[i][key] = val.item() if val.ndim == 0 else val
        for r in records:
            r["update"] = int(r["update"])
        state = {k: np.ascontiguousarray(v) if v.ndim else v for k, v in arrs.items()}
        state.update(update=int(state["update"]), records=records, config=meta["config"],
                     fingerprint=meta["fingerprint"], n_visible=int(meta["n_visible"]),
                     n_hidden=int(meta["n_hidden"]))
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"resume: {path} is not a complete pyrbm checkpoint ({err})") from None
    return state


def check_resume(state: dict, path, tr, n_samples: int, n_visible: int, n_hidden: int,
                 fingerprint: str, dynamic):
    """Refuse a checkpoint of another run (settings in ``dynamic``, data, sizes) or with bad arrays."""
    n_ck, m_ck = state["n_visible"], state["n_hidden"]
    if n_ck != n_visible:
        raise ValueError(f"data has {n_visible} features (columns) but the checkpoint {path} "
                         f"holds a model with n_visible={n_ck}; pass the data it was trained on")
    cfg = state["config"]
    mine = tr.settings()
    diff = [f"{k}: checkpoint {cfg.get(k)!r} vs now {mine[k]!r}" for k in dynamic
            if cfg.get(k) != mine[k]]
    if m_ck != n_hidden:
        diff.append(f"n_hidden: checkpoint {m_ck} vs now {n_hidden}")
    if state["fingerprint"] != fingerprint:
        diff.append("data: the training data differ from the checkpoint's")
    if diff:
        raise ValueError(f"resume: {path} was written by a different run; resume with the same "
                         "data, n_hidden and settings (only n_epochs and progress may change):\n  "
                         + "\n  ".join(diff))
    check_state(state, path, tr, n_samples, n_visible, n_hidden)


def check_state(state: dict, path, tr, n_samples: int, N: int, M: int):
    """Refuse a checkpoint whose arrays do not fit this run, before any kernel reads them.

    The kernels index without bounds checks: a wrong shape or dtype would read or write out
    of bounds. Checked: shape and dtype of every array, finiteness of the parameters and
    moments, the update counter against this run's length, and the stacked records.
    """
    dt, C, K = tr.dtype, tr.n_chains, min(N, M)
    upe = n_samples // tr.batch_size
    expect = {"W": ((N, M), dt), "a": ((N,), dt), "b": ((M,), dt),
              "mW1": ((N, M), dt), "mW2": ((N, M), dt), "ma1": ((N,), dt), "ma2": ((N,), dt),
              "mb1": ((M,), dt), "mb2": ((M,), dt), "streams": ((C, STREAM_WIDTH), np.uint64),
              "v_neg": ((C, N), dt), "p_neg": ((C, M), dt),
              "prev_U": ((N, K), np.float64), "prev_V": ((M, K), np.float64)}
    bad = []
    for key, (shape, dtype) in expect.items():
        arr = state.get(key)
        if not isinstance(arr, np.ndarray):
            bad.append(f"{key}: missing")
        elif arr.shape != shape or arr.dtype != dtype:
            bad.append(f"{key}: {arr.dtype} {arr.shape}, expected {np.dtype(dtype)} {shape}")
        elif arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            bad.append(f"{key}: holds non-finite values")
    if not bad:
        if not np.all((state["v_neg"] == 0) | (state["v_neg"] == 1)):
            bad.append("v_neg: chains must be 0/1")
        if not np.all((state["p_neg"] >= 0) & (state["p_neg"] <= 1)):
            bad.append("p_neg: probabilities must lie in [0, 1]")
    update, records = state.get("update"), state.get("records") or []
    if not isinstance(update, int) or update < 0:
        bad.append(f"update: expected a count >= 0, got {update!r}")
    elif update > tr.n_epochs * upe:
        raise ValueError(f"resume: {path} has already trained {update / upe:g} epochs ({update} "
                         f"updates), more than n_epochs={tr.n_epochs}; raise n_epochs to at least "
                         f"{-(-update // upe)} or use the checkpoint's model as it is")
    ups = [r.get("update") for r in records]
    if not records or ups[0] != 0 or not (isinstance(update, int) and ups[-1] <= update) \
            or any(not u0 < u1 for u0, u1 in zip(ups, ups[1:])):
        bad.append("records: expected records from update 0 up to the checkpoint's update")
    for r in records:
        for key in ("singular_value", "a_tilde", "b_tilde", "saddle_energy", "rank", "mode_sign",
                    "mode_overlap"):
            if np.shape(r.get(key)) != (K,):
                bad.append(f"records: {key} has shape {np.shape(r.get(key))}, expected ({K},)")
                break
        else:
            continue
        break
    if bad:
        raise ValueError(f"resume: {path} does not hold a valid state of this run (N={N}, M={M}, "
                         f"n_chains={C}, dtype={dt.name}):\n  " + "\n  ".join(bad)
                         + "\nstart afresh without resume=, or pass the right checkpoint")


def fingerprint(data: np.ndarray) -> str:
    """Digest of the shape and the 0/1 pattern of the data (identical for every dtype)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str(data.shape).encode())
    if data.dtype.itemsize == 1 and data.dtype.kind in "biu":
        # validated 0/1 bytes are exactly the bytes of data != 0: no bool copy needed
        h.update(np.ascontiguousarray(data).view(np.uint8).data)
    else:
        h.update(np.ascontiguousarray(data != 0).tobytes())
    return h.hexdigest()
