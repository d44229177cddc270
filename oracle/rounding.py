"""Rounding exact binary values to a format, once, to nearest-even, with integer arithmetic only.

Two entry points with one rule:

* :func:`round_dyadic` takes an exact value ``(-1)**sign * man * 2**exp`` (Python integers of any size)
  and returns the bit pattern of its correctly rounded value in a :class:`~oracle.formats.Format`.
* :func:`round_float64_array` does the same for a whole float64 array into a narrower format, vectorized on
  the float64 bit patterns, so a value is never rounded through an intermediate format (``ml_dtypes``
  casts float64 → bfloat16 through float32, which rounds twice).

The rule: round to nearest, ties to even, with the exponent unbounded below ``emin`` only by the subnormal
quantum ``2**(emin - p + 1)`` (gradual underflow); a result whose magnitude then exceeds the largest finite
value overflows to ±inf, or to NaN in formats without infinities (float8_e4m3fn), as ml_dtypes does.
Because ties go to even before the overflow check, a value rounds to inf iff it is ≥ max + ulp(max)/2 in
IEEE formats (max has an odd significand there), while e4m3fn's max (even significand) keeps its tie.
"""

from __future__ import annotations

import numpy as np

from oracle.formats import Format, get_format

__all__ = ["round_dyadic", "round_float64_array", "round_float64_integer", "encode", "decode",
           "hardware_float32_ok"]


def _round_significand(man: int, exp: int, fmt: Format) -> tuple[int, int]:
    """Round man * 2**exp (man > 0) to an integer m times the format's quantum 2**q at that binade."""
    e = exp + man.bit_length() - 1  # binade: 2**e <= value < 2**(e+1)
    q = fmt.ulp_exponent(e)
    shift = q - exp
    if shift <= 0:
        return man << -shift, q
    m = man >> shift
    rem = man & ((1 << shift) - 1)
    half = 1 << (shift - 1)
    if rem > half or (rem == half and m & 1):
        m += 1
    return m, q


def encode(sign: int, m: int, q: int, fmt: Format) -> int:
    """Bit pattern of (-1)**sign * m * 2**q, where m * 2**q is already a rounded value of the format's grid.

    m may equal 2**p after rounding up (carry into the next binade); magnitudes above the largest finite
    value give the overflow pattern (inf, or NaN for formats without inf).
    """
    s = fmt.sign_mask if sign else 0
    if m == 0:
        return s
    if m >= 1 << fmt.p:  # carry out of the binade: renormalise (m is then a power of two)
        m >>= 1
        q += 1
    if m >= 1 << (fmt.p - 1):  # normal
        e = q + fmt.p - 1
        if e > fmt.emax or (e == fmt.emax and m > fmt.max_significand):
            return s | fmt.inf_bits
        return s | ((e + fmt.bias) << (fmt.p - 1)) | (m - (1 << (fmt.p - 1)))
    return s | m  # subnormal: biased exponent field 0, q == emin - p + 1


def round_dyadic(sign: int, man: int, exp: int, fmt: Format) -> int:
    """Bit pattern of the correctly rounded value of (-1)**sign * man * 2**exp in ``fmt``.

    ``man`` ≥ 0 and ``exp`` are integers of any size (an mpmath or arb mantissa/exponent pair).
    Zero keeps its sign.
    """
    if man < 0:
        raise ValueError("man must be non-negative; put the sign in `sign`")
    if man == 0:
        return fmt.sign_mask if sign else 0
    man, exp = int(man), int(exp)
    e = exp + man.bit_length() - 1
    # Far outside the format the answer is known without shifting by astronomically many bits
    # (arb exponents are unbounded: exp(-1e300) is a legitimate value).
    if e > fmt.emax + 1:
        return (fmt.sign_mask if sign else 0) | fmt.inf_bits
    if e < fmt.emin - fmt.p - 1:  # below half the smallest subnormal
        return fmt.sign_mask if sign else 0
    m, q = _round_significand(man, exp, fmt)
    return encode(sign, m, q, fmt)


def decode(bits: int, fmt: Format) -> tuple[int, int, int] | None:
    """(sign, man, exp) with value (-1)**sign * man * 2**exp for finite bit patterns; None for inf/NaN."""
    sign = 1 if bits & fmt.sign_mask else 0
    mag = bits & (fmt.sign_mask - 1)
    E = mag >> (fmt.p - 1)
    frac = mag & ((1 << (fmt.p - 1)) - 1)
    if fmt.has_inf and E == (1 << fmt.exponent_bits) - 1:
        return None
    if not fmt.has_inf and mag == fmt.nan_bits:
        return None
    if E == 0:
        return sign, frac, fmt.emin - fmt.p + 1
    return sign, frac | (1 << (fmt.p - 1)), E - fmt.bias - fmt.p + 1


def round_float64_array(v: np.ndarray, fmt: Format) -> np.ndarray:
    """Bit patterns (``fmt.uint``) of the float64 values ``v`` correctly rounded into ``fmt``.

    One rounding, from the float64 value straight to ``fmt``, vectorized. NaN gives the format's canonical
    NaN with the input's sign, ±inf gives ±inf (NaN in formats without inf). Only for formats with p ≤ 53.

    Into float32 the CPU's own conversion is used (250× faster than the integer path) while it is
    IEEE round-to-nearest-even with gradual underflow: :func:`hardware_float32_ok` checks that on
    probe values before every use, since a library loaded in this process may have switched the FPU to
    flush-to-zero or another rounding mode. Anything else goes through :func:`round_float64_integer`.
    NaN payloads are the one difference: the CPU keeps them (quietened), the integer path gives the
    canonical NaN; both are NaN.
    """
    v = np.ascontiguousarray(v, dtype=np.float64)
    if fmt.name == "float32" and hardware_float32_ok():
        with np.errstate(over="ignore", invalid="ignore"):
            return v.astype(np.float32).view(np.uint32)
    return round_float64_integer(v, fmt)


# Probe values for the float32 conversion: ties to even in the normal and subnormal ranges, the
# smallest subnormal's half (a tie to 0) and just above it, the overflow tie and just below it.
_PROBE = np.array([1 + 2.0 ** -24, 1 + 3 * 2.0 ** -24, 1 + 2.0 ** -24 + 2.0 ** -52, 2.0 ** -150,
                   2.0 ** -150 * (1 + 2.0 ** -52), 3 * 2.0 ** -150, 2.0 ** -149 * 1.25, 2.0 ** -126 * (1 - 2.0 ** -25),
                   (2 - 2.0 ** -24) * 2.0 ** 127, (2 - 2.0 ** -24) * 2.0 ** 127 * (1 - 2.0 ** -53),
                   -(2.0 ** -149) * 0.75, -1.5 * 2.0 ** -140])


def hardware_float32_ok() -> bool:
    with np.errstate(over="ignore"):
        got = _PROBE.astype(np.float32).view(np.uint32)
    return bool((got == _PROBE_WANT).all())


def round_float64_integer(v: np.ndarray, fmt: Format) -> np.ndarray:
    """:func:`round_float64_array` done with integer arithmetic on the float64 bit patterns only: the
    reference the hardware conversion is checked against, and the path for every format but float32."""
    v = np.ascontiguousarray(v, dtype=np.float64)
    if fmt.p > 53:
        raise ValueError(f"{fmt.name} is wider than float64")
    b = v.view(np.uint64)
    sign = (b >> np.uint64(63)).astype(np.uint64)
    E = ((b >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64)
    frac = b & np.uint64((1 << 52) - 1)
    normal = E > 0
    man = np.where(normal, frac | np.uint64(1 << 52), frac)
    exp = np.where(normal, E - 1075, -1074)
    # binade of v; float64 subnormals all sit far below every narrower format's half-subnormal
    e = np.where(normal, E - 1023, -1075)
    q = np.maximum(e, fmt.emin) - (fmt.p - 1)
    shift = q - exp  # >= 0 for p <= 53
    big = shift >= 60  # then man < 2**53 <= half: rounds to zero, and shifting that far is undefined
    sh = np.where(big, 0, shift).astype(np.uint64)
    m = np.where(big, np.uint64(0), man >> sh)
    rem = man & ((np.uint64(1) << sh) - np.uint64(1))
    half = np.where(sh > 0, np.uint64(1) << (np.maximum(sh, np.uint64(1)) - np.uint64(1)), np.uint64(0))
    up = (sh > 0) & ((rem > half) | ((rem == half) & ((m & np.uint64(1)) == np.uint64(1))))
    m = m + up.astype(np.uint64)
    # carry into the next binade
    carry = m >= np.uint64(1 << fmt.p)
    m = np.where(carry, m >> np.uint64(1), m)
    q = q + carry
    is_normal = m >= np.uint64(1 << (fmt.p - 1))
    ebin = q + fmt.p - 1
    overflow = is_normal & ((ebin > fmt.emax) | ((ebin == fmt.emax) & (m > np.uint64(fmt.max_significand))))
    field = np.where(is_normal, (ebin + fmt.bias).astype(np.uint64) << np.uint64(fmt.p - 1), np.uint64(0))
    mag = field | (m & np.uint64((1 << (fmt.p - 1)) - 1))
    mag = np.where(is_normal, mag, m)
    mag = np.where(overflow, np.uint64(fmt.inf_bits), mag)
    nonfinite = E == 0x7FF
    isnan = nonfinite & (frac != 0)
    mag = np.where(nonfinite, np.uint64(fmt.inf_bits), mag)
    mag = np.where(isnan, np.uint64(fmt.nan_bits), mag)
    out = (sign << np.uint64(fmt.bits - 1)) | mag
    return out.astype(fmt.uint)



def _probe_want():
    return round_float64_integer(_PROBE, get_format("float32"))


_PROBE_WANT = _probe_want()
