"""The oracle against known values and the independent derivation in tests/oracle/independent.py."""

import math

import numpy as np
import pytest

import oracle
from tests.oracle.independent import correctly_rounded, same_bits

ALL = ["float16", "bfloat16", "float32", "float64", "float8_e4m3fn", "float8_e5m2"]


def dt(name):
    return oracle.get_format(name).dtype


@pytest.mark.parametrize("name", ALL)
def test_softplus_zero_is_log2(name):
    got = oracle.softplus(np.zeros(1, dt(name)))
    # log 2 = 0.693147180559945309417232121458176568...: round its float64 neighbourhood independently
    want = correctly_rounded(0.0, 1.0, "softplus", dt(name))
    assert same_bits(got[0], want)
    assert abs(float(got[0]) - math.log(2)) <= 2.0 ** -oracle.get_format(name).p


@pytest.mark.parametrize("name", ALL)
def test_sigmoid_zero_is_exactly_half(name):
    for z in (0.0, -0.0):
        assert float(oracle.softplus_grad(np.array([z], dt(name)))[0]) == 0.5


def test_seed_table_float64():
    # The seed material's table: softplus(-2) ≈ 0.1269, softplus(5) ≈ 5.0067, sigmoid(0) = 0.5.
    x = np.array([-2.0, 5.0])
    y = oracle.softplus(x)
    assert y[0] == pytest.approx(0.1269, abs=5e-5) and y[1] == pytest.approx(5.0067, abs=5e-5)
    # and to the last bit: log(1 + e**-2) and 5 + log(1 + e**-5) by the independent route
    for xi, yi in zip(x, y):
        assert same_bits(yi, correctly_rounded(xi, 1.0, "softplus", np.float64))


@pytest.mark.parametrize("name", ALL)
def test_limits_and_nan(name):
    x = np.array([np.inf, -np.inf, np.nan], dtype=np.float32).astype(dt(name))
    if not oracle.get_format(name).has_inf:
        x = x[2:]
    sp = oracle.softplus(x).astype(np.float64)
    sg = oracle.softplus_grad(x).astype(np.float64)
    if oracle.get_format(name).has_inf:
        assert sp[0] == np.inf and sp[1] == 0 and not np.signbit(sp[1])
        assert sg[0] == 1.0 and sg[1] == 0 and not np.signbit(sg[1])
    assert np.isnan(sp[-1]) and np.isnan(sg[-1])


@pytest.mark.parametrize("beta", [1.0, 1e-3, 0.5, 3.0, 1e30])
@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("fn", ["softplus", "softplus_grad"])
def test_against_independent_derivation(name, fn, beta):
    """The oracle bit for bit against the independent derivation: every finite value of a float8 format
    (a sample of 3 per format let a fault at any other of its ~250 inputs through), every 97th bit pattern
    of a 16-bit one, 300 random bit patterns of a wider one."""
    rng = np.random.default_rng(7)
    fmt = oracle.get_format(name)
    if fmt.bits == 8:  # all 256 patterns, from the dtype itself (not the oracle's enumeration)
        x = np.arange(256, dtype=np.uint8).view(fmt.dtype)
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(x.astype(np.float64))
        assert finite.sum() >= 248, name  # e4m3fn: 254 finite values, e5m2: 248
    elif fmt.bits <= 16:
        x = fmt.all_values()[::97]
    else:
        raw = rng.integers(0, 1 << fmt.bits, 300, dtype=np.uint64).astype(fmt.uint)
        x = fmt.from_bits(raw)
    with np.errstate(invalid="ignore"):
        x = x[np.isfinite(x.astype(np.float64))]
    got = oracle.softplus(x, beta) if fn == "softplus" else oracle.softplus_grad(x, beta)
    for xi, yi in zip(x, got):
        want = correctly_rounded(float(xi), beta, fn, fmt.dtype)
        assert same_bits(yi, want), (name, fn, beta, float(xi), yi, want)


def test_overflow_to_inf_float16_small_beta():
    # softplus_β(0) = log(2)/β exceeds float16's max (65504) once β < log 2 / 65520
    beta = math.log(2) / 70000
    assert oracle.softplus(np.zeros(1, np.float16), beta)[0] == np.inf
    beta = math.log(2) / 60000
    assert np.isfinite(oracle.softplus(np.zeros(1, np.float16), beta)[0])


def test_overflow_e4m3fn_is_nan_and_tie_keeps_max():
    # e4m3fn has no inf: overflow is NaN; its max 448 has an even significand, so 464 (the tie) stays 448.
    fmt = oracle.get_format("float8_e4m3fn")
    y = oracle.softplus(np.zeros(1, fmt.dtype), math.log(2) / 500)
    assert np.isnan(y.astype(np.float32)[0])
    y = oracle.softplus(np.zeros(1, fmt.dtype), math.log(2) / 460)
    assert y.astype(np.float32)[0] == 448


def test_subnormal_results_float32():
    # softplus(x) ≈ e**x for very negative x: results pass through float32's subnormal range to +0.
    x = np.arange(-110, -80, 0.25, dtype=np.float32)
    y = oracle.softplus(x)
    assert ((y > 0) & (y < np.finfo(np.float32).tiny)).any()  # some subnormal results
    assert (y == 0).any()
    for xi, yi in zip(x, y):
        assert same_bits(yi, correctly_rounded(float(xi), 1.0, "softplus", np.float32))


def test_float64_subnormal_results():
    # The trap of float(mpf) in mpmath <= 1.4.1 (double rounding of subnormals) must not bite here.
    x = np.linspace(-745.2, -708.0, 400)
    for fn in ("softplus", "softplus_grad"):
        y = oracle.softplus(x) if fn == "softplus" else oracle.softplus_grad(x)
        for xi, yi in zip(x, y):
            assert same_bits(yi, correctly_rounded(float(xi), 1.0, fn, np.float64)), (fn, xi)


def test_beta_1e30_is_finite():
    # PyTorch returns inf at β = 1e30; the true value is finite and tiny or ≈ x.
    x = np.array([-1.0, -1e-30, 0.0, 1e-30, 1.0], dtype=np.float32)
    y = oracle.softplus(x, 1e30)
    assert np.isfinite(y).all()
    for xi, yi in zip(x, y):
        assert same_bits(yi, correctly_rounded(float(xi), 1e30, "softplus", np.float32))
