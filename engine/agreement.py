"""Agreement between targets: which implementations give bit-identical results, and where they differ.

Two questions of issue 8, answered on the judge's own input sets (:func:`engine.inputs.input_set`:
exhaustive for the 8- and 16-bit formats, the seeded sample plus boundary sets otherwise):

* :func:`agreement_matrix` — for a list of targets, one format and one function: the fraction of inputs on
  which each pair of targets returns bit-identical results (compared through the format's unsigned-integer
  view; NaN equals NaN whatever its payload, and −0 differs from +0). Every target computes once, on the
  same inputs; a target that is unavailable, declines the combination, raises or returns something that is
  not an array of the input's dtype and shape is left out of the matrix and listed in ``errors`` with the
  reason — never an exception from here.
* :func:`compare_pair` — for two targets: every input on which they differ, with both results and both
  errors against the oracle (:func:`oracle.ulp_error`, in ulps of the format), and which one is closer. The
  report does this for *device pairs* (:data:`DEVICE_PAIRS`, e.g. torch on the CPU and on CUDA) where both
  are available: :func:`device_pair_reports`.

:func:`report_agreement` is what the accuracy report runs: both of the above for every format and function
among its judged combinations, at β = 1 and each target's default threshold, computing each target once.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from engine.case import Case
from engine.defaults import FUNCTIONS, SEED
from engine.inputs import input_set
from engine.tally import same_results
from oracle.evaluate import to_float64
from oracle.files import from_json_safe, json_safe
from oracle.formats import FORMATS, Format
from oracle.implementation import (
    caller,
    describe_failure,
    output_problem,
    previous_failure,
    reason_unavailable,
    switch_points_of,
)
from oracle.ulp import ulp_error

__all__ = ["AgreementMatrix", "Disagreement", "PairReport", "DEVICE_PAIRS", "MAX_EXAMPLES",
           "agreement_matrix", "compare_pair", "device_pairs", "device_pair_reports", "report_agreement"]

#: Pairs of targets that are one framework on two devices; their disagreements are reported input by input.
#: :func:`device_pairs` adds any "<name>-cpu" / "<name>-<device>" pair whose second target runs elsewhere.
DEVICE_PAIRS: list[tuple[str, str]] = [("torch-cpu", "torch-cuda")]

#: How many disagreeing inputs a :class:`PairReport` keeps (the worst first).
MAX_EXAMPLES = 20



# --- records -------------------------------------------------------------------------------------------------

@dataclass
class AgreementMatrix:
    """Bit-identical fractions between targets, for one format × function × (β, threshold).

    ``targets``: the targets that computed, in the order given. ``identical[i][j]``: the fraction of the
    ``n_inputs`` inputs on which targets i and j return the same bits (NaN = NaN, any payload); symmetric,
    1.0 on the diagonal (NaN everywhere when there are no inputs). ``mode``/``seed``: how the inputs were
    chosen ("exhaustive" or "sampled", as :func:`engine.inputs.input_set`; "given" for caller's inputs).
    ``errors``: target name → why it is not in the matrix.
    """

    format: str
    fn: str
    beta: float
    threshold: float | None
    targets: list[str]
    n_inputs: int
    mode: str
    seed: int | None
    identical: list[list[float]]
    errors: dict[str, str] = field(default_factory=dict)

    def fraction(self, a: str, b: str) -> float:
        """The fraction of inputs on which targets ``a`` and ``b`` agree bit for bit (KeyError if either
        is not in the matrix)."""
        try:
            return self.identical[self.targets.index(a)][self.targets.index(b)]
        except ValueError:
            raise KeyError(a if a not in self.targets else b) from None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: non-finite floats become the strings "inf", "-inf", "nan"."""
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AgreementMatrix":
        return cls(**from_json_safe(dict(d)))


@dataclass
class Disagreement:
    """One input on which two targets differ: both results, both errors against the oracle (ulps of the
    format; NaN for a NaN result where a number is due), and which is closer ("a", "b" or "tie")."""

    x: float
    result_a: float
    result_b: float
    ulp_a: float
    ulp_b: float
    closer: str


@dataclass
class PairReport:
    """Where two targets differ, for one format × function × (β, threshold).

    ``differing``: inputs (of ``n_inputs``) without bit-identical results; of them, ``a_closer`` are closer
    to the truth in ``a``, ``b_closer`` in ``b``, ``ties`` equally close (both NaN or infinitely wrong
    counts as a tie). ``examples``: at most :data:`MAX_EXAMPLES` of them, the largest error of the two first.
    ``errors``: target name → why it could not be compared (then nothing was counted).
    """

    a: str
    b: str
    format: str
    fn: str
    beta: float = 1.0
    threshold: float | None = None
    mode: str = ""
    seed: int | None = None
    n_inputs: int = 0
    differing: int = 0
    a_closer: int = 0
    b_closer: int = 0
    ties: int = 0
    examples: list[Disagreement] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: non-finite floats become the strings "inf", "-inf", "nan"."""
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PairReport":
        d = from_json_safe(dict(d))
        d["examples"] = [Disagreement(**e) for e in d.get("examples", [])]
        return cls(**d)


# --- computing -----------------------------------------------------------------------------------------------

def _run(target, x: np.ndarray, case: Case) -> tuple[np.ndarray | None, str | None]:
    """The target's results on x, or None and why not (unavailable, declined, raised, wrong output)."""
    try:
        avail = reason_unavailable(target)
        if avail is not None:
            return None, f"unavailable: {avail}"
        check = getattr(target, "check", None)
        reason = check(case.fmt, case.beta, case.threshold) if check is not None else None
        if reason is not None:
            return None, f"unsupported: {reason}"
        y = caller(target, case.fn, case.beta, case.threshold)(x)
    except Exception as exc:  # noqa: BLE001 — a broken target is a finding, not a crash of the comparison
        return None, describe_failure(exc)
    problem = output_problem(y, x)
    return (None, problem) if problem is not None else (y, None)


def _switch_union(targets, case: Case) -> list[float]:
    """Every target's switch points (so a sampled input set covers each target's formula switches)."""
    out: set[float] = set()
    for t in targets:
        try:
            out.update(switch_points_of(t, case.fmt, case.beta, case.threshold))
        except Exception:  # noqa: BLE001 — a switch point is a hint for sampling, not a requirement
            pass
    return sorted(out)


def _inputs(targets, case: Case, x, n, seed):
    """(x, mode, seed): the caller's inputs, or the judge's input set with every target's switch points."""
    f = case.format
    if x is not None:
        x = np.asarray(x)
        if x.dtype != f.dtype:
            raise ValueError(f"inputs are {x.dtype}, expected {f.name}")
        return x.ravel(), "given", None
    s = input_set(f, case.fn, case.beta, switch_points=_switch_union(targets, case), n=n, seed=seed)
    return s.x, s.mode, s.seed


def _matrix(names: Sequence[str], results: dict[str, np.ndarray], f: Format) -> list[list[float]]:
    k = len(names)
    m = [[1.0] * k for _ in range(k)]
    for i in range(k):
        for j in range(i + 1, k):
            same = same_results(results[names[i]], results[names[j]], f)
            m[i][j] = m[j][i] = float(same.mean()) if same.size else math.nan
        if results[names[i]].size == 0:
            m[i][i] = math.nan
    return m


def _key(e: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(e), math.inf, e)


def _compare(rep: PairReport, x: np.ndarray, ya: np.ndarray, yb: np.ndarray, case: Case) -> PairReport:
    """Fill ``rep`` with the disagreements between results ya and yb on inputs x."""
    fn, beta = case.fn, case.beta
    idx = np.flatnonzero(~same_results(ya, yb, case.format))
    rep.differing = int(idx.size)
    if not idx.size:
        return rep
    xs = x[idx]
    ea, eb = ulp_error(ya[idx], xs, fn, beta), ulp_error(yb[idx], xs, fn, beta)
    ka, kb = _key(ea), _key(eb)
    rep.a_closer, rep.b_closer = int((ka < kb).sum()), int((kb < ka).sum())
    rep.ties = rep.differing - rep.a_closer - rep.b_closer
    order = np.argsort(-np.maximum(ka, kb), kind="stable")[:MAX_EXAMPLES]
    xf, af, bf = to_float64(xs), to_float64(ya[idx]), to_float64(yb[idx])
    rep.examples = [Disagreement(x=float(xf[i]), result_a=float(af[i]), result_b=float(bf[i]),
                                 ulp_a=float(ea[i]), ulp_b=float(eb[i]),
                                 closer="a" if ka[i] < kb[i] else ("b" if kb[i] < ka[i] else "tie"))
                    for i in order]
    return rep


def agreement_matrix(targets: Sequence, fmt, fn: str = "softplus", beta: float = 1.0,
                     threshold: float | None = None, x: np.ndarray | None = None, n: int | None = None,
                     seed: int = SEED) -> AgreementMatrix:
    """The bit-identical fractions between ``targets`` (:class:`targets.Target` objects, or anything with
    ``name``, ``softplus`` and ``softplus_grad``) on one format and function.

    ``x`` defaults to the judge's input set (:func:`engine.inputs.input_set` with ``n`` and ``seed``, plus
    the neighbours of every target's switch points): every value of a ≤ 16-bit format. Each target computes
    once; one that cannot goes to ``errors``. ValueError only for an invalid request (format, fn, β, a NaN
    threshold, inputs of another format).
    """
    case = Case.of(fmt, fn, beta, threshold)
    x, mode, used_seed = _inputs(targets, case, x, n, seed)
    results, errors = _compute(targets, x, case)
    names = list(results)
    return AgreementMatrix(format=case.fmt, fn=case.fn, beta=case.beta, threshold=case.threshold, targets=names,
                           n_inputs=int(x.size), mode=mode, seed=used_seed,
                           identical=_matrix(names, results, case.format), errors=errors)


def _compute(targets, x, case: Case) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    results: dict[str, np.ndarray] = {}
    errors: dict[str, str] = {}
    for t in targets:
        if t.name in results or t.name in errors:
            continue  # the same target twice: computed once
        y, reason = _run(t, x, case)
        if y is None:
            errors[t.name] = reason or "failed"
        else:
            results[t.name] = y
    return results, errors


def compare_pair(a, b, fmt, fn: str = "softplus", beta: float = 1.0, threshold: float | None = None,
                 x: np.ndarray | None = None, n: int | None = None, seed: int = SEED) -> PairReport:
    """Every input on which targets ``a`` and ``b`` differ, judged against the oracle (same inputs as
    :func:`agreement_matrix`). A target that cannot compute is named in ``errors``; nothing is counted then."""
    case = Case.of(fmt, fn, beta, threshold)
    x, mode, used_seed = _inputs([a, b], case, x, n, seed)
    results, errors = _compute([a, b], x, case)
    return _pair(a.name, b.name, x, mode, used_seed, results, errors, case)


def _pair(na: str, nb: str, x, mode, seed, results, errors, case: Case) -> PairReport:
    rep = PairReport(a=na, b=nb, format=case.fmt, fn=case.fn, beta=case.beta, threshold=case.threshold, mode=mode,
                     seed=seed, n_inputs=int(x.size), errors={k: v for k, v in errors.items() if k in (na, nb)})
    if na in results and nb in results:
        _compare(rep, x, results[na], results[nb], case)
    return rep


def device_pairs(targets: Iterable, pairs: Sequence[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    """The device pairs among ``targets`` (objects with ``name``) that are both available here.

    ``pairs`` defaults to :data:`DEVICE_PAIRS` plus every "<base>-cpu" / "<base>-<device>" pair whose second
    target declares a ``device`` other than "cpu" (a GPU variant of a framework's target).
    """
    by_name = {t.name: t for t in targets}
    if pairs is None:
        pairs = list(DEVICE_PAIRS)
        for name, t in by_name.items():
            dev = getattr(t, "device", "cpu")
            if dev != "cpu" and name.endswith(f"-{dev}"):
                cpu = name[: -len(dev)] + "cpu"
                if cpu in by_name and (cpu, name) not in pairs:
                    pairs.append((cpu, name))
    return [(a, b) for a, b in pairs if a in by_name and b in by_name
            and reason_unavailable(by_name[a]) is None and reason_unavailable(by_name[b]) is None]


def device_pair_reports(targets: Sequence, formats: Iterable[str] | None = None,
                        fns: Iterable[str] = FUNCTIONS, beta: float = 1.0, threshold: float | None = None,
                        n: int | None = None, seed: int = SEED,
                        pairs: Sequence[tuple[str, str]] | None = None) -> list[PairReport]:
    """:func:`compare_pair` for every available device pair (:func:`device_pairs`), format both support at
    (β, threshold) (default: all formats) and function."""
    by_name = {t.name: t for t in targets}
    out = []
    for na, nb in device_pairs(targets, pairs):
        a, b = by_name[na], by_name[nb]
        for fmt in formats or FORMATS:
            if a.check(fmt, beta, threshold) is None and b.check(fmt, beta, threshold) is None:
                out += [compare_pair(a, b, fmt, fn, beta, threshold, n=n, seed=seed) for fn in fns]
    return out


def report_agreement(combos: Iterable, verdicts: Iterable = (), n: int | None = None, seed: int = SEED,
                     pairs: Sequence[tuple[str, str]] | None = None,
                     progress: Callable[[str], None] | None = None
                     ) -> tuple[list[AgreementMatrix], list[PairReport]]:
    """The accuracy report's agreement: a matrix per format × function among the judged ``combos``
    (``engine.grid.Combo``, skipped ones ignored) at β = 1 and the default threshold, over the targets
    judged there (at least two), and the :func:`compare_pair` reports of the device pairs among them.

    Each target computes once per format and function. A target whose verdict for that combination (in
    ``verdicts``) is an error is not called again (a hang would cost its timeout twice): it goes to the
    matrix's ``errors`` with the verdict's reason. ``progress`` is called with "format fn" after each matrix.
    """
    groups: dict[tuple[str, str], list] = {}
    for c in combos:
        if c.skip or c.beta != 1.0 or c.threshold is not None:
            continue
        group = groups.setdefault((c.fmt, c.fn), [])
        if all(t.name != c.target.name for t in group):
            group.append(c.target)
    failed = {(v.target, v.format, v.fn): v.reason or "error" for v in verdicts
              if v.status == "error" and v.beta == 1.0 and v.threshold is None}
    fmt_order, matrices, reports = list(FORMATS), [], []
    for (fmt, fn) in sorted(groups, key=lambda k: (fmt_order.index(k[0]), FUNCTIONS.index(k[1]))):
        group = groups[(fmt, fn)]
        if len(group) < 2:
            continue
        case = Case(fmt, fn)
        run = [t for t in group if (t.name, fmt, fn) not in failed]
        x, mode, used_seed = _inputs(run, case, None, n, seed)
        results, errors = _compute(run, x, case)
        # a target that hung or crashed on this kind of call says so ("skipped: …"), else its verdict's reason
        errors.update({t.name: previous_failure(t, fmt, fn) or failed[(t.name, fmt, fn)] for t in group
                       if (t.name, fmt, fn) in failed})
        names = list(results)
        matrices.append(AgreementMatrix(format=fmt, fn=fn, beta=1.0, threshold=None, targets=names,
                                        n_inputs=int(x.size), mode=mode, seed=used_seed,
                                        identical=_matrix(names, results, case.format), errors=errors))
        for na, nb in device_pairs(group, pairs):
            reports.append(_pair(na, nb, x, mode, used_seed, results, errors, case))
        if progress:
            progress(f"{fmt} {fn}")
    return matrices, reports
