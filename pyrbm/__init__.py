"""pyrbm: Restricted Boltzmann Machines as Hamiltonians of coupled modes in reciprocal space."""

__version__ = "0.1.0"

from . import accessor, stats  # noqa: F401  (accessor registers ds.rbm)
from .hamiltonian import Hamiltonian, ModeBasis  # noqa: F401
from .observables import (  # noqa: F401
    Energy,
    FreeEnergy,
    Magnetization,
    ModeProjection,
    Observable,
    OrderParameter,
    as_observable,
    default_observables,
)
from .trajectory import TrajectoryWriter, load, load_hamiltonian, save, validate  # noqa: F401
