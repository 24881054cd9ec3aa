"""The README's reproduction section works on the first try, and a missing library stops a command
before any work, naming the line that installs it."""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pyrbm
from pyrbm._optional import INSTALL, MissingDependency, require
from pyrbm.scan import Scan

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "simulations" / "paper.py"

# Run a command with ``name`` made unimportable (sys.modules[name] = None), as on a machine without it.
WITHOUT = """
import runpy, sys
sys.modules[sys.argv[1]] = None
cmd = sys.argv[2]
sys.argv = sys.argv[2:]
if cmd.endswith('.py'):
    runpy.run_path(cmd, run_name='__main__')
else:
    from pyrbm.cli import main
    sys.exit(main(sys.argv[1:]))
"""


def run_without(module, *args, cwd):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WITHOUT, module, *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    return proc, time.perf_counter() - t0


def test_require_names_the_install_line(monkeypatch):
    require("numpy", purpose="x") if "numpy" in INSTALL else None
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependency, match=re.escape(INSTALL["matplotlib"])) as err:
        require("matplotlib", purpose="drawing figures")
    assert "drawing figures needs matplotlib" in str(err.value)
    assert isinstance(err.value, ImportError)
    with pytest.raises(ValueError, match="modules: expected names from"):
        require("no_such_module", purpose="x")


def test_paper_refuses_without_matplotlib_before_any_work(tmp_path):
    out = tmp_path / "study"
    proc, seconds = run_without("matplotlib", PAPER, "--profile", "tiny", "--out", out, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert INSTALL["matplotlib"] in proc.stderr and "matplotlib" in proc.stderr
    assert not out.exists(), "the refused command wrote its output directory"
    print(f"refused in {seconds:.2f} s (process start, imports and check)")


def test_paper_refuses_a_dask_executor_without_dask(tmp_path):
    out = tmp_path / "study"
    proc, _ = run_without("distributed", PAPER, "--profile", "tiny", "--out", out, "--executor", "dask",
                          cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert INSTALL["distributed"] in proc.stderr and not out.exists()


def test_report_refuses_without_matplotlib_and_writes_nothing(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    ds, _ = pyrbm.GibbsSampler(4, seed=0).run(pyrbm.Hamiltonian.random(6, 4, seed=0), n_steps=3,
                                              out=run / "result.nc")
    before = sorted(p.name for p in run.iterdir())
    proc, _ = run_without("matplotlib", "pyrbm", "report", run, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert INSTALL["matplotlib"] in proc.stderr
    assert sorted(p.name for p in run.iterdir()) == before


def test_dask_scan_refuses_before_any_point(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    scan = Scan(tmp_path / "scan", {"seed": [0, 1]}, fixed={"data": "synthetic", "n_samples": 50,
                                                             "n_hidden": 4, "n_epochs": 1})
    with pytest.raises(MissingDependency, match=re.escape(INSTALL["distributed"])):
        scan.run("train", executor="dask")
    assert not [p for p in (tmp_path / "scan").glob("*") if p.is_dir()], "a point ran or was created"


def reproduction_block() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Reproducing the paper", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_reproduction_block_is_the_quickstart_install_then_paper():
    lines = reproduction_block()
    quick = (ROOT / "README.md").read_text().split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    install = re.findall(r"```bash\n(.*?)\n```", quick, flags=re.S)[0].split("&& .venv/bin/python")[0].strip()
    assert lines[0].strip() == install
    assert "simulations/paper.py --profile quick" in lines[-1]


@pytest.mark.slow
def test_readme_reproduction_in_a_fresh_environment(tmp_path):
    """The README's reproduction block, as written (tiny profile), in a copy of the tree with a new venv."""
    tree = tmp_path / "pyrbm"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, tree / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    for line in reproduction_block():
        line = line.replace("--profile quick", "--profile tiny").replace("runs/paper-quick", "runs/paper-tiny")
        proc = subprocess.run(["bash", "-c", line], cwd=tree, env=env, capture_output=True, text=True,
                              timeout=1800)
        assert proc.returncode == 0, f"{line}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    study = tree / "runs" / "paper-tiny"
    assert (study / "report.md").is_file()
    figures = sorted(p.name for p in (study / "figures").glob("*.png"))
    assert len(figures) >= 11, figures
