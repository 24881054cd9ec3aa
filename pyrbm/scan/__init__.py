"""Parameter scans: a grid of points, one directory each, run anywhere, collected lazily.

>>> from pyrbm.scan import Scan
>>> scan = Scan("scans/hidden", {"n_hidden": [8, 16], "seed": [0, 1]}, fixed={"n_epochs": 2})  # doctest: +SKIP
>>> scan.run("train", executor="dask")          # a LocalCluster started on demand  # doctest: +SKIP
>>> scan.collect().singular_value               # dims (n_hidden, seed, epoch, mode)  # doctest: +SKIP
"""

from ._grid import canonical_json, point_hash, point_name
from .core import Point, RunSummary, Scan
from .points import POINTS, RESULT, ConfigError, check_params, gibbs, langevin, load_data, train
from .replicas import replicas

__all__ = ["Scan", "Point", "RunSummary", "ConfigError", "POINTS", "RESULT", "check_params", "load_data",
           "train", "gibbs", "langevin", "replicas", "canonical_json", "point_hash", "point_name"]
