"""Inputs and bit-level comparisons shared by the target tests."""

from __future__ import annotations

import numpy as np

from oracle.formats import FORMATS, get_format

SIXTEEN_BIT = ("float16", "bfloat16")
FLOAT8 = ("float8_e4m3fn", "float8_e5m2")


def every_value(fmt: str) -> np.ndarray:
    """All 2**bits patterns of an 8- or 16-bit format (NaNs with every payload, ±inf, ±0, subnormals)."""
    return get_format(fmt).all_values(include_nonfinite=True)


def sample_values(fmt: str, n: int = 8192, seed: int = 20240) -> np.ndarray:
    """Inputs for a format: every value of 8/16-bit formats; else uniform bit patterns, specials and x in
    [-40, 40] (where softplus and the torch threshold switch), for float32/float64."""
    f = get_format(fmt)
    if f.bits <= 16:
        return every_value(fmt)
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, np.iinfo(f.uint).max, size=n, dtype=f.uint, endpoint=True)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 20.0, 10.0, 40.0], dtype=f.dtype)
    moderate = rng.uniform(-40, 40, size=n).astype(f.dtype)
    tiny = np.array([f.finfo.smallest_subnormal, f.finfo.tiny, f.finfo.max], dtype=f.dtype)
    return np.concatenate([f.from_bits(bits), specials, moderate, tiny, -tiny])


def bits_of(x: np.ndarray) -> np.ndarray:
    """Bit patterns of an array of a known format, as unsigned integers."""
    return get_format(x.dtype).to_bits(x)


def assert_identical_bits(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """Same dtype, shape and every bit pattern (NaN payloads included)."""
    assert got.dtype == want.dtype and got.shape == want.shape, (what, got.dtype, got.shape, want.dtype, want.shape)
    bad = np.flatnonzero(bits_of(got).ravel() != bits_of(want).ravel())
    assert bad.size == 0, f"{what}: {bad.size} elements differ, first at {bad[:5]}: " \
                          f"{got.ravel()[bad[:5]]} vs {want.ravel()[bad[:5]]}"


def assert_same_values(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """Same dtype and shape; NaN exactly where ``want`` has NaN; every other element bit-identical (so -0 ≠ +0).

    NaN payloads are not compared: the reference path may move NaN inputs through a float32 conversion that
    is free to change their payload.
    """
    assert got.dtype == want.dtype and got.shape == want.shape, (what, got.dtype, got.shape, want.dtype, want.shape)
    g, w = got.ravel(), want.ravel()
    gnan, wnan = np.isnan(g), np.isnan(w)
    assert np.array_equal(gnan, wnan), f"{what}: NaN at different places ({int((gnan != wnan).sum())} elements)"
    bad = np.flatnonzero((bits_of(g) != bits_of(w)) & ~wnan)
    assert bad.size == 0, f"{what}: {bad.size} elements differ, first at {bad[:5]}: {g[bad[:5]]} vs {w[bad[:5]]}"


__all__ = ["FORMATS", "SIXTEEN_BIT", "FLOAT8", "every_value", "sample_values", "bits_of",
           "assert_identical_bits", "assert_same_values"]


def usable(name: str):
    """The registered target ``name``, or a pytest skip saying why it cannot run here."""
    import pytest

    from targets import get_target

    t = get_target(name)
    reason = t.availability()
    if reason is not None:
        pytest.skip(f"{name}: {reason}")
    return t
