"""engine.inputs: base sets, boundary sets and their union, checked against independent reasoning.

Expected values come from the format definitions (counts, special bit patterns), from closed-form
thresholds (e.g. softplus(x) ≈ e**x rounds to 0 below x = ln(2**-150) in float32), from exhaustive scans
of the 16-bit formats with plain NumPy comparisons, and from mpmath at 200+ bits, never from the module's
own bisection.
"""

from __future__ import annotations

import math

import ml_dtypes
import mpmath
import numpy as np
import pytest

import oracle
from oracle.formats import FORMATS
from engine.inputs import (
    DEFAULT_SAMPLES,
    InputSet,
    bit_uniform,
    boundary_points,
    every_value,
    input_set,
    switch_neighbours,
)

SMALL = ["float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"]
LN2 = math.log(2)


def f64(x) -> np.ndarray:
    with np.errstate(invalid="ignore"):  # ml_dtypes warns on casting NaN
        return np.asarray(x).astype(np.float64)


def bits_of(x) -> set[int]:
    x = np.asarray(x)
    return set(x.view(FORMATS[_name(x.dtype)].uint).tolist())


def _name(dtype) -> str:
    return next(n for n, f in FORMATS.items() if f.dtype == dtype)


def all_patterns(name: str) -> np.ndarray:
    """Every bit pattern of an 8/16-bit format as values, by direct reinterpretation."""
    f = FORMATS[name]
    return np.arange(1 << f.bits, dtype=np.uint32).astype(f.uint).view(f.dtype)


def sorted_finite(name: str) -> np.ndarray:
    """Every finite value once (−0 dropped), ascending by value: the format's ordered line."""
    v = all_patterns(name)
    v = v[np.isfinite(f64(v))]
    v = v[~((f64(v) == 0) & np.signbit(f64(v)))]
    return v[np.argsort(f64(v), kind="stable")]


# --- every_value -------------------------------------------------------------------------------------

def expected_counts(name: str) -> tuple[int, int]:
    """(finite values incl. both zeros, non-finite values kept) from p, width and inf support alone."""
    f = FORMATS[name]
    ebits = f.bits - f.p
    if f.has_inf:  # IEEE: the all-ones exponent field holds inf and NaN, every other field 2**(p-1) values
        return 2 * ((1 << ebits) - 1) * (1 << (f.p - 1)), 3  # ±inf and one NaN
    return 2 * ((1 << (f.bits - 1)) - 1), 1  # "fn": only S.1111.111 is NaN; one NaN kept


@pytest.mark.parametrize("name", SMALL)
def test_every_value_counts_and_coverage(name):
    f = FORMATS[name]
    v = every_value(name)
    finite, nonfinite = expected_counts(name)
    assert v.dtype == f.dtype and v.ndim == 1
    assert v.size == finite + nonfinite
    x = f64(v)
    assert np.isnan(x).sum() == 1
    assert np.isfinite(x).sum() == finite
    assert np.isinf(x).sum() == (2 if f.has_inf else 0)
    b = v.view(f.uint).astype(np.int64)
    assert len(set(b.tolist())) == v.size
    assert 0 in b and f.sign_mask in b  # both signed zeros
    # every finite pattern of the format, found by reinterpreting all patterns
    allp = all_patterns(name)
    assert bits_of(allp[np.isfinite(f64(allp))]) <= bits_of(v)


def test_every_value_known_sizes():
    assert every_value("float16").size == 63488 + 3
    assert every_value("bfloat16").size == 65280 + 3
    assert every_value("float8_e5m2").size == 248 + 3
    assert every_value("float8_e4m3fn").size == 254 + 1


@pytest.mark.parametrize("name", ["float32", "float64"])
def test_every_value_rejects_wide_formats(name):
    with pytest.raises(ValueError):
        every_value(name)


# --- bit_uniform -------------------------------------------------------------------------------------

def test_bit_uniform_reproducible_and_seeded():
    a = bit_uniform("float32", 1000, seed=7)
    b = bit_uniform("float32", 1000, seed=7)
    c = bit_uniform("float32", 1000, seed=8)
    assert a.dtype == np.float32 and a.shape == (1000,)
    assert (a.view(np.uint32) == b.view(np.uint32)).all()
    assert (a.view(np.uint32) != c.view(np.uint32)).mean() > 0.99


def test_bit_uniform_float32_covers_every_binade():
    x = bit_uniform("float32", 20_000, seed=0)
    assert np.isfinite(x).all()
    bits = x.view(np.uint32)
    field = (bits >> 23) & 0xFF
    # Each of the 255 finite exponent fields has probability 1/255: ~78 expected hits each, so a missing
    # one has probability ~255·e**-78. Field 255 (inf/NaN) must never appear.
    assert set(field.tolist()) == set(range(255))
    neg = (bits >> 31).mean()
    assert abs(neg - 0.5) < 0.03  # sd 0.0035


def test_bit_uniform_float64_binade_balance():
    x = bit_uniform("float64", 5000, seed=3)
    assert x.dtype == np.float64 and np.isfinite(x).all()
    # Bit-uniform: |x| < 1 iff the exponent field is < 1023, i.e. 1023 of the 2047 finite fields.
    frac = (np.abs(x) < 1).mean()
    assert abs(frac - 1023 / 2047) < 0.05  # sd 0.007
    assert (np.abs(x) > 1e300).any() and (np.abs(x) < 1e-300).any()


@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2"])
def test_bit_uniform_float8_hits_every_finite_pattern_and_nothing_else(name):
    x = bit_uniform(name, 10_000, seed=1)
    allp = all_patterns(name)
    finite = bits_of(allp[np.isfinite(f64(allp))])
    assert bits_of(x) == finite  # ~40 expected hits per pattern


# --- switch_neighbours -------------------------------------------------------------------------------

def test_switch_neighbours_float32_representable_and_not():
    up = lambda v: np.nextafter(v, np.float32(np.inf))  # noqa: E731
    down = lambda v: np.nextafter(v, np.float32(-np.inf))  # noqa: E731
    s = np.float32(20.0)
    got = switch_neighbours("float32", 20.0)
    assert got.dtype == np.float32
    assert got.tolist() == [down(down(s)), down(s), s, up(s), up(up(s))]
    got = switch_neighbours("float32", 0.1)  # 0.1 is not a float32
    lo = np.float32(0.1)
    lo = lo if float(lo) < 0.1 else down(lo)
    assert got.tolist() == [down(lo), lo, up(lo), up(up(lo))]
    assert float(got[1]) < 0.1 < float(got[2])


@pytest.mark.parametrize("name", SMALL)
@pytest.mark.parametrize("s", [20.0, 0.1, -3.0, 1 / 3, 1e-6, 0.0, 1e6, -1e6, math.inf, -math.inf])
@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_switch_neighbours_against_sorted_values(name, s, k):
    vals = sorted_finite(name)
    x = f64(vals)
    expected = np.concatenate([vals[x < s][len(vals[x < s]) - k:], vals[x == s], vals[x > s][:k]])
    got = switch_neighbours(name, s, k)
    assert got.dtype == vals.dtype
    assert f64(got).tolist() == f64(expected).tolist()
    assert np.isfinite(f64(got)).all()


def test_switch_neighbours_bad_arguments():
    with pytest.raises(ValueError):
        switch_neighbours("float32", math.nan)
    with pytest.raises(ValueError):
        switch_neighbours("float32", 1.0, k=-1)


# --- the oracle-decided boundaries, against exhaustive scans ------------------------------------------

def scan(name: str, fn: str, beta: float) -> dict[str, int | None]:
    """Index into sorted_finite(name) of each boundary's centre, from the oracle on every value."""
    vals = sorted_finite(name)
    f = FORMATS[name]
    r = f64((oracle.softplus if fn == "softplus" else oracle.softplus_grad)(vals, beta))
    x = f64(vals)
    over = ~np.isfinite(r)  # +inf, or NaN in e4m3fn

    def first(mask) -> int | None:
        # a regime change inside the range: false at the lowest value, true at the highest
        if mask[0] or not mask[-1]:
            return None
        return int(np.argmax(mask))

    out = {
        "true_overflow": first(over),
        "subnormal_onset": first(over | (r >= 2.0 ** f.emin)),
    }
    positive = first(r > 0)
    out["underflow_to_zero"] = None if positive is None else positive - 1
    if fn == "softplus_grad":
        out["rounds_to_one"] = first(r >= 1)
    else:
        ident = (r == x) & (x >= 0)
        suffix_all = np.flip(np.logical_and.accumulate(np.flip(ident)))  # identity from here upwards
        zero = int(np.flatnonzero(x == 0)[0])
        onset = int(np.argmax(suffix_all)) if suffix_all.any() else None
        out["linear_branch"] = None if onset is None or onset == zero else onset
    return out


@pytest.mark.parametrize("name", SMALL)
@pytest.mark.parametrize("fn", ["softplus", "softplus_grad"])
# 1e-5 and 1e-2: overflow onsets inside the range; 1e8: softplus rounds to x from 0 on (log 2/β < 2**-25)
@pytest.mark.parametrize("beta", [1.0, 0.5, 3.0, 1e-5, 1e-2, 1e8])
def test_oracle_boundaries_match_exhaustive_scan(name, fn, beta):
    vals = sorted_finite(name)
    bp = boundary_points(name, fn, beta, k=2)
    for key, centre in scan(name, fn, beta).items():
        if centre is None:
            assert bp[key].size == 0, key
        else:
            expected = vals[max(centre - 2, 0):centre + 3]
            assert f64(bp[key]).tolist() == f64(expected).tolist(), key


def test_underflow_to_zero_float32():
    b = boundary_points("float32", "softplus", 1.0)["underflow_to_zero"]
    r = f64(oracle.softplus(b))
    zeros = b[r == 0]
    x0 = zeros.max()
    x1 = np.nextafter(x0, np.float32(np.inf))
    assert x1 in b and float(oracle.softplus(np.array([x1]))[0]) > 0
    assert (r[f64(b) > float(x0)] > 0).all()
    # softplus(x) ≈ e**x for x ≪ 0 rounds to +0 iff e**x < 2**-150 (half the smallest subnormal, whose tie
    # goes to the even 0): x < −150·ln 2. Float32 spacing there is 2**-17.
    assert abs(float(x0) + 150 * LN2) < 2 ** -16


def test_subnormal_onset_and_rounds_to_one_float32():
    b = boundary_points("float32", "softplus", 1.0)["subnormal_onset"]
    r = f64(oracle.softplus(b))
    i = int(np.argmax(r >= 2.0 ** -126))
    assert 0 < i < b.size and (r[:i] < 2.0 ** -126).all()
    # e**x reaches the smallest normal 2**-126 (less half a subnormal ulp) at x ≈ −126·ln 2
    assert abs(float(b[i]) + 126 * LN2) < 2 ** -15

    b = boundary_points("float32", "softplus_grad", 1.0)["rounds_to_one"]
    r = f64(oracle.softplus_grad(b))
    i = int(np.argmax(r == 1.0))
    assert 0 < i < b.size and (r[:i] < 1).all() and (r[i:] == 1).all()
    # 1 − sigmoid(x) ≈ e**-x must fall below half the ulp under 1, 2**-25: x > 25·ln 2
    assert abs(float(b[i]) - 25 * LN2) < 2 ** -18


def test_linear_branch_float64():
    b = boundary_points("float64", "softplus", 1.0)["linear_branch"]
    assert b.size == 5
    y = oracle.softplus(b)
    x_star, below = b[2], b[1]
    assert y[2] == x_star and y[1] != below and (y[2:] == b[2:]).all()
    # softplus(x) = x + log1p(e**-x) rounds to x iff log1p(e**-x) < ulp(x)/2. In [32, 64) the float64 ulp is
    # 2**-47, so the condition is e**-x < 2**-48 (to first order): x > 48·ln 2 ≈ 33.27, inside [32, 64).
    # (The familiar 36.7 = 53·ln 2 is where e**-x drops below 2**-53, a relative criterion.)
    assert abs(float(x_star) - 48 * LN2) < 1e-12


def test_true_overflow_float16_small_beta():
    beta = 1e-5
    b = boundary_points("float16", "softplus", beta)["true_overflow"]
    assert b.size == 5
    r = f64(oracle.softplus(b, beta))
    assert np.isinf(r[2:]).all() and np.isfinite(r[:2]).all()
    # Float16 overflows from max + ulp/2 = 65504 + 16 (the tie goes to inf, 65504's significand being odd):
    # softplus_β(x) ≥ 65520 iff x ≥ log(expm1(65520·β))/β ≈ −7732, in a binade of spacing 4.
    x_exact = math.log(math.expm1(65520 * beta)) / beta
    assert float(b[1]) < x_exact < float(b[2])


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32", "float64", "float8_e5m2"])
def test_no_true_overflow_at_beta_one(name):
    # softplus(x) ≤ x + log 2 rounds to at most max for finite x; sigmoid ≤ 1
    assert boundary_points(name, "softplus", 1.0)["true_overflow"].size == 0
    assert boundary_points(name, "softplus_grad", 1e-5)["true_overflow"].size == 0


def test_true_overflow_e4m3fn_is_nan():
    beta = 3e-3  # softplus_β(448) ≈ 448 + 78 > 464 (max + half its spacing): NaN; softplus_β(−448) ≈ 78
    b = boundary_points("float8_e4m3fn", "softplus", beta)["true_overflow"]
    r = f64(oracle.softplus(b, beta))
    assert b.size >= 3
    assert np.isnan(r[2:]).all() and np.isfinite(r[:2]).all()


def test_exp_overflow():
    b = f64(boundary_points("float32", "softplus", 1.0)["exp_overflow"])
    t = math.log(float(np.finfo(np.float32).max))  # 88.7228...
    assert b.size == 8
    assert b[1] < -t < b[2] and b[5] < t < b[6]
    # β scales the point: log(65504)/β = 11090 fits float16 at β = 1e-3, 110900 does not at 1e-4
    assert f64(boundary_points("float16", "softplus", 1e-3)["exp_overflow"]).size == 8
    assert boundary_points("float16", "softplus", 1e-4)["exp_overflow"].size == 0


def test_special_float16_and_e4m3fn():
    sp = boundary_points("float16")["special"]
    want = {0x0000, 0x8000, 0x7C00, 0xFC00, 0x0001, 0x8001, 0x0400, 0x8400, 0x7BFF, 0xFBFF}
    got = bits_of(sp)
    assert want <= got and len(got) == 11
    assert np.isnan(f64(sp)).sum() == 1
    sp = f64(boundary_points("float8_e4m3fn")["special"])
    # e4m3fn: p = 4, emin = −6, no inf, max 448
    finite = sp[np.isfinite(sp)]
    assert sorted(finite.tolist()) == [-448, -2.0 ** -6, -2.0 ** -9, 0, 0, 2.0 ** -9, 2.0 ** -6, 448]
    assert np.isnan(sp).sum() == 1 and sp.size == 9


def test_boundary_names():
    bp = boundary_points("float32", "softplus", 1.0, switch_points=(20.0, 15))
    assert set(bp) == {"switch:20.0", "switch:15.0", "special", "exp_overflow", "true_overflow",
                       "subnormal_onset", "underflow_to_zero", "linear_branch", "near_midpoint"}
    bp = boundary_points("float32", "softplus_grad", 1.0)
    assert "rounds_to_one" in bp and "linear_branch" not in bp
    for v in bp.values():
        assert v.dtype == np.float32 and v.ndim == 1


# --- near_midpoint -----------------------------------------------------------------------------------

def midpoint_distance(x: float, fn: str, beta: float, p: int, emin: int, prec: int = 200) -> float:
    """|f(x)/ulp − nearest (m + ½)| in mpmath at ``prec`` bits, straight from the definitions."""
    with mpmath.workprec(prec):
        t = mpmath.mpf(x) * mpmath.mpf(beta)
        if fn == "softplus":
            y = mpmath.log1p(mpmath.exp(t)) / mpmath.mpf(beta)
        else:
            y = 1 / (1 + mpmath.exp(-t))
        _, e = mpmath.frexp(y)  # y = m·2**e, m in [½, 1)
        r = mpmath.ldexp(y, -(max(int(e) - 1, emin) - p + 1))
        return float(abs(r - mpmath.floor(r) - mpmath.mpf(0.5)))


@pytest.mark.parametrize("fn", ["softplus", "softplus_grad"])
def test_near_midpoint_float32(fn):
    b = boundary_points("float32", fn, 1.0)["near_midpoint"]
    assert b.size == 64 and b.dtype == np.float32
    d = [midpoint_distance(float(v), fn, 1.0, 24, -126) for v in b]
    # from a pool of 2**18 the 64th smallest of ~uniform distances in [0, ½] is ~2**-13
    assert max(d) < 2 ** -10


def test_near_midpoint_float64():
    b = boundary_points("float64", "softplus", 1.0)["near_midpoint"]
    assert b.size == 64
    d = [midpoint_distance(float(v), "softplus", 1.0, 53, -1022, prec=300) for v in b]
    assert max(d) < 2 ** -5  # pool of 2**12: the 64th smallest is ~2**-7


def test_near_midpoint_float16_is_the_closest_64():
    # Every float16 input, distances in plain float64 arithmetic (error ~1e-16 relative, i.e. ~1e-12 of a
    # float16 ulp): the chosen 64 must be the 64 smallest.
    vals = sorted_finite("float16")
    x = f64(vals)
    y = np.logaddexp(0.0, x)
    e = np.frexp(y)[1] - 1
    r = np.ldexp(y, -(np.maximum(e, -14) - 10))
    d = np.abs(r - np.floor(r) - 0.5)
    d[y < 2.0 ** -40] = np.inf  # results far below the float16 subnormals: ~½ ulp, lose precision here
    chosen = f64(boundary_points("float16", "softplus", 1.0)["near_midpoint"])
    assert chosen.size == 64
    cut = np.sort(d)[63]
    d_chosen = d[np.searchsorted(x, chosen)]
    assert d_chosen.max() <= cut + 1e-9
    assert cut < 2 ** -10


# --- input_set ---------------------------------------------------------------------------------------

def check_union(s: InputSet) -> None:
    f = s.fmt
    b = s.x.view(f.uint)
    assert s.x.dtype == f.dtype and s.x.ndim == 1
    assert len(np.unique(b)) == s.x.size  # no duplicate bit patterns
    xb = set(b.tolist())
    for name, v in s.boundaries.items():
        assert v.dtype == f.dtype
        assert set(v.view(f.uint).tolist()) <= xb, name
    x = f64(s.x)
    finite = x[~np.isnan(x)]
    assert (np.diff(finite) >= 0).all()  # sorted by value, NaN last
    assert np.isnan(x).sum() <= 1 and (not np.isnan(x).any() or np.isnan(x[-1]))


def test_input_set_exhaustive_float16():
    s = input_set("float16", "softplus", 1.0, switch_points=(20.0,))
    assert s.mode == "exhaustive" and s.seed is None and s.fmt is FORMATS["float16"]
    assert s.x.size == 63488 + 3  # boundaries add nothing new to every value
    assert "switch:20.0" in s.boundaries
    check_union(s)


@pytest.mark.parametrize("name", ["float32", "float64"])
def test_input_set_sampled(name):
    f = FORMATS[name]
    s = input_set(name, "softplus_grad", 2.0, switch_points=(10.0,), seed=5)
    assert s.mode == "sampled" and s.seed == 5
    check_union(s)
    n = DEFAULT_SAMPLES[name]
    assert bits_of(bit_uniform(name, n, 5)) <= set(s.x.view(f.uint).tolist())
    nb = sum(v.size for v in s.boundaries.values())
    assert n - 5 <= s.x.size <= n + nb  # a few draws may repeat
    assert f64(s.boundaries["special"]).size == 11
    again = input_set(name, "softplus_grad", 2.0, switch_points=(10.0,), seed=5)
    assert (again.x.view(f.uint) == s.x.view(f.uint)).all()
    other = input_set(name, "softplus_grad", 2.0, switch_points=(10.0,), seed=6)
    assert other.x.size != s.x.size or (other.x.view(f.uint) != s.x.view(f.uint)).any()


def test_input_set_modes_and_errors():
    s = input_set("float16", n=500, exhaustive=False, seed=2)
    assert s.mode == "sampled" and s.seed == 2 and s.x.size < 1000
    check_union(s)
    s = input_set("float32", n=300)
    assert s.mode == "sampled" and s.x.size < 600
    with pytest.raises(ValueError):
        input_set("float32", exhaustive=True)
    s = input_set("float16", n=100)  # n is for sampled sets: an exhaustive one ignores it
    assert s.mode == "exhaustive" and s.x.size == 63488 + 3
    with pytest.raises(ValueError):
        input_set("float16", fn="relu")
    with pytest.raises(ValueError):
        input_set("float16", beta=0.0)


def test_input_set_accepts_dtypes():
    s = input_set(ml_dtypes.float8_e4m3fn, "softplus")
    assert s.fmt is FORMATS["float8_e4m3fn"] and s.x.size == 255
    check_union(s)
