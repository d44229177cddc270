"""Every selected target — built-in or loaded with --target-module — keeps the contract of targets.base.

Values are held only to a loose float64 reference (a few ulps of the format, capped in float8 where a few ulps
would be as large as the mistakes, absolute near 0, so that even the naive formulations pass: see _tolerance):
the oracle judges accuracy; this catches wiring mistakes such as a derivative that is really the forward
function, a lost β, or a silent cast.
"""

from __future__ import annotations

import numpy as np
import pytest

import oracle
from oracle.formats import FORMATS, get_format
from targets import Params, Target, Unsupported

# No exact 0: tf-stable's GradientTape derivative there is 0 (sign(0) = 0 and tf.maximum's tie rule), a true
# property of that formulation that the oracle reports; it is not a wiring mistake.
UNIT_GRID = np.linspace(-1.0, 1.0, 996)


def _grid(fmt: str, beta: float) -> np.ndarray:
    """Inputs with |βx| ≤ 12 and exp(|βx|) well inside the format, where naive exp-then-log forms work too."""
    f = get_format(fmt)
    limit = min(12.0, 0.9 * np.log(float(f.finfo.max)))
    return (UNIT_GRID * limit / beta).astype(f.dtype)


def _reference(x: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    z = x.astype(np.float64) * beta
    return np.logaddexp(0.0, z) / beta, 1.0 / (1.0 + np.exp(-z))


#: The cap on the tolerance, relative to max(|f|, |βx|, 1); see :func:`_tolerance`.
WIRING_CAP = 0.25


def _tolerance(fmt: str) -> float:
    """How far from the float64 reference a value may be, in units of max(|f|, |βx|, 1), in format ``fmt``.

    Honest formulations: 8 eps. Formulations that cancel (exp(z - logaddexp(0, z)), log(1 + e)) lose about
    ulp(βx) absolutely, each rounding costs u = eps/2 of its result, and tf.nn.softplus returns x itself for
    x > 2 - log(eps) (3.6 ulps off in bfloat16, 2.45 eps of the scale): all below 8 eps, and all the oracle's
    business, not wiring mistakes.

    Wiring mistakes are off by a fixed fraction of the scale whatever the format, not by a number of eps: the
    derivative wired to the forward function by (|βx| - 1)/|βx| ≥ 0.8 of the scale at the grid's end
    (|βx| ≈ 5.5 in float8_e4m3fn, 9.9 in float8_e5m2) and by ~2 on the β = 1/2 grid; a lost β (β = 2 or 1/2
    taken as 1) by log(2)/2 ≈ 0.35 at x = 0 and by ≥ 0.64 somewhere on the β = 1/2 grid. 8 eps is 1 in
    float8_e4m3fn and 2 in float8_e5m2 (eps = 1/8, 1/4): it let the lost β through in both and the wired
    derivative through in float8_e5m2. So the tolerance is 8 eps capped at 1/4 of the scale: below both
    mistakes by a factor of 2.5 or more. The cap binds only in float8, where it is 2 eps (4 roundings of
    u = 1/16) in float8_e4m3fn and 1 eps (the final rounding and one intermediate, u = 1/8) in
    float8_e5m2; correctly rounded values are within 0.06 and 0.10 of the scale, the float8 targets here
    (float32 inside, one rounding per op) within 0.66 eps: 0.08 and 0.15.
    """
    return min(8 * float(get_format(fmt).finfo.eps), WIRING_CAP)


def _close(got: np.ndarray, want: np.ndarray, z: np.ndarray, fmt: str) -> np.ndarray:
    """Where ``got`` is within :func:`_tolerance` of the float64 reference ``want`` (z = βx)."""
    scale = np.maximum(np.maximum(np.abs(want), np.abs(z)), 1.0)
    return np.abs(got.astype(np.float64) - want) <= _tolerance(fmt) * scale


def _betas(target) -> list[float]:
    return [1.0, 2.0, 0.5] if target.params.beta else [1.0]


def _assert_values_near_reference(target) -> None:
    """Every declared format and β (1, 2, 1/2 for a target that takes β) within :func:`_tolerance`."""
    for fmt in target.formats:
        for beta in _betas(target):
            if target.check(fmt, beta) is not None:
                continue
            x = _grid(fmt, beta)
            want_y, want_g = _reference(x, beta)
            for what, got, want in (("softplus", target.softplus(x, beta), want_y),
                                    ("softplus_grad", target.softplus_grad(x, beta), want_g)):
                ok = _close(got, want, x.astype(np.float64) * beta, fmt)
                assert ok.all(), f"{target.name} {fmt} beta={beta} {what}: x={x[~ok][:3]} got {got[~ok][:3]}"


def test_values_near_float64_reference(target) -> None:
    """Every selected target within the per-format tolerance: no wiring mistake (see _tolerance)."""
    _assert_values_near_reference(target)


class _Wired(Target):
    """The oracle's correctly rounded values in one format, takes β, optionally with a wiring mistake planted:
    ``mistake`` "grad-is-forward" (softplus_grad calls softplus) or "lost-beta" (β ignored by both)."""

    params = Params(beta=True)

    def __init__(self, fmt: str, mistake: str | None = None) -> None:
        self.name, self.formats, self.mistake = f"wired-{mistake or 'right'}-{fmt}", (fmt,), mistake

    def compute(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        return oracle.softplus(x, 1.0 if self.mistake == "lost-beta" else beta)

    def compute_grad(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        if self.mistake == "grad-is-forward":
            return self.compute(x, beta, threshold)
        return oracle.softplus_grad(x, 1.0 if self.mistake == "lost-beta" else beta)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_the_value_check_passes_correctly_rounded_values(fmt: str) -> None:
    """The control for the test below: the unplanted wrapper (the best values a format holds) passes,
    so what rejects the planted ones is the mistake, not the wrapper or a tolerance too tight for float8."""
    _assert_values_near_reference(_Wired(fmt))


@pytest.mark.parametrize("mistake", ["grad-is-forward", "lost-beta"])
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_the_value_check_rejects_both_wiring_mistakes(fmt: str, mistake: str) -> None:
    """Both mistakes the module doc names are caught in every format, the float8 ones included, where a
    tolerance of 8 eps (1 and 2 of the scale) let three of the four float8 cases through."""
    with pytest.raises(AssertionError, match=f"wired-{mistake}-{fmt} {fmt} beta="):
        _assert_values_near_reference(_Wired(fmt, mistake))


@pytest.mark.parametrize("shape", [(), (0,), (2, 0, 3), (1,), (3, 4), (2, 3, 5)])
def test_keeps_dtype_and_shape(target, shape) -> None:
    for fmt in target.formats:
        dtype = get_format(fmt).dtype
        x = np.linspace(-3, 3, int(np.prod(shape))).reshape(shape).astype(dtype)
        for f in (target.softplus, target.softplus_grad):
            y = f(x)
            assert isinstance(y, np.ndarray) and y.dtype == dtype and y.shape == shape, (fmt, f.__name__)


def test_scalar_and_strided_inputs_match_contiguous_ones(target) -> None:
    for fmt in target.formats:
        dtype = get_format(fmt).dtype
        x = np.linspace(-5, 5, 48).reshape(6, 8).astype(dtype)
        strided = x[::2, ::-3]
        np.testing.assert_array_equal(target.softplus(strided).astype(np.float64),
                                      target.softplus(np.ascontiguousarray(strided)).astype(np.float64))
        y0 = target.softplus(x[1, 2])  # a NumPy scalar in, a 0-d array out
        assert isinstance(y0, np.ndarray) and y0.shape == () and y0.dtype == dtype


def test_undeclared_formats_raise_unsupported(target) -> None:
    for fmt in set(FORMATS) - set(target.formats):
        reason = target.check(fmt)
        assert reason and fmt in reason
        x = np.zeros(3, dtype=get_format(fmt).dtype)
        with pytest.raises(Unsupported, match=fmt):
            target.softplus(x)
        with pytest.raises(Unsupported, match=fmt):
            target.softplus_grad(x)


def test_declared_parameters_are_accepted_or_refused(target) -> None:
    fmt = target.formats[0]
    x = np.ones(2, dtype=get_format(fmt).dtype)
    if target.params.threshold:
        assert target.check(fmt, 1.0, 5.0) is None
        target.softplus(x, 1.0, 5.0)
    else:
        assert target.check(fmt, 1.0, 5.0)
        with pytest.raises(Unsupported, match="threshold"):
            target.softplus(x, 1.0, 5.0)
    if not target.params.beta:
        assert target.check(fmt, 2.0)
        with pytest.raises(Unsupported, match="beta"):
            target.softplus_grad(x, 2.0)
