"""oracle.rounding: one rounding to nearest-even, gradual underflow, overflow, by integer arithmetic."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from oracle.formats import FORMATS, get_format
from oracle.rounding import decode, round_dyadic, round_float64_array
from tests.oracle.independent import round_fraction, same_bits

NARROW = ["float16", "bfloat16", "float32", "float8_e4m3fn", "float8_e5m2"]


def _bits_to_value(bits, fmt):
    return fmt.from_bits(np.array([bits], dtype=fmt.uint))[0]


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(list(FORMATS)), sign=st.integers(0, 1),
       man=st.integers(0, 1 << 80), exp=st.integers(-1200, 1100))
def test_round_dyadic_matches_rational_rounding(name, sign, man, exp):
    fmt = FORMATS[name]
    value = Fraction(man) * Fraction(2) ** exp * (-1 if sign else 1)
    got = _bits_to_value(round_dyadic(sign, man, exp, fmt), fmt)
    want = round_fraction(value, fmt.dtype)
    if man == 0:  # zero keeps its sign
        assert bool(np.signbit(got.astype(np.float64))) == bool(sign)
    assert same_bits(got, want) or (man == 0), (name, sign, man, exp, got, want)


@pytest.mark.parametrize("name", ["float16", "float32", "float8_e4m3fn", "float8_e5m2"])
def test_vectorized_matches_single_rounding_casts(name):
    # NumPy's float64 -> float16/float32 casts round once; ml_dtypes' float8 casts go through float32,
    # so for float8 only float32-representable values (where that is one rounding) are compared.
    fmt = get_format(name)
    rng = np.random.default_rng(3)
    v = rng.standard_normal(100_000) * np.exp2(rng.integers(-160, 140, 100_000))
    v = np.concatenate([v, [0.0, -0.0, np.inf, -np.inf, 1e300, -1e-300, 5e-324]])
    with np.errstate(over="ignore"):
        if fmt.bits == 8:
            v = v.astype(np.float32).astype(np.float64)
        ref = v.astype(fmt.dtype)
    ours = fmt.from_bits(round_float64_array(v, fmt))
    assert (ours.view(fmt.uint) == ref.view(fmt.uint)).all()


def test_ml_dtypes_float8_double_rounding_is_avoided():
    # 0x1.5fffff4692189p-5 lies just below the e5m2 midpoint 0x1.6p-5 between 0x1.4p-5 and 0x1.8p-5:
    # the right result is the lower one; through float32 it becomes the midpoint and ties to even (up).
    v = np.array([float.fromhex("0x1.5fffff4692189p-5")])
    fmt = get_format("float8_e5m2")
    assert float(fmt.from_bits(round_float64_array(v, fmt))[0]) == float.fromhex("0x1.4p-5")
    # the trap this avoids: rounding through float32 first (which ml_dtypes' own cast did before 0.7)
    assert float(v.astype(np.float32).astype(fmt.dtype)[0]) == float.fromhex("0x1.8p-5")


@pytest.mark.parametrize("name", NARROW)
def test_vectorized_matches_scalar_at_every_midpoint(name):
    # Every midpoint between neighbours of the format (positive finite range), nudged by ±1 float64 ulp:
    # the three cases of the tie rule, at every binade including subnormals and the overflow boundary.
    fmt = get_format(name)
    if fmt.bits > 16:
        bits = np.random.default_rng(5).integers(0, fmt.max_bits, 50_000, dtype=np.uint64).astype(fmt.uint)
    else:
        bits = np.arange(0, fmt.max_bits + 1, dtype=np.uint64).astype(fmt.uint)
    a = fmt.from_bits(bits).astype(np.float64)
    b = fmt.from_bits(bits + 1).astype(np.float64)
    b[~np.isfinite(b)] = np.ldexp(1.0, fmt.emax + 1)  # the next value past max, unbounded exponent
    mid = a + (b - a) / 2  # exact in float64 for p <= 24
    v = np.concatenate([mid, np.nextafter(mid, 0), np.nextafter(mid, np.inf), -mid])
    vec = round_float64_array(v, fmt)
    for vi, bi in zip(v[::7], vec[::7]):
        m, e = math.frexp(abs(vi))
        assert bi == round_dyadic(int(vi < 0), int(m * 2 ** 53), e - 53, fmt)


def test_ties_to_even_and_overflow_thresholds():
    f16 = get_format("float16")
    # 65504 is max; 65520 = max + half ulp is the tie: odd significand -> rounds up -> inf
    assert round_dyadic(0, 65520, 0, f16) == f16.inf_bits
    assert round_dyadic(0, 65520 * 2 - 1, -1, f16) == f16.max_bits
    e4 = get_format("float8_e4m3fn")
    assert round_dyadic(0, 464, 0, e4) == e4.max_bits  # tie at 464 keeps the even max 448
    assert round_dyadic(0, 465, 0, e4) == e4.nan_bits  # beyond: NaN, the overflow of a format without inf
    f32 = get_format("float32")
    # half the smallest subnormal rounds to +0 (tie, 0 even); a hair above rounds to the subnormal
    assert round_dyadic(0, 1, -150, f32) == 0
    assert round_dyadic(0, (1 << 60) + 1, -210, f32) == 1
    assert round_dyadic(1, 1, -150, f32) == f32.sign_mask  # -0


def test_huge_exponents_do_not_shift_forever():
    f64 = get_format("float64")
    assert round_dyadic(0, 3, -10 ** 300, f64) == 0
    assert round_dyadic(0, 3, 10 ** 300, f64) == f64.inf_bits


@pytest.mark.parametrize("name", list(FORMATS))
def test_decode_inverts_encode_on_every_finite_pattern(name):
    fmt = get_format(name)
    pats = range(0, 1 << fmt.bits) if fmt.bits <= 16 else \
        np.random.default_rng(1).integers(0, 1 << fmt.bits, 20_000, dtype=np.uint64).tolist()
    for b in pats:
        d = decode(int(b), fmt)
        if d is None:
            with np.errstate(invalid="ignore"):
                assert not np.isfinite(fmt.from_bits(np.array([b], fmt.uint)).astype(np.float64))[0]
        else:
            assert round_dyadic(*d, fmt) == b


def test_float32_hardware_conversion_equals_the_integer_path():
    # round_float64_array uses the CPU's float64 -> float32 conversion; the integer path is the proof.
    from oracle.rounding import round_float64_integer

    fmt = get_format("float32")
    rng = np.random.default_rng(9)
    bits = rng.integers(0, fmt.max_bits, 200_000, dtype=np.uint64).astype(np.uint32)
    a = fmt.from_bits(bits).astype(np.float64)
    b = fmt.from_bits(bits + 1).astype(np.float64)
    b[~np.isfinite(b)] = 2.0 ** 128
    mid = a + (b - a) / 2
    v = np.concatenate([mid, np.nextafter(mid, 0), np.nextafter(mid, np.inf), -mid,
                        rng.standard_normal(100_000) * np.exp2(rng.integers(-170, 140, 100_000))])
    assert (round_float64_array(v, fmt) == round_float64_integer(v, fmt)).all()


def test_float32_conversion_falls_back_when_the_cpu_flushes_subnormals():
    # A library in the same process can put the FPU in flush-to-zero mode (torch does it on request);
    # the conversion must notice and round by integers instead of returning 0 for subnormal results.
    torch = pytest.importorskip("torch")
    from oracle import rounding

    fmt = get_format("float32")
    v = np.array([2.0 ** -149 * 1.25, 2.0 ** -140 * 1.5, 1.0])
    want = rounding.round_float64_integer(v, fmt)
    if not torch.set_flush_denormal(True):
        pytest.fail("this CPU cannot flush denormals: the fallback is not exercised")
    try:
        assert not rounding.hardware_float32_ok()
        assert (v.astype(np.float32).view(np.uint32)[:2] == 0).all()  # the trap is real here
        assert (round_float64_array(v, fmt) == want).all()
    finally:
        torch.set_flush_denormal(False)
    assert rounding.hardware_float32_ok()
