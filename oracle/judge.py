"""The judge: one target, one format, one function, one (β, threshold) — measured against the oracle.

:func:`judge` is the only place where a target's results are compared with the truth; the certification
tests, the reports and the command line all call it and read the :class:`Verdict` it returns.

Units: every error is in ulps of the format under test, as :func:`oracle.ulp_error` defines them (Goldberg
ulp of the exact value, subnormal floor). Inputs and results are reported as Python floats (exact: every
supported format widens to float64 exactly).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from .evaluate import check_params, correctly_rounded, to_float64
from .formats import Format
from .inputs import InputSet, from_ordered_keys, input_set, ordered_keys, partition_point, switch_neighbours
from .refine import refine_worst
from .switches import MAX_DISCOVERED, SwitchJump, discover_switches, measure_jump
from .tally import HISTOGRAM_EDGES, PROFILE_BINS, Tally, same_results
from .ulp import errors_and_rounding, exact_error, ulp_error

__all__ = ["SCHEMA_VERSION", "Verdict", "true_max", "code_path_of", "WorstInput", "SwitchJump", "judge",
           "HISTOGRAM_EDGES", "PROFILE_BINS",
           "CHUNK", "measure_chunk", "tally_chunks", "sample_chunks", "finite_before", "finish_verdict", "boundary_measurements", "ChunkFailed", "ExhaustiveFailed",
           "checked_output", "describe_failure", "json_safe", "from_json_safe", "same_results", "switch_points_of",
           "unsupported_reason", "previous_failure", "search_beyond", "SEARCH_STARTS"]

#: Version of the Verdict record layout (bump on any change of field names or meanings).
#: 3: histogram bin ">256"; monotonicity never compares −0 with +0; means summed exactly.
#: 4: ``max_ulp`` is the true maximum (inf where a result is infinite or NaN where the truth is a number,
#: NaN where a NaN result is among them), ``max_finite_ulp`` and ``worst_finite`` the largest finite
#: errors; worst inputs and maxima computed rigorously; ``code_path``: the target's instruction-set path.
#: 5: switches the target does not declare are discovered (``SwitchJump.discovered``) and the worst case
#: refined by a local search (``worst_source``: "sample", "boundary", "search" or "exhaustive";
#: ``search_points``: inputs the search evaluated).
SCHEMA_VERSION = 5

#: Inputs measured per pass: bounds the float64 temporaries to a few hundred MB.
CHUNK = 1 << 20


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
    switches found that the target does not declare (``discovered``: :mod:`oracle.switches`), and the maxima
    include what the local search around the worst inputs and both sides of every switch found
    (:mod:`oracle.refine`); ``worst_source`` says where the largest finite error was found ("sample",
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
    def params(self) -> str:
        """β and threshold as people write them: "beta=1, threshold=default"."""
        t = "default" if self.threshold is None else f"{self.threshold:g}"
        return f"beta={self.beta:g}, threshold={t}"

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


def json_safe(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, dict):
        return {k: json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    return v


_SPECIAL_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def from_json_safe(v):
    if isinstance(v, str) and v in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[v]
    if isinstance(v, dict):
        return {k: from_json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [from_json_safe(x) for x in v]
    return v


# --- the measurement ---------------------------------------------------------------------------------------

class ExhaustiveFailed(RuntimeError):
    """The target failed (raised, returned garbage, crashed or hung) in a pool's worker
    (:mod:`oracle.exhaustive`); the message is the whole reason."""


class ChunkFailed(Exception):
    """The target failed on a chunk: ``x`` the chunk, ``cause`` what it raised."""

    def __init__(self, x: np.ndarray, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.x, self.cause = x, cause


def judge(target, fmt: str | Format, fn: str = "softplus", beta: float = 1.0,
          threshold: float | None = None, inputs: InputSet | None = None, n: int | None = None,
          seed: int = 0, worst_k: int = 10, chunk: int = CHUNK, jobs: int | None = None,
          search: bool = True) -> Verdict:
    """Measure ``target`` (a :class:`targets.Target`) on one combination and return its Verdict.

    ``inputs`` defaults to :func:`oracle.inputs.input_set` for the format (exhaustive for ≤ 16-bit formats,
    a seeded bit-uniform sample of ``n`` plus the boundary sets otherwise), with the target's switch points.
    The inputs are measured ``chunk`` at a time (the result does not depend on it), spread over ``jobs``
    worker processes when there are more than two chunks (:mod:`oracle.exhaustive`'s pool; default: this
    process only). A target that declines the combination gives status "unsupported"; one that raises,
    or returns the wrong dtype or shape, gives status "error" with the cause — never an exception from here.
    ``search``: find undeclared switches and refine the worst case (see :class:`Verdict`; a few thousand
    extra inputs at most, deterministic for the seed); False measures the input set alone.
    """
    f, beta = check_params(fmt, fn, beta, threshold)
    v = Verdict(target=target.name, format=f.name, fn=fn, beta=beta, threshold=threshold,
                device=getattr(target, "device", "cpu"))
    start = time.perf_counter()
    reason = unsupported_reason(target, f, beta, threshold)
    if reason is not None:
        v.status, v.reason = "unsupported", reason
        return v
    gone = previous_failure(target, f.name, fn)
    if gone is not None:  # it hung or crashed on this kind of call already: one timeout per run is enough
        v.status, v.reason = "error", gone
        return v
    switches = switch_points_of(target, f, beta, threshold)
    if inputs is None:
        inputs = input_set(f, fn, beta, switch_points=switches, n=n, seed=seed)
    v.mode, v.seed, v.n_inputs = inputs.mode, inputs.seed, int(inputs.x.size)
    v.code_path = code_path_of(target)
    call = _caller(target, fn, beta, threshold)
    x = inputs.x  # in increasing x, NaN last: the order a Tally needs
    try:
        tally = _measure_all(target, call, x, f, fn, beta, threshold, chunk, worst_k, jobs)
    except ChunkFailed as failed:
        v.status, v.reason = "error", _failure_reason(call, failed.x, failed.cause)
    except ExhaustiveFailed as failed:  # from the worker pool, with its reason complete
        v.status, v.reason = "error", str(failed)
    if v.status == "error":
        v.elapsed_s = time.perf_counter() - start
        return v
    finish_verdict(v, tally, f, call=call)
    boundary_measurements(v, call, f, fn, beta, switches, inputs.boundaries.get("linear_branch"))
    if search:
        search_beyond(v, call, f, fn, beta, tally, inputs)
    else:
        v.worst_source = _worst_source(v, inputs)
    v.elapsed_s = time.perf_counter() - start
    return v


#: Largest finite errors of the verdict the refinement starts from (besides both sides of every switch).
SEARCH_STARTS = 3


def search_beyond(v: Verdict, call, f: Format, fn: str, beta: float, tally: Tally,
                  inputs: InputSet | None = None) -> None:
    """What the input set only brushed, added to ``v``: the switches the tally's jump candidates lead to
    (:func:`oracle.switches.discover_switches`), and — for a sampled set — the worst case refined around the
    largest errors and both sides of every switch (:func:`oracle.refine.refine_worst`). Sets
    ``worst_source`` and ``search_points``."""
    _add_discovered(v, discover_switches(call, f, fn, beta, tally.jumps, v.switch_jumps))
    if v.mode != "sampled":
        v.worst_source = _worst_source(v, inputs)
        return
    starts = [w.x for w in v.worst_finite[:SEARCH_STARTS]]
    for j in v.switch_jumps:
        starts += [j.below, j.above]
    better = refine_worst(call, f, fn, beta, starts)
    v.search_points = better.points if better else 0
    if better is not None and not (better.ulp <= v.max_finite_ulp):  # (NaN: no finite error before)
        # the climb may have reached a switch the sample straddled without seeing (no sample point in
        # the region it spoils): try the two pairs of adjacent floats around the new worst input
        k = int(ordered_keys(f, [better.x])[0])
        xs = to_float64(from_ordered_keys(f, np.clip([k - 1, k, k + 1], -f.max_bits, f.max_bits)))
        near = [[0.0, 0, float(a), float(b), 0.0, 0.0, 0, 0] for a, b in ((xs[0], xs[1]), (xs[1], xs[2])) if a < b]
        _add_discovered(v, discover_switches(call, f, fn, beta, near, v.switch_jumps))
        w = WorstInput(better.x, better.result, better.correct, better.ulp)
        v.worst_finite = ([w] + [u for u in v.worst_finite if u.x != w.x])[:max(len(v.worst_finite), 1)]
        v.max_finite_ulp = w.ulp
        if not v.nan_count and not math.isinf(v.max_ulp):  # a NaN or an inf result still heads the maximum
            v.max_ulp = w.ulp
        if w.ulp > 0.5:
            numbers = [u for u in v.worst if math.isfinite(u.ulp) and u.x != w.x]
            others = [u for u in v.worst if not math.isfinite(u.ulp)]
            v.worst = (others + [w] + numbers)[:max(len(v.worst), 1)]
            v.worst_input = v.worst[0].x
        v.worst_source = "search"
        return
    v.worst_source = _worst_source(v, inputs)


def _add_discovered(v: Verdict, new: list[SwitchJump]) -> None:
    """``v``'s switches with ``new`` discovered ones: the declared ones, then at most MAX_DISCOVERED
    discovered ones (largest jump first); ``threshold_jump_ulp`` the largest jump of them all."""
    if not new:
        return
    declared = [j for j in v.switch_jumps if not j.discovered]
    found = sorted([j for j in v.switch_jumps if j.discovered] + new, key=lambda j: -j.jump_ulp)
    v.switch_jumps = declared + found[:MAX_DISCOVERED]
    v.threshold_jump_ulp = max(j.jump_ulp for j in v.switch_jumps)


def _worst_source(v: Verdict, inputs: InputSet | None) -> str:
    """Where the input of the largest finite error is from, without a search: "exhaustive" (every input
    judged), "boundary" (a boundary set holds it), "sample"; "" without a finite error."""
    if not v.worst_finite:
        return ""
    if v.mode == "exhaustive":
        return "exhaustive"
    x0 = v.worst_finite[0].x
    in_boundary = inputs is not None and any(
        np.any(to_float64(b) == x0) for b in inputs.boundaries.values() if np.size(b))
    return "boundary" if in_boundary else "sample"


def _measure_all(target, call, x: np.ndarray, f: Format, fn: str, beta: float, threshold, chunk: int,
                 worst_k: int, jobs: int | None) -> Tally:
    """The tally of every input of x (in increasing x), chunk by chunk: in this process, or on a pool of
    ``jobs`` workers when there are more than two chunks. ChunkFailed / ExhaustiveFailed on failure."""
    if jobs and jobs > 1 and x.size > 2 * chunk:
        from .exhaustive import run_exhaustive

        return run_exhaustive(target, f, fn, beta, threshold, values=x, jobs=jobs, chunk=chunk, worst_k=worst_k)
    before = finite_before(x)
    return tally_chunks(call, f, fn, beta, sample_chunks(x, chunk, before), int(before[-1]), worst_k)


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


def tally_chunks(call, f: Format, fn: str, beta: float, chunks, n_finite: int, worst_k: int) -> Tally:
    """The merged tally of (start, inputs, rank0) chunks in increasing x (see :func:`measure_chunk`)."""
    tally = None
    for start, x, rank0 in chunks:
        part = measure_chunk(call, x, f, fn, beta, start=start, rank0=rank0, n_finite=n_finite, worst_k=worst_k)
        tally = part if tally is None else tally.merge(part, worst_k)
    return tally


def measure_chunk(call: Callable[[np.ndarray], np.ndarray], x: np.ndarray, f: Format, fn: str, beta: float, *,
                  start: int, rank0: int, n_finite: int, worst_k: int = 10) -> Tally:
    """The target on one chunk of inputs in increasing x, measured against the oracle (see :class:`Tally`
    for ``start``, ``rank0`` and ``n_finite``). ChunkFailed if the target raises or returns garbage on it."""
    try:
        y = checked_output(call(x), x)
    except Exception as exc:  # noqa: BLE001 — a broken target is a finding, not a crash of the judge
        raise ChunkFailed(x, exc) from exc
    ref, err = errors_and_rounding(y, x, fn, beta)
    try:
        ym = checked_output(call(-x), x)
    except Exception:  # noqa: BLE001 — the main call worked; a failure here shows as a property failure
        ym = None
    return Tally.of_chunk(x, y, ref, err, ym, f, fn, beta, start=start, rank0=rank0, n_finite=n_finite,
                          worst_k=worst_k)


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


def describe_failure(exc: BaseException) -> str:
    # failures from an isolated worker already read "raised X: ...", "timed out ...", "crashed: SIGSEGV"
    from targets.isolation import TargetFailure

    return str(exc) if isinstance(exc, TargetFailure) else f"raised {type(exc).__name__}: {exc}"


def checked_output(y, x: np.ndarray) -> np.ndarray:
    """y itself if it is an array of x's dtype and shape; else a TypeError saying what came back."""
    from targets.base import output_problem

    problem = output_problem(y, x)
    if problem is not None:
        raise TypeError(problem)
    return y


def _failure_reason(call, x: np.ndarray, exc: BaseException, max_calls: int = 256) -> str:
    """The cause of a failed call in one line, with how many inputs fail where that can be told cheaply.

    Crashes and timeouts are not bisected (each costs a worker's restart); an exception is located by
    splitting the input in halves (at most ``max_calls`` calls): "raised ValueError: ... on 3 of 65,536
    inputs; first: x = 1.5".
    """
    from targets.isolation import NO_RETRY

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


def previous_failure(target, fmt: str, fn: str) -> str | None:
    """Why not to call an isolated target again for this kind of call (it hung or crashed on one: "skipped:
    …"), or None (always for a target in this process)."""
    from targets.isolation import previous_failure as remembered

    return remembered(target, fmt, fn)


def unsupported_reason(target, f: Format, beta: float, threshold) -> str | None:
    avail = target.availability()
    if avail is not None:
        return f"unavailable: {avail}"
    return target.check(f.name, beta, threshold)


def code_path_of(target) -> dict[str, str]:
    """The target's :meth:`code_path` as strings, {"path": "unknown", "error": ...} where it fails (a
    plugin's bug must not sink the verdict) and {} for an object without one."""
    get = getattr(target, "code_path", None)
    if get is None:
        return {}
    try:
        return {str(k): str(val) for k, val in dict(get()).items()}
    except Exception as exc:  # noqa: BLE001
        return {"path": "unknown", "error": f"{type(exc).__name__}: {exc}"}


def switch_points_of(target, f: Format, beta, threshold) -> list[float]:
    get = getattr(target, "switch_points", None)
    return [float(s) for s in (get(f.name, beta, threshold) if get else []) if math.isfinite(s)]


def _caller(target, fn: str, beta: float, threshold) -> Callable[[np.ndarray], np.ndarray]:
    method = target.softplus if fn == "softplus" else target.softplus_grad
    return lambda x: method(x, beta, threshold)


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
