"""The sampler family: block Gibbs, replica exchange and reciprocal Langevin dynamics.

``run(ham, *, n_steps, ...)`` returns ``(xr.Dataset, state)``; with ``out=path`` the
records stream to a netCDF4 file chunk by chunk (bounded memory) and the returned dataset
is read lazily from the file.  States are immutable, typed per family
(:class:`GibbsState`, :class:`TemperingState`, :class:`LangevinState`) and carry the
chains' random streams, so a run continued from a returned state equals one long run.
"""

from .base import Sampler, SamplerState, load_state, state_from_dataset
from .gibbs import GibbsSampler, GibbsState, ReplicaExchangeSampler, TemperingState
from .langevin import DivergenceWarning, LangevinSampler, LangevinState

__all__ = [
    "Sampler", "SamplerState", "state_from_dataset", "load_state",
    "GibbsSampler", "GibbsState", "ReplicaExchangeSampler", "TemperingState",
    "LangevinSampler", "LangevinState", "DivergenceWarning",
]
