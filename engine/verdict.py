"""The Verdict: everything measured for one target × format × function × (β, threshold), and how a
Tally of all its inputs and the measurements at chosen inputs (switches, onsets, the safe threshold) fill it.

Units: every error is in ulps of the format under test, as :func:`oracle.ulp_error` defines them (Goldberg
ulp of the exact value, subnormal floor). Inputs and results are reported as Python floats (exact: every
supported format widens to float64 exactly).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from engine.case import Case, params_text
from engine.inputs import from_ordered_keys, ordered_keys, partition_point
from engine.switches import SwitchJump, measure_jump
from engine.tally import Tally
from oracle.evaluate import correctly_rounded, to_float64
from oracle.files import from_json_safe, json_safe
from oracle.formats import Format

__all__ = ["SCHEMA_VERSION", "WorstInput", "Verdict", "true_max", "finish_verdict", "boundary_measurements"]

#: Version of the Verdict record layout (bump on any change of field names or meanings).
#: 3: histogram bin ">256"; monotonicity never compares −0 with +0; means summed exactly.
#: 4: ``max_ulp`` is the true maximum (inf where a result is infinite or NaN where the truth is a number,
#: NaN where a NaN result is among them), ``max_finite_ulp`` and ``worst_finite`` the largest finite
#: errors; worst inputs and maxima computed rigorously; ``code_path``: the target's instruction-set path.
#: 5: switches the target does not declare are discovered (``SwitchJump.discovered``) and the worst case
#: refined by a local search (``worst_source``: "sample", "boundary", "search" or "exhaustive";
#: ``search_points``: inputs the search evaluated).
SCHEMA_VERSION = 5


@dataclass
class WorstInput:
    """One input with its result, the correctly rounded result, and the error in ulps."""

    x: float
    result: float
    correct: float
    ulp: float


@dataclass
class Verdict:
    """Everything measured for one target × format × function × (β, threshold).

    ``status``: "ok" (measured), "unsupported" (the target declines; ``reason`` says why) or "error" (the
    target raised or returned garbage; ``reason`` says what). Only "ok" verdicts carry measurements.
    ``error_profile``: the finite inputs in increasing order cut into at most PROFILE_BINS runs of
    consecutive inputs, each [x_first, x_last, max error, mean error] in ulps (for plots of error
    against x; NaN results count as inf).

    Maxima: ``max_ulp`` is the largest error over every judged input, the headline figure: NaN when
    some result is NaN where the truth is a number (``nan_count``), else inf when some result is
    infinite where the truth is finite (``nonfinite_count``) or finite where it is infinite, else the
    largest finite error. ``max_finite_ulp`` is the largest finite error (NaN when there is none), with
    its input first in ``worst_finite`` (the largest finite errors, whatever their size); ``worst``
    lists the inputs erring by more than 1/2 ulp, non-numbers first. Both maxima and every error in
    ``worst`` and ``worst_finite`` are computed with arb (to 2**-60 ulp), so they do not depend on the
    machine; ``mean_ulp``, the histogram and the profile come from the float64 fast path (within
    2**-20 ulp of the truth each). ``code_path``: the instruction-set path the target reported
    (``{"path": "avx2", ...}``, :meth:`targets.Target.code_path`), which certificates select on.

    Search (sampled input sets, :func:`judge` with ``search=True``): ``switch_jumps`` also holds the
    switches found that the target does not declare (``discovered``: :mod:`engine.switches`), and the maxima
    include what the local search around the worst inputs and both sides of every switch found
    (:mod:`engine.refine`); ``worst_source`` says where the largest finite error was found ("sample",
    "boundary": a boundary set, "search", or "exhaustive": every input judged), ``search_points`` how many
    inputs the search evaluated.
    """

    target: str
    format: str
    fn: str
    beta: float
    threshold: float | None
    status: str = "ok"
    reason: str | None = None
    schema_version: int = SCHEMA_VERSION
    device: str = "cpu"
    mode: str = ""
    seed: int | None = None
    n_inputs: int = 0
    max_ulp: float = math.nan      # the true maximum: see the class doc
    max_finite_ulp: float = math.nan
    mean_ulp: float = math.nan
    worst_input: float | None = None
    worst: list[WorstInput] = field(default_factory=list)
    worst_finite: list[WorstInput] = field(default_factory=list)
    histogram: dict[str, int] = field(default_factory=dict)
    error_profile: list[list[float]] = field(default_factory=list)
    correctly_rounded_fraction: float = math.nan
    nonfinite_count: int = 0
    nan_count: int = 0
    overflow_onset: float | None = None
    true_overflow_onset: float | None = None
    underflow_onset: float | None = None
    true_underflow_onset: float | None = None
    monotonicity_violations: int = 0
    monotonicity_examples: list[list[float]] = field(default_factory=list)
    switch_jumps: list[SwitchJump] = field(default_factory=list)
    threshold_jump_ulp: float | None = None
    safe_threshold: float | None = None
    property_failures: dict[str, int] = field(default_factory=dict)
    property_examples: dict[str, list[float]] = field(default_factory=dict)
    special_values: dict[str, dict[str, Any]] = field(default_factory=dict)
    code_path: dict[str, str] = field(default_factory=dict)
    worst_source: str = ""
    search_points: int = 0
    elapsed_s: float = 0.0

    @property
    def path(self) -> str:
        """The instruction-set path label ("avx512", "avx2", ...; "" where none was recorded)."""
        return self.code_path.get("path", "")

    @property
    def case(self) -> Case:
        """The format × function × (β, threshold) judged."""
        return Case(self.format, self.fn, self.beta, self.threshold)

    @property
    def params(self) -> str:
        """β and threshold as people write them: "beta=1, threshold=default"."""
        return params_text(self.beta, self.threshold)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: non-finite floats become the strings "inf", "-inf", "nan"."""
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Verdict":
        """The Verdict of a record of this schema, or of schemas 3 and 4 (upgraded: see :func:`_upgrade_3`;
        a schema-4 record gains ``worst_source`` "" and ``search_points`` 0: it was not searched)."""
        d = from_json_safe(dict(d))
        if d.get("schema_version") == 3:
            d = _upgrade_3(d)
        if d.get("schema_version") == 4:  # the new fields keep their defaults: nothing was searched
            d["schema_version"] = SCHEMA_VERSION
        d["worst"] = [WorstInput(**w) for w in d.get("worst", [])]
        d["worst_finite"] = [WorstInput(**w) for w in d.get("worst_finite", [])]
        d["switch_jumps"] = [SwitchJump(**s) for s in d.get("switch_jumps", [])]
        return cls(**d)


def true_max(max_over_numbers: float, nan_count: int, nonfinite_count: int) -> float:
    """The headline maximum (see :class:`Verdict`) from the maximum over the results that are numbers
    (NaN where there are none) and the counts of NaN and of non-finite results where a number is due."""
    if nan_count:
        return math.nan
    if nonfinite_count:
        return math.inf
    return max_over_numbers


def _upgrade_3(d: dict[str, Any]) -> dict[str, Any]:
    """A schema-3 record as schema 4: its ``max_ulp`` (over the results that were numbers, from the fast
    path) becomes ``max_finite_ulp`` where it is finite, and the true maximum is derived from the counts;
    ``worst_finite`` is unknown (empty) and the code path is what the report's environment says
    (``code_path`` set by the caller, else empty)."""
    d = dict(d)
    old = d.get("max_ulp", math.nan)
    d["max_finite_ulp"] = old if math.isfinite(old) else math.nan
    d["max_ulp"] = true_max(old, d.get("nan_count", 0), d.get("nonfinite_count", 0))
    d["schema_version"] = 4
    d.setdefault("code_path", {})
    return d


def finish_verdict(v: Verdict, t: Tally, f: Format, call: Callable | None = None) -> None:
    """Fill ``v``'s measurements from the tally of all its inputs. With the target's ``call``, an onset
    whose bad input is not next to the nearest good one is sharpened by bisection on the target."""
    v.nan_count, v.nonfinite_count = t.nan_count, t.nonfinite_count
    v.worst = [WorstInput(x, y, r, e) for _, _, x, y, r, e in t.worst]
    v.worst_finite = [WorstInput(x, y, r, e) for _, _, x, y, r, e in t.top_finite]
    v.max_finite_ulp = v.worst_finite[0].ulp if v.worst_finite else math.nan
    # an infinite error among the numbers (a finite result where the truth is infinite) counts as well
    infinite = t.nonfinite_count + int(t.max_ulp is not None and math.isinf(t.max_ulp))
    v.max_ulp = true_max(v.max_finite_ulp, t.nan_count, infinite)
    v.mean_ulp = t.mean_ulp
    v.correctly_rounded_fraction = t.correct / t.n if t.n else math.nan
    v.histogram = dict(t.histogram)
    v.error_profile = t.error_profile()
    v.worst_input = v.worst[0].x if v.worst else None
    v.overflow_onset = _onset(f, t.over_good, t.over_bad, call, _overflows)
    v.underflow_onset = _onset(f, t.under_good, t.under_bad, call, _underflows)
    v.true_overflow_onset, v.true_underflow_onset = t.true_over, t.true_under
    v.monotonicity_violations, v.monotonicity_examples = t.monotonicity, [list(e) for e in t.monotonicity_examples]
    v.property_failures = dict(t.property_failures)
    v.property_examples = {k: list(e) for k, e in t.property_examples.items()}
    v.special_values = {k: dict(d) for k, d in t.specials.items()}


def boundary_measurements(v: Verdict, call, f: Format, fn: str, beta: float, switches: list[float],
                          linear: np.ndarray | None) -> None:
    """The parts of a verdict measured at chosen inputs rather than over the input set: the jump at each
    switch point (one target call per switch) and, for softplus, the safe threshold."""
    v.switch_jumps = [j for j in (measure_jump(s, call, f, fn, beta) for s in switches) if j is not None]
    if v.switch_jumps:
        v.threshold_jump_ulp = max(j.jump_ulp for j in v.switch_jumps)
    if fn == "softplus":
        onset = _linear_onset(f, beta, linear)
        v.safe_threshold = None if onset is None else onset * beta


def _bisect(f: Format, good: float, bad: float, is_bad: Callable[[np.ndarray], bool]) -> float:
    """The format value nearest ``good`` on the way to ``bad`` for which ``is_bad`` holds (one crossing
    assumed, ``is_bad(bad)`` true); ~log2(distance) target calls."""
    g, b = (int(k) for k in ordered_keys(f, np.array([good, bad])))

    def value(k: int) -> np.ndarray:
        return from_ordered_keys(f, [k])

    if g < b:  # bad above good: is_bad goes false ... true upwards
        k = partition_point(lambda k: is_bad(value(k)), g + 1, b)
    else:  # bad below good: "not bad" goes false ... true upwards
        k = partition_point(lambda k: not is_bad(value(k)), b, g - 1) - 1
    return float(to_float64(value(k))[0])


def _overflows(call, xx) -> bool:
    try:
        with np.errstate(all="ignore"):
            return not np.isfinite(to_float64(call(xx))[0])
    except Exception:  # noqa: BLE001 — a failure there counts as "no number", like an overflow
        return True


def _underflows(call, xx) -> bool:
    try:
        return to_float64(call(xx))[0] == 0
    except Exception:  # noqa: BLE001
        return True


def _onset(f: Format, good: float | None, bad: float | None, call, is_bad) -> float | None:
    """The first bad input on the way from ``good`` to ``bad``: ``bad`` itself when nothing lies between
    them (always so for an exhaustive input set), else found by bisection on the target if it is here."""
    if bad is None or good is None:
        return bad
    g, b = (int(k) for k in ordered_keys(f, np.array([good, bad])))
    if abs(g - b) <= 1 or call is None:
        return bad
    return _bisect(f, good, bad, lambda xx: is_bad(call, xx))


def _linear_onset(f: Format, beta: float, lin: np.ndarray | None) -> float | None:
    """The smallest x from which softplus_β(x) correctly rounds to x itself (from the boundary set)."""
    if lin is None or lin.size == 0:
        return None
    xs = to_float64(lin)
    ys = to_float64(correctly_rounded(lin, "softplus", beta))
    ok = np.flatnonzero((ys == xs) & (xs > 0))
    return float(xs[ok].min()) if ok.size else None
