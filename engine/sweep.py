"""A list of grid combinations judged in order: the sampled part of a report run, and its layout checks.

Skipped combinations (a target that declines a format or a parameter) become "unsupported" verdicts, so a
report has a row for every combination asked for. Ctrl-C ends a sweep with :class:`Interrupted`, which
carries what finished.
"""

from __future__ import annotations

from typing import Callable, Iterable

from engine.consistency import layout_check
from engine.execute import Executor
from engine.grid import Combo
from engine.judge import judge
from engine.verdict import Verdict

__all__ = ["Interrupted", "run_grid", "run_layout_checks"]


def run_grid(combos: Iterable[Combo], n: int | None, seed: int,
             progress: Callable[[Combo], None] | None = None, jobs: int | None = None,
             executor: Executor | None = None) -> list[Verdict]:
    """Judge each combination (skipped ones become "unsupported" verdicts), in order.

    ``progress`` is called with each combination after it has been judged; ``executor`` (or a local pool
    of ``jobs`` worker processes): where samples of more than two chunks run (see :func:`engine.judge.judge`).
    """
    out: list[Verdict] = []
    try:
        _judge_all(combos, n, seed, progress, out, jobs, executor)
    except KeyboardInterrupt:
        raise Interrupted(out) from None
    return out


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`run_grid`; ``verdicts`` holds the combinations finished before it."""

    def __init__(self, verdicts: list[Verdict]) -> None:
        super().__init__(f"interrupted after {len(verdicts)} combinations")
        self.verdicts = verdicts


def _judge_all(combos, n, seed, progress, out: list[Verdict], jobs: int | None = None,
               executor: Executor | None = None) -> None:
    for c in combos:
        if c.skip:
            out.append(Verdict(target=c.target.name, format=c.fmt, fn=c.fn, beta=c.beta,
                               threshold=c.threshold, status="unsupported", reason=c.skip))
        else:
            out.append(judge(c.target, c.fmt, c.fn, c.beta, c.threshold, n=n, seed=seed, jobs=jobs,
                             executor=executor))
            if progress:
                progress(c)


def run_layout_checks(combos: Iterable[Combo], seed: int,
                      progress: Callable[[Combo], None] | None = None) -> list:
    """:func:`engine.consistency.layout_check` for each combination, in order (Ctrl-C: :class:`Interrupted`
    carrying the finished reports)."""
    out: list = []
    try:
        for c in combos:
            out.append(layout_check(c.target, c.fmt, c.fn, c.beta, c.threshold, seed=seed))
            if progress:
                progress(c)
    except KeyboardInterrupt:
        raise Interrupted(out) from None
    return out
