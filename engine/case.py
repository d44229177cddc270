"""One case to judge: a format, a function, β and a threshold — validated once, then passed as one value.

The judge, the exhaustive engine, the tally and agreement take a :class:`Case` where they used to take the
four loose arguments; the public entry points still accept the four and build the Case. A Case is frozen and
hashable (a dict key, a set member), pickles, and its fields are already normal: ``fmt`` a format name of
:data:`oracle.formats.FORMATS`, ``fn`` "softplus" or "softplus_grad", ``beta`` a finite float64 > 0,
``threshold`` a float (±inf allowed) or None for the implementation's default — never NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

from oracle.evaluate import check_params
from oracle.formats import Format, get_format

__all__ = ["Case", "params_text", "slug_text"]


def params_text(beta: float, threshold: float | None) -> str:
    """β and threshold as people write them: "beta=1, threshold=default"."""
    t = "default" if threshold is None else f"{threshold:g}"
    return f"beta={beta:g}, threshold={t}"


def slug_text(fmt: str, fn: str, beta: float, threshold: float | None) -> str:
    """"float32-softplus-b1-tdefault": a combination in file names and test ids (any strings: a skipped
    combination's format is "-")."""
    t = "default" if threshold is None else f"{threshold:g}"
    return f"{fmt}-{fn}-b{beta:g}-t{t}"


@dataclass(frozen=True)
class Case:
    """A format × function × (β, threshold); ValueError (one line) for anything :func:`check_params` refuses."""

    fmt: str
    fn: str = "softplus"
    beta: float = 1.0
    threshold: float | None = None

    def __post_init__(self) -> None:
        f, beta = check_params(self.fmt, self.fn, self.beta, self.threshold)
        object.__setattr__(self, "fmt", f.name)
        object.__setattr__(self, "beta", beta)
        if self.threshold is not None:
            object.__setattr__(self, "threshold", float(self.threshold))

    @classmethod
    def of(cls, fmt: "str | Format | Case", fn: str = "softplus", beta: float = 1.0,
           threshold: float | None = None) -> "Case":
        """``fmt`` itself where it is a Case, else the Case of the four arguments (``fmt`` a name, dtype or
        Format)."""
        if isinstance(fmt, Case):
            return fmt
        return cls(get_format(fmt).name, fn, beta, threshold)

    @property
    def format(self) -> Format:
        return get_format(self.fmt)

    @property
    def params(self) -> str:
        """β and threshold as people write them: "beta=1, threshold=default"."""
        return params_text(self.beta, self.threshold)

    @property
    def label(self) -> str:
        """"float32 softplus (beta=1, threshold=default)"."""
        return f"{self.fmt} {self.fn} ({self.params})"

    @property
    def slug(self) -> str:
        """"float32-softplus-b1-tdefault": for file names and test ids."""
        return slug_text(self.fmt, self.fn, self.beta, self.threshold)

    def is_default(self) -> bool:
        """β = 1 at the implementation's default threshold: the parameters a summary shows."""
        return self.beta == 1.0 and self.threshold is None

    def __str__(self) -> str:
        return self.label
