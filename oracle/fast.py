"""Vectorized float64 enclosures of softplus and sigmoid, for deciding roundings into narrower formats.

For float64 arrays x (finite) and β > 0, :func:`enclose_f64` returns float64 arrays ``lo ≤ f(x) ≤ hi`` and
a mask of the elements where that enclosure is claimed; elsewhere the caller must use :mod:`oracle.exact`.
:func:`round_fast` turns the enclosure into a rounding decision: where ``lo`` and ``hi`` round to the
same value of the target format, that value is the correctly rounded f(x).

Error bound (main region, |t| ≤ 700 with t = βx computed in float64, u = 2**-53). Evaluated as
``max(x, 0) + log1p(exp(-|t|)) / β`` and ``1/(1 + exp(-t))`` or ``e/(1 + e)``, every step is
well-conditioned: an error of relative size δ in t moves log1p(exp(-|t|)) by at most |t|·δ relatively
(since y/(1+y) ≤ log1p(y)), a relative error η in y moves log1p(y) by at most η, and sums of positive terms
and quotients add at most u each. With libm's exp and log1p assumed within E ≤ 2**-48 (32 ulps; glibc and
NumPy's SIMD kernels claim ≤ 4), the relative error is below

    ε(t) = 2·(|t| + 8)·u + 2**-46,

which this module widens further by 2**-50 for the arithmetic of the bound itself. Results under
2**-1000 (where float64 loses relative precision) are not claimed.

Tails (|t| > 700, t = ±inf included) are enclosed from first principles, with no libm accuracy assumed:
softplus ∈ (x, x·(1 + e**-700)) and sigmoid ∈ (1 - e**-700, 1) for t > 700; softplus ∈ (0, e**-700/β)
and sigmoid ∈ (0, e**-700) for t < -700.

The claim is tested, not assumed: every float16 and bfloat16 input and a large float32 sample are checked
against the rigorous arb and mpmath enclosures in tests/oracle.
"""

from __future__ import annotations

import numpy as np

from .formats import Format
from .rounding import round_float64_array

__all__ = ["enclose_f64", "round_fast", "MAIN_LIMIT"]

#: |βx| up to which the libm-based evaluation is used; beyond it exp over- or underflows float64.
MAIN_LIMIT = 700.0
_U = 2.0 ** -53
_LIBM_SLACK = 2.0 ** -46 + 2.0 ** -50
_TINY = 2.0 ** -1000
# e**-699 > e**-700 · (1 + any libm error): an upper bound for e**t (t < -700) with room to spare.
_EXP_TAIL = float(np.exp(-699.0))


def enclose_f64(x: np.ndarray, beta: float, fn: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lo, hi, ok): float64 bounds lo ≤ f(x) ≤ hi, claimed where ``ok``; x float64, finite where ok."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        t = x * beta
        a = np.abs(t)
        main = a <= MAIN_LIMIT
        am = np.where(main, a, 0.0)  # keep exp() quiet outside the main region
        eps = 2.0 * (am + 8.0) * _U + _LIBM_SLACK
        if fn == "softplus":
            v = np.maximum(x, 0.0) + np.log1p(np.exp(-am)) / beta
        elif fn == "softplus_grad":
            e = np.exp(-am)  # exp(-|t|) ≤ 1
            v = np.where(t >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        else:
            raise ValueError(f"unknown function {fn!r}")
        ok = main & np.isfinite(v) & (v >= _TINY)
        lo = v - v * eps
        hi = v + v * eps

        big = np.isfinite(x) & (t > MAIN_LIMIT)
        small = np.isfinite(x) & (t < -MAIN_LIMIT)
        if fn == "softplus":
            lo = np.where(big, x, lo)
            hi = np.where(big, np.nextafter(x, np.inf), hi)
            h = np.nextafter(_EXP_TAIL / beta, np.inf)
            lo = np.where(small, 0.0, lo)
            hi = np.where(small, h, hi)
            ok |= big | (small & np.isfinite(h))
        else:
            lo = np.where(big, np.nextafter(1.0, 0.0), lo)
            hi = np.where(big, 1.0, hi)
            lo = np.where(small, 0.0, lo)
            hi = np.where(small, _EXP_TAIL, hi)
            ok |= big | small
    return lo, hi, ok


def round_fast(x: np.ndarray, beta: float, fn: str, fmt: Format) -> tuple[np.ndarray, np.ndarray]:
    """(bits, decided): correctly rounded bit patterns of f(x) in ``fmt`` where ``decided``.

    Only for formats narrower than float64. Undecided elements hold arbitrary bits.
    """
    if fmt.p >= 53:
        raise ValueError("the float64 fast path only decides roundings into narrower formats")
    lo, hi, ok = enclose_f64(x, beta, fn)
    b_lo = round_float64_array(np.where(ok, lo, 0.0), fmt)
    b_hi = round_float64_array(np.where(ok, hi, 0.0), fmt)
    return b_lo, ok & (b_lo == b_hi)
