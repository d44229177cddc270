"""Vectorized float64 enclosures of softplus and sigmoid, for deciding roundings into narrower formats.

For float64 arrays x (finite) and β > 0, :func:`enclose_f64` returns float64 arrays ``lo ≤ f(x) ≤ hi`` and
a mask of the elements where that enclosure is claimed; elsewhere the caller must use :mod:`oracle.exact`.
:func:`round_fast` turns the enclosure into a rounding decision: where ``lo`` and ``hi`` round to the
same value of the target format, that value is the correctly rounded f(x).

Error bound (main region, |t| ≤ 700 with t = βx rounded to float64, u = 2**-53). The rounding error of t
is not left to amplify: exp(-|t|) has condition number |t|, so an error of u|t| in t would cost |t|·u
relatively — more than a float32 ulp's 2**-20th from |t| ≈ 200 on. Instead the exact remainder
d = βx − t is computed (Dekker's two-product; 0 for β = 1 and powers of two) and exp(-|t|) is corrected by
the factor 1 − sign(t)·d, which leaves only d²/2 < 2**-80. Evaluated as ``max(x, 0) + log1p(e) / β``
and ``1/(1 + e)`` (t ≥ 0) or ``e/(1 + e)`` with that e, every further step is well-conditioned: a relative
error η in e moves log1p(e) by at most η (since y/(1+y) ≤ log1p(y)), and sums of positive terms and
quotients add at most u each. With libm's exp and log1p assumed within 2**-48 (32 ulps; glibc and NumPy's
SIMD kernels claim ≤ 4), the relative error of v is below 2·2**-48 + 8u, which this module bounds by

    w = 16·u + 2**-46 + 2**-50,

the 2**-50 paying for the arithmetic of the bound itself (lo = v·(1 − w), hi = v·(1 + w): three roundings
of relative size u). Results under 2**-1020 (where v·w would leave the normal range) are not claimed; none
occur in the main region, where v ≥ e**-700 > 2**-1010.

Tails (|t| > 700, t = ±inf included) use the same formula with |t| clamped to 700 and no correction, so
v is computed at t' = ±700, and need no libm accuracy beyond the main region's:

* t > 700, softplus: v ∈ {x, next(x)} (the added e**-700/β is far below half an ulp of x > 700/β), and
  f(x) ∈ (x, x + e**-700/β); with w ≥ 2**-46, v·(1 − w) < x < f and v·(1 + w) > x·(1 + 2**-46) > f.
* t > 700, sigmoid: v = 1 and f ∈ (1 − e**-700, 1): 1 − w < f, and hi is clamped to 1 (sigmoid < 1).
* t < −700: f ∈ (0, e**-700/β) for softplus, (0, e**-700) for sigmoid, and v is that bound (computed
  with the main region's error): lo is set to 0, hi = v·(1 + w) ≥ the bound. Where v underflows (β >
  2**10), the 2**-1073 added to every hi covers the absolute error of the subnormal arithmetic.

The claim is tested, not assumed: every float16 and bfloat16 input and a large float32 sample are checked
against the rigorous arb and mpmath enclosures in tests/oracle.
"""

from __future__ import annotations

import numpy as np

from oracle.formats import Format
from oracle.rounding import round_float64_array

__all__ = ["enclose_f64", "round_fast", "round_enclosure", "MAIN_LIMIT"]

#: |βx| up to which the libm-based evaluation is used; beyond it exp over- or underflows float64.
MAIN_LIMIT = 700.0
_U = 2.0 ** -53
_W = 16 * _U + 2.0 ** -46 + 2.0 ** -50  # the relative bound w of the module doc
_TINY = 2.0 ** -1020  # v·(1 ± w) stays normal above this
# added to every upper bound: covers the absolute error of a v that underflowed (lower tail, huge β)
_SUBNORMAL_SLACK = 2.0 ** -1073


def _product_remainder(x: np.ndarray, beta: float, t: np.ndarray) -> np.ndarray:
    """βx − t exactly, for t = fl(βx) (Dekker's two-product); meaningful where neither the split nor
    the product leaves the normal range (|x|, |β| < 2**996, |t| > 2**-900), which callers mask."""
    split = 134217729.0  # 2**27 + 1
    c = split * beta
    bh = c - (c - beta)
    bl = beta - bh
    xh = x * split
    xh -= xh - x
    xl = x - xh
    r = xh * bh
    r -= t
    r += xh * bl
    r += xl * bh
    r += xl * bl
    return r


def _is_power_of_two(beta: float) -> bool:
    m, _ = np.frexp(beta)
    return m == 0.5


def enclose_f64(x: np.ndarray, beta: float, fn: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lo, hi, ok): float64 bounds lo ≤ f(x) ≤ hi, claimed where ``ok``; x float64, finite where ok."""
    if fn not in ("softplus", "softplus_grad"):
        raise ValueError(f"unknown function {fn!r}")
    x = np.asarray(x, dtype=np.float64)
    # The inner loop of an exhaustive float32 run: one formula for every region (no masked assignments,
    # which cost more than the exp), in-place where possible. The tails are covered as the module doc says.
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        t = x if beta == 1.0 else x * beta
        a = np.abs(t)
        am = np.fmin(a, MAIN_LIMIT)  # fmin drops NaN: exp() stays quiet everywhere
        e = np.negative(am)
        np.exp(e, out=e)  # exp(-min(|t|, 700)) in [e**-700, 1]
        if not _is_power_of_two(beta):  # t = βx was rounded: correct exp(-|t|) to exp(-|βx|)
            d = _product_remainder(x, beta, t)
            d *= (a > 2.0 ** -900) & (a <= MAIN_LIMIT)  # elsewhere it is irrelevant (or not exact)
            d *= np.sign(t)
            d -= 1.0
            e *= np.negative(d, out=d)
        if fn == "softplus":
            v = np.log1p(e)
            if beta != 1.0:
                v /= beta
            v += np.maximum(x, 0.0)
        else:
            v = np.add(e, 1.0)
            np.divide(np.where(t >= 0, 1.0, e), v, out=v)
        lo = v * (1.0 - _W)
        lo *= t >= -MAIN_LIMIT  # lower tail: lo = 0
        hi = v * (1.0 + _W)
        hi += _SUBNORMAL_SLACK
        if fn == "softplus_grad":
            np.minimum(hi, 1.0, out=hi)  # sigmoid < 1
        ok = (v >= _TINY) | (t < -MAIN_LIMIT)
        ok &= a < np.inf
        ok &= np.abs(x) < np.inf
    return lo, hi, ok


def round_fast(x: np.ndarray, beta: float, fn: str, fmt: Format) -> tuple[np.ndarray, np.ndarray]:
    """(bits, decided): correctly rounded bit patterns of f(x) in ``fmt`` where ``decided``.

    Only for formats narrower than float64. Undecided elements hold arbitrary bits.
    """
    if fmt.p >= 53:
        raise ValueError("the float64 fast path only decides roundings into narrower formats")
    return round_enclosure(*enclose_f64(x, beta, fn), fmt)


def round_enclosure(lo: np.ndarray, hi: np.ndarray, ok: np.ndarray, fmt: Format) -> tuple[np.ndarray, np.ndarray]:
    """(bits, decided) from an enclosure of :func:`enclose_f64`: where both ends round alike."""
    b_lo = round_float64_array(lo, fmt)
    b_hi = round_float64_array(hi, fmt)
    return b_lo, ok & (b_lo == b_hi)
