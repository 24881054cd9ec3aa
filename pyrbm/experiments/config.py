"""Experiment configurations of the paper reproduction: TOML profiles, checked before any work.

Each experiment has one TOML file in the package (``pyrbm/experiments/configs/``, read with
:mod:`importlib.resources`, so an installed wheel carries them) with one table per profile
(``[tiny]``, ``[quick]``, ``[paper]``) holding the same keys. :data:`SCHEMA` lists, per
experiment, every key with its type and a one-line meaning; :func:`load_profile` refuses
unknown or missing keys, wrong types and out-of-range values, naming the key, the file
and what is expected, before anything runs.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..scan.points import ConfigError, Key  # one error type and one schema class for every configuration

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["SCHEMA", "EXPERIMENTS", "PROFILES", "CONFIG_DIR", "ConfigError", "load_profile", "parse_override"]

#: The shipped configurations (a :class:`importlib.resources.abc.Traversable`).
CONFIG_DIR = resources.files("pyrbm.experiments").joinpath("configs")
PROFILES = ("tiny", "quick", "paper")
EXPERIMENTS = ("marchenko_pastur", "kurtosis", "training", "divergence")


def _int(minimum, help_):
    return Key("int", minimum=minimum, required=True, help=help_)


def _float(minimum, help_):
    return Key("float", minimum=None if minimum > 0 else minimum, positive=minimum > 0, required=True, help=help_)


def _ints(minimum, help_):
    return Key("int list", minimum=minimum, required=True, help=help_)


def _floats(minimum, help_):
    return Key("float list", minimum=None if minimum > 0 else minimum, positive=minimum > 0, required=True,
               help=help_)


#: experiment -> key -> :class:`pyrbm.scan.points.Key` (the schema class of pyrbm.scan's points)
SCHEMA = {
    "marchenko_pastur": {
        "n_visible": _int(2, "visible units N"),
        "n_hidden": _ints(2, "hidden sizes M of the random initialisations"),
        "n_init": _int(1, "random initialisations per size (paper: 1000)"),
        "sigma_w": _float(1e-12, "standard deviation of the couplings"),
        "seed": _int(0, "seed of the initialisations"),
    },
    "kurtosis": {
        "n_visible": _ints(2, "visible sizes N (paper: 500, 700, 784, 1200, 2000)"),
        "n_hidden": _int(1, "hidden units M"),
        "sigma_w": _float(1e-12, "standard deviation of the couplings"),
        "seeds": _ints(0, "one random model per seed and size (spread over replicas)"),
        "n_samples": _int(4, "uniform configurations for the sampled kurtosis and the x histograms"),
        "hist_n_visible": _int(2, "N of the model whose x_k histograms are drawn (figure 3)"),
        "hist_n_hidden": _int(1, "M of that model"),
        "hist_modes": _ints(0, "1-based modes of figure 3 (0: the last paired mode)"),
    },
    "training": {
        "n_hidden": _ints(1, "hidden sizes M"),
        "seeds": _ints(0, "replica seeds"),
        "n_samples": _int(1, "training images (the first ones)"),
        "test_images": _int(2, "test images for the likelihoods (the first ones)"),
        "test_digit": _int(0, "digit whose test images give the data order parameters"),
        "batch_size": _int(1, "data vectors per update"),
        "n_chains": _int(1, "persistent chains"),
        "k": _int(1, "Gibbs sweeps per update"),
        "optimizer": Key("choice", choices=("adam", "sgd"), required=True, help="optimiser"),
        "lr": _float(1e-12, "learning rate"),
        "n_epochs": _int(0, "epochs"),
        "monitor_size": _int(1, "images for the monitored reconstruction error / pseudo-likelihood"),
        "gibbs_chains": _int(2, "chains of the Gibbs samples measured every epoch"),
        "gibbs_sweeps": _int(1, "sweeps of those chains from uniform visibles"),
        "track_modes": _int(1, "top modes whose u, w are tracked"),
        "ais_every": _int(1, "epochs between likelihood (AIS, reverse AIS) and JS estimates"),
        "ais_chains": _int(2, "AIS chains"),
        "ais_betas": _int(2, "AIS inverse temperatures"),
        "js_bins": _int(2, "histogram bins of the rotation test"),
        "landscape_modes": _ints(0, "1-based modes of figure 6 (0: the last paired mode)"),
        "probe_top": _ints(1, "modes flipped in the probing test (figure 9)"),
        "probe_mid": _ints(1, "modes rotated in the probing test (first, last label)"),
        "n_show": _int(1, "digits per grid (figures 8, 9)"),
        "n_uniform": _int(2, "uniform configurations for figure 4"),
    },
    "divergence": {  # Langevin divergence rates (pyrbm.divergence_rates); pyrbm.scan's "langevin" is a plain run
        "n_visible": _int(2, "visible units N"),
        "n_hidden": _int(2, "hidden units M"),
        "singular_values": _floats(0.0, "prescribed singular values sigma_k"),
        "betas": _floats(1e-12, "inverse temperatures (threshold sigma_k = 4T)"),
        "n_chains": _int(2, "Langevin chains"),
        "n_steps": _int(2, "Euler-Maruyama steps"),
        "thin": _int(1, "steps between records"),
        "dt": _float(1e-12, "time step"),
        "seed": _int(0, "seed of the model and the noise"),
    },
}


def check_config(experiment: str, cfg: dict, where: str = "config") -> dict:
    """Validate one experiment's settings against :data:`SCHEMA`; return a copy.

    Raises
    ------
    ConfigError
        Listing every unknown key, missing key and bad value, each with the expectation.
    """
    if experiment not in SCHEMA:
        raise ConfigError([f"experiment: expected one of {', '.join(EXPERIMENTS)}, got {experiment!r}"])
    spec = SCHEMA[experiment]
    problems = []
    for key in sorted(set(cfg) - set(spec)):
        problems.append(f"{where}: unknown key {key!r}; allowed keys: {', '.join(sorted(spec))}")
    for key in sorted(set(spec) - set(cfg)):
        problems.append(f"{where}: missing key {key!r} ({spec[key].help}); add it")
    for key in sorted(set(spec) & set(cfg)):
        p = spec[key].check(key, cfg[key])
        if p:
            problems.append(f"{where}: {p}")
    if experiment == "training" and not problems:
        if cfg["batch_size"] > cfg["n_samples"]:
            problems.append(f"{where}: batch_size {cfg['batch_size']} exceeds n_samples {cfg['n_samples']}")
        if len(cfg["probe_mid"]) != 2 or cfg["probe_mid"][0] >= cfg["probe_mid"][1]:
            problems.append(f"{where}: probe_mid: expected [first, last] with first < last, got {cfg['probe_mid']}")
    if problems:
        raise ConfigError(problems)
    return dict(cfg)


def parse_override(text: str) -> tuple[str, str, object]:
    """``"training.n_epochs=2"`` -> ``("training", "n_epochs", 2)`` (value parsed as TOML)."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ConfigError([f"--set: expected EXPERIMENT.KEY=VALUE (e.g. training.n_epochs=2), got {text!r}"])
    lhs, rhs = text.split("=", 1)
    experiment, key = lhs.strip().split(".", 1)
    try:
        value = tomllib.loads(f"v = {rhs.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = rhs.strip()
    return experiment, key, value


def load_profile(profile: str, *, config_dir=None, overrides=(), experiments=EXPERIMENTS) -> dict:
    """Read and validate every experiment's settings for ``profile``.

    Parameters
    ----------
    profile : {"tiny", "quick", "paper"}
    config_dir : path-like, optional
        Directory of ``<experiment>.toml`` files; default the shipped ones (:data:`CONFIG_DIR`).
    overrides : sequence of str
        ``EXPERIMENT.KEY=VALUE`` settings replacing the profile's (checked the same way).
    experiments : sequence of str
        The experiments to load.

    Returns
    -------
    dict
        experiment -> settings dict.
    """
    if profile not in PROFILES:
        raise ConfigError([f"profile: expected one of {', '.join(PROFILES)}, got {profile!r}"])
    config_dir = CONFIG_DIR if config_dir is None else Path(config_dir)
    bad = [e for e in experiments if e not in SCHEMA]
    if bad:
        raise ConfigError([f"experiments: unknown {bad}; expected some of {', '.join(EXPERIMENTS)}"])
    out, problems = {}, []
    for exp in experiments:
        path = config_dir / f"{exp}.toml"
        if not path.is_file():
            raise ConfigError([f"config: {path} not found; expected one TOML file per experiment in {config_dir}"])
        try:
            tables = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise ConfigError([f"config: {path} is not valid TOML ({err})"]) from None
        extra = sorted(set(tables) - set(PROFILES))
        if extra:
            problems.append(f"{path}: unknown table(s) {extra}; expected only {', '.join(PROFILES)}")
        if profile not in tables:
            problems.append(f"{path}: no [{profile}] table")
            continue
        out[exp] = dict(tables[profile])
    for text in overrides:
        exp, key, value = parse_override(text)
        if exp not in out:
            problems.append(f"--set {text}: experiment {exp!r} is not one of {', '.join(out)}")
            continue
        if key not in SCHEMA[exp]:
            problems.append(f"--set {text}: unknown key {key!r}; allowed keys: {', '.join(sorted(SCHEMA[exp]))}")
            continue
        out[exp][key] = value
    for exp, cfg in out.items():
        try:
            check_config(exp, cfg, where=f"{exp}.toml [{profile}]")
        except ConfigError as err:
            problems.extend(err.problems)
    if problems:
        raise ConfigError(problems)
    return out
