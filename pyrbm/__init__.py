"""pyrbm: Restricted Boltzmann Machines as Hamiltonians of coupled modes in reciprocal space."""

__version__ = "0.1.0"

from .hamiltonian import Hamiltonian, ModeBasis  # noqa: F401
