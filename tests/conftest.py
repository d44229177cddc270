"""Suite-wide pytest setup: the importable checkout, and which targets a run puts under test.

Options:
  --target-module SPEC   load targets from a .py file or dotted module (repeatable), as a backend author
                         does to certify a plugin: ``pytest --target-module path/to/my_target.py``. A module that
                         fails to load shows up as an unavailable ``plugin:SPEC`` target (its tests skip with
                         the error as reason) rather than stopping the run.
  --target NAME          restrict target-parametrized tests to these names (repeatable; default: all).

For tests: the ``target`` argument of a test function is parametrized over the selected targets (ids are the
target names; an unavailable target's test is skipped with its reason). :func:`selected_targets` gives the
list for other uses.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    # Run from a plain checkout: the project's packages (oracle, targets, reports) must beat any same-named
    # test folder (tests/targets) that pytest's rootdir insertion would otherwise turn into a namespace package.
    sys.path.insert(0, str(ROOT))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("softplus-cert")
    group.addoption("--target-module", action="append", default=[], metavar="SPEC",
                    help="load targets from a .py file or dotted module name (repeatable)")
    group.addoption("--target", action="append", default=[], metavar="NAME",
                    help="only test these targets (repeatable; default: every registered target)")


def pytest_configure(config: pytest.Config) -> None:
    specs = config.getoption("--target-module")
    if specs:
        import targets

        for spec in specs:
            targets.load_target_module(spec)


def selected_targets(config: pytest.Config) -> list:
    """The targets this run tests: all registered ones (plugins included), or those named by ``--target``."""
    import targets

    names = config.getoption("--target")
    if not names:
        return targets.all_targets()
    try:
        return [targets.get_target(n) for n in names]
    except ValueError as exc:
        raise pytest.UsageError(f"--target: {exc}") from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" not in metafunc.fixturenames:
        return
    from targets import reason_unavailable

    params = []
    for t in selected_targets(metafunc.config):
        reason = reason_unavailable(t)
        marks = [pytest.mark.skip(reason=f"{t.name}: {reason}")] if reason else []
        params.append(pytest.param(t, id=t.name, marks=marks))
    metafunc.parametrize("target", params)
