"""Accuracy reports written: accuracy.json and accuracy.md of the verdicts a run measured.

``accuracy.json`` holds the Verdict records (``engine.judge.Verdict.to_dict``) and the environment under a
schema version, with the agreement between targets (``engine.agreement``: one matrix of bit-identical
fractions per format and function, and the disagreements of device pairs); ``accuracy.md`` fits a CI job
summary: one table per format, the worst inputs, then the agreement tables.
Files are written atomically (temporary file, then rename): an interrupted run never leaves half a file.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from engine.agreement import DEVICE_PAIRS, AgreementMatrix, PairReport
from engine.stored import REPORT_SCHEMA
from engine.verdict import Verdict
from oracle.files import atomic_write_text, dumps
from reports.digits import num, num_pair, percent
from reports.summary import bound_prefix, summarize, summary_lines, summary_markdown
from reports.unmeasured import skipped_markdown, skipped_phases

__all__ = ["max_cell", "write_json", "write_markdown", "summary_table", "agreement_percent", "AGREEMENT_NOTE",
           "pair_summary"]

def write_json(path: Path, verdicts: list[Verdict], env: dict[str, Any], *,
               agreement: Sequence[AgreementMatrix] | None = None,
               device_agreement: Sequence[PairReport] | None = None, layout: Sequence = ()) -> None:
    """accuracy.json: the verdicts, the environment, the agreement between targets
    (:mod:`engine.agreement`: matrices under "agreement", device pairs under "device_agreement"), the
    layout-consistency reports (:mod:`engine.consistency`, under "layout") and what was skipped after a target
    hung or crashed (:func:`reports.unmeasured.skipped_phases`, under "skipped")."""
    doc = {"schema": REPORT_SCHEMA, "environment": env, "verdicts": [v.to_dict() for v in verdicts],
           "agreement": [m.to_dict() for m in agreement or ()],
           "device_agreement": [p.to_dict() for p in device_agreement or ()],
           "layout": [r.to_dict() for r in layout],
           "skipped": skipped_phases(verdicts, layout, agreement or ())}
    atomic_write_text(path, dumps(doc) + "\n")


def max_cell(v: Verdict) -> str:
    """The headline maximum, with the largest finite error beside it where they differ ("inf (finite 1.26)");
    a sample's reads "≥ 1.21" (:func:`reports.summary.bound_prefix`)."""
    same = v.max_finite_ulp == v.max_ulp or (math.isnan(v.max_finite_ulp) and math.isnan(v.max_ulp))
    head = bound_prefix(v) + num(v.max_ulp)
    return head if same else f"{head} (finite {bound_prefix(v)}{num(v.max_finite_ulp)})"


def _onset(found: float | None, true: float | None) -> str:
    if found is None and true is None:
        return "–"
    mark = "" if found is None else " ⚠"  # any found onset is a deviation from the truth
    return " / ".join(num_pair(found, true)) + mark


def write_markdown(path: Path, verdicts: list[Verdict], env: dict[str, Any], *,
                   agreement: Sequence[AgreementMatrix] | None = None,
                   device_agreement: Sequence[PairReport] | None = None, layout: Sequence = (),
                   certificate_violations: Mapping[str, Sequence[str]] | None = None,
                   truth: Sequence[Verdict] = (), truth_source: str = "") -> None:
    """accuracy.md: the summary (:mod:`reports.summary`: a graded row per target, its findings and, given
    ``certificate_violations`` as ``certify`` passes them, whether its certificate holds), then one table
    per format, the worst inputs, formula switches, agreement, layout and what was skipped."""
    lines = ["# softplus-cert accuracy report", ""]
    lines.append(f"Errors in ulps of the format under test against the correctly rounded oracle. "
                 f"Generated {env.get('date')} on {env.get('cpu')} (Python {env.get('python')}), "
                 f"seed {env.get('seed')}.")
    lines.append("")
    lines += summary_markdown(summarize(verdicts, certificate_violations, truth, truth_source))
    pk = env.get("packages", {})
    lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(pk.items())) + ".")
    lines.append("")
    ok = [v for v in verdicts if v.status == "ok"]
    for fmt in dict.fromkeys(v.format for v in ok):
        rows = [v for v in ok if v.format == fmt]
        lines += [f"## {fmt}", "",
                  f"mode: {rows[0].mode}, inputs per row: {rows[0].n_inputs:,}" if rows else "", "",
                  "| target | fn | params | max ulp | mean ulp | % correctly rounded | non-finite | "
                  "overflow onset / true | underflow to 0 / true | switch jump (ulp) | safe threshold βx | "
                  "monotonicity | property failures |",
                  "|---|---|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|"]
        for v in rows:
            props = sum(v.property_failures.values())
            lines.append(
                f"| {v.target} | {v.fn} | {v.params} | {max_cell(v)} | {num(v.mean_ulp)} | "
                f"{percent(v.correctly_rounded_fraction)} | {v.nonfinite_count + v.nan_count} | "
                f"{_onset(v.overflow_onset, v.true_overflow_onset)} | "
                f"{_onset(v.underflow_onset, v.true_underflow_onset)} | {num(v.threshold_jump_ulp)} | "
                f"{num(v.safe_threshold, 5)} | {v.monotonicity_violations} | {props} |")
        lines.append("")
    bad = [v for v in verdicts if v.status == "error"]
    if bad:
        lines += ["## Errors", ""] + [f"- {v.target} {v.format} {v.fn} ({v.params}): {v.reason}" for v in bad] + [""]
    lines += ["## Worst inputs", "",
              "Found by: the sample, a boundary set, the local search around the worst inputs and every switch "
              "(`engine.refine`), or every input judged (exhaustive).", "",
              "| target | format | fn | params | x | result | correctly rounded | ulp | found by |",
              "|---|---|---|---|---|---|---|---:|---|"]
    for v in ok:
        for i, w in enumerate(v.worst[:3]):
            source = v.worst_source if i == 0 and v.worst_finite and w.x == v.worst_finite[0].x else ""
            lines.append(f"| {v.target} | {v.format} | {v.fn} | {v.params} | {w.x!r} | {w.result!r} | "
                         f"{w.correct!r} | {num(w.ulp)} | {source} |")
    lines += _switch_markdown(ok)
    lines += _agreement_markdown(agreement or [], device_agreement or [])
    lines += _layout_markdown(layout)
    lines += skipped_markdown(skipped_phases(verdicts, layout, agreement or ()))
    skipped = sorted({f"{v.target}: {v.reason}" for v in verdicts if v.status == "unsupported" and v.format == "-"})
    if skipped:
        lines += ["", "## Unavailable targets", ""] + [f"- {s}" for s in skipped]
    atomic_write_text(path, "\n".join(lines) + "\n")


def _switch_markdown(verdicts: Sequence[Verdict]) -> list[str]:
    """Every formula switch measured: declared by the target, or discovered (``engine.switches``)."""
    rows = [(v, j) for v in verdicts for j in v.switch_jumps]
    if not rows:
        return []
    lines = ["", "## Formula switches", "",
             "Where the implementation changes formula: declared by the target, or discovered from an abrupt "
             "change of its signed error between neighbouring inputs, narrowed to two adjacent floats. Errors "
             "in ulps, signed; safe threshold βx: from where softplus correctly rounds to x itself.", "",
             "| target | format | fn | params | how | last x below | first x above | error below | error above | "
             "jump (ulp) | safe threshold βx |", "|---|---|---|---|---|---|---|---:|---:|---:|---:|"]
    for v, j in rows:
        lines.append(f"| {v.target} | {v.format} | {v.fn} | {v.params} | "
                     f"{'discovered' if j.discovered else 'declared'} | {j.below!r} | {j.above!r} | "
                     f"{num(j.error_below_ulp)} | {num(j.error_above_ulp)} | {num(j.jump_ulp)} | "
                     f"{num(v.safe_threshold, 5)} |")
    return lines


def _layout_markdown(reports: Sequence) -> list[str]:
    if not reports:
        return []
    lines = ["", "## Layout consistency", "",
             "Inputs whose result changes with where they sit in a tensor (length, position, offset), with "
             "strided or transposed views, or with the thread count, against one contiguous call "
             "(`engine.consistency`; beta=1, default threshold). Bit-identical is the expectation.", "",
             "| target | format | fn | differing / inputs | max ulps | worst x | result (layout) | other (layout) |",
             "|---|---|---|---:|---:|---|---|---|"]
    for r in reports:
        if r.status != "ok":
            if r.status == "error":
                lines.append(f"| {r.target} | {r.format} | {r.fn} | error: {r.reason} | | | | |")
            continue
        w = r.worst
        cells = (f"{w.x!r} | {w.result_a!r} ({w.layout_a}) | {w.result_b!r} ({w.layout_b})" if w
                 else "– | – | –")
        lines.append(f"| {r.target} | {r.format} | {r.fn} | {r.differing} / {r.n_inputs} | "
                     f"{num(r.max_ulps)} | {cells} |")
    return lines


#: What the agreement tables show (Markdown and HTML).
AGREEMENT_NOTE = ("Percentage of inputs on which two targets return bit-identical results (NaN equals NaN "
                  "whatever its payload; −0 and +0 differ), at beta=1 and each target's default threshold, on "
                  "the inputs of the tables above (every value of an 8- or 16-bit format; the seeded sample, "
                  "boundary sets and every target's switch points otherwise).")


def agreement_percent(fraction: float) -> str:
    """A fraction as a percentage with 1 decimal that never rounds a difference away: 100.0 only for
    complete agreement (else at most ">99.9"), 0.0 only for none (else at least "<0.1")."""
    if isinstance(fraction, float) and math.isnan(fraction):
        return "nan"
    if fraction >= 1.0:
        return "100.0"
    if fraction <= 0.0:
        return "0.0"
    text = f"{100 * fraction:.1f}"
    return ">99.9" if text == "100.0" else ("<0.1" if text == "0.0" else text)


def agreement_heading(m: AgreementMatrix) -> str:
    return f"{m.format}, {m.fn} ({m.mode}, {m.n_inputs:,} inputs)"


def pair_summary(p: PairReport) -> str:
    if p.errors:
        return "not compared: " + "; ".join(f"{k}: {v}" for k, v in p.errors.items())
    return (f"{p.differing:,} of {p.n_inputs:,} inputs differ; closer to the oracle: {p.a} on {p.a_closer:,}, "
            f"{p.b} on {p.b_closer:,}, equally close on {p.ties:,}")


def _agreement_markdown(matrices: Sequence[AgreementMatrix], pairs: Sequence[PairReport]) -> list[str]:
    if not matrices and not pairs:
        return []
    lines = ["", "## Agreement between targets", "", AGREEMENT_NOTE, ""]
    for m in matrices:
        lines += [f"### {agreement_heading(m)}", ""]
        if m.targets:
            lines += ["| | " + " | ".join(m.targets) + " |", "|---|" + "---:|" * len(m.targets)]
            for name, row in zip(m.targets, m.identical):
                lines.append(f"| {name} | " + " | ".join(agreement_percent(f) for f in row) + " |")
            lines.append("")
        lines += [f"- not compared: {k}: {v}" for k, v in m.errors.items()] + ([""] if m.errors else [])
    lines += ["## Device agreement", ""]
    if not pairs:
        names = ", ".join(f"{a} / {b}" for a, b in DEVICE_PAIRS)
        return lines + [f"No device pair was available ({names})."]
    for p in pairs:
        lines += [f"### {p.a} / {p.b}: {p.format}, {p.fn} ({p.mode}, {p.n_inputs:,} inputs)", "",
                  pair_summary(p) + ".", ""]
        if p.examples:
            lines += [f"| x | {p.a} | {p.b} | ulp {p.a} | ulp {p.b} | closer |", "|---|---|---|---:|---:|---|"]
            for e in p.examples:
                closer = {"a": p.a, "b": p.b}.get(e.closer, "tie")
                lines.append(f"| {e.x!r} | {e.result_a!r} | {e.result_b!r} | {num(e.ulp_a)} | {num(e.ulp_b)} | "
                             f"{closer} |")
            lines.append("")
    return lines[:-1] if lines[-1] == "" else lines


def summary_table(verdicts: list[Verdict], stream=None,
                  certificate_violations: Mapping[str, Sequence[str]] | None = None,
                  truth: Sequence[Verdict] = (), truth_source: str = "") -> None:
    """The summary for the terminal (:func:`reports.summary.summary_lines`: a graded row per target at its
    default parameters, then each target's findings), coloured where ``stream`` is a terminal, and the
    combinations that failed (``stream``: default the sys.stdout of the moment, not of the import)."""
    stream = stream or sys.stdout
    color = bool(getattr(stream, "isatty", lambda: False)())
    for line in summary_lines(summarize(verdicts, certificate_violations, truth, truth_source), color=color):
        print(line, file=stream)
    for v in verdicts:
        if v.status == "error":
            print(f"  {v.target:16s} {v.format:14s} {v.fn:14s} ERROR {v.reason}", file=stream)
