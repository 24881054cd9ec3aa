"""pyrbm: Restricted Boltzmann Machines as Hamiltonians of coupled modes in reciprocal space.

Data flows one way: ``datasets → Trainer → Hamiltonian → Sampler.run → xr.Dataset → analysis``.
"""

__version__ = "0.1.0"

from . import accessor, datasets, stats  # accessor registers the ``ds.rbm`` namespace
from .bosons import Bosons
from .freeenergy import MeanFieldResult, exact_log_z, gaussian_log_z, log_likelihood, mean_field, tap
from .hamiltonian import Hamiltonian, ModeBasis
from .observables import (
    Energy,
    FreeEnergy,
    Magnetization,
    ModeProjection,
    Observable,
    OrderParameter,
    as_observable,
    default_observables,
)
from .samplers import (DivergenceWarning, GibbsSampler, GibbsState, LangevinSampler, LangevinState,
                       ReplicaExchangeSampler, SamplerState, TemperingState)
from .spectra import count_outliers, fit_sigma_w, mp_cdf, mp_edges, mp_pdf
from .history import combine_histories
from .annealing import AISResult, ais, annealing_schedule, reverse_ais
from .likelihood import compare_log_z
from .training import Trainer, train_replicas
from .trajectory import load, load_hamiltonian, save, validate
from .writer import TrajectoryWriter

__all__ = [
    "__version__", "accessor", "datasets", "stats",
    "Hamiltonian", "ModeBasis", "Bosons",
    "exact_log_z", "log_likelihood", "gaussian_log_z", "mean_field", "tap", "MeanFieldResult",
    "mp_edges", "mp_pdf", "mp_cdf", "fit_sigma_w", "count_outliers",
    "GibbsSampler", "ReplicaExchangeSampler", "LangevinSampler",
    "SamplerState", "GibbsState", "TemperingState", "LangevinState", "DivergenceWarning",
    "Observable", "Energy", "FreeEnergy", "Magnetization", "ModeProjection", "OrderParameter",
    "as_observable", "default_observables",
    "save", "load", "load_hamiltonian", "validate", "TrajectoryWriter",
    "Trainer", "train_replicas", "combine_histories",
    "ais", "reverse_ais", "annealing_schedule", "AISResult", "compare_log_z",
]
