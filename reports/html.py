"""The accuracy report as one self-contained HTML page: tables and plots, readable offline and as a CI artifact.

``index.html`` needs nothing beside it: CSS is inline, the PNG plots are embedded as ``data:`` URIs, there is
no script, and a Content-Security-Policy forbids every other source, so a page that would reach out to the
network shows broken instead of silently depending on it. The same PNGs are also left in ``plots/`` beside
it (for linking, diffing, or a job summary). The page stays light (the default report's under 3 MB): plots
are palette PNGs (``reports.plots``), at most ``MAX_SWITCH_PLOTS`` switch plots are drawn, and pictures and
the environment are folded in ``<details>`` so the page opens on the summary and the tables.

First the summary (``reports.summary``): ``table.summary`` (``id="summary-grid"``), a row per measured target
(``data-target``) and a cell per format and function at the default parameters, coloured by grade
(``td.grade-<grade>``); its heat-map picture; and each target's generated findings (``ul.findings``), with
whether its certificate holds under ``certify``.

Per format: the table of accuracy.md (same columns, same number formatting), each row flagged (class
``deviates``) where it departs from a faithfully rounded, well-behaved implementation and each such cell
marked (class ``dev``); then the error-against-x plots of that format (softplus and its derivative) and the
neighbourhoods of its switch points. Then the worst inputs, errors, and the targets that were not measured.
Hooks for tests and styling: ``table.verdicts`` (one per format, ``id="verdicts-<format>"``, rows with
``data-target``), ``table.worst``, ``table.environment``, ``img.plot`` (alt text says what it shows),
``ul.errors``, ``ul.unavailable``.

Then the agreement between targets (``engine.agreement``): a section per format (``id="agreement-<format>"``)
with one matrix per function (``table.agreement``, ``id="agreement-<format>-<fn>"``, cells = % of inputs with
bit-identical results, shaded by how much two targets agree), and the disagreements of device pairs
(``table.device-pair``).
"""

from __future__ import annotations

import base64
import html
import re
import shlex
from pathlib import Path
from typing import Any, Mapping, Sequence

from engine.agreement import DEVICE_PAIRS, AgreementMatrix, PairReport
from engine.judge import Verdict
from reports.accuracy import (
    AGREEMENT_NOTE,
    agreement_heading,
    agreement_percent,
    atomic_write_text,
    max_cell,
    pair_summary,
)
from reports.digits import num, num_pair, percent
from reports.page import page
from reports.plots import GRADE_COLOURS, MAX_SWITCH_PLOTS, Plot, render_plots, switch_selection
from reports.summary import BOUND_NOTE, GRADES, Summary, summarize
from reports.training import CLAIM_TEXT, claim_sentence

__all__ = ["write_html", "render_html", "deviations"]

_CSS = """
tr.deviates { background: #fff4f0; }
td.dev { color: #b00020; font-weight: 600; }
table.environment th { width: 12em; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; display: table; }  /* as wide as its image, not as its caption */
figcaption { display: table-caption; caption-side: bottom; font-size: 0.8em; color: #555; }
img.plot { max-width: 100%; height: auto; border: 1px solid #e0e0e0; }
.note { color: #555; font-size: 0.9em; }
.matrices { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
table.agreement caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: 0.3em; }
table.agreement tbody th { position: static; }
table.agreement td.same { background: #e6f4ea; }
table.agreement td.near { background: #fff8e1; }
table.agreement td.part { background: #ffe0b2; }
table.agreement td.far { background: #ffcdd2; }
table.agreement td.diag { background: #f5f5f5; color: #888; }
code { font-size: 0.95em; }
table.summary td.grade { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.summary tbody th { position: static; text-align: left; }
ul.findings li { margin: 0.15em 0; } ul.findings > li > ul { margin: 0.1em 0 0.5em; }
span.held { font-weight: 600; } span.held.broken { color: #b00020; }
details > summary { cursor: pointer; font-weight: 600; margin: 0.6em 0; }
""" + "".join(f"td.grade-{g.replace(' ', '-')} {{ background: {c}; }}\n" for g, c in GRADE_COLOURS.items())

#: Column headings, as in accuracy.md.
_HEADINGS = ("target", "fn", "params", "max ulp", "mean ulp", "% correctly rounded", "non-finite",
             "overflow onset / true", "underflow to 0 / true", "switch jump (ulp)", "safe threshold βx",
             "monotonicity", "property failures")

_LEGEND = ("A row is flagged where it departs from a faithfully rounded, well-behaved implementation; the "
           "cells that do are marked: max error ≥ 1 ulp (or no numeric result), any non-finite or NaN result "
           "where the truth is a number, an overflow or underflow onset found (the implementation overflows "
           "or flushes to 0 where the correctly rounded result does not), a jump of more than 1 ulp at a "
           "formula switch (two correctly rounded sides differ by at most 1), any monotonicity violation, any "
           "property failure (bounds, softplus(x) − softplus(−x) = x, sigmoid(x) + sigmoid(−x) = 1).")


def _e(value: Any) -> str:
    """Every piece of text goes through here: target names, reasons and versions come from plugins."""
    return html.escape(str(value), quote=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


# --- what deviates ---------------------------------------------------------------------------------------------

def deviations(v: Verdict) -> set[str]:
    """The columns (headings) in which a measured verdict departs from a faithful, well-behaved result."""
    out = set()
    if not v.max_ulp < 1.0:  # NaN (no numeric result at all) counts too
        out.add("max ulp")
    if v.nonfinite_count + v.nan_count:
        out.add("non-finite")
    if v.overflow_onset is not None:
        out.add("overflow onset / true")
    if v.underflow_onset is not None:
        out.add("underflow to 0 / true")
    if v.threshold_jump_ulp is not None and not v.threshold_jump_ulp <= 1.0:
        out.add("switch jump (ulp)")
    if v.monotonicity_violations:
        out.add("monotonicity")
    if sum(v.property_failures.values()):
        out.add("property failures")
    return out


# --- cells -----------------------------------------------------------------------------------------------------

def _onset(found: float | None, true: float | None) -> str:
    if found is None and true is None:
        return "–"
    return " / ".join(num_pair(found, true))


def _cells(v: Verdict) -> list[str]:
    """The row of accuracy.md's table for one verdict, as texts in :data:`_HEADINGS` order."""
    return [v.target, v.fn, v.params, max_cell(v), num(v.mean_ulp),
            percent(v.correctly_rounded_fraction), str(v.nonfinite_count + v.nan_count),
            _onset(v.overflow_onset, v.true_overflow_onset), _onset(v.underflow_onset, v.true_underflow_onset),
            num(v.threshold_jump_ulp), num(v.safe_threshold, 5), str(v.monotonicity_violations),
            str(sum(v.property_failures.values()))]


_TEXT_COLUMNS = {"target", "fn", "params", "overflow onset / true", "underflow to 0 / true"}


def _row(v: Verdict) -> str:
    dev = deviations(v)
    tds = []
    for heading, text in zip(_HEADINGS, _cells(v)):
        cls = [c for c, on in (("num", heading not in _TEXT_COLUMNS), ("dev", heading in dev)) if on]
        attr = f' class="{" ".join(cls)}"' if cls else ""
        tds.append(f"<td{attr}>{_e(text)}</td>")
    row_cls = ' class="deviates"' if dev else ""
    return f'<tr{row_cls} data-target="{_e(v.target)}">{"".join(tds)}</tr>'


def _table(cls: str, headings: Sequence[str], rows: Sequence[str], table_id: str | None = None) -> str:
    id_attr = f' id="{_e(table_id)}"' if table_id else ""
    head = "".join(f"<th>{_e(h)}</th>" for h in headings)
    return (f'<table class="{cls}"{id_attr}><thead><tr>{head}</tr></thead>'
            f'<tbody>\n{chr(10).join(rows)}\n</tbody></table>')


# --- sections --------------------------------------------------------------------------------------------------

def _summary_section(summary: Summary, heat: Plot | None) -> str:
    """The summary first: the graded grid (``table.summary``, ``id="summary-grid"``, a row per target with
    ``data-target``, cells ``td.grade.grade-<grade>``), its heat-map picture, and each target's findings
    (``ul.findings``)."""
    if not summary.rows:
        return ""
    head = "<th>target</th>" + "".join(
        f"<th>{_e(f)}<br>{_e('grad' if fn == 'softplus_grad' else fn)}</th>" for f, fn in summary.columns)
    rows = []
    for r in summary.rows:
        tds = "".join(f'<td class="grade grade-{_e(c.grade.replace(" ", "-"))}" title="{_e(c.grade)}">'
                      f"{_e(c.text)}</td>" for c in r.cells)
        rows.append(f'<tr data-target="{_e(r.target)}"><th scope="row">{_e(r.target)}</th>{tds}</tr>')
    legend = " · ".join(f'<span class="grade-key" style="background:{GRADE_COLOURS[g]}">&nbsp;{_e(g)}&nbsp;</span>'
                        for g in GRADES)
    findings = []
    for r in summary.rows:
        held = (f' <span class="held {"broken" if r.certificate == "broken" else "holds"}">certificate '
                f"{_e(r.certificate)}</span>" if r.certificate else "")
        items = "".join(f"<li>{_e(f)}</li>" for f in r.findings)
        findings.append(f'<li data-target="{_e(r.target)}"><strong>{_e(r.target)}</strong>{held}<ul>{items}</ul></li>')
    parts = ['<section id="summary"><h2>Summary</h2>',
             '<p class="note">Max error in ulps at each target\'s default parameters (beta=1, its default '
             f"threshold); colour: {legend}.</p>",
             f'<table class="summary" id="summary-grid"><thead><tr>{head}</tr></thead><tbody>\n'
             + "\n".join(rows) + "\n</tbody></table>"]
    if any(c.text.startswith("≥") for r in summary.rows for c in r.cells):
        parts.append(f'<p class="note">{_e(BOUND_NOTE)}.</p>')
    if summary.footnotes:
        parts.append('<p class="note">Every input, where an exhaustive reference has it:</p><ul class="footnotes">'
                     + "".join(f"<li>{_e(f)}</li>" for f in summary.footnotes) + "</ul>")
    if summary.unavailable:
        parts.append(f'<p class="note">Not available here: {_e("; ".join(summary.unavailable))}.</p>')
    if heat is not None:
        parts.append(f'<details class="heatmap"><summary>Heat map</summary>{_figure(heat)}</details>')
    parts.append(f'<h3>Findings</h3><ul class="findings">\n{chr(10).join(findings)}\n</ul></section>')
    return "\n".join(parts)


def _environment(env: dict[str, Any]) -> str:
    command = env.get("command")
    rows = [("date", env.get("date")), ("command", shlex.join(command) if isinstance(command, list) else command),
            ("seed", env.get("seed")), ("python", env.get("python")), ("platform", env.get("platform")),
            ("CPU", f"{env.get('cpu')} ({env.get('cpu_count')} logical cores)"),
            ("packages", ", ".join(f"{k} {v}" for k, v in sorted(env.get("packages", {}).items())))]
    for name, versions in sorted(env.get("targets", {}).items()):
        rows.append((f"target {name}", ", ".join(f"{k} {v}" for k, v in versions.items())))
    flags = env.get("flags", {})
    rows.append(("flags", ", ".join(f"{k}={v}" for k, v in sorted(flags.items())) or "none set"))
    body = "\n".join(f"<tr><th>{_e(k)}</th><td>{_e('–' if v is None else v)}</td></tr>" for k, v in rows)
    return (f'<section id="environment"><details><summary>Environment: seeds, versions, CPU and flags</summary>'
            f'<table class="environment"><tbody>\n{body}\n</tbody></table></details></section>')


def _figure(p: Plot) -> str:
    data = base64.b64encode(p.png).decode("ascii")
    return (f'<figure><img class="plot {_e(p.kind)}" alt="{_e(p.title)}" src="data:image/png;base64,{data}">'
            f'<figcaption>{_e(p.title)} — <code>plots/{_e(p.path.name)}</code></figcaption></figure>')


def _format_section(fmt: str, rows: list[Verdict], plots: list[Plot]) -> str:
    slug = _slug(fmt)
    parts = [f'<section id="format-{_e(slug)}" class="format"><h2>{_e(fmt)}</h2>',
             f'<p class="note">mode: {_e(rows[0].mode)}, inputs per row: {rows[0].n_inputs:,}</p>',
             _table("verdicts", _HEADINGS, [_row(v) for v in rows], f"verdicts-{slug}")]
    mine = [p for p in plots if p.format == fmt]
    for kind, heading in (("error-profile", "Error against x"), ("switch", "Switch points")):
        figs = [_figure(p) for p in mine if p.kind == kind]
        if figs:  # folded: the page opens on the tables; a click shows the pictures
            parts.append(f'<details class="plots-{kind}"><summary>{_e(heading)} ({len(figs)} '
                         f'plot{"s" if len(figs) != 1 else ""})</summary><div class="plots {kind}">{"".join(figs)}'
                         f"</div></details>")
    parts.append("</section>")
    return "\n".join(parts)


def _worst_row(v: Verdict, w) -> str:
    texts = (v.target, v.format, v.fn, v.params, repr(w.x), repr(w.result), repr(w.correct), num(w.ulp))
    tds = "".join(f"<td>{_e(t)}</td>" if i < 4 else f'<td class="num">{_e(t)}</td>' for i, t in enumerate(texts))
    return f'<tr data-target="{_e(v.target)}">{tds}</tr>'


def _worst(ok: list[Verdict]) -> str:
    """The three worst inputs of every measured row, as in accuracy.md."""
    rows = [_worst_row(v, w) for v in ok for w in v.worst[:3]]
    if not rows:
        return '<section id="worst"><h2>Worst inputs</h2><p>Every result correctly rounded.</p></section>'
    headings = ("target", "format", "fn", "params", "x", "result", "correctly rounded", "ulp")
    return f'<section id="worst"><h2>Worst inputs</h2>{_table("worst", headings, rows)}</section>'


def _list_section(sid: str, heading: str, items: list[str]) -> str:
    if not items:
        return ""
    lis = "\n".join(f"<li>{_e(i)}</li>" for i in items)
    return f'<section id="{sid}"><h2>{_e(heading)}</h2><ul class="{sid}">\n{lis}\n</ul></section>'


def _not_measured(verdicts: Sequence[Verdict]) -> list[str]:
    """Unavailable targets (one line each; their reason names them) and declined combinations."""
    out = []
    for v in verdicts:
        if v.status == "unsupported":
            out.append((v.reason or v.target) if v.format == "-" else
                       f"{v.target} {v.format} {v.fn} ({v.params}): {v.reason}")
    return sorted(set(out))


# --- agreement between targets -------------------------------------------------------------------------------

def _shade(fraction: float) -> str:
    """Cell class by agreement: all inputs, ≥ 99 %, ≥ 90 %, less."""
    if fraction >= 1.0:
        return "same"
    if fraction >= 0.99:
        return "near"
    return "part" if fraction >= 0.9 else "far"


def _matrix_table(m: AgreementMatrix) -> str:
    head = "<th></th>" + "".join(f'<th scope="col">{_e(t)}</th>' for t in m.targets)
    rows = []
    for i, (name, row) in enumerate(zip(m.targets, m.identical)):
        tds = []
        for j, f in enumerate(row):
            cls = "num diag" if i == j else f"num {_shade(f)}"
            same = "nan" if f != f else f"{round(f * m.n_inputs):,}"
            title = f"{m.targets[i]} / {m.targets[j]}: {same} of {m.n_inputs:,} inputs identical"
            tds.append(f'<td class="{cls}" title="{_e(title)}">{_e(agreement_percent(f))}</td>')
        rows.append(f'<tr data-target="{_e(name)}"><th scope="row">{_e(name)}</th>{"".join(tds)}</tr>')
    table_id = f"agreement-{_slug(m.format)}-{_slug(m.fn)}"
    errors = "".join(f"<li>{_e(k)}: {_e(v)}</li>" for k, v in m.errors.items())
    return (f'<div class="matrix"><table class="agreement" id="{_e(table_id)}"><caption>{_e(agreement_heading(m))}'
            f'</caption><thead><tr>{head}</tr></thead><tbody>\n{chr(10).join(rows)}\n</tbody></table>'
            + (f'<p class="note">Not compared:</p><ul class="agreement-errors">{errors}</ul>' if errors else "")
            + "</div>")


def _pair_section(p: PairReport) -> str:
    heading = f"{p.a} / {p.b}: {p.format}, {p.fn} ({p.mode}, {p.n_inputs:,} inputs)"
    parts = [f"<h3>{_e(heading)}</h3>", f'<p class="note">{_e(pair_summary(p))}.</p>']
    if p.examples:
        headings = ("x", p.a, p.b, f"ulp {p.a}", f"ulp {p.b}", "closer")
        rows = []
        for ex in p.examples:
            texts = (repr(ex.x), repr(ex.result_a), repr(ex.result_b), num(ex.ulp_a), num(ex.ulp_b),
                     {"a": p.a, "b": p.b}.get(ex.closer, "tie"))
            tds = "".join(f'<td class="num">{_e(t)}</td>' if 3 <= k <= 4 else f"<td>{_e(t)}</td>"
                          for k, t in enumerate(texts))
            rows.append(f"<tr>{tds}</tr>")
        parts.append(_table("device-pair", headings, rows))
    return "\n".join(parts)


def _agreement(matrices: Sequence[AgreementMatrix], pairs: Sequence[PairReport]) -> str:
    if not matrices and not pairs:
        return ""
    parts = ['<section id="agreement"><h2>Agreement between targets</h2>', f'<p class="note">{_e(AGREEMENT_NOTE)}</p>']
    for fmt in dict.fromkeys(m.format for m in matrices):
        tables = "".join(_matrix_table(m) for m in matrices if m.format == fmt)
        parts.append(f'<section id="agreement-{_e(_slug(fmt))}" class="agreement-format"><h3>{_e(fmt)}</h3>'
                     f'<div class="matrices">{tables}</div></section>')
    parts.append('<section id="device-agreement"><h2>Device agreement</h2>')
    if pairs:
        parts += [_pair_section(p) for p in pairs]
    else:
        names = ", ".join(f"{a} / {b}" for a, b in DEVICE_PAIRS)
        parts.append(f'<p class="note">No device pair was available ({_e(names)}).</p>')
    parts.append("</section></section>")
    return "\n".join(parts)


# --- the training step beside the seeds' claim -------------------------------------------------------------------

def _training_section(training: Sequence) -> str:
    """The training-step benchmark (``reports.training``): a row per framework and model, the step times with
    Softplus and with ReLU and their ratio, then the sentence that puts each ratio beside the claim."""
    if not training:
        return ""

    ok = [r for r in training if r.status == "ok"]
    rows = [f'<tr data-framework="{_e(r.framework)}"><td>{_e(r.framework)}</td><td>{_e(r.model)}</td>'
            f'<td class="num">{_e(num(r.softplus_s * 1e3))}</td><td class="num">{_e(num(r.relu_s * 1e3))}</td>'
            f'<td class="num">{_e(num(r.ratio))}</td></tr>' for r in ok]
    parts = ['<section id="training"><h2>Training step: Softplus beside ReLU</h2>',
             f'<p class="note">The seeds claim Softplus makes training "{_e(CLAIM_TEXT)}" than ReLU. One training '
             "step (forward, cross-entropy loss, backward, SGD update; float32) of a small MLP with each activation, "
             "median of interleaved rounds after warm-up, milliseconds per step; speed.md and speed.json (training) "
             "hold the sizes, threads, spread and the share the activation takes.</p>"]
    if rows:
        parts.append(_table("training", ("framework", "model", "Softplus ms", "ReLU ms", "× ReLU"), rows))
        parts.append('<ul class="claim">' + "".join(f"<li>{_e(claim_sentence(r))}</li>" for r in ok) + "</ul>")
    bad = [f"{r.framework}, {r.model}: {r.status}: {r.reason}" for r in training if r.status != "ok"]
    if bad:
        parts.append('<p class="note">Not measured:</p><ul>' + "".join(f"<li>{_e(b)}</li>" for b in bad) + "</ul>")
    parts.append("</section>")
    return "\n".join(parts)


# --- the page --------------------------------------------------------------------------------------------------

def render_html(verdicts: Sequence[Verdict], env: dict[str, Any], plots: Sequence[Plot],
                plots_left_out: int = 0, *, agreement: Sequence[AgreementMatrix] | None = None,
                device_agreement: Sequence[PairReport] | None = None,
                certificate_violations: Mapping[str, Sequence[str]] | None = None,
                training: Sequence | None = None, truth: Sequence[Verdict] = (), truth_source: str = "") -> str:
    """The page's text, from the verdicts, the environment record, the rendered plots and the agreement
    between targets (``engine.agreement``; no section without it); the summary first (``reports.summary``,
    with whether each certificate holds given ``certificate_violations``); the training-step benchmark
    (``reports.training`` records) last, where given."""
    ok = [v for v in verdicts if v.status == "ok"]
    formats = list(dict.fromkeys(v.format for v in ok))
    nav = "<a href=\"#summary\">summary</a> · " + " · ".join(
        f'<a href="#format-{_e(_slug(f))}">{_e(f)}</a>' for f in formats)
    heat = next((p for p in plots if p.kind == "summary"), None)
    intro = (f"Errors in ulps of the format under test against the correctly rounded oracle: "
             f"{len(ok)} combinations measured, generated {env.get('date')}, seed {env.get('seed')}.")
    body = ["<h1>softplus-cert accuracy report</h1>", f"<p>{_e(intro)}</p>",
            f"<nav>{nav} · <a href=\"#worst\">worst inputs</a>"
            + (" · <a href=\"#agreement\">agreement</a>" if agreement or device_agreement else "")
            + (" · <a href=\"#training\">training step</a>" if training else "")
            + "</nav>" if formats else "",
            _summary_section(summarize(verdicts, certificate_violations, truth, truth_source), heat),
            f'<p class="note legend">{_e(_LEGEND)}</p>']
    if plots_left_out:
        drawn = sum(p.kind == "switch" for p in plots)
        body.append(f'<p class="note">Switch-point plots are drawn for the {drawn} rows with the largest jumps; '
                    f"{plots_left_out} more rows with switch points are in the tables and accuracy.json only.</p>")
    body.append(_environment(env))
    body += [_format_section(f, [v for v in ok if v.format == f], list(plots)) for f in formats]
    body.append(_worst(ok))
    body.append(_agreement(agreement or [], device_agreement or []))
    body.append(_list_section("errors", "Errors", [f"{v.target} {v.format} {v.fn} ({v.params}): {v.reason}"
                                                   for v in verdicts if v.status == "error"]))
    body.append(_list_section("unavailable", "Not measured", _not_measured(verdicts)))
    body.append(_training_section(training or []))
    return page("softplus-cert accuracy report", "\n".join(b for b in body if b), _CSS)


def write_html(out_dir: Path, verdicts: Sequence[Verdict], env: dict[str, Any],
               cap: int = MAX_SWITCH_PLOTS, *, agreement: Sequence[AgreementMatrix] | None = None,
               device_agreement: Sequence[PairReport] | None = None,
               certificate_violations: Mapping[str, Sequence[str]] | None = None,
               training: Sequence | None = None, truth: Sequence[Verdict] = (), truth_source: str = "") -> Path:
    """Write ``out_dir/index.html`` (self-contained) and its plots as PNGs in ``out_dir/plots/``; the page's
    path. At most ``cap`` switch-neighbourhood plots (largest jumps first); the page says how many more."""
    out_dir = Path(out_dir)
    plots = render_plots(verdicts, out_dir / "plots", cap, summary=summarize(verdicts))
    left_out = switch_selection(verdicts, cap)[1]
    path = out_dir / "index.html"
    atomic_write_text(path, render_html(verdicts, env, plots, left_out, agreement=agreement,
                                        device_agreement=device_agreement,
                                        certificate_violations=certificate_violations, training=training,
                                        truth=truth, truth_source=truth_source))
    return path
