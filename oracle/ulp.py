"""The error of a result in ulps of its format.

For a result y of input x, ``err = |y − f(x)| / ulp(f(x))`` with Goldberg's ulp of the *exact* value,
ulp(v) = 2**(max(⌊log2|v|⌋, emin) − p + 1): the subnormal quantum below the normal range, and unbounded
above it (an exact value beyond the largest finite number has the ulp of its own binade).

Non-finite cases: a y of ±inf is 0 ulp where f(x) correctly rounds to that same inf, else inf. A NaN y is
0 where the correctly rounded result is NaN too (NaN input; overflow in a format without inf), else NaN —
a failure of its own kind that callers must count, never average. A finite y where f(x) is +inf (x = +inf)
or NaN (x NaN) is inf.

Accuracy: the reported error is within 2**-20 ulp of the true one (the reference is enclosed that tightly
and its binade is decided exactly, falling back to arb where the float64 enclosure cannot tell).
"""

from __future__ import annotations

import numpy as np

from .evaluate import check_beta, check_fn, compute_bits, correctly_rounded, to_float64
from .exact import rounded_and_error
from .fast import enclose_f64, round_enclosure
from .formats import Format, format_of

__all__ = ["ulp_error", "errors_and_rounding", "ulp_exponent_f64"]

_EXTRA_BITS = 20  # the reference is known to 2**-20 ulp


def ulp_exponent_f64(v: np.ndarray, fmt: Format) -> np.ndarray:
    """k with ulp(v) = 2**k in ``fmt`` for float64 values v (0 counts as the lowest binade)."""
    _, e = np.frexp(np.abs(v))  # |v| = m·2**e with m in [0.5, 1): binade e - 1
    return np.where(v == 0, fmt.emin, np.maximum(e - 1, fmt.emin)) - fmt.p + 1


def _ulp_exponent_upper(hi: np.ndarray, lo: np.ndarray, fmt: Format) -> np.ndarray:
    """The ulp exponent of values just below ``hi`` where ``lo < hi``: f is never a power of two (see
    :mod:`oracle.exact`), so an upper end that is one belongs to the binade below (sigmoid's 1)."""
    m, e = np.frexp(np.abs(hi))
    e = np.where((m == 0.5) & (lo < hi), e - 1, e)
    return np.where(hi == 0, fmt.emin, np.maximum(e - 1, fmt.emin)) - fmt.p + 1


def _finite_errors(y: np.ndarray, x: np.ndarray, fn: str, beta: float, fmt: Format,
                   want_bits: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Signed (y - f(x)) / ulp(f(x)) for finite x (1-D float64 arrays; y finite, or anything where only
    the bits are wanted), and with ``want_bits`` the correctly rounded bit patterns of f(x) too.

    One enclosure serves both: the float64 one of :mod:`oracle.fast` for formats narrower than float64
    where it is tight enough, else :func:`oracle.exact.rounded_and_error` per element.
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
        with np.errstate(invalid="ignore", over="ignore"):
            todo |= (k != _ulp_exponent_upper(hi, lo, fmt)) | ((hi - lo) > np.ldexp(1.0, k - _EXTRA_BITS))
            mid = lo + (hi - lo) / 2
            # y - mid in float64 errs by ≤ 2**-53 relative: far below the 2**-20 ulp promised.
            err[:] = np.ldexp(y - mid, -k)
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
    if rounded is not None:  # the caller already has the correctly rounded results: do not redo them
        ref_bits = fmt.to_bits(np.asarray(rounded)).ravel()
    elif x.dtype == fmt.dtype and fmt.bits <= 16 and beta == 1.0:
        ref_bits = fmt.to_bits(correctly_rounded(x, fn, beta)).ravel()  # a table lookup
    else:
        ref_bits = None
    y_fin = np.isfinite(yf)
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
