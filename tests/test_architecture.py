"""The project's layering, read from its source: what imports what, and which names cross a module.

The packages, bottom to top, are ``[tool.setuptools] packages`` of pyproject.toml, in that order (the truth,
the implementations, the engine that measures one against the other, the writers, and the library with its
command line and pytest plugin on top). Read from every module of every package:

* **Layer order**: a module imports only its own package and the packages below it, for every pair,
  imports inside functions included (an upward import that only works because it runs late is still one).
* **No cycle** among the modules.
* **Imports inside functions** only of an optional framework (torch, TensorFlow, JAX, …: to keep start-up
  and ``--help`` fast), or of a module that may be missing (inside ``try`` … ``except ImportError``).
* **Private names** (``_x``) of one module are not imported, read as ``module._x``, nor reached with
  ``getattr``/``hasattr``/``setattr``/``delattr`` and a literal name the project defines as private — in
  the packages and in the tests.
* **The writers** (``reports``) import nothing of ``targets``, and from the engine only records and
  constants (classes and upper-case names), never a function: they cannot call a target or the judge.
* **The command-line module** parses and dispatches only: under 250 lines.

Each rule is also run on planted source that breaks it, so that a scan that silently sees nothing fails.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Bottom to top: the layer order is the order pyproject.toml lists the packages in.
PACKAGES: tuple[str, ...] = tuple(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                                  ["packages"])
#: Frameworks a target, the training step or a cluster may need, and a user may not have installed.
OPTIONAL_FRAMEWORKS = {"torch", "tensorflow", "keras", "jax", "jaxlib", "scipy", "onnx", "onnxruntime",
                       "openvino", "dask", "distributed"}
WRITERS, ENGINE, CLI = "reports", "engine", "softplus_cert.cli"
ATTRIBUTE_FUNCTIONS = {"getattr", "hasattr", "setattr", "delattr"}


def _module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _sources(dirs=PACKAGES) -> dict[str, Path]:
    return {_module_name(p): p for d in dirs for p in sorted((ROOT / d).rglob("*.py"))}


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return name in modules and modules[name].name == "__init__.py"


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


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
                # "import engine.judge" or a name inside a module: its module, if it is ours
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target:
                    edges[m].add(target)
        edges[m].discard(m)
    return edges


def upward_imports(modules: dict[str, Path], trees: dict[str, ast.AST], order=PACKAGES) -> list[str]:
    """Imports of a package above the importer's own (in ``order``, bottom to top)."""
    rank = {p: i for i, p in enumerate(order)}
    bad = []
    for m, tree in trees.items():
        for target, _, line in imports_of(m, tree, modules):
            mine, theirs = m.split(".")[0], target.split(".")[0]
            if theirs in rank and rank[theirs] > rank[mine]:
                bad.append(f"{m}:{line} imports {target} (layer {theirs} is above {mine})")
    return bad


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


def _guarded_by_import_error(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether ``node`` sits in the body of a ``try`` whose handlers catch ImportError (or a parent of it)."""
    while node in parents:
        parent = parents[node]
        if isinstance(parent, ast.Try) and node in parent.body:
            caught = {ast.unparse(h.type) for h in parent.handlers if h.type is not None}
            if caught & {"ImportError", "ModuleNotFoundError", "Exception"} or any(
                    "ImportError" in c for c in caught):
                return True
        node = parent
    return False


def late_imports(name: str, tree: ast.AST) -> list[str]:
    """Imports inside a function of anything but an optional framework or a module that may be missing."""
    parents = _parents(tree)
    bad = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        up, in_function = node, False
        while up in parents:
            up = parents[up]
            in_function |= isinstance(up, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if not in_function:
            continue
        tops = {a.name.split(".")[0] for a in node.names} if isinstance(node, ast.Import) else \
            {(node.module or ".").split(".")[0] if not node.level else "."}
        if tops <= OPTIONAL_FRAMEWORKS or _guarded_by_import_error(node, parents):
            continue
        bad.append(f"{name}:{node.lineno} imports {ast.unparse(node)!r} inside a function")
    return bad


def defined_privates(trees: dict[str, ast.AST]) -> set[str]:
    """Every private name the project defines: functions, classes, module names and attributes (``self._x``)."""
    names = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def private_crossings(name: str, tree: ast.AST, modules: dict[str, Path], privates: set[str] = frozenset()
                      ) -> list[str]:
    """Private names of other project modules that ``name`` imports, reads as ``module._x``, or reaches with
    getattr & co. and a literal name from ``privates`` (on anything but ``self`` and ``cls``)."""
    found = []
    aliases: dict[str, str] = {}  # local name -> project module it is bound to
    for target, names, line in imports_of(name, tree, modules):
        ours = target.split(".")[0] in PACKAGES + ("tests",)
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
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            base = ast.unparse(node.value)
            if base in aliases and aliases[base] != name:
                found.append(f"{name}:{node.lineno} reads {aliases[base]}.{node.attr}")
        if (isinstance(node, ast.Call) and ast.unparse(node.func).rpartition(".")[2] in ATTRIBUTE_FUNCTIONS
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
                and node.args[1].value in privates and ast.unparse(node.args[0]) not in ("self", "cls")):
            found.append(f"{name}:{node.lineno} reaches {ast.unparse(node.args[0])}.{node.args[1].value} "
                         f"with {ast.unparse(node.func)}")
    return found


def writer_violations(name: str, tree: ast.AST, modules: dict[str, Path],
                      engine_trees: dict[str, ast.AST]) -> list[str]:
    """What a writers module takes that lets it measure: anything of ``targets``, or an engine function."""
    functions = {f"{m}.{n.name}" for m, t in engine_trees.items() for n in t.body
                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    bad = []
    for target, names, line in imports_of(name, tree, modules):
        top = target.split(".")[0]
        if top == "targets":
            bad.append(f"{name}:{line} imports {target}: a writer never calls a target")
        elif top == ENGINE:
            if not names:
                bad.append(f"{name}:{line} imports the module {target}: a writer takes records, not modules")
            bad += [f"{name}:{line} imports {target}.{n}: a writer never calls the engine"
                    for n in names if f"{target}.{n}" in functions or f"{target}.{n}" in modules]
    return bad


@pytest.fixture(scope="module")
def project():
    modules = _sources()
    trees = {m: ast.parse(p.read_text(encoding="utf-8"), str(p)) for m, p in modules.items()}
    return modules, trees


def test_the_packages_are_read_from_pyproject():
    assert PACKAGES[0] == "oracle" and PACKAGES[-1] == "softplus_cert" and ENGINE in PACKAGES


def test_no_import_runs_upwards(project):
    modules, trees = project
    bad = upward_imports(modules, trees)
    assert not bad, "\n".join(bad)


def test_no_import_cycle_among_the_modules(project):
    modules, trees = project
    found = cycles(project_edges(modules, trees))
    assert not found, "import cycles: " + "; ".join(" ⇄ ".join(c) for c in found)


def test_imports_inside_functions_are_of_optional_frameworks_only(project):
    _, trees = project
    bad = [hit for m, tree in trees.items() for hit in late_imports(m, tree)]
    assert not bad, "\n".join(bad)


def test_no_private_name_crosses_a_module(project):
    modules, trees = project
    test_modules = _sources(("tests",))
    everything = {**modules, **test_modules}
    test_trees = {m: ast.parse(p.read_text(encoding="utf-8"), str(p)) for m, p in test_modules.items()}
    privates = defined_privates(trees)
    bad = [hit for m, tree in {**trees, **test_trees}.items()
           for hit in private_crossings(m, tree, everything, privates)]
    assert not bad, "\n".join(bad)


def test_the_writers_never_measure(project):
    modules, trees = project
    engine_trees = {m: t for m, t in trees.items() if m.split(".")[0] == ENGINE}
    bad = [hit for m, tree in trees.items() if m.split(".")[0] == WRITERS
           for hit in writer_violations(m, tree, modules, engine_trees)]
    assert not bad, "\n".join(bad)


def test_the_command_line_module_is_small(project):
    modules, _ = project
    lines = len(modules[CLI].read_text(encoding="utf-8").splitlines())
    assert lines < 250, f"{CLI} has {lines} lines: what a command does belongs in softplus_cert.commands"


# --- the scan itself, on planted source ------------------------------------------------------------------------

def _planted(sources: dict[str, str]):
    modules = {m: ROOT / (m.replace(".", "/") + ".py") for m in sources}
    return modules, {m: ast.parse(src) for m, src in sources.items()}


@pytest.mark.parametrize("source", ["from reports.html import write_html\n",
                                    "def f():\n    from softplus_cert.run import select\n",
                                    "import targets.base\n"])
def test_the_scan_sees_an_upward_import(source):
    modules, trees = _planted({"oracle.judge": source, "engine.tally": "from oracle.formats import F\n"})
    hits = upward_imports(modules, trees)
    assert len(hits) == 1 and hits[0].startswith("oracle.judge:")
    assert upward_imports(*_planted({"engine.tally": "from oracle.formats import F\n"})) == []


def test_the_scan_sees_a_cycle_made_of_late_imports():
    modules, trees = _planted({"engine.cache": "def f():\n    from engine.evaluate import g\n",
                               "engine.evaluate": "from engine.cache import table\n",
                               "oracle.fast": "from oracle.formats import F\n", "oracle.formats": ""})
    assert cycles(project_edges(modules, trees)) == [["engine.cache", "engine.evaluate"]]


def test_the_scan_sees_a_late_import_of_a_project_module():
    tree = ast.parse("import torch\n\ndef f():\n    import torch.nn\n    from engine.judge import judge\n"
                     "    try:\n        from numpy.lib import introspect\n    except ImportError:\n        pass\n"
                     "    import json\n")
    assert late_imports("engine.x", tree) == ["engine.x:5 imports 'from engine.judge import judge' inside a function",
                                              "engine.x:10 imports 'import json' inside a function"]


def test_the_scan_sees_private_names_taken_read_or_reached():
    modules, trees = _planted({"engine.judge": "def _caller(): pass\n",
                               "engine.exhaustive": "from engine.judge import _caller, Verdict\n",
                               "engine.tally": "from engine import judge\nx = judge._caller\n",
                               "softplus_cert.run": "def f(iso):\n    return getattr(iso, '_caller', None)\n",
                               "tests.t": "def test(monkeypatch, ex):\n    monkeypatch.setattr(ex, '_caller', 1)\n"
                                          "    getattr(ex, '_not_ours')\n"})
    privates = defined_privates(trees)
    hits = [h for m in ("engine.exhaustive", "engine.tally", "softplus_cert.run", "tests.t")
            for h in private_crossings(m, trees[m], modules, privates)]
    assert hits == ["engine.exhaustive:1 imports engine.judge._caller", "engine.tally:2 reads engine.judge._caller",
                    "softplus_cert.run:2 reaches iso._caller with getattr",
                    "tests.t:2 reaches ex._caller with monkeypatch.setattr"]


def test_the_scan_sees_a_writer_that_could_measure():
    modules, trees = _planted({"engine.judge": "class Verdict: pass\nSCHEMA = 5\ndef judge(): pass\n",
                               "engine.sweep": "",
                               "reports.ok": "from engine.judge import SCHEMA, Verdict\n",
                               "reports.bad": "from engine.judge import Verdict, judge\nimport targets.base\n"
                                              "from engine import sweep\n"})
    engine_trees = {m: trees[m] for m in ("engine.judge", "engine.sweep")}
    assert writer_violations("reports.ok", trees["reports.ok"], modules, engine_trees) == []
    assert writer_violations("reports.bad", trees["reports.bad"], modules, engine_trees) == [
        "reports.bad:1 imports engine.judge.judge: a writer never calls the engine",
        "reports.bad:2 imports targets.base: a writer never calls a target",
        "reports.bad:3 imports engine.sweep: a writer never calls the engine"]
