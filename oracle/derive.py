"""Error bounds derived, not measured: a formula's worst error when every kernel it calls errs by its stated bound.

A budget for an instruction-set path nobody measured (arm64, a dispatch target NumPy adds next year, a CPU
above any measured one) cannot come from a measurement. It can come from what the path's kernels promise:
NumPy tests its SIMD exp within 3 ulp in float32 on every dispatch target, Sleef's ``_u10`` functions are
within 1.0 ulp on every ISA, and so on. This module carries such bounds through the formula a target
evaluates, by interval arithmetic, and reports the largest error any implementation honouring them can make.

The method. A formula is written once against an ``ops`` namespace (``exp``, ``log1p``, ``logaddexp``,
``maximum``, ``abs``, ``where``, the four operators): with NumPy as ``ops`` it is the target's own code, with an
:class:`IntervalOps` it yields, per input, an interval [lo, hi] that holds every result a conforming
implementation can return:

* a kernel ``k`` with bound B ulps (against the exact value) maps [a, b] to
  [k(a) − B·ulp(k(a)), k(b) + B·ulp(k(b))] for increasing k (exp, log1p, log), evaluated in a working
  precision (float64 for formats of ≤ 24 bits, x87 long double for float64) — any result within B ulps of
  k(t) for some t in [a, b] lies there;
* an operation of the format (+, −, ×, ÷) rounds once to nearest, which is monotone: the exact interval
  result [u, v] goes to [rn(u), rn(v)] (so x·2 and 1 + 1 stay exact, and 65504 + 2⁻³⁰ stays 65504);
* an operation that NumPy or ml_dtypes computes in float32 and rounds to a narrower format (every float16,
  bfloat16 and float8 ufunc) is evaluated with float32's bounds, then rounded once more (½ ulp of the format);
* comparisons are three-valued: ``where(z >= 0, a, b)`` takes the hull of both branches where the interval
  of z straddles 0;
* a kernel's result is a value of the format: an end beyond the largest finite value is that value, and
  infinity only where the exact value itself overflows;
  an operation that can meet inf − inf or 0·inf marks the input "NaN possible".

The error of the input is then max(|lo − f|, |hi − f|) / ulp(f) for the exact value f (the oracle's
enclosure: float64 with relative error below 2⁻⁵⁰ for the narrow formats, the double-word one for float64),
in Goldberg ulps with the subnormal floor (as :mod:`oracle.ulp`). Interval arithmetic ignores that the same
intermediate enters twice (``e/(1 + e)``), so the bound may exceed the best one; it never falls below it.

Precision of the method itself: each working-precision operation errs by at most 2⁻⁵³ (float64) or 2⁻⁶⁴ (long
double) relative, i.e. at most 2⁻²⁹ resp. 2⁻¹¹ ulp of the format per operation; the bounds are reported
rounded up by :func:`budget` (2% and two significant digits), which covers that for formulas of up to a
few dozen operations. The maximum is taken over the inputs given (every value of the 8- and 16-bit formats;
a dense bit-uniform sample of float32 and float64 plus their boundary sets): the bound is a smooth function
of x without the spikes of a real libm, so a dense sample finds its maximum to within the sample's spacing.

Preconditions: β > 0 and finite; float64 needs a long double of at least 64 significand bits (x86-64 Linux),
else :func:`derive` raises ``ValueError`` (the caller then writes no derived budget).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from oracle import fast, fast64
from oracle.evaluate import correctly_rounded, to_float64
from oracle.formats import Format, get_format

__all__ = ["KernelBound", "IntervalOps", "Iv", "Derived", "derive", "budget"]

_F32 = get_format("float32")


@dataclass(frozen=True)
class KernelBound:
    """What a kernel promises in one format. Directly (``inner`` None): within ``ulps`` of the exact value.
    Through ``inner`` (a narrower format's ufunc evaluated in float32): within ``inner_ulps`` of the exact
    value there, that result rounded to nearest in the format, and the kernel's result within ``ulps`` of
    that rounding (0 for a plain rounding; NumPy's float16 SIMD loops promise 1)."""

    ulps: float
    inner: str | None = None
    inner_ulps: float = 0.0


class Iv:
    """Intervals [lo, hi] elementwise (arrays of the working precision), with the NaN-possible mask."""

    __array_ufunc__ = None  # NumPy scalars defer to our reflected operators (t(1) + iv)

    def __init__(self, ops: "IntervalOps", lo, hi, nan=None) -> None:
        self.ops, self.lo, self.hi = ops, lo, hi
        self.nan = np.zeros(np.shape(lo), dtype=bool) if nan is None else nan

    def _other(self, b) -> "Iv":
        return b if isinstance(b, Iv) else self.ops.point(b)

    def __add__(self, b):
        return self.ops.arith("add", self, self._other(b))

    __radd__ = __add__

    def __sub__(self, b):
        return self.ops.arith("sub", self, self._other(b))

    def __rsub__(self, b):
        return self.ops.arith("sub", self._other(b), self)

    def __mul__(self, b):
        return self.ops.arith("mul", self, self._other(b))

    __rmul__ = __mul__

    def __truediv__(self, b):
        return self.ops.arith("div", self, self._other(b))

    def __rtruediv__(self, b):
        return self.ops.arith("div", self._other(b), self)

    def __neg__(self):
        return Iv(self.ops, -self.hi, -self.lo, self.nan)

    def __ge__(self, b):
        b = self._other(b)
        return Cond(self.lo >= b.hi, self.hi >= b.lo)

    def __gt__(self, b):
        b = self._other(b)
        return Cond(self.lo > b.hi, self.hi > b.lo)

    def __le__(self, b):
        return self._other(b).__ge__(self)

    def __lt__(self, b):
        return self._other(b).__gt__(self)


@dataclass
class Cond:
    """A comparison of intervals: true for every value (``sure``) or for some (``maybe``)."""

    sure: np.ndarray
    maybe: np.ndarray


class IntervalOps:
    """The ``ops`` namespace of the interval evaluation in format ``fmt``, with kernel bounds ``bounds``
    (kernel name -> :class:`KernelBound` for this format). Arithmetic of the format rounds correctly
    (½ ulp); for formats narrower than float32 it goes through float32, as NumPy's and ml_dtypes' loops do."""

    def __init__(self, fmt: Format, bounds: Mapping[str, KernelBound], work: type) -> None:
        self.fmt, self.bounds, self.work = fmt, dict(bounds), work
        self.dtype = fmt.dtype

    # --- plumbing ------------------------------------------------------------------------------------------

    def point(self, c) -> Iv:
        v = np.asarray(c, dtype=self.work)
        return Iv(self, v, v)

    def const(self, c):
        """``t(c)`` of the formulas: the constant in the working precision (exact for 0, 1, β)."""
        return self.work(c)

    def ulp(self, v: np.ndarray, fmt: Format | None = None) -> np.ndarray:
        """ulp(v) in ``fmt`` (default the format), in the working precision; 0 and subnormals: the floor."""
        fmt = fmt or self.fmt
        with np.errstate(all="ignore"):
            _, e = np.frexp(np.where(np.isfinite(v), v, 0).astype(self.work))
        e = np.where(v == 0, fmt.emin + 1, e)  # frexp(0) has exponent 0: zero belongs to the lowest binade
        k = np.maximum(e.astype(np.int64) - 1, fmt.emin) - fmt.p + 1
        return np.ldexp(self.work(1), k).astype(self.work)

    def _widen(self, lo, hi, nan, ulps: float, fmt: Format, exact_lo=None, exact_hi=None) -> Iv:
        """[lo, hi] widened by ``ulps`` ulps of ``fmt`` at each end: every value within ``ulps`` of a point
        of [lo, hi]. An implementation returns a value of the format, so an end beyond the largest finite
        value is that value where the exact one (``exact_lo``/``exact_hi``, default the end itself) is
        finite in the format, and ±inf only where the exact value itself overflows."""
        with np.errstate(all="ignore"):
            exact_lo = lo if exact_lo is None else exact_lo
            exact_hi = hi if exact_hi is None else exact_hi
            lo = lo - ulps * self.ulp(lo, fmt)
            hi = hi + ulps * self.ulp(hi, fmt)
            big = self.work(float(fmt.max_significand * 2.0 ** (fmt.emax - fmt.p + 1)))
            # the exact value overflows the format (to inf, or to NaN in the float8 formats without inf)
            over_hi = ~np.isfinite(self._rn(exact_hi, fmt)) & ~np.isnan(exact_hi)
            over_lo = ~np.isfinite(self._rn(exact_lo, fmt)) & ~np.isnan(exact_lo)
            hi = np.where(hi > big, np.where(over_hi, self.work(np.inf), big), hi)
            lo = np.where(lo < -big, np.where(over_lo, -self.work(np.inf), -big), lo)
            lo = np.where(lo > big, np.where(over_lo, self.work(np.inf), big), lo)
            hi = np.where(hi < -big, np.where(over_hi, -self.work(np.inf), -big), hi)
            nan = nan | np.isnan(lo) | np.isnan(hi)
            if not fmt.has_inf:  # an overflow there is NaN
                nan = nan | over_hi | over_lo
        return Iv(self, lo, hi, nan)

    def _inner(self) -> Format | None:
        return _F32 if self.fmt.p < _F32.p else None

    def _rn(self, v: np.ndarray, fmt: Format) -> np.ndarray:
        """v rounded to nearest in ``fmt`` (ties to even, gradual underflow, overflow to ±inf), back in the
        working precision: NumPy's and ml_dtypes' casts round correctly from float64 (and from long double
        to float64); bfloat16 and float8 are reached through float32, which is exact for float32 values."""
        with np.errstate(all="ignore"):
            if fmt.p < _F32.p and fmt.name != "float16":
                v = v.astype(np.float32)
            return v.astype(fmt.dtype).astype(self.work)

    def _round(self, lo, hi, nan) -> Iv:
        """The exact interval of an operation of the format, rounded as the format's loops round.

        Rounding to nearest is monotone, so [lo, hi] goes to [rn(lo), rn(hi)]; lo and hi, computed in the
        working precision, are first moved one working ulp outwards so that their own rounding cannot move
        a value across a midpoint of the format. A format narrower than float32 is reached through float32.
        """
        with np.errstate(all="ignore"):
            lo = np.nextafter(lo, -np.inf).astype(self.work)
            hi = np.nextafter(hi, np.inf).astype(self.work)
            inner = self._inner()
            if inner is not None:  # computed in float32, rounded to float32, then to the format
                lo, hi = self._rn(lo, inner), self._rn(hi, inner)
            lo, hi = self._rn(lo, self.fmt), self._rn(hi, self.fmt)
            nan = nan | np.isnan(lo) | np.isnan(hi)
        return Iv(self, lo, hi, nan)

    # --- arithmetic ---------------------------------------------------------------------------------------------

    def arith(self, op: str, a: Iv, b: Iv) -> Iv:
        with np.errstate(all="ignore"):
            if op == "add":
                lo, hi = a.lo + b.lo, a.hi + b.hi
            elif op == "sub":
                lo, hi = a.lo - b.hi, a.hi - b.lo
            elif op == "mul":
                c = np.stack([a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi])
                lo, hi = np.min(c, axis=0), np.max(c, axis=0)
            elif op == "div":
                zero_in = (b.lo <= 0) & (b.hi >= 0)
                c = np.stack([a.lo / b.lo, a.lo / b.hi, a.hi / b.lo, a.hi / b.hi])
                lo = np.where(zero_in, -self.work(np.inf), np.min(c, axis=0))
                hi = np.where(zero_in, self.work(np.inf), np.max(c, axis=0))
            else:
                raise ValueError(f"unknown operation {op!r}")
            nan = a.nan | b.nan | np.isnan(lo) | np.isnan(hi)
        return self._round(lo, hi, nan)

    def maximum(self, a, b) -> Iv:
        a, b = (x if isinstance(x, Iv) else self.point(x) for x in (a, b))
        return Iv(self, np.maximum(a.lo, b.lo), np.maximum(a.hi, b.hi), a.nan | b.nan)

    def abs(self, a: Iv) -> Iv:
        straddle = (a.lo < 0) & (a.hi > 0)
        lo = np.where(straddle, self.work(0), np.minimum(np.abs(a.lo), np.abs(a.hi)))
        hi = np.maximum(np.abs(a.lo), np.abs(a.hi))
        return Iv(self, lo, hi, a.nan)

    def negative(self, a: Iv) -> Iv:
        return -a

    def where(self, cond: Cond, a, b) -> Iv:
        a, b = (x if isinstance(x, Iv) else self.point(x) for x in (a, b))
        both = cond.maybe & ~cond.sure
        lo = np.where(cond.sure, a.lo, np.where(both, np.minimum(a.lo, b.lo), b.lo))
        hi = np.where(cond.sure, a.hi, np.where(both, np.maximum(a.hi, b.hi), b.hi))
        nan = np.where(cond.sure, a.nan, np.where(both, a.nan | b.nan, b.nan))
        return Iv(self, lo, hi, nan)

    # --- kernels ------------------------------------------------------------------------------------------------

    def kernel(self, name: str, f: Callable, a: Iv) -> Iv:
        """Increasing kernel ``f`` (in the working precision) under the bound named ``name``."""
        try:
            b = self.bounds[name]
        except KeyError:
            raise ValueError(f"no bound for kernel {name!r} in {self.fmt.name}") from None
        with np.errstate(all="ignore"):
            lo, hi = f(a.lo), f(a.hi)
        nan = a.nan | np.isnan(lo) | np.isnan(hi)
        if b.inner is not None:
            inner = get_format(b.inner)
            r = self._round_only(self._widen(lo, hi, nan, b.inner_ulps, inner))
            return self._widen(r.lo, r.hi, r.nan, b.ulps, self.fmt, lo, hi) if b.ulps else r
        return self._widen(lo, hi, nan, b.ulps, self.fmt)

    def exp(self, a: Iv) -> Iv:
        return self.kernel("exp", np.exp, a)

    def log1p(self, a: Iv) -> Iv:
        return self.kernel("log1p", np.log1p, a)

    def log(self, a: Iv) -> Iv:
        return self.kernel("log", np.log, a)

    def computed_in(self, name: str, body: Callable[..., Iv], *args) -> Iv:
        """``body(ops, *args)`` evaluated in format ``name`` (e.g. torch's float16 kernels, which compute in
        float32), its result rounded once to this format; interval arguments are handed over as they are."""
        inner = get_format(name)
        if inner.name == self.fmt.name:
            return body(self, *args)
        o = IntervalOps(inner, self.bounds, self.work)
        r = body(o, *(Iv(o, a.lo, a.hi, a.nan) if isinstance(a, Iv) else a for a in args))
        return self._round_only(r)

    def _round_only(self, r: Iv) -> Iv:
        """A result of another format (float32) rounded once to this one: [rn(lo), rn(hi)]."""
        return Iv(self, self._rn(r.lo, self.fmt), self._rn(r.hi, self.fmt), r.nan)

    def logaddexp(self, a, b) -> Iv:
        """``numpy.logaddexp(a, b)``: NumPy's npy_logaddexp, max(a, b) + log1p(exp(−|a − b|)) in scalar libm
        (kernels "libm.exp", "libm.log1p"), computed in float32 for the narrower formats and rounded once."""
        a, b = (x if isinstance(x, Iv) else self.point(x) for x in (a, b))
        inner = self._inner()
        ops = IntervalOps(inner, self.bounds, self.work) if inner is not None else self
        d = ops.abs(ops.arith("sub", a, b))
        e = ops.kernel("libm.exp", np.exp, ops.negative(d))
        r = ops.arith("add", ops.maximum(a, b), ops.kernel("libm.log1p", np.log1p, e))
        if inner is not None:  # the float32 result rounded once more, to the format
            return self._round_only(r)
        return r


@dataclass(frozen=True)
class Derived:
    """The derived bound of one combination: the largest error over ``n_inputs`` inputs of any
    implementation within the stated kernel bounds, where that error is finite (``max_finite_ulp``,
    ``worst_x``), and how many inputs admit a non-finite or NaN result where the truth is finite."""

    max_finite_ulp: float
    worst_x: float | None
    n_inputs: int
    nonfinite_inputs: int
    nan_inputs: int

    @property
    def max_ulp(self) -> float:
        return math.inf if self.nonfinite_inputs or self.nan_inputs else self.max_finite_ulp


def _truth(x: np.ndarray, fmt: Format, fn: str, beta: float, work: type) -> np.ndarray:
    """f(x) in the working precision: the oracle's enclosure midpoint where it claims one, else the
    correctly rounded value (tiny results near underflow, where the enclosure declines)."""
    xf = to_float64(x)
    if fmt.name == "float64":
        vh, vl, ok = fast64.enclose(xf, beta, fn)
        v = vh.astype(work) + vl.astype(work)
    else:
        lo, hi, ok = fast.enclose_f64(xf, beta, fn)
        v = ((lo + hi) / 2).astype(work)
    if not ok.all():
        idx = np.flatnonzero(~ok)
        v[idx] = to_float64(correctly_rounded(x[idx], fn, beta)).astype(work)
    return v


def derive(formula: Callable[[Any, Any], Any], fmt, fn: str, beta: float, x: np.ndarray,
           bounds: Mapping[str, KernelBound]) -> Derived:
    """The derived bound of ``formula(ops, x)`` (the target's computation of ``fn`` at ``beta``, written
    against ``ops``) over the finite inputs ``x`` of format ``fmt``, kernels within ``bounds``.

    ``formula`` receives the :class:`IntervalOps` and an :class:`Iv` of the inputs and returns an Iv.
    ValueError where the formula calls a kernel without a bound, or for float64 without a long double of
    at least 64 significand bits.
    """
    fmt = get_format(fmt)
    if fmt.name == "float64":
        if np.finfo(np.longdouble).nmant < 63:
            raise ValueError("deriving float64 bounds needs an 80-bit long double (x86-64); this NumPy's has "
                             f"{np.finfo(np.longdouble).nmant + 1} bits")
        work: type = np.longdouble
    else:
        work = np.float64
    x = np.asarray(x, dtype=fmt.dtype)
    x = x[np.isfinite(to_float64(x))]
    ops = IntervalOps(fmt, bounds, work)
    xw = to_float64(x).astype(work)
    r = formula(ops, Iv(ops, xw, xw.copy()))
    f = _truth(x, fmt, fn, beta, work)
    with np.errstate(all="ignore"):
        u = ops.ulp(f)
        err = np.maximum(np.abs(r.lo - f), np.abs(r.hi - f)) / u
    nonfinite = ~(np.isfinite(r.lo) & np.isfinite(r.hi)) & np.isfinite(f)
    nan = r.nan
    finite = ~nonfinite & ~nan
    if finite.any():
        i = int(np.argmax(np.where(finite, err, -1)))
        worst, worst_x = float(err[i]), float(to_float64(x[i:i + 1])[0])
    else:
        worst, worst_x = 0.0, None
    return Derived(worst, worst_x, int(x.size), int(nonfinite.sum()), int(nan.sum()))


def budget(u: float) -> float:
    """A budget for an error bound, derived or measured: 2% more, rounded up to two significant digits, at
    least 0.5; inf for inf and NaN."""
    if not math.isfinite(u):
        return math.inf
    v = u * 1.02
    e = math.floor(math.log10(v)) - 1 if v > 0 else 0
    return max(float(f"{math.ceil(v / 10 ** e - 1e-9)}e{e}"), 0.5)
