"""The paper-reproduction pipeline: configs, experiments, figures and report end to end.

The physics checks compare with independent references: the Marčenko–Pastur edges and the
Haar kurtosis 3 − 6/(N+2) in closed form, the Ornstein–Uhlenbeck rates 1/s² ∓ βσ_k of the
Langevin modes, and the rotation test's untrained level measured on the initial W.
"""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from mnist_available import needs_mnist
from pyrbm.experiments import ConfigError, load_profile, run_study
from pyrbm.experiments.config import CONFIG_DIR, SCHEMA, parse_override
from pyrbm.report import checks, write_report

ROOT = Path(__file__).resolve().parents[1]

# A smoke-scale study: the tiny profile cut further (one replica, two epochs).
SMOKE = ("marchenko_pastur.n_init=2", "kurtosis.seeds=[0, 1]", "kurtosis.n_samples=500",
         "training.n_hidden=[24]", "training.seeds=[0]", "training.n_epochs=2", "training.n_samples=1000",
         "training.ais_every=1", "divergence.betas=[0.5, 1.0]", "divergence.n_steps=2000")


# ----------------------------------------------------------------------------- configs
@pytest.mark.parametrize("profile", ["tiny", "quick", "paper"])
def test_every_profile_is_valid_and_has_the_same_keys(profile):
    cfg = load_profile(profile)
    assert set(cfg) == set(SCHEMA)
    for exp, keys in SCHEMA.items():
        assert set(cfg[exp]) == set(keys)


def test_paper_profile_holds_the_papers_settings():
    t = load_profile("paper")["training"]
    assert t["n_hidden"] == [500, 784, 1200, 3000] and len(t["seeds"]) == 5
    assert (t["batch_size"], t["n_chains"], t["k"], t["optimizer"], t["lr"], t["n_epochs"]) == \
        (500, 500, 500, "adam", 1e-3, 100)
    assert t["n_samples"] // t["batch_size"] == 119 and t["ais_every"] == 10
    assert (t["gibbs_chains"], t["gibbs_sweeps"], t["test_images"]) == (1000, 500, 10000)
    assert load_profile("paper")["marchenko_pastur"]["n_init"] == 1000


def _write_configs(tmp_path, edit):
    d = tmp_path / "configs"
    d.mkdir()
    for f in CONFIG_DIR.iterdir():  # the configs shipped in the package (importlib.resources)
        if f.name.endswith(".toml"):
            (d / f.name).write_text(edit(f.name, f.read_text()))
    return d


def test_unknown_key_and_wrong_type_are_refused_before_work(tmp_path):
    def edit(name, text):
        if name == "training.toml":
            text = text.replace("[tiny]\n", "[tiny]\nn_hiden = 3\n", 1).replace("lr = 0.01", 'lr = "fast"', 1)
        return text
    d = _write_configs(tmp_path, edit)
    with pytest.raises(ConfigError) as err:
        run_study(tmp_path / "study", profile="tiny", config_dir=d)
    msg = str(err.value)
    assert "unknown key 'n_hiden'" in msg and "allowed keys" in msg
    assert "lr: expected a number > 0, got str 'fast'" in msg   # pyrbm.scan's Key wording
    assert not (tmp_path / "study").exists()


def test_missing_key_and_bad_override_are_refused(tmp_path):
    d = _write_configs(tmp_path, lambda n, t: t.replace("n_init = 4\n", "", 1) if n.startswith("marchenko") else t)
    with pytest.raises(ConfigError, match="missing key 'n_init'"):
        load_profile("tiny", config_dir=d)
    with pytest.raises(ConfigError, match="unknown key 'epochs'"):
        load_profile("tiny", overrides=["training.epochs=3"])
    with pytest.raises(ConfigError, match="n_epochs: expected an integer"):
        load_profile("tiny", overrides=["training.n_epochs=2.5"])
    with pytest.raises(ConfigError, match=r"seeds\[1\]: expected an integer >= 0"):
        load_profile("tiny", overrides=["training.seeds=[0, -1]"])
    with pytest.raises(ConfigError, match="n_hidden: expected a non-empty list"):
        load_profile("tiny", overrides=["training.n_hidden=[]"])
    from pyrbm.scan import ConfigError as ScanConfigError

    assert ConfigError is ScanConfigError   # one error type for the study and pyrbm.scan
    with pytest.raises(ConfigError, match="EXPERIMENT.KEY=VALUE"):
        parse_override("n_epochs=3")
    assert parse_override("training.n_hidden=[8, 16]") == ("training", "n_hidden", [8, 16])


# ----------------------------------------------------------------------------- end to end
def _point(scan_root: Path, prefix: str) -> Path:
    """The directory of the scan point whose name starts with ``prefix`` (then the hash)."""
    found = [d for d in scan_root.iterdir() if d.name.startswith(prefix + "-")]
    assert len(found) == 1, (scan_root, prefix, found)
    return found[0]


def _check_files(root: Path, cfg: dict):
    for m in cfg["marchenko_pastur"]["n_hidden"]:
        ds = xr.load_dataset(_point(root / "marchenko_pastur", f"n_hidden={m}") / "result.nc")
        assert ds["singular_value"].shape == (cfg["marchenko_pastur"]["n_init"], min(784, m))
        assert np.all(np.isfinite(ds["singular_value"]))
    t = cfg["training"]
    for m in t["n_hidden"]:
        for s in t["seeds"]:
            d = _point(root / "training", f"n_hidden={m},seed={s}")
            h = xr.load_dataset(d / "history.nc")
            r = xr.load_dataset(d / "result.nc")
            assert h.sizes["epoch"] == r.sizes["epoch"] == t["n_epochs"] + 1
            assert r.sizes["source"] == 2 and r.sizes["mode"] == min(t["track_modes"], m)
            assert r["v_gibbs"].shape == (t["n_show"], 784)
            for v in r.data_vars:
                if not v.startswith("ll_") and v != "js":  # estimated every ais_every epochs only
                    vals = r[v].isel(epoch=slice(1, None)).values if v == "overlap" else r[v].values
                    assert np.all(np.isfinite(vals)), v  # overlap with the previous epoch: none at 0
            assert np.all(np.isfinite(h["singular_value"]))
    for b in cfg["divergence"]["betas"]:
        ds = xr.load_dataset(_point(root / "divergence", f"beta={float(b)!r}") / "result.nc")
        assert ds.sizes["mode"] == len(cfg["divergence"]["singular_values"])
    figures = sorted(p.name for p in (root / "figures").glob("*.png"))
    assert [f"fig{i:02d}" for i in range(1, 12)] == sorted({f[:5] for f in figures if f.startswith("fig")})
    assert all((root / "figures" / f).stat().st_size > 5000 for f in figures)
    report = (root / "report.md").read_text()
    for f in figures:
        assert f"figures/{f}" in report
    return report


def _check_file_layer(root: Path, cfg: dict):
    """Every file of the study is a pyrbm schema (load, validate, info), and each scan reads back
    through Scan.collect with the values the study read."""
    import pyrbm
    from pyrbm.cli import main as cli
    from pyrbm.experiments import load_study
    from pyrbm.scan import Scan

    files = sorted(root.rglob("*.nc"))
    assert len(files) >= 10
    for f in files:
        obj = pyrbm.load(f)
        if isinstance(obj, xr.Dataset):
            pyrbm.validate(obj)
        assert cli(["info", str(f)]) == 0, f
    study = load_study(root)
    t = cfg["training"]
    trained = Scan.open(root / "training").collect(reduce=lambda ds: ds[["singular_value", "js", "ll_low",
                                                                          "ll_high"]])
    assert dict(trained.sizes)["n_hidden"] == len(t["n_hidden"]) and dict(trained.sizes)["seed"] == len(t["seeds"])
    for m in t["n_hidden"]:
        for s in t["seeds"]:
            for v in ("js", "ll_low", "ll_high"):
                np.testing.assert_array_equal(trained[v].sel(n_hidden=m, seed=s).values,
                                              study["results"][v].sel(n_hidden=m, replica=s).values)
    mp = Scan.open(root / "marchenko_pastur").collect()
    for m in cfg["marchenko_pastur"]["n_hidden"]:
        got = mp["singular_value"].sel(n_hidden=m).dropna("mode", how="all").values
        np.testing.assert_array_equal(got, study["marchenko_pastur"][m]["singular_value"].values)


@needs_mnist
def test_smoke_study_end_to_end(tmp_path):
    root = tmp_path / "study"
    run_study(root, profile="tiny", overrides=SMOKE)
    write_report(root)
    cfg = json.loads((root / "study.json").read_text())["settings"]
    report = _check_files(root, cfg)
    from pyrbm.experiments import load_study

    res = checks(load_study(root))
    # Meaningful at this scale: MP edges, JS above the untrained level, kurtosis -> 3, Langevin threshold.
    for name in ("initial spectra at the MP edges", "trained JS divergence above the untrained level",
                 "kurtosis of x_k against 1/N: intercept 3", "kurtosis of x_k against 1/N: slope of 3 − 6/(N+2)",
                 "Langevin growth rate of Var u past 4T equals 2|κ_u| (Euler–Maruyama)",
                 "Langevin stationary Var u below 4T equals the Euler–Maruyama value"):
        assert res[name][0] is True, (name, res[name])
    assert "## Checks" in report and "Marčenko–Pastur edges" in report
    _check_file_layer(root, cfg)
    # resumable: a rerun finds every point done and does no work
    assert run_study(root, profile="tiny", overrides=SMOKE) == {}
    # another profile's settings in the same directory are refused
    with pytest.raises(ValueError, match="other settings"):
        run_study(root, profile="tiny")


@pytest.mark.slow
@needs_mnist
def test_tiny_profile_end_to_end_and_the_papers_claims(tmp_path):
    root = tmp_path / "tiny"
    out = subprocess.run([sys.executable, str(ROOT / "simulations" / "paper.py"), "--profile", "tiny",
                          "--out", str(root)], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    _check_files(root, load_profile("tiny"))
    from pyrbm.experiments import load_study

    for name, (ok, detail) in checks(load_study(root)).items():
        if name.startswith("test log-likelihood interval"):
            # honest at this scale: either a defended interval, or a FAIL that says why
            assert ok is True or (ok is False and "failed:" in detail), (name, detail)
            continue
        assert ok is not False, (name, detail)


@pytest.mark.slow
@needs_mnist
def test_paper_profile_checkpoints_and_resumes_after_a_kill(tmp_path):
    """The paper's settings at a reduced number of updates: kill mid-run, rerun, same model."""
    reduce = ["--set", "training.n_hidden=[24]", "--set", "training.seeds=[0]", "--set", "training.n_samples=1000",
              "--set", "training.n_epochs=3", "--set", "training.test_images=1000", "--set", "training.n_uniform=1000"]
    cmd = [sys.executable, str(ROOT / "simulations" / "paper.py"), "--profile", "paper", "--only", "training",
           "--no-report"] + reduce
    killed = tmp_path / "killed"
    proc = subprocess.Popen(cmd + ["--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = killed / "training" / "_work" / "M24_seed0" / "epoch_0001.nc"
    deadline = time.time() + 600
    while not first.is_file() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert first.is_file(), "no epoch finished before the deadline"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not list((killed / "training").glob("n_hidden=24,seed=0-*/result.nc"))
    stamp = first.stat().st_mtime_ns
    subprocess.run(cmd + ["--out", str(killed)], check=True, capture_output=True, timeout=900)
    assert first.stat().st_mtime_ns == stamp  # the finished epoch was not redone
    whole = tmp_path / "whole"
    subprocess.run(cmd + ["--out", str(whole)], check=True, capture_output=True, timeout=900)
    ka, wa = _point(killed / "training", "n_hidden=24,seed=0"), _point(whole / "training", "n_hidden=24,seed=0")
    assert ka.name == wa.name  # same parameters, same point
    a = xr.load_dataset(ka / "history.nc")
    b = xr.load_dataset(wa / "history.nc")
    np.testing.assert_array_equal(a["singular_value"].values, b["singular_value"].values)
    ra = xr.load_dataset(ka / "result.nc")
    rb = xr.load_dataset(wa / "result.nc")
    np.testing.assert_array_equal(ra["u_mean"].values, rb["u_mean"].values)


# ----------------------------------------------------------------------------- Langevin point
def test_divergence_point_rates_and_variances_pass_and_a_planted_error_fails(tmp_path):
    """The tiny profile at β = 1 (σ = 3, 5, 6 among others): rates within 10 %, variances within 5 %.

    Before the fit was restricted to the records before any chain froze, σ = 5 gave 0.175
    against 2 and σ = 6 gave NaN, and the check still passed.
    """
    from pyrbm.experiments.points import divergence_point
    from pyrbm.report import langevin_checks

    cfg = load_profile("tiny", experiments=("divergence",))["divergence"]
    params = {k: v for k, v in cfg.items() if k != "betas"}
    params["beta"] = 1.0
    divergence_point(params, tmp_path)
    ds = xr.load_dataset(tmp_path / "result.nc")
    def at(s):
        return int(np.argmin(np.abs(ds["singular_value"].values - s)))

    for s, rate in ((5.0, 2.0), (6.0, 4.0)):
        assert float(ds["rate"][at(s)]) == pytest.approx(rate, rel=0.10)
    assert float(ds["variance"][at(3.0)]) == pytest.approx(1.0 / (1 - 0.005), rel=0.05)
    res = langevin_checks({1.0: ds})
    assert all(ok is True for ok, _ in res.values()), res
    rate_check = next(k for k in res if "growth rate" in k)
    assert "tolerance 10%" in res[rate_check][1] and "expected" in res[rate_check][1]
    bad = ds.copy(deep=True)
    bad["rate"][at(5.0)] = 0.175  # the old report's value for σ = 5
    assert langevin_checks({1.0: bad})[rate_check][0] is False
    bad = ds.copy(deep=True)
    bad["rate"][at(6.0)] = np.nan  # a fit that found no window fails too
    assert langevin_checks({1.0: bad})[rate_check][0] is False
    bad = ds.copy(deep=True)
    bad["variance"][at(3.0)] *= 1.1
    var_check = next(k for k in res if "stationary" in k)
    assert langevin_checks({1.0: bad})[var_check][0] is False


# ----------------------------------------------------------------------------- every check can fail
def test_mp_kurtosis_and_js_checks_state_their_numbers_and_fail_on_planted_errors(tmp_path):
    from pyrbm.experiments.points import marchenko_pastur_point
    from pyrbm.experiments.run import _kurtosis_fit
    from pyrbm.report import js_checks, kurtosis_checks, mp_checks

    marchenko_pastur_point({"n_visible": 784, "n_hidden": 500, "sigma_w": 0.01, "n_init": 2, "seed": 0}, tmp_path)
    ds = xr.load_dataset(tmp_path / "result.nc")
    (name, (ok, detail)), = mp_checks({500: ds}).items()
    assert ok is True and "measured" in detail and "expected 0.5036" in detail and "Tracy–Widom" in detail
    bad = ds.copy(deep=True)
    bad["singular_value"][0, 0] = 0.55            # one spike past λ+ (TW width 2.2e-3: 20 widths)
    assert mp_checks({500: bad})[name][0] is False
    bad = ds.copy(deep=True)
    bad["singular_value"][1, -1] = 0.02           # the smallest far below λ− = 0.0564
    assert mp_checks({500: bad})[name][0] is False

    n = np.array([100, 200, 400, 784])
    parts = [xr.Dataset({"kurtosis_exact": ("replica", 3 - 6 / (m + 2) + np.array([1e-4, -1e-4])),
                         "kurtosis_sampled": ("replica", 3 - 6 / (m + 2) + np.array([1e-3, -1e-3]))},
                        attrs={"n_visible": int(m), "n_hidden": 100}) for m in n]
    k = _kurtosis_fit(parts)
    res = kurtosis_checks(k)
    assert all(ok is True for ok, _ in res.values()), res
    assert all("measured" in d and "expected" in d and "tolerance" in d for _, d in res.values())
    flat = _kurtosis_fit([p.assign(kurtosis_exact=p.kurtosis_exact * 0 + 2.99) for p in parts])
    res = kurtosis_checks(flat)                    # intercept 2.99 and slope 0
    assert [ok for ok, _ in res.values()] == [True, False]
    shifted = _kurtosis_fit([p.assign(kurtosis_exact=p.kurtosis_exact - 0.05) for p in parts])
    assert [ok for ok, _ in kurtosis_checks(shifted).values()] == [False, True]

    js = np.array([[[1e-3, 1.1e-3], [np.nan, np.nan], [4e-3, 5e-3]]])      # (n_hidden, epoch, replica)
    r = xr.Dataset({"js": (("n_hidden", "epoch", "replica"), js)},
                   coords={"n_hidden": [24], "epoch": [0, 1, 2], "replica": [0, 1]})
    (name, (ok, detail)), = js_checks(r).items()
    assert ok is True and "measured 4.00e-03" in detail and "expected > 1.10e-03" in detail
    r["js"][0, 2, 0] = 1.05e-3                    # a trained replica inside the untrained range
    assert js_checks(r)[name][0] is False


@needs_mnist
def test_training_point_resumes_bit_for_bit_after_a_crash_in_a_measurement(tmp_path, monkeypatch):
    """One Trainer.fit with a record callback: a crash while measuring epoch 2 loses nothing that
    the rerun does not redo identically (the callback runs before that record's checkpoint)."""
    import pyrbm.experiments.training as tp

    cfg = load_profile("tiny", experiments=("training",),
                       overrides=["training.n_samples=500", "training.batch_size=50", "training.n_chains=50",
                                  "training.k=2", "training.n_epochs=3", "training.ais_every=10",
                                  "training.gibbs_chains=20", "training.gibbs_sweeps=2", "training.test_images=300",
                                  "training.n_uniform=50", "training.n_show=4"])["training"]
    params = {k: v for k, v in cfg.items() if k not in ("n_hidden", "seeds")}
    params.update(n_hidden=12, seed=0)
    whole = tmp_path / "whole" / "p"
    whole.mkdir(parents=True)
    tp.training_point(params, whole)
    original = tp._epoch

    def crash(ham, epoch, *args):
        if epoch == 2:
            raise KeyboardInterrupt
        return original(ham, epoch, *args)

    broken = tmp_path / "broken" / "p"
    broken.mkdir(parents=True)
    monkeypatch.setattr(tp, "_epoch", crash)
    with pytest.raises(KeyboardInterrupt):
        tp.training_point(params, broken)
    work = broken.parent / "_work" / "M12_seed0"
    assert sorted(f.name for f in work.glob("epoch_*.nc")) == ["epoch_0000.nc", "epoch_0001.nc"]
    monkeypatch.setattr(tp, "_epoch", original)
    tp.training_point(params, broken)
    a, b = xr.load_dataset(whole / "result.nc"), xr.load_dataset(broken / "result.nc")
    for name in ("u_mean", "w_mean", "u_uniform", "sign", "singular_value", "js"):
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    ha, hb = xr.load_dataset(whole / "history.nc"), xr.load_dataset(broken / "history.nc")
    np.testing.assert_array_equal(ha["singular_value"].values, hb["singular_value"].values)


def test_one_registry_of_points_holds_the_studys_and_refuses_a_second_meaning():
    from pyrbm.experiments import POINTS as STUDY
    from pyrbm.scan.points import BUILTIN, langevin, register

    assert set(STUDY.values()) == {"study.marchenko_pastur", "study.kurtosis", "study.training", "study.divergence"}
    assert all(name in BUILTIN for name in STUDY.values())
    assert register("langevin", langevin) == "langevin"          # the same function again: fine
    with pytest.raises(ValueError, match="'langevin' is already the point"):
        register("langevin", BUILTIN["study.divergence"])


def test_likelihood_check_passes_a_defended_interval_and_fails_with_the_reason():
    from pyrbm.report import likelihood_checks

    def results(valid, low, high, reason):
        z = lambda v: (("n_hidden", "replica", "epoch"), np.full((1, 1, 2), np.nan).tolist() and
                       np.array([[[np.nan, v]]], dtype=object if isinstance(v, str) else float))
        return xr.Dataset({"ll_interval_valid": z(valid), "ll_low": z(low), "ll_high": z(high),
                           "ll_tolerance": z(1.0), "ll_interval_reason": z(reason)},
                          coords={"n_hidden": [500], "replica": [0], "epoch": [0, 4]})

    (name, (ok, detail)), = likelihood_checks(results(1.0, -100.4, -100.1, "")).items()
    assert ok is True and "width 0.3" in detail and "expected width ≤ 1" in detail
    why = "ais: below the rigorous lower bound on ln Z"
    ok, detail = likelihood_checks(results(0.0, -130.0, -95.0, why))[name]
    assert ok is False and why in detail and "width 35" in detail
    assert likelihood_checks(xr.Dataset())[name][0] is None
