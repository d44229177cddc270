"""Where to look: the inputs a target is judged on, for one format, function and β.

An :class:`InputSet` is the union of a *base* set and named *boundary* sets:

* base: :func:`every_value` (formats of ≤ 16 bits: every finite value, both zeros, ±inf and one NaN) or
  :func:`bit_uniform` (wider formats: a seeded sample uniform over finite bit patterns, so every binade is
  about equally likely, as Herbie and libm testers sample);
* boundaries (:func:`boundary_points`): the neighbours of every place where implementations switch formula
  or the correctly rounded result changes regime (overflow, underflow, subnormal onset, rounding to 1, the
  identity branch), the special values, and the inputs whose true result lies nearest a rounding midpoint
  (the hardest to round).

Values are NumPy arrays of the format's dtype, in x units (the input of softplus_β, not βx). Boundaries
that the oracle decides are found by bisection over the format's finite values in their numeric order,
calling the oracle (:func:`oracle.softplus`, :func:`oracle.softplus_grad`) on single values: O(bits)
calls, cheap even for float64.

The *ordered key* of a finite value is its magnitude's bit pattern, negated for negative values, so
consecutive keys are consecutive format values and −0 and +0 share key 0 (key 0 maps back to +0; −0 is
listed among the special values). Finite keys fill [−max_bits, max_bits] without gaps in every format,
e4m3fn included (its NaN patterns lie above max_bits).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import mpmath
import numpy as np

from engine.defaults import SAMPLES, SEED
from oracle import fast64, softplus, softplus_grad
from oracle.evaluate import check_beta, check_fn, to_float64
from oracle.fast import enclose_f64
from oracle.formats import Format, get_format
from oracle.ulp import ulp_exponent_f64

__all__ = [
    "InputSet",
    "DEFAULT_SAMPLES",
    "NEAR_MIDPOINT_COUNT",
    "every_value",
    "bit_uniform",
    "switch_neighbours",
    "boundary_points",
    "input_set",
    "ordered_keys",
    "from_ordered_keys",
    "partition_point",
]

#: Sample sizes of sampled (non-exhaustive) input sets when ``n`` is not given (:data:`engine.defaults.SAMPLES`):
#: small enough that the default test run stays fast (float64's double-word oracle judges 200,000 in ~0.1 s).
DEFAULT_SAMPLES = SAMPLES

#: How many near-midpoint inputs a boundary set holds, and the pools they are chosen from.
NEAR_MIDPOINT_COUNT = 64
_POOL = 1 << 18  # the float64 and double-word enclosures are cheap and vectorized (~0.1 s for float64)
# Distinct stream for the midpoint pool, so it does not repeat the base sample drawn with the same seed.
_POOL_STREAM = 0x6D6964


@dataclass(frozen=True, eq=False)  # eq=False: dataclass equality on arrays would be ambiguous
class InputSet:
    """The inputs to judge one target on, for one format, function and β.

    ``x``: 1-D array of ``fmt.dtype``, no two elements with the same bit pattern, sorted by value
    (−inf, …, −0, +0, …, +inf, NaN last). ``mode``: "exhaustive" (x holds every value of the format) or
    "sampled"; ``seed``: the sampling seed, None when exhaustive. ``boundaries``: name → the boundary
    inputs of that kind (see :func:`boundary_points`), each a subset of ``x`` by bit pattern.
    """

    x: np.ndarray
    fmt: Format
    mode: str
    seed: int | None
    boundaries: dict[str, np.ndarray] = field(default_factory=dict)


# --- ordered keys ------------------------------------------------------------------------------------

def ordered_keys(fmt: Format, x: np.ndarray) -> np.ndarray:
    """Ordered int64 keys of finite values x (see the module doc): −0 and +0 both give 0."""
    bits = fmt.to_bits(np.asarray(x, dtype=fmt.dtype)).astype(np.uint64)
    sign = np.uint64(fmt.sign_mask)
    mag = (bits & ~sign).astype(np.int64)  # < 2**63 in every format
    return np.where((bits & sign) != 0, -mag, mag)


def from_ordered_keys(fmt: Format, keys) -> np.ndarray:
    """Values of the format for ordered keys in [−max_bits, max_bits] (key 0 gives +0)."""
    keys = np.asarray(keys, dtype=np.int64)
    mag = np.abs(keys).astype(np.uint64)
    bits = np.where(keys < 0, mag | np.uint64(fmt.sign_mask), mag)
    return fmt.from_bits(bits.astype(fmt.uint))


def _key_window(fmt: Format, lo: int, hi: int) -> np.ndarray:
    """Values with keys lo..hi inclusive, clipped to the finite range, ascending (may be empty)."""
    lo, hi = max(lo, -fmt.max_bits), min(hi, fmt.max_bits)
    if lo > hi:
        return np.empty(0, dtype=fmt.dtype)
    return from_ordered_keys(fmt, np.arange(lo, hi + 1, dtype=np.int64))


_NAN_KEY = np.iinfo(np.int64).max


def _sort_key(fmt: Format, bits: np.ndarray) -> np.ndarray:
    """Total order on bit patterns, as int64: −inf < … < −0 < +0 < … < +inf < NaN (every NaN alike)."""
    bits = np.asarray(bits).astype(np.uint64)
    sign = np.uint64(fmt.sign_mask)
    mag = (bits & ~sign).astype(np.int64)
    nan = mag > fmt.max_bits
    if fmt.has_inf:
        nan &= mag != fmt.inf_bits
    key = np.where((bits & sign) != 0, -mag - 1, mag)
    return np.where(nan, _NAN_KEY, key)


def _from_sort_key(fmt: Format, key: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_sort_key`, NaN giving the canonical quiet NaN."""
    neg = key < 0
    mag = np.where(neg, -key - 1, key).astype(np.uint64)
    bits = np.where(neg, mag | np.uint64(fmt.sign_mask), mag)
    bits = np.where(key == _NAN_KEY, np.uint64(fmt.nan_bits), bits)
    return fmt.from_bits(bits.astype(fmt.uint))


def _sorted_unique(fmt: Format, x: np.ndarray) -> np.ndarray:
    """x deduplicated by bit pattern (NaN payloads collapse to the canonical NaN), sorted by value with
    −0 before +0 and NaN last."""
    bits = fmt.to_bits(np.asarray(x, dtype=fmt.dtype))
    return _from_sort_key(fmt, np.unique(_sort_key(fmt, bits)))


def partition_point(pred: Callable[[int], bool], lo: int, hi: int) -> int:
    """Smallest key in [lo, hi] where a monotone predicate (false … false true … true) is true; hi + 1 if
    it is true nowhere. Calls pred O(log2(hi − lo)) times (at most ~66 for float64)."""
    if pred(lo):
        return lo
    if not pred(hi):
        return hi + 1
    while hi - lo > 1:  # invariant: pred(lo) false, pred(hi) true
        mid = lo + (hi - lo) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _transition(pred: Callable[[int], bool], lo: int, hi: int) -> int | None:
    """The key in (lo, hi] where a monotone predicate turns true; None if it is constant on [lo, hi]."""
    key = partition_point(pred, lo, hi)
    return key if lo < key <= hi else None


# --- base sets ---------------------------------------------------------------------------------------

def every_value(fmt) -> np.ndarray:
    """Every finite value of an 8- or 16-bit format, both signed zeros, ±inf where the format has them,
    and exactly one NaN (the canonical quiet NaN, not every payload), sorted as :class:`InputSet` x is.

    ``fmt``: a Format, name or dtype. ValueError for formats wider than 16 bits (2**32 values and up).
    """
    fmt = get_format(fmt)
    if fmt.bits > 16:
        raise ValueError(f"{fmt.name} is too wide to enumerate ({fmt.bits} bits); use bit_uniform")
    finite = _key_window(fmt, -fmt.max_bits, fmt.max_bits)  # +0 only: key 0
    extra = [fmt.sign_mask]  # −0
    if fmt.has_inf:
        extra += [fmt.inf_bits, fmt.sign_mask | fmt.inf_bits]
    extra.append(fmt.nan_bits)
    return _sorted_unique(fmt, np.concatenate([finite, fmt.from_bits(np.array(extra, dtype=fmt.uint))]))


def _bit_uniform_rng(fmt: Format, n: int, rng: np.random.Generator) -> np.ndarray:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    m = fmt.max_bits + 1  # finite magnitudes 0..max_bits, per sign
    # One draw over the 2·m finite patterns: [0, m) positive, [m, 2m) negative (2m < 2**64 for float64).
    u = rng.integers(0, 2 * m, size=n, dtype=np.uint64)
    neg = u >= np.uint64(m)
    mag = np.where(neg, u - np.uint64(m), u)
    bits = np.where(neg, mag | np.uint64(fmt.sign_mask), mag)
    return fmt.from_bits(bits.astype(fmt.uint))


def bit_uniform(fmt, n: int, seed: int) -> np.ndarray:
    """n finite values drawn independently (with replacement) and uniformly over the finite bit patterns
    of ``fmt``, both signs and both zeros included: each binade is about equally likely, whatever its
    magnitude. No NaN or inf. Reproducible: ``numpy.random.default_rng(seed)`` is the only source.
    """
    return _bit_uniform_rng(get_format(fmt), n, np.random.default_rng(seed))


# --- boundaries --------------------------------------------------------------------------------------

def switch_neighbours(fmt, s: float, k: int = 2) -> np.ndarray:
    """The k finite format values just below s, s itself if the format represents it exactly, and the k
    just above, ascending (2k or 2k + 1 values; fewer where the finite range ends, none past it on that
    side). ``s`` is in x units, any float (±inf allowed: then only one side exists); ValueError for NaN
    or k < 0. ±0 count as the one value 0 (returned as +0).
    """
    fmt = get_format(fmt)
    s = float(s)
    if math.isnan(s):
        raise ValueError("switch point must not be NaN")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")

    def value(key: int) -> float:  # float64 comparisons are exact: every format's values are float64 values
        return float(to_float64(from_ordered_keys(fmt, key)))

    if s < value(-fmt.max_bits):
        above = -fmt.max_bits
    elif s >= value(fmt.max_bits):
        above = fmt.max_bits + 1
    else:  # value(−max) ≤ s < value(max): the first key above s exists and is not the lowest
        above = partition_point(lambda key: value(key) > s, -fmt.max_bits, fmt.max_bits)
    at = above - 1
    if at >= -fmt.max_bits and float(to_float64(from_ordered_keys(fmt, at))) == s:
        return _key_window(fmt, at - k, at + k)
    return _key_window(fmt, above - k, above + k - 1)


def _special(fmt: Format) -> np.ndarray:
    """±0, ±inf (if any), NaN, ± smallest subnormal, ± smallest normal, ± largest finite."""
    mags = [0, 1, 1 << (fmt.p - 1), fmt.max_bits] + ([fmt.inf_bits] if fmt.has_inf else [])
    bits = [m | s for m in mags for s in (0, fmt.sign_mask)] + [fmt.nan_bits]
    return _sorted_unique(fmt, fmt.from_bits(np.array(bits, dtype=fmt.uint)))


def _exp_overflow(fmt: Format, beta: float, k: int) -> np.ndarray:
    """Neighbours of ±log(max_finite)/β, where exp(±βx) overflows the format (naive formulas break);
    a point outside the finite range contributes nothing."""
    max_finite = float(to_float64(from_ordered_keys(fmt, fmt.max_bits)))
    with mpmath.workprec(128):  # one rounding to float64, not numpy's two (log, then /β)
        s = float(mpmath.log(mpmath.mpf(max_finite)) / mpmath.mpf(beta))
    parts = [switch_neighbours(fmt, t, k) for t in (-s, s) if abs(t) <= max_finite]
    return _sorted_unique(fmt, np.concatenate(parts)) if parts else np.empty(0, fmt.dtype)


def _midpoint_distance_f64(fmt: Format, x: np.ndarray, fn: str, beta: float) -> np.ndarray:
    """|f(x)/ulp − (m + ½)| for the nearest midpoint, from the float64 enclosure's centre (formats up to
    float32: the enclosure is within ~2**-42 relative, ≤ 2**-18 ulp of float32). inf where the enclosure
    is not claimed or the result lies beyond the format's top binade."""
    lo, hi, ok = enclose_f64(to_float64(x), beta, fn)
    with np.errstate(invalid="ignore", over="ignore"):
        v = (lo + hi) / 2
        ok &= np.isfinite(v) & (v > 0) & (v < 2.0 ** (fmt.emax + 1))
        v = np.where(ok, v, 1.0)
        r = np.ldexp(v, -ulp_exponent_f64(v, fmt))  # exact: a power-of-two scaling
        d = np.abs(r - np.floor(r) - 0.5)
    return np.where(ok, d, np.inf)


def _midpoint_distance_dw(fmt: Format, x: np.ndarray, fn: str, beta: float) -> np.ndarray:
    """As :func:`_midpoint_distance_f64`, for float64 from the double-word enclosure of
    :mod:`oracle.fast64` (within 2**-24 ulp; inf where it claims nothing)."""
    xf = to_float64(x)
    vh, vl, ok = fast64.enclose(xf, beta, fn)
    return fast64.midpoint_distance(xf, vh, vl, ok, fn)


def _near_midpoint(fmt: Format, fn: str, beta: float, seed: int, pool_keys: Sequence[tuple[int, int]],
                   count: int = NEAR_MIDPOINT_COUNT) -> np.ndarray:
    """The ``count`` inputs whose true result lies closest to a rounding midpoint, in ulps of the format.

    Pool: every finite value (≤ 16 bits); else a seeded sample (2**18 values) uniform
    over the bit patterns of the key intervals ``pool_keys`` (the inputs whose result varies, see
    :func:`boundary_points`), deduplicated.
    """
    if fmt.bits <= 16:
        pool = _key_window(fmt, -fmt.max_bits, fmt.max_bits)
    else:
        rng = np.random.default_rng([seed, _POOL_STREAM])
        pool = _sorted_unique(fmt, _uniform_over_keys(fmt, pool_keys, _POOL, rng))
    dist = (_midpoint_distance_dw if fmt.p >= 53 else _midpoint_distance_f64)(fmt, pool, fn, beta)
    best = np.argsort(dist, kind="stable")[:count]
    best = best[np.isfinite(dist[best])]
    return _sorted_unique(fmt, pool[best])


def _uniform_over_keys(fmt: Format, intervals: Sequence[tuple[int, int]], n: int,
                       rng: np.random.Generator) -> np.ndarray:
    """n values uniform over the union of disjoint inclusive key intervals (empty ones ignored)."""
    intervals = [(a, b) for a, b in intervals if a <= b]
    sizes = np.array([b - a + 1 for a, b in intervals], dtype=np.int64)
    u = rng.integers(0, int(sizes.sum()), size=n, dtype=np.int64)
    ends = np.cumsum(sizes)
    which = np.searchsorted(ends, u, side="right")
    starts = np.array([a for a, _ in intervals], dtype=np.int64)
    return from_ordered_keys(fmt, starts[which] + (u - (ends[which] - sizes[which])))


def boundary_points(fmt, fn: str = "softplus", beta: float = 1.0, switch_points: Sequence[float] = (),
                    k: int = 2, seed: int = SEED) -> dict[str, np.ndarray]:
    """Named boundary inputs for f = ``fn`` with parameter β in ``fmt``; each a 1-D ascending array of the
    format's dtype, empty where the boundary does not exist in the format. "Neighbours of x0" means the k
    values below x0, x0, and the k above (fewer at the ends of the finite range).

    * ``switch:<repr(float(s))>`` per given switch point s (x units, e.g. torch's threshold/β):
      :func:`switch_neighbours`.
    * ``special``: ±0, ±inf (if the format has them), NaN, ± smallest subnormal, ± smallest normal,
      ± largest finite.
    * ``exp_overflow``: neighbours of ±log(max_finite)/β, where exp(±βx) overflows the format; a point
      beyond the finite range gives nothing.
    * ``true_overflow``: neighbours of the smallest x whose correctly rounded f(x) overflows (+inf; NaN
      in float8_e4m3fn).
    * ``subnormal_onset``: neighbours of the smallest x whose correctly rounded f(x) ≥ 2**emin.
    * ``underflow_to_zero``: neighbours of the largest x whose correctly rounded f(x) is +0.
    * ``rounds_to_one`` (softplus_grad only): neighbours of the smallest x whose sigmoid rounds to 1.
    * ``linear_branch`` (softplus only): neighbours of the smallest x ≥ 0 from which the correctly rounded
      softplus_β(x) == x for every larger x (monotone: log1p(e**-βx)/β decreases while ulp(x)/2 does not).
    * ``near_midpoint``: the 64 inputs whose true result lies closest to a rounding midpoint, in ulps.
      Formats of ≤ 16 bits: chosen from every finite value. Wider: from a seeded pool (2**18, measured
      with the float64 or, for float64, the double-word enclosure) uniform over the bit patterns of the inputs
      whose rounded result is not pinned by a trivial regime (0, f(0), x or 1, overflow), since most
      bit-uniform inputs fall there (|x| < 2**-25 or > 2**7 in float32) and all lie ~½ ulp from a midpoint.

    The oracle-decided boundaries (true_overflow … linear_branch) are found by bisection, f being
    monotone non-decreasing; each is empty unless its condition is false at the low end of the finite
    range (0 for linear_branch) and true at the high end, i.e. unless the regime changes inside the format.
    ``seed`` only picks the near-midpoint pool of formats wider than 16 bits.
    """
    fmt = get_format(fmt)
    fn = check_fn(fn)
    beta = check_beta(beta)
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    f = softplus if fn == "softplus" else softplus_grad

    @lru_cache(maxsize=None)
    def result_bits(key: int) -> int:
        return int(fmt.to_bits(f(from_ordered_keys(fmt, [key]), beta))[0])

    def at_least(threshold_bits: int) -> Callable[[int], bool]:
        # f > 0 for finite x, so results are +0 or positive: their bit patterns order as their values,
        # and the overflow pattern (inf_bits, e4m3fn's NaN too) lies above max_bits.
        return lambda key: result_bits(key) >= threshold_bits

    def identity(key: int) -> bool:
        return result_bits(key) == int(fmt.to_bits(from_ordered_keys(fmt, [key]))[0])

    def neighbours(onset: int | None) -> np.ndarray:
        return np.empty(0, fmt.dtype) if onset is None else _key_window(fmt, onset - k, onset + k)

    lo, hi = -fmt.max_bits, fmt.max_bits
    overflow = _transition(at_least(fmt.inf_bits), lo, hi)
    positive = _transition(at_least(1), lo, hi)  # first x with a result above +0
    if fn == "softplus_grad":
        top_name, top = "rounds_to_one", _transition(at_least(fmt.bias << (fmt.p - 1)), lo, hi)
    else:
        top_name, top = "linear_branch", _transition(identity, 0, hi)

    out: dict[str, np.ndarray] = {}
    for s in switch_points:
        out[f"switch:{float(s)!r}"] = switch_neighbours(fmt, s, k)
    out["special"] = _special(fmt)
    out["exp_overflow"] = _exp_overflow(fmt, beta, k)
    out["true_overflow"] = neighbours(overflow)
    out["subnormal_onset"] = neighbours(_transition(at_least(1 << (fmt.p - 1)), lo, hi))
    out["underflow_to_zero"] = neighbours(None if positive is None else positive - 1)
    out[top_name] = neighbours(top)

    # Inputs whose rounded result varies: above the zeros, below the x/1/overflow regime, and outside
    # the interval around 0 where the result rounds to f(0).
    f0 = result_bits(0)
    first = lo if positive is None else positive
    last = min(t for t in (top, overflow, hi + 1) if t is not None) - 1
    pool = [(first, min(last, partition_point(at_least(f0), lo, hi) - 1)),
            (max(first, partition_point(at_least(f0 + 1), lo, hi)), last)]
    if all(a > b for a, b in pool):  # nothing varies (extreme β): fall back to every finite value
        pool = [(lo, hi)]
    out["near_midpoint"] = _near_midpoint(fmt, fn, beta, seed, pool)
    return out


def input_set(fmt, fn: str = "softplus", beta: float = 1.0, switch_points: Sequence[float] = (),
              n: int | None = None, seed: int = SEED, exhaustive: bool | None = None) -> InputSet:
    """The inputs to judge ``fn`` with parameter β on in ``fmt``: the base set plus every boundary point,
    deduplicated by bit pattern (see :class:`InputSet`).

    ``exhaustive``: default True for formats of ≤ 16 bits (base = :func:`every_value`), False otherwise
    (base = :func:`bit_uniform` of ``n`` values, default ``DEFAULT_SAMPLES[fmt.name]``, 20 000 for a
    format not listed there). ``n`` is ignored for an exhaustive set (so one ``n`` can be passed for every
    format); ``exhaustive=True`` for a format wider than 16 bits is a ValueError. ``seed`` seeds the
    sample and the near-midpoint pool; ``switch_points`` are as in :func:`boundary_points` (k = 2
    neighbours each side).
    """
    fmt = get_format(fmt)
    if exhaustive is None:
        exhaustive = fmt.bits <= 16
    if exhaustive:
        base = every_value(fmt)
    else:
        n = DEFAULT_SAMPLES.get(fmt.name, DEFAULT_SAMPLES["float32"]) if n is None else n
        base = bit_uniform(fmt, n, seed)
    boundaries = boundary_points(fmt, fn, beta, switch_points, seed=seed)
    x = _sorted_unique(fmt, np.concatenate([base, *boundaries.values()]))
    return InputSet(x=x, fmt=fmt, mode="exhaustive" if exhaustive else "sampled",
                    seed=None if exhaustive else seed, boundaries=boundaries)
