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
    the model's), ``n_chains``, ``n_steps``, ``thin``, ``burn_in``, ``seed``, ``dtype``;
    ``observables``: a list of names (default the sampler's
    :func:`pyrbm.observables.default_observables`), each a built-in name of
    :func:`pyrbm.as_observable` (``"energy"``, ``"free_energy"``, ``"m_visible"``,
    ``"m_hidden"``) or a mode projection ``"kind:n"`` of the top n modes, kind one of
    ``x``, ``y``, ``u``, ``w`` (:class:`pyrbm.ModeProjection`) or ``order_parameter``
    (:class:`pyrbm.OrderParameter`), e.g. ``["energy", "order_parameter:3"]``.
``langevin``
    as ``gibbs`` plus ``dt``, ``modes`` (count or list of 1-based labels), ``quartic``;
    ``dtype`` defaults to float64; ``observables``: the coordinates kept (default all of
    ``x``, ``y``, ``u``, ``w``; ``divergence_step`` is always kept), names among those and
    ``order_parameter`` (u under the name and attributes of :class:`pyrbm.OrderParameter`,
    so that ``ds.rbm.landau_fit()`` reads Gibbs and Langevin scans alike), for the modes
    of ``modes``.

Observables are checked with the other keys, before any point runs.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import numbers
from pathlib import Path

import numpy as np

from ..observables import ModeProjection, OrderParameter, as_observable

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
        if self.kind == "observable":
            return ("a built-in observable name (" + ", ".join(map(repr, _NAMED)) + ") or 'kind:n', "
                    "the top n >= 1 modes of kind " + ", ".join(map(repr, _PROJECTIONS)))
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
        if kind == "observable":
            try:
                observable(value)
            except (TypeError, ValueError):
                return f"{name}: expected {self.expected()}, got {value!r}"
            return None
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

#: Built-in observables a Gibbs point records by name (:func:`pyrbm.as_observable`).
_NAMED = ("energy", "free_energy", "m_visible", "m_hidden")
#: Mode projections a Gibbs point records as ``"kind:n"`` (the top n modes).
_PROJECTIONS = ("x", "y", "u", "w", "order_parameter")
#: Coordinates a Langevin point can keep (``order_parameter``: u, renamed).
_LANGEVIN_VARS = ("x", "y", "u", "w", "order_parameter")


def observable(name: str):
    """The observable a Gibbs point's ``observables`` entry names.

    Parameters
    ----------
    name : str
        A built-in name (``"energy"``, ``"free_energy"``, ``"m_visible"``, ``"m_hidden"``)
        or ``"kind:n"``: the top ``n`` modes of the projection ``kind`` (``x``, ``y``,
        ``u``, ``w``: :class:`pyrbm.ModeProjection`; ``order_parameter``:
        :class:`pyrbm.OrderParameter`).

    Returns
    -------
    pyrbm.observables.Observable

    Raises
    ------
    ValueError
        Any other name.
    """
    if not isinstance(name, str):
        raise TypeError(f"observables: expected a name (str), got {type(name).__name__} {name!r}")
    kind, colon, count = name.partition(":")
    if not colon:
        if name not in _NAMED:
            raise ValueError(f"observables: unknown name {name!r}")
        return as_observable(name)
    if kind not in _PROJECTIONS or not count.isdigit() or int(count) < 1:
        raise ValueError(f"observables: expected 'kind:n' with kind in {_PROJECTIONS} and n >= 1, got {name!r}")
    return OrderParameter(modes=int(count)) if kind == "order_parameter" else ModeProjection(kind, modes=int(count))


def _observable_problems(p: dict) -> list:
    """Repeated names, projections of different mode counts, counts beyond a random model's modes
    (a model file is read later)."""
    names = p["observables"]
    problems = [f"observables: {n!r} is listed twice; list each once" for n in sorted(set(names))
                if names.count(n) > 1]
    counts = sorted({n.partition(":")[2] for n in names if ":" in n}, key=int)
    if len(counts) > 1:   # the sampler's rule: observables sharing the 'mode' dim share its labels
        problems.append(f"observables: the mode projections share the 'mode' dimension and need the same "
                        f"number of modes, got {', '.join(counts)}; use one n, e.g. "
                        f"{[n.partition(':')[0] + ':' + counts[-1] if ':' in n else n for n in names]}")
    if p["model"] is None:
        N, M = p["n_visible"], p["n_hidden"]
        limit = {"x": N, "y": M}
        for name in names:
            kind, _, count = name.partition(":")
            if count and int(count) > limit.get(kind, min(N, M)):
                problems.append(f"observables: {name!r} asks for {count} modes, the random model "
                                f"({N} x {M}) has {limit.get(kind, min(N, M))} of kind {kind!r}; ask for fewer")
    return problems


_OBSERVABLES_HELP = ("names of the recorded observables, e.g. ['energy', 'order_parameter:3'] "
                     "(default: energy, free_energy, m_visible, m_hidden)")

#: Parameter keys of each built-in point.
POINTS = {
    "train": {**_DATA, "n_hidden": Key("int", None, minimum=1, required=True, help="hidden units M"), **_TRAINER},
    "gibbs": {**_MODEL, "dtype": Key("choice", "float32", choices=("float32", "float64")),
              "observables": Key("observable list", None, help=_OBSERVABLES_HELP)},
    "langevin": {**_MODEL, "dtype": Key("choice", "float64", choices=("float32", "float64")),
                 "dt": Key("float", 0.01, positive=True, help="Euler-Maruyama time step"),
                 "modes": Key("modes", None, help="paired modes to record (default all)"),
                 "quartic": Key("bool", False, help="add the quartic confinement"),
                 "observables": Key("choice list", None, choices=_LANGEVIN_VARS,
                                    help="coordinates kept, e.g. ['order_parameter'] (default x, y, u, w)")},
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
    if not problems and kind in ("gibbs", "langevin") and out["observables"] is not None:
        problems += _observable_problems(out)
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


def _sample(p: dict, out: Path, sampler, keep=None, **run_kwargs):
    """Run ``sampler`` on the point's model; ``keep(ds) -> ds`` selects what is written."""
    from ..io.trajectory import save

    ham = _model(p)
    ds, _ = sampler.run(ham, n_steps=p["n_steps"], thin=p["thin"], burn_in=p["burn_in"], progress=False,
                        **run_kwargs)
    save(ds if keep is None else keep(ds), Path(out) / RESULT, hamiltonian=ham)


def gibbs(params: dict, out: Path):
    """Gibbs point: sample the model and write the trajectory (+ model) to ``out``."""
    from ..samplers import GibbsSampler

    p = check_params("gibbs", params)
    obs = None if p["observables"] is None else [observable(name) for name in p["observables"]]
    _sample(p, out, GibbsSampler(p["n_chains"], seed=p["seed"], dtype=np.dtype(p["dtype"]).type),
            observables=obs)


def langevin(params: dict, out: Path):
    """Langevin point: integrate the reciprocal-space diffusion and write the trajectory to ``out``."""
    from ..samplers import LangevinSampler

    p = check_params("langevin", params)
    sampler = LangevinSampler(p["n_chains"], dt=p["dt"], seed=p["seed"], quartic=p["quartic"],
                              dtype=np.dtype(p["dtype"]).type)
    names = p["observables"]

    def keep(ds):
        if names is None:
            return ds
        kept = ds[[n for n in ("x", "y", "u", "w", "divergence_step") if n in names or n == "divergence_step"]]
        if "order_parameter" in names:   # m_k = (dx_k + dy_k)/sqrt(2) = u_k (pyrbm.OrderParameter)
            kept["order_parameter"] = ds["u"].assign_attrs(OrderParameter().attrs)
        return kept

    _sample(p, out, sampler, keep=keep, modes=p["modes"])


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
