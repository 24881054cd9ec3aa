"""pyrbm: Restricted Boltzmann Machines as Hamiltonians of coupled modes in reciprocal space.

Data flows one way: ``datasets → Trainer → Hamiltonian → Sampler.run → xr.Dataset → analysis``.
"""

from ._meta import __version__
from . import accessor, datasets, stats  # accessor registers the ``ds.rbm`` namespace
from .bosons import Bosons
from .freeenergy import GaussianValidityWarning, LogZ, exact_log_z, gaussian_log_z, log_likelihood, mean_field, tap
from .hamiltonian import Hamiltonian
from .modes import ModeBasis
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
                       ReplicaExchangeSampler, SamplerState, TemperingState, load_state)
from .spectra import count_outliers, fit_sigma_w, mp_cdf, mp_edges, mp_pdf
from .io.history import combine_histories
from .annealing import AISResult, ais, annealing_schedule, raise_log_likelihood, reverse_ais, trajectory_ais
from .likelihood import ais_convergence, compare_log_z, test_log_likelihood
from .bounds import LowerBound, log_z_lower_bound
from .training import Trainer
from . import io
from .io import IntegrityError, TrajectoryWriter, load, save, validate
from .io import read_model as load_hamiltonian
from . import landau, probing, symmetry
from . import scan
from .scan import Scan
from .scan.replicas import train_replicas
from .diffusion import divergence_rates
from .landau import binder_cumulant, landau_fit, mode_transitions, susceptibility
from .probing import decode_visible, gaussian_surrogate, probe_modes
from .symmetry import hierarchy, kurtosis, kurtosis_scaling, order_parameters, rotation_divergence

__all__ = [
    "__version__", "accessor", "datasets", "stats",
    "Hamiltonian", "ModeBasis", "Bosons",
    "exact_log_z", "log_likelihood", "gaussian_log_z", "mean_field", "tap", "LogZ",
    "GaussianValidityWarning",
    "mp_edges", "mp_pdf", "mp_cdf", "fit_sigma_w", "count_outliers",
    "GibbsSampler", "ReplicaExchangeSampler", "LangevinSampler",
    "SamplerState", "GibbsState", "TemperingState", "LangevinState", "DivergenceWarning",
    "Observable", "Energy", "FreeEnergy", "Magnetization", "ModeProjection", "OrderParameter",
    "as_observable", "default_observables",
    "io", "save", "load", "load_hamiltonian", "load_state", "validate", "IntegrityError", "TrajectoryWriter",
    "Trainer", "train_replicas", "combine_histories",
    "symmetry", "landau", "probing", "rotation_divergence", "hierarchy", "order_parameters", "kurtosis",
    "kurtosis_scaling", "divergence_rates", "landau_fit", "susceptibility", "binder_cumulant", "mode_transitions",
    "decode_visible", "probe_modes", "gaussian_surrogate",
    "scan", "Scan",
    "ais", "reverse_ais", "annealing_schedule", "AISResult", "compare_log_z",
    "log_z_lower_bound", "LowerBound",
    "raise_log_likelihood",
    "test_log_likelihood",
    "ais_convergence",
    "trajectory_ais",
]
