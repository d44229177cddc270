"""The oracle's values as a library: its cached tables of the small formats, and correctly rounded values
of given inputs (the ``tables`` and ``eval`` commands print these)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

import oracle
from engine.defaults import FUNCTIONS
from oracle import cache
from oracle.evaluate import check_beta, check_fn, exhaustive_table
from oracle.formats import FORMATS

__all__ = ["TableState", "build_tables", "Value", "correct_values"]


@dataclass(frozen=True)
class TableState:
    """One exhaustive table: its format, function, size in values, "cached" or "built", and seconds taken."""

    fmt: str
    fn: str
    size: int
    state: str
    seconds: float


def build_tables() -> Iterator[TableState]:
    """Build (or verify) the exhaustive oracle tables of the 8- and 16-bit formats at β = 1, one at a time,
    in :func:`oracle.cache.cache_dir`."""
    for fmt in FORMATS.values():
        if fmt.bits > 16:
            continue
        for fn in FUNCTIONS:
            start = time.perf_counter()
            state = "cached" if cache.table_path(fmt, fn).exists() else "built"
            size = exhaustive_table(fmt, fn).size
            yield TableState(fmt.name, fn, size, state, time.perf_counter() - start)


@dataclass(frozen=True)
class Value:
    """A correctly rounded value: the input rounded to the format, the result, and its bit pattern (hex)."""

    x: float
    y: float
    bits: str


def correct_values(texts: Sequence[str], dtype: str = "float32", fn: str = "softplus", beta: float = 1.0
                   ) -> tuple[str, list[Value]]:
    """(format name, values) of ``fn`` at the inputs written in ``texts``, each first rounded to the format (as
    a user's tensor would be). ValueError, in one line, for an unknown format or function, a bad β or an
    input that is not a number."""
    fmt = oracle.get_format(dtype)
    check_fn(fn)
    beta = check_beta(beta)
    try:
        x = np.array([float(v) for v in texts], dtype=np.float64)
    except ValueError:
        raise ValueError(f"inputs must be numbers, got {' '.join(texts)}") from None
    with np.errstate(over="ignore"):
        xs = x.astype(fmt.dtype)
    y = oracle.softplus(xs, beta) if fn == "softplus" else oracle.softplus_grad(xs, beta)
    return fmt.name, [Value(float(xi), float(yi), f"0x{int(np.asarray(yi).view(fmt.uint)):0{fmt.bits // 4}x}")
                      for xi, yi in zip(xs, y)]
