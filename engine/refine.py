"""Worst-case refinement: from the worst inputs a sample found, search nearby for worse ones.

A sample of 20,000 float32 inputs lands about once per 2**18 floats: it sees a narrow bad band once, at some
distance from the band's worst input, and an undeclared switch somewhere past its edge. :func:`refine_worst`
climbs from each start (the largest finite errors of the verdict, both sides of every switch): each round
evaluates the target at the neighbouring floats (±1…±8) and at power-of-two distances (±16, ±32, … up to
one binade's width, so a band is bracketed from far and then bisected down to its peak), moves to the
largest finite error if it beats the current one, and stops when none does. It is deterministic (no random
draws: the same starts give the same path) and bounded: at most ``max_points`` inputs per verdict
(:data:`MAX_POINTS`), in one target call per round.

Only finite results are climbed (a non-finite result where the truth is finite is counted over the judged
inputs, not searched for). The errors that steer the climb come from the float64 fast path (within 2**-20
ulp); the maximum returned is recomputed with arb (:func:`oracle.ulp.exact_error`), as the judge's are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from engine.inputs import ordered_keys
from engine.switches import at_keys, padded
from oracle.evaluate import to_float64
from oracle.formats import Format
from oracle.ulp import exact_error

__all__ = ["Found", "refine_worst", "MAX_POINTS", "MAX_ROUNDS"]

#: Inputs evaluated per verdict by the search, at most (one float64 input costs ~20 µs of oracle).
MAX_POINTS = 6000
#: Rounds per start, at most.
MAX_ROUNDS = 40
_NEAR = 8  # neighbouring floats each side, every round


@dataclass
class Found:
    """The worst input the search reached: x, the target's result, the correctly rounded one, and the error
    in ulps (rigorous); ``points``: inputs evaluated by the search in all."""

    x: float
    result: float
    correct: float
    ulp: float
    points: int


def _offsets(f: Format) -> np.ndarray:
    far = [1 << j for j in range(4, f.p)]  # up to 2**(p-1) floats: one binade
    steps = list(range(1, _NEAR + 1)) + far
    return np.array(sorted(set(steps) | {-s for s in steps}), dtype=np.int64)


def _errors(call, f: Format, fn: str, beta: float, keys: np.ndarray):
    """(x, y, correct, error) at ordered keys: error -inf where the result or the truth is not finite."""
    x, y, ref, err, ok = at_keys(call, f, fn, beta, keys)
    return x, y, ref, np.where(ok, err, -np.inf)


def refine_worst(call: Callable[[np.ndarray], np.ndarray], f: Format, fn: str, beta: float,
                 starts: Sequence[float], max_points: int = MAX_POINTS) -> Found | None:
    """The largest finite error found by climbing from each of ``starts`` (finite inputs, in x units); None
    where no start has a finite result or the target fails at once. A target call that fails ends the
    search with what was found."""
    call = padded(call)  # few distinct shapes: JAX compiles per shape
    lo, hi = -f.max_bits, f.max_bits
    offsets = _offsets(f)
    seen: set[int] = set()
    best: tuple[float, float, float, float] | None = None  # (error, x, y, correct)
    points = 0
    keys0 = []
    for s in starts:
        if np.isfinite(s):
            k = int(ordered_keys(f, [s])[0])
            if k not in keys0:
                keys0.append(k)
    try:
        for k in keys0:
            if k in seen or points + 1 > max_points:
                continue
            keys = np.array([k], dtype=np.int64)
            cur_k, cur_e = k, -np.inf
            for _ in range(MAX_ROUNDS + 1):  # the start itself, then the rounds around the current point
                if keys.size == 0 or points + keys.size > max_points:
                    break
                x, y, ref, e = _errors(call, f, fn, beta, keys)
                points += keys.size
                seen.update(int(q) for q in keys)
                j = int(np.argmax(e))
                if e[j] > -np.inf and (best is None or e[j] > best[0]):
                    best = (float(e[j]), float(to_float64(x[j:j + 1])[0]), float(to_float64(y[j:j + 1])[0]),
                            float(to_float64(ref[j:j + 1])[0]))
                if not e[j] > cur_e:
                    break
                cur_k, cur_e = int(keys[j]), float(e[j])
                keys = np.unique(np.clip(cur_k + offsets, lo, hi))
                keys = keys[[int(q) not in seen for q in keys]]
    except Exception:  # noqa: BLE001 — the search is a bonus: a failing target keeps what was found
        pass
    if best is None or not np.isfinite(best[0]):
        return None
    err, xb, yb, rb = best
    exact = exact_error(xb, yb, fn, beta, f)
    return Found(x=xb, result=yb, correct=rb, ulp=float(exact), points=points)
