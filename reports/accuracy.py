"""Accuracy reports: run the judge over a grid of combinations and write JSON and Markdown.

``accuracy.json`` holds the Verdict records (``oracle.judge.Verdict.to_dict``) and the environment under a
schema version; ``accuracy.md`` fits a CI job summary: one table per format, then the worst inputs.
Files are written atomically (temporary file, then rename): an interrupted run never leaves half a file.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from oracle.cache import atomic_write
from oracle.grid import Combo
from oracle.judge import SCHEMA_VERSION, Verdict, judge

__all__ = ["REPORT_SCHEMA", "Interrupted", "run_grid", "write_json", "write_markdown", "atomic_write_text", "load_json"]

#: Layout version of accuracy.json: the Verdict schema plus the envelope around it.
REPORT_SCHEMA = f"softplus-cert/accuracy/{SCHEMA_VERSION}"


def run_grid(combos: Iterable[Combo], n: int | None, seed: int,
             progress: Callable[[Combo], None] | None = None) -> list[Verdict]:
    """Judge each combination (skipped ones become "unsupported" verdicts), in order.

    ``progress`` is called with each combination after it has been judged.
    """
    out: list[Verdict] = []
    try:
        _judge_all(combos, n, seed, progress, out)
    except KeyboardInterrupt:
        raise Interrupted(out) from None
    return out


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run_grid`; ``verdicts`` holds the combinations finished before it."""

    def __init__(self, verdicts: list[Verdict]) -> None:
        super().__init__(f"interrupted after {len(verdicts)} combinations")
        self.verdicts = verdicts


def _judge_all(combos, n, seed, progress, out: list[Verdict]) -> None:
    for c in combos:
        if c.skip:
            out.append(Verdict(target=c.target.name, format=c.fmt, fn=c.fn, beta=c.beta,
                               threshold=c.threshold, status="unsupported", reason=c.skip))
        else:
            out.append(judge(c.target, c.fmt, c.fn, c.beta, c.threshold, n=n, seed=seed))
            if progress:
                progress(c)


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text.encode("utf-8"))


def write_json(path: Path, verdicts: list[Verdict], env: dict[str, Any]) -> None:
    doc = {"schema": REPORT_SCHEMA, "environment": env, "verdicts": [v.to_dict() for v in verdicts]}
    atomic_write_text(path, json.dumps(doc, separators=(",", ":"), allow_nan=False) + "\n")


def load_json(path: Path) -> tuple[list[Verdict], dict[str, Any]]:
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    if doc.get("schema") != REPORT_SCHEMA:
        raise ValueError(f"{path}: schema {doc.get('schema')!r}, expected {REPORT_SCHEMA!r}")
    return [Verdict.from_dict(d) for d in doc["verdicts"]], doc["environment"]


def _num(v: float | None, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.{digits}g}"


def _onset(found: float | None, true: float | None) -> str:
    if found is None and true is None:
        return "–"
    mark = "" if found is None else " ⚠"  # any found onset is a deviation from the truth
    return f"{_num(found, 8)} / {_num(true, 8)}{mark}"


def write_markdown(path: Path, verdicts: list[Verdict], env: dict[str, Any]) -> None:
    lines = ["# softplus-cert accuracy report", ""]
    lines.append(f"Errors in ulps of the format under test against the correctly rounded oracle. "
                 f"Generated {env.get('date')} on {env.get('cpu')} (Python {env.get('python')}), "
                 f"seed {env.get('seed')}.")
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
                f"| {v.target} | {v.fn} | {v.params} | {_num(v.max_ulp)} | {_num(v.mean_ulp)} | "
                f"{100 * v.correctly_rounded_fraction:.3f} | {v.nonfinite_count + v.nan_count} | "
                f"{_onset(v.overflow_onset, v.true_overflow_onset)} | "
                f"{_onset(v.underflow_onset, v.true_underflow_onset)} | {_num(v.threshold_jump_ulp)} | "
                f"{_num(v.safe_threshold, 5)} | {v.monotonicity_violations} | {props} |")
        lines.append("")
    bad = [v for v in verdicts if v.status == "error"]
    if bad:
        lines += ["## Errors", ""] + [f"- {v.target} {v.format} {v.fn} ({v.params}): {v.reason}" for v in bad] + [""]
    lines += ["## Worst inputs", "", "| target | format | fn | params | x | result | correctly rounded | ulp |",
              "|---|---|---|---|---|---|---|---:|"]
    for v in ok:
        for w in v.worst[:3]:
            lines.append(f"| {v.target} | {v.format} | {v.fn} | {v.params} | {w.x!r} | {w.result!r} | "
                         f"{w.correct!r} | {_num(w.ulp)} |")
    skipped = sorted({f"{v.target}: {v.reason}" for v in verdicts if v.status == "unsupported" and v.format == "-"})
    if skipped:
        lines += ["", "## Unavailable targets", ""] + [f"- {s}" for s in skipped]
    atomic_write_text(path, "\n".join(lines) + "\n")


def summary_table(verdicts: list[Verdict], stream=sys.stdout) -> None:
    """One line per measured combination, for the terminal."""
    for v in verdicts:
        if v.status == "ok":
            print(f"  {v.target:16s} {v.format:14s} {v.fn:14s} {v.params:32s} max {_num(v.max_ulp):>8s} ulp  "
                  f"{100 * v.correctly_rounded_fraction:7.3f}% CR", file=stream)
        elif v.status == "error":
            print(f"  {v.target:16s} {v.format:14s} {v.fn:14s} ERROR {v.reason}", file=stream)
