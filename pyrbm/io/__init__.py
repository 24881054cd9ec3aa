r"""pyrbm's file layer: every file pyrbm writes, and where a run's records go.

The modules import only downward::

    api            save / load / validate, dispatching on the ``schema`` attribute
    storage        RecordStore: a run's records in memory or streamed (MemoryStore, NetCDFStore)
    writer         TrajectoryWriter: a trajectory streamed chunk by chunk
    trajectory, history, model, result, checkpoint
                   the schemas, each with its validator
    netcdf         atomic writes, provenance stamp, checksum, verified open, CF checks
                   (imports nothing from pyrbm but its constants, pyrbm._meta)

Each file is a netCDF4 file (checkpoints: ``.npz``) whose ``schema`` attribute names its kind:
``"pyrbm.trajectory/2"``, ``"pyrbm.history/2"``, ``"pyrbm.hamiltonian/1"`` (a model) or
``"pyrbm.result/1"`` (a study's measurements). :func:`read_model` reads the model from any of them.
"""

from .api import SCHEMAS, load, save, validate
from .model import read_model
from .netcdf import IntegrityError, atomic_path, check_writable
from .writer import TrajectoryWriter

__all__ = ["SCHEMAS", "save", "load", "validate", "read_model", "IntegrityError", "TrajectoryWriter",
           "atomic_path", "check_writable"]
