"""The report at a glance: one row per target, one cell per format and function, and each target's findings.

What a reader needs from the first screen, before the per-format tables: for every target at its default
parameters (β = 1, its own default threshold), the max error of each format × function, graded; then, in a few
generated lines per target, its worst defect with the input that shows it, the properties it breaks, what could
not be measured, and (under ``certify``) whether its certificate holds. Every line is computed from the
verdicts; nothing is written by hand.

Grades of a cell (:func:`grade`), worst last; the Markdown, terminal and HTML renderers all use them:

* ``correctly rounded``: every judged input correctly rounded (``correctly_rounded_fraction`` = 1, exactly);
* ``faithful``: max error < 1 ulp (so an error of 0.5000029 ulp, one input not correctly rounded, is here);
* ``worse``: max error ≥ 1 ulp;
* ``non-finite``: an inf or NaN on an input whose true result is finite (the headline error is infinite);
* ``error``: the combination could not be measured (the target raised, hung or crashed);
* ``unsupported``: the target does not compute this format (or is unavailable): no cell value.

This module computes; :mod:`reports.accuracy` and :mod:`reports.html` lay it out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from engine.judge import Verdict
from reports.digits import num, percent

__all__ = ["GRADES", "GRADE_MARKS", "PROPERTY_NAMES", "BOUND_NOTE", "Cell", "TargetSummary", "Summary", "grade",
           "summarize", "summary_markdown", "summary_lines", "cell_text", "bound_prefix"]

#: Cell grades, best first (see the module docstring).
GRADES = ("correctly rounded", "faithful", "worse", "non-finite", "error", "unsupported")
#: How Markdown and the terminal mark a grade (HTML colours the cell instead).
GRADE_MARKS = {"correctly rounded": "🟢", "faithful": "🟡", "worse": "🟠", "non-finite": "🔴", "error": "⛔",
               "unsupported": ""}
#: What each property check of the tally tests, in words.
PROPERTY_NAMES = {("lower_bound", "softplus"): "softplus(x) ≥ max(x, 0)",
                  ("upper_bound", "softplus"): "softplus(x) ≤ max(x, 0) + log(2)/β",
                  ("range_0_1", "softplus_grad"): "0 ≤ sigmoid(βx) ≤ 1",
                  ("identity", "softplus"): "softplus(x) − softplus(−x) = x",
                  ("identity", "softplus_grad"): "sigmoid(βx) + sigmoid(−βx) = 1"}


def grade(v: Verdict | None) -> str:
    """The grade of one verdict (None: nothing measured, i.e. unsupported)."""
    if v is None or v.status == "unsupported":
        return "unsupported"
    if v.status != "ok":
        return "error"
    if v.nonfinite_count + v.nan_count or not math.isfinite(v.max_ulp):
        return "non-finite"
    if v.correctly_rounded_fraction >= 1.0:
        return "correctly rounded"
    return "faithful" if v.max_ulp < 1.0 else "worse"


def cell_text(v: Verdict | None) -> str:
    """The number in a cell: the headline max error (inf/nan where a result is not finite), "–" unsupported.
    A sample's maximum reads "≥ 1.21": every input of the format may hold a larger error, and a sample only
    shows that the maximum is at least this (an exhaustive verdict's figure is the maximum itself)."""
    g = grade(v)
    if g == "unsupported":
        return "–"
    if g == "error":
        return "error"
    return bound_prefix(v) + num(v.max_ulp)


def bound_prefix(v: Verdict) -> str:
    """"≥ " for the maximum of a sample (a lower bound of the true maximum), "" for every input judged."""
    # an infinite or NaN maximum is already the worst there is: no bound to state
    return "≥ " if v.status == "ok" and v.mode == "sampled" and math.isfinite(v.max_ulp) else ""


@dataclass(frozen=True)
class Cell:
    """One format × function of a target at its default parameters."""

    fmt: str
    fn: str
    grade: str
    text: str
    verdict: Verdict | None = None


@dataclass
class TargetSummary:
    """A target's row (cells in the summary's column order) and its findings, one sentence each."""

    target: str
    cells: list[Cell]
    findings: list[str] = field(default_factory=list)
    certificate: str | None = None  # "holds" or "broken", under certify; None otherwise


@dataclass
class Summary:
    columns: list[tuple[str, str]]  # (format, function), in report order
    rows: list[TargetSummary]
    unavailable: list[str] = field(default_factory=list)  # targets that cannot run here, each with its reason
    #: for sampled cells that an exhaustive reference has too: what the sample found beside the truth
    footnotes: list[str] = field(default_factory=list)


def summarize(verdicts: Sequence[Verdict],
              certificate_violations: Mapping[str, Sequence[str]] | None = None,
              truth: Sequence[Verdict] = (), truth_source: str = "") -> Summary:
    """The summary of a report's verdicts; ``certificate_violations`` (target → broken budgets' messages,
    every judged target present, [] where all hold) adds the certificate line, as ``certify`` does.
    ``truth``: exhaustive verdicts (every input of the format judged, ``truth_source`` saying where they were
    measured) whose figure a footnote gives beside each sampled cell of the same combination."""
    measured = [v for v in verdicts if v.format != "-"]
    formats = list(dict.fromkeys(v.format for v in measured))
    fns = list(dict.fromkeys(v.fn for v in measured))
    columns = [(f, fn) for f in formats for fn in fns if any(v.format == f and v.fn == fn for v in measured)]
    rows, unavailable = [], []
    for name in dict.fromkeys(v.target for v in verdicts):
        mine = [v for v in verdicts if v.target == name]
        if all(v.format == "-" for v in mine):  # unavailable here: one line, not a row of dashes
            unavailable.append(mine[0].reason or name)
            continue
        default = {(v.format, v.fn): v for v in mine if v.beta == 1.0 and v.threshold is None}
        cells = [Cell(f, fn, grade(default.get((f, fn))), cell_text(default.get((f, fn))), default.get((f, fn)))
                 for f, fn in columns]
        row = TargetSummary(name, cells, _findings(mine))
        if certificate_violations is not None and name in certificate_violations:
            broken = list(certificate_violations[name])
            row.certificate = "broken" if broken else "holds"
            row.findings.append(_certificate_line(mine, broken))
        rows.append(row)
    return Summary(columns, rows, unavailable, _footnotes(rows, truth, truth_source))


def _footnotes(rows: Sequence[TargetSummary], truth: Sequence[Verdict], source: str) -> list[str]:
    """"numpy-logaddexp float32 softplus: ≥ 1.21 over 20,098 sampled inputs; every input: 1.54 (…)"."""
    known = {(v.target, v.format, v.fn, v.beta, v.threshold): v for v in truth
             if v.status == "ok" and v.mode == "exhaustive"}
    out = []
    for r in rows:
        for c in r.cells:
            v = c.verdict
            t = known.get((v.target, v.format, v.fn, v.beta, v.threshold)) if v is not None else None
            if t is not None and bound_prefix(v):
                out.append(f"{v.target} {v.format} {v.fn}: {c.text} over {v.n_inputs:,} sampled inputs; every input: "
                           f"{num(t.max_ulp)} ({source or 'exhaustive reference'}, path {t.path or 'unknown'})")
    return out


# --- findings --------------------------------------------------------------------------------------------------

def _where(v: Verdict) -> str:
    return f"{v.format} {v.fn}" + ("" if v.beta == 1.0 and v.threshold is None else f" ({v.params})")


@dataclass(frozen=True)
class _Defect:
    kind: str  # "non-finite", "underflow", "jump", "error"
    severity: float  # in ulps; inf for a non-finite result where the truth is finite
    text: str


def _inputs(n: int) -> str:
    return f"{n:,} input" + ("" if n == 1 else "s")


#: Which defect a reader is told first when two are equally large (the one that explains the other).
_PRIORITY = {"non-finite": 3, "jump": 2, "underflow": 1, "error": 0}


def _defects(v: Verdict) -> list[_Defect]:
    """What departs from a faithful, well-behaved result in one verdict, each with the input showing it.
    The largest error joins the jump or the underflow it sits at rather than being told twice."""
    out = []
    bad = v.nonfinite_count + v.nan_count
    if bad:
        kind = "NaN" if v.nan_count and not v.nonfinite_count else "inf or NaN"
        onset = (f" from x = {v.overflow_onset!r} (true result finite"
                 + (f" up to {v.true_overflow_onset!r})" if v.true_overflow_onset is not None else ")")
                 if v.overflow_onset is not None else "")
        out.append(_Defect("non-finite", math.inf, f"{kind} where the truth is finite on {_inputs(bad)} of "
                                                   f"{v.n_inputs:,}{onset}, {_where(v)}"))
    w = v.worst_finite[0] if v.max_finite_ulp >= 1.0 and v.worst_finite else None
    worst_told = False
    jumps = [j for j in v.switch_jumps if j.jump_ulp > 1.0]
    if jumps:
        j = max(jumps, key=lambda s: s.jump_ulp)
        how = "a switch it does not declare" if j.discovered else "its formula switch"
        text = f"jump of {num(j.jump_ulp)} ulp at {how} x = {j.at!r} (between {j.below!r} and {j.above!r})"
        if w is not None and w.x in (j.below, j.above):
            text += f"; there {_error_text(w)}"
            worst_told = True
        out.append(_Defect("jump", max(j.jump_ulp, w.ulp if worst_told else 0.0), f"{text}, {_where(v)}"))
    if v.underflow_onset is not None:
        text = (f"early underflow: returns 0 from x = {v.underflow_onset!r} down, where the truth is positive "
                f"down to {v.true_underflow_onset!r}")
        sev = 1.0
        if w is not None and not worst_told and w.result == 0.0 and w.x <= v.underflow_onset:
            text += f"; worst {_error_text(w)}"
            worst_told, sev = True, w.ulp
        out.append(_Defect("underflow", sev, f"{text}, {_where(v)}"))
    if w is not None and not worst_told:
        out.append(_Defect("error", w.ulp, f"{_error_text(w)}, {_where(v)}"))
    return out


def _error_text(w) -> str:
    return f"max error {num(w.ulp)} ulp at x = {w.x!r} (returns {w.result!r}, correctly rounded {w.correct!r})"


def _rank(d: _Defect) -> tuple[float, int]:
    return d.severity, _PRIORITY[d.kind]


def _worst_line(label: str, verdicts: Sequence[Verdict]) -> str | None:
    found = [d for v in verdicts for d in _defects(v)]
    if not found:
        return None
    worst = max(found, key=_rank)
    return f"{label}: {worst.text}."


def _clean_line(default: Sequence[Verdict]) -> str:
    """No defect at the default parameters: say how close to correct rounding, with the worst input."""
    if all(v.correctly_rounded_fraction >= 1.0 for v in default):
        return "At default parameters: correctly rounded on every input judged."
    v = max(default, key=lambda u: u.max_ulp)
    w = v.worst_finite[0] if v.worst_finite else None
    at = f" at x = {w.x!r}, {_where(v)}" if w else f", {_where(v)}"
    return (f"At default parameters: faithful (< 1 ulp) everywhere; max {num(v.max_ulp)} ulp{at}; "
            f"lowest correctly rounded share {percent(min(u.correctly_rounded_fraction for u in default))}%.")


def _property_line(verdicts: Sequence[Verdict]) -> str | None:
    parts = []
    mono = [v for v in verdicts if v.monotonicity_violations]
    if mono:
        most = max(mono, key=lambda v: v.monotonicity_violations)
        parts.append(f"monotonicity in {len(mono)} of {len(verdicts)} combinations (most: {_where(most)}, "
                     f"{most.monotonicity_violations:,} violation{'' if most.monotonicity_violations == 1 else 's'})")
    for key, fn in dict.fromkeys((k, v.fn) for v in verdicts for k in v.property_failures):
        broke = [v for v in verdicts if v.fn == fn and v.property_failures.get(key)]
        if broke:
            most = max(broke, key=lambda v: v.property_failures[key])
            parts.append(f"{PROPERTY_NAMES.get((key, fn), key)} in {len(broke)} (most: {_where(most)}, "
                         f"{_inputs(most.property_failures[key])})")
    specials = [v for v in verdicts if any(not s.get("ok", True) for s in v.special_values.values())]
    if specials:
        v = specials[0]
        names = ", ".join(k for k, s in v.special_values.items() if not s.get("ok", True))
        parts.append(f"special values in {len(specials)} (e.g. {names}, {_where(v)})")
    return ("Breaks " + "; ".join(parts) + ".") if parts else None


def _findings(mine: Sequence[Verdict]) -> list[str]:
    ok = [v for v in mine if v.status == "ok"]
    lines = []
    default = [v for v in ok if v.beta == 1.0 and v.threshold is None]
    other = [v for v in ok if not (v.beta == 1.0 and v.threshold is None)]
    if default:
        lines.append(_worst_line("Worst at default parameters", default) or _clean_line(default))
        kinds = _other_kinds(default)
        if kinds:
            lines.append("Also at default parameters: " + "; ".join(kinds) + ".")
    if other:
        line = _worst_line(f"Worst over the other {len(other)} parameter sets", other)
        if line:
            lines.append(line)
    prop = _property_line(ok)
    if prop:
        lines.append(prop)
    errors = [v for v in mine if v.status == "error"]
    if errors:
        lines.append(f"Not measured: {len(errors)} combination(s), e.g. {_where(errors[0])}: {errors[0].reason}.")
    return lines


def _other_kinds(default: Sequence[Verdict]) -> list[str]:
    """Besides the worst defect: the worst instance of each other kind at the default parameters."""
    found = sorted((d for v in default for d in _defects(v)), key=_rank, reverse=True)
    seen = {found[0].kind} if found else set()
    out = []
    for d in found[1:]:
        if d.kind not in seen:
            seen.add(d.kind)
            out.append(d.text)
    return out


def _certificate_line(mine: Sequence[Verdict], broken: Sequence[str]) -> str:
    judged = sum(v.status != "unsupported" for v in mine)
    if not broken:
        return f"Certificate: holds ({judged} combinations judged)."
    return f"Certificate: BROKEN, {len(broken)} budget(s); first: {broken[0]}"


# --- renderers: Markdown and terminal ----------------------------------------------------------------------------

def _legend() -> str:
    return ("🟢 correctly rounded · 🟡 faithful (< 1 ulp) · 🟠 ≥ 1 ulp · 🔴 inf or NaN where the truth is finite · "
            "⛔ not measured · – not supported")


#: What "≥" in a cell means, said under every rendering of the grid.
BOUND_NOTE = ("≥: the largest error of a sample (float32, float64: the sample's size is in each format's table); "
              "the maximum over every input of the format is at least this")


def summary_markdown(s: Summary) -> list[str]:
    """The summary as Markdown lines: the grid (max ulp at default parameters, graded), then the findings."""
    if not s.rows:
        return []
    head = "| target | " + " | ".join(f"{f} {fn.replace('softplus_grad', 'grad')}" for f, fn in s.columns) + " |"
    lines = ["## Summary", "",
             "Max error in ulps at each target's default parameters (beta=1, its default threshold); "
             + _legend() + ".", "", head, "|---|" + "---:|" * len(s.columns)]
    for r in s.rows:
        cells = [f"{GRADE_MARKS[c.grade]} {c.text}".strip() for c in r.cells]
        lines.append(f"| {r.target} | " + " | ".join(cells) + " |")
    if any(c.text.startswith("≥") for r in s.rows for c in r.cells):
        lines += ["", BOUND_NOTE + "."]
    if s.footnotes:
        lines += ["", "Every input, where an exhaustive reference has it:", "", *[f"- {f}" for f in s.footnotes]]
    if s.unavailable:
        lines += ["", "Not available here: " + "; ".join(s.unavailable) + "."]
    lines += ["", "### Findings", ""]
    for r in s.rows:
        lines.append(f"- **{r.target}**" + (f" (certificate {r.certificate})" if r.certificate else ""))
        lines += [f"  - {f}" for f in r.findings]
    lines.append("")
    return lines


#: One-character grade codes for a terminal (emoji have no fixed width there), and their ANSI colours.
_CODES = {"correctly rounded": ("=", "32"), "faithful": ("~", "33"), "worse": ("!", "35"), "non-finite": ("X", "31"),
          "error": ("E", "31"), "unsupported": ("", "")}
_SHORT = {"float16": "f16", "bfloat16": "bf16", "float32": "f32", "float64": "f64", "float8_e4m3fn": "e4m3",
          "float8_e5m2": "e5m2"}


def summary_lines(s: Summary, color: bool = False, width: int = 10) -> list[str]:
    """The summary grid for a terminal: a line per target, a max-ulp cell per column with its grade code
    (ANSI-coloured with ``color``), then each target's findings."""
    if not s.rows:
        return []
    names = [f"{_SHORT.get(f, f)}{'/grad' if fn == 'softplus_grad' else ''}" for f, fn in s.columns]
    tw = max(12, max(len(r.target) for r in s.rows))
    # every cell right-aligned with a space before it, however long its figure ("≥ 1.86e+07!")
    width = max([width] + [len(c.text) + 2 for r in s.rows for c in r.cells])
    out = ["max ulp at default parameters:  = correctly rounded  ~ faithful (< 1 ulp)  ! ≥ 1 ulp  "
           "X inf/NaN where the truth is finite  E not measured  – not supported",
           " " * (tw + 2) + "".join(f"{n:>{width}s}" for n in names)]
    for r in s.rows:
        cells = []
        for c in r.cells:
            code, ansi = _CODES[c.grade]
            text = f"{c.text}{code}" if c.grade != "unsupported" else "–"
            text = f"{text:>{width}s}"
            cells.append(f"\x1b[{ansi}m{text}\x1b[0m" if color and ansi else text)
        tail = f"  certificate {r.certificate}" if r.certificate else ""
        out.append(f"  {r.target:{tw}s}" + "".join(cells) + tail)
    if any(c.text.startswith("≥") for r in s.rows for c in r.cells):
        out.append("  " + BOUND_NOTE)
    if s.footnotes:
        out.append("  every input, where an exhaustive reference has it:")
        out += [f"    - {f}" for f in s.footnotes]
    if s.unavailable:
        out.append("  not available here: " + "; ".join(s.unavailable))
    for r in s.rows:
        out.append(f"{r.target}:")
        out += [f"  - {f}" for f in r.findings]
    return out
