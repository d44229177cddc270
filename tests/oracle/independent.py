"""An independent derivation of correctly rounded results, for the tests to hold the oracle against.

Nothing here shares code with ``oracle``: values come from plain mpmath (not its interval context, not
arb) at a generous fixed precision, and rounding from exact rational arithmetic on the format's grid
(``fractions.Fraction``), not from bit manipulation. Slow and simple on purpose.
"""

from __future__ import annotations

import math
from fractions import Fraction

import ml_dtypes
import mpmath
import numpy as np

PREC = 600  # bits; the hardest float64 cases sit ~2**-120 relative from a rounding boundary


def exact_fraction(x: float, beta: float, fn: str) -> Fraction:
    """f(x) as a Fraction accurate to ~2**-PREC relative (x finite)."""
    with mpmath.workprec(PREC):
        t = mpmath.mpf(x) * mpmath.mpf(beta)
        if fn == "softplus":
            v = mpmath.mpf(max(x, 0.0)) + mpmath.log1p(mpmath.exp(-abs(t))) / mpmath.mpf(beta)
        else:
            v = 1 / (1 + mpmath.exp(-t))
        man, exp = v.man_exp
        man, exp = int(man), int(exp)
        # Beyond every format's range only the side matters: clamp instead of building 2**(10**60).
        e = exp + man.bit_length()
        if e < -1200:
            return Fraction(1, 2 ** 1200)
        if e > 1200:
            return Fraction(2 ** 1200)
        return Fraction(man) * (Fraction(2) ** exp)


def _params(dtype):
    fi = ml_dtypes.finfo(dtype)
    return int(fi.nmant) + 1, int(fi.minexp), Fraction(float(fi.max))


def round_fraction(v: Fraction, dtype) -> np.ndarray:
    """v rounded to nearest-even on the grid of ``dtype`` (subnormals, overflow), as a 0-d array."""
    dtype = np.dtype(dtype)
    p, emin, fmax = _params(dtype)
    if v == 0:
        return np.array(0.0).astype(dtype)
    sign = -1 if v < 0 else 1
    a = abs(v)
    e = math.floor(math.log2(a.numerator) - math.log2(a.denominator))
    while Fraction(2) ** e > a:  # fix float error of the log estimate
        e -= 1
    while Fraction(2) ** (e + 1) <= a:
        e += 1
    q = Fraction(2) ** (max(e, emin) - p + 1)
    n = math.floor(a / q)
    below, above = n * q, (n + 1) * q
    if a - below < above - a or (a - below == above - a and n % 2 == 0):
        r = below
    else:
        r = above
    if r > fmax:
        has_inf = bool(np.isinf(np.array(np.inf, np.float32).astype(dtype)))
        return np.array(sign * math.inf if has_inf else math.nan).astype(dtype)
    return np.array(sign * float(r)).astype(dtype)  # r is representable: the cast is exact


def correctly_rounded(x: float, beta: float, fn: str, dtype) -> np.ndarray:
    """The independent answer for one finite input, as a 0-d array of ``dtype``."""
    return round_fraction(exact_fraction(float(x), beta, fn), dtype)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Bitwise equality, except that any two NaNs are equal."""
    a, b = np.asarray(a), np.asarray(b)
    fa, fb = a.astype(np.float64), b.astype(np.float64)
    if np.isnan(fa) and np.isnan(fb):
        return True
    return a.tobytes() == b.tobytes()
