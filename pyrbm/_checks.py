"""Input validation shared by every public entry point.

Each check raises before any work is done, with a message that names the argument,
what was expected and what to do about it.
"""

from __future__ import annotations

import abc
import numbers
import os

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


class HamiltonianType(abc.ABC):
    """What :func:`check_hamiltonian` accepts: :class:`pyrbm.Hamiltonian` registers itself here.

    The checks sit below the model in the import graph, so they test against this ABC instead
    of importing the class.
    """


def check_hamiltonian(ham, name: str = "ham"):
    """Return ``ham`` after checking it is a :class:`pyrbm.Hamiltonian`."""
    if not isinstance(ham, HamiltonianType):
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
        dt = None if dtype is None else np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.kind != "f" or dt.itemsize not in (4, 8):  # (``np.dtype("f8") == None`` is True)
        raise TypeError(f"dtype: expected numpy.float32 or numpy.float64, got {dtype!r}")
    return dt


def _refuse_non_real(name: str, arr) -> None:
    """Refuse what numpy would convert to floats silently or lossily.

    Complex values would lose their imaginary part, datetimes and timedeltas become their
    integer ticks, and strings ("12.5") would be parsed: each is refused, naming ``name``.
    """
    if isinstance(arr, (str, bytes)):
        raise TypeError(f"{name}: expected a numeric array, got the string {arr!r}; convert it to a number first")
    probe = arr if hasattr(arr, "dtype") else np.asarray(arr, dtype=object)
    kind = np.dtype(probe.dtype).kind
    what = {"c": "complex", "M": "datetime", "m": "timedelta", "U": "string", "S": "bytes", "V": "structured"}
    if kind in what:
        raise TypeError(f"{name}: expected real numbers, got a {what[kind]} array (dtype {probe.dtype}); "
                        f"convert it to real floats first (complex values: pass the real part explicitly)")
    if kind == "O":
        bad = next((x for x in np.asarray(probe, dtype=object).ravel()
                    if isinstance(x, (str, bytes, complex, np.complexfloating, np.datetime64, np.timedelta64))), None)
        if bad is not None:
            raise TypeError(f"{name}: expected real numbers, found {type(bad).__name__} {bad!r}; convert the input "
                            f"to real floats first")


def check_finite_array(name: str, arr, shape=None, ndim=None, dtype=np.float64) -> np.ndarray:
    """Convert ``arr`` to a finite array of ``dtype`` with the given ``ndim``/``shape``.

    ``shape`` may contain ``None`` for "any length" along that axis.
    """
    _refuse_non_real(name, arr)
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
    """Turn a user's mode selection into 0-based indices.

    Parameters
    ----------
    modes : int or sequence of int
        An integer ``n`` selects the top ``n`` modes (labels 1..n, ``1 ≤ n ≤ n_modes``); a
        sequence holds 1-based mode labels (distinct, each in ``1..n_modes``), kept in the
        order given. Mode 1 is the one with the largest singular value.
    n_modes : int
        How many modes there are to choose from (≥ 1).
    name : str
        Argument name used in error messages.

    Returns
    -------
    ndarray of int64, shape (n_selected,)
        0-based indices (label − 1).

    Raises
    ------
    TypeError
        ``modes`` is a bool, a float or a sequence of non-integers.
    ValueError
        An empty sequence, a count or label out of range, or a repeated label.
    """
    n_modes = check_int("n_modes", n_modes, minimum=1)
    if isinstance(modes, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a count n (the top n modes) or a sequence of 1-based mode labels, "
                        f"got the bool {modes!r}")
    if isinstance(modes, numbers.Integral):
        n = int(modes)
        if not 1 <= n <= n_modes:
            raise ValueError(f"{name}: a count of modes must lie in [1, {n_modes}] (the number of modes), got {n}; "
                             f"pass a list of 1-based labels to pick individual modes")
        return np.arange(n, dtype=np.int64)
    if isinstance(modes, (str, bytes)) or not hasattr(modes, "__len__") and not hasattr(modes, "__iter__"):
        raise TypeError(f"{name}: expected a count n (the top n modes) or a sequence of 1-based mode labels, "
                        f"got {type(modes).__name__} {modes!r}")
    items = list(modes) if not isinstance(modes, np.ndarray) else modes
    if any(isinstance(m, (bool, np.bool_)) for m in items):
        raise TypeError(f"{name}: mode labels must be integers, got booleans in {modes!r}")
    arr = np.asarray(items)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a flat sequence of 1-based mode labels, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: expected at least one mode label, got an empty sequence")
    if arr.dtype.kind == "b":
        raise TypeError(f"{name}: mode labels must be integers, got booleans {modes!r}")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: mode labels must be integers 1..{n_modes}, got {modes!r} (dtype {arr.dtype})")
    bad = arr[(arr < 1) | (arr > n_modes)]
    if bad.size:
        raise ValueError(f"{name}: mode labels are 1-based and must lie in [1, {n_modes}], got {bad.tolist()} "
                         f"(mode 1 has the largest singular value)")
    uniq, counts = np.unique(arr, return_counts=True)
    if np.any(counts > 1):
        raise ValueError(f"{name}: mode labels must be distinct, {uniq[counts > 1].tolist()} repeated")
    return arr.astype(np.int64) - 1


def check_fits(name: str, value, need: float, what: str, fix: str) -> None:
    """Refuse, before any allocation, a size whose arrays need more memory than is available.

    Raises ``MemoryError`` naming ``name`` (the argument), ``value``, the bytes ``need`` ed for
    ``what``, the bytes available, and ``fix``.
    """
    avail = available_memory()
    if avail is not None and need > avail:
        raise MemoryError(f"{name}: {value} needs about {need / 2**30:.3g} GiB for {what}, but "
                          f"{avail / 2**30:.3g} GiB are available; {fix}")


def available_memory() -> int | None:
    """Bytes of memory available to this process (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
