"""Layout consistency: does a target's result for an input depend on where in a tensor the input sits?

An implementation can be right on a test vector and wrong in a model. Vectorised kernels compute the body of
a tensor with SIMD code and the tail with scalar code, and the two may disagree in the last bit (torch's CPU
softplus does for float32/float64 on AVX-512); strided views take other loops than contiguous ones; threads
split the work at places that move with the thread count. :func:`layout_check` computes every input in many
layouts and reports every input whose result changes: how many, the worst one, the two results and the layouts
that gave them, and the difference in ulps. Bit-identical results are the expectation; any difference is a
finding. Nothing here is judged against the truth: the oracle only supplies the ulp to measure differences in.

Layouts (names are stable; L, k and the sizes are numbers in the name):

* ``contiguous`` — the reference: one call on all inputs, C-contiguous, at the target's default thread count.
* ``len=L offset=k`` — k filler values (1.0), then the inputs, repeated cyclically up to a multiple of L, cut
  into consecutive tensors of length L, one call each (contiguous views of one buffer, so their start addresses
  vary too). L runs over w−1, w, w+1 for every SIMD width w (``widths``; default: the lanes of 256- and
  512-bit vectors for the format's item size and twice that for unrolled loops: 32/b, 64/b, 128/b for b bytes)
  and a large odd length (:data:`LONG_LENGTH`); k over :data:`OFFSETS` (k mod L; repeats dropped). An input
  thus meets the tail of a tensor at many positions.
* ``len=1`` — one call per input, on an evenly spread subset of :data:`SINGLE_INPUTS` inputs.
* ``strided[::2]`` — the inputs at every 2nd element of a buffer twice as long, passed as the ``[::2]`` view.
* ``transposed`` — the inputs (repeated cyclically) as an (R, m) C-order array with R = max(widths) + 1,
  passed as its ``.T``: a Fortran-ordered, non-C-contiguous (m, R) view.
* ``rows[:, :R]`` — the inputs as rows of R = w + 1 (w: the 512-bit lanes) in a buffer with rows of R + 3,
  passed as the ``[:, :R]`` view: dense rows with gaps between them, so each row has a body and a tail.
* ``len=N`` (N = :data:`THREAD_LENGTH`, odd and above torch's grain size of 32768, so the work is split
  between threads), ``threads=1`` and ``threads=all`` — the inputs repeated cyclically to N elements, called
  at the default thread count, then with ``target.set_threads(1)`` and ``set_threads(<usable CPUs>)``
  (``len=N`` tells a length effect from a thread effect). The thread count is restored (``set_threads(None)``)
  afterwards. A target whose ``set_threads`` returns False (or that has none) is not run in these two; the
  ``layouts`` list then says so ("threads=1 (skipped: ...)").

Results are compared bit for bit (NaN equals NaN, whatever the payload; −0 ≠ +0). An input *differs* when any
layout gives another result than ``contiguous``; where an input occurs several times in one layout, its first
differing occurrence counts. For each differing input the pair of layouts whose results lie farthest apart
is kept (``contiguous`` as the first where it is one of them), the distance in ulps of the format at the
correctly rounded value f(x) (Goldberg ulp, as :mod:`oracle.ulp`: |a − b| / ulp(f(x)); the largest finite
value's ulp where f(x) overflows; inf where one result is NaN or infinite and the other not).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from engine.case import Case
from engine.defaults import SEED
from engine.inputs import bit_uniform, every_value, switch_neighbours
from engine.tally import same_results
from engine.workers import default_jobs
from oracle.evaluate import check_beta, check_fn, correctly_rounded, to_float64
from oracle.files import from_json_safe, json_safe
from oracle.formats import Format, get_format
from oracle.implementation import (
    checked_output,
    code_path_of,
    describe_failure,
    previous_failure,
    switch_points_of,
    unsupported_reason,
)
from oracle.ulp import ulp_exponent_f64

__all__ = ["LayoutDifference", "LayoutReport", "layout_check", "default_widths", "default_inputs",
           "OFFSETS", "LONG_LENGTH", "THREAD_LENGTH", "SINGLE_INPUTS", "REALISTIC_RANGE", "MAX_EXAMPLES"]

#: Filler copies in front of the inputs (each taken mod L).
OFFSETS = (0, 3)
#: The large odd tensor length among the ``len=L`` layouts.
LONG_LENGTH = 4099
#: Length of the tensor of the thread layouts: odd, and 4 × torch's parallel grain (32768) and a bit.
THREAD_LENGTH = 4 * 32768 + 3
#: How many inputs the one-call-per-input layout ``len=1`` covers.
SINGLE_INPUTS = 256
#: Default inputs: half are drawn with |βx| ≤ this, where models live and SIMD and scalar code disagree.
REALISTIC_RANGE = 30.0
#: How many differing inputs a report lists.
MAX_EXAMPLES = 10

_FILLER = 1.0
_REFERENCE = "contiguous"


@dataclass
class LayoutDifference:
    """One input whose result depends on the layout: two of its results and the layouts that gave them.

    ``ulps``: |result_a − result_b| in ulps of the format at the correctly rounded f(x) (inf where one is NaN
    or infinite and the other not; 0 for −0 against +0).
    """

    x: float
    layout_a: str
    result_a: float
    layout_b: str
    result_b: float
    ulps: float


@dataclass
class LayoutReport:
    """Layout consistency of one target × format × function × (β, threshold).

    ``status``: "ok" (measured), "unsupported" or "error" (``reason`` says why; then nothing is measured).
    ``layouts``: the layout names run, the reference ``contiguous`` first; a layout not run appears as
    "NAME (skipped: why)". ``differing``: inputs with a result that differs between any two layouts;
    ``by_layout``: layout -> inputs whose result there differs from ``contiguous`` (every layout run, 0
    included). ``max_ulps``: the largest difference found (0.0 when none; NaN unless status is "ok");
    ``worst``: that input; ``examples``: up to MAX_EXAMPLES differing inputs, the largest differences first.
    ``calls``: target calls made (the reference included). ``code_path``: the target's instruction-set
    path (:attr:`engine.judge.Verdict.code_path`): layout effects come from SIMD bodies and scalar tails.
    """

    target: str
    format: str
    fn: str
    beta: float
    threshold: float | None
    status: str = "ok"
    reason: str | None = None
    n_inputs: int = 0
    layouts: list[str] = field(default_factory=list)
    differing: int = 0
    max_ulps: float = math.nan
    worst: LayoutDifference | None = None
    examples: list[LayoutDifference] = field(default_factory=list)
    by_layout: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    seed: int | None = None
    threads_all: int | None = None
    code_path: dict[str, str] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def path(self) -> str:
        return self.code_path.get("path", "")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: non-finite floats become the strings "inf", "-inf", "nan"."""
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LayoutReport":
        d = from_json_safe(dict(d))
        d["worst"] = LayoutDifference(**d["worst"]) if d.get("worst") else None
        d["examples"] = [LayoutDifference(**e) for e in d.get("examples", [])]
        return cls(**d)


# --- inputs and layouts ----------------------------------------------------------------------------------------

def default_widths(fmt: str | Format) -> list[int]:
    """SIMD lane counts to put tensor tails at: 256- and 512-bit vectors of the format's items, and 2 × 512 bit
    (loops unrolled twice; 2 × 256 bit is the 512-bit count)."""
    b = get_format(fmt).bits // 8
    return sorted({32 // b, 64 // b, 128 // b})


def default_inputs(fmt: str | Format, fn: str = "softplus", beta: float = 1.0, n: int = 2048, seed: int = SEED,
                   switch_points: Sequence[float] = ()) -> np.ndarray:
    """About ``n`` distinct finite inputs in a seeded random order.

    Half are drawn where models compute, |βx| ≤ REALISTIC_RANGE (uniform in float64, rounded to the format;
    for ≤ 16-bit formats drawn from the format's values there), half over the whole format (every finite value
    for ≤ 16-bit formats, bit-uniform otherwise; all of them where that is at most ``n``). Added: ±0, ±1, the
    smallest subnormal and normal, the largest finite, and the neighbours of the switch points given.
    """
    check_fn(fn)
    beta = check_beta(beta)
    f = get_format(fmt)
    rng = np.random.default_rng(seed)
    half = n // 2
    limit = REALISTIC_RANGE / beta
    if f.bits <= 16:
        pool = every_value(f)
        pool = pool[np.isfinite(to_float64(pool))]
        if pool.size <= n:
            parts = [pool]
        else:
            near = pool[np.abs(to_float64(pool)) <= limit]
            parts = [rng.choice(near, min(half, near.size), replace=False), rng.choice(pool, n - half, replace=False)]
    else:
        with np.errstate(over="ignore"):
            near = rng.uniform(-limit, limit, half).astype(f.dtype)
        parts = [near, bit_uniform(f, n - half, seed)]
    tiny, small, big = float(f.finfo.smallest_subnormal), float(f.finfo.tiny), float(f.finfo.max)
    specials = np.array([0.0, -0.0, 1.0, -1.0, tiny, -tiny, small, -small, big, -big]).astype(f.dtype)
    parts += [specials] + [switch_neighbours(f, s, k=2) for s in switch_points if math.isfinite(s)]
    x = np.concatenate(parts)
    x = x[np.isfinite(to_float64(x))]
    _, first = np.unique(f.to_bits(x), return_index=True)
    x = x[np.sort(first)]
    return x[rng.permutation(x.size)]


@dataclass
class _Layout:
    name: str
    run: Callable[[Callable[[np.ndarray], np.ndarray], np.ndarray], tuple[np.ndarray, np.ndarray]]
    threads: int | None = None  # set_threads(threads) before, set_threads(None) after


def _cyclic(n: int, total: int, front: int = 0) -> np.ndarray:
    """Input indices of a sequence of ``total`` elements: ``front`` fillers (-1), then 0, 1, ..., n-1, 0, ..."""
    idx = np.full(total, -1, dtype=np.int64)
    idx[front:] = np.arange(total - front) % n
    return idx


def _values(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    out = x[np.maximum(idx, 0)]
    out[idx < 0] = _FILLER
    return out


def _chunks(length: int, offset: int) -> Callable:
    def run(call, x):
        total = max(length, -(-(offset + x.size) // length) * length)
        idx = _cyclic(x.size, total, offset)
        buf = _values(x, idx)
        y = np.empty_like(buf)
        for start in range(0, total, length):
            y[start:start + length] = call(buf[start:start + length])
        return idx, y
    return run


def _singles(count: int) -> Callable:
    def run(call, x):
        idx = np.unique(np.linspace(0, x.size - 1, min(count, x.size)).round().astype(np.int64))
        y = np.concatenate([call(x[i:i + 1]) for i in idx]) if idx.size else x[:0]
        return idx, y
    return run


def _strided(call, x):
    buf = np.full(2 * x.size, _FILLER, dtype=x.dtype)
    buf[::2] = x
    return np.arange(x.size), call(buf[::2])


def _transposed(rows: int) -> Callable:
    def run(call, x):
        cols = -(-x.size // rows)
        idx = _cyclic(x.size, rows * cols)
        a = _values(x, idx).reshape(rows, cols)
        return idx, call(a.T).T.reshape(-1)
    return run


def _rows(width: int, gap: int = 3) -> Callable:
    def run(call, x):
        count = -(-x.size // width)
        idx = _cyclic(x.size, count * width)
        buf = np.full((count, width + gap), _FILLER, dtype=x.dtype)
        buf[:, :width] = _values(x, idx).reshape(count, width)
        return idx, call(buf[:, :width]).reshape(-1)
    return run


def _tiled(length: int) -> Callable:
    def run(call, x):
        idx = _cyclic(x.size, length)
        return idx, call(x[idx])
    return run


def _plan(f: Format, widths: Sequence[int]) -> list[_Layout]:
    lengths = sorted({L for w in widths for L in (w - 1, w, w + 1) if L > 1} | {LONG_LENGTH})
    out = [_Layout("len=1", _singles(SINGLE_INPUTS))]
    for L in lengths:
        for k in sorted({k % L for k in OFFSETS}):
            out.append(_Layout(f"len={L} offset={k}", _chunks(L, k)))
    rows = max(widths) + 1
    row = 64 // (f.bits // 8) + 1
    out += [_Layout("strided[::2]", _strided), _Layout("transposed", _transposed(rows)),
            _Layout(f"rows[:, :{row}]", _rows(row)), _Layout(f"len={THREAD_LENGTH}", _tiled(THREAD_LENGTH)),
            _Layout("threads=1", _tiled(THREAD_LENGTH), threads=1),
            _Layout("threads=all", _tiled(THREAD_LENGTH), threads=default_jobs())]
    return out


# --- comparison ------------------------------------------------------------------------------------------------

def _ulps(a: float, b: float, ulp_exp: int) -> float:
    if math.isnan(a) and math.isnan(b):
        return 0.0
    if math.isnan(a) or math.isnan(b):
        return math.inf
    if a == b:  # −0 against +0
        return 0.0
    return math.ldexp(abs(a - b), -ulp_exp)  # inf where one is infinite


def _ulp_exponents(f: Format, x: np.ndarray, fn: str, beta: float) -> np.ndarray:
    c = to_float64(correctly_rounded(x, fn, beta))
    c = np.where(np.isfinite(c), c, float(f.finfo.max))  # overflow (or NaN for a NaN input): the top binade
    return ulp_exponent_f64(c, f)


def _differences(f: Format, x: np.ndarray, fn: str, beta: float, ref: np.ndarray,
                 found: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[LayoutDifference]:
    """For each differing input, the pair of its results farthest apart (the reference first where it is one)."""
    inputs = sorted({int(i) for idx, _ in found.values() for i in idx})
    if not inputs:
        return []
    exps = dict(zip(inputs, (int(e) for e in _ulp_exponents(f, x[inputs], fn, beta))))
    results: dict[int, list[tuple[str, int, float]]] = {i: [] for i in inputs}
    ref_bits, ref_f = f.to_bits(ref), to_float64(ref)
    for i in inputs:
        results[i].append((_REFERENCE, int(ref_bits[i]), float(ref_f[i])))
    for name, (idx, y) in found.items():
        for i, b, v in zip(idx.tolist(), f.to_bits(y).tolist(), to_float64(y).tolist()):
            results[i].append((name, b, v))
    xf = to_float64(x)
    out = []
    for i in inputs:
        distinct: list[tuple[str, int, float]] = []
        for r in results[i]:  # one per bit pattern (NaNs alike), first layout kept: the reference leads
            if not any(r[1] == d[1] or (math.isnan(r[2]) and math.isnan(d[2])) for d in distinct):
                distinct.append(r)
        best = None
        for a in range(len(distinct)):
            for b in range(a + 1, len(distinct)):
                u = _ulps(distinct[a][2], distinct[b][2], exps[i])
                if best is None or u > best[0]:
                    best = (u, distinct[a], distinct[b])
        u, (la, _, va), (lb, _, vb) = best
        out.append(LayoutDifference(x=float(xf[i]), layout_a=la, result_a=va, layout_b=lb, result_b=vb, ulps=u))
    return out


# --- the check -------------------------------------------------------------------------------------------------

def layout_check(target, fmt: str | Format | Case, fn: str = "softplus", beta: float = 1.0,
                 threshold: float | None = None, x: np.ndarray | None = None, n: int = 2048, seed: int = SEED,
                 widths: Sequence[int] | None = None) -> LayoutReport:
    """Run ``target`` on the same inputs in every layout (module docstring) and report what changes.

    ``x``: the inputs (an array of the format; flattened), else :func:`default_inputs` with ``n`` and ``seed``
    (and the target's switch points). ``widths``: SIMD lane counts, else :func:`default_widths`. A target that
    declines the combination gives status "unsupported"; one that raises, crashes or returns the wrong dtype or
    shape in any layout gives status "error" with the cause and the layout — never an exception from here.
    The case is ``fmt`` itself where it is a :class:`~engine.case.Case`, else that of the four arguments.
    """
    case = Case.of(fmt, fn, beta, threshold)
    f, fn, beta, threshold = case.format, case.fn, case.beta, case.threshold
    widths = default_widths(f) if widths is None else sorted({int(w) for w in widths})
    if not widths or min(widths) < 1:
        raise ValueError(f"widths must be positive lane counts, got {widths!r}")
    rep = LayoutReport(target=target.name, format=f.name, fn=fn, beta=beta, threshold=threshold)
    start = time.perf_counter()
    reason = unsupported_reason(target, f.name, beta, threshold)
    if reason is not None:
        rep.status, rep.reason, rep.max_ulps = "unsupported", reason, math.nan
        return rep
    gone = previous_failure(target, f.name, fn)
    if gone is not None:  # it hung or crashed on this kind of call earlier in the run
        rep.status, rep.reason, rep.max_ulps = "error", gone, math.nan
        return rep
    rep.code_path = code_path_of(target)
    if x is None:
        x = default_inputs(f, fn, beta, n, seed, switch_points_of(target, f.name, beta, threshold))
        rep.seed = seed
    else:
        x = np.asarray(x)
        if x.dtype != f.dtype:
            raise ValueError(f"inputs are {x.dtype}, expected {f.name}")
        x = x.reshape(-1)
    if x.size == 0:
        raise ValueError("layout_check needs at least one input")
    rep.n_inputs = int(x.size)
    method = target.softplus if fn == "softplus" else target.softplus_grad

    def call(v: np.ndarray) -> np.ndarray:
        rep.calls += 1
        return checked_output(method(v, beta, threshold), v)

    layout = _REFERENCE
    found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    threads_changed = False
    try:
        ref = call(x)
        rep.layouts.append(_REFERENCE)
        can_thread = None
        for lay in _plan(f, widths):
            layout = lay.name
            if lay.threads is not None:
                if can_thread is None:
                    threads_changed = can_thread = bool(getattr(target, "set_threads", lambda n: False)(lay.threads))
                    rep.threads_all = default_jobs() if can_thread else None
                elif can_thread:
                    target.set_threads(lay.threads)
                if not can_thread:
                    rep.layouts.append(f"{lay.name} (skipped: {target.name} cannot set its thread count)")
                    continue
            idx, y = lay.run(call, x)
            rep.layouts.append(lay.name)
            y = y.reshape(-1)[idx >= 0]  # fillers are no inputs
            idx = idx[idx >= 0]
            bad = ~same_results(y, ref[idx], f)
            inputs, first = np.unique(idx[bad], return_index=True)
            found[lay.name] = (inputs, y[bad][first])
            rep.by_layout[lay.name] = int(inputs.size)
        if threads_changed:
            layout = "restoring the default thread count"
            threads_changed = False
            target.set_threads(None)
    except Exception as exc:  # noqa: BLE001 — a broken target is a finding, not a crash of the check
        rep.status, rep.reason = "error", f"{describe_failure(exc)} (layout {layout!r})"
        rep.max_ulps = math.nan
        if threads_changed:
            try:
                target.set_threads(None)
            except Exception:  # noqa: BLE001 — the first failure is the one reported
                pass
        rep.elapsed_s = time.perf_counter() - start
        return rep

    diffs = _differences(f, x, fn, beta, ref, {k: v for k, v in found.items() if v[0].size})
    rep.differing = len(diffs)
    ranked = sorted(diffs, key=lambda d: -d.ulps)  # stable: equal differences stay in input order
    rep.examples = ranked[:MAX_EXAMPLES]
    rep.worst = ranked[0] if ranked else None
    rep.max_ulps = ranked[0].ulps if ranked else 0.0
    rep.elapsed_s = time.perf_counter() - start
    return rep
