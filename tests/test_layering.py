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


# ---------------------------------------------------------------------- the import graph
def module_name(path: Path, root: Path) -> str:
    """Dotted name of a module file (``pyrbm/io/__init__.py`` → ``pyrbm.io``)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path, package: str = "pyrbm") -> dict[str, set[str]]:
    """``{module: modules of the package it imports}``, at any depth of the file (also inside functions).

    Importing ``a.b.c`` runs the ``__init__`` of ``a.b`` too: an edge goes to every package on
    the way that does not contain the importing module (those are already being imported).
    ``from . import x`` names the submodule ``x`` when there is one.
    """
    files = {module_name(p, root): p for p in (root / package).rglob("*.py") if "__pycache__" not in p.parts}
    graph = {}
    for name, path in files.items():
        is_pkg = path.name == "__init__.py"
        own = name.split(".")
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = own if is_pkg else own[:-1]
                    base = base[:len(base) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                subs = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in files]
                names = subs if len(subs) == len(node.names) else [mod] + subs
            else:
                continue
            for target in names:
                parts = target.split(".")
                for i in range(1, len(parts) + 1):
                    t = ".".join(parts[:i])
                    if t in files and t != name and not name.startswith(t + "."):
                        targets.add(t)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


#: The file layer's modules, bottom first: each may import only modules listed before it.
IO_LAYERS = [["pyrbm._meta"], ["pyrbm.io.netcdf"],
             ["pyrbm.io.trajectory", "pyrbm.io.history", "pyrbm.io.model", "pyrbm.io.result", "pyrbm.io.checkpoint"],
             ["pyrbm.io.writer"], ["pyrbm.io.storage"], ["pyrbm.io.api"], ["pyrbm.io"]]


def io_layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports of a file-layer module that do not point downward (or, from netcdf, into pyrbm at all)."""
    rank = {m: i for i, layer in enumerate(IO_LAYERS) for m in layer}
    bad = []
    for mod, i in rank.items():
        for target in sorted(graph.get(mod, ())):
            if target in rank and rank[target] >= i:
                bad.append(f"{mod} imports {target} (not below it)")
            elif target not in rank and i <= 1:
                bad.append(f"{mod} imports {target}: the low-level module imports nothing from pyrbm")
            elif target not in rank and target.startswith(("pyrbm.samplers", "pyrbm.scan", "pyrbm.training",
                                                           "pyrbm.experiments", "pyrbm.cli", "pyrbm.accessor")):
                bad.append(f"{mod} imports {target}, which is above the file layer")
    return bad


def test_no_import_cycle_in_pyrbm():
    graph = import_graph(ROOT)
    assert len(graph) > 40 and "pyrbm.io.netcdf" in graph
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" ↔ ".join(c) for c in found)


def test_file_layer_imports_only_downward():
    graph = import_graph(ROOT)
    assert all(m in graph for layer in IO_LAYERS for m in layer)
    bad = io_layer_violations(graph)
    assert not bad, "\n".join(bad)


def test_the_graph_checks_catch_planted_cycles(tmp_path):
    pkg = tmp_path / "pyrbm"
    (pkg / "io").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .io import save\n")
    (pkg / "_meta.py").write_text("")
    (pkg / "hamiltonian.py").write_text("from ._meta import x\n")
    (pkg / "io" / "__init__.py").write_text("from .api import save\n")
    (pkg / "io" / "api.py").write_text("from . import netcdf\nfrom ..hamiltonian import H\n")
    (pkg / "io" / "netcdf.py").write_text("from .._meta import x\n")
    assert cycles(import_graph(tmp_path)) == []
    # a cycle through a package's __init__:
    # hamiltonian → pyrbm.io.netcdf runs pyrbm/io/__init__ → api → hamiltonian
    (pkg / "hamiltonian.py").write_text("from ._meta import x\n\ndef f():\n    from .io.netcdf import y\n")
    assert cycles(import_graph(tmp_path)) == [["pyrbm.hamiltonian", "pyrbm.io", "pyrbm.io.api"]]
    (pkg / "hamiltonian.py").write_text("from ._meta import x\n")
    # an upward import in the file layer, and a direct two-module cycle
    (pkg / "io" / "netcdf.py").write_text("import pyrbm.hamiltonian\nfrom . import api\n")
    graph = import_graph(tmp_path)
    assert cycles(graph) == [["pyrbm.io.api", "pyrbm.io.netcdf"]]
    bad = io_layer_violations(graph)
    assert "pyrbm.io.netcdf imports pyrbm.io.api (not below it)" in bad
    assert "pyrbm.io.netcdf imports pyrbm.hamiltonian: the low-level module imports nothing from pyrbm" in bad
