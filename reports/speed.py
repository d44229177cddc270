"""The speed report written: speed.json, speed.md and the speed plots of the records :mod:`engine.speed`
measured (units and conventions: that module's doc). Non-finite numbers are written as :mod:`oracle.files`
writes them ("inf", "nan"); a time that was not measured is null.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt

from engine.speed import DIRECTIONS, NUMPY_API_NOTE, SIZES, SPEED_SCHEMA, SpeedRecord
from oracle.files import atomic_write_text, dumps
from reports.training import training_markdown, training_to_json

__all__ = ["write_speed_json", "write_speed_markdown", "write_speed_plots"]


# --- writers -----------------------------------------------------------------------------------------------------

def _timing_conventions() -> dict[str, Any]:
    """How the numbers were made, for the JSON envelope."""
    conv: dict[str, Any] = {
        "timer": "time.perf_counter",
        "statistic": "median over rounds of seconds per call",
        "inputs": "uniform in [-10, 10], seed 0, rounded to the format",
        "bytes": "forward n*itemsize*2 (read x, write y); derivative n*itemsize*3 (read x, read grad, write dx); "
                 "copy n*itemsize*2",
        "gb": "1e9 bytes",
        "sizes": SIZES,
    }
    torch = sys.modules.get("torch")  # only if a target loaded it: the thread count sets its CPU speed
    if torch is not None:
        conv["torch_threads"] = torch.get_num_threads()
    if hasattr(os, "getloadavg"):  # other work on the machine skews every number: say how busy it was
        conv["load_average_1_5_15min"] = [round(v, 2) for v in os.getloadavg()]
    return conv


def write_speed_json(path: Path, records: list[SpeedRecord], env: dict[str, Any], training=None) -> None:
    """``speed.json``: schema, environment, conventions and every record (``SpeedRecord.to_dict``); with
    ``training`` (:class:`engine.training.TrainingRecord` list from :func:`engine.training.run_training`) a
    ``training`` section too (:func:`reports.training.training_to_json`: per framework and model the
    seconds per training step with Softplus and with ReLU, and their ``ratio``)."""
    doc = {"schema": SPEED_SCHEMA, "environment": env, "conventions": _timing_conventions(),
           "records": [r.to_dict() for r in records]}
    if training is not None:
        doc["training"] = training_to_json(training)
    atomic_write_text(Path(path), dumps(doc, indent=1) + "\n")


def _si(v: float | None) -> str:
    """1234567 -> '1.23 M' (k, M, G, T); None -> '–'."""
    if v is None:
        return "–"
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v:.3g}"


def _x(v: float | None) -> str:
    return "–" if v is None else f"×{v:.2f}"


def _gb(v: float | None) -> str:
    return "–" if v is None else f"{v:.3g}"


def _spread(r: SpeedRecord) -> str:
    """max/min of the softplus kernel's per-call times over the rounds: near 1 is a quiet measurement."""
    t = r.timings.get(DIRECTIONS[r.direction][0])
    return "–" if t is None or not t.min_s else f"{t.max_s / t.min_s:.2f}"


def write_speed_markdown(path: Path, records: list[SpeedRecord], env: dict[str, Any], training=None) -> None:
    """``speed.md``: one table per format (target, device, size, direction, elements/s, GB/s, ×ReLU, ×copy,
    spread), then errors and what was not measured; with ``training`` (TrainingRecords) the training-step
    section last (:func:`reports.training.training_markdown`)."""
    lines = ["# softplus-cert speed report", ""]
    lines.append(f"Generated {env.get('date')} on {env.get('cpu')} ({env.get('cpu_count')} CPUs, "
                 f"Python {env.get('python')}).")
    pk = env.get("packages", {})
    lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(pk.items())) + ".")
    lines += ["",
              "Median of several timed loops after warm-up (time.perf_counter). elements/s = n / seconds per call. "
              "GB/s = bytes / seconds / 1e9 with bytes by convention: forward n·itemsize·2 (read x, write y), "
              "derivative n·itemsize·3 (read x, read the gradient, write dx). ×ReLU = softplus time / ReLU time "
              "in the same direction (1.15 = 15% slower than ReLU); ×copy = softplus time / time to copy the "
              "same n elements on the same device (1.0 = the memory-bound limit; a derivative reading a "
              "gradient is bound at 1.5). Sizes: " + ", ".join(f"{k} {v:,}" for k, v in SIZES.items()) +
              " elements. spread = slowest / fastest round of the softplus kernel (well above 1: a noisy "
              "machine; read the ratios with care).", ""]
    ok = [r for r in records if r.status == "ok"]
    api = sorted({r.target for r in ok if r.timed_via == "numpy-api"})
    for fmt in dict.fromkeys(r.format for r in ok):
        lines += [f"## {fmt}", "",
                  "| target | device | size | direction | elements/s | GB/s | ×ReLU | ×copy | spread |",
                  "|---|---|---|---|---:|---:|---:|---:|---:|"]
        for r in (r for r in ok if r.format == fmt):
            mark = " †" if r.timed_via == "numpy-api" else ""
            lines.append(f"| {r.target}{mark} | {r.device} | {r.size} ({r.n:,}) | {r.direction} | "
                         f"{_si(r.elements_per_s)} | {_gb(r.gbps)} | {_x(r.vs_relu)} | {_x(r.vs_copy)} | "
                         f"{_spread(r)} |")
        lines.append("")
    if api:
        lines += [f"† {', '.join(api)}: {NUMPY_API_NOTE}.", ""]
    bad = [r for r in records if r.status == "error" or (r.status == "ok" and r.errors)]
    if bad:
        lines += ["## Errors", ""]
        for r in bad:
            what = r.reason if r.status == "error" else "; ".join(f"{k}: {v}" for k, v in r.errors.items())
            lines.append(f"- {r.target} {r.format} {r.size} {r.direction}: {what}")
        lines.append("")
    skipped = sorted({f"{r.target}: {r.reason}" for r in records if r.status == "unavailable"} |
                     {f"{r.target} {r.format}: {r.reason}" for r in records if r.status == "unsupported"})
    if skipped:
        lines += ["## Not measured", ""] + [f"- {s}" for s in skipped] + [""]
    if training is not None:
        lines += training_markdown(training).splitlines() + [""]
    atomic_write_text(Path(path), "\n".join(lines).rstrip("\n") + "\n")


def write_speed_plots(out_dir: Path, records: list[SpeedRecord]) -> list[Path]:
    """One PNG per format, ``speed-<format>.png``: elements/s against n (log-log), forward and derivative side
    by side; per target a solid line for softplus, dashed for its ReLU, dotted for its copy. Returns the paths."""
    matplotlib.use("Agg")  # files only, no display

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ok = [r for r in records if r.status == "ok"]
    paths = []
    for fmt in dict.fromkeys(r.format for r in ok):
        rows = [r for r in ok if r.format == fmt]
        dirs = list(dict.fromkeys(r.direction for r in rows))
        fig, axes = plt.subplots(1, len(dirs), figsize=(6.5 * len(dirs), 4.8), squeeze=False, sharey=True)
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        names = list(dict.fromkeys(r.target for r in rows))
        for ax, direction in zip(axes[0], dirs):
            for i, name in enumerate(names):
                mine = sorted((r for r in rows if r.target == name and r.direction == direction), key=lambda r: r.n)
                if not mine:
                    continue
                c = colors[i % len(colors)]
                n = [r.n for r in mine]
                ax.plot(n, [r.elements_per_s for r in mine], "-o", color=c, label=f"{name} softplus")
                ax.plot(n, [r.relu_elements_per_s or math.nan for r in mine], "--", color=c, alpha=0.7,
                        label=f"{name} ReLU")
                ax.plot(n, [r.copy_elements_per_s or math.nan for r in mine], ":", color=c, alpha=0.7,
                        label=f"{name} copy")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("elements per call")
            ax.set_title(f"{fmt}, {direction}")
            ax.grid(True, which="both", alpha=0.3)
        axes[0][0].set_ylabel("elements/s (median)")
        axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
        fig.suptitle("softplus (solid) beside ReLU (dashed) and a copy of the same bytes (dotted)")
        fig.tight_layout()
        path = out_dir / f"speed-{fmt}.png"
        tmp = path.with_name(path.name + ".tmp")
        fig.savefig(tmp, format="png", dpi=110)  # written whole, then renamed: no half-written PNG
        plt.close(fig)
        tmp.replace(path)
        paths.append(path)
    return paths
