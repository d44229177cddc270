"""Every selected target — built-in or loaded with --target-module — keeps the contract of targets.base.

Values are held only to a loose float64 reference (a few ulps of the format, absolute near 0, so that even the
naive formulations pass): the oracle judges accuracy; this catches wiring mistakes such as a derivative that is
really the forward function, a lost β, or a silent cast.
"""

from __future__ import annotations

import numpy as np
import pytest

from oracle.formats import FORMATS, get_format
from targets import Unsupported

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


def _close(got: np.ndarray, want: np.ndarray, z: np.ndarray, fmt: str) -> np.ndarray:
    # Several ulps of max(|f|, |βx|, 1): formulations that cancel (exp(z - logaddexp(0, z)), log(1 + e)) lose
    # about ulp(βx) absolutely, and tf.nn.softplus returns x itself for x > 2 - log(eps) (3.6 ulps off in
    # bfloat16): the oracle's business, not wiring mistakes, which are off by far more.
    eps = float(get_format(fmt).finfo.eps)
    scale = np.maximum(np.maximum(np.abs(want), np.abs(z)), 1.0)
    return np.abs(got.astype(np.float64) - want) <= 8 * eps * scale


def _betas(target) -> list[float]:
    return [1.0, 2.0, 0.5] if target.params.beta else [1.0]


def test_values_near_float64_reference(target) -> None:
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
