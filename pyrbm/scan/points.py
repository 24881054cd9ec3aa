"""Built-in point functions: training, Gibbs and Langevin runs, and their parameter checks.

A point function has the signature ``func(params, out, **inputs)``: ``params`` is the
point's flat dict, ``out`` a fresh directory (a :class:`pathlib.Path`) in which it writes
``result.nc``, ``inputs`` the large shared objects given to :meth:`Scan.run` (the data
set).  A function may instead return an :class:`xarray.Dataset`, which the scan writes.
A ``check`` attribute (``params -> params``) validates every point before any work.

Parameter keys of the built-in points (every key has a default unless marked required):

``train``
    ``n_hidden`` (required); the data: ``data`` = ``"synthetic"`` (default,
    :func:`pyrbm.datasets.hierarchical` with ``n_visible``, ``data_seed``), ``"mnist"``
    (:func:`pyrbm.datasets.mnist`, ``$PYRBM_DATA``) or the path of a ``.npy`` file, and
    ``n_samples`` (the first n rows); every :class:`pyrbm.Trainer` setting (``method``,
    ``k``, ``lr``, ``batch_size``, ``n_epochs``, ``seed``, ...). Result: the training
    history with the final model in the group ``hamiltonian``.
``gibbs``
    the model: ``model`` (path of a file holding a Hamiltonian, e.g. a training result) or a
    random one (``n_visible``, ``n_hidden``, ``sigma_w``, ``model_seed``); ``beta`` (default:
    the model's), ``n_chains``, ``n_steps``, ``thin``, ``burn_in``, ``seed``, ``dtype``.
``langevin``
    as ``gibbs`` plus ``dt``, ``modes`` (count or list of 1-based labels), ``quartic``;
    ``dtype`` defaults to float64.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import numbers
from pathlib import Path

import numpy as np

RESULT = "result.nc"

__all__ = ["RESULT", "ConfigError", "Key", "POINTS", "BUILTIN", "register", "check_params", "load_data", "train",
           "gibbs", "langevin"]


class ConfigError(ValueError):
    """One or more parameters are invalid; ``problems`` lists one line per key."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclasses.dataclass(frozen=True)
class Key:
    """One parameter: its kind, default and limits (for checks, ``--help`` and errors)."""

    kind: str                      # int, float, str, bool, choice, modes, path, "int list", "float list"
    default: object = None
    minimum: float | None = None   # inclusive
    below: float | None = None     # exclusive upper bound
    positive: bool = False         # strictly > 0
    choices: tuple = ()
    required: bool = False
    help: str = ""

    def expected(self) -> str:
        if self.kind.endswith(" list"):
            item = dataclasses.replace(self, kind=self.kind.split()[0]).expected()
            return f"a non-empty list, each item {item}"
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "modes":
            return "a count of modes (int >= 1) or a list of 1-based mode labels"
        text = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false",
                "path": "a file path"}[self.kind]
        if self.positive:
            text += " > 0"
        elif self.minimum is not None:
            text += f" >= {self.minimum:g}"
        if self.below is not None:
            text += f" and < {self.below:g}"
        return text

    def check(self, name: str, value) -> str | None:
        """A problem message, or None."""
        if value is None:
            return f"{name}: required, expected {self.expected()}" if self.required else None
        kind = self.kind
        if kind.endswith(" list"):
            if not isinstance(value, (list, tuple)) or not value:
                return f"{name}: expected {self.expected()}, got {value!r}"
            item = dataclasses.replace(self, kind=kind.split()[0], required=False)
            bad = [p for p in (item.check(f"{name}[{i}]", v) for i, v in enumerate(value)) if p]
            return bad[0] if bad else None
        if kind == "choice":
            return None if value in self.choices else f"{name}: expected {self.expected()}, got {value!r}"
        if kind == "modes":
            ok = (isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1) or (
                isinstance(value, (list, tuple)) and value and all(
                    isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1 for v in value))
            return None if ok else f"{name}: expected {self.expected()}, got {value!r}"
        if kind == "bool":
            return None if isinstance(value, bool) else f"{name}: expected {self.expected()}, got {value!r}"
        if kind in ("str", "path"):
            return None if isinstance(value, str) and value else f"{name}: expected {self.expected()}, got {value!r}"
        number = numbers.Integral if kind == "int" else numbers.Real
        if isinstance(value, bool) or not isinstance(value, number):
            return f"{name}: expected {self.expected()}, got {type(value).__name__} {value!r}"
        if (self.positive and not value > 0) or (self.minimum is not None and value < self.minimum) \
                or (self.below is not None and not value < self.below) or not np.isfinite(value):
            return f"{name}: expected {self.expected()}, got {value!r}"
        return None


_TRAINER = {
    "method": Key("choice", "pcd", choices=("pcd", "cd"), help="persistent (pcd) or plain (cd) contrastive divergence"),
    "k": Key("int", 1, minimum=1, help="Gibbs sweeps per update"),
    "optimizer": Key("choice", "sgd", choices=("sgd", "adam")),
    "lr": Key("float", None, positive=True, help="learning rate (default 0.01 sgd, 1e-3 adam)"),
    "momentum": Key("float", 0.0, minimum=0, below=1),
    "batch_size": Key("int", 100, minimum=1),
    "n_epochs": Key("int", 10, minimum=0),
    "n_chains": Key("int", None, minimum=1, help="persistent chains (default batch_size)"),
    "seed": Key("int", 0, minimum=0, help="seed of everything random"),
    "dtype": Key("choice", "float32", choices=("float32", "float64")),
    "record_every": Key("int", None, minimum=1, help="updates between history records (default: an epoch)"),
    "record_params": Key("bool", False),
    "weight_decay": Key("float", 0.0, minimum=0),
    "sigma_w": Key("float", 0.01, positive=True, help="std of the initial couplings"),
    "monitor_size": Key("int", 1000, minimum=1),
    "beta1": Key("float", 0.9, minimum=0, below=1),
    "beta2": Key("float", 0.999, minimum=0, below=1),
    "eps": Key("float", 1e-8, positive=True),
    "log_likelihood": Key("bool", False, help="exact log-likelihood at every record (small models only)"),
}
_DATA = {
    "data": Key("str", "synthetic", help="'synthetic', 'mnist' or the path of a .npy file of 0/1 rows"),
    "n_samples": Key("int", None, minimum=1, help="use the first n rows (synthetic: draw n, default 2000)"),
    "n_visible": Key("int", 20, minimum=1, help="units of the synthetic data / the random model"),
    "data_seed": Key("int", 0, minimum=0, help="seed of the synthetic data"),
}
_MODEL = {
    "model": Key("path", None, help="file holding a Hamiltonian (a training result, a model file)"),
    "n_visible": Key("int", 20, minimum=1, help="units of a random model (without model)"),
    "n_hidden": Key("int", 10, minimum=1, help="hidden units of a random model (without model)"),
    "sigma_w": Key("float", 0.1, positive=True, help="coupling std of a random model"),
    "model_seed": Key("int", 0, minimum=0, help="seed of a random model"),
    "beta": Key("float", None, positive=True, help="inverse temperature (default: the model's)"),
    "n_chains": Key("int", 100, minimum=1),
    "n_steps": Key("int", 100, minimum=1),
    "thin": Key("int", 1, minimum=1),
    "burn_in": Key("int", 0, minimum=0),
    "seed": Key("int", 0, minimum=0),
}

#: Parameter keys of each built-in point.
POINTS = {
    "train": {**_DATA, "n_hidden": Key("int", None, minimum=1, required=True, help="hidden units M"), **_TRAINER},
    "gibbs": {**_MODEL, "dtype": Key("choice", "float32", choices=("float32", "float64"))},
    "langevin": {**_MODEL, "dtype": Key("choice", "float64", choices=("float32", "float64")),
                 "dt": Key("float", 0.01, positive=True, help="Euler-Maruyama time step"),
                 "modes": Key("modes", None, help="paired modes to record (default all)"),
                 "quartic": Key("bool", False, help="add the quartic confinement")},
}


def _trainer_keys() -> set:
    from ..training import Trainer

    sig = inspect.signature(Trainer.__init__)
    return {n for n, p in sig.parameters.items()
            if n not in ("self", "progress") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def check_params(kind: str, params: dict) -> dict:
    """Validate a point's parameters in full; return them with the defaults filled in.

    Raises
    ------
    ConfigError
        Every problem at once, each naming the key and what it accepts (unknown keys list
        the allowed ones).
    """
    if kind not in POINTS:
        raise ConfigError([f"point: expected one of {', '.join(map(repr, POINTS))}, got {kind!r}"])
    spec = POINTS[kind]
    extra = _trainer_keys() - set(spec) if kind == "train" else set()
    problems = []
    unknown = sorted(set(params) - set(spec) - extra)
    if unknown:
        problems.append(f"{', '.join(unknown)}: unknown key{'s' if len(unknown) > 1 else ''} for a {kind} point; "
                        f"allowed keys: {', '.join(sorted(set(spec) | extra))}")
    out = {}
    for name, key in spec.items():
        value = params.get(name, key.default)
        problem = key.check(name, value)
        if problem:
            problems.append(problem)
        out[name] = value
    out.update({k: params[k] for k in extra if k in params})
    if not problems and kind == "train":
        try:  # cross-setting rules (e.g. CD with n_chains) are the Trainer's own
            _trainer(out)
        except (TypeError, ValueError) as err:
            problems.append(str(err))
    if problems:
        raise ConfigError(problems)
    return out


def _trainer(p: dict):
    from ..training import Trainer

    keys = _trainer_keys()
    kwargs = {k: v for k, v in p.items() if k in keys and v is not None}
    kwargs["dtype"] = np.dtype(p.get("dtype", "float32")).type
    return Trainer(**kwargs, progress=False)


@functools.lru_cache(maxsize=4)
def load_data(source: str, n_samples: int | None = None, n_visible: int = 20, data_seed: int = 0) -> np.ndarray:
    """A training set by name or path, read once per process (cached; read-only array).

    ``"synthetic"``: :func:`pyrbm.datasets.hierarchical` (``n_samples`` default 2000);
    ``"mnist"``: the binarised MNIST training images (``$PYRBM_DATA``); otherwise the path of
    a ``.npy`` file. ``n_samples`` keeps the first rows.
    """
    from .. import datasets

    if source == "synthetic":
        arr = datasets.hierarchical(n_samples=n_samples or 2000, n_visible=n_visible, seed=data_seed).data
    elif source == "mnist":
        arr = datasets.mnist("train")
    else:
        path = Path(source)
        if path.suffix != ".npy" or not path.is_file():
            raise FileNotFoundError(f"data: {source!r} is neither 'synthetic', 'mnist' nor an existing .npy file")
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise ValueError(f"data: {path} could not be read as a .npy array of 0/1 rows ({err}); "
                             f"write it with numpy.save(path, array)") from None
        if arr.ndim != 2 or arr.dtype.kind not in "biuf":
            raise ValueError(f"data: {path} holds a {arr.ndim}-d {arr.dtype} array; expected a 2-d numeric "
                             f"array of 0/1 rows (n_samples, n_visible)")
    arr = np.ascontiguousarray(arr[:n_samples] if n_samples else arr)
    arr.flags.writeable = False
    return arr


def train(params: dict, out: Path, data=None):
    """Training point: fit a :class:`pyrbm.Trainer` and write the history (+ model) to ``out``.

    ``data`` (an input of :meth:`Scan.run`, e.g. a scattered array) replaces ``params["data"]``.
    """
    from ..io.history import save_history

    p = check_params("train", params)
    if data is None:
        data = load_data(p["data"], p["n_samples"], p["n_visible"], p["data_seed"])
    elif p["n_samples"]:
        data = data[:p["n_samples"]]
    ham, history = _trainer(p).fit(data, n_hidden=p["n_hidden"])
    save_history(history, Path(out) / RESULT, hamiltonian=ham)


def _model(p: dict):
    from ..hamiltonian import Hamiltonian
    from ..io import read_model as load_hamiltonian

    if p["model"] is not None:
        path = Path(p["model"])
        if path.is_dir():
            path = path / RESULT
        ham = load_hamiltonian(path)   # a model file, or the model stored with a run
    else:
        ham = Hamiltonian.random(p["n_visible"], p["n_hidden"], sigma_w=p["sigma_w"], seed=p["model_seed"])
    return ham if p["beta"] is None else ham.replace(beta=p["beta"])


def _has_group(path) -> bool:
    import netCDF4

    with netCDF4.Dataset(path, "r") as nc:
        return "hamiltonian" in nc.groups


def _sample(p: dict, out: Path, sampler, **run_kwargs):
    from ..io.trajectory import save

    ham = _model(p)
    ds, _ = sampler.run(ham, n_steps=p["n_steps"], thin=p["thin"], burn_in=p["burn_in"], progress=False,
                        **run_kwargs)
    save(ds, Path(out) / RESULT, hamiltonian=ham)


def gibbs(params: dict, out: Path):
    """Gibbs point: sample the model and write the trajectory (+ model) to ``out``."""
    from ..samplers import GibbsSampler

    p = check_params("gibbs", params)
    _sample(p, out, GibbsSampler(p["n_chains"], seed=p["seed"], dtype=np.dtype(p["dtype"]).type))


def langevin(params: dict, out: Path):
    """Langevin point: integrate the reciprocal-space diffusion and write the trajectory to ``out``."""
    from ..samplers import LangevinSampler

    p = check_params("langevin", params)
    sampler = LangevinSampler(p["n_chains"], dt=p["dt"], seed=p["seed"], quartic=p["quartic"],
                              dtype=np.dtype(p["dtype"]).type)
    _sample(p, out, sampler, modes=p["modes"])


for _name, _func in (("train", train), ("gibbs", gibbs), ("langevin", langevin)):
    _func.check = functools.partial(check_params, _name)
del _name, _func

#: The one registry of point functions by name (``Scan.run("name")``): the built-in points and
#: those registered with :func:`register` (the paper study's, as ``"study.<experiment>"``).
BUILTIN = {"train": train, "gibbs": gibbs, "langevin": langevin}


def register(name: str, func) -> str:
    """Add a point function to the registry under ``name``; returns the name.

    Registering the same function twice is allowed; another function under a taken name is
    refused (``"langevin"`` is the built-in Langevin run and means nothing else).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: expected a non-empty string, got {name!r}")
    if not callable(func):
        raise TypeError(f"func: expected a point function func(params, out, **inputs), got {func!r}")
    if BUILTIN.get(name, func) is not func:
        raise ValueError(f"name: {name!r} is already the point {BUILTIN[name].__module__}.{BUILTIN[name].__name__}; "
                         "choose another name")
    BUILTIN[name] = func
    return name
