"""Template target: copy this file to certify your own softplus. It runs as it is (target ``example-numpy``).

The contract (see ``targets/base.py``)
--------------------------------------
Subclass :class:`targets.Target`, set four class attributes and write two methods:

* ``name``: unique; used on the command line and in reports.
* ``formats``: the formats you compute in, by name: ``float16``, ``bfloat16``, ``float32``, ``float64``,
  ``float8_e4m3fn``, ``float8_e5m2``. Declare only formats your implementation really computes in.
* ``device``: ``"cpu"``, ``"cuda"``, ...
* ``params``: ``Params(beta=True)`` if you take any β > 0 (default: β = 1 only); ``threshold=True`` (and
  ``default_threshold``) if you take a threshold like torch's (default: threshold must be None).
* ``compute(x, beta, threshold)``: softplus_β(x) = log(1 + exp(βx))/β. ``compute_grad(x, beta, threshold)``:
  its derivative sigmoid(βx) **as your framework's autodiff gives it** for the op of ``compute`` (a hand
  formula only where the implementation itself is a hand formula, as here).

``x`` is a NumPy array of one of your formats (ml_dtypes dtypes for bfloat16 and float8), of any shape:
0-d, empty and non-contiguous included. Return a NumPy array of the same dtype and shape, computed in that
format: never cast the input to another format to make it work. Move bfloat16 and float8 into a framework as
bit patterns (``targets.marshal`` does it for torch, TensorFlow and JAX).

By the time ``compute`` runs, the base class has checked that β is finite and > 0, the threshold is None or a
non-NaN float, the dtype is a known format, ``availability()`` is None and ``check()`` accepts the call: what
you do not support raises :class:`targets.Unsupported` with the reason, never a silent fallback. Override:

* ``availability()`` -> None, or why the target cannot run here ("mylib is not installed", "no CUDA device").
  Do not import heavy frameworks at module level: ``targets.base.missing_module("mylib")`` checks without
  importing and ``targets.base.import_module("mylib")`` imports on first use.
* ``check(fmt, beta, threshold)`` -> None, or why this combination is unsupported (call ``super().check``).
* ``roundtrip(x)`` if data moves to another device or framework: move it there and back without computing,
  so the suite can prove the move bit-exact.

Registering
-----------
* On the command line or in pytest: ``--target-module path/to/my_target.py`` (or a dotted module name). The
  module exposes ``TARGETS`` (a list of Target instances) or ``get_targets()`` returning them.
* In an installed package, an entry point in group ``softplus_cert.targets`` naming a Target instance, a
  Target subclass, or a callable returning Targets::

      [project.entry-points."softplus_cert.targets"]
      my-backend = "my_package.softplus_target:get_targets"

A plugin that fails to import is listed as unavailable with the error as reason, not a crash.
"""

from __future__ import annotations

import numpy as np

from targets import Params, Target


class ExampleNumpyTarget(Target):
    """Softplus evaluated in float64 with np.logaddexp and rounded once to float32 (float64: directly)."""

    name = "example-numpy"
    formats = ("float32", "float64")
    device = "cpu"
    params = Params(beta=True)

    def compute(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        z = x.astype(np.float64) * beta  # exact for float32 inputs and β = 1; the one rounding comes last
        return np.asarray(np.logaddexp(0.0, z) / beta).astype(x.dtype)

    def compute_grad(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        z = x.astype(np.float64) * beta
        with np.errstate(over="ignore"):  # exp(-z) overflows to inf for very negative z: 1/inf = 0 is right
            return np.asarray(1.0 / (1.0 + np.exp(-z))).astype(x.dtype)


TARGETS = [ExampleNumpyTarget()]
