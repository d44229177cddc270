"""The error of a result in ulps of its format.

For a result y of input x, ``err = |y − f(x)| / ulp(f(x))`` with Goldberg's ulp of the *exact* value,
ulp(v) = 2**(max(⌊log2|v|⌋, emin) − p + 1): the subnormal quantum below the normal range, and unbounded
above it (an exact value beyond the largest finite number has the ulp of its own binade).

Non-finite cases: a y of ±inf is 0 ulp where f(x) correctly rounds to that same inf, else inf. A NaN y is
0 where the correctly rounded result is NaN too (NaN input; overflow in a format without inf), else NaN —
a failure of its own kind that callers must count, never average. A finite y where f(x) is +inf (x = +inf)
or NaN (x NaN) is inf.

Accuracy: the reported error is within 2**-20 ulp of the true one (the reference is enclosed that tightly
and its binade is decided exactly, falling back to arb where the float64 enclosure — for float64 results
the double-word one of :mod:`oracle.fast64`, within 2**-24 ulp — cannot tell).

The binade of sigmoid near 1/2. An enclosure [lo, hi] of f(x) that straddles a power of two leaves the
binade — and so the ulp — of f(x) undecided, and such elements go to arb. For sigmoid(βx) that happens for
every |βx| below about 2**-50 (the enclosure's relative width), where f(x) = 1/2 + βx/4 + O((βx)**3): in
float32 nearly 40% of all inputs, each ~20 µs in arb. But sigmoid is strictly increasing with
sigmoid(0) = 1/2 and β > 0, so f(x) < 1/2 exactly when x < 0 and f(x) > 1/2 exactly when x > 0: an
enclosure with lo < 1/2 ≤ hi for x ≠ 0 lies in the binade below 1/2 (x < 0) or in the one of 1/2 (x > 0),
and the error is computed in that binade's ulp, with the same width test (hi − lo ≤ 2**-20 of that ulp) as
everywhere. x = ±0 (f = 1/2 exactly) still goes to arb.
"""

from __future__ import annotations

import numpy as np

from oracle import fast64
from oracle.evaluate import check_beta, check_fn, compute_bits, correctly_rounded, to_float64
from oracle.exact import rounded_and_error
from oracle.fast import enclose_f64, round_enclosure
from oracle.formats import Format, format_of

__all__ = ["ulp_error", "errors_and_rounding", "ulp_exponent_f64", "ulp_f64", "pow2", "exact_error", "FAST_ACCURACY"]

_EXTRA_BITS = 20  # the reference is known to 2**-20 ulp
#: How close (in ulps) an error of :func:`ulp_error` is to the true one.
FAST_ACCURACY = 2.0 ** -_EXTRA_BITS
_REPORTED_BITS = 60  # errors that are reported one by one: to 2**-60 ulp (see exact_error)


def exact_error(x: float, y: float, fn: str, beta: float, fmt: Format, signed: bool = False) -> float:
    """The error (y − f(x)) / ulp(f(x)) of a finite result y for a finite input x, in ulps of ``fmt``, from
    arb alone: within 2**-60 ulp of the truth, then rounded once to float64 — so the same on every machine,
    whatever its libm (the vectorized path of :func:`ulp_error` uses NumPy's exp and log1p, whose last
    bits differ between CPUs). For the few errors a verdict reports one by one: ~20 µs each."""
    e = rounded_and_error(float(x), float(y), beta, fn, fmt, extra_bits=_REPORTED_BITS)[1]
    return e if signed else abs(e)


def ulp_exponent_f64(v: np.ndarray, fmt: Format) -> np.ndarray:
    """k with ulp(v) = 2**k in ``fmt`` for float64 values v (0 counts as the lowest binade; ±inf and NaN
    give an unspecified k). int64."""
    # the binade straight from the exponent field: float64 zeros and subnormals (field 0) sit below
    # every format's emin, so the floor at emin takes care of them
    field = (np.ascontiguousarray(v, dtype=np.float64).view(np.uint64) >> np.uint64(52)).astype(np.int64)
    field &= 0x7FF
    np.maximum(field, fmt.emin + 1023, out=field)
    field += -1023 - fmt.p + 1
    return field


def pow2(k: np.ndarray) -> np.ndarray:
    """2.0**k for integer arrays k ≥ −1074 (float64, exact; inf above 1023)."""
    k = np.asarray(k, dtype=np.int64)
    if k.size and k.min() >= -1022 and k.max() <= 1023:
        field = k + 1023  # the biased exponent field of a normal power of two
        field <<= 52
        return field.view(np.float64)
    return np.ldexp(1.0, k)


def ulp_f64(v: np.ndarray, fmt: Format) -> np.ndarray:
    """ulp(v) in ``fmt`` for float64 values v, as float64 (= 2**ulp_exponent_f64(v, fmt))."""
    k = ulp_exponent_f64(v, fmt)
    if fmt.emin - fmt.p + 1 < -1022:  # float64's own subnormal quantum: not a normal float64
        return np.ldexp(1.0, k)
    k += 1023  # the biased exponent field of 2**k, ≥ 1 here (±inf and NaN give some finite value)
    k <<= 52
    return k.view(np.float64)


def _ulp_exponent_upper(hi: np.ndarray, lo: np.ndarray, fmt: Format) -> np.ndarray:
    """The ulp exponent of values just below ``hi`` where ``lo < hi``: f is never a power of two (see
    :mod:`oracle.exact`), so an upper end that is one belongs to the binade below (sigmoid's 1)."""
    k = ulp_exponent_f64(hi, fmt)
    power = (np.ascontiguousarray(hi).view(np.uint64) & np.uint64((1 << 52) - 1)) == 0  # or zero: harmless
    k -= power & (lo < hi) & (np.abs(hi) >= 2.0 ** (fmt.emin + 1))  # at/below emin the floor holds anyway
    return k


def _finite_errors(y: np.ndarray, x: np.ndarray, fn: str, beta: float, fmt: Format,
                   want_bits: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Signed (y - f(x)) / ulp(f(x)) for finite x (1-D float64 arrays; y finite, or anything where only
    the bits are wanted), and with ``want_bits`` the correctly rounded bit patterns of f(x) too.

    One enclosure serves both: the float64 one of :mod:`oracle.fast` for formats narrower than float64
    where it is tight enough, the double-word one of :mod:`oracle.fast64` for float64, else
    :func:`oracle.exact.rounded_and_error` per element.
    """
    err = np.empty(y.shape, dtype=np.float64)
    bits = np.empty(y.shape, dtype=fmt.uint) if want_bits else None
    if fmt.p < 53:
        lo, hi, ok = enclose_f64(x, beta, fn)
        todo = ~ok
        if want_bits:
            bits[:], decided = round_enclosure(lo, hi, ok, fmt)
            todo |= ~decided
        k = ulp_exponent_f64(lo, fmt)
        k_hi = _ulp_exponent_upper(hi, lo, fmt)
        split = k != k_hi  # the enclosure spans two binades
        if fn == "softplus_grad":  # ... and across 1/2 the sign of x tells which (see the module doc)
            half = split & (lo < 0.5) & (hi >= 0.5) & (x != 0)
            k = np.where(half & (x > 0), k_hi, k)
            split &= ~half
        with np.errstate(invalid="ignore", over="ignore"):
            todo |= split | ((hi - lo) > pow2(k - _EXTRA_BITS))
            mid = lo + (hi - lo) / 2
            # y - mid in float64 errs by ≤ 2**-53 relative: far below the 2**-20 ulp promised.
            err[:] = (y - mid) * pow2(-k)
    elif x.size >= fast64.MIN_BATCH:
        vh, vl, ok = fast64.enclose(x, beta, fn)
        err[:], known = fast64.ulp_errors(y, x, vh, vl, ok, fn)
        todo = ~known
        if want_bits:
            b, decided = fast64.rounding(vh, vl, ok)
            bits[:] = b
            todo |= ~decided
    else:
        todo = np.ones(y.shape, dtype=bool)
    for i in np.flatnonzero(todo):
        b, err[i] = rounded_and_error(float(x[i]), float(y[i]), beta, fn, fmt, extra_bits=_EXTRA_BITS + 8)
        if want_bits:
            bits[i] = b
    return err, bits


def ulp_error(y: np.ndarray, x: np.ndarray, fn: str = "softplus", beta: float = 1.0,
              signed: bool = False, rounded: np.ndarray | None = None) -> np.ndarray:
    """Per-element error of results ``y`` for inputs ``x``, in ulps of y's format, as a float64 array.

    ``x`` and ``y`` must have the same shape; both in a supported format (usually the same one). See the
    module docstring for the definition and the non-finite cases. ``signed=True`` gives (y − f(x))/ulp
    instead of its magnitude for finite results (non-finite cases as above). ``rounded``: the correctly
    rounded results in y's format when the caller already has them (not recomputed).
    """
    return _evaluate(y, x, fn, beta, signed, rounded)[1]


def errors_and_rounding(y: np.ndarray, x: np.ndarray, fn: str = "softplus", beta: float = 1.0,
                        signed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(correctly rounded f(x) in y's format, :func:`ulp_error` of y), computed together: one enclosure
    per element serves both (twice as fast as the two calls for float64)."""
    return _evaluate(y, x, fn, beta, signed, None)


def _evaluate(y, x, fn: str, beta: float, signed: bool, rounded) -> tuple[np.ndarray, np.ndarray]:
    check_fn(fn)
    beta = check_beta(beta)
    y = np.asarray(y)
    x = np.asarray(x)
    fmt = format_of(y)
    format_of(x)
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch: y has shape {y.shape}, x has shape {x.shape}")
    yf = to_float64(y).ravel()
    xf = to_float64(x).ravel()
    x_fin = np.isfinite(xf)
    y_fin = np.isfinite(yf)
    if rounded is not None:  # the caller already has the correctly rounded results: do not redo them
        ref_bits = fmt.to_bits(np.asarray(rounded)).ravel()
    elif x.dtype == fmt.dtype and fmt.bits <= 16 and beta == 1.0:
        ref_bits = fmt.to_bits(correctly_rounded(x, fn, beta)).ravel()  # a table lookup
    else:
        ref_bits = None
    if x_fin.all() and y_fin.all():  # the common case, without the masking below
        err, bits = _finite_errors(yf, xf, fn, beta, fmt, want_bits=ref_bits is None)
        if not signed:
            np.abs(err, out=err)
        ref_bits = bits if ref_bits is None else ref_bits
        return fmt.from_bits(ref_bits).reshape(y.shape), err.reshape(y.shape)
    fin_err, fin_bits = _finite_errors(np.where(y_fin, yf, 0.0)[x_fin], xf[x_fin], fn, beta, fmt,
                                       want_bits=ref_bits is None)
    if ref_bits is None:
        ref_bits = np.empty(xf.shape, dtype=fmt.uint)
        ref_bits[x_fin] = fin_bits
        ref_bits[~x_fin] = compute_bits(xf[~x_fin], beta, fn, fmt)  # NaN and ±inf: their limits
    y_bits = fmt.to_bits(y).ravel()
    ref_nan = np.isnan(fmt.from_bits(ref_bits).astype(np.float64))

    err = np.full(yf.shape, np.nan)
    y_nan = np.isnan(yf)
    err[y_nan & ref_nan] = 0.0
    y_inf = np.isinf(yf)
    err[y_inf] = np.where(y_bits[y_inf] == ref_bits[y_inf], 0.0, np.inf)
    # finite y where f(x) is +inf (x = +inf) or NaN (x NaN): unboundedly wrong
    err[y_fin & (np.isnan(xf) | ((xf == np.inf) & (fn == "softplus")))] = np.inf
    # finite y for x = -inf (f = 0) or, for sigmoid, x = +inf (f = 1): exact references
    lim = y_fin & np.isinf(xf) & ~((xf == np.inf) & (fn == "softplus"))
    f_lim = np.where(xf[lim] > 0, 1.0, 0.0)
    err[lim] = np.ldexp(yf[lim] - f_lim, -ulp_exponent_f64(f_lim, fmt))
    both = y_fin & x_fin
    err[both] = fin_err[y_fin[x_fin]]
    if not signed:
        np.abs(err, out=err, where=y_fin)
    return fmt.from_bits(ref_bits).reshape(y.shape), err.reshape(y.shape)
