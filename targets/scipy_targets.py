"""SciPy's softplus and logistic function: target ``scipy-softplus``.

Forward: ``scipy.special.softplus(x)``; derivative: ``scipy.special.expit(x)`` (the logistic sigmoid, which is
d/dx softplus(x); SciPy has no autodiff, so the derivative is this analytic formula). β = 1 only: SciPy 1.17's
``softplus(x, **kwargs)`` takes no β (its kwargs are the ufunc keywords ``out``, ``where``, ...), and no threshold.

What SciPy really runs (SciPy 1.17.1, NumPy 2.4): ``scipy.special.softplus`` is a Python function returning
``np.logaddexp(0, x)``, so its values are NumPy's ``logaddexp`` loop (the same as target ``numpy-logaddexp``
at β = 1); ``expit`` is one of SciPy's own ufuncs, with loops for float32, float64 and long double only.

Formats: declared as measured by calling both functions once per format (:func:`probe`) with SciPy 1.17.1 and
NumPy 2.4 (so that listing targets imports no SciPy); :meth:`ScipySoftplus.check` runs the probe too (lazily,
cached) and refuses a format the installed SciPy does not keep:

* float32, float64: both functions return the input's dtype: supported.
* float16, bfloat16, float8_e4m3fn, float8_e5m2: ``softplus`` keeps the dtype (NumPy's float16 loop; ml_dtypes'
  logaddexp for the others), but ``expit`` returns float64 (NumPy casts the input to its double loop). The
  suite judges a format for both functions or for neither, and a target never casts a result back, so these
  formats are Unsupported with that reason ("scipy.special.expit returns float64 for float16 input").

Code path: both are scalar C loops over the elements (NumPy's ``logaddexp`` calls libm's exp/log1p per element;
``expit`` is SciPy's scalar kernel), so NumPy's SIMD dispatch does not reach them: with
``NPY_DISABLE_CPU_FEATURES="X86_V3"`` on an AVX2 host ``np.exp`` float32 changed bits while ``softplus`` and
``expit`` gave the same bits on 400,000 float32 and float64 inputs. What remains CPU-dependent is glibc's own
choice of libm variant (FMA or not, by ifunc), which no cap of ours controls: :meth:`ScipySoftplus.code_path`
reports the host's ISA (``cpu.isa``), as for a target that says nothing else, plus NumPy's dispatch for context.

Speed kernels: ``softplus`` and ``expit`` on a prepared array; ReLU and its derivative and the copy as for the
NumPy targets (:func:`targets.numpy_targets.numpy_kernels`). No marshalling: SciPy takes NumPy arrays.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from oracle.formats import FORMATS, Format, get_format
from targets import cpu_path
from targets.base import Params, Target, import_module, missing_module, probed_check, speed_inputs
from targets.error_models import scipy_model
from targets.numpy_targets import numpy_kernels

__all__ = ["ScipySoftplus", "TARGETS", "probe"]


@functools.cache
def probe() -> dict[str, str | None]:
    """Format name -> None where ``softplus`` and ``expit`` both return the input's dtype, else why not.

    Calls each function once on a small array of every format (imports SciPy; cached for the process).
    """
    special = import_module("scipy.special")
    out: dict[str, str | None] = {}
    for name in FORMATS:
        dtype = get_format(name).dtype
        x = np.array([-1.0, 0.0, 1.0], dtype=dtype)
        reason = None
        for fn in ("softplus", "expit"):
            try:
                with np.errstate(all="ignore"):
                    y = np.asarray(getattr(special, fn)(x))
            except Exception as exc:  # noqa: BLE001 — a format SciPy refuses is a reason, not a crash
                reason = f"scipy.special.{fn} fails for {name} input: {type(exc).__name__}: {exc}"
                break
            if y.dtype != dtype:
                reason = f"scipy.special.{fn} returns {y.dtype} for {name} input"
                break
        out[name] = reason
    return out


class ScipySoftplus(Target):
    """``scipy.special.softplus`` and, as its derivative, ``scipy.special.expit``; β = 1, no threshold."""

    name = "scipy-softplus"
    params = Params()

    # Declared as measured (SciPy 1.17.1, NumPy 2.4), so listing targets never imports SciPy; check() asks
    # the live probe as well, and refuses a declared format that the installed SciPy no longer keeps.
    formats = ("float32", "float64")
    format_notes = {name: f"scipy.special.expit returns float64 for {name} input (scipy 1.17.1)"
                    for name in ("float16", "bfloat16", "float8_e4m3fn", "float8_e5m2")}

    def check(self, fmt: str | Format, beta: float = 1.0, threshold: float | None = None) -> str | None:
        reason = super().check(fmt, beta, threshold)
        if self.availability() is not None:
            return reason
        name = get_format(fmt).name
        return probed_check(self, name, reason, probe().get(name), f"scipy {import_module('scipy').__version__}")

    def availability(self) -> str | None:
        return missing_module("scipy")

    def versions(self) -> dict[str, str]:
        scipy = import_module("scipy")
        return {"scipy": scipy.__version__, "numpy": np.__version__}

    def error_model(self):
        """SciPy's scalar loops over libm (``targets.error_models.scipy_model``)."""
        return scipy_model()

    def code_path(self) -> dict[str, str]:
        """glibc's libm variant (``cpu_path.libm_path()``: SciPy's softplus is NumPy's scalar logaddexp loop and
        its expit a scalar ufunc, both calling libm, whose IFUNC dispatch no cap reaches), with NumPy's dispatch
        for context."""
        out = cpu_path.libm_path()
        out["scipy.loops"] = "scalar (softplus: numpy.logaddexp; expit: scipy ufunc)"
        out.update({k: v for k, v in cpu_path.numpy_path().items() if k != cpu_path.PATH_KEY})
        return out

    def compute(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        special = import_module("scipy.special")
        with np.errstate(all="ignore"):
            return np.asarray(special.softplus(x))  # ufuncs turn 0-d arrays into scalars

    def compute_grad(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        special = import_module("scipy.special")
        with np.errstate(all="ignore"):
            return np.asarray(special.expit(x))

    def kernels(self, fmt: str | Format, n: int, beta: float = 1.0,
                threshold: float | None = None) -> dict[str, Callable[[], object]]:
        """``softplus`` and ``expit`` on n prepared inputs, with NumPy's ReLU, its derivative and a copy."""
        special = import_module("scipy.special")
        x = speed_inputs(fmt, n)
        return numpy_kernels(x, lambda: special.softplus(x), lambda: special.expit(x))


TARGETS = [ScipySoftplus()]
