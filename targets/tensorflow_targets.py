"""TensorFlow softplus, built in and hand-written: ``tf-softplus``, ``tf-naive`` and ``tf-stable``.

==============  =====================================================================
target          forward, on z = x (β = 1 only: tf.nn.softplus has no β)
==============  =====================================================================
tf-softplus     ``tf.nn.softplus(z)``
tf-naive        ``tf.math.log(1.0 + tf.exp(z))``
tf-stable       ``tf.math.log(1 + tf.exp(-tf.abs(z))) + tf.maximum(0., z)``
==============  =====================================================================

The constants are tensors of z's dtype (TensorFlow refuses mixed dtypes). The derivative is what
tf.GradientTape gives for that forward computation — for tf-stable that includes TensorFlow's choices at the
kinks, d|z|/dz = sign(0) = 0 and tf.maximum sending the gradient of a tie to its first argument, so its
derivative at z = 0 is 0, not 1/2.

TensorFlow's CPU kernels flush subnormal results to zero: softplus(x) for x below about -87 (float32,
bfloat16) or -708 (float64) is 0 where the true value is a subnormal; float16 keeps its subnormals.

Runs eagerly on "/CPU:0". Eager matters: inside tf.function, Grappler's arithmetic optimizer rewrites
log(1 + exp(z)) into log1p(exp(z)), which changes tf-naive's results (about half of random float32 inputs
differ in TF 2.21). Formats: float16, bfloat16, float32, float64; TensorFlow has no float8 dtypes. No
threshold. TensorFlow is imported on first use (several seconds); a failed import makes the targets unavailable.

Speed kernels (:meth:`TFFormulation.kernels`), eager on "/CPU:0" like the targets (eager CPU ops have finished
when they return, so no sync is needed): the forward formula; the derivative is ``tape.gradient(y, z,
output_gradients=ones)`` on a persistent tf.GradientTape that recorded the forward once, so each call runs only
the backward ops the tape holds (the values ``compute_grad`` gives, whose tape feeds the same ones); ReLU
``tf.nn.relu`` and its gradient the same way; the copy is ``tf.raw_ops.DeepCopy`` (``tf.identity`` on one
device returns the same buffer and moves nothing).
"""

from __future__ import annotations

import math
import os
from typing import Callable

import numpy as np

from oracle.formats import Format, format_of, get_format
from targets import cpu_path, marshal
from targets.base import Target, TargetOutputError, import_module, missing_module, speed_inputs

__all__ = ["TFFormulation", "TARGETS"]

Formula = Callable[[object, object], object]  # (tensorflow module, z tensor) -> tensor


def _softplus(tf, z):
    return tf.nn.softplus(z)


def _naive(tf, z):
    return tf.math.log(tf.constant(1.0, z.dtype) + tf.exp(z))


def _stable(tf, z):
    return tf.math.log(tf.constant(1, z.dtype) + tf.exp(-tf.abs(z))) + tf.maximum(tf.constant(0.0, z.dtype), z)


def _tf():
    # Quiet TensorFlow's C++ start-up banner unless the user chose a level; logging only, no effect on values.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return import_module("tensorflow")


class TFFormulation(Target):
    """One TensorFlow formulation, run eagerly on the CPU, differentiated with tf.GradientTape."""

    formats = ("float16", "bfloat16", "float32", "float64")
    format_notes = {f: "tensorflow has no float8 dtypes" for f in ("float8_e4m3fn", "float8_e5m2")}

    def __init__(self, name: str, formula: Formula, switches: bool = False) -> None:
        self.name = name
        self._formula = formula
        self._switches = switches

    def switch_points(self, fmt, beta: float = 1.0, threshold: float | None = None) -> list[float]:
        """tf.nn.softplus's kernel cut-offs: x itself above -(log(eps) + 2), exp(x) below log(eps) + 2."""
        if not self._switches:
            return []
        f = get_format(fmt)
        cut = math.log(2.0 ** (1 - f.p)) + 2.0  # eps = 2**(1-p); the kernel computes it in the format
        return [cut, -cut]

    def availability(self) -> str | None:
        return missing_module("tensorflow")

    def versions(self) -> dict[str, str]:
        return {"tensorflow": _tf().__version__,
                "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(default)")}

    def code_path(self) -> dict[str, str]:
        """What oneDNN may use here (``cpu_path.onednn_path()``) and whether TensorFlow's oneDNN ops are on.

        tf.nn.softplus itself runs no oneDNN primitive in TF 2.21 (ONEDNN_VERBOSE shows none; it is an Eigen
        kernel compiled into the wheel), so this path is that of the oneDNN ops around it, stated all the same.
        """
        out = cpu_path.onednn_path()
        out["tensorflow.onednn_opts"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(default)")
        return out

    def roundtrip(self, x: np.ndarray) -> np.ndarray:
        tf = _tf()
        with tf.device("/CPU:0"):
            return marshal.from_tf(marshal.to_tf(x), format_of(x), x.shape)

    def compute(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        tf = _tf()
        with tf.device("/CPU:0"):
            y = self._formula(tf, marshal.to_tf(x))
            return marshal.from_tf(y, format_of(x), x.shape)

    def compute_grad(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        tf = _tf()
        with tf.device("/CPU:0"):
            z = marshal.to_tf(x)
            with tf.GradientTape() as tape:
                tape.watch(z)
                y = self._formula(tf, z)
            # y is elementwise in z, so the gradient of sum(y) is the elementwise derivative
            g = tape.gradient(y, z)
            if g is None:
                raise TargetOutputError(f"{self.name}: tf.GradientTape gave no gradient")
            return marshal.from_tf(g, format_of(x), x.shape)

    def kernels(self, fmt: str | Format, n: int, beta: float = 1.0,
                threshold: float | None = None) -> dict[str, Callable[[], object]]:
        """The formula, its tape gradient, tf.nn.relu and its tape gradient, and DeepCopy, eager on the CPU."""
        tf = _tf()
        with tf.device("/CPU:0"):
            z = marshal.to_tf(speed_inputs(fmt, n))
            ones = tf.ones_like(z)
            # persistent: the recorded forward is differentiated again on every call, the forward not rerun
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(z)
                y = self._formula(tf, z)
                r = tf.nn.relu(z)

        def on_cpu(fn: Callable[[], object]) -> Callable[[], object]:
            def run() -> object:
                with tf.device("/CPU:0"):
                    return fn()
            return run

        return {
            "softplus": on_cpu(lambda: self._formula(tf, z)),
            "softplus_grad": on_cpu(lambda: tape.gradient(y, z, output_gradients=ones)),
            "relu": on_cpu(lambda: tf.nn.relu(z)),
            "relu_grad": on_cpu(lambda: tape.gradient(r, z, output_gradients=ones)),
            "copy": on_cpu(lambda: tf.raw_ops.DeepCopy(x=z)),
            "inputs": lambda: z,
        }


TARGETS = [
    TFFormulation("tf-softplus", _softplus, switches=True),
    TFFormulation("tf-naive", _naive),
    TFFormulation("tf-stable", _stable),
]
