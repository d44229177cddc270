"""One validator per argument of a run: each takes what a user typed (text) or passed (a number) and returns
the value, or raises ValueError with a one-line message that names the argument and what it must be.

The library's functions call them on what they are given, the command line uses them as its argument
types (:func:`softplus_cert.cli` turns the ValueError into argparse's one-line usage error), and the pytest
plugin checks its options with them: an argument is validated in one place, whatever the way in.
"""

from __future__ import annotations

import argparse
import math
import secrets
from typing import Any, Callable

from engine.exhaustive import Shard
from oracle.evaluate import check_beta

__all__ = ["argparse_type", "check_beta", "check_threshold", "check_samples", "check_seed", "check_chunk", "check_jobs",
           "check_timeout", "check_memory", "check_repeats", "check_min_time", "check_shard"]


def _whole(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip().replace("_", ""), 10)
    except ValueError:
        raise ValueError(f"{what} must be a whole number, got {value!r}") from None


def _at_least(value: Any, what: str, low: int, unit: str = "") -> int:
    n = _whole(value, what)
    if n < low:
        raise ValueError(f"{what} must be at least {low}{unit}, got {value!r}")
    return n


def check_threshold(value: Any) -> float | None:
    """A threshold: a number, ``inf``, or ``default`` / None (the target's own); never NaN."""
    if value is None or value == "default":
        return None
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a number, inf or 'default', got {value!r}") from None
    if math.isnan(t):
        raise ValueError("threshold must not be NaN")
    return t


def check_samples(value: Any) -> int | None:
    """Sampled inputs per float32/float64 combination: a whole number ≥ 1 (None: the default)."""
    return None if value is None else _at_least(value, "samples", 1, " input")


def check_seed(value: Any) -> int:
    """Seed of the sampled inputs: a whole number ≥ 0 (NumPy's generators take no negative seed), or
    ``random``: a fresh one (below 2**32), which the run records (the report's environment, pytest's header)
    so that what it found can be found again."""
    if isinstance(value, str) and value.strip() == "random":
        return secrets.randbelow(2 ** 32)
    return _at_least(value, "seed", 0)


def check_chunk(value: Any) -> int:
    """Inputs per chunk of an exhaustive run or a large sample: a whole number ≥ 1."""
    return _at_least(value, "chunk", 1, " input")


def check_jobs(value: Any) -> int | None:
    """Worker processes: a whole number ≥ 1 (None: every core available)."""
    return None if value is None else _at_least(value, "jobs", 1)


def check_repeats(value: Any) -> int:
    """Timed rounds per kernel: a whole number ≥ 1."""
    return _at_least(value, "repeats", 1)


def _seconds(value: Any, what: str) -> float:
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number of seconds, got {value!r}") from None
    return t


def check_timeout(value: Any) -> float:
    """Seconds a call may take: finite and > 0."""
    t = _seconds(value, "timeout")
    if not (t > 0 and math.isfinite(t)):
        raise ValueError(f"timeout must be a finite number of seconds > 0, got {value!r}")
    return t


def check_min_time(value: Any) -> float:
    """Least seconds of each timed round: finite and ≥ 0."""
    t = _seconds(value, "min-time")
    if not (t >= 0 and math.isfinite(t)):
        raise ValueError(f"min-time must be a finite number of seconds ≥ 0, got {value!r}")
    return t


_UNITS = {"": 1, "K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30, "T": 2 ** 40}


def check_memory(value: Any) -> int | None:
    """An address-space cap in bytes, from a number of bytes or text like 8G, 512M, 1.5GiB (None: none)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    else:
        t = str(value).strip().upper().removesuffix("B").removesuffix("I")
        num, unit = (t[:-1], t[-1]) if t and t[-1] in _UNITS else (t, "")
        try:
            n = int(float(num) * _UNITS[unit])
        except (ValueError, OverflowError):  # "x", "inf", "nan"
            raise ValueError(f"memory limit must look like 8G or 512M, got {value!r}") from None
    if n <= 0:
        raise ValueError(f"memory limit must be positive, got {value!r}")
    return n


def check_shard(value: Any) -> Shard | None:
    """A slice of an exhaustive run, ``I/N`` (I from 1), or a :class:`engine.exhaustive.Shard` (None: whole)."""
    if value is None or isinstance(value, Shard):
        return value
    return Shard.parse(str(value))


def argparse_type(check: Callable[[str], Any]) -> Callable[[str], Any]:
    """One of these validators as an argparse (or pytest option) type: its ValueError becomes the parser's
    one-line usage error, naming the option."""
    def parse(text: str) -> Any:
        try:
            return check(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    parse.__name__ = check.__name__.removeprefix("check_")  # argparse names the type in some messages
    return parse
