"""What a run could not measure: the failed combinations, and the phases skipped after a target hung or crashed.

A combination is *unmeasured* when the target raised, hung, crashed, or returned the wrong dtype or shape on
it — its verdict (or layout report, or speed record of the softplus kernel) has status "error". Among those,
*skipped* ones were not tried at all: an isolated target that timed out or crashed on a kind of call (format
and function) is not called for that kind again in the run (``engine.isolation``), and the reason of what it
skipped starts with :data:`SKIPPED`. Unavailable targets and unsupported formats are neither: they are
declared, not failures.

:func:`skipped_phases` groups the skipped work by phase, target, format and function for accuracy.json
("skipped") and accuracy.md; :func:`unmeasured_lines` lists every unmeasured combination for the last lines
of ``report`` and ``certify`` (whose exit status they set: 3 and 1).
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

__all__ = ["SKIPPED", "is_skipped", "skipped_phases", "skipped_markdown", "unmeasured_lines", "MAX_LINES"]

#: How the reason of work not tried after an earlier timeout or crash begins.
SKIPPED = "skipped: "
#: Unmeasured combinations listed one per line before the rest are counted.
MAX_LINES = 40


def is_skipped(reason: str | None) -> bool:
    return bool(reason) and reason.startswith(SKIPPED)


def _params(beta: float, threshold) -> str:
    t = "default" if threshold is None else f"{threshold:g}"
    return f"beta={beta:g} threshold={t}"


def skipped_phases(verdicts: Iterable = (), layouts: Iterable = (), agreement: Iterable = (),
                   speed: Iterable = ()) -> list[dict[str, Any]]:
    """The work not tried after an earlier failure, one record per phase × target × format × function:
    ``{"phase", "target", "format", "fn", "count", "reason"}`` (``count``: combinations, layout checks,
    matrices or speed records skipped). Phases: "accuracy" (sampled verdicts), "exhaustive", "layout",
    "agreement", "speed"."""
    groups: dict[tuple[str, str, str, str], dict[str, Any]] = {}

    def add(phase: str, target: str, fmt: str, fn: str, reason: str) -> None:
        rec = groups.setdefault((phase, target, fmt, fn), {"phase": phase, "target": target, "format": fmt,
                                                            "fn": fn, "count": 0, "reason": reason})
        rec["count"] += 1

    for v in verdicts:
        if v.status == "error" and is_skipped(v.reason):
            add("exhaustive" if v.mode == "exhaustive" else "accuracy", v.target, v.format, v.fn, v.reason)
    for r in layouts:
        if r.status == "error" and is_skipped(r.reason):
            add("layout", r.target, r.format, r.fn, r.reason)
    for m in agreement:
        for name, reason in m.errors.items():
            if is_skipped(reason):
                add("agreement", name, m.format, m.fn, reason)
    for r in speed:
        if r.status == "error" and is_skipped(r.reason):
            add("speed", r.target, r.format, r.direction, r.reason)
    return list(groups.values())


def skipped_markdown(skipped: Sequence[dict[str, Any]]) -> list[str]:
    """The "Skipped after a failure" section of accuracy.md ([] when nothing was skipped)."""
    if not skipped:
        return []
    lines = ["", "## Skipped after a failure", "",
             "A target that hung or crashed on a kind of call (format and function) is not called for it again "
             "in the run: each later phase records what it skipped, and why.", "",
             "| phase | target | format | fn | skipped | why |", "|---|---|---|---|---:|---|"]
    for s in skipped:
        lines.append(f"| {s['phase']} | {s['target']} | {s['format']} | {s['fn']} | {s['count']} | {s['reason']} |")
    return lines


def unmeasured_lines(verdicts: Iterable = (), layouts: Iterable = (), speed: Iterable = ()) -> list[str]:
    """One line per combination that could not be measured ("torch-cpu float32 softplus beta=1
    threshold=default: timed out after 60 s"), at most :data:`MAX_LINES` and then a count of the rest."""
    lines = [f"{v.target} {v.format} {v.fn} {_params(v.beta, v.threshold)}: {v.reason}"
             for v in verdicts if v.status == "error"]
    lines += [f"{r.target} {r.format} {r.fn} layout check: {r.reason}" for r in layouts if r.status == "error"]
    lines += [f"{r.target} {r.format} {r.direction} speed ({r.size}): {r.reason}" for r in speed
              if r.status == "error"]
    if len(lines) > MAX_LINES:
        rest = len(lines) - MAX_LINES
        lines = lines[:MAX_LINES] + [f"... and {rest} more (see accuracy.md, speed.md)"]
    return lines
