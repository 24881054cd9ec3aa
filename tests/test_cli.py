"""The ``pyrbm`` command, end to end through subprocesses (``python -m pyrbm``).

Results are compared with the library called directly (Trainer, GibbsSampler, Scan).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import pyrbm
from pyrbm.cli import main
from pyrbm.scan import Scan

ROOT = Path(__file__).resolve().parents[1]


def pyrbm_cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "pyrbm", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def tree(path: Path) -> list:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_train_report_info_end_to_end(tmp_path):
    cfg = tmp_path / "train.toml"
    cfg.write_text('data = "synthetic"\nn_samples = 300\nn_hidden = 6\nn_epochs = 2\nbatch_size = 50\nseed = 3\n')
    run = pyrbm_cli("train", "--config", cfg, "--out", "run", "--lr", "0.05", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    result = tmp_path / "run" / "result.nc"
    data = pyrbm.datasets.hierarchical(n_samples=300, n_visible=20, seed=0).data
    ham, hist = pyrbm.Trainer(n_epochs=2, batch_size=50, seed=3, lr=0.05, progress=False).fit(data, n_hidden=6)
    got = pyrbm.load(result)
    np.testing.assert_array_equal(got.singular_value.values, hist.singular_value.values)
    np.testing.assert_array_equal(pyrbm.load_hamiltonian(result).W, ham.W)

    rep = pyrbm_cli("report", "run", cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr
    summary = (tmp_path / "run" / "report" / "summary.txt").read_text()
    # sorted: the labels are tracked identities, σ_1 is the largest at the last record
    assert "final singular values (largest first): " + f"{hist.singular_value.values[-1].max():.4g}" in summary
    assert (tmp_path / "run" / "report" / "singular_values.png").stat().st_size > 1000

    info = pyrbm_cli("info", result, cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    assert "schema: pyrbm.history/" in info.stdout
    assert "model: N=20 visible x M=6 hidden" in info.stdout
    assert "trainer_lr=0.05" in info.stdout and "epoch=3" in info.stdout


@pytest.mark.parametrize("text, message", [
    ('out = "run"\nn_hidden = 4\nn_epochz = 3\n', "n_epochz: unknown key for a train point; allowed keys:"),
    ('out = "run"\nn_hidden = 4\nbatch_size = "ten"\n', "batch_size: expected an integer >= 1, got str 'ten'"),
    ('out = "run"\nn_hidden = -4\n', "n_hidden: expected an integer >= 1, got -4"),
    ('out = "run"\nn_hidden = 4\nmethod = "gibbs"\n', "method: expected one of 'pcd', 'cd', got 'gibbs'"),
    ('n_hidden = 4\n', "out: required"),
])
def test_bad_config_exits_nonzero_naming_the_key_and_writes_nothing(tmp_path, text, message):
    (tmp_path / "bad.toml").write_text(text)
    before = tree(tmp_path)
    res = pyrbm_cli("train", "--config", "bad.toml", cwd=tmp_path)
    assert res.returncode == 2
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert tree(tmp_path) == before


def test_bad_scan_config_reports_every_problem_and_writes_nothing(tmp_path):
    res = pyrbm_cli("scan", "--out", "s", "--grid", "n_hidden=4,-6", "--set", "foo=1", "--executor", "spark",
                    cwd=tmp_path)
    assert res.returncode == 2
    for part in ("executor: expected 'serial', 'processes', 'dask'", "foo: unknown key",
                 "n_hidden: expected an integer >= 1, got -6"):
        assert part in res.stderr
    assert tree(tmp_path) == []


def test_scan_command_equals_the_scan_api_and_reruns(tmp_path):
    args = ["scan", "--out", "s", "--grid", "lr=0.01,0.1", "--set", "n_hidden=4", "--set", "n_samples=300",
            "--set", "batch_size=50", "--set", "n_epochs=2"]
    res = pyrbm_cli(*args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "2 points, 2 done, 0 skipped, 0 failed" in res.stderr
    again = pyrbm_cli(*args, cwd=tmp_path)
    assert "2 points, 0 done, 2 skipped, 0 failed" in again.stderr
    ref = Scan(tmp_path / "ref", {"lr": [0.01, 0.1]}, fixed={"n_hidden": 4, "n_samples": 300, "batch_size": 50,
                                                              "n_epochs": 2})
    ref.run("train")
    got = Scan.open(tmp_path / "s").collect()
    np.testing.assert_array_equal(got.singular_value.values, ref.collect().singular_value.values)
    rep = pyrbm_cli("report", "s", cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr
    assert "2 points (2 done, 0 failed, 0 pending)" in rep.stdout


def test_sample_command_equals_gibbs_sampler(tmp_path):
    ham = pyrbm.Hamiltonian.random(10, 5, sigma_w=0.3, seed=2)
    pyrbm.save(ham, tmp_path / "model.nc")
    res = pyrbm_cli("sample", "--out", "g", "--model", "model.nc", "--n-chains", "16", "--n-steps", "20",
                    "--thin", "2", "--seed", "5", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    ref, _ = pyrbm.GibbsSampler(n_chains=16, seed=5).run(ham, n_steps=20, thin=2, progress=False)
    got = pyrbm.load(tmp_path / "g" / "result.nc")
    np.testing.assert_array_equal(got.energy.values, ref.energy.values)


@pytest.mark.parametrize("cmd", ["train", "sample", "langevin", "scan", "report", "info"])
def test_help_has_examples(cmd, capsys):
    from pyrbm.cli import main

    with pytest.raises(SystemExit) as exit_:
        main([cmd, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"pyrbm {cmd}" in out
    if cmd == "train":
        assert "--n-hidden" in out and "--lr" in out


def test_failures_are_one_line(tmp_path):
    """Changed with issue 18: an unreadable input file and a missing data path are bad input (exit 2, was 1)."""
    res = pyrbm_cli("scan", "--help", cwd=tmp_path)
    assert res.returncode == 0 and "[grid]" in res.stdout
    (tmp_path / "notes.txt").write_text("not a netCDF file")
    res = pyrbm_cli("info", "notes.txt", cwd=tmp_path)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "not a readable netCDF file" in res.stderr
    res = pyrbm_cli("train", "--out", "r", "--n-hidden", "4", "--data", "missing.npy", cwd=tmp_path)
    assert res.returncode == 2 and "missing.npy" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


# ---------------------------------------------------------------------- hostile configurations
@pytest.mark.parametrize("text, message", [
    ('out = "run"\nn_hidden = 18446744073709551616\n', "n_hidden: the integer 18446744073709551616 is out of range"),
    ('out = "run"\nn_hidden = 4\nx = ' + "[" * 3000 + "]" * 3000 + "\n", "nests tables or arrays too deeply"),
])
def test_huge_integers_and_deep_toml_exit_2_in_one_line(tmp_path, text, message):
    """Before: an integer >= 2**64 exited 1 with a numpy TypeError; deep nesting raised RecursionError."""
    (tmp_path / "bad.toml").write_text(text)
    res = pyrbm_cli("train", "--config", "bad.toml", cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert tree(tmp_path) == ["bad.toml"]


def test_a_failed_run_can_be_retried_into_the_same_out(tmp_path, monkeypatch, capsys):
    """Before: a failure found only while running left --out behind and the retry was refused as "exists".
    (Changed with issue 18: batch_size > n_samples is now refused before work, exit 2; the failure
    while running is a diverging training here.)"""
    monkeypatch.chdir(tmp_path)
    args = ["train", "--out", "run", "--data", "synthetic", "--n-samples", "40", "--n-hidden", "4",
            "--n-epochs", "1", "--batch-size", "20"]
    fit = pyrbm.Trainer.fit

    def diverging(self, *a, **k):
        raise FloatingPointError("training diverged: the parameters are infinite or NaN")

    monkeypatch.setattr(pyrbm.Trainer, "fit", diverging)
    assert main(args) == 1
    assert "error.txt" in capsys.readouterr().err
    assert (tmp_path / "run" / "error.txt").is_file()
    monkeypatch.setattr(pyrbm.Trainer, "fit", fit)
    assert main(args) == 0
    assert sorted(os.listdir(tmp_path / "run")) == ["params.json", "result.nc", "status.json"]
    assert main(args) == 2 and "exists" in capsys.readouterr().err  # a finished run is never replaced


@pytest.mark.parametrize("args, message", [
    (["--seed", "-1"], "argument --seed: expected an integer >= 0, got -1"),
    (["--lr", "nan"], "argument --lr: expected a finite number > 0, got 'nan'"),
    (["--n-hidden", "0"], "argument --n-hidden: expected an integer >= 1, got 0"),
    (["--out", "notes.txt"], "--out: notes.txt is a file; give a directory"),
])
def test_train_script_refuses_bad_arguments_in_one_line(tmp_path, args, message):
    """Before: simulations/train.py printed tracebacks for these."""
    (tmp_path / "notes.txt").write_text("")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, str(ROOT / "simulations" / "train.py"), "--data", "synthetic", *args],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and message in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_info_describes_results_and_models(tmp_path):
    ds = xr.Dataset({"chi": ("beta", [0.1, 0.4], {"long_name": "susceptibility", "units": "1"})},
                    coords={"beta": ("beta", [0.5, 1.0], {"long_name": "inverse temperature", "units": "1"})},
                    attrs={"schema": "pyrbm.result/1"})
    pyrbm.save(ds, tmp_path / "chi.nc")
    pyrbm.save(pyrbm.Hamiltonian.random(5, 3, sigma_w=0.2, seed=1), tmp_path / "model.nc")
    res = pyrbm_cli("info", "chi.nc", cwd=tmp_path)
    assert res.returncode == 0 and "schema: pyrbm.result/1" in res.stdout and "susceptibility" in res.stdout, res
    assert "model: none stored" in res.stdout
    res = pyrbm_cli("info", "model.nc", cwd=tmp_path)
    assert res.returncode == 0 and "schema: pyrbm.hamiltonian/1" in res.stdout, res
    assert "model: N=5 visible x M=3 hidden" in res.stdout


# ---------------------------------------------------------------------- issue 18
def test_params_json_holds_the_settings_used(tmp_path, monkeypatch, capsys):
    """Before: params.json recorded the default n_visible = 20 (and no lr, n_chains) for a 30-unit run."""
    monkeypatch.chdir(tmp_path)
    data = (np.random.default_rng(0).random((120, 30)) < 0.3).astype(np.int8)
    np.save(tmp_path / "d.npy", data)
    assert main(["train", "--out", "runs/a", "--data", "d.npy", "--n-hidden", "5", "--n-epochs", "1",
                 "--batch-size", "40", "--no-progress"]) == 0
    params = json.loads((tmp_path / "runs/a/params.json").read_text())
    attrs = pyrbm.load(tmp_path / "runs/a/result.nc").attrs
    assert params["n_visible"] == 30 == attrs["n_visible"] and params["n_samples"] == 120 == attrs["n_samples"]
    assert params["lr"] == 0.01 == attrs["trainer_lr"] and params["n_chains"] == 40 == attrs["trainer_n_chains"]
    assert main(["sample", "--out", "runs/g", "--model", "runs/a", "--n-chains", "4", "--n-steps", "3"]) == 0
    params = json.loads((tmp_path / "runs/g/params.json").read_text())
    assert (params["n_visible"], params["n_hidden"], params["beta"]) == (30, 5, 1.0)
    assert "sigma_w" not in params and "model_seed" not in params
    capsys.readouterr()


@pytest.mark.skipif(not os.environ.get("PYRBM_DATA"), reason="MNIST files ($PYRBM_DATA) not set")
def test_params_json_of_an_mnist_run_says_784(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--out", "m", "--data", "mnist", "--n-samples", "200", "--n-hidden", "4",
                 "--n-epochs", "1", "--no-progress"]) == 0
    params = json.loads((tmp_path / "m/params.json").read_text())
    assert (params["n_visible"], params["n_samples"]) == (784, 200)


def test_train_prints_a_table_per_record_and_a_progress_bar_on_request(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["train", "--data", "synthetic", "--n-samples", "200", "--n-hidden", "6", "--n-epochs", "3",
            "--batch-size", "50", "--lr", "0.1"]
    assert main([*args, "--out", "a", "--progress"]) == 0
    out, err = capsys.readouterr()
    assert "training: 100%" in err and "upd" in err          # the tqdm bar, on standard error
    lines = out.splitlines()
    assert lines[0].split() == ["epoch", "sigma_1", ">MP", ">4T", "recon", "PLL"]
    hist = pyrbm.load(tmp_path / "a/result.nc")
    rows = [line.split() for line in lines[1:1 + hist.sizes["epoch"]]]
    assert [float(r[0]) for r in rows] == [0.0, 1.0, 2.0, 3.0]
    sv = hist.singular_value.values
    for r, s, mp, t4 in zip(rows, sv, hist.n_above_mp.values, hist.n_above_4T.values):
        assert float(r[1]) == pytest.approx(s.max(), abs=6e-4)      # the largest sigma, whichever mode
        assert (int(r[2]), int(r[3])) == (mp, t4)
    assert float(rows[-1][5]) == pytest.approx(float(hist.pseudo_log_likelihood[-1]), abs=6e-3)
    assert lines[-1].startswith("pyrbm train: wrote a/result.nc")
    assert main([*args, "--out", "b", "--no-progress"]) == 0
    assert capsys.readouterr().err == ""
    assert main([*args, "--out", "c"]) == 0                     # standard error is not a terminal here
    assert capsys.readouterr().err == ""


def test_info_takes_several_files(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    pyrbm.save(pyrbm.Hamiltonian.random(5, 3, sigma_w=0.2, seed=1), tmp_path / "m1.nc")
    pyrbm.save(pyrbm.Hamiltonian.random(7, 2, sigma_w=0.2, seed=1), tmp_path / "m2.nc")
    assert main(["info", "m1.nc", "m2.nc"]) == 0
    out = capsys.readouterr().out
    assert out.index("file: m1.nc") < out.index("N=5 visible") < out.index("file: m2.nc") < out.index("N=7 visible")
    assert main(["info", "m1.nc", "gone.nc"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "gone.nc" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["sample", "--out", "g", "--model", "nowhere.nc"], "model: cannot read a model from nowhere.nc"),
    (["sample", "--out", "g", "--model", "notes.txt"], "model: cannot read a model from notes.txt"),
    (["langevin", "--out", "g", "--model", "nowhere"], "model: cannot read a model from nowhere"),
    (["train", "--out", "r", "--n-hidden", "3", "--data", "missing.npy"], "missing.npy"),
    (["train", "--out", "r", "--n-hidden", "3", "--data", "grey.npy"], "data"),
    (["train", "--out", "r", "--n-hidden", "3", "--n-samples", "40", "--batch-size", "50"],
     "batch_size: 50 is larger than the data set (40 samples)"),
    (["train", "--out", "r", "--n-hidden", "30", "--n-visible", "30", "--log-likelihood", "true"],
     "log_likelihood: the exact log-likelihood"),
    (["train", "--out", "notes.txt/r", "--n-hidden", "3"], "is a file, not a directory"),
    (["train", "--config", "none.toml"], "config: no file at none.toml"),
    (["info", "nowhere.nc"], "path: no file or directory at nowhere.nc"),
    (["info", "notes.txt"], "not a readable netCDF file"),
    (["report", "nowhere"], "path: no file or directory at nowhere"),
    (["report", "empty"], "holds no result.nc"),
    (["scan", "--out", "s", "--grid", "seed=0,1", "--set", "n_hidden=3", "--set", "data=missing.npy"],
     "data: no file at missing.npy"),
    (["scan", "--out", "s", "--point", "gibbs", "--grid", "seed=0,1", "--set", "model=nowhere.nc"],
     "model: no model file or finished run at nowhere.nc"),
])
def test_every_bad_input_exits_2_in_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys, args, message):
    """Before: a missing --model, --data or info path exited 1 (as if the work had failed)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not a netCDF file")
    (tmp_path / "empty").mkdir()
    np.save(tmp_path / "grey.npy", np.full((60, 4), 0.5))
    before = tree(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert tree(tmp_path) == before


def test_missing_mnist_is_bad_input_for_both_commands(tmp_path, monkeypatch, capsys):
    """Before: simulations/train.py --data mnist without the files ended in a traceback (exit 1)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYRBM_DATA": str(tmp_path / "none"),
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    res = subprocess.run([sys.executable, str(ROOT / "simulations" / "train.py"), "--data", "mnist", "--no-download"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "--data mnist: MNIST files not found" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "runs").exists()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYRBM_DATA", str(tmp_path / "none"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["train", "--out", "r", "--data", "mnist", "--n-samples", "123", "--n-hidden", "3"]) == 2
    err = capsys.readouterr().err
    assert "data: 'mnist': MNIST files not found" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()
