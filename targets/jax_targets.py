"""``jax.nn.softplus`` on the CPU: target ``jax-softplus``.

Forward: ``jax.nn.softplus(x)`` (β = 1 only, no threshold: JAX's softplus has neither). Derivative:
``jax.jit(jax.vmap(jax.grad(jax.nn.softplus)))`` over the flattened input (grad needs scalars; 0-d and empty
inputs are reshaped to 1-d and back).

Formats: all six. JAX shares ml_dtypes with NumPy, so bfloat16 and both float8 formats compute natively (XLA
rounds each intermediate of jax.nn.softplus = logaddexp(x, 0) to the format, so narrow formats see double
rounding). XLA's CPU code flushes subnormal results to zero (float32, bfloat16, float64), as TensorFlow does.
float64 needs JAX's x64 mode, which this adapter switches on when it first imports JAX, for the
whole process: without it JAX narrows float64 to float32 silently.

Speed kernels (:meth:`JaxSoftplus.kernels`): ``jax.nn.softplus`` (itself jitted) and the jitted ``vmap(grad)``
above; ReLU ``jit(jax.nn.relu)`` and ``jit(vmap(grad(jax.nn.relu)))``; the copy is ``jit(jnp.copy)`` (XLA gives
the result its own buffer). Each call waits with ``block_until_ready()``: JAX dispatches asynchronously.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from oracle.formats import FORMATS, Format, format_of
from targets import cpu_path, marshal
from targets.base import Target, import_module, missing_module, speed_inputs

__all__ = ["JaxSoftplus", "TARGETS"]

_GRAD = None
_X64 = False


def _jax():
    global _X64
    jax = import_module("jax")
    if not _X64:  # before any float64 array is made, or JAX narrows it to float32
        jax.config.update("jax_enable_x64", True)
        _X64 = True
    return jax


def _grad_fn():
    global _GRAD
    if _GRAD is None:
        jax = _jax()
        # jit compiles the whole batched derivative once per shape and dtype (eager vmap compiles each
        # primitive, about 3x the start-up); the values are the same, and the tests compare with eager.
        _GRAD = jax.jit(jax.vmap(jax.grad(jax.nn.softplus)))
    return _GRAD


class JaxSoftplus(Target):
    """``jax.nn.softplus`` and its jax.grad, on the first CPU device."""

    name = "jax-softplus"
    formats = tuple(FORMATS)

    def availability(self) -> str | None:
        return missing_module("jax")

    def versions(self) -> dict[str, str]:
        jax = _jax()
        import jaxlib

        return {"jax": jax.__version__, "jaxlib": jaxlib.__version__}

    def code_path(self) -> dict[str, str]:
        """The level XLA compiles for here: the host's, capped by ``--xla_cpu_max_isa`` (``cpu_path.xla_path()``)."""
        return cpu_path.xla_path()

    def roundtrip(self, x: np.ndarray) -> np.ndarray:
        _jax()
        return marshal.from_jax(marshal.to_jax(x), format_of(x), x.shape)

    def compute(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        jax = _jax()
        return marshal.from_jax(jax.nn.softplus(marshal.to_jax(x)), format_of(x), x.shape)

    def compute_grad(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        grad = _grad_fn()  # first: it switches x64 on before to_jax sees a float64 array
        g = grad(marshal.to_jax(x.reshape(-1))).reshape(x.shape)
        return marshal.from_jax(g, format_of(x), x.shape)

    def kernels(self, fmt: str | Format, n: int, beta: float = 1.0,
                threshold: float | None = None) -> dict[str, Callable[[], object]]:
        """softplus, its jitted vmap(grad), ReLU and its jitted vmap(grad), and a jitted copy, on the CPU."""
        grad = _grad_fn()  # first: it switches x64 on before to_jax sees a float64 array
        jax = _jax()
        x = marshal.to_jax(speed_inputs(fmt, n))
        # jax.nn.softplus is itself jitted; jax.nn.relu is a custom_jvp, whose eager call goes through Python
        # machinery each time (190 us against 34 us jitted at 1 Ki float32, JAX 0.10.2): jitted here, like softplus
        relu = jax.jit(jax.nn.relu)
        relu_grad = jax.jit(jax.vmap(jax.grad(jax.nn.relu)))
        copy = jax.jit(jax.numpy.copy)
        return {
            "softplus": lambda: jax.nn.softplus(x).block_until_ready(),
            "softplus_grad": lambda: grad(x).block_until_ready(),
            "relu": lambda: relu(x).block_until_ready(),
            "relu_grad": lambda: relu_grad(x).block_until_ready(),
            "copy": lambda: copy(x).block_until_ready(),
            "inputs": lambda: x,
        }


TARGETS = [JaxSoftplus()]
