"""Layering of the package: the numba kernels depend on nothing above them, and code above
them uses only their public entry points (rule 7 of the API contract)."""

import ast
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "pyrbm"
KERNELS = PKG / "_kernels"
ALLOWED = {"numpy", "numba", "math", "__future__"}


def _modules(*dirs):
    files = []
    for d in dirs:
        files += sorted(p for p in d.rglob("*.py") if "__pycache__" not in p.parts)
    return files


def _kernel_modules():
    return {p.stem for p in KERNELS.glob("*.py")} - {"__init__"}


def _rel(path):
    return path.relative_to(ROOT).as_posix()


def kernel_import_violations(path: Path) -> list[str]:
    """Imports of a kernel module other than numpy, numba, math and sibling kernels."""
    bad = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            bad += [a.name for a in node.names if a.name.split(".")[0] not in ALLOWED]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 1 and (node.module is None
                                    or node.module.split(".")[0] in _kernel_modules()):
                continue        # from . import x / from .rng import y: a sibling kernel
            if node.level == 0 and node.module.split(".")[0] in ALLOWED:
                continue
            bad.append("." * node.level + (node.module or ""))
    return [f"{_rel(path)} imports {name}" for name in bad]


def _kernel_of(node: ast.ImportFrom, path: Path) -> tuple[str | None, bool]:
    """(kernel module named by a ``from ... import`` node, whether the node names the package)."""
    mod = node.module or ""
    if node.level == 0:
        parts = mod.split(".")
        if parts[:2] != ["pyrbm", "_kernels"]:
            return None, False
        return (parts[2], False) if len(parts) > 2 else (None, True)
    # relative: resolve against the importing module's package
    pkg = path.parent.relative_to(ROOT).parts[: len(path.parent.relative_to(ROOT).parts) - node.level + 1]
    parts = list(pkg) + (mod.split(".") if mod else [])
    if parts[:2] != ["pyrbm", "_kernels"]:
        return None, False
    return (parts[2], False) if len(parts) > 2 else (None, True)


def private_kernel_uses(path: Path) -> list[str]:
    """Underscore names of kernel modules used by a module outside the kernels."""
    tree = ast.parse(path.read_text(), str(path))
    aliases = {}     # local name -> kernel module
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            kernel, package = _kernel_of(node, path)
            for a in node.names:
                local = a.asname or a.name
                if package:                      # from pyrbm._kernels import training as kt
                    aliases[local] = a.name
                elif kernel is not None:         # from pyrbm._kernels.gibbs import name
                    if a.name.startswith("_"):
                        bad.append(f"{kernel}.{a.name}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[:2] == ["pyrbm", "_kernels"] and len(parts) > 2 and a.asname:
                    aliases[a.asname] = parts[2]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                and not node.attr.startswith("__"):
            base = node.value
            if isinstance(base, ast.Name) and base.id in aliases:
                bad.append(f"{aliases[base.id]}.{node.attr}")
            # pyrbm._kernels.gibbs._x written out in full
            chain = []
            while isinstance(base, ast.Attribute):
                chain.append(base.attr)
                base = base.value
            if isinstance(base, ast.Name):
                chain.append(base.id)
                if chain[::-1][:2] == ["pyrbm", "_kernels"] and len(chain) == 3:
                    bad.append(f"{chain[0]}.{node.attr}")
    return [f"{_rel(path)} uses {name}" for name in sorted(set(bad))]


def test_kernels_import_only_numpy_numba_math_and_each_other():
    files = _modules(KERNELS)
    assert len(files) >= 5
    bad = [v for p in files for v in kernel_import_violations(p)]
    assert not bad, "\n".join(bad)


def test_higher_layers_call_only_public_kernel_functions():
    files = [p for p in _modules(PKG, ROOT / "simulations", ROOT / "benchmarks")
             if KERNELS not in p.parents]
    bad = [v for p in files for v in private_kernel_uses(p)]
    assert not bad, "\n".join(bad)


def test_the_checks_catch_violations(tmp_path):
    """The checks themselves find what they are meant to find (a planted package)."""
    kern = tmp_path / "pyrbm" / "_kernels"
    kern.mkdir(parents=True)
    global ROOT, KERNELS
    saved = ROOT, KERNELS
    ROOT, KERNELS = tmp_path, kern
    try:
        (kern / "gibbs.py").write_text("import numpy as np\nfrom .rng import mix\n")
        (kern / "rng.py").write_text("import scipy.special\nfrom ..hamiltonian import H\n"
                                     "from collections import namedtuple\nimport math\n")
        assert kernel_import_violations(kern / "gibbs.py") == []
        assert len(kernel_import_violations(kern / "rng.py")) == 3
        user = tmp_path / "pyrbm" / "user.py"
        user.write_text("from ._kernels import gibbs as _gk\nfrom pyrbm._kernels.rng import _mix, mix\n"
                        "import pyrbm._kernels.rng as r\n"
                        "_gk.sample_layer()\n_gk._sample_f32()\nr._x\n")
        found = private_kernel_uses(user)
        assert found == ["pyrbm/user.py uses gibbs._sample_f32", "pyrbm/user.py uses rng._mix",
                         "pyrbm/user.py uses rng._x"], found
    finally:
        ROOT, KERNELS = saved
