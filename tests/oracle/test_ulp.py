"""oracle.ulp_error: Goldberg ulps of the exact value, subnormal floor, and the non-finite rules."""

import math
from fractions import Fraction

import numpy as np
import pytest

import oracle
from oracle.formats import get_format
from tests.oracle.independent import exact_fraction


def _independent_ulp_error(y: float, x: float, fn: str, fmt) -> float:
    f = exact_fraction(x, 1.0, fn)
    e = math.floor(math.log2(f)) if f > 0 else fmt.emin
    while Fraction(2) ** e > f:
        e -= 1
    while Fraction(2) ** (e + 1) <= f:
        e += 1
    ulp = Fraction(2) ** (max(e, fmt.emin) - fmt.p + 1)
    return float(abs(Fraction(y) - f) / ulp)


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32", "float64", "float8_e5m2"])
@pytest.mark.parametrize("fn", ["softplus", "softplus_grad"])
def test_errors_match_independent_derivation(name, fn):
    fmt = get_format(name)
    rng = np.random.default_rng(4)
    x = rng.standard_normal(120).astype(fmt.dtype) * fmt.dtype.type(4)
    y_right = oracle.softplus(x) if fn == "softplus" else oracle.softplus_grad(x)
    # the correctly rounded result, and results 1 and 3 steps away in the format
    for shift in (0, 1, -3):
        bits = (fmt.to_bits(y_right).astype(np.int64) + shift).astype(fmt.uint)
        y = fmt.from_bits(bits)
        err = oracle.ulp_error(y, x, fn)
        for xi, yi, ei in zip(x, y, err):
            if not np.isfinite(float(yi)):
                continue
            want = _independent_ulp_error(float(yi), float(xi), fn, fmt)
            assert abs(ei - want) <= 2.0 ** -18 * max(1.0, want), (name, fn, float(xi), float(yi), ei, want)
        if shift == 0:
            assert (err <= 0.5).all()


def test_float32_errors_near_one_use_the_binade_below():
    # sigmoid(x) for x in [33, 88] lies within 2**-47 below 1: its ulp is 2**-24, not 2**-23.
    x = np.array([40.0], dtype=np.float32)
    below_one = np.array([1 - 2.0 ** -24], dtype=np.float32)
    err = oracle.ulp_error(below_one, x, "softplus_grad")[0]
    assert abs(err - 1.0) < 1e-6


def test_infinite_results():
    f16 = np.float16
    x = np.array([60000.0, 1.0, np.inf], dtype=f16)
    y = np.array([np.inf, np.inf, np.inf], dtype=f16)
    err = oracle.ulp_error(y, x)
    assert err[0] == np.inf and err[1] == np.inf and err[2] == 0  # softplus(60000) = 60000 is finite
    # softplus_β(0) = log2/β with β tiny overflows float16: inf is then right
    b = math.log(2) / 70000
    assert oracle.ulp_error(np.array([np.inf], f16), np.array([0.0], f16), beta=b)[0] == 0
    # and the largest finite value then is wrong by the distance to the exact value in ulps of its binade
    e = oracle.ulp_error(np.array([65504.0], f16), np.array([0.0], f16), beta=b)[0]
    assert abs(e - (70000 - 65504) / 64) < 1e-3  # 70000 lies in the binade [2**16, 2**17): ulp 2**6


def test_nan_results():
    x = np.array([1.0, np.nan], dtype=np.float32)
    y = np.array([np.nan, np.nan], dtype=np.float32)
    err = oracle.ulp_error(y, x)
    assert np.isnan(err[0]) and err[1] == 0
    # finite result for a NaN input is infinitely wrong
    assert oracle.ulp_error(np.array([1.0], np.float32), np.array([np.nan], np.float32))[0] == np.inf


def test_zero_results_in_the_subnormal_floor():
    # softplus(-120) ≈ 7.7e-53 is far below float32's smallest subnormal 2**-149: a 0 result errs by
    # f/2**-149 ulp, a min-subnormal result by (2**-149 - f)/2**-149 ~ 1 ulp.
    x = np.array([-120.0, -120.0], dtype=np.float32)
    y = np.array([0.0, 2.0 ** -149], dtype=np.float32)
    err = oracle.ulp_error(y, x)
    f = math.exp(-120)
    assert err[0] == pytest.approx(f / 2.0 ** -149, rel=1e-6)
    assert err[1] == pytest.approx(1 - f / 2.0 ** -149, rel=1e-6)


def test_limits_of_infinite_inputs():
    x = np.array([-np.inf, -np.inf, np.inf], dtype=np.float32)
    y = np.array([0.0, 2.0 ** -149, 0.5], dtype=np.float32)
    err = oracle.ulp_error(y, x, "softplus_grad")
    assert err[0] == 0 and err[1] == 1 and err[2] == 0.5 / 2.0 ** -23  # ulp(1) = 2**-23


def test_signed_errors_say_which_side():
    x = np.array([1.0, 1.0], dtype=np.float32)
    r = oracle.softplus(x)
    bits = r.view(np.uint32).astype(np.int64) + np.array([1, -1])
    y = bits.astype(np.uint32).view(np.float32)
    s = oracle.ulp_error(y, x, signed=True)
    assert s[0] > 0.5 and s[1] < -0.5
    assert (np.abs(s) == oracle.ulp_error(y, x)).all()


def test_given_rounding_is_used_as_is():
    # the judge passes the rounding it already has; the answer must not change, and it must really be used
    x = np.linspace(-30, 30, 301, dtype=np.float32)
    r = oracle.softplus(x)
    y = (r.view(np.uint32) + 1).view(np.float32)
    assert (oracle.ulp_error(y, x, rounded=r) == oracle.ulp_error(y, x)).all()
    inf_y = np.full_like(x, np.inf)
    assert (oracle.ulp_error(inf_y, x, rounded=inf_y) == 0).all()  # said to round to inf: inf is exact


@pytest.mark.parametrize("backend", ["arb", "mpmath"])
@pytest.mark.parametrize("fn", ["softplus", "softplus_grad"])
def test_rounding_and_error_from_one_enclosure_match_plain_mpmath(fn, backend):
    # independent: mpmath at 3000 bits (far beyond any cancellation here), rounded by numpy's
    # float64 conversion of an mpf (exact for these normal results), error by direct subtraction
    import mpmath

    from oracle.exact import rounded_and_error
    from oracle.formats import get_format

    f64 = get_format("float64")
    xs = [1e-300, -1e-300, 5e-324, -5e-324, 1e-17, -3e-9, 0.75, -2.5, 36.0, -40.0, 700.0, -745.0, 1e10]
    for x in xs:
        for y in (0.5, 0.6931471805599453, abs(x), 1e-310):
            bits, err = rounded_and_error(x, y, 1.0, fn, f64, backend=backend)
            with mpmath.workprec(3000):
                t = mpmath.mpf(x)
                exact = mpmath.log1p(mpmath.exp(t)) if fn == "softplus" else 1 / (1 + mpmath.exp(-t))
                e = int(mpmath.floor(mpmath.log(exact, 2)))
                if fn == "softplus_grad" and exact >= 1:  # 1 − e**-1e10 is 1 even at 3000 bits; sigmoid < 1
                    e = -1
                ulp = mpmath.mpf(2) ** (max(e, -1022) - 52)
                want_err = float((mpmath.mpf(y) - exact) / ulp)
                want = float(mpmath.nint(exact / ulp) * ulp)  # nearest multiple of the ulp (no ties here)
            assert np.float64(want).view(np.uint64) == bits, (fn, x)
            if math.isinf(want_err):  # beyond float64: 0.5 against a subnormal truth
                assert err == want_err, (fn, x, y, err)
            else:
                assert abs(err - want_err) <= 2.0 ** -20 * max(1.0, abs(want_err) * 2.0 ** -30), (fn, x, y, err)


@pytest.mark.parametrize("fmt, beta", [("float32", 1.0), ("float32", 1e-3), ("float32", 3.0), ("bfloat16", 1.0),
                                       ("bfloat16", 3.0), ("float16", 1e-3)])  # (float16: |x| ≥ 2**-24)
def test_sigmoid_errors_near_one_half_need_no_arb_and_are_right(fmt, beta, monkeypatch):
    """sigmoid(βx) for |βx| below 2**-30: the float64 enclosure straddles 1/2 and the sign of x decides the
    binade (oracle.ulp's doc). Every error there is within 2**-20 ulp of the one arb gives (oracle.exact,
    to 2**-60), results on both sides of 1/2 included, and none of them is left to arb."""
    import oracle.ulp as ulp_module
    from oracle.ulp import errors_and_rounding, exact_error

    f = get_format(fmt)
    rng = np.random.default_rng(3)
    low, high = f.emin - f.p + 1, int(np.floor(-31 - np.log2(beta)))  # |βx| < 2**-30
    x = (rng.choice([-1.0, 1.0], 400) * rng.uniform(1, 2, 400) * 2.0 ** rng.integers(low, high, 400))
    x = x.astype(f.dtype)
    x = x[x.astype(np.float64) != 0]
    half = np.full(x.shape, 0.5).astype(f.dtype)
    # The format's own neighbours of 1/2, stepped on its bit pattern: a float32 nextafter cast back would
    # round to 1/2 again in float16 and bfloat16, and only float32 would see both sides of 1/2.
    below = (half.view(f.uint) - f.uint(1)).view(f.dtype)
    above = (half.view(f.uint) + f.uint(1)).view(f.dtype)
    assert np.all(below.astype(np.float64) < 0.5) and np.all(above.astype(np.float64) > 0.5), fmt
    arb_calls = []
    real = ulp_module.rounded_and_error
    for side, y in (("1/2", half), ("below 1/2", below), ("above 1/2", above)):
        with monkeypatch.context() as m:
            m.setattr(ulp_module, "rounded_and_error", lambda *a, **k: arb_calls.append(a) or real(*a, **k))
            _, err = errors_and_rounding(y, x, "softplus_grad", beta, signed=True)
        want = [exact_error(float(a), float(b), "softplus_grad", beta, f, signed=True) for a, b in
                zip(x.astype(np.float64)[:60], y.astype(np.float64)[:60])]
        assert np.max(np.abs(err[:60] - want)) < 2.0 ** -20, f"{fmt}, beta={beta}: results {side}"
    assert not arb_calls, f"{len(arb_calls)} elements near 1/2 went to arb"
