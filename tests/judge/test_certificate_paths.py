"""Certificate entries by path: a list of labels, measured_on / derived_for, a known defect (expected_failure),
and what certify says a target's budgets rest on."""

import pytest

from engine.certificate import CertificateError, parse_certificate
from engine.verdict import Verdict
from softplus_cert.certify import basis

BASE = {"format": "float16", "fn": "softplus", "beta": 1.0, "threshold": "default"}


def _cert(*entries):
    return parse_certificate({"target": "t", "budget": [dict(e) for e in entries]})


def _verdict(path, *, status="ok", reason="", max_ulp=0.7):
    v = Verdict("t", "float16", "softplus", 1.0, None, status=status, reason=reason,
                code_path={"path": path, "numpy.simd": path.upper()})
    v.max_ulp = v.max_finite_ulp = max_ulp
    return v


CERT = _cert(
    {**BASE, "max_ulp": 2.0, "reason": "derived for paths not measured: ...", "derived_for": "every other path"},
    {**BASE, "path": ["x86_v3", "avx512_spr"], "max_ulp": 0.8, "reason": "measured",
     "measured_on": ["x86_v3 (Zen 3)", "avx512_spr (SPR)"]},
    {**BASE, "path": "baseline", "expected_failure": "raised JaxRuntimeError", "reason": "known defect",
     "measured_on": ["baseline (SPR)"]},
)


def test_a_list_of_paths_selects_each_of_them():
    assert CERT.budget_for(_verdict("x86_v3")).limits["max_ulp"] == 0.8
    assert CERT.budget_for(_verdict("avx512_spr")).limits["max_ulp"] == 0.8
    assert CERT.budget_for(_verdict("asimdhp")).limits["max_ulp"] == 2.0  # unmeasured: the derived entry
    assert [m.key for m in CERT.check(_verdict("x86_v3", max_ulp=1.0))] == ["max_ulp"]
    assert CERT.check(_verdict("asimdhp", max_ulp=1.0)) == []


def test_a_known_defect_is_expected_only_on_its_path_and_only_as_stated():
    fails = "raised JaxRuntimeError: INTERNAL: Failed to materialize symbols"
    assert CERT.expects_failure(_verdict("baseline", status="error", reason=fails))
    assert CERT.check(_verdict("baseline", status="error", reason=fails)) == []
    # another failure on that path, or the same one elsewhere, is a failure
    assert [m.key for m in CERT.check(_verdict("baseline", status="error", reason="crashed: SIGSEGV"))] == ["error"]
    assert [m.key for m in CERT.check(_verdict("x86_v3", status="error", reason=fails))] == ["error"]
    # measured where a failure is expected: the defect may be fixed, and the certificate says to update it
    assert [m.key for m in CERT.check(_verdict("baseline"))] == ["expected_failure"]


@pytest.mark.parametrize("entry, key", [
    ({"path": []}, "path"), ({"path": ["x86_v3", ""]}, "path"), ({"measured_on": "x86_v3"}, "measured_on"),
    ({"measured_on": [""]}, "measured_on"), ({"derived_for": ""}, "derived_for"),
    ({"expected_failure": 3}, "expected_failure"),
])
def test_malformed_provenance_is_named(entry, key):
    with pytest.raises(CertificateError, match=key):
        _cert({**BASE, "max_ulp": 1.0, "reason": "r", **entry})


def test_certify_says_what_each_path_rests_on():
    lines = basis({"t": CERT}, [_verdict("x86_v3"), _verdict("asimdhp"), _verdict("x86_v3")])
    assert lines == ["t on path x86_v3: measured on this path",
                     "t on path asimdhp: not measured on this path: held to budgets derived from its kernels' "
                     "stated bounds"]
    undeclared = _cert({**BASE, "max_ulp": 2.0, "reason": "the loosest measured", "derived_for": "every other"})
    assert basis({"t": undeclared}, [_verdict("neon")]) == [
        "t on path neon: not measured on this path, and its kernels state no bound: held to the loosest measured path"]
