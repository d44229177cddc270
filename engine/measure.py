"""One run of inputs measured: the target on each chunk, against the oracle, into a mergeable Tally.

:func:`measure_chunk` is the single place where a target's results on a chunk meet the correctly rounded
ones; :func:`tally_chunks` merges the chunks of a run in increasing x. :func:`failure_reason` turns a failed
call into one line, locating the failing inputs by bisection where that is cheap. The judge
(:mod:`engine.judge`) and the exhaustive engine (:mod:`engine.exhaustive`) both measure through here.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from engine.case import Case
from engine.defaults import CHUNK
from engine.tally import Tally
from oracle.evaluate import to_float64
from oracle.implementation import NO_RETRY, checked_output, describe_failure
from oracle.ulp import errors_and_rounding

__all__ = ["CHUNK", "ChunkFailed", "ExhaustiveFailed", "finite_before", "sample_chunks", "tally_chunks",
           "measure_chunk", "failure_reason"]

#: Inputs measured per pass: bounds the float64 temporaries to a few hundred MB.


class ExhaustiveFailed(RuntimeError):
    """The target failed (raised, returned garbage, crashed or hung) in a pool's worker
    (:mod:`engine.exhaustive`); the message is the whole reason."""


class ChunkFailed(Exception):
    """The target failed on a chunk: ``x`` the chunk, ``cause`` what it raised."""

    def __init__(self, x: np.ndarray, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.x, self.cause = x, cause


def finite_before(x: np.ndarray) -> np.ndarray:
    """finite_before(x)[i]: how many of x[:i] are finite (length x.size + 1)."""
    return np.concatenate([[0], np.cumsum(np.isfinite(to_float64(x)))])


def sample_chunks(x: np.ndarray, chunk: int, before: np.ndarray, lo: int = 0, hi: int | None = None):
    """(start, inputs, rank of the first finite one) for chunks lo..hi of an input array in increasing x
    (``before``: its :func:`finite_before`); an empty array still gives one (empty) chunk."""
    hi = max(-(-x.size // chunk), 1) if hi is None else hi
    for c in range(lo, hi):
        start = c * chunk
        yield start, x[start:start + chunk], int(before[min(start, x.size)])


def tally_chunks(call, case: Case, chunks, n_finite: int, worst_k: int) -> Tally:
    """The merged tally of (start, inputs, rank0) chunks in increasing x (see :func:`measure_chunk`)."""
    tally = None
    for start, x, rank0 in chunks:
        part = measure_chunk(call, x, case, start=start, rank0=rank0, n_finite=n_finite, worst_k=worst_k)
        tally = part if tally is None else tally.merge(part, worst_k)
    return tally


def measure_chunk(call: Callable[[np.ndarray], np.ndarray], x: np.ndarray, case: Case, *,
                  start: int, rank0: int, n_finite: int, worst_k: int = 10) -> Tally:
    """The target on one chunk of inputs in increasing x, measured against the oracle (see :class:`Tally`
    for ``start``, ``rank0`` and ``n_finite``). ChunkFailed if the target raises or returns garbage on it."""
    try:
        y = checked_output(call(x), x)
    except Exception as exc:  # noqa: BLE001 — a broken target is a finding, not a crash of the judge
        raise ChunkFailed(x, exc) from exc
    ref, err = errors_and_rounding(y, x, case.fn, case.beta)
    try:
        ym = checked_output(call(-x), x)
    except Exception:  # noqa: BLE001 — the main call worked; a failure here shows as a property failure
        ym = None
    return Tally.of_chunk(x, y, ref, err, ym, case, start=start, rank0=rank0, n_finite=n_finite, worst_k=worst_k)


def failure_reason(call, x: np.ndarray, exc: BaseException, max_calls: int = 256) -> str:
    """The cause of a failed call in one line, with how many inputs fail where that can be told cheaply.

    Crashes and timeouts are not bisected (each costs a worker's restart); an exception is located by
    splitting the input in halves (at most ``max_calls`` calls): "raised ValueError: ... on 3 of 65,536
    inputs; first: x = 1.5".
    """
    what = describe_failure(exc)
    if isinstance(exc, NO_RETRY) or x.size <= 1:
        return what if x.size != 1 else f"{what} (x = {float(to_float64(x)[0])!r})"

    def fails(lo: int, hi: int) -> bool:
        try:
            checked_output(call(x[lo:hi]), x[lo:hi])
            return False
        except NO_RETRY:
            raise
        except Exception:  # noqa: BLE001
            return True

    try:
        if fails(0, 1) and fails(x.size - 1, x.size) and fails(x.size // 2, x.size // 2 + 1):
            return f"{what} (on every input tried; first: x = {float(to_float64(x[:1])[0])!r})"
        bad, todo, calls = [], [(0, x.size)], 3
        while todo and calls < max_calls:
            lo, hi = todo.pop()
            calls += 1
            if not fails(lo, hi):
                continue
            if hi - lo == 1:
                bad.append(lo)
            else:
                mid = (lo + hi) // 2
                todo += [(mid, hi), (lo, mid)]
    except NO_RETRY as later:
        return f"{what}; then {describe_failure(later)}"
    if not bad:
        return f"{what} (only on the whole array: no smaller part fails)" if not todo else what
    first = float(to_float64(x[min(bad):min(bad) + 1])[0])
    count = f"{len(bad):,}" if not todo else f"at least {len(bad):,}"
    return f"{what} on {count} of {x.size:,} inputs; first: x = {first!r}"
