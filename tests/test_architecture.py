"""The project's layering, read from its source: what imports what, and which names cross a module.

* ``oracle/`` measures any implementation through ``oracle.implementation`` and never imports ``targets/``
  or ``reports/``, not even inside a function: the dependencies run reports → targets → oracle.
* No import cycle among the project's modules (function-level imports count: a cycle that only works
  because one side imports late is still a cycle).
* No private name (``_x``) of one module is imported or read by another, in the packages or in the tests.

Each rule is checked against a planted violation too, so that a scan that silently sees nothing fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("oracle", "targets", "reports")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _sources(dirs=PACKAGES) -> dict[str, Path]:
    return {_module_name(p): p for d in dirs for p in sorted((ROOT / d).rglob("*.py"))}


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return name in modules and modules[name].name == "__init__.py"


def imports_of(name: str, tree: ast.AST, modules: dict[str, Path]) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import statement anywhere in the tree,
    relative imports resolved against module ``name``."""
    here = name if _is_package(name, modules) else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            out.append((base, [a.name for a in node.names], node.lineno))
    return out


def project_edges(modules: dict[str, Path], trees: dict[str, ast.AST]) -> dict[str, set[str]]:
    """module → the project modules it imports (``from pkg import sub`` counts as importing pkg.sub)."""
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for m, tree in trees.items():
        for target, names, _ in imports_of(m, tree, modules):
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
            if subs:
                edges[m].update(subs)
            if target in modules and len(subs) < len(names or [None]):
                edges[m].add(target)
            elif target not in modules and not subs:
                # "import oracle.judge" or a name inside a module: its module, if it is ours
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target:
                    edges[m].add(target)
        edges[m].discard(m)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def private_crossings(name: str, tree: ast.AST, modules: dict[str, Path]) -> list[str]:
    """Private names of other project modules that ``name`` imports or reads as ``module._x``."""
    found = []
    aliases: dict[str, str] = {}  # local name -> project module it is bound to
    for target, names, line in imports_of(name, tree, modules):
        ours = target.split(".")[0] in PACKAGES
        for n in names:
            full = f"{target}.{n}"
            if full in modules:
                aliases[n] = full
            elif ours and n.startswith("_") and not n.startswith("__"):
                found.append(f"{name}:{line} imports {target}.{n}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in PACKAGES:
                    aliases[a.asname or a.name] = a.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")):
            base = ast.unparse(node.value)
            if base in aliases and aliases[base] != name:
                found.append(f"{name}:{node.lineno} reads {aliases[base]}.{node.attr}")
    return found


@pytest.fixture(scope="module")
def project():
    modules = _sources()
    trees = {m: ast.parse(p.read_text(encoding="utf-8"), str(p)) for m, p in modules.items()}
    return modules, trees


def test_the_oracle_imports_neither_targets_nor_reports(project):
    modules, trees = project
    bad = [f"{m}:{line} imports {target}" for m, tree in trees.items() if m.split(".")[0] == "oracle"
           for target, _, line in imports_of(m, tree, modules) if target.split(".")[0] in ("targets", "reports")]
    assert not bad, "\n".join(bad)


def test_no_import_cycle_among_the_modules(project):
    modules, trees = project
    found = cycles(project_edges(modules, trees))
    assert not found, "import cycles: " + "; ".join(" ⇄ ".join(c) for c in found)


def test_no_private_name_crosses_a_module(project):
    modules, trees = project
    test_modules = _sources(("tests",))
    everything = {**modules, **test_modules}
    test_trees = {m: ast.parse(p.read_text(encoding="utf-8"), str(p)) for m, p in test_modules.items()}
    bad = [hit for m, tree in {**trees, **test_trees}.items() for hit in private_crossings(m, tree, everything)]
    assert not bad, "\n".join(bad)


# --- the scan itself, on planted source ------------------------------------------------------------------------

def _planted(sources: dict[str, str]):
    modules = {m: ROOT / (m.replace(".", "/") + ".py") for m in sources}
    return modules, {m: ast.parse(src) for m, src in sources.items()}


def test_the_scan_sees_a_function_level_import_of_targets_from_the_oracle():
    modules, trees = _planted({"oracle.judge": "def f():\n    from targets.isolation import X\n"})
    hits = [t for t, _, _ in imports_of("oracle.judge", trees["oracle.judge"], modules)]
    assert "targets.isolation" in hits


def test_the_scan_sees_a_cycle_made_of_late_imports():
    modules, trees = _planted({"oracle.cache": "def f():\n    from .evaluate import g\n",
                               "oracle.evaluate": "from .cache import table\n",
                               "oracle.fast": "from .formats import F\n", "oracle.formats": ""})
    assert cycles(project_edges(modules, trees)) == [["oracle.cache", "oracle.evaluate"]]


def test_the_scan_sees_private_names_taken_or_read():
    modules, trees = _planted({"oracle.judge": "def _caller(): pass\n",
                               "oracle.exhaustive": "from .judge import _caller, Verdict\n",
                               "oracle.tally": "from oracle import judge\nx = judge._caller\n"})
    hits = private_crossings("oracle.exhaustive", trees["oracle.exhaustive"], modules) + \
        private_crossings("oracle.tally", trees["oracle.tally"], modules)
    assert hits == ["oracle.exhaustive:1 imports oracle.judge._caller", "oracle.tally:2 reads oracle.judge._caller"]
