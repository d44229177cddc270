"""Two runs compared: which combinations' figures changed between an OLD and a NEW accuracy report, which
got worse, and which findings are new or fixed.

Combinations are matched by target × format × function × β × threshold × mode (:data:`KEY_FIELDS`), never by
instruction-set path or machine: a run on another machine, framework version or path compares with the one
before it, and a matched combination whose path changed says so in its change (``Change.path_change``).
Where one report holds a combination on several paths (a plugin report of ``native`` and a capped path),
its verdicts are paired by path first.

The figures compared (:func:`figure_changes`), each with the direction a change of it goes:

* ``status`` — to "error" is worse, from "error" better, ok ↔ unsupported neither; where either side is not
  "ok" nothing else is compared (a verdict not measured has no figures);
* ``max_ulp``, ``max_finite_ulp`` (ulps) — larger is worse, inf worse than any number, NaN (no number where
  one is due) worst of all; ``correctly_rounded_fraction`` — smaller is worse, NaN worst;
* counts — ``nonfinite_count``, ``nan_count``, ``monotonicity_violations``, each ``property_failures`` entry and
  the special values that are wrong: more is worse;
* onsets (x units) — an early overflow or underflow appearing is worse, gone is better; with both early, more
  inputs affected is worse; the true onsets (where the input set changed) are shown, with no direction;
* switches — a discovered (undeclared) switch at a new position is worse, one gone better; declared switches
  that moved have no direction; ``threshold_jump_ulp`` (the largest jump) larger is worse.

Figures are equal when their values are (NaN equals NaN): both reports compute them rigorously, so figures
that agree are bit-identical and anything else is a change. ``mean_ulp``, the histogram, the error profile,
worst-input lists, timings and search bookkeeping are not figures (they come from the fast path or vary
with the machine's speed).

Findings (:data:`FINDINGS`) are the states a reader acts on — an error, NaN or non-finite results, an early
overflow or underflow, a broken property, an undeclared switch, a maximum of 1 ulp or more — each with a
severity (0 most severe). A finding present in NEW and not in OLD is *new*, the reverse *fixed*. Changes
(:attr:`Comparison.changes`) come in this order: those with new or fixed findings (most severe first, new
before fixed), then the other changed ones (worse, better, neither), then combinations only in NEW
("added") and only in OLD ("removed"), each group in report order.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from engine.case import params_text
from engine.stored import load_json
from engine.verdict import Verdict

__all__ = ["KEY_FIELDS", "FAIL_ON", "WORSE", "BETTER", "NEITHER", "FINDINGS", "CompareError", "FigureChange",
           "Finding", "Change", "Run", "Comparison", "combination_key", "figure_changes", "findings_of",
           "worse_than", "worse_than_baseline", "compare", "compare_reports", "load_verdicts"]

#: What identifies a combination across runs (not the path, not the machine).
KEY_FIELDS = ("target", "format", "fn", "beta", "threshold", "mode")
#: When a comparison fails (exit status 1): a verdict got worse (the default, first), any change, never.
FAIL_ON = ("worse", "any", "never")
#: The direction of a figure's change.
WORSE, BETTER, NEITHER = "worse", "better", "changed"

Key = tuple


class CompareError(ValueError):
    """A report that cannot be read, or two reports with no combination in common: one line, naming the file."""


@dataclass(frozen=True)
class FigureChange:
    """One figure of a combination that differs between OLD and NEW.

    ``name``: the Verdict field (``property_failures.identity`` for one entry, ``switches.declared`` /
    ``switches.discovered``, ``special_values.wrong``); ``label``: how people say it; ``unit``: "status",
    "ulp", "fraction" (of inputs, 0..1), "count", "x" (an input; None: none), "switches" (tuples
    (at, below, above, jump_ulp)) or "names" (tuple of special-value names); ``direction``: WORSE, BETTER
    or NEITHER."""

    name: str
    label: str
    unit: str
    old: Any
    new: Any
    direction: str

    def __str__(self) -> str:
        share = " (fraction of the inputs)" if self.unit == "fraction" else ""
        return f"{self.label}: {_plain(self.old, self.unit)} → {_plain(self.new, self.unit)}{share}"


@dataclass(frozen=True)
class Finding:
    """A finding (see :data:`FINDINGS`) that is ``state`` "new" (in NEW only) or "fixed" (in OLD only)."""

    kind: str
    label: str
    severity: int
    state: str


@dataclass
class Change:
    """One combination whose figures differ (``kind`` "changed"), or one only in NEW ("added") or only in OLD
    ("removed"). ``old``/``new``: the verdicts (None on the side that lacks it)."""

    key: Key
    kind: str
    old: Verdict | None
    new: Verdict | None
    figures: list[FigureChange] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def title(self) -> str:
        """"torch-cpu float16 softplus (beta=1, threshold=default, exhaustive)"."""
        target, fmt, fn, beta, threshold, mode = self.key
        return f"{target} {fmt} {fn} ({params_text(beta, threshold)}{', ' + mode if mode else ''})"

    @property
    def worse(self) -> bool:
        """Whether some figure got worse (a combination may get worse in one figure and better in another)."""
        return any(f.direction == WORSE for f in self.figures)

    @property
    def better(self) -> bool:
        """Whether some figure got better."""
        return any(f.direction == BETTER for f in self.figures)

    @property
    def direction(self) -> str:
        """WORSE if any figure got worse, else BETTER if any got better, else NEITHER."""
        return WORSE if self.worse else BETTER if self.better else NEITHER

    @property
    def path_change(self) -> tuple[str, str] | None:
        """(old path, new path) where a matched combination's instruction-set path changed, else None."""
        if self.old is None or self.new is None or self.old.path == self.new.path:
            return None
        return self.old.path, self.new.path

    @property
    def severity(self) -> int | None:
        """The severity of its most severe new or fixed finding (None: none)."""
        return min((f.severity for f in self.findings), default=None)


@dataclass(frozen=True)
class Run:
    """One side of a comparison: where it was read from, the machine and date its environment records."""

    label: str
    machine: str = ""
    date: str = ""
    combinations: int = 0


@dataclass
class Comparison:
    """Everything :func:`compare` found. ``matched``: combinations in both reports; ``changes``: in the order
    of the module doc; ``path_changes``: (old path, new path, how many matched combinations), most first."""

    old: Run
    new: Run
    matched: int
    changes: list[Change]
    path_changes: list[tuple[str, str, int]] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    @property
    def changed(self) -> list[Change]:
        """The matched combinations whose figures differ."""
        return self.of_kind("changed")

    @property
    def unchanged(self) -> int:
        return self.matched - len(self.changed)

    @property
    def worse(self) -> list[Change]:
        return [c for c in self.changed if c.worse]

    def fails(self, fail_on: str = FAIL_ON[0]) -> bool:
        """Whether the comparison fails under ``fail_on`` (:data:`FAIL_ON`): "worse" — a verdict got worse;
        "any" — any change, a combination added or removed included; "never"."""
        if fail_on not in FAIL_ON:
            raise ValueError(f"fail-on must be one of {', '.join(FAIL_ON)}, got {fail_on!r}")
        return {"worse": bool(self.worse), "any": bool(self.changes), "never": False}[fail_on]


def combination_key(v: Verdict) -> Key:
    """The verdict's combination across runs: :data:`KEY_FIELDS` (not its path)."""
    return tuple(getattr(v, k) for k in KEY_FIELDS)


# --- figures -----------------------------------------------------------------------------------------------------

def _same(a: Any, b: Any) -> bool:
    """Equal values, NaN equal to NaN (at any depth of tuples)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _badness(x: float | None) -> tuple[int, float]:
    """A maximum error's rank, best first: none (None) < any number < inf < NaN (no number where one is due)."""
    if x is None:
        return (-1, 0.0)
    if math.isnan(x):
        return (2, 0.0)
    if math.isinf(x):
        return (1, 0.0)
    return (0, x)


def _by(rank: Callable[[Any], Any]) -> Callable[[Any, Any], str]:
    """The direction of a change from ``a`` to ``b`` where a larger ``rank`` is worse."""
    def direction(a: Any, b: Any) -> str:
        ra, rb = rank(a), rank(b)
        return WORSE if rb > ra else BETTER if rb < ra else NEITHER
    return direction


_larger_worse = _by(_badness)
_smaller_worse = _by(lambda f: (1, 0.0) if math.isnan(f) else (0, -f))  # a fraction: NaN (none judged) worst


def _neither(a: Any, b: Any) -> str:
    return NEITHER


def _status(a: str, b: str) -> str:
    return WORSE if b == "error" else BETTER if a == "error" else NEITHER


def _early_overflow(v: Verdict) -> bool:
    """Overflows where the truth is finite (as the certificates' ``premature_overflow`` reads it)."""
    return v.overflow_onset is not None and (v.true_overflow_onset is None or v.overflow_onset < v.true_overflow_onset)


def _early_underflow(v: Verdict) -> bool:
    """Returns 0 where the truth is positive (any underflow onset found is one)."""
    return v.underflow_onset is not None


def _onset(early: Callable[[Verdict], bool], further: Callable[[float, float], bool]):
    """The direction of an onset's change: an early onset appearing is worse, gone better; both early, worse
    where ``further(old, new)`` (the new onset takes in more inputs)."""
    def direction(old: Verdict, new: Verdict, a: float | None, b: float | None) -> str:
        ea, eb = early(old), early(new)
        if ea != eb:
            return WORSE if eb else BETTER
        if ea and a is not None and b is not None and a != b:
            return WORSE if further(a, b) else BETTER
        return NEITHER
    return direction


_overflow = _onset(_early_overflow, lambda a, b: b < a)    # overflows from a lower x: more inputs
_underflow = _onset(_early_underflow, lambda a, b: b > a)  # 0 up to a higher x: more inputs


def _switches(v: Verdict, discovered: bool) -> tuple:
    return tuple(sorted((j.at, j.below, j.above, j.jump_ulp) for j in v.switch_jumps if j.discovered == discovered))


def _discovered(a: tuple, b: tuple) -> str:
    pa, pb = {s[:3] for s in a}, {s[:3] for s in b}  # positions
    return WORSE if pb - pa else BETTER if pa - pb else NEITHER


def _wrong_specials(v: Verdict) -> tuple[str, ...]:
    return tuple(k for k, s in v.special_values.items() if not s.get("ok", True))


def _specials(a: tuple, b: tuple) -> str:
    return WORSE if set(b) - set(a) else BETTER if set(a) - set(b) else NEITHER


#: (name, label, unit, value of a verdict, direction of a change) of every figure of a measured verdict.
_FIGURES: tuple = (
    ("max_ulp", "max error", "ulp", lambda v: v.max_ulp, _larger_worse),
    ("max_finite_ulp", "largest finite error", "ulp", lambda v: v.max_finite_ulp, _larger_worse),
    ("correctly_rounded_fraction", "correctly rounded", "fraction", lambda v: v.correctly_rounded_fraction,
     _smaller_worse),
    ("nonfinite_count", "non-finite results", "count", lambda v: v.nonfinite_count, _larger_worse),
    ("nan_count", "NaN results", "count", lambda v: v.nan_count, _larger_worse),
    ("overflow_onset", "overflow onset", "x", lambda v: v.overflow_onset, _overflow),
    ("true_overflow_onset", "true overflow onset", "x", lambda v: v.true_overflow_onset, _neither),
    ("underflow_onset", "underflow to 0", "x", lambda v: v.underflow_onset, _underflow),
    ("true_underflow_onset", "true underflow to 0", "x", lambda v: v.true_underflow_onset, _neither),
    ("switches.declared", "declared switches", "switches", lambda v: _switches(v, False), _neither),
    ("switches.discovered", "discovered switches", "switches", lambda v: _switches(v, True), _discovered),
    ("threshold_jump_ulp", "largest switch jump", "ulp", lambda v: v.threshold_jump_ulp, _larger_worse),
    ("monotonicity_violations", "monotonicity violations", "count", lambda v: v.monotonicity_violations,
     _larger_worse),
    ("special_values.wrong", "wrong special values", "names", _wrong_specials, _specials),
)
_ONSETS = {"overflow_onset", "underflow_onset"}  # directions that read the whole verdicts


def figure_changes(old: Verdict, new: Verdict) -> list[FigureChange]:
    """The figures that differ between two verdicts of one combination (see the module doc), in a fixed order;
    [] where they agree. Where either verdict is not "ok", only the status is compared."""
    if old.status != new.status:
        return [FigureChange("status", "status", "status", old.status, new.status, _status(old.status, new.status))]
    if old.status != "ok":
        return []
    out = []
    for name, label, unit, value, direction in _FIGURES:
        a, b = value(old), value(new)
        if not _same(a, b):
            d = direction(old, new, a, b) if name in _ONSETS else direction(a, b)
            out.append(FigureChange(name, label, unit, a, b, d))
    for k in dict.fromkeys([*old.property_failures, *new.property_failures]):  # a missing entry counts 0
        a, b = old.property_failures.get(k, 0), new.property_failures.get(k, 0)
        if a != b:
            out.append(FigureChange(f"property_failures.{k}", f"{k} failures", "count", a, b, _larger_worse(a, b)))
    return out


# --- findings ----------------------------------------------------------------------------------------------------

#: kind: (severity, label, whether a measured verdict shows it). Severity 0 is the most severe.
FINDINGS: dict[str, tuple[int, str, Callable[[Verdict], bool]]] = {
    "error": (0, "error", lambda v: v.status == "error"),
    "nan": (1, "NaN results", lambda v: v.nan_count > 0),
    "nonfinite": (1, "non-finite results", lambda v: v.nonfinite_count > 0),
    "early_overflow": (2, "early overflow", _early_overflow),
    "early_underflow": (2, "early underflow", _early_underflow),
    "monotonicity": (3, "monotonicity violations", lambda v: v.monotonicity_violations > 0),
    "property": (3, "property failures", lambda v: sum(v.property_failures.values()) > 0),
    "special": (3, "wrong special values", lambda v: bool(_wrong_specials(v))),
    "switch": (3, "undeclared switch", lambda v: any(j.discovered for j in v.switch_jumps)),
    "unfaithful": (4, "max error ≥ 1 ulp", lambda v: not v.max_ulp < 1.0),  # NaN too: no number
}


def findings_of(v: Verdict) -> set[str]:
    """The kinds of :data:`FINDINGS` the verdict shows (only "error" or none for a verdict not measured)."""
    if v.status != "ok":
        return {"error"} if v.status == "error" else set()
    return {k for k, (_, _, shows) in FINDINGS.items() if shows(v)}


def _findings(old: Verdict, new: Verdict) -> list[Finding]:
    """New and fixed findings, most severe first, new before fixed. Where one side was not measured only the
    error finding is compared: an ok → error verdict has not *fixed* the problems its measurements showed."""
    a, b = findings_of(old), findings_of(new)
    if old.status != "ok" or new.status != "ok":
        a, b = a & {"error"}, b & {"error"}
    out = [Finding(k, FINDINGS[k][1], FINDINGS[k][0], state) for state, kinds in (("new", b - a), ("fixed", a - b))
           for k in FINDINGS if k in kinds]
    return sorted(out, key=lambda f: (f.severity, f.state != "new"))


def worse_than(baseline: Verdict, verdict: Verdict) -> list[str]:
    """Why ``verdict`` is worse than ``baseline``'s verdict of the same combination: one line per figure that
    got worse ("max error: 0.5000028555552471 → 1.48 ulp"); [] where none did."""
    return [str(f) for f in figure_changes(baseline, verdict) if f.direction == WORSE]


def worse_than_baseline(baseline: Sequence[Verdict], verdict: Verdict) -> list[str]:
    """:func:`worse_than` against a baseline report's verdicts: those of the verdict's combination on its own
    path where the baseline has it there, else all of them, the verdict held to the one it is least worse
    than (a baseline measured on other paths holds a new path to the best of them, none to the worst); []
    where the baseline lacks the combination (nothing to be worse than)."""
    mine = [b for b in baseline if combination_key(b) == combination_key(verdict)]
    same = [b for b in mine if b.path == verdict.path] or mine
    return min((worse_than(b, verdict) for b in same), key=len, default=[])


# --- the comparison ----------------------------------------------------------------------------------------------

def _grouped(verdicts: Iterable[Verdict]) -> dict[Key, list[Verdict]]:
    out: dict[Key, list[Verdict]] = {}
    for v in verdicts:
        out.setdefault(combination_key(v), []).append(v)
    return out


def _pairs(a: list[Verdict], b: list[Verdict]) -> tuple[list[tuple[Verdict, Verdict]], list[Verdict], list[Verdict]]:
    """One combination's verdicts paired: by path first where either side holds it on several paths, then in
    report order; (pairs, left only in OLD, left only in NEW)."""
    a, b, pairs = list(a), list(b), []
    if len(a) > 1 or len(b) > 1:
        for x in list(a):
            j = next((j for j, y in enumerate(b) if y.path == x.path), None)
            if j is not None:
                pairs.append((x, b.pop(j)))
                a.remove(x)
    n = min(len(a), len(b))
    return pairs + list(zip(a[:n], b[:n])), a[n:], b[n:]


def _order(c: Change, i: int) -> tuple:
    if c.kind != "changed":
        return (2, c.kind != "added", i)
    if c.findings:
        return (0, c.severity, c.findings[0].state != "new", i)
    return (1, (WORSE, BETTER, NEITHER).index(c.direction), i)


def _run(label: str, env: dict | None, n: int) -> Run:
    env = env or {}
    return Run(label, str(env.get("machine") or env.get("cpu") or ""), str(env.get("date") or ""), n)


def compare(old_verdicts: Sequence[Verdict], new_verdicts: Sequence[Verdict], *, old_label: str = "OLD",
            new_label: str = "NEW", old_env: dict | None = None, new_env: dict | None = None) -> Comparison:
    """The changes from OLD's verdicts to NEW's (see the module doc). ``*_label``: how the writers name each
    side (a path); ``*_env``: the reports' environments (for the machine and date). CompareError where the
    two have no combination in common (not two runs of the same selection: mismatched input)."""
    olds, news = _grouped(old_verdicts), _grouped(new_verdicts)
    if not olds.keys() & news.keys():
        raise CompareError(f"{old_label} ({len(old_verdicts)} verdicts) and {new_label} ({len(new_verdicts)} "
                           f"verdicts) have no combination (target, format, fn, beta, threshold, mode) in common")
    changes, matched, paths = [], 0, Counter()
    for key in [*news, *(k for k in olds if k not in news)]:  # NEW's order, then what only OLD holds
        pairs, removed, added = _pairs(olds.get(key, []), news.get(key, []))
        for old, new in pairs:
            matched += 1
            if old.path != new.path:
                paths[old.path, new.path] += 1
            figures = figure_changes(old, new)
            if figures:
                changes.append(Change(key, "changed", old, new, figures, _findings(old, new)))
        changes += [Change(key, "added", None, v) for v in added] + [Change(key, "removed", v, None) for v in removed]
    ordered = [c for _, c in sorted(enumerate(changes), key=lambda ic: _order(ic[1], ic[0]))]
    return Comparison(_run(old_label, old_env, len(old_verdicts)), _run(new_label, new_env, len(new_verdicts)),
                      matched, ordered, [(a, b, n) for (a, b), n in paths.most_common()])


def load_verdicts(path: Path | str) -> tuple[list[Verdict], dict[str, Any]]:
    """(verdicts, environment) of an accuracy.json, accuracy.json.gz or report folder
    (:func:`engine.stored.load_json`); CompareError, one line naming the file, where it cannot be read."""
    try:
        return load_json(Path(path))
    except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError) as e:
        # a missing or truncated file, bad gzip, bad JSON, another schema, records that are not verdicts
        what = str(e) if isinstance(e, (OSError, ValueError)) else f"{type(e).__name__}: {e}"
        what = " ".join(what.split()) or type(e).__name__
        raise CompareError(f"cannot read {path} as an accuracy report: {what}") from None


def compare_reports(old_path: Path | str, new_path: Path | str) -> Comparison:
    """:func:`compare` of two reports on disk (accuracy.json, accuracy.json.gz or a report folder each);
    CompareError where one cannot be read or the two have nothing in common."""
    (old, old_env), (new, new_env) = load_verdicts(old_path), load_verdicts(new_path)
    return compare(old, new, old_label=str(old_path), new_label=str(new_path), old_env=old_env, new_env=new_env)


def _plain(value: Any, unit: str) -> str:
    """A figure's value as exact plain text (failure messages; the writers format their own)."""
    if value is None:
        return "none"
    if unit == "switches":
        return ", ".join(f"x = {s[0]!r} (jump {s[3]!r} ulp)" for s in value) or "none"
    if unit == "names":
        return ", ".join(value) or "none"
    if unit == "status":
        return str(value)
    return f"{value!r} ulp" if unit == "ulp" else repr(value)
