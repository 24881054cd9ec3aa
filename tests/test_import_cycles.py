"""No import cycle inside pyrbm: the module-level imports between its modules form a DAG.

Edges are the ``import``/``from ... import`` statements at module level (imports inside
functions run later and are not part of the import order) between pyrbm's modules, the
top-level package ``pyrbm`` (which imports everything to re-export it) left out as a target.
Importing ``a.b.c`` also imports the packages ``a.b`` (their ``__init__``), so those are edges too.
"""

import ast
from pathlib import Path

import pyrbm

ROOT = Path(pyrbm.__file__).resolve().parent


def _modules():
    out = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out[".".join(parts)] = path
    return out


def _targets(name: str, path: Path, node, modules) -> set:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    if isinstance(node, ast.Import):
        bases = [a.name for a in node.names]
    else:
        if node.level:
            base = package.split(".")
            base = base[:len(base) - node.level + 1]
            mod = ".".join(base + ([node.module] if node.module else []))
        else:
            mod = node.module or ""
        bases = [mod] + [f"{mod}.{a.name}" for a in node.names]
    for b in bases:
        parts = b.split(".")
        for i in range(2, len(parts) + 1):  # the module and the packages it passes through
            cand = ".".join(parts[:i])
            if cand in modules:
                found.add(cand)
    parts = name.split(".")
    ancestors = {".".join(parts[:i]) for i in range(1, len(parts))}  # already initialising
    return found - {"pyrbm", name} - ancestors


def test_no_import_cycles_inside_pyrbm():
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        edges = set()
        for node in tree.body:  # module level only
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= _targets(name, path, node, modules)
        graph[name] = edges
    state, stack, cycles = {}, [], []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                cycles.append(stack[stack.index(m):] + [m])
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
    assert graph["pyrbm.experiments.results"] >= {"pyrbm.scan.points", "pyrbm.scan"}  # the graph is real
