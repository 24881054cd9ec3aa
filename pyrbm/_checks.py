"""Input validation shared by every public entry point.

Each check raises before any work is done, with a message that names the argument,
what was expected and what to do about it.
"""

from __future__ import annotations

import numbers

import numpy as np

UNITS = ("binary", "spin")


def check_units(units) -> str:
    """Return ``units`` if it is one of ``"binary"`` (0/1) or ``"spin"`` (±1)."""
    if units not in UNITS:
        raise ValueError(
            f"units: expected one of {UNITS!r}, got {units!r}; use 'binary' for 0/1 units "
            "(the default) or 'spin' for ±1 units"
        )
    return units


def check_positive(name: str, value, allow_zero: bool = False) -> float:
    """Return ``value`` as a float after checking it is a finite number > 0 (or ≥ 0)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    ok = np.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = "≥ 0" if allow_zero else "> 0"
        raise ValueError(f"{name}: expected a finite number {bound}, got {value!r}")
    return value


def check_bool(name: str, value) -> bool:
    """Return ``value`` after checking it is True or False."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def check_hamiltonian(ham, name: str = "ham"):
    """Return ``ham`` after checking it is a :class:`pyrbm.Hamiltonian`."""
    from .hamiltonian import Hamiltonian  # imported here: hamiltonian.py imports this module

    if not isinstance(ham, Hamiltonian):
        raise TypeError(f"{name}: expected a pyrbm.Hamiltonian, got {type(ham).__name__}")
    return ham


def check_int(name: str, value, minimum: int | None = None) -> int:
    """Return ``value`` as an int after checking it is an integer ≥ ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: expected an integer ≥ {minimum}, got {value}")
    return value


def check_seed(seed):
    """Accept ``None`` or an integer seed in [0, 2**64)."""
    if seed is None:
        return None
    seed = check_int("seed", seed, minimum=0)
    if seed >= 2**64:
        raise ValueError(f"seed: expected an integer in [0, 2**64), got {seed}")
    return seed


def fresh_seed() -> int:
    """A seed from the operating system's entropy (record it so the run can be repeated)."""
    return int(np.random.SeedSequence().entropy % (2**63))


def check_float_dtype(dtype) -> np.dtype:
    """Accept numpy.float32 or numpy.float64 (any spelling numpy understands)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype: expected numpy.float32 or numpy.float64, got {dtype!r}")
    return dt


def check_finite_array(name: str, arr, shape=None, ndim=None, dtype=np.float64) -> np.ndarray:
    """Convert ``arr`` to a finite array of ``dtype`` with the given ``ndim``/``shape``.

    ``shape`` may contain ``None`` for "any length" along that axis.
    """
    try:
        out = np.asarray(arr, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name}: expected a numeric array, got {type(arr).__name__} ({err})") from None
    if ndim is not None and out.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d array, got shape {out.shape}")
    if shape is not None:
        if out.ndim != len(shape) or any(s is not None and s != o for s, o in zip(shape, out.shape)):
            want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name}: expected shape {want}, got {out.shape}")
    if not np.all(np.isfinite(out)):
        bad = int(np.size(out) - np.count_nonzero(np.isfinite(out)))
        raise ValueError(f"{name}: expected finite values, found {bad} NaN/inf entries; clean the input first")
    return out


def as_configuration(name: str, x, n_units: int, units: str, dtype=np.float64) -> np.ndarray:
    """Validate a batch of unit configurations of shape ``(..., n_units)``.

    Binary units must be 0 or 1, spin units −1 or +1.
    """
    out = check_finite_array(name, x, dtype=dtype)
    if out.ndim == 0 or out.shape[-1] != n_units:
        raise ValueError(
            f"{name}: expected configurations of shape (..., {n_units}), got {out.shape}; "
            "the last axis must run over the units of the layer"
        )
    allowed = (0.0, 1.0) if units == "binary" else (-1.0, 1.0)
    if not np.all((out == allowed[0]) | (out == allowed[1])):
        raise ValueError(
            f"{name}: {units} units take the values {allowed[0]:g} and {allowed[1]:g} only; "
            f"binarise the input first (or pass units='{'spin' if units == 'binary' else 'binary'}' "
            "to the Hamiltonian if that is the convention you use)"
        )
    return out


def check_modes(modes, n_modes: int, name: str = "modes") -> np.ndarray:
    """0-based indices of the modes selected by ``modes``.

    Parameters
    ----------
    modes : int or sequence of int
        An int ``n`` selects the top ``n`` modes (labels 1..n); a sequence gives 1-based
        labels (``1`` is the mode of the largest singular value), distinct, in the order given.
    n_modes : int
        How many modes there are to choose from.

    Returns
    -------
    ndarray of int64
        The 0-based indices (label − 1).
    """
    if isinstance(modes, numbers.Integral) and not isinstance(modes, (bool, np.bool_)):
        count = int(modes)
        if not 1 <= count <= n_modes:
            raise ValueError(f"{name}: expected a count in [1, {n_modes}] (the top modes) or a list of 1-based "
                             f"mode labels, got {count}")
        return np.arange(count, dtype=np.int64)
    if isinstance(modes, (str, bytes)) or not np.iterable(modes):
        raise TypeError(f"{name}: expected an int (the top n modes) or a sequence of 1-based mode labels, "
                        f"got {type(modes).__name__}")
    labels = list(modes)
    bad = [k for k in labels if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral)
           or not 1 <= int(k) <= n_modes]
    if bad or not labels:
        raise ValueError(f"{name}: expected 1-based mode labels in [1, {n_modes}] (1 is the largest singular "
                         f"value), got {labels!r}")
    idx = np.array([int(k) - 1 for k in labels], dtype=np.int64)
    if np.unique(idx).size != idx.size:
        raise ValueError(f"{name}: mode labels must be distinct, got {labels!r}")
    return idx
