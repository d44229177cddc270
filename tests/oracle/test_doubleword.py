"""oracle.doubleword against exact rational arithmetic: the error-free transformations are exact, and each
double-word operation stays within the bound its module doc quotes (Joldes–Muller–Popescu 2017)."""

import zlib
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle import doubleword as dw

U = Fraction(1, 2 ** 53)
# The published bounds (JMP 2017), written out here rather than read from the module.
BOUNDS = {"dw_plus_fp": 2 * U ** 2, "dw_plus_dw": 3 * U ** 2 + 13 * U ** 3, "dw_times_fp": Fraction(3, 2) * U ** 2
          + 4 * U ** 3, "dw_times_dw": 7 * U ** 2, "dw_div_fp": Fraction(7, 2) * U ** 2,
          "dw_div_dw": 15 * U ** 2 + 56 * U ** 3}


def _words(rng, n, lo=-60, hi=60):
    """n normalized double words with exponents in [lo, hi] and random signs."""
    h = rng.standard_normal(n) * np.exp2(rng.integers(lo, hi, n).astype(float))
    l_ = h * rng.uniform(-1, 1, n) * 2.0 ** -53
    return dw.fast_two_sum(h, l_)


def _f(h, l_=0.0):
    return Fraction(float(h)) + Fraction(float(l_))


def test_error_free_transformations_are_exact():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(4000) * np.exp2(rng.integers(-300, 300, 4000).astype(float))
    b = rng.standard_normal(4000) * np.exp2(rng.integers(-300, 300, 4000).astype(float))
    s, t = dw.two_sum(a, b)
    p, e = dw.two_prod(a, b)
    big, small = np.where(np.abs(a) >= np.abs(b), a, b), np.where(np.abs(a) >= np.abs(b), b, a)
    fs, ft = dw.fast_two_sum(big, small)
    for i in range(a.size):
        assert _f(s[i], t[i]) == _f(a[i]) + _f(b[i])
        assert _f(p[i], e[i]) == _f(a[i]) * _f(b[i])
        assert _f(fs[i], ft[i]) == _f(a[i]) + _f(b[i])
        assert s[i] == a[i] + b[i] and p[i] == a[i] * b[i]  # the high word is the rounded result


@settings(max_examples=300, deadline=None)
@given(st.floats(-1e200, 1e200, allow_subnormal=False), st.floats(-1e100, 1e100, allow_subnormal=False))
def test_two_prod_is_exact_for_any_normal_product(a, b):
    if a * b == 0 or abs(a * b) < 2.0 ** -968:
        return
    p, e = dw.two_prod(np.float64(a), np.float64(b))
    assert _f(p, e) == Fraction(a) * Fraction(b)


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_double_word_operations_within_published_bounds(name):
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    n = 3000
    xh, xl = _words(rng, n)
    yh, yl = _words(rng, n)
    y1 = rng.standard_normal(n) * np.exp2(rng.integers(-60, 60, n).astype(float))
    op = getattr(dw, name)
    if name.endswith("_fp"):
        zh, zl = op(xh, xl, y1)
    else:
        zh, zl = op(xh, xl, yh, yl)
    worst = Fraction(0)
    for i in range(n):
        x = _f(xh[i], xl[i])
        y = _f(y1[i]) if name.endswith("_fp") else _f(yh[i], yl[i])
        exact = {"plus": x + y, "times": x * y, "div": x / y}[name.split("_")[1]]
        if exact == 0:
            continue
        rel = abs(_f(zh[i], zl[i]) - exact) / abs(exact)
        worst = max(worst, rel)
        assert zh[i] == float(_f(zh[i], zl[i]))  # the result is normalized
    assert worst <= BOUNDS[name]
    assert worst <= Fraction(dw.OP_BOUND)  # the one figure the fast64 proof charges per operation


def test_a_planted_error_breaks_the_bound_check(monkeypatch):
    # the bound check above has teeth: a product that forgets one cross term is caught
    def sloppy(xh, xl, yh, yl):
        ch, cl1 = dw.two_prod(xh, yh)
        return dw.fast_two_sum(ch, cl1 + xh * yl)  # xl·yh dropped

    rng = np.random.default_rng(3)
    xh, xl = _words(rng, 200)
    yh, yl = _words(rng, 200)
    zh, zl = sloppy(xh, xl, yh, yl)
    rel = [abs(_f(zh[i], zl[i]) - _f(xh[i], xl[i]) * _f(yh[i], yl[i])) / abs(_f(xh[i], xl[i]) * _f(yh[i], yl[i]))
           for i in range(200)]
    assert max(rel) > BOUNDS["dw_times_dw"]
