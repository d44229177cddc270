"""Exact softplus and sigmoid: rigorous enclosures, raised in precision until the rounding is certain.

softplus_β(x) = log1p(exp(βx)) / β and its derivative sigmoid(βx) = 1 / (1 + exp(-βx)), for a binary
input x (any float up to float64, taken exactly) and β > 0 (taken as its exact float64 value).

Both are evaluated in the form that has no cancellation at any magnitude,

    softplus_β(x) = max(x, 0) + log1p(exp(-|βx|)) / β
    sigmoid(t)    = 1 / (1 + exp(-t))           (t ≥ 0)
                  = exp(t) / (1 + exp(t))       (t < 0),

in ball or interval arithmetic, so the result is an *enclosure* [lo, hi] of the exact value, never an
estimate. Two independent backends compute it:

* ``"arb"``: python-flint's arb balls (rigorous error propagation; fast), the default;
* ``"mpmath"``: mpmath's interval context ``mpmath.iv`` (rigorous, slower), the cross-check.

:func:`correctly_rounded_bits` is Ziv's strategy: round both ends of the enclosure to the target format;
if they agree, that is the correctly rounded result, else double the working precision and retry. It
terminates because neither function takes a rounding boundary (a midpoint or a format value) as its
value at a binary input, except sigmoid(0) = 1/2, which both backends enclose exactly: by
Lindemann–Weierstrass exp(t) is transcendental for rational t ≠ 0, so neither log1p(exp(t)) (nor its
quotient by a rational β) nor 1 / (1 + exp(-t)) is rational.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import flint
import mpmath
from mpmath import iv

from oracle.formats import Format
from oracle.rounding import round_dyadic

__all__ = ["Fn", "enclose", "correctly_rounded_bits", "reference", "rounded_and_error", "MAX_PREC"]

Fn = Literal["softplus", "softplus_grad"]
#: The two functions the oracle knows: softplus_β and its derivative sigmoid(βx).
FUNCTIONS: tuple[str, ...] = get_args(Fn)
Dyadic = tuple[int, int, int]  # (sign, man, exp): (-1)**sign * man * 2**exp, man >= 0

#: Ziv gives up above this working precision: no binary input comes near it (the hardest float64 cases
#: of exp-like functions need ~160 bits), so reaching it means a bug, reported as such.
MAX_PREC = 1 << 14

_ZERO: Dyadic = (0, 0, 0)


def _check_fn(fn: str) -> None:
    if fn not in FUNCTIONS:
        raise ValueError(f"unknown function {fn!r}; expected 'softplus' or 'softplus_grad'")


# --- arb backend -------------------------------------------------------------------------------------

def _arb_endpoint(a: flint.arb) -> Dyadic:
    man, exp = a.man_exp()
    man, exp = int(man), int(exp)
    return (1, -man, exp) if man < 0 else (0, man, exp)


def _enclose_arb(x: float, beta: float, fn: str, prec: int) -> tuple[Dyadic, Dyadic]:
    old = flint.ctx.prec
    try:
        # beta * x of two float64 values is exact at 106 bits: no error enters before exp.
        flint.ctx.prec = max(prec, 110)
        t = flint.arb(x) * flint.arb(beta)
        flint.ctx.prec = prec
        if fn == "softplus":
            r = (-abs(t)).exp().log1p() / flint.arb(beta)
            base = flint.arb(max(x, 0.0))
            s = base + r
            # log1p(exp(-|t|))/β > 0: the exact value lies above max(x, 0) even where the ball's
            # radius (huge |t|, where exp(-|t|) is a ball around 0) says otherwise.
            lo = s.lower()
            lo = base if lo < base else lo
            return _arb_endpoint(lo), _arb_endpoint(s.upper())
        if t >= 0:
            s = 1 / (1 + (-t).exp())
        else:
            e = t.exp()
            s = e / (1 + e)
        lo, hi = s.lower(), s.upper()
        # 0 < sigmoid < 1: clamp balls that spill over (extreme |t|); and sigmoid(t) is above 1/2 exactly
        # when t > 0: a ball around 1/2 (tiny t) is cut there, so its binade is known without raising
        # the precision until the radius falls below |t|/4.
        lo = flint.arb(0) if lo < 0 else lo
        hi = flint.arb(1) if hi > 1 else hi
        half = flint.arb(0.5)
        if t > 0 and lo < half:
            lo = half
        elif t < 0 and hi > half:
            hi = half
        return _arb_endpoint(lo), _arb_endpoint(hi)
    finally:
        flint.ctx.prec = old


# --- mpmath.iv backend -------------------------------------------------------------------------------

def _iv_endpoint(m) -> Dyadic:
    sign, man, exp, _bc = m
    return int(sign), int(man), int(exp)


def _enclose_mpmath(x: float, beta: float, fn: str, prec: int) -> tuple[Dyadic, Dyadic]:
    old = iv.prec
    try:
        iv.prec = max(prec, 110)
        t = iv.mpf(x) * iv.mpf(beta)
        iv.prec = prec
        if fn == "softplus":
            a = -abs(t)
            r = iv.log1p(iv.exp(a)) / iv.mpf(beta)
            base = iv.mpf(max(x, 0.0))
            s = base + r
            lo, hi = s._mpi_
            if s.a < base.a:  # interval endpoints compare exactly
                lo = base._mpi_[0]
            return _iv_endpoint(lo), _iv_endpoint(hi)
        if t >= 0:
            s = 1 / (1 + iv.exp(-t))
        else:
            e = iv.exp(t)
            s = e / (1 + e)
        lo, hi = s._mpi_
        lo = iv.mpf(0)._mpi_[0] if s.a < 0 else lo
        hi = iv.mpf(1)._mpi_[1] if s.b > 1 else hi
        half = iv.mpf(0.5)
        if t > 0 and s.a < half:  # sigmoid(t) > 1/2 exactly when t > 0 (see the arb backend)
            lo = half._mpi_[0]
        elif t < 0 and s.b > half:
            hi = half._mpi_[1]
        return _iv_endpoint(lo), _iv_endpoint(hi)
    finally:
        iv.prec = old


_BACKENDS = {"arb": _enclose_arb, "mpmath": _enclose_mpmath}


def enclose(x: float, beta: float, fn: Fn, prec: int, backend: str = "arb") -> tuple[Dyadic, Dyadic]:
    """Rigorous enclosure [lo, hi] of f(x) for finite x, as exact dyadics, at working precision ``prec``."""
    _check_fn(fn)
    if backend not in _BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {sorted(_BACKENDS)}")
    return _BACKENDS[backend](float(x), float(beta), fn, prec)


def _special_bits(x: float, fn: str, fmt: Format) -> int | None:
    """Bit pattern for NaN and ±inf inputs (the mathematical limits); None for finite x."""
    if math.isnan(x):
        return fmt.nan_bits
    if x == math.inf:
        # softplus(+inf) = +inf; sigmoid(+inf) = 1
        return fmt.inf_bits if fn == "softplus" else round_dyadic(0, 1, 0, fmt)
    if x == -math.inf:
        return 0  # softplus(-inf) = +0, sigmoid(-inf) = +0
    return None


def correctly_rounded_bits(x: float, beta: float, fn: Fn, fmt: Format, backend: str = "arb") -> int:
    """Bit pattern of f(x) correctly rounded (nearest-even, gradual underflow, overflow) into ``fmt``.

    ``x`` must be exactly representable in float64 (every supported format is). Working precision starts
    at p + 24 bits and doubles until both ends of the enclosure round alike (Ziv).
    """
    _check_fn(fn)
    x = float(x)
    special = _special_bits(x, fn, fmt)
    if special is not None:
        return special
    prec = fmt.p + 24
    while prec <= MAX_PREC:
        lo, hi = enclose(x, beta, fn, prec, backend)
        b_lo = round_dyadic(*lo, fmt)
        if b_lo == round_dyadic(*hi, fmt):
            return b_lo
        prec *= 2
    raise ArithmeticError(f"{fn}({x!r}, beta={beta!r}) undecided at {MAX_PREC} bits in {fmt.name}")


def _ulp_exponent(d: Dyadic, fmt: Format) -> int:
    sign, man, exp = d
    if man == 0:
        return fmt.emin - fmt.p + 1
    return fmt.ulp_exponent(max(exp + man.bit_length() - 1, fmt.emin - 1))


def reference(x: float, beta: float, fn: Fn, fmt: Format, extra_bits: int = 40,
              backend: str = "arb") -> tuple[mpmath.mpf, int]:
    """f(x) for finite x, to a known fraction of an ulp of ``fmt``: returns (value, k) with
    ulp(f(x)) = 2**k exactly (Goldberg's ulp, floored at the subnormal quantum) and
    |f(x) - value| <= 2**(k - extra_bits).

    Precision is raised until the enclosure is that narrow and lies within one binade.
    """
    _check_fn(fn)
    x = float(x)
    prec = fmt.p + extra_bits + 8
    while prec <= MAX_PREC:
        lo, hi = enclose(x, beta, fn, prec, backend)
        k = _ulp_exponent(lo, fmt)
        k_hi = _ulp_exponent(hi, fmt)
        if lo != hi and hi[1] & (hi[1] - 1) == 0 and hi[0] == 0:
            # f is never a power of two (see the module doc), so f < hi: hi's binade is the one below.
            k_hi = _ulp_exponent((0, hi[1] * 2 - 1, hi[2] - 1), fmt)
        if k == k_hi:
            with mpmath.workprec(prec + 8):  # mpf() rounds to the context: make it exact
                a = mpmath.mpf((-lo[1] if lo[0] else lo[1], lo[2]))
                b = mpmath.mpf((-hi[1] if hi[0] else hi[1], hi[2]))
                if b - a <= mpmath.ldexp(1, k - extra_bits):
                    return (a + b) / 2, k
        prec *= 2
    raise ArithmeticError(f"{fn}({x!r}, beta={beta!r}) not resolved to 2**-{extra_bits} ulp of {fmt.name}")


def _ulp_exponent_below(d: Dyadic, fmt: Format) -> int:
    """The ulp exponent of values just below the upper end d of an enclosure: f is never a power of
    two (module doc), so where d is one, f < d lies in the binade below."""
    sign, man, exp = d
    if sign == 0 and man and man & (man - 1) == 0:
        return _ulp_exponent((0, man * 2 - 1, exp - 1), fmt)
    return _ulp_exponent(d, fmt)


def _value(d: Dyadic) -> tuple[int, int]:
    sign, man, exp = d
    return (-man if sign else man), exp


def rounded_and_error(x: float, y: float, beta: float, fn: Fn, fmt: Format, extra_bits: int = 28,
                      backend: str = "arb") -> tuple[int, float]:
    """(bits, err) for finite x and finite y: the bit pattern of f(x) correctly rounded into ``fmt`` and
    the signed error (y − f(x)) / ulp(f(x)) of ``y``, both from one enclosure.

    The error is within 2**-extra_bits ulp (plus one float64 rounding of the result). Working precision
    starts at p + extra_bits + 8 and doubles until the enclosure both decides the rounding (Ziv) and is
    that narrow within one binade — for float64 this is half the work of :func:`correctly_rounded_bits`
    followed by :func:`reference`.
    """
    _check_fn(fn)
    x, y = float(x), float(y)
    prec = fmt.p + extra_bits + 8
    while prec <= MAX_PREC:
        lo, hi = enclose(x, beta, fn, prec, backend)
        b_lo = round_dyadic(*lo, fmt)
        k = _ulp_exponent(lo, fmt)
        if lo == hi or (b_lo == round_dyadic(*hi, fmt) and k == _ulp_exponent_below(hi, fmt)
                        and _dyadic_width_ok(lo, hi, k - extra_bits)):  # lo == hi: sigmoid(0) = 1/2
            return b_lo, _error_in_ulps(y, lo, hi, k)
        prec *= 2
    raise ArithmeticError(f"{fn}({x!r}, beta={beta!r}) not resolved to 2**-{extra_bits} ulp of {fmt.name}")


def _dyadic_width_ok(lo: Dyadic, hi: Dyadic, e: int) -> bool:
    """hi − lo ≤ 2**e (conservative, exact unless an end lies far below 2**e)."""
    return _exact_sum([(-1, lo), (1, hi)], e - 4, 4096) <= (1 << 4)


def _exact_sum(terms: list[tuple[int, Dyadic]], base: int, max_bits: int) -> int:
    """Σ c·d as an integer multiple of 2**base, each term floored at that quantum (terms below it
    contribute their sign's floor, −1 or 0) — exact when every term is a multiple of 2**base."""
    total = 0
    for c, d in terms:
        v, ex = _value(d)
        if v == 0:
            continue
        if ex >= base:
            if ex - base > max_bits:  # astronomically large against the quantum: cap it
                ex = base + max_bits
            total += c * (v << (ex - base))
        else:
            total += (c * v) >> (base - ex)  # floor: within one quantum
    return total


def _error_in_ulps(y: float, lo: Dyadic, hi: Dyadic, k: int) -> float:
    """(y − (lo + hi)/2) / 2**k as a float (±inf beyond float64's range), to within 2**-60 ulp."""
    base = k - 64
    if y == 0:
        yd: Dyadic = (0, 0, 0)
    else:
        m, e = math.frexp(abs(y))
        yd = (int(y < 0), int(m * (1 << 53)), e - 53)
    num = _exact_sum([(2, yd), (-1, lo), (-1, hi)], base, 2300)  # 2·y − lo − hi, at 2**base
    shift = abs(num).bit_length() - 64  # float(num) would overflow past 1024 bits
    if shift > 0:
        num, base = num >> shift, base + shift
    try:
        return math.ldexp(float(num), base - 1 - k)
    except OverflowError:
        return math.inf if num > 0 else -math.inf
