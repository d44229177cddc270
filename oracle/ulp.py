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
import mpmath

from .evaluate import check_beta, check_fn, compute_bits, correctly_rounded, to_float64
from .exact import reference
from .fast import enclose_f64
from .formats import Format, format_of

__all__ = ["ulp_error", "ulp_exponent_f64"]

_EXTRA_BITS = 20  # the reference is known to 2**-20 ulp


def ulp_exponent_f64(v: np.ndarray, fmt: Format) -> np.ndarray:
    """k with ulp(v) = 2**k in ``fmt`` for float64 values v (0 counts as the lowest binade)."""
    _, e = np.frexp(np.abs(v))  # |v| = m·2**e with m in [0.5, 1): binade e - 1
    return np.where(v == 0, fmt.emin, np.maximum(e - 1, fmt.emin)) - fmt.p + 1


def _finite_errors(y: np.ndarray, x: np.ndarray, fn: str, beta: float, fmt: Format) -> np.ndarray:
    """Signed (y - f(x)) / ulp(f(x)) for finite y and finite x (1-D float64 arrays)."""
    err = np.empty(y.shape, dtype=np.float64)
    if fmt.p < 53:
        lo, hi, ok = enclose_f64(x, beta, fn)
        k = ulp_exponent_f64(lo, fmt)
        with np.errstate(invalid="ignore", over="ignore"):
            ok &= (k == ulp_exponent_f64(hi, fmt)) & ((hi - lo) <= np.ldexp(1.0, k - _EXTRA_BITS))
            mid = lo + (hi - lo) / 2
            # y - mid in float64 errs by ≤ 2**-53 relative: far below the 2**-20 ulp promised.
            err[ok] = np.ldexp(y[ok] - mid[ok], -k[ok])
    else:
        ok = np.zeros(y.shape, dtype=bool)
    for i in np.flatnonzero(~ok):
        v, k = reference(float(x[i]), beta, fn, fmt, extra_bits=_EXTRA_BITS + 8)
        with mpmath.workprec(fmt.p + 64):
            err[i] = float(mpmath.ldexp(mpmath.mpf(float(y[i])) - v, -k))
    return err


def ulp_error(y: np.ndarray, x: np.ndarray, fn: str = "softplus", beta: float = 1.0,
              signed: bool = False, rounded: np.ndarray | None = None) -> np.ndarray:
    """Per-element error of results ``y`` for inputs ``x``, in ulps of y's format, as a float64 array.

    ``x`` and ``y`` must have the same shape; both in a supported format (usually the same one). See the
    module docstring for the definition and the non-finite cases. ``signed=True`` gives (y − f(x))/ulp
    instead of its magnitude for finite results (non-finite cases as above). ``rounded``: the correctly
    rounded results in y's format when the caller already has them (not recomputed).
    """
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
    if rounded is not None:  # the caller already has the correctly rounded results: do not redo them
        ref_bits = fmt.to_bits(np.asarray(rounded)).ravel()
    elif x.dtype == fmt.dtype:
        ref_bits = fmt.to_bits(correctly_rounded(x, fn, beta)).ravel()
    else:  # x in another format: f(x) is still rounded into y's
        ref_bits = compute_bits(xf, beta, fn, fmt)
    y_bits = fmt.to_bits(y).ravel()
    ref_nan = np.isnan(fmt.from_bits(ref_bits).astype(np.float64))

    err = np.full(yf.shape, np.nan)
    y_nan = np.isnan(yf)
    err[y_nan & ref_nan] = 0.0
    y_inf = np.isinf(yf)
    err[y_inf] = np.where(y_bits[y_inf] == ref_bits[y_inf], 0.0, np.inf)
    y_fin = np.isfinite(yf)
    x_fin = np.isfinite(xf)
    # finite y where f(x) is +inf (x = +inf) or NaN (x NaN): unboundedly wrong
    err[y_fin & (np.isnan(xf) | ((xf == np.inf) & (fn == "softplus")))] = np.inf
    # finite y for x = -inf (f = 0) or, for sigmoid, x = +inf (f = 1): exact references
    lim = y_fin & np.isinf(xf) & ~((xf == np.inf) & (fn == "softplus"))
    f_lim = np.where(xf[lim] > 0, 1.0, 0.0)
    err[lim] = np.ldexp(yf[lim] - f_lim, -ulp_exponent_f64(f_lim, fmt))
    both = y_fin & x_fin
    err[both] = _finite_errors(yf[both], xf[both], fn, beta, fmt)
    if not signed:
        err[y_fin] = np.abs(err[y_fin])
    return err.reshape(y.shape)
