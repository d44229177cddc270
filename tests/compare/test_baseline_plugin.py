"""The plugin's ``--softplus-cert-baseline FILE``: a certification whose verdict got worse than the baseline's
fails with the figures that did; a combination the baseline lacks passes; an unreadable baseline is a usage
error. Run as a backend author runs it (pytester subprocess, ``tests/plugin/author_targets.py`` as the plugin
file), on float8_e4m3fn (every input, a second each)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

AUTHOR = Path(__file__).parents[1] / "plugin" / "author_targets.py"
CERTIFY = ["-p", "no:cacheprovider", "--softplus-cert-module", "my_target.py", "--softplus-cert-target", "cr-softplus",
           "--softplus-cert-formats", "float8_e4m3fn", "-k", "test_certify["]


def test_a_verdict_worse_than_the_baseline_fails_and_a_missing_one_passes(pytester: pytest.Pytester, tmp_path):
    pytester.makepyfile(my_target=AUTHOR.read_text())
    r = pytester.runpytest_subprocess(*CERTIFY, "--softplus-cert-report", str(tmp_path / "run"), timeout=300)
    r.assert_outcomes(passed=2)
    doc = json.loads((tmp_path / "run" / "accuracy.json").read_text())
    assert {v["fn"] for v in doc["verdicts"]} == {"softplus", "softplus_grad"}
    # the baseline: softplus planted better than anything can be, the derivative left out
    doc["verdicts"] = [dict(v, max_ulp=0.0, max_finite_ulp=0.0) for v in doc["verdicts"] if v["fn"] == "softplus"]
    baseline = tmp_path / "baseline.json.gz"
    with gzip.open(baseline, "wt", encoding="utf-8") as f:
        json.dump(doc, f)

    r = pytester.runpytest_subprocess(*CERTIFY, "--softplus-cert-baseline", str(baseline), timeout=300)
    out = r.stdout.str()
    r.assert_outcomes(passed=1, failed=1)
    assert "_ test_certify[cr-softplus-float8_e4m3fn-softplus-b1-tdefault-native] _" in out, out
    assert f"worse than the baseline {baseline}:" in out and "max error: 0.0 ulp → 0.4" in out, out

    r = pytester.runpytest_subprocess(*CERTIFY, "--softplus-cert-baseline", str(tmp_path / "missing.json"), timeout=300)
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "--softplus-cert-baseline: cannot read" in r.stderr.str() and "Traceback" not in r.stderr.str()
