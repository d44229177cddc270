"""Formula switches: the jump at a declared switch point, and switches found that a target does not declare.

An implementation that changes formula at some input — torch's βx > threshold returning x, TensorFlow's
cut-offs, a backend's undeclared fast path — shows it as an abrupt change of its signed error between two
neighbouring inputs. :func:`measure_jump` measures a known switch point (one target call on the 16 format
values each side). :func:`discover_switches` finds unknown ones from the tally's *jump candidates*
(:attr:`engine.tally.Tally.jumps`): adjacent judged inputs — neighbouring sample points, or adjacent floats
of an exhaustive stream — whose signed errors differ by at least :data:`CANDIDATE_ULPS`, or where the target
starts or stops returning x itself or 0 where the correctly rounded result is neither (an *exact-x* or
*exact-0* onset; for the derivative, exact 1 or 0). Each candidate is narrowed to two adjacent floats by
subdivision on the target (33 points per round, so ~11 rounds for a float64 gap of 2**52 floats, ~5 for
float32), and kept if, there, one side is faithful (error at most 1 ulp) and the other errs by JUMP_ULPS or
more, and either the step of the result differs from the true step by at least JUMP_ULPS ulps (measured
absolutely, in ulps of the larger side, so that a large smooth error crossing a binade of the result is no
jump) or the target starts returning x, 1 or 0 there. That is what a formula switch of an otherwise faithful implementation
looks like (a threshold returning x too early, a cut-off, a flush of subnormals to 0). Dropped: a gradual
growth of error between two distant sample points (narrowed, its step shrinks below the bar), and the
steps of an implementation that is unfaithful on both sides (the staircase of a catastrophic formula:
the overflow and underflow onsets and the maxima report those).

Target calls are padded to a power-of-two length (repeating the last input), so that frameworks that compile
per shape (JAX) compile a handful of shapes, not one per round.

Units: x units (the input of softplus_β, not βx); errors in ulps of the format. A switch "at s" means the
implementation's behaviour changes between the last format value ≤ s and the first above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from engine.inputs import from_ordered_keys, ordered_keys, switch_neighbours
from oracle.evaluate import to_float64
from oracle.formats import Format
from oracle.ulp import errors_and_rounding, exact_error, ulp_f64

__all__ = ["SwitchJump", "measure_jump", "discover_switches", "JUMP_ULPS", "CANDIDATE_ULPS", "MAX_DISCOVERED",
           "FAITHFUL", "signal", "padded", "at_keys"]

#: The smallest step in signed error (ulps) between neighbouring inputs worth narrowing (a candidate).
CANDIDATE_ULPS = 2.0
#: The smallest jump (ulps) between two adjacent floats that counts as a switch, and the error its bad side
#: must reach: "more than a few ulps", above the 2-3 ulp noise of a merely unfaithful formula.
JUMP_ULPS = 4.0
#: The error (ulps) up to which a side of a switch counts as faithful.
FAITHFUL = 1.0
#: Discovered switches kept per verdict (largest jumps first): a staircase of a catastrophic formula has
#: thousands of steps, and a handful shows it.
MAX_DISCOVERED = 4
#: Points evaluated per narrowing round.
_FANOUT = 32
_MAX_ROUNDS = 80


@dataclass
class SwitchJump:
    """The two format values straddling a formula switch of the implementation, and what happens there.

    ``jump_ulp``: |(y(above) − y(below)) − (f(above) − f(below))| in ulps of f near the switch — how much
    the implementation's step between neighbours differs from the true step. ``error_*_ulp``: the signed
    errors on each side. ``neighbourhood``: [x, signed error] for the 16 format values on each side.
    ``discovered``: found by :func:`discover_switches`, not declared by the target.
    """

    at: float
    below: float
    above: float
    error_below_ulp: float
    error_above_ulp: float
    jump_ulp: float
    neighbourhood: list[list[float]] = field(default_factory=list)  # [x, signed error in ulps], ±16 values
    discovered: bool = False


def measure_jump(s: float, call: Callable[[np.ndarray], np.ndarray], f: Format, fn: str,
                 beta: float) -> SwitchJump | None:
    """The jump across switch point s, between the last format value at or below s and the first above
    it, with the signed errors of 16 values on each side (one target call); None where s has no finite
    neighbours or the call fails."""
    xs = switch_neighbours(f, s, k=16)
    xs = xs[np.isfinite(to_float64(xs))]
    xf = to_float64(xs)
    below = np.flatnonzero(xf <= s)
    if below.size == 0 or below[-1] + 1 >= xs.size:
        return None
    i = below[-1]  # xs[i] <= s < xs[i + 1]: the pair that straddles "> s"
    try:
        ys = call(xs)
    except Exception:  # noqa: BLE001 — the main call worked; no jump is reported for this switch
        return None
    ref, e = errors_and_rounding(ys, xs, fn, beta, signed=True)
    yf = to_float64(ys)
    for j in (i, i + 1):  # the two reported errors (and so the jump) rigorously, as the worst inputs are
        if np.isfinite(yf[j]):
            e[j] = exact_error(xf[j], yf[j], fn, beta, f, signed=True)
    # each error in ulps of its own correct result: scaled back to the larger of the two ulps, so that the
    # jump is the difference of the steps, not of two errors in different units (a binade between them)
    u = ulp_f64(np.abs(to_float64(ref[i:i + 2])), f)
    big = float(np.max(u))
    jump = abs(e[i + 1] * u[1] - e[i] * u[0]) / big if np.isfinite(big) and big > 0 else abs(e[i + 1] - e[i])
    return SwitchJump(at=s, below=float(xf[i]), above=float(xf[i + 1]),
                      error_below_ulp=float(e[i]), error_above_ulp=float(e[i + 1]),
                      jump_ulp=float(jump),
                      neighbourhood=[[float(a), float(b)] for a, b in zip(xf, e)])


def signal(x: np.ndarray, y: np.ndarray, ref: np.ndarray, err: np.ndarray,
           fn: str = "softplus") -> tuple[np.ndarray, np.ndarray]:
    """(signed error, onset code) per element, from float64 views of inputs, results and correctly rounded
    results and the unsigned errors: the sign from y against its correct rounding (0 where they agree: the
    error is then below 1/2 ulp either way), and code 1 where y is the linear branch's value (x itself for
    softplus, 1 for its derivative) but the correct result is not, 2 where y is 0 but the correct result is
    not, else 0."""
    s = np.where(y > ref, err, np.where(y < ref, -err, 0.0))
    lin = x if fn == "softplus" else 1.0
    code = np.where((y == lin) & (ref != lin), 1, np.where((y == 0) & (ref != 0), 2, 0)).astype(np.int8)
    return s, code


def padded(call: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """``call`` on inputs padded to a power-of-two length of at least 16 (the last input repeated), the
    padding cut off again: few distinct shapes for frameworks that compile per shape."""
    def run(x: np.ndarray) -> np.ndarray:
        n = x.size
        size = max(16, 1 << max(n - 1, 0).bit_length())
        if n == 0 or size == n:
            return np.asarray(call(x))
        y = np.asarray(call(np.concatenate([x, np.repeat(x[-1:], size - n)])))
        return y[:n]
    return run


def at_keys(call: Callable[[np.ndarray], np.ndarray], f: Format, fn: str, beta: float, keys: np.ndarray):
    """The target at ordered keys, in one call: (x, y, correctly rounded, unsigned error, ok) with ``ok``
    where the result, the truth and the error are finite (the only ones a search compares)."""
    x = from_ordered_keys(f, keys)
    y = np.asarray(call(x))
    ref, err = errors_and_rounding(y, x, fn, beta)
    ok = np.isfinite(to_float64(y)) & np.isfinite(to_float64(ref)) & np.isfinite(err)
    return x, y, ref, err, ok


def _state(call, f: Format, fn: str, beta: float, keys: np.ndarray):
    """(signed error, onset code, finite mask) of the target at these ordered keys (one call)."""
    x, y, ref, err, ok = at_keys(call, f, fn, beta, keys)
    s, code = signal(to_float64(x), to_float64(y), to_float64(ref), np.where(ok, err, 0.0), fn)
    return s, code, ok


def _narrow(call, f: Format, fn: str, beta: float, ka: int, kb: int, onset: bool) -> tuple[int, int] | None:
    """Two adjacent keys in [ka, kb] where the step is: subdivide, keep the sub-interval whose ends differ
    most in signed error (``onset``: whose ends differ in onset code, the first such), repeat."""
    for _ in range(_MAX_ROUNDS):
        if kb - ka <= 1:
            return ka, kb
        n = min(_FANOUT, kb - ka)  # exact integer steps: float64 keys exceed 2**53
        keys = np.array(sorted({ka + (kb - ka) * i // n for i in range(n + 1)}), dtype=np.int64)
        s, code, ok = _state(call, f, fn, beta, keys)
        pair_ok = ok[1:] & ok[:-1]
        if onset:
            change = np.flatnonzero(pair_ok & (code[1:] != code[:-1]))
            if change.size == 0:
                return None
            j = int(change[0])
        else:
            d = np.where(pair_ok, np.abs(s[1:] - s[:-1]), -1.0)
            j = int(np.argmax(d))
            if d[j] < 0:
                return None
        ka, kb = int(keys[j]), int(keys[j + 1])
    return None


def _behaviour_changes(call, f: Format, fn: str, pair: tuple[int, int]) -> bool:
    """Whether the target starts or stops returning the linear branch's value (x, or 1 for the derivative)
    or 0 between the two adjacent keys (the correct rounding may do so too, where its own regime changes:
    that is no switch of the target's, and the faithfulness test below rejects it)."""
    x = from_ordered_keys(f, np.array(pair, dtype=np.int64))
    xf, yf = to_float64(x), to_float64(np.asarray(call(x)))
    lin, zero = yf == (xf if fn == "softplus" else 1.0), yf == 0
    return bool(lin[0] != lin[1] or zero[0] != zero[1])


def discover_switches(call: Callable[[np.ndarray], np.ndarray], f: Format, fn: str, beta: float,
                      candidates: Sequence[Sequence[float]], declared: Sequence[SwitchJump] = ()
                      ) -> list[SwitchJump]:
    """The switches behind the tally's jump ``candidates`` ([score, position, x_a, x_b, s_a, s_b, code_a,
    code_b], see :class:`engine.tally.Tally`), narrowed on the target and measured like declared ones
    (marked ``discovered``), largest jump first, at most :data:`MAX_DISCOVERED`; none within two floats of a
    ``declared`` switch. A target call that fails ends the search with what was found."""
    call = padded(call)
    taken = set()
    for j in declared:
        kb = int(ordered_keys(f, [j.below])[0])
        taken.update(range(kb - 2, kb + 3))
    found: dict[int, SwitchJump] = {}
    for cand in candidates:
        xa, xb, code_a, code_b = cand[2], cand[3], int(cand[6]), int(cand[7])
        ka, kb = (int(k) for k in ordered_keys(f, [xa, xb]))
        try:
            pair = _narrow(call, f, fn, beta, ka, kb, onset=code_a != code_b)
            if pair is None or pair[0] in taken or pair[0] in found:
                continue
            below = float(to_float64(from_ordered_keys(f, [pair[0]]))[0])
            jump = measure_jump(below, call, f, fn, beta)
        except Exception:  # noqa: BLE001 — the search is a bonus: a failing target keeps what was found
            break
        if jump is None:
            continue
        lo, hi = sorted((abs(jump.error_below_ulp), abs(jump.error_above_ulp)))
        if not (lo <= FAITHFUL and hi >= JUMP_ULPS):  # a switch from faithful rounding to clearly worse
            continue
        if jump.jump_ulp >= JUMP_ULPS or _behaviour_changes(call, f, fn, pair):
            jump.discovered = True
            found[pair[0]] = jump
    return sorted(found.values(), key=lambda j: -j.jump_ulp)[:MAX_DISCOVERED]
