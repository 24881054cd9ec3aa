"""Optional dependencies, checked when a command starts, each with the one line that installs it.

A command that will need a library it cannot import refuses before any work (the CLI and
``simulations/paper.py`` exit 2), instead of failing at the end of an hour of computing:

>>> require("matplotlib", purpose="drawing figures")          # doctest: +SKIP

matplotlib is a regular dependency (figures and reports are the product's headline output),
so it is missing only from a broken install; dask, scikit-learn and ArviZ are extras.
"""

from __future__ import annotations

import importlib

__all__ = ["MissingDependency", "INSTALL", "require"]

#: Importable module → the line that installs it.
INSTALL = {
    "matplotlib": "pip install 'matplotlib>=3.6'",
    "distributed": "pip install 'pyrbm[scan]'",
    "sklearn": "pip install 'pyrbm[sklearn]'",
    "arviz_base": "pip install 'pyrbm[arviz]'",
    "arviz_stats": "pip install 'pyrbm[arviz]'",
}


class MissingDependency(ModuleNotFoundError):
    """A library a requested feature needs is not importable; the message says how to install it."""


def require(*modules: str, purpose: str) -> None:
    """Import each of ``modules`` now, or raise :class:`MissingDependency` naming the install line.

    Parameters
    ----------
    *modules : str
        Importable module names, keys of :data:`INSTALL`.
    purpose : str
        What needs them, as the subject of the message ("drawing figures", "the dask executor").

    Raises
    ------
    MissingDependency
        For the first module that cannot be imported (absent, or a broken install).
    """
    for name in modules:
        if name not in INSTALL:
            raise ValueError(f"modules: expected names from {sorted(INSTALL)}, got {name!r}")
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise MissingDependency(
                f"{purpose} needs {name}, which cannot be imported ({err}); install it with: {INSTALL[name]}"
            ) from None
