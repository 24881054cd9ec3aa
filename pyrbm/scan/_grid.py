"""Parameter points of a scan: canonical JSON, stable hashes and directory names.

A point is a flat dict of JSON scalars.  Its identity is the SHA-256 of its canonical JSON
(keys sorted, no spaces, floats written with ``repr`` so that ``0.1`` and ``0.1000001``
differ and ``1`` (int) differs from ``1.0`` (float)); its directory name puts the grid
values first, readable, then the first 8 hex digits of the hash::

    n_hidden=64,seed=1-3f2a9c1e
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import numbers
import re

import numpy as np

__all__ = ["canonical_json", "point_hash", "point_name", "check_grid", "expand"]

_SCALARS = (str, bool, int, float)
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")
#: Longest readable part of a directory name (the hash keeps names unique).
_MAX_READABLE = 96


def _plain(value, where: str):
    """``value`` as a JSON scalar (numpy scalars unwrapped); refuse anything else."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, _SCALARS):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{where}: expected a finite number, got {value!r}")
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, (numbers.Integral, str)) for v in value):
        return [_plain(v, where) for v in value]
    raise TypeError(f"{where}: expected a str, int, float, bool (or a list of ints/str), "
                    f"got {type(value).__name__} {value!r}")


def canonical_json(params: dict) -> str:
    """The canonical JSON text of a point: sorted keys, compact, floats via ``repr``."""
    clean = {str(k): _plain(v, str(k)) for k, v in params.items()}
    return json.dumps(clean, sort_keys=True, separators=(",", ":"), allow_nan=False)


def point_hash(params: dict) -> str:
    """Hex SHA-256 of :func:`canonical_json` (64 characters)."""
    return hashlib.sha256(canonical_json(params).encode()).hexdigest()


def _fmt(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return "+".join(_fmt(v) for v in value)
    return _UNSAFE.sub("_", str(value))


def point_name(grid_values: dict, params: dict) -> str:
    """Directory name: ``key=value,...`` of the grid values, then ``-`` and 8 hash digits."""
    readable = ",".join(f"{k}={_fmt(v)}" for k, v in grid_values.items())[:_MAX_READABLE]
    return f"{readable}-{point_hash(params)[:8]}"


def check_grid(grid, fixed) -> tuple[dict, dict]:
    """Validate a grid (key -> non-empty sequence of distinct scalars) and fixed parameters."""
    if not isinstance(grid, dict) or not grid:
        raise TypeError(f"grid: expected a non-empty dict of parameter name -> list of values, "
                        f"e.g. {{'n_hidden': [16, 32], 'seed': [0, 1]}}, got {grid!r}")
    fixed = {} if fixed is None else fixed
    if not isinstance(fixed, dict):
        raise TypeError(f"fixed: expected a dict of parameter name -> value, got {type(fixed).__name__}")
    out = {}
    for key, values in grid.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ValueError(f"grid: keys must be parameter names (identifiers), got {key!r}")
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise TypeError(f"grid[{key!r}]: expected a list of values, got {values!r}; "
                            f"put a single value in fixed instead")
        vals = [_plain(v, f"grid[{key!r}]") for v in values]
        if not vals:
            raise ValueError(f"grid[{key!r}]: expected at least one value, got an empty list")
        if any(v is None or isinstance(v, list) for v in vals):
            raise TypeError(f"grid[{key!r}]: grid values must be str, int, float or bool, got {vals!r}")
        if any(isinstance(v, bool) for v in vals) and not all(isinstance(v, bool) for v in vals):
            raise TypeError(f"grid[{key!r}]: do not mix bools with other values (True would be shown as 1), "
                            f"got {vals!r}")
        if len({json.dumps(v) for v in vals}) != len(vals) or len(set(vals)) != len(vals):
            raise ValueError(f"grid[{key!r}]: values must be distinct (1 and 1.0 are one coordinate value), "
                             f"got {vals!r}")
        out[key] = vals
    both = sorted(set(out) & set(fixed))
    if both:
        raise ValueError(f"grid, fixed: {both} given in both; a parameter is either scanned or fixed")
    bad = [k for k in fixed if not isinstance(k, str) or not k.isidentifier()]
    if bad:
        raise ValueError(f"fixed: keys must be parameter names (identifiers, str), got {bad!r}")
    fixed = {k: _plain(v, f"fixed[{k!r}]") for k, v in fixed.items()}
    return out, fixed


def expand(grid: dict, fixed: dict):
    """Every point of the grid, in row-major order of the grid keys.

    Yields ``(index, grid_values, params)`` with ``index`` a tuple of positions along each
    grid key, ``grid_values`` the scanned values and ``params = {**fixed, **grid_values}``.
    """
    keys = list(grid)
    for index in itertools.product(*(range(len(grid[k])) for k in keys)):
        values = {k: grid[k][i] for k, i in zip(keys, index)}
        yield index, values, {**fixed, **values}
