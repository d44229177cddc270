"""Headline figures that do not hide failures, do not depend on the machine, and budgets per CPU path.

* ``max_ulp`` is the true maximum: inf where a result is infinite and the truth finite, NaN where a result is
  NaN and the truth a number; the largest finite error is ``max_finite_ulp``, with its own input.
* The reported maxima and worst inputs are computed rigorously: a fast path whose libm rounds differently
  (planted here by nudging NumPy's exp inside the enclosure's error bound) must not change a digit of them.
* Certificates select budgets by the instruction-set path; a loose-budget notice compares with the path.
"""

import math

import mpmath
import numpy as np
import pytest

import oracle
from engine.certificate import parse_certificate
from engine.judge import Verdict, judge
from tests.judge.test_judge import OracleTarget, Planted, next_up


def _overflow_and_nan(x, y):
    y = y.copy()
    y[x >= np.float16(8)] = np.inf  # overflows early: the truth is finite up to 65504
    y[x == np.float16(-1)] = np.nan
    y[x == np.float16(2)] = next_up(next_up(y[x == np.float16(2)]))  # the largest finite error: 2 ulps up
    return y


def test_true_maximum_is_nan_then_inf_and_the_finite_one_is_kept_apart():
    v = judge(Planted(_overflow_and_nan), "float16", "softplus")
    assert math.isnan(v.max_ulp) and v.nan_count == 1 and v.nonfinite_count > 0
    # softplus(2) = log1p(e**2) in [2, 4): float16 ulp 2**-9; two ulps above the correctly rounded value
    exact = float(mpmath.log1p(mpmath.exp(2)))
    correct = float(np.float16(exact))
    assert v.worst_finite[0].x == 2.0 and v.max_finite_ulp == v.worst_finite[0].ulp
    assert v.max_finite_ulp == pytest.approx((correct + 2 * 2.0 ** -9 - exact) / 2.0 ** -9, abs=2.0 ** -40)

    no_nan = judge(Planted(lambda x, y: np.where(x >= np.float16(8), np.float16(np.inf), y).astype(y.dtype)),
                   "float16", "softplus")
    assert no_nan.max_ulp == math.inf and no_nan.nan_count == 0 and no_nan.max_finite_ulp <= 0.5


def test_violation_messages_show_the_figure_with_its_own_input():
    cert = parse_certificate({"target": "planted", "budget": [{"max_ulp": 1.0, "reason": "faithful"}]})
    v = judge(Planted(_overflow_and_nan), "float16", "softplus")
    msgs = {m.key: m.message for m in cert.check(v)}
    assert "max error nan ulp > budget 1" in msgs["max_ulp"] and "at x = -1.0: got nan" in msgs["max_ulp"]
    assert "largest finite error" in msgs["max_finite_ulp"] and "at x = 2.0" in msgs["max_finite_ulp"]

    inf_only = judge(Planted(lambda x, y: np.where(x >= np.float16(8), np.float16(np.inf), y).astype(y.dtype)),
                     "float16", "softplus")
    msgs = {m.key: m.message for m in cert.check(inf_only)}
    assert "max error inf ulp" in msgs["max_ulp"] and "at x = 8.0: got inf" in msgs["max_ulp"]
    assert "max_finite_ulp" not in msgs


def test_an_infinite_budget_admits_overflow_and_the_finite_budget_still_holds():
    cert = parse_certificate({"target": "planted", "budget": [
        {"max_ulp": math.inf, "max_finite_ulp": 2.1, "nonfinite": 100000, "nan": 1, "premature_overflow": True,
         "property_failures": 100000, "monotonicity_violations": 100000, "reason": "planted"}]})
    v = judge(Planted(_overflow_and_nan), "float16", "softplus")
    assert [m.key for m in cert.check(v)] == []
    tight = parse_certificate({"target": "planted", "budget": [
        {"max_ulp": math.inf, "max_finite_ulp": 1.9, "nonfinite": 100000, "nan": 1, "premature_overflow": True,
         "property_failures": 100000, "monotonicity_violations": 100000, "reason": "planted"}]})
    assert [m.key for m in tight.check(v)] == ["max_finite_ulp"]


def test_maxima_and_worst_inputs_do_not_depend_on_the_libm(monkeypatch):
    """Another machine's exp differs in the last bits: the enclosure still holds (it allows 2**-48), the
    fast errors move in their 9th digit, and the reported figures must not move at all."""
    import oracle.fast as fast

    def fault(x, y):  # errors of 0.5 to 1.5 ulp on a band of inputs, so many worst candidates compete
        y = y.copy()
        band = (x > 1) & (x < 3)
        y[band] = next_up(y[band])
        return y

    def run():
        v = judge(Planted(fault), "float32", "softplus", n=4000, seed=3)
        return v.max_ulp, v.max_finite_ulp, [(w.x, w.ulp) for w in v.worst], [(w.x, w.ulp) for w in v.worst_finite]

    here = run()
    real_exp = np.exp

    def nudged(a, *args, out=None, **kw):  # exp 2**-49 high: still inside the enclosure's allowance
        r = real_exp(a, *args, out=out, **kw)
        r *= 1 + 2.0 ** -49
        return r

    monkeypatch.setattr(fast.np, "exp", nudged)
    moved = oracle.ulp_error(np.array([1.7], np.float32), np.array([1.5], np.float32))
    elsewhere = run()
    monkeypatch.undo()
    assert moved != oracle.ulp_error(np.array([1.7], np.float32), np.array([1.5], np.float32))  # it did move
    assert elsewhere == here
    # and they are the errors an independent evaluation gives (mpmath at 100 digits)
    for x, err in here[2][:3]:
        xf = np.array([x], dtype=np.float32)
        y = float(fault(xf, oracle.softplus(xf))[0])
        with mpmath.workdps(100):
            exact = mpmath.log1p(mpmath.exp(mpmath.mpf(x)))
            ulp = mpmath.mpf(2) ** (mpmath.floor(mpmath.log(exact, 2)) - 23)
            assert err == pytest.approx(float(abs(y - exact) / ulp), rel=2.0 ** -50)


def test_budgets_select_by_path_and_loose_notices_compare_with_their_path():
    cert = parse_certificate({"target": "oracle", "budget": [
        {"max_ulp": 3.0, "monotonicity_violations": 5, "reason": "loosest of the paths"},
        {"path": "avx2", "max_ulp": 0.6, "monotonicity_violations": 0, "reason": "on the avx2 path"},
        {"path": "avx512", "max_ulp": 3.0, "monotonicity_violations": 5, "reason": "on the avx512 path"}]})
    v = judge(OracleTarget(), "float16", "softplus")
    for path, limit in (("avx2", 0.6), ("avx512", 3.0), ("neon", 3.0)):
        v.code_path = {"path": path}
        assert cert.budget_for(v).limits["max_ulp"] == limit
    v.code_path = {"path": "avx2"}
    assert cert.loose(v) == []  # the avx2 entry is what avx2 measured: nothing to tighten
    v.code_path = {"path": "avx512"}
    assert any("monotonicity_violations" in line for line in cert.loose(v))
    broken = Verdict(**{**v.__dict__, "max_ulp": 1.0, "max_finite_ulp": 1.0, "code_path": {"path": "avx2"}})
    assert [m.key for m in cert.check(broken)] == ["max_ulp"]
    broken.code_path = {"path": "avx512"}
    assert cert.check(broken) == []
