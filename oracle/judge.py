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
from .ulp import ulp_error, ulp_exponent_f64

__all__ = ["SCHEMA_VERSION", "Verdict", "WorstInput", "SwitchJump", "judge", "HISTOGRAM_EDGES", "PROFILE_BINS",
           "checked_output", "describe_failure", "json_safe", "from_json_safe", "same_results", "switch_points_of", "unsupported_reason"]

#: Version of the Verdict record layout (bump on any change of field names or meanings).
SCHEMA_VERSION = 2

#: Upper edges of the ulp-error histogram bins; then "inf" (infinite error) and "nan" (NaN result).
HISTOGRAM_EDGES = (0.5, 1.0, 2.0, 4.0, 16.0, 256.0, math.inf)

#: Number of runs the error profile (error against x, for plots) is cut into.
PROFILE_BINS = 128

_LOG2 = math.log(2.0)


@dataclass
class WorstInput:
    """One input with its result, the correctly rounded result, and the error in ulps."""

    x: float
    result: float
    correct: float
    ulp: float


@dataclass
class SwitchJump:
    """The two format values straddling a formula switch of the implementation, and what happens there.

    ``jump_ulp``: |(y(above) − y(below)) − (f(above) − f(below))| in ulps of f near the switch — how much
    the implementation's step between neighbours differs from the true step. ``error_*_ulp``: the signed
    errors on each side. ``neighbourhood``: [x, signed error] for the 16 format values on each side.
    """

    at: float
    below: float
    above: float
    error_below_ulp: float
    error_above_ulp: float
    jump_ulp: float
    neighbourhood: list[list[float]] = field(default_factory=list)  # [x, signed error in ulps], ±16 values


@dataclass
class Verdict:
    """Everything measured for one target × format × function × (β, threshold).

    ``status``: "ok" (measured), "unsupported" (the target declines; ``reason`` says why) or "error" (the
    target raised or returned garbage; ``reason`` says what). Only "ok" verdicts carry measurements.
    ``error_profile``: the finite inputs in increasing order cut into at most PROFILE_BINS runs of
    consecutive inputs, each [x_first, x_last, max error, mean error] in ulps (for plots of error
    against x; NaN results count as inf).
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
    max_ulp: float = math.nan      # over results that are numbers; see nonfinite_count and nan_count
    mean_ulp: float = math.nan
    worst_input: float | None = None
    worst: list[WorstInput] = field(default_factory=list)
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
    elapsed_s: float = 0.0

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
        d = from_json_safe(dict(d))
        d["worst"] = [WorstInput(**w) for w in d.get("worst", [])]
        d["switch_jumps"] = [SwitchJump(**s) for s in d.get("switch_jumps", [])]
        return cls(**d)


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

def judge(target, fmt: str | Format, fn: str = "softplus", beta: float = 1.0,
          threshold: float | None = None, inputs: InputSet | None = None, n: int | None = None,
          seed: int = 0, worst_k: int = 10) -> Verdict:
    """Measure ``target`` (a :class:`targets.Target`) on one combination and return its Verdict.

    ``inputs`` defaults to :func:`oracle.inputs.input_set` for the format (exhaustive for ≤ 16-bit formats,
    a seeded bit-uniform sample of ``n`` plus the boundary sets otherwise), with the target's switch points.
    A target that declines the combination gives status "unsupported"; one that raises, or returns the
    wrong dtype or shape, gives status "error" with the cause — never an exception from here.
    """
    f, beta = check_params(fmt, fn, beta, threshold)
    v = Verdict(target=target.name, format=f.name, fn=fn, beta=beta, threshold=threshold,
                device=getattr(target, "device", "cpu"))
    start = time.perf_counter()
    reason = unsupported_reason(target, f, beta, threshold)
    if reason is not None:
        v.status, v.reason = "unsupported", reason
        return v
    switches = switch_points_of(target, f, beta, threshold)
    if inputs is None:
        inputs = input_set(f, fn, beta, switch_points=switches, n=n, seed=seed)
    v.mode, v.seed, v.n_inputs = inputs.mode, inputs.seed, int(inputs.x.size)
    call = _caller(target, fn, beta, threshold)
    x = inputs.x
    try:
        y = checked_output(call(x), x)
    except Exception as exc:  # noqa: BLE001 — a broken target is a finding, not a crash of the judge
        v.status, v.reason = "error", _failure_reason(call, x, exc)
        v.elapsed_s = time.perf_counter() - start
        return v

    ref = correctly_rounded(x, fn, beta)
    err = ulp_error(y, x, fn, beta, rounded=ref)
    _accuracy(v, x, y, ref, err, f, worst_k)
    _onsets(v, x, y, ref, inputs, call, f)
    v.monotonicity_violations, v.monotonicity_examples = _monotonicity(x, y)
    _properties(v, x, y, call, f, fn, beta)
    _specials(v, x, y, ref, f)
    v.switch_jumps = [_jump(s, call, f, fn, beta) for s in switches]
    v.switch_jumps = [j for j in v.switch_jumps if j is not None]
    if v.switch_jumps:
        v.threshold_jump_ulp = max(j.jump_ulp for j in v.switch_jumps)
    if fn == "softplus":
        lin = inputs.boundaries.get("linear_branch")
        onset = _linear_onset(f, beta, lin)
        v.safe_threshold = None if onset is None else onset * beta
    v.elapsed_s = time.perf_counter() - start
    return v


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
    from targets.isolation import TargetCrashed, TargetTimeout

    what = describe_failure(exc)
    if isinstance(exc, (TargetCrashed, TargetTimeout)) or x.size <= 1:
        return what if x.size != 1 else f"{what} (x = {float(to_float64(x)[0])!r})"

    def fails(lo: int, hi: int) -> bool:
        try:
            checked_output(call(x[lo:hi]), x[lo:hi])
            return False
        except (TargetCrashed, TargetTimeout):
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
    except (TargetCrashed, TargetTimeout) as later:
        return f"{what}; then {describe_failure(later)}"
    if not bad:
        return f"{what} (only on the whole array: no smaller part fails)" if not todo else what
    first = float(to_float64(x[min(bad):min(bad) + 1])[0])
    count = f"{len(bad):,}" if not todo else f"at least {len(bad):,}"
    return f"{what} on {count} of {x.size:,} inputs; first: x = {first!r}"


def unsupported_reason(target, f: Format, beta: float, threshold) -> str | None:
    avail = target.availability()
    if avail is not None:
        return f"unavailable: {avail}"
    return target.check(f.name, beta, threshold)


def switch_points_of(target, f: Format, beta, threshold) -> list[float]:
    get = getattr(target, "switch_points", None)
    return [float(s) for s in (get(f.name, beta, threshold) if get else []) if math.isfinite(s)]


def _caller(target, fn: str, beta: float, threshold) -> Callable[[np.ndarray], np.ndarray]:
    method = target.softplus if fn == "softplus" else target.softplus_grad
    return lambda x: method(x, beta, threshold)


def same_results(a: np.ndarray, b: np.ndarray, f: Format) -> np.ndarray:
    """Elementwise: bit-identical in format ``f`` (−0 and +0 differ), or both NaN whatever the payload."""
    both_nan = np.isnan(to_float64(a)) & np.isnan(to_float64(b))
    return (f.to_bits(a) == f.to_bits(b)) | both_nan


def _accuracy(v: Verdict, x, y, ref, err, f: Format, worst_k: int) -> None:
    xf, yf, rf = to_float64(x), to_float64(y), to_float64(ref)
    judged = ~np.isnan(xf)
    e = err[judged]
    v.nan_count = int((np.isnan(yf) & ~np.isnan(rf))[judged].sum())  # NaN where a number is due
    finite_x = np.isfinite(xf)
    wrong_nonfinite = finite_x & ~np.isfinite(yf) & np.isfinite(rf)
    v.nonfinite_count = int(wrong_nonfinite.sum())
    # max_ulp covers the results that are numbers (or the right inf); NaN and overflow where the truth is
    # finite are counted apart (nan_count, nonfinite_count) and budgeted apart, not folded into an "inf".
    numeric = err[judged & ~wrong_nonfinite & ~np.isnan(err)]
    v.max_ulp = float(numeric.max()) if numeric.size else math.nan
    finite_e = numeric[np.isfinite(numeric)]
    v.mean_ulp = float(finite_e.mean()) if finite_e.size else math.nan
    v.correctly_rounded_fraction = float(same_results(y, ref, f).mean()) if y.size else math.nan
    v.histogram = _histogram(e)
    v.error_profile = _profile(xf, err)
    order = np.argsort(np.where(np.isnan(err), math.inf, err), kind="stable")[::-1]
    order = [i for i in order if not np.isnan(xf[i])][:worst_k]
    v.worst = [WorstInput(float(xf[i]), float(yf[i]), float(rf[i]), float(err[i])) for i in order
               if err[i] > 0.5 or np.isnan(err[i])]
    v.worst_input = v.worst[0].x if v.worst else None


def _profile(xf: np.ndarray, err: np.ndarray) -> list[list[float]]:
    fin = np.isfinite(xf)
    order = np.argsort(xf[fin], kind="stable")
    xs, es = xf[fin][order], np.where(np.isnan(err[fin]), math.inf, err[fin])[order]
    out = []
    for idx in np.array_split(np.arange(xs.size), min(PROFILE_BINS, xs.size)):
        if idx.size:
            chunk = es[idx]
            finite = chunk[np.isfinite(chunk)]
            out.append([float(xs[idx[0]]), float(xs[idx[-1]]), float(chunk.max()),
                        float(finite.mean()) if finite.size else math.inf])
    return out


def _histogram(e: np.ndarray) -> dict[str, int]:
    out: dict[str, int] = {}
    lo = -math.inf
    for hi in HISTOGRAM_EDGES:
        label = "inf" if hi == math.inf else f"<={hi:g}"
        out[label] = int(((e > lo) & (e <= hi)).sum()) if hi != math.inf else int((e == math.inf).sum())
        lo = hi
    out["nan"] = int(np.isnan(e).sum())
    return out


# --- onsets: found among the judged inputs, then sharpened by bisection on the target itself -----------------

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


def _onsets(v: Verdict, x, y, ref, inputs: InputSet, call, f: Format) -> None:
    xf, yf, rf = to_float64(x), to_float64(y), to_float64(ref)
    fin = np.isfinite(xf)
    # overflow: the smallest positive input with a non-finite result where the truth is finite
    over = fin & (xf > 0) & ~np.isfinite(yf) & np.isfinite(rf)
    if over.any():
        bad = float(xf[over].min())
        ok_below = fin & (xf >= 0) & (xf < bad) & np.isfinite(yf)
        good = float(xf[ok_below].max()) if ok_below.any() else 0.0

        def overflows(xx):
            try:
                with np.errstate(all="ignore"):
                    return not np.isfinite(to_float64(call(xx))[0])
            except Exception:  # noqa: BLE001 — a failure there counts as "no number", like an overflow
                return True
        v.overflow_onset = _bisect(f, good, bad, overflows) if ok_below.any() else bad
    true_over = fin & ~np.isfinite(rf)
    if true_over.any():
        v.true_overflow_onset = float(xf[true_over].min())
    # underflow: the largest negative input returning 0 where the truth is a positive number of the format
    under = fin & (xf < 0) & (yf == 0) & (rf > 0)
    if under.any():
        bad = float(xf[under].max())
        ok_above = fin & (xf > bad) & (xf <= 0) & (yf > 0)
        good = float(xf[ok_above].min()) if ok_above.any() else 0.0

        def underflows(xx):
            try:
                return to_float64(call(xx))[0] == 0
            except Exception:  # noqa: BLE001
                return True
        v.underflow_onset = _bisect(f, good, bad, underflows) if ok_above.any() else bad
    true_under = fin & (rf == 0)
    if true_under.any():
        v.true_underflow_onset = float(xf[true_under].max())


def _monotonicity(x, y) -> tuple[int, list[list[float]]]:
    """Count of adjacent (in value) input pairs whose results decrease; the first few as examples."""
    xf, yf = to_float64(x), to_float64(y)
    keep = ~np.isnan(xf) & ~np.isnan(yf)
    xs, ys = xf[keep], yf[keep]
    order = np.lexsort((ys, xs))  # ties in x (±0) ordered by y: not a violation
    xs, ys = xs[order], ys[order]
    drop = np.flatnonzero(ys[1:] < ys[:-1])
    return int(drop.size), [[float(xs[i]), float(xs[i + 1]), float(ys[i]), float(ys[i + 1])] for i in drop[:5]]


def _ulp_f64(v: np.ndarray, f: Format) -> np.ndarray:
    return np.ldexp(1.0, ulp_exponent_f64(v, f))


def _properties(v: Verdict, x, y, call, f: Format, fn: str, beta: float) -> None:
    """Bounds and the odd/even identities, each within the rounding a correct result may carry."""
    xf, yf = to_float64(x), to_float64(y)
    sel = np.isfinite(xf) & np.isfinite(yf)
    fails: dict[str, np.ndarray] = {}
    with np.errstate(all="ignore"):
        if fn == "softplus":
            base = np.maximum(xf, 0.0)
            top = base + _LOG2 / beta
            fails["lower_bound"] = sel & (yf < base)
            fails["upper_bound"] = sel & (yf > top + _ulp_f64(top, f) / 2 * (1 + 2.0 ** -40))
        else:
            fails["range_0_1"] = sel & ((yf < 0) | (yf > 1))
        try:
            ym = to_float64(call(-x))
        except Exception:  # noqa: BLE001 — the main call worked; a failure here shows as a property failure
            ym = np.full(xf.shape, np.nan)
        both = sel & np.isfinite(ym)
        tol = (_ulp_f64(yf, f) + _ulp_f64(ym, f)) / 2
        if fn == "softplus":
            # softplus(x) − softplus(−x) = x, exactly; float64 evaluation adds < 2**-50 relative
            lhs, rhs = yf - ym, xf
        else:
            lhs, rhs = yf + ym, np.ones_like(xf)  # sigmoid(x) + sigmoid(−x) = 1
        gap = np.abs(lhs - rhs)
        fails["identity"] = both & (gap > tol * (1 + 2.0 ** -30) + np.abs(rhs) * 2.0 ** -50)
    v.property_failures = {k: int(m.sum()) for k, m in fails.items()}
    v.property_examples = {k: [float(t) for t in xf[m][:5]] for k, m in fails.items() if m.any()}


def _specials(v: Verdict, x, y, ref, f: Format) -> None:
    xf = to_float64(x)
    names = {"+0": lambda a: (a == 0) & ~np.signbit(a), "-0": lambda a: (a == 0) & np.signbit(a),
             "+inf": lambda a: a == np.inf, "-inf": lambda a: a == -np.inf, "nan": np.isnan}
    same = same_results(y, ref, f)
    for name, pick in names.items():
        idx = np.flatnonzero(pick(xf))
        if idx.size:
            i = idx[0]
            v.special_values[name] = {"result": float(to_float64(y[i:i + 1])[0]),
                                      "expected": float(to_float64(ref[i:i + 1])[0]), "ok": bool(same[i])}


def _jump(s: float, call, f: Format, fn: str, beta: float) -> SwitchJump | None:
    """The jump across switch point s, between the last format value at or below s and the first above
    it, with the signed errors of 16 values on each side (one target call)."""
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
    e = ulp_error(ys, xs, fn, beta, signed=True)
    return SwitchJump(at=s, below=float(xf[i]), above=float(xf[i + 1]),
                      error_below_ulp=float(e[i]), error_above_ulp=float(e[i + 1]),
                      jump_ulp=float(abs(e[i + 1] - e[i])),
                      neighbourhood=[[float(a), float(b)] for a, b in zip(xf, e)])


def _linear_onset(f: Format, beta: float, lin: np.ndarray | None) -> float | None:
    """The smallest x from which softplus_β(x) correctly rounds to x itself (from the boundary set)."""
    if lin is None or lin.size == 0:
        return None
    xs = to_float64(lin)
    ys = to_float64(correctly_rounded(lin, "softplus", beta))
    ok = np.flatnonzero((ys == xs) & (xs > 0))
    return float(xs[ok].min()) if ok.size else None
