"""The paper's experiments (docs/physics.md §13) as configurable, resumable point functions.

``simulations/paper.py`` is the command line; :func:`run_study` runs a profile of
the configurations shipped in ``pyrbm/experiments/configs/*.toml`` into a study directory, :func:`load_study` reads it back for
:mod:`pyrbm.figures` and :func:`pyrbm.report.write_report`.
"""

from .config import EXPERIMENTS, PROFILES, SCHEMA, ConfigError, load_profile
from .points import POINTS
from .run import load_study, run_study, scans_of

__all__ = ["EXPERIMENTS", "PROFILES", "SCHEMA", "ConfigError", "load_profile", "POINTS", "run_study",
           "load_study", "scans_of"]
