"""Discovery: built-ins, plugin files and modules, entry points, broken plugins, duplicates, lazy imports."""

from __future__ import annotations

import json
import tomllib
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

import targets
from targets import BrokenPlugin, DuplicateTargetError, Registry, Target, Unsupported

ROOT = Path(__file__).resolve().parents[2]
BUILTIN_NAMES = ["torch-cpu", "torch-cuda", "numpy-log1p", "numpy-logaddexp", "numpy-stable",
                 "tf-softplus", "tf-naive", "tf-stable", "jax-softplus", "scipy-softplus", "torch-compile",
                 "onnxruntime", "openvino"]

PLUGIN = '''
import numpy as np
from targets import Target

class Doubler(Target):
    """Deliberately wrong softplus (2x), so a test can tell it ran."""
    name = "{name}"
    formats = ("float32",)

    def compute(self, x, beta, threshold):
        return x * np.float32(2)

    def compute_grad(self, x, beta, threshold):
        return np.full_like(x, 2)

TARGETS = [Doubler()]
'''


def _write(tmp_path: Path, filename: str, text: str) -> Path:
    path = tmp_path / filename
    path.write_text(textwrap.dedent(text))
    return path


def _registry() -> Registry:
    return Registry(builtins=False, entry_points=False)


def test_builtin_names_are_listed_in_order() -> None:
    names = [t.name for t in Registry(entry_points=False).all()]
    assert names == BUILTIN_NAMES


def test_shared_registry_lists_builtins_and_get_target_finds_them() -> None:
    names = [t.name for t in targets.all_targets()]
    assert names[: len(BUILTIN_NAMES)] == BUILTIN_NAMES
    assert targets.get_target("numpy-stable").name == "numpy-stable"
    avail = targets.available_targets()
    assert all(t.availability() is None for t in avail)
    assert targets.get_target("numpy-log1p") in avail  # NumPy is always there


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown target 'nope'.*numpy-stable"):
        targets.get_target("nope")


def test_plugin_file_is_discovered_and_runs(tmp_path) -> None:
    path = _write(tmp_path, "my_plugin.py", PLUGIN.format(name="doubler"))
    reg = _registry()
    loaded = reg.load_module(str(path))
    assert [t.name for t in loaded] == ["doubler"]
    t = reg.get("doubler")
    assert t.availability() is None
    x = np.array([1.5, -2.0], np.float32)
    np.testing.assert_array_equal(t.softplus(x), x * 2)
    assert reg.load_module(path) == loaded  # a second load (also as a Path) is the same, not a duplicate


def test_plugin_module_by_dotted_name_with_get_targets(tmp_path, monkeypatch) -> None:
    pkg = tmp_path / "acme_softplus"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    _write(pkg, "plugin.py", PLUGIN.format(name="acme") + "\ndef get_targets():\n    return [Doubler]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = _registry()
    (t,) = reg.load_module("acme_softplus.plugin")  # get_targets wins over TARGETS; a class is instantiated
    assert t.name == "acme" and isinstance(t, Target)
    assert t.softplus_grad(np.zeros(1, np.float32))[0] == 2


def test_example_template_loads_and_runs() -> None:
    reg = _registry()
    (t,) = reg.load_module("targets.example")
    (same,) = _registry().load_module(str(ROOT / "targets" / "example.py"))
    assert t.name == same.name == "example-numpy"
    x = np.array([-30.0, -1.0, 0.0, 1.0, 30.0, 100.0], np.float64)
    z = x.astype(np.float64)
    np.testing.assert_allclose(t.softplus(x), np.log1p(np.exp(-np.abs(z))) + np.maximum(z, 0), rtol=1e-15)
    np.testing.assert_allclose(t.softplus_grad(x, beta=2.0), 1 / (1 + np.exp(-2 * z)), rtol=1e-15)
    assert t.softplus(x.astype(np.float32)).dtype == np.float32
    with pytest.raises(Unsupported):
        t.softplus(x.astype(np.float16))


BROKEN = {
    "syntax.py": "def broken(:\n",
    "raises.py": "raise ImportError('libfoo.so: cannot open shared object file')\n",
    "empty.py": "x = 1\n",
    "wrong_items.py": "TARGETS = [object()]\n",
    "wrong_type.py": "TARGETS = 42\n",
    "nameless.py": "from targets.example import ExampleNumpyTarget as E\nclass N(E):\n    name = ''\nTARGETS = [N]\n",
    "abstract.py": "from targets import Target\nclass Half(Target):\n    name = 'half'\nTARGETS = [Half]\n",
    "get_fails.py": "def get_targets():\n    raise KeyError('config missing')\n",
}


@pytest.mark.parametrize("filename", sorted(BROKEN))
def test_broken_plugin_file_is_reported_not_raised(tmp_path, filename) -> None:
    path = _write(tmp_path, filename, BROKEN[filename])
    reg = _registry()
    (t,) = reg.load_module(str(path))
    assert isinstance(t, BrokenPlugin) and t.name == f"plugin:{path}"
    reason = t.availability()
    assert reason and filename in reason
    assert t in reg.all() and t not in reg.available()
    with pytest.raises(Unsupported, match="failed to load"):
        t.softplus(np.zeros(2, np.float32))
    with pytest.raises(Exception):
        _registry().load_module(str(path), strict=True)


def test_missing_plugin_file_and_module_are_reported(tmp_path) -> None:
    reg = _registry()
    (a,) = reg.load_module(str(tmp_path / "nowhere.py"))
    (b,) = reg.load_module("no_such_module_for_softplus_cert")
    assert "FileNotFoundError" in a.availability()
    assert "ModuleNotFoundError" in b.availability()


def test_duplicate_names_are_a_clear_error(tmp_path) -> None:
    one = _write(tmp_path, "one.py", PLUGIN.format(name="numpy-stable"))
    with pytest.raises(DuplicateTargetError, match="'numpy-stable'.*already taken by built-in numpy_targets"):
        Registry(entry_points=False).load_module(str(one))
    a = _write(tmp_path, "a.py", PLUGIN.format(name="same"))
    b = _write(tmp_path, "b.py", PLUGIN.format(name="same"))
    reg = _registry()
    reg.load_module(str(a))
    with pytest.raises(DuplicateTargetError, match="same"):
        reg.load_module(str(b))


def test_two_plugin_files_of_one_basename_do_not_collide(tmp_path) -> None:
    for sub, name in (("x", "first"), ("y", "second")):
        (tmp_path / sub).mkdir()
        _write(tmp_path / sub, "plugin.py", PLUGIN.format(name=name))
    reg = _registry()
    reg.load_module(str(tmp_path / "x" / "plugin.py"))
    reg.load_module(str(tmp_path / "y" / "plugin.py"))
    assert [t.name for t in reg.all()] == ["first", "second"]


# --- entry points -------------------------------------------------------------------------------------------

def test_entry_points_give_instances_classes_and_callables(tmp_path, monkeypatch) -> None:
    _write(tmp_path, "ep_plugin.py", PLUGIN.format(name="ep-instance") + textwrap.dedent('''
        class Other(Doubler):
            name = "ep-class"

        def several():
            class A(Doubler):
                name = "ep-callable-a"
            class B(Doubler):
                name = "ep-callable-b"
            return (A(), B())

        def explode():
            raise RuntimeError("plugin bug")
        '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    group = targets.ENTRY_POINT_GROUP
    eps = [metadata.EntryPoint(name=n, value=v, group=group) for n, v in [
        ("inst", "ep_plugin:TARGETS"), ("cls", "ep_plugin:Other"), ("call", "ep_plugin:several"),
        ("boom", "ep_plugin:explode"), ("gone", "no_such_softplus_plugin:X"), ("odd", "ep_plugin:np"),
    ]]
    seen_groups = []

    def fake_entry_points(**kw):
        seen_groups.append(kw.get("group"))
        return [ep for ep in eps if ep.group == kw.get("group")]

    monkeypatch.setattr(metadata, "entry_points", fake_entry_points)
    reg = Registry(builtins=False)
    names = [t.name for t in reg.all()]
    assert seen_groups == ["softplus_cert.targets"]
    assert names == ["ep-instance", "ep-class", "ep-callable-a", "ep-callable-b",
                     "plugin:boom", "plugin:gone", "plugin:odd"]
    assert [t.name for t in reg.available()] == names[:4]
    assert "plugin bug" in reg.get("plugin:boom").availability()
    assert "no_such_softplus_plugin" in reg.get("plugin:gone").availability()
    assert "expected Targets" in reg.get("plugin:odd").availability()
    np.testing.assert_array_equal(reg.get("ep-class").softplus(np.ones(2, np.float32)), [2, 2])


def test_no_entry_points_is_fine(monkeypatch) -> None:
    monkeypatch.setattr(metadata, "entry_points", lambda **kw: [])
    assert [t.name for t in Registry().all()] == BUILTIN_NAMES


# --- --target-module plumbing in tests/conftest.py -----------------------------------------------------------

def test_target_module_option_parametrizes_plugins(tmp_path) -> None:
    plugin = _write(tmp_path, "opt_plugin.py", PLUGIN.format(name="from-option"))
    broken = _write(tmp_path, "bad_plugin.py", "raise RuntimeError('nope')\n")
    # A throwaway project whose conftest is the suite's own, so the probe sees exactly its options and hooks.
    _write(tmp_path, "conftest.py", f'''
        import importlib.util
        _spec = importlib.util.spec_from_file_location("suite_conftest", {str(ROOT / "tests" / "conftest.py")!r})
        _suite = importlib.util.module_from_spec(_spec)
        _spec.loader.exec_module(_suite)
        pytest_addoption, pytest_configure = _suite.pytest_addoption, _suite.pytest_configure
        pytest_generate_tests = _suite.pytest_generate_tests
        ''')
    _write(tmp_path, "pytest.ini", "[pytest]\n")
    _write(tmp_path, "test_probe.py", '''
        def test_probe(target):
            assert target.name == "from-option"
            assert target.softplus.__self__ is target
        ''')
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-rs",
         "--target-module", str(plugin), "--target-module", str(broken),
         "--target", "from-option", "--target", f"plugin:{broken}", "test_probe.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert "1 passed, 1 skipped" in out.stdout, out.stdout + out.stderr
    assert "RuntimeError: nope" in out.stdout


# --- imports stay lazy --------------------------------------------------------------------------------------

def _run_python(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_and_listing_imports_no_framework() -> None:
    got = _run_python('''
        import json, sys
        import targets
        names = [t.name for t in targets.all_targets()]
        heavy = lambda: sorted(m for m in ("torch", "tensorflow", "jax", "onnxruntime", "openvino", "scipy") if m in sys.modules)
        after_listing = heavy()
        reasons = {t.name: t.availability() for t in targets.all_targets() if t.name != "torch-cuda"}
        after_availability = heavy()
        targets.available_targets()  # torch-cuda asks torch for a device; TF and JAX stay unimported
        print(json.dumps([names, after_listing, after_availability, heavy(), reasons]))
    ''')
    names, after_listing, after_availability, after_available, reasons = got
    assert names == BUILTIN_NAMES
    assert after_listing == [] and after_availability == []
    assert "tensorflow" not in after_available and "jax" not in after_available
    assert all(r is None or "not installed" in r for r in reasons.values())


def test_missing_frameworks_make_targets_unavailable_not_import_errors() -> None:
    got = _run_python('''
        import json, sys
        for m in ("torch", "tensorflow", "jax"):
            sys.modules[m] = None  # what Python does for a module that is not installed
        import numpy as np
        import targets
        out = {t.name: t.availability() for t in targets.all_targets()}
        try:
            targets.get_target("tf-softplus").softplus(np.ones(2, np.float32))
            out["call"] = "no error"
        except targets.Unsupported as e:
            out["call"] = str(e)
        out["available"] = [t.name for t in targets.available_targets()]
        print(json.dumps(out))
    ''')
    for name in BUILTIN_NAMES:
        framework = {"torch": "torch", "tf": "tensorflow", "jax": "jax"}.get(name.split("-")[0])
        if framework:
            # the reason names the extra of pyproject.toml that installs the framework
            assert got[name] == f'{framework} is not installed (pip install "softplus-cert[{framework}]")', name
    assert got["call"] == 'tf-softplus is unavailable: tensorflow is not installed (pip install "softplus-cert[tensorflow]")'
    extras = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for framework in ("torch", "tensorflow", "jax"):  # each named extra exists and installs its framework
        assert any(req.startswith(framework) for req in extras[framework]), framework
    assert got["available"] == ["numpy-log1p", "numpy-logaddexp", "numpy-stable", "scipy-softplus", "onnxruntime",
                                "openvino"]


def test_a_framework_whose_import_fails_is_unavailable_with_the_error(tmp_path) -> None:
    _write(tmp_path, "fragile_fw.py", "raise OSError('libcuda.so.1: cannot open shared object file')\n")
    got = _run_python(f'''
        import json, sys
        sys.path.insert(0, {str(tmp_path)!r})
        from targets.base import import_module, missing_module, Unsupported
        before = missing_module("fragile_fw")
        try:
            import_module("fragile_fw")
            err = None
        except Unsupported as e:
            err = str(e)
        print(json.dumps([before, err, missing_module("fragile_fw")]))
    ''')
    before, err, after = got
    assert before is None
    assert "OSError" in err and "libcuda" in err
    assert after == err
