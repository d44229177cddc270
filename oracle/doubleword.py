"""Double-word ("double-double") arithmetic on NumPy float64 arrays: error-free transformations and the
building blocks of Joldes, Muller and Popescu, with their proven relative error bounds.

A double-word number is a pair (h, l) of float64 values with h = RN(h + l); it stands for h + l. Every
function here works elementwise on arrays (or scalars) and uses only IEEE-754 additions, subtractions,
multiplications and divisions in round-to-nearest — operations that NumPy performs correctly rounded on
every machine, without fused multiply-add contraction — so results are the same bit for bit everywhere;
no libm function is called.

Error-free transformations (exact while nothing overflows and, for :func:`two_prod`, no partial product
underflows):

* :func:`fast_two_sum` (Dekker): s + t = a + b exactly, given |a| ≥ |b| (or a = 0).
* :func:`two_sum` (Knuth, Møller): s + t = a + b exactly, for any a, b.
* :func:`two_prod` (Dekker, Veltkamp's splitting): p + t = a·b exactly, when |a|, |b| < 2**996 and the
  product of the low halves, about a·b·2**-54, stays normal (|a·b| ≥ 2**-968).

Double-word operations, with the relative error bounds proven in M. Joldes, J.-M. Muller, V. Popescu,
"Tight and rigorous error bounds for basic building blocks of double-word arithmetic", ACM TOMS 44(2),
2017 (u = 2**-53; valid without underflow or overflow; the algorithms use no FMA, so Dekker's product
stands in for 2Prod):

=====================  =========================  ===================
function               algorithm (JMP 2017)        bound
=====================  =========================  ===================
:func:`dw_plus_fp`     DWPlusFP (Alg. 4)           2u²
:func:`dw_plus_dw`     AccurateDWPlusDW (Alg. 6)   3u² + 13u³
:func:`dw_times_fp`    DWTimesFP1 (Alg. 7)         1.5u² + 4u³
:func:`dw_times_dw`    DWTimesDW1 (Alg. 10)        7u²
:func:`dw_div_fp`      DWDivFP1 (Alg. 15)          3.5u²
:func:`dw_div_dw`      DWDivDW1 (Alg. 17)          15u² + 56u³
=====================  =========================  ===================

Callers in this project account every one of them as :data:`OP_BOUND` = 16u² = 2**-102, which covers all
six. The tests check each against exact rational arithmetic.
"""

from __future__ import annotations

import numpy as np

__all__ = ["OP_BOUND", "fast_two_sum", "two_sum", "split", "two_prod", "dw_plus_fp", "dw_plus_dw",
           "dw_times_fp", "dw_times_dw", "dw_div_fp", "dw_div_dw", "horner_fp"]

#: Relative error charged for one double-word operation of this module: 16u² (see the table above).
OP_BOUND = 16 * 2.0 ** -106

_SPLITTER = 134217729.0  # 2**27 + 1: Veltkamp's constant for 53-bit significands


def fast_two_sum(a, b):
    """(s, t) with s = RN(a + b), s + t = a + b exactly; requires |a| ≥ |b| or a = 0."""
    s = a + b
    return s, b - (s - a)


def two_sum(a, b):
    """(s, t) with s = RN(a + b), s + t = a + b exactly; no precondition (6 operations)."""
    s = a + b
    a1 = s - b
    b1 = s - a1
    return s, (a - a1) + (b - b1)


def split(a):
    """(hi, lo) with hi + lo = a, each fitting in 26 bits (Veltkamp); |a| < 2**996."""
    c = _SPLITTER * a
    hi = c - (c - a)
    return hi, a - hi


def two_prod(a, b):
    """(p, t) with p = RN(a·b), p + t = a·b exactly (Dekker), under the conditions of the module doc."""
    p = a * b
    ah, al = split(a)
    bh, bl = split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def dw_plus_fp(xh, xl, y):
    """(xh, xl) + y, a double-word result within 2u² relative (JMP Alg. 4)."""
    sh, sl = two_sum(xh, y)
    return fast_two_sum(sh, xl + sl)


def dw_plus_dw(xh, xl, yh, yl):
    """(xh, xl) + (yh, yl), within 3u² + 13u³ relative (JMP Alg. 6, the accurate sum)."""
    sh, sl = two_sum(xh, yh)
    th, tl = two_sum(xl, yl)
    vh, vl = fast_two_sum(sh, sl + th)
    return fast_two_sum(vh, tl + vl)


def dw_times_fp(xh, xl, y):
    """(xh, xl)·y, within 1.5u² + 4u³ relative (JMP Alg. 7)."""
    ch, cl1 = two_prod(xh, y)
    th, tl1 = fast_two_sum(ch, xl * y)
    return fast_two_sum(th, tl1 + cl1)


def dw_times_dw(xh, xl, yh, yl):
    """(xh, xl)·(yh, yl), within 7u² relative (JMP Alg. 10, no FMA)."""
    ch, cl1 = two_prod(xh, yh)
    cl2 = xh * yl + xl * yh
    return fast_two_sum(ch, cl1 + cl2)


def dw_div_fp(xh, xl, y):
    """(xh, xl) / y, within 3.5u² relative (JMP Alg. 15)."""
    th = xh / y
    ph, pl = two_prod(th, y)
    d = ((xh - ph) - pl) + xl
    return fast_two_sum(th, d / y)


def dw_div_dw(xh, xl, yh, yl):
    """(xh, xl) / (yh, yl), within 15u² + 56u³ relative (JMP Alg. 17)."""
    th = xh / yh
    rh, rl = dw_times_fp(yh, yl, th)
    d = (xh - rh) + (xl - rl)
    return fast_two_sum(th, d / yh)


def horner_fp(r, coefficients):
    """Σ c_k·r**k in plain float64 (Horner, highest degree last in ``coefficients``): for the small
    high-order tails of polynomials whose leading terms are evaluated in double-word arithmetic."""
    acc = np.full(np.shape(r), coefficients[-1], dtype=np.float64)
    for c in coefficients[-2::-1]:
        acc *= r
        acc += c
    return acc
