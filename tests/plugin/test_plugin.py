"""The pytest plugin in a backend author's repository: a folder outside this one, holding only a plugin file.

Each test runs pytest in a subprocess (pytester) in a temporary folder with ``my_target.py`` (a copy of
``author_targets.py``) and nothing else of this repository: the plugin comes from the installed package's
``pytest11`` entry point.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

HERE = Path(__file__).parent


@pytest.fixture
def author(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(my_target=(HERE / "author_targets.py").read_text())
    return pytester


def _run(p: pytest.Pytester, *args: str) -> pytest.RunResult:
    return p.runpytest_subprocess("-p", "no:cacheprovider", "--softplus-cert-module", "my_target.py", *args,
                                  timeout=600)


def test_a_correctly_rounded_target_passes_under_xdist_and_writes_the_report(author, tmp_path):
    out = tmp_path / "reports"
    r = _run(author, "--softplus-cert-target", "cr-softplus", "--softplus-cert-formats", "float8_e4m3fn,float8_e5m2",
             "-n", "2", "--softplus-cert-report", str(out))
    # per format × function: the judge's verdict and the layout check (hypothesis: sampled formats only)
    r.assert_outcomes(passed=2 * 2 * 2, skipped=1)
    doc = json.loads((out / "accuracy.json").read_text())
    got = {(v["format"], v["fn"]): v for v in doc["verdicts"]}
    formats = ("float8_e4m3fn", "float8_e5m2")
    assert set(got) == {(f, fn) for f in formats for fn in ("softplus", "softplus_grad")}
    # every value of the format (one NaN of each sign, not every NaN pattern)
    assert all(v["correctly_rounded_fraction"] == 1.0 and v["mode"] == "exhaustive" for v in got.values())
    assert (out / "accuracy.md").exists() and (out / "index.html").exists()


def test_a_target_a_ulp_high_on_a_band_fails_naming_the_input(author):
    r = _run(author, "--softplus-cert-target", "band-softplus", "--softplus-cert-formats", "float16")
    out = r.stdout.str()
    outcomes = r.parseoutcomes()
    assert outcomes.get("failed") == 1, out  # float16 softplus; its derivative is correctly rounded
    assert "_ test_certify[band-softplus-float16-softplus-b1-tdefault-native] _" in out, out
    # the budget broken, with the input that breaks it, its result and the correctly rounded one
    assert "max error 1.48" in out and "at x = 1.0009765625: got 1.3154296875, correctly rounded 1.314453125" in out


def test_authors_own_tests_get_the_judge_and_their_conftest_stays(author):
    author.makeconftest("""
import pytest

@pytest.fixture
def tolerance():
    return 0.5
""")
    author.makepyfile(test_mine="""
def test_float16_is_correctly_rounded(softplus_cert, tolerance):
    v = softplus_cert.judge("float8_e4m3fn", "softplus")
    assert v.status == "ok" and v.max_ulp <= tolerance and not softplus_cert.violations(v)
""")
    r = _run(author, "--softplus-cert-target", "cr-softplus", "--softplus-cert-formats", "float8_e4m3fn",
             "-k", "mine or test_certify[")
    r.assert_outcomes(passed=1 + 2)


def test_the_plugin_is_off_unless_asked(pytester):
    pytester.makepyfile(test_plain="def test_one():\n    assert True\n")
    r = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    r.assert_outcomes(passed=1)


def test_the_example_for_backend_authors_certifies(pytester):
    """examples/backend-author as an author copies it: its plugin file and certificate hold (float16)."""
    example = HERE.parents[1] / "examples" / "backend-author"
    pytester.makepyfile(my_target=(example / "my_target.py").read_text())
    (pytester.path / "my_target.toml").write_text((example / "my_target.toml").read_text())
    r = _run(pytester, "--softplus-cert-target", "my-softplus", "--softplus-cert-certificate", "my_target.toml",
             "--softplus-cert-formats", "float16")
    r.assert_outcomes(passed=2 + 2, skipped=1)
