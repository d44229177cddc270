"""Softplus as people write it in NumPy: ``numpy-log1p``, ``numpy-logaddexp`` and ``numpy-stable``.

With z = x*β computed in the format's dtype (skipped for β = 1, so the formula runs exactly as written):

==================  =====================================================  =================================
target              softplus (then /β)                                     derivative, same arithmetic style
==================  =====================================================  =================================
numpy-log1p         ``log1p(exp(z))``                                      ``e/(1 + e)``, e = exp(z)
numpy-logaddexp     ``logaddexp(0, z)``                                    ``exp(z - logaddexp(0, z))``
numpy-stable        ``maximum(z, 0) + log1p(exp(-abs(z)))``               ``1/(1 + e)`` for z ≥ 0, else
                                                                           ``e/(1 + e)``; e = exp(-abs(z))
==================  =====================================================  =================================

Every operation takes and returns the format's dtype, so each intermediate is rounded to the format: NumPy's
float16 loops compute one op in float32 and round; bfloat16 and float8 ufuncs come from ml_dtypes, which does
the same through float32. All six formats therefore work. Constants (0, 1, β) are scalars of the format's
dtype: a Python float would promote a bfloat16 array to float32 (ml_dtypes types take no part in NEP 50's weak
scalars), a silent upcast.

β must be exactly representable in the format (Unsupported otherwise): ``x * β`` would first round β to the
format and the error of that rounding would be charged to the formulation. No threshold (Unsupported unless
None). Floating-point warnings (overflow in exp, ...) are silenced: the values are what is judged.

Speed kernels (:meth:`NumpyFormulation.kernels`): ``compute`` and ``compute_grad`` themselves on a prepared
array; ReLU ``maximum(x, 0)`` and its analytic derivative ``where(x > 0, 1, 0)`` in the same style (no incoming
gradient is read, as the formulations' derivatives read none); the copy is ``np.copyto`` into a preallocated
array.
"""

from __future__ import annotations

from typing import Callable

import ml_dtypes
import numpy as np

from oracle.formats import FORMATS, Format, get_format
from targets import cpu_path
from targets.base import Params, Target, speed_inputs
from targets.error_models import numpy_model

__all__ = ["NumpyFormulation", "TARGETS", "numpy_kernels"]

Formula = Callable[..., np.ndarray]  # (z, scalar type of the format, ops=np) -> result

# Each formula is written against ``ops``: NumPy itself when the target computes, an interval namespace
# (oracle.derive.IntervalOps) when a budget is derived from the kernels' stated bounds (targets.error_models).


def _log1p_f(z, t, ops=np):
    return ops.log1p(ops.exp(z))


def _log1p_d(z, t, ops=np):
    e = ops.exp(z)
    return e / (t(1) + e)


def _logaddexp_f(z, t, ops=np):
    return ops.logaddexp(t(0), z)


def _logaddexp_d(z, t, ops=np):
    return ops.exp(z - ops.logaddexp(t(0), z))


def _stable_f(z, t, ops=np):
    return ops.maximum(z, t(0)) + ops.log1p(ops.exp(-ops.abs(z)))


def _stable_d(z, t, ops=np):
    e = ops.exp(-ops.abs(z))
    # NaN >= 0 is False: a NaN z takes the second branch, whose e is NaN too
    return ops.where(z >= t(0), t(1) / (t(1) + e), e / (t(1) + e))


class NumpyFormulation(Target):
    """One NumPy formulation of softplus and its analytic derivative, evaluated in the input's dtype."""

    formats = tuple(FORMATS)
    params = Params(beta=True)

    def __init__(self, name: str, forward: Formula, derivative: Formula) -> None:
        self.name = name
        self._forward = forward
        self._derivative = derivative

    def check(self, fmt: str | Format, beta: float = 1.0, threshold: float | None = None) -> str | None:
        reason = super().check(fmt, beta, threshold)
        if reason is None:
            f = get_format(fmt)
            with np.errstate(all="ignore"):
                rounded = float(f.dtype.type(beta))
            if rounded != beta:
                reason = f"beta={beta!r} is not representable in {f.name} (it rounds to {rounded!r})"
        return reason

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__, "ml_dtypes": ml_dtypes.__version__}

    def error_model(self):
        """NumPy's stated kernel bounds through this formulation (``targets.error_models.numpy_model``)."""
        return numpy_model(self._forward, self._derivative)

    def code_path(self) -> dict[str, str]:
        """The highest SIMD target NumPy dispatches to in this process (``cpu_path.numpy_path()``)."""
        return cpu_path.numpy_path()

    def compute(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        t = x.dtype.type
        with np.errstate(all="ignore"):
            if beta == 1.0:
                y = self._forward(x, t)
            else:
                b = t(beta)
                y = self._forward(x * b, t) / b
        return np.asarray(y)  # ufuncs turn 0-d arrays into scalars

    def compute_grad(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        t = x.dtype.type
        with np.errstate(all="ignore"):
            # d/dx f(βx)/β = f'(βx): the β's cancel, only z = βx is formed
            y = self._derivative(x if beta == 1.0 else x * t(beta), t)
        return np.asarray(y)

    def kernels(self, fmt: str | Format, n: int, beta: float = 1.0,
                threshold: float | None = None) -> dict[str, Callable[[], object]]:
        """This formulation, its derivative, ReLU and its derivative, and ``np.copyto``, on n prepared inputs."""
        x = speed_inputs(fmt, n)
        return numpy_kernels(x, lambda: self.compute(x, beta, threshold),
                             lambda: self.compute_grad(x, beta, threshold))


TARGETS = [
    NumpyFormulation("numpy-log1p", _log1p_f, _log1p_d),
    NumpyFormulation("numpy-logaddexp", _logaddexp_f, _logaddexp_d),
    NumpyFormulation("numpy-stable", _stable_f, _stable_d),
]


def numpy_kernels(x: np.ndarray, softplus: Callable[[], object],
                  softplus_grad: Callable[[], object]) -> dict[str, Callable[[], object]]:
    """Speed kernels around the given softplus callables: NumPy's ReLU, its derivative and ``np.copyto``
    on the prepared input ``x`` (see :meth:`targets.base.Target.kernels`)."""
    t = x.dtype.type
    zero, one = t(0), t(1)  # scalars of the format: a Python float would promote bfloat16 to float32
    out = np.empty_like(x)

    def copy() -> np.ndarray:
        np.copyto(out, x)
        return out

    return {
        "softplus": softplus,
        "softplus_grad": softplus_grad,
        "relu": lambda: np.maximum(x, zero),
        "relu_grad": lambda: np.where(x > zero, one, zero),
        "copy": copy,
        "inputs": lambda: x,
    }
