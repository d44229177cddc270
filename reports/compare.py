"""Two runs compared, written: compare.md (fits a CI job summary, ``$GITHUB_STEP_SUMMARY``), compare.html (one
self-contained page) and the terminal lines, all from the records of :mod:`engine.compare`.

Every form lists the same changes in the same order (:attr:`engine.compare.Comparison.changes`: new and fixed
findings first, most severe first, then the other changed combinations, then those only in one report),
one row or line per combination, its figures marked ▲ worse, ▼ better or · neither, and the path where it
changed. Values that differ are printed with as many digits as it takes for them to read differently
(:mod:`reports.digits`): 127.99999999999999 → 128 ulp is no "128 → 128".

The page, like index.html, needs nothing beside it: inline CSS, no script, and a Content-Security-Policy that
forbids every other source. Hooks for tests and styling: ``table.changes`` (``id="findings"``, ``id="other"``,
``id="added"``, ``id="removed"``), rows ``tr.worse`` / ``tr.better`` / ``tr.changed`` with ``data-target``,
each figure an ``li`` of the same classes.
"""

from __future__ import annotations

import html
from pathlib import Path

from engine.compare import BETTER, NEITHER, WORSE, Change, Comparison, FigureChange
from oracle.files import atomic_write_text
from reports.digits import num, num_pair, percent
from reports.page import page

__all__ = ["MARKS", "figure_text", "headline", "terminal_lines", "render_markdown", "render_html", "write_comparison"]

#: How a figure's direction is marked.
MARKS = {WORSE: "▲", BETTER: "▼", NEITHER: "·"}

_CSS = """
tr.worse { background: #fff4f0; } tr.better { background: #f0faf2; }
li.worse { color: #b00020; } li.better { color: #1b6e2a; }
ul.figures { margin: 0; padding-left: 1.1em; }
.note { color: #555; font-size: 0.9em; }
code { font-size: 0.95em; }
"""


# --- text of the records ---------------------------------------------------------------------------------------

def _percents(a: float, b: float) -> tuple[str, str]:
    """Two fractions as percentages, with decimals enough to tell them apart."""
    d = 3
    while d < 17 and a != b and percent(a, d) == percent(b, d):
        d += 1
    return percent(a, d), percent(b, d)


def _switches(value: tuple) -> str:
    return ", ".join(f"x = {num(s[0], 8)} ({num(s[3])} ulp)" for s in value) or "none"


def figure_text(f: FigureChange) -> str:
    """"max error 1.38 → 1.45 ulp": the figure, both values, its unit (without the direction mark)."""
    if f.unit == "ulp":
        a, b = num_pair(f.old, f.new, 3)
        return f"{f.label} {a} → {b} ulp"
    if f.unit == "fraction":
        a, b = _percents(f.old, f.new)
        return f"{f.label} {a} → {b} %"
    if f.unit == "count":
        return f"{f.label} {f.old:,} → {f.new:,}"
    if f.unit == "x":
        a, b = num_pair(f.old, f.new)
        return f"{f.label} x = {a} → {b}"
    if f.unit == "switches":
        return f"{f.label} {_switches(f.old)} → {_switches(f.new)}"
    if f.unit == "names":
        return f"{f.label} {', '.join(f.old) or 'none'} → {', '.join(f.new) or 'none'}"
    return f"{f.label} {f.old} → {f.new}"  # status


def _figures(c: Change) -> list[tuple[str, str]]:
    """(direction, text) of each part of a change: its figures (a status change with the reason), or what the
    one report that holds it says."""
    if c.kind != "changed":
        v = c.new if c.kind == "added" else c.old
        reason = f": {v.reason}" if v.reason else ""
        return [(NEITHER, f"only in {'NEW' if c.kind == 'added' else 'OLD'}: {v.status}{reason}")]
    out, told = [], {(f.old, f.new) for f in c.figures if f.name == "max_ulp"}
    for f in c.figures:
        if f.name == "max_finite_ulp" and (f.old, f.new) in told:
            continue  # every error finite on both sides: the max error line says it
        text = figure_text(f)
        if f.name == "status" and c.new.reason and c.new.status != "ok":
            text += f" ({c.new.reason})"
        out.append((f.direction, text))
    return out


def _findings(c: Change) -> str:
    return ", ".join(f"{f.state}: {f.label}" for f in c.findings)


def _path(c: Change) -> str:
    v = c.new or c.old
    if c.path_change:
        return f"{c.path_change[0] or '–'} → {c.path_change[1] or '–'}"
    return v.path or "–"


def _tag(c: Change) -> str:
    return c.kind if c.kind != "changed" else c.direction


def headline(c: Comparison) -> str:
    """One line: what was compared and how many combinations changed."""
    worse, better = len(c.worse), sum(ch.direction == BETTER for ch in c.changed)
    return (f"{c.matched} combinations in both reports: {len(c.changed)} changed ({worse} worse, {better} better, "
            f"{len(c.changed) - worse - better} neither), {c.unchanged} unchanged; "
            f"{len(c.of_kind('added'))} only in NEW, {len(c.of_kind('removed'))} only in OLD")


def terminal_lines(c: Comparison) -> list[str]:
    """One line per change, in the comparison's order: direction, combination, findings, figures, path."""
    out = []
    for ch in c.changes:
        findings = f" [{_findings(ch)}]" if ch.findings else ""
        figures = "; ".join(f"{t} {MARKS[d]}" if ch.kind == "changed" else t for d, t in _figures(ch))
        path = f"; path {_path(ch)}" if ch.path_change else ""
        out.append(f"{_tag(ch):8s} {ch.title}{findings}: {figures}{path}")
    return out


def _paths_sentence(c: Comparison) -> str:
    if not c.path_changes:
        return "No instruction-set path changed."
    return "Instruction-set paths changed: " + ", ".join(
        f"{a or '–'} → {b or '–'} ({n})" for a, b, n in c.path_changes) + "."


_INTRO = ("Combinations matched by target, format, function, β, threshold and mode (not by machine or "
          "instruction-set path). Figures: ▲ worse, ▼ better, · neither; a combination is worse where any "
          "figure is. Errors in ulps of the format; onsets and switches in x.")


# --- Markdown --------------------------------------------------------------------------------------------------

def _md(text: str) -> str:
    """A table cell: pipes escaped, no line breaks (target names and reasons come from plugins)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _md_table(changes: list[Change], first: str) -> list[str]:
    lines = [f"| {first} | combination | path | what changed |", "|---|---|---|---|"]
    for ch in changes:
        lead = _findings(ch) if first == "finding" else _tag(ch)
        what = "<br>".join(f"{MARKS[d]} {_md(t)}" for d, t in _figures(ch))
        lines.append(f"| {_md(lead)} | {_md(ch.title)} | {_md(_path(ch))} | {what} |")
    return lines + [""]


def _sections(c: Comparison) -> list[tuple[str, str, str, list[Change]]]:
    """(id, heading, first column, changes) of each non-empty section, in order."""
    found = [ch for ch in c.changed if ch.findings]
    other = [ch for ch in c.changed if not ch.findings]
    parts = [("findings", "New and fixed findings", "finding", found),
             ("other", "Other changes", "", other),
             ("added", "Only in NEW", "", c.of_kind("added")),
             ("removed", "Only in OLD", "", c.of_kind("removed"))]
    return [p for p in parts if p[3]]


def _side(name: str, run) -> str:
    dated = run.date and run.date[:10] not in run.machine  # a machine line may say its date already
    return f"**{name}** `{run.label}` — {run.machine or 'machine not recorded'}" + (
        f" ({run.date})" if dated else "") + f", {run.combinations} verdicts"


def render_markdown(c: Comparison) -> str:
    """compare.md: both runs, the counts, then a table per section (findings, other changes, only in one)."""
    lines = ["# softplus-cert: two runs compared", "", _side("OLD", c.old) + "  ", _side("NEW", c.new), "",
             f"**{headline(c)}.**", "", _paths_sentence(c), "", _INTRO, ""]
    for _, heading, first, changes in _sections(c):
        lines += [f"## {heading}", ""] + _md_table(changes, first or " ")
    if not c.changes:
        lines += ["Every figure of every combination in both reports is the same.", ""]
    return "\n".join(lines)


# --- HTML ------------------------------------------------------------------------------------------------------

def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _html_table(section: str, changes: list[Change], first: str) -> str:
    rows = [f'<table class="changes" id="{section}"><thead><tr><th>{_e(first or "")}</th><th>combination</th>'
            "<th>path</th><th>what changed</th></tr></thead><tbody>"]
    for ch in changes:
        lead = _findings(ch) if first == "finding" else _tag(ch)
        items = "".join(f'<li class="{d}">{MARKS[d]} {_e(t)}</li>' for d, t in _figures(ch))
        rows.append(f'<tr class="{_e(_tag(ch))}" data-target="{_e(ch.key[0])}"><td>{_e(lead)}</td>'
                    f"<td>{_e(ch.title)}</td><td>{_e(_path(ch))}</td>"
                    f'<td><ul class="figures">{items}</ul></td></tr>')
    return "\n".join(rows) + "</tbody></table>"


def render_html(c: Comparison) -> str:
    """compare.html: the same as compare.md, one self-contained page."""
    body = ["<h1>softplus-cert: two runs compared</h1>",
            '<table class="runs"><thead><tr><th></th><th>report</th><th>machine</th><th>date</th>'
            "<th>verdicts</th></tr></thead><tbody>"
            + "".join(f"<tr><th>{name}</th><td><code>{_e(r.label)}</code></td><td>{_e(r.machine or '–')}</td>"
                      f'<td>{_e(r.date or "–")}</td><td class="num">{r.combinations}</td></tr>'
                      for name, r in (("OLD", c.old), ("NEW", c.new)))
            + "</tbody></table>",
            f'<p id="headline"><strong>{_e(headline(c))}.</strong></p>',
            f'<p class="note">{_e(_paths_sentence(c))} {_e(_INTRO)}</p>']
    for section, heading, first, changes in _sections(c):
        body += [f"<h2>{_e(heading)}</h2>", _html_table(section, changes, first)]
    if not c.changes:
        body.append("<p>Every figure of every combination in both reports is the same.</p>")
    return page("softplus-cert: two runs compared", "\n".join(body), _CSS)


def write_comparison(out_dir: Path, c: Comparison) -> list[Path]:
    """Write compare.md and compare.html into ``out_dir`` (atomically); their paths."""
    out_dir = Path(out_dir)
    md, html_path = out_dir / "compare.md", out_dir / "compare.html"
    atomic_write_text(md, render_markdown(c) + "\n")
    atomic_write_text(html_path, render_html(c))
    return [md, html_path]
