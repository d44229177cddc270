"""The judge: one target, one format, one function, one (β, threshold) — measured against the oracle.

:func:`judge` is the only place where a target's results are compared with the truth; the certification
tests, the reports and the command line all call it and read the :class:`~engine.verdict.Verdict` it
returns. It picks the inputs (:mod:`engine.inputs`), measures them chunk by chunk (:mod:`engine.measure`:
here, or spread over an :class:`~engine.execute.Executor`'s workers for a large sample), fills the
verdict (:mod:`engine.verdict`) and searches beyond the input set (:mod:`engine.switches`,
:mod:`engine.refine`).

Units: every error is in ulps of the format under test, as :func:`oracle.ulp_error` defines them.
"""

from __future__ import annotations

import math
import time

import numpy as np

from engine.case import Case
from engine.defaults import SEED
from engine.execute import Executor, LocalPool
from engine.exhaustive import run_exhaustive
from engine.inputs import InputSet, from_ordered_keys, input_set, ordered_keys
from engine.measure import (
    CHUNK,
    ChunkFailed,
    ExhaustiveFailed,
    failure_reason,
    finite_before,
    measure_chunk,
    sample_chunks,
    tally_chunks,
)
from engine.refine import refine_worst
from engine.switches import MAX_DISCOVERED, SwitchJump, discover_switches
from engine.tally import HISTOGRAM_EDGES, PROFILE_BINS, Tally, same_results
from engine.verdict import SCHEMA_VERSION, Verdict, WorstInput, boundary_measurements, finish_verdict, true_max
from oracle.evaluate import to_float64
from oracle.files import from_json_safe, json_safe
from oracle.formats import Format
from oracle.implementation import (
    caller,
    checked_output,
    code_path_of,
    describe_failure,
    previous_failure,
    switch_points_of,
    unsupported_reason,
)

# judge() and search_beyond() are this module's own; the rest is re-exported for the callers that have
# always found the judge's vocabulary here
__all__ = ["judge", "search_beyond", "SEARCH_STARTS",
           "SCHEMA_VERSION", "Verdict", "true_max", "WorstInput", "SwitchJump", "HISTOGRAM_EDGES", "PROFILE_BINS",
           "CHUNK", "measure_chunk", "tally_chunks", "sample_chunks", "finite_before", "finish_verdict",
           "boundary_measurements", "ChunkFailed", "ExhaustiveFailed", "checked_output", "describe_failure",
           "json_safe", "from_json_safe", "same_results", "switch_points_of", "unsupported_reason",
           "previous_failure", "code_path_of"]


def judge(target, fmt: str | Format | Case, fn: str = "softplus", beta: float = 1.0,
          threshold: float | None = None, inputs: InputSet | None = None, n: int | None = None,
          seed: int = SEED, worst_k: int = 10, chunk: int = CHUNK, jobs: int | None = None,
          search: bool = True, executor: Executor | None = None) -> Verdict:
    """Measure ``target`` (a :class:`targets.Target`) on one case and return its Verdict: the case is
    ``fmt`` itself where it is a :class:`~engine.case.Case`, else that of the four arguments.

    ``inputs`` defaults to :func:`engine.inputs.input_set` for the format (exhaustive for ≤ 16-bit formats,
    a seeded bit-uniform sample of ``n`` plus the boundary sets otherwise), with the target's switch points.
    The inputs are measured ``chunk`` at a time (the result does not depend on it), spread over the
    ``executor``'s workers (or a local pool of ``jobs`` worker processes) when there are more than two chunks
    (default: this process only). A target that declines the combination gives status "unsupported"; one that raises,
    or returns the wrong dtype or shape, gives status "error" with the cause — never an exception from here.
    ``search``: find undeclared switches and refine the worst case (see :class:`Verdict`; a few thousand
    extra inputs at most, deterministic for the seed); False measures the input set alone.
    """
    case = Case.of(fmt, fn, beta, threshold)
    f, fn, beta, threshold = case.format, case.fn, case.beta, case.threshold
    v = Verdict(target=target.name, format=f.name, fn=fn, beta=beta, threshold=threshold,
                device=getattr(target, "device", "cpu"))
    start = time.perf_counter()
    reason = unsupported_reason(target, f.name, beta, threshold)
    if reason is not None:
        v.status, v.reason = "unsupported", reason
        return v
    gone = previous_failure(target, f.name, fn)
    if gone is not None:  # it hung or crashed on this kind of call already: one timeout per run is enough
        v.status, v.reason = "error", gone
        return v
    switches = switch_points_of(target, f.name, beta, threshold)
    if inputs is None:
        inputs = input_set(f, fn, beta, switch_points=switches, n=n, seed=seed)
    v.mode, v.seed, v.n_inputs = inputs.mode, inputs.seed, int(inputs.x.size)
    v.code_path = code_path_of(target)
    call = caller(target, fn, beta, threshold)
    x = inputs.x  # in increasing x, NaN last: the order a Tally needs
    try:
        tally = _measure_all(target, call, x, case, chunk, worst_k, jobs, executor)
    except ChunkFailed as failed:
        v.status, v.reason = "error", failure_reason(call, failed.x, failed.cause)
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
    (:func:`engine.switches.discover_switches`), and — for a sampled set — the worst case refined around the
    largest errors and both sides of every switch (:func:`engine.refine.refine_worst`). Sets
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


def _measure_all(target, call, x: np.ndarray, case: Case, chunk: int, worst_k: int, jobs: int | None,
                 executor: Executor | None) -> Tally:
    """The tally of every input of x (in increasing x), chunk by chunk: in this process, or on the
    ``executor`` (default: a local pool of ``jobs`` workers, where ``jobs`` > 1) when there are more than two
    chunks. ChunkFailed / ExhaustiveFailed on failure."""
    if executor is None and jobs and jobs > 1:
        executor = LocalPool(jobs)
    if executor is not None and executor.remote and x.size > 2 * chunk:
        return run_exhaustive(target, case, values=x, executor=executor, chunk=chunk, worst_k=worst_k)
    before = finite_before(x)
    return tally_chunks(call, case, sample_chunks(x, chunk, before), int(before[-1]), worst_k)
