"""Binary floating-point formats the oracle knows: one descriptor each.

A format is described IEEE-754 style by its precision ``p`` (significand bits, the implicit bit included),
``emin`` and ``emax`` (exponents of the smallest and largest normal binades), its storage width, and whether
it has infinities. Values are exchanged as NumPy arrays of the format's dtype (ml_dtypes for bfloat16 and
the float8 formats); bit patterns as unsigned integers of the same width.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import ml_dtypes
import numpy as np

__all__ = ["Format", "FORMATS", "get_format", "format_of"]

_UINT = {8: np.uint8, 16: np.uint16, 32: np.uint32, 64: np.uint64}


@dataclass(frozen=True)
class Format:
    """One binary floating-point format.

    ``p``: precision in bits (implicit bit included); ``emin``/``emax``: unbiased exponents of the smallest
    and largest normal binades; ``has_inf``: False for the "fn" float8 formats, whose overflow is NaN.
    """

    name: str
    dtype: np.dtype
    p: int
    emin: int
    emax: int
    bits: int
    has_inf: bool

    @property
    def uint(self) -> type:
        """Unsigned integer type of the same width, for bit patterns."""
        return _UINT[self.bits]

    @property
    def exponent_bits(self) -> int:
        return self.bits - self.p

    @property
    def bias(self) -> int:
        return 1 - self.emin

    @property
    def sign_mask(self) -> int:
        return 1 << (self.bits - 1)

    @property
    def max_significand(self) -> int:
        """Integer significand M of the largest finite value M * 2**(emax - p + 1)."""
        if self.has_inf:
            return (1 << self.p) - 1
        # "fn" formats spend the all-ones pattern of the top binade on NaN.
        return (1 << self.p) - 2

    @property
    def max_bits(self) -> int:
        """Bit pattern of the largest finite value."""
        return ((self.emax + self.bias) << (self.p - 1)) | (self.max_significand - (1 << (self.p - 1)))

    @property
    def inf_bits(self) -> int:
        """Bit pattern of +inf; for formats without infinities, of the (positive) NaN that overflow gives."""
        if self.has_inf:
            return ((1 << self.exponent_bits) - 1) << (self.p - 1)
        return (1 << (self.bits - 1)) - 1

    @property
    def nan_bits(self) -> int:
        """Bit pattern of the canonical quiet NaN (positive sign)."""
        if self.has_inf:
            return self.inf_bits | (1 << (self.p - 2))
        return (1 << (self.bits - 1)) - 1

    @cached_property
    def finfo(self):
        return ml_dtypes.finfo(self.dtype)

    def from_bits(self, bits: np.ndarray) -> np.ndarray:
        """Reinterpret unsigned integer bit patterns as values of this format (no conversion)."""
        return np.asarray(bits, dtype=self.uint).view(self.dtype)

    def to_bits(self, values: np.ndarray) -> np.ndarray:
        """Bit patterns of an array of this format (no conversion)."""
        values = np.asarray(values)
        if values.dtype != self.dtype:
            raise TypeError(f"expected {self.name} values, got dtype {values.dtype}")
        return values.view(self.uint)

    def all_values(self, include_nonfinite: bool = True) -> np.ndarray:
        """Every value of the format, in bit-pattern order (only sensible for 8- and 16-bit formats).

        Both zeros are included; NaN patterns and ±inf only when ``include_nonfinite``.
        """
        if self.bits > 16:
            raise ValueError(f"{self.name} has 2**{self.bits} values; enumerate it in chunks instead")
        v = self.from_bits(np.arange(1 << self.bits, dtype=np.uint64).astype(self.uint))
        return v if include_nonfinite else v[np.isfinite(v.astype(np.float64))]

    def ulp_exponent(self, e: int) -> int:
        """Exponent of the ulp of a value whose binade exponent is ``e`` (floor(log2|v|)), subnormals floored."""
        return max(e, self.emin) - self.p + 1

    def __repr__(self) -> str:  # the dataclass repr drags the dtype object along
        return f"Format({self.name})"


def _describe(name: str, dtype) -> Format:
    dtype = np.dtype(dtype)
    fi = ml_dtypes.finfo(dtype)
    has_inf = bool(np.isinf(np.array(np.inf, dtype=np.float32).astype(dtype)))
    return Format(name=name, dtype=dtype, p=int(fi.nmant) + 1, emin=int(fi.minexp),
                  emax=int(fi.maxexp) - 1, bits=int(fi.bits), has_inf=has_inf)


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        _describe("float16", np.float16),
        _describe("bfloat16", ml_dtypes.bfloat16),
        _describe("float32", np.float32),
        _describe("float64", np.float64),
        _describe("float8_e4m3fn", ml_dtypes.float8_e4m3fn),
        _describe("float8_e5m2", ml_dtypes.float8_e5m2),
    )
}

_BY_DTYPE = {f.dtype: f for f in FORMATS.values()}


def get_format(spec) -> Format:
    """The Format for a name ("bfloat16"), a dtype, or a Format; ValueError naming the supported ones."""
    if isinstance(spec, Format):
        return spec
    if isinstance(spec, str) and spec in FORMATS:
        return FORMATS[spec]
    try:
        dt = np.dtype(spec)
    except TypeError:
        dt = None
    if dt is not None and dt in _BY_DTYPE:
        return _BY_DTYPE[dt]
    raise ValueError(f"unsupported format {spec!r}; supported: {', '.join(FORMATS)}")


def format_of(x: np.ndarray) -> Format:
    """The Format of an array's dtype; ValueError for any other dtype."""
    dt = getattr(x, "dtype", None)
    if dt is None or dt not in _BY_DTYPE:
        raise ValueError(f"unsupported dtype {dt}; supported: {', '.join(FORMATS)}")
    return _BY_DTYPE[dt]
