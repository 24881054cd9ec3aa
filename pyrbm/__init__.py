"""pyrbm: Restricted Boltzmann Machines as Hamiltonians of coupled modes in reciprocal space."""

__version__ = "0.1.0"

from . import accessor, datasets, stats  # noqa: F401  (accessor registers ds.rbm)
from .bosons import Bosons  # noqa: F401
from .freeenergy import MeanFieldResult, exact_log_z, gaussian_log_z, log_likelihood, mean_field, tap  # noqa: F401
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
from .samplers import GibbsSampler, LangevinSampler, ReplicaExchangeSampler, SamplerState  # noqa: F401
from .spectra import count_outliers, fit_sigma_w, mp_cdf, mp_edges, mp_pdf  # noqa: F401
from .training import Trainer, combine_histories, train_replicas  # noqa: F401
from .trajectory import TrajectoryWriter, load, load_hamiltonian, save, validate  # noqa: F401
