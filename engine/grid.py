"""The combinations to judge: target × format × function × (β, threshold), for tests, reports and CLI."""

from __future__ import annotations

from dataclasses import dataclass

from engine.case import Case, slug_text
from engine.defaults import BETAS, FUNCTIONS, THRESHOLDS
from oracle.formats import FORMATS
from oracle.implementation import reason_unavailable


@dataclass(frozen=True)
class Combo:
    target: object
    fmt: str
    fn: str
    beta: float
    threshold: float | None
    skip: str | None = None

    @property
    def case(self) -> Case:
        """The format × function × (β, threshold) of this combination (a skip has none: ValueError)."""
        return Case(self.fmt, self.fn, self.beta, self.threshold)

    @property
    def id(self) -> str:
        return f"{self.target.name}-{slug_text(self.fmt, self.fn, self.beta, self.threshold)}"


def combinations(targets, formats=None, functions=FUNCTIONS, betas=None,
                 thresholds=THRESHOLDS) -> list[Combo]:
    """Every supported combination of the given targets; an unavailable target appears once, as a skip.

    β values other than 1 apply to targets that take a β, thresholds other than the default to targets
    that take one; other targets run only at the grid's β = 1 and default threshold, if it has them.
    ``betas`` None: :data:`BETAS`, or a target's own ``params.grid_betas`` where it names fewer.
    """
    out = []
    for t in targets:
        reason = reason_unavailable(t)
        if reason:
            out.append(Combo(t, "-", "-", 1.0, None, skip=f"{t.name}: {reason}"))
            continue
        params = getattr(t, "params", None)
        grid = betas if betas is not None else (getattr(params, "grid_betas", None) or BETAS)
        # a target without a β (threshold) runs only where the grid asks for β = 1 (the default threshold)
        t_betas = grid if getattr(params, "beta", False) else tuple(b for b in grid if b == 1.0)
        t_thresholds = thresholds if getattr(params, "threshold", False) else \
            tuple(t for t in thresholds if t is None)
        for fmt in formats or FORMATS:
            for fn in functions:
                for beta in t_betas:
                    for thr in t_thresholds:
                        if t.check(fmt, beta, thr) is None:
                            out.append(Combo(t, fmt, fn, beta, thr))
    return out
