"""The float64 fast path against pure mpmath (interval arithmetic, no fast path, no arb)."""

import numpy as np
import pytest

from oracle.evaluate import compute_bits, to_float64
from oracle.fast import enclose_f64, round_fast
from oracle.formats import get_format


def _finite(x):
    f = to_float64(x)
    return f[np.isfinite(f)]


@pytest.mark.parametrize("fn", ["softplus", "softplus_grad"])
@pytest.mark.parametrize("name", ["float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"])
def test_fast_path_agrees_with_mpmath_on_every_input(name, fn):
    fmt = get_format(name)
    x = _finite(fmt.all_values())
    bits, decided = round_fast(x, 1.0, fn, fmt)
    assert decided.mean() > 0.99  # it is a fast path: nearly everything is decided here
    want = compute_bits(x[decided], 1.0, fn, fmt, backend="mpmath")
    assert (bits[decided] == want).all()


def _near_midpoints_f32(n, seed):
    """float32 inputs whose f(x) lies close to a float32 rounding midpoint (hard cases)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 1 << 32, 4_000_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    xf = to_float64(x)
    xf = xf[np.isfinite(xf) & (np.abs(xf) < 120)]
    lo, hi, ok = enclose_f64(xf, 1.0, "softplus")
    m, e = np.frexp((lo + hi) / 2)
    s = np.ldexp(m, 25)
    dist = np.abs(s - (2 * np.floor(s / 2) + 1))  # distance to an odd multiple: a midpoint
    return xf[np.argsort(dist)[:n]]


@pytest.mark.parametrize("beta", [1.0, 1e-3, 7.5, 1e30])
@pytest.mark.parametrize("fn", ["softplus", "softplus_grad"])
def test_fast_path_agrees_with_mpmath_float32_sample(fn, beta):
    fmt = get_format("float32")
    rng = np.random.default_rng(11)
    x = rng.integers(0, 1 << 32, 3000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    x = np.concatenate([_finite(x), _near_midpoints_f32(300, 12)])
    bits, decided = round_fast(x, beta, fn, fmt)
    want = compute_bits(x[decided], beta, fn, fmt, backend="mpmath")
    assert (bits[decided] == want).all()


def test_hard_cases_are_left_undecided_not_guessed():
    # f(x) within ~2**-54 relative of a float32 midpoint (the double-rounding inputs): no float64
    # evaluation can decide these, so the fast path must hand them on rather than guess.
    from tests.oracle.test_double_rounding import DOUBLE_ROUNDING_F32

    for fn, pats in DOUBLE_ROUNDING_F32.items():
        x = np.array(pats, dtype=np.uint32).view(np.float32).astype(np.float64)
        _, decided = round_fast(x, 1.0, fn, get_format("float32"))
        assert not decided.any(), fn


def test_enclosure_contains_the_exact_value():
    import mpmath
    from oracle.exact import enclose

    def as_mpf(d):
        sign, man, exp = d
        return mpmath.mpf((-man if sign else man, exp))

    rng = np.random.default_rng(2)
    base = np.concatenate([rng.standard_normal(300) * 40, [-701.0, 701.0, -1e30, 1e30, 0.0, 1e-310]])
    for fn in ("softplus", "softplus_grad"):
        for beta in (1.0, 1e-3, 1 / 3, 7.5, 1e30):
            # and |βx| across 100..700, where an uncorrected rounding of βx would cost most
            mid = rng.uniform(100, 700, 200) * rng.choice([-1, 1], 200) / beta
            x = np.concatenate([base, mid.astype(np.float32).astype(np.float64)])
            lo, hi, ok = enclose_f64(x, beta, fn)
            if beta < 1e30:  # (there v = log1p(e)/β underflows on the negative side: not claimed)
                assert ok[300 + 6:].all()
            for xi, l, h in zip(x[ok], lo[ok], hi[ok]):
                a, b = enclose(float(xi), beta, fn, 200)  # rigorous, far tighter
                assert mpmath.mpf(l) <= as_mpf(a) and as_mpf(b) <= mpmath.mpf(h), (fn, beta, xi)
