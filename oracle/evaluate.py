"""Correctly rounded softplus and sigmoid for whole arrays: input checks, then the cheapest sure method.

Per element, in order: NaN and ±inf by their limits; the float64 fast path (:mod:`oracle.fast`) for
formats narrower than float64, or the double-word one (:mod:`oracle.fast64`) for float64, where its
enclosure decides the rounding; everything else by Ziv's loop on rigorous enclosures (:mod:`oracle.exact`).
Exhaustive float16/bfloat16 tables at β = 1 come from the on-disk cache (:mod:`oracle.cache`).
"""

from __future__ import annotations

import math

import numpy as np

from oracle import cache, fast64
from oracle.exact import FUNCTIONS, correctly_rounded_bits
from oracle.fast import round_fast
from oracle.formats import Format, format_of, get_format

__all__ = ["correctly_rounded", "compute_bits", "exhaustive_table", "check_beta", "check_fn", "check_params",
           "to_float64"]

_CHUNK = 1 << 20  # elements per vectorized pass: bounds the float64 temporaries to a few tens of MB


def to_float64(x: np.ndarray) -> np.ndarray:
    """x widened to float64: exact for every supported format (NaN stays NaN, quietly)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(x).astype(np.float64)


def check_beta(beta) -> float:
    """β as a float64; ValueError unless it is a finite number > 0."""
    try:
        b = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"beta must be a real number > 0, got {beta!r}") from None
    if not (math.isfinite(b) and b > 0):
        raise ValueError(f"beta must be finite and > 0, got {beta!r}")
    return b


def check_params(fmt, fn: str, beta, threshold) -> tuple[Format, float]:
    """(Format, β as float64) for a combination; ValueError for an unknown format or function, a β that
    is not finite and > 0, or a NaN threshold."""
    check_fn(fn)
    beta = check_beta(beta)
    if threshold is not None and math.isnan(threshold):
        raise ValueError("threshold must not be NaN")
    return get_format(fmt), beta


def check_fn(fn: str) -> str:
    if fn not in FUNCTIONS:
        raise ValueError(f"unknown function {fn!r}; expected 'softplus' or 'softplus_grad'")
    return fn


def compute_bits(xf: np.ndarray, beta: float, fn: str, fmt: Format, backend: str = "arb") -> np.ndarray:
    """Bit patterns (``fmt.uint``) of f(x) correctly rounded into ``fmt``; ``xf`` is float64, 1-D.

    No cache: this is what the cache is built from. ``backend="mpmath"`` decides every finite element
    with mpmath.iv instead of the fast paths and arb (the slow cross-check).
    """
    xf = np.ascontiguousarray(xf, dtype=np.float64).ravel()
    out = np.empty(xf.shape, dtype=fmt.uint)
    for start in range(0, xf.size, _CHUNK):
        xs = xf[start:start + _CHUNK]
        if fmt.p < 53 and backend == "arb":
            bits, done = round_fast(xs, beta, fn, fmt)
        elif fmt.p == 53 and backend == "arb" and xs.size >= fast64.MIN_BATCH:
            bits, done = fast64.rounding(*fast64.enclose(xs, beta, fn))
        else:
            bits, done = np.zeros(xs.shape, fmt.uint), np.zeros(xs.shape, bool)
        special = ~np.isfinite(xs)
        if special.any():
            for value in (np.nan, np.inf, -np.inf):  # the limits, one representative each
                sel = special & (np.isnan(xs) if value != value else xs == value)
                bits[sel] = correctly_rounded_bits(value, beta, fn, fmt, backend)
            done |= special
        for i in np.flatnonzero(~done):
            bits[i] = correctly_rounded_bits(float(xs[i]), beta, fn, fmt, backend)
        out[start:start + _CHUNK] = bits
    return out


def correctly_rounded(x: np.ndarray, fn: str = "softplus", beta: float = 1.0) -> np.ndarray:
    """f(x) correctly rounded to x's format, same shape and dtype as x (see :func:`oracle.softplus`)."""
    check_fn(fn)
    beta = check_beta(beta)
    x = np.asarray(x)
    fmt = format_of(x)
    if fmt.bits <= 16 and beta == 1.0:
        bits = exhaustive_table(fmt, fn)[fmt.to_bits(x).astype(np.int64)]  # a lookup by bit pattern
    else:
        bits = compute_bits(to_float64(x).ravel(), beta, fn, fmt).reshape(x.shape)
    return fmt.from_bits(bits).reshape(x.shape)


def exhaustive_table(fmt: Format, fn: str) -> np.ndarray:
    """Correctly rounded f(x) bit patterns (``fmt.uint``) for every bit pattern x of an 8- or 16-bit format
    at β = 1, indexed by x's bit pattern: the cached table (:mod:`oracle.cache`), built here when missing."""
    check_fn(fn)
    return cache.table(fmt, fn, lambda: compute_bits(to_float64(fmt.all_values()), 1.0, fn, fmt))
