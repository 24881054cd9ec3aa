"""Every example that pyrbm prints (``pyrbm COMMAND --help``, ``simulations/train.py --help``,
the README's "Command line" table) runs in a fresh directory.

The default suite runs each example in-process with settings appended that make it quick
(:data:`QUICK`: fewer epochs, samples and steps, the serial executor; the last value of a
flag wins, so the example's own flags are parsed and checked as printed). The test marked
slow runs the ``pyrbm`` examples exactly as printed, as subprocesses. MNIST is read from
``$PYRBM_DATA``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from pyrbm.cli import EXAMPLES, main

ROOT = Path(__file__).resolve().parents[1]
ORDER = ("train", "sample", "langevin", "scan", "report", "info")

#: Appended to an example in the quick run: (command, flags). ``simulations/train.py --paper``
#: is a run of hours; its quick form keeps the flag and overrides every size.
QUICK = {
    "train": ["--n-epochs", "1", "--n-samples", "200"],
    "sample": ["--n-steps", "10"],
    "langevin": ["--n-steps", "50"],
    "scan": ["--set", "n_epochs=1", "--set", "n_samples=200", "--executor", "serial"],
    "report": [],
    "info": [],
    "simulations/train.py": ["--epochs", "1", "--samples", "600", "-k", "1", "--batch-size", "100",
                             "--n-chains", "100", "--no-progress"],
}

needs_mnist = pytest.mark.skipif(not os.environ.get("PYRBM_DATA"), reason="MNIST files ($PYRBM_DATA) not set")


def examples(text: str, program: str = "pyrbm") -> tuple[list, dict]:
    """The command lines (argument lists, comments removed) of an examples text, and the files
    it shows (``  NAME.toml:`` followed by lines indented by four spaces)."""
    commands, files, current = [], {}, None
    for line in text.splitlines():
        if current is not None and line.startswith("    "):
            files[current].append(line[4:])
            continue
        current = None
        stripped = line.strip()
        if stripped.startswith(program + " "):
            commands.append(shlex.split(stripped.split("#")[0])[len(program.split()):])
        elif re.fullmatch(r"[\w.-]+\.toml:", stripped):
            current = stripped[:-1]
            files[current] = []
    return commands, {name: "\n".join(lines) + "\n" for name, lines in files.items()}


def readme_examples() -> list:
    """The ``pyrbm ...`` command lines of the README's "Command line" table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Command line", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `pyrbm ")]
    return [shlex.split(re.match(r"\| `pyrbm ([^`]*)`", row).group(1)) for row in rows]


def help_examples() -> tuple[list, dict]:
    commands, files = [], {}
    for cmd in ORDER:
        c, f = examples(EXAMPLES[cmd])
        assert c and all(args[0] == cmd for args in c), (cmd, c)
        commands += c
        files.update(f)
    return commands, files


def test_examples_are_found():
    commands, files = help_examples()
    assert len(commands) == 12 and sorted(files) == ["scan.toml", "train.toml"]
    assert [args[0] for args in readme_examples()] == list(ORDER)
    assert len(examples(_train_script().EXAMPLES, "python simulations/train.py")[0]) == 4


def _run_quick(args, capsys) -> None:
    code = main([*args, *QUICK[args[0]]])
    out = capsys.readouterr()
    assert code == 0, (args, out.err)


@needs_mnist
def test_help_examples_run_in_a_fresh_directory(tmp_path, monkeypatch, capsys):
    """Each subcommand's --help examples, in order (sample reads the model train wrote), with QUICK appended."""
    monkeypatch.chdir(tmp_path)
    commands, files = help_examples()
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    for args in commands:
        _run_quick(args, capsys)
    for out in ("runs/syn16", "runs/mnist64", "runs/mnist64-lr05", "runs/gibbs", "runs/random", "runs/diffusion"):
        assert (tmp_path / out / "result.nc").is_file(), out
    assert (tmp_path / "scans/hidden/scan.json").is_file() and (tmp_path / "figs/lr/summary.txt").is_file()


@needs_mnist
def test_readme_examples_run_in_a_fresh_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for args in readme_examples():
        _run_quick(args, capsys)
    assert (tmp_path / "runs/mnist64/report/summary.txt").is_file()


def _train_script():
    spec = importlib.util.spec_from_file_location("train_script", ROOT / "simulations" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_script_examples_run_in_a_fresh_directory(tmp_path, monkeypatch, capsys):
    """simulations/train.py --help examples, QUICK appended; synthetic data (MNIST-free)."""
    monkeypatch.chdir(tmp_path)
    script = _train_script()
    commands, _ = examples(script.EXAMPLES, "python simulations/train.py")
    for args in commands:
        script.main([*args, *QUICK["simulations/train.py"], "--data", "synthetic"])
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(runs) == 4 and (tmp_path / "runs/paper10").is_dir(), runs
    # --paper sets the optimizer (not overridden above); the flags given override its sizes
    paper = [r for r in runs if "adam" in r]
    assert paper == ["train_synthetic600_M500_pcd1_adam_lr0.001_B100_C100_seed0"], runs
    text = capsys.readouterr().out
    assert "sigma_1..5" in text and " >MP  >4T    recon       PLL" in text


@pytest.mark.slow
@needs_mnist
def test_help_and_readme_examples_run_as_printed(tmp_path):
    """The pyrbm examples exactly as printed, as subprocesses (minutes: MNIST runs, a dask scan)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    commands, files = help_examples()
    for where, (cmds, extra) in {"help": (commands, files), "readme": (readme_examples(), {})}.items():
        cwd = tmp_path / where
        cwd.mkdir()
        for name, text in extra.items():
            (cwd / name).write_text(text)
        for args in cmds:
            res = subprocess.run([sys.executable, "-m", "pyrbm", *args], cwd=cwd, env=env, capture_output=True,
                                 text=True, timeout=900)
            assert res.returncode == 0, (where, args, res.stderr[-2000:])
