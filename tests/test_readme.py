"""The README's Quickstart is the product's front door: keep it true."""

import re
from pathlib import Path
from mnist_available import require_mnist

ROOT = Path(__file__).resolve().parents[1]


def quickstart_commands():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(?:bash|sh)?\n(.*?)\n```", section, flags=re.S)


def test_quickstart_has_exactly_two_commands():
    blocks = quickstart_commands()
    assert len(blocks) == 2, blocks
    assert all(len(b.strip().splitlines()) == 1 for b in blocks), blocks


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = quickstart_commands()[1].strip()
    assert "pytest" in test_command
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci


def test_main_job_script_exists():
    main = quickstart_commands()[0]
    scripts = re.findall(r"(simulations/\S+\.py)", main)
    assert scripts and all((ROOT / s).is_file() for s in scripts)


def test_tour_runs(tmp_path, monkeypatch):
    """Every line of the README's tour runs as written (with plotting switched off)."""
    require_mnist()
    import matplotlib

    matplotlib.use("Agg")
    text = (ROOT / "README.md").read_text()
    code = re.search(r"## A short tour.*?```python\n(.*?)```", text, flags=re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md tour", "exec"), namespace)
    assert (tmp_path / "run.nc").is_file()
    assert namespace["history"].sizes["mode"] == 64
    assert namespace["lds"].sizes["mode"] == 10
