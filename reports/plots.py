"""Plots of a report's Verdicts, as deterministic PNG files: error against x, and each switch neighbourhood.

Rendering goes through matplotlib's object API (``Figure`` on an Agg canvas), never ``pyplot``: no global
figure state, no display needed, nothing that depends on the user's backend. Each figure is drawn under
matplotlib's default style (a user's matplotlibrc cannot change the pictures) and saved without the
"Software" text chunk, the only run-dependent part of a PNG; the same verdicts therefore give byte-identical
files on the same installation.

- :func:`plot_error_profiles`: one PNG per format and function (the derivative gets its own), the max ulp
  error against x of every target/parameter row of that format, from ``Verdict.error_profile``: one panel
  per target, a line per parameter set, x in binades (see :class:`_BinadeAxis`), y on a log scale.
- :func:`plot_switch_neighbourhoods`: one PNG per (target, format, function, parameters) with switch points,
  the signed error of the 16 format values on each side of each switch, from ``SwitchJump.neighbourhood``.
  At most :data:`MAX_SWITCH_PLOTS` files: the verdicts with the largest jumps first.
- :func:`plot_summary`: the report's summary grid (``reports.summary``) as a heat map, one cell per target ×
  format × function at default parameters, coloured by grade and labelled with the max ulp.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import matplotlib.patches
import matplotlib.style
import PIL.Image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from engine.judge import Verdict
from oracle.files import atomic_write
from oracle.formats import get_format

__all__ = ["Plot", "plot_error_profiles", "plot_switch_neighbourhoods", "plot_summary", "render_plots",
           "MAX_SWITCH_PLOTS", "ERROR_FLOOR", "GRADE_COLOURS"]

#: Errors below this many ulps are drawn at it: a log axis cannot show 0, and below 1e-3 ulp nothing differs.
ERROR_FLOOR = 1e-3
#: Cap on the number of switch-neighbourhood files (a full grid has ~90 verdicts with switch points, many alike:
#: torch-cpu float64 at five β); the page stays under 3 MB with the largest jumps drawn.
MAX_SWITCH_PLOTS = 24
#: Saved without the "Software" chunk (it names the matplotlib version and a URL); PNG has no date chunk.
_PNG_METADATA = {"Software": None}
_DPI = 100


# 10 colours × 4 line styles: up to 40 rows on one axis stay distinguishable.
_STYLES = ("-", "--", ":", "-.")


def _default_style():
    """matplotlib's default style: a user's matplotlibrc must not change the pictures."""
    return matplotlib.style.context("default")


@dataclass(frozen=True)
class Plot:
    """One written PNG: where it is, what it shows (alt text), and which format/function it belongs to."""

    path: Path
    title: str
    format: str
    fn: str
    kind: str  # "error-profile", "switch" or "summary"
    png: bytes


# --- file names ----------------------------------------------------------------------------------------------

def _slug(text: str) -> str:
    """A file-name-safe form of a target name or parameter (plugin names may hold anything)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def _params_slug(v: Verdict) -> str:
    """"b1e30-tdefault": β and threshold as in ``Verdict.params``, without "+" (awkward in URLs)."""
    t = "default" if v.threshold is None else f"{v.threshold:g}"
    return f"b{v.beta:g}-t{t}".replace("e+", "e")


def _unique(path: Path, taken: set[Path]) -> Path:
    """``path``, or ``path`` with a counter, so two names that slug alike never overwrite each other."""
    out, i = path, 1
    while out in taken:
        i += 1
        out = path.with_name(f"{path.stem}-{i}{path.suffix}")
    taken.add(out)
    return out


# --- drawing helpers -----------------------------------------------------------------------------------------

def _new_figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas: no pyplot, so importing this module changes no global backend."""
    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> bytes:
    """Render to PNG bytes, write them atomically, return them (the HTML embeds the same bytes).

    Saved with a palette of at most 256 colours (PIL's median cut, deterministic) and zlib at its best: line
    plots use a few dozen colours plus antialiasing shades, and the files shrink about 2.8 times (3.8 MB →
    1.4 MB for the reference report's 52 plots) with no visible change, which keeps index.html light."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata=_PNG_METADATA)
    with PIL.Image.open(io.BytesIO(buf.getvalue())) as im:
        small = im.convert("RGB").quantize(colors=256, method=PIL.Image.Quantize.MEDIANCUT)
    buf = io.BytesIO()
    small.save(buf, format="png", optimize=True)
    data = buf.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data)
    return data


def _style(i: int) -> dict:
    return {"color": f"C{i % 10}", "linestyle": _STYLES[(i // 10) % len(_STYLES)]}


def _tiny(fmt: str, xs: Iterable[float]) -> float:
    """The format's smallest normal, else (a format we do not know) the smallest nonzero |x| seen."""
    try:
        return math.ldexp(1.0, get_format(fmt).emin)
    except (ValueError, KeyError):
        nonzero = [abs(x) for x in xs if x != 0 and math.isfinite(x)]
        return min(nonzero) if nonzero else 1.0


class _BinadeAxis:
    """x → position in binades: sign(x)·(log2(|x|/tiny) + 1) above the smallest normal, x/tiny below.

    Every binade gets the same width, as every binade holds the same number of format values (and the
    sampled inputs are bit-pattern uniform); the subnormals, one binade's worth of patterns, fill [−1, 1].
    Done by hand rather than with matplotlib's "symlog" scale, whose inverse overflows to inf over float64's
    ±1.8e308 and then spoils the autoscaled limits.
    """

    def __init__(self, tiny: float):
        self.tiny = tiny

    def __call__(self, x: float) -> float:
        a = abs(x)
        if a < self.tiny:
            return x / self.tiny
        return math.copysign(math.log2(a) - math.log2(self.tiny) + 1.0, x)  # a / tiny overflows in float64

    def ticks(self, lo: float, hi: float, per_side: int = 8) -> tuple[list[float], list[str]]:
        """Positions and labels of 0 and ±10^k (k a multiple of a round step) within [lo, hi], none
        crowding another (the first decade past the smallest normal sits next to 0)."""
        top = max(abs(lo), abs(hi), self.tiny)
        k_lo, k_hi = math.ceil(math.log10(self.tiny)), math.floor(math.log10(top))
        step = next((s for s in (1, 2, 3, 5, 10, 20, 25, 50, 100, 200) if (k_hi - k_lo) // s + 1 <= per_side), 500)
        gap = (self(hi) - self(lo)) / 16  # the width of a label like "-10^{-4}", roughly
        pos, labels = [0.0], ["0"]
        for k in range(k_lo, k_hi + 1):
            for sign in (-1, 1):
                x = sign * 10.0 ** k
                t = self(x)
                if k % step == 0 and lo <= x <= hi and all(abs(t - p) > gap for p in pos):
                    pos.append(t)
                    labels.append(f"${'-' if sign < 0 else ''}10^{{{k}}}$")
        return pos, labels


def _clip(err: float, top: float) -> float:
    """An error as drawn: floored for the log axis, inf and NaN at the top."""
    if not math.isfinite(err):
        return top
    return max(err, ERROR_FLOOR)


def _top(values: Iterable[float]) -> float:
    """The y value that stands for an infinite error: a decade above the largest finite one (and ≥ 10)."""
    finite = [e for e in values if math.isfinite(e)]
    return 10.0 ** math.ceil(math.log10(max([10.0, *finite]))) * 10  # a float: an int of 10**36 breaks numpy


# --- error against x ---------------------------------------------------------------------------------------

def _profile_rows(verdicts: Sequence[Verdict]) -> dict[tuple[str, str], list[Verdict]]:
    """Measured verdicts with a profile, grouped by (format, function), in first-seen order."""
    groups: dict[tuple[str, str], list[Verdict]] = {}
    for v in verdicts:
        if v.status == "ok" and v.error_profile:
            groups.setdefault((v.format, v.fn), []).append(v)
    return groups


def _draw_profile(ax, v: Verdict, i: int, top: float, axis: _BinadeAxis) -> None:
    """The max error of each bin as a horizontal step over [x_first, x_last]; infinite bins as markers."""
    xs, ys, inf_x = [], [], []
    for x0, x1, mx, _mean in v.error_profile:
        y = _clip(mx, top)
        t0, t1 = axis(x0), axis(x1)
        xs += [t0, t1]
        ys += [y, y]
        if not math.isfinite(mx):
            inf_x.append((t0 + t1) / 2)
    ax.plot(xs, ys, linewidth=1.0, label=v.params, **_style(i))
    if inf_x:
        ax.plot(inf_x, [top] * len(inf_x), linestyle="none", marker="^", markersize=4,
                color=_style(i)["color"])


def _by_target(rows: list[Verdict]) -> dict[str, list[Verdict]]:
    """Rows grouped into one panel per target (and device), in report order."""
    panels: dict[str, list[Verdict]] = {}
    for v in rows:
        name = v.target if v.device == "cpu" else f"{v.target} ({v.device})"
        panels.setdefault(name, []).append(v)
    return panels


def _profile_panel(ax, name: str, rows: list[Verdict], top: float, axis: _BinadeAxis,
                   lo: float, hi: float, wide: bool) -> None:
    """One target's rows on one axis, with the 0.5 and 1 ulp lines and the inf row marked."""
    for i, v in enumerate(rows):
        _draw_profile(ax, v, i, top, axis)
    ax.set_xlim(axis(lo), axis(hi))
    ax.set_xticks(*axis.ticks(lo, hi, per_side=7 if wide else 4))
    ax.set_yscale("log")
    ax.set_ylim(ERROR_FLOOR / 2, top * 3)
    for level, text, va in ((0.5, "0.5 ulp: correctly rounded", "top"), (1.0, "1 ulp: faithful", "bottom")):
        ax.axhline(level, color="0.5", linewidth=0.7, linestyle="--", zorder=0)
        ax.annotate(text, (0.005, level), xycoords=("axes fraction", "data"), fontsize=6.5, color="0.35", va=va)
    ax.axhline(top, color="0.8", linewidth=0.7, zorder=0)
    ax.annotate("inf / NaN ▲", (0.005, top), xycoords=("axes fraction", "data"), fontsize=6.5, color="0.35",
                va="bottom")
    ax.set_title(name, fontsize=9, loc="left")
    ax.tick_params(labelsize=7)
    ax.grid(True, which="major", linewidth=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=6.5, frameon=False, borderaxespad=0)


def _error_figure(fmt: str, fn: str, rows: list[Verdict]) -> Figure:
    """Small multiples: one panel per target (its parameter sets as lines), shared axes, so that a full grid
    (~30 rows per format) stays readable; one or two columns."""
    top = _top(e[2] for v in rows for e in v.error_profile)
    xs = [x for v in rows for e in v.error_profile for x in e[:2]]
    axis = _BinadeAxis(_tiny(fmt, xs))
    lo, hi = min(xs), max(xs)
    panels = _by_target(rows)
    ncols = 1 if len(panels) <= 2 else 2
    nrows = math.ceil(len(panels) / ncols)
    fig = _new_figure(11 if ncols == 1 else 15, 0.8 + 2.9 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
    for ax, (name, panel_rows) in zip(axes.flat, panels.items()):
        _profile_panel(ax, name, panel_rows, top, axis, lo, hi, ncols == 1)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax in axes.flat:
        ax.tick_params(labelbottom=True)  # sharex hides them on all but the bottom row; an odd count leaves a gap
    name = "sigmoid(βx), the derivative" if fn == "softplus_grad" else "softplus_β(x)"
    fig.suptitle(f"{fmt}: {name} — max ulp error per bin of consecutive inputs")
    fig.supxlabel("x (each binade the same width; linear below the smallest normal)", fontsize=9)
    fig.supylabel(f"max error (ulp, floor {ERROR_FLOOR:g})", fontsize=9)
    return fig


def plot_error_profiles(verdicts: Sequence[Verdict], out_dir: Path) -> list[Path]:
    """One PNG per format and function: max ulp error against x for every target/parameter row.

    Files are ``out_dir/error-{format}-{fn}.png``; returns their paths in first-seen order.
    """
    return [p.path for p in _error_plots(verdicts, Path(out_dir), set())]


def _error_plots(verdicts: Sequence[Verdict], out_dir: Path, taken: set[Path]) -> list[Plot]:
    out = []
    for (fmt, fn), rows in _profile_rows(verdicts).items():
        path = _unique(out_dir / f"error-{_slug(fmt)}-{_slug(fn)}.png", taken)
        with _default_style():
            png = _save(_error_figure(fmt, fn, rows), path)
        title = f"ulp error against x: {fmt}, {fn}, {len(rows)} row{'s' if len(rows) != 1 else ''}"
        out.append(Plot(path, title, fmt, fn, "error-profile", png))
    return out


# --- switch neighbourhoods --------------------------------------------------------------------------------------

def switch_selection(verdicts: Sequence[Verdict], cap: int = MAX_SWITCH_PLOTS) -> tuple[list[Verdict], int]:
    """The verdicts whose switch points get a plot (largest jump first, at most ``cap``), in report order,
    and how many with switch points were left out."""
    with_jumps = [(i, v) for i, v in enumerate(verdicts)
                  if v.status == "ok" and any(j.neighbourhood for j in v.switch_jumps)]

    def size(item: tuple[int, Verdict]) -> float:
        j = item[1].threshold_jump_ulp
        return math.inf if j is None or math.isnan(j) else j

    ranked = sorted(with_jumps, key=lambda item: (-size(item), item[0]))  # stable: ties keep report order
    chosen = sorted(ranked[:cap], key=lambda item: item[0])
    return [v for _, v in chosen], len(with_jumps) - len(chosen)


def _switch_figure(v: Verdict) -> Figure:
    """One panel per switch point of the verdict: signed error against position from the switch."""
    jumps = [j for j in v.switch_jumps if j.neighbourhood]
    fig = _new_figure(4.6 * len(jumps) + 0.6, 3.4)
    axes = fig.subplots(1, len(jumps), squeeze=False)[0]
    for ax, j in zip(axes, jumps):
        xs = [p[0] for p in j.neighbourhood]
        below = max((k for k, x in enumerate(xs) if x <= j.at), default=0)
        idx = [k - below for k in range(len(xs))]  # 0 = last value at or below the switch, 1 = first above
        errs = [p[1] for p in j.neighbourhood]
        finite = [e for e in errs if math.isfinite(e)]
        lim = max([abs(e) for e in finite] + [0.5]) * 1.15
        drawn = [e if math.isfinite(e) else math.copysign(lim, e if not math.isnan(e) else 1.0) for e in errs]
        ax.plot(idx, drawn, marker="o", markersize=3, linewidth=0.8, color="C0")
        bad = [(k, d) for k, d, e in zip(idx, drawn, errs) if not math.isfinite(e)]
        if bad:
            ax.plot(*zip(*bad), linestyle="none", marker="x", color="C3", label="inf / NaN")
            ax.legend(fontsize=7, loc="best")
        ax.axvline(0.5, color="C3", linewidth=1.0, linestyle="--")
        for level in (-0.5, 0.5):
            ax.axhline(level, color="0.6", linewidth=0.6, linestyle=":")
        ax.axhline(0, color="0.3", linewidth=0.5)
        ax.set_ylim(-lim, lim)
        how = "discovered switch" if j.discovered else "switch"
        ax.set_title(f"{how} at x = {j.at!r}\njump {j.jump_ulp:.3g} ulp "
                     f"({j.below!r} → {j.above!r})", fontsize=8)  # repr: float64 neighbours differ late
        ax.set_xlabel("format values from the switch (0: last ≤ switch)", fontsize=8)
        ax.set_ylabel("signed error (ulp)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, linewidth=0.3)
    fig.suptitle(f"{v.target} {v.format} {v.fn} ({v.params})", fontsize=9)
    return fig


def plot_switch_neighbourhoods(verdicts: Sequence[Verdict], out_dir: Path,
                               cap: int = MAX_SWITCH_PLOTS) -> list[Path]:
    """One PNG per (target, format, function, parameters) with switch points: the signed error of the
    format values around each switch, a vertical line at the switch. At most ``cap`` files (largest jumps
    first: see :func:`switch_selection`); ``out_dir/switch-{target}-{format}-{fn}-b{β}-t{threshold}.png``."""
    return [p.path for p in _switch_plots(verdicts, Path(out_dir), set(), cap)]


def _switch_plots(verdicts: Sequence[Verdict], out_dir: Path, taken: set[Path], cap: int) -> list[Plot]:
    out = []
    for v in switch_selection(verdicts, cap)[0]:
        name = f"switch-{_slug(v.target)}-{_slug(v.format)}-{_slug(v.fn)}-{_slug(_params_slug(v))}.png"
        path = _unique(out_dir / name, taken)
        with _default_style():
            png = _save(_switch_figure(v), path)
        title = f"switch neighbourhood: {v.target} {v.format} {v.fn} ({v.params})"
        out.append(Plot(path, title, v.format, v.fn, "switch", png))
    return out


# --- the summary heat map --------------------------------------------------------------------------------------

#: Cell colours by grade (``reports.summary.GRADES``), the same as the HTML summary table's.
GRADE_COLOURS = {"correctly rounded": "#b7e1c1", "faithful": "#fff2a8", "worse": "#ffc48a", "non-finite": "#f28b82",
                 "error": "#c5a3d9", "unsupported": "#eeeeee"}


def _summary_figure(summary) -> Figure:
    cols, rows = summary.columns, summary.rows
    fig = _new_figure(1.0 + 0.78 * len(cols), 0.9 + 0.36 * len(rows))
    ax = fig.subplots()
    for i, r in enumerate(rows):
        for k, c in enumerate(r.cells):
            ax.add_patch(matplotlib.patches.Rectangle((k, i), 1, 1, facecolor=GRADE_COLOURS[c.grade],
                                                      edgecolor="white", linewidth=1.5))
            ax.text(k + 0.5, i + 0.5, c.text, ha="center", va="center", fontsize=7)
    ax.set_xlim(0, len(cols))
    ax.set_ylim(len(rows), 0)
    ax.set_xticks([k + 0.5 for k in range(len(cols))],
                  [f"{f}\n{'grad' if fn == 'softplus_grad' else fn}" for f, fn in cols], fontsize=6.5)
    ax.set_yticks([i + 0.5 for i in range(len(rows))], [r.target for r in rows], fontsize=8)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    handles = [matplotlib.patches.Patch(facecolor=GRADE_COLOURS[g], label=g) for g in GRADE_COLOURS]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=7, frameon=False)
    return fig


def plot_summary(summary, out_dir: Path) -> Plot | None:
    """The summary grid (:class:`reports.summary.Summary`) as a heat map: a cell per target × format ×
    function at default parameters, coloured by grade, labelled with the max ulp; ``out_dir/summary.png``.
    None when no target was measured."""
    if not summary.rows or not summary.columns:
        return None
    path = Path(out_dir) / "summary.png"
    with _default_style():
        png = _save(_summary_figure(summary), path)
    title = "max ulp error at default parameters, by target, format and function (colour: grade)"
    return Plot(path, title, "", "", "summary", png)


# --- everything at once (for the HTML page) ---------------------------------------------------------------------

def render_plots(verdicts: Sequence[Verdict], out_dir: Path, cap: int = MAX_SWITCH_PLOTS,
                 summary=None) -> list[Plot]:
    """Every plot of the report into ``out_dir``, with their bytes (the summary heat map first, given the
    :class:`reports.summary.Summary`); PNGs of ours left there by an earlier run with another selection are
    removed, so the folder matches the page."""
    out_dir = Path(out_dir)
    taken: set[Path] = set()
    heat = plot_summary(summary, out_dir) if summary is not None else None
    if heat is not None:
        taken.add(heat.path)
    plots = ([heat] if heat else []) + _error_plots(verdicts, out_dir, taken) + _switch_plots(verdicts, out_dir,
                                                                                              taken, cap)
    for stale in [*out_dir.glob("error-*.png"), *out_dir.glob("switch-*.png"), *out_dir.glob("summary.png")]:
        if stale not in taken:
            stale.unlink(missing_ok=True)
    return plots
