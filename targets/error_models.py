"""The error bounds the built-in targets' kernel families state, and each target's computation against ``ops``.

From these :mod:`oracle.derive` derives the budget of an instruction-set path nobody measured: any path whose
kernels honour their family's stated bound errs by at most the derived figure. A target without a model
(``Target.error_model()`` None: TensorFlow's Eigen kernels, XLA, ONNX Runtime's MLAS, OpenVINO's JIT state no
per-function bound) is held on an unmeasured path to the loosest measured one, and its certificate says so.

Bounds are in ulps of the exact value (a bound "B ulp against the correctly rounded result" is B + ½ here):

=====================  ==============================================================  =======================
kernel family          stated bound                                                    where it is stated
=====================  ==============================================================  =======================
NumPy SIMD exp, log1p  float32: exp 3, log1p 2 ulp; float64: exp 1, log1p 1 ulp, against  ``numpy/_core/tests/data/
(every dispatch        the correctly rounded result; float16: within 1 ulp of the float32  umath-validation-set-
target: X86_V3/V4,     loop's result rounded to float16                                 {exp,log1p}.csv`` (column
AVX512_ICL/SPR, NEON,                                                                  ulperror) and
SVE, and the scalar                                                                    ``test_umath_accuracy.py``
fallback)                                                                              (test_validate_fp16_...)
libm (glibc) exp,      1 ulp against the correctly rounded result, float and double,    glibc's libm-test-ulps
log1p: NumPy's         x86-64 and aarch64 (the largest error its test suite admits)    (sysdeps/x86_64/fpu,
logaddexp, ml_dtypes'                                                                  sysdeps/aarch64)
loops, torch's DEFAULT
Sleef ``_u10`` exp,    1.0 ulp, float and double, on every vector extension             Sleef's documentation
log1p: torch's AVX2,                                                                    (functions with suffix
AVX-512, NEON, SVE                                                                      ``_u10``)
kernels, Inductor
=====================  ==============================================================  =======================

A test (``tests/oracle/test_derive.py``) reads NumPy's figures back from the installed NumPy's own data files
where it ships them, so a NumPy that loosens its bounds fails it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from oracle.derive import KernelBound

__all__ = ["ErrorModel", "numpy_model", "scipy_model", "torch_model", "NUMPY_STATED", "LIBM_STATED",
           "SLEEF_STATED"]

#: NumPy's SIMD loops, ulps against the correctly rounded result (umath-validation-set-*.csv, ulperror).
NUMPY_STATED = {"float32": {"exp": 3, "log1p": 2}, "float64": {"exp": 1, "log1p": 1}}
#: NumPy's float16 SIMD loops: ulps (float16) from the float32 loop's result rounded to float16.
NUMPY_FP16_STATED = 1
#: glibc's libm, ulps against the correctly rounded result (libm-test-ulps, x86-64 and aarch64).
LIBM_STATED = {"exp": 1, "log1p": 1}
#: Sleef's _u10 functions, ulps against the exact value.
SLEEF_STATED = 1.0


@dataclass(frozen=True)
class ErrorModel:
    """A target's computation and its kernels' stated bounds.

    ``formula(fn, beta, threshold)`` returns ``f(ops, x)``: the target's result for inputs ``x`` written
    against an ops namespace; ``bounds(fmt)`` the kernel bounds in that format (name -> KernelBound);
    ``family`` and ``source`` say in words what the kernels are and where their bounds are stated.
    """

    family: str
    source: str
    bounds: Callable[[str], dict[str, KernelBound]]
    formula: Callable[[str, float, float | None], Callable]


def _vs_exact(stated_vs_correctly_rounded: float) -> float:
    return stated_vs_correctly_rounded + 0.5


def _numpy_bounds(fmt: str) -> dict[str, KernelBound]:
    libm32 = {f"libm.{k}": KernelBound(_vs_exact(v)) for k, v in LIBM_STATED.items()}
    if fmt in NUMPY_STATED:
        return {**{k: KernelBound(_vs_exact(v)) for k, v in NUMPY_STATED[fmt].items()}, **libm32}
    if fmt == "float16":  # NumPy's own float16 loops: the float32 loop, then within 1 ulp of its rounding
        simd = {k: KernelBound(NUMPY_FP16_STATED, "float32", _vs_exact(v)) for k, v in NUMPY_STATED["float32"].items()}
        return {**simd, **libm32}
    # bfloat16 and float8: ml_dtypes' loops compute in float32 with libm and round once
    return {**{k: KernelBound(0.0, "float32", _vs_exact(v)) for k, v in LIBM_STATED.items()}, **libm32}


def numpy_model(forward, derivative) -> ErrorModel:
    """A NumPy formulation (``targets.numpy_targets``): z = x·β in the format (skipped for β = 1), the
    formula, then /β; every operation in the format's dtype, as the target computes."""

    def formula(fn: str, beta: float, threshold: float | None):
        body = forward if fn == "softplus" else derivative

        def f(ops, x):
            z = x if beta == 1.0 else x * ops.const(beta)
            y = body(z, ops.const, ops)
            return y if beta == 1.0 or fn != "softplus" else y / ops.const(beta)

        return f

    return ErrorModel("NumPy's SIMD exp and log1p (any dispatch target), NumPy's logaddexp over libm",
                      "NumPy's umath validation data (float32 exp 3, log1p 2 ulp; float64 1 and 1; float16 "
                      "within 1 ulp of the float32 loop) and glibc's libm-test-ulps (exp, log1p 1 ulp)",
                      _numpy_bounds, formula)


def scipy_model() -> ErrorModel:
    """SciPy: ``softplus`` is NumPy's logaddexp(0, x) (scalar libm); ``expit`` is 1/(1 + exp(−x)) in scalar
    libm (cephes-style: the exp of the negative argument, then one division)."""

    def formula(fn: str, beta: float, threshold: float | None):
        if fn == "softplus":
            return lambda ops, x: ops.logaddexp(ops.const(0), x)

        def expit(ops, x):
            e = ops.kernel("libm.exp", np.exp, -x)
            return ops.const(1) / (ops.const(1) + e)

        return expit

    return ErrorModel("SciPy's scalar loops over libm (exp, log1p)", "glibc's libm-test-ulps (exp, log1p 1 ulp)",
                      _numpy_bounds, formula)


def _torch_bounds(fmt: str) -> dict[str, KernelBound]:
    # the larger of Sleef's _u10 (vector paths) and libm's (DEFAULT path), against the exact value
    b = max(SLEEF_STATED, _vs_exact(max(LIBM_STATED.values())))
    return {"exp": KernelBound(b), "log1p": KernelBound(b)}


def torch_model(default_threshold: float) -> ErrorModel:
    """torch's softplus kernels (ATen ``softplus_kernel`` / ``softplus_backward_kernel``, and Inductor's code for
    the same decomposition): z = x·β; z > threshold ? x : log1p(exp(z))/β, and exp(z)/(exp(z) + 1) with 1 above
    the threshold, with β and the threshold in the type computed in; float16 and bfloat16 compute all of it in
    float32 and round once. ``default_threshold``: the
    threshold of a combination whose threshold is None (torch's default, 20)."""

    def formula(fn: str, beta: float, threshold: float | None):
        thr = default_threshold if threshold is None else threshold

        def body(ops, x):
            # ATen converts β and the threshold to the type it computes in: β = 0.001 becomes
            # 0.0010000000474974513 in float32, an error of |βx|·5e-8 relative in exp's argument
            b = ops.const(float(np.asarray(beta, dtype=ops.fmt.dtype)))
            t = ops.const(float(np.asarray(thr, dtype=ops.fmt.dtype)))
            z = x * b
            if fn == "softplus":
                return ops.where(z > t, x, ops.log1p(ops.exp(z)) / b)
            e = ops.exp(z)
            return ops.where(z > t, ops.const(1), e / (e + ops.const(1)))

        def f(ops, x):
            if ops.fmt.p < 24:
                return ops.computed_in("float32", body, x)
            return body(ops, x)

        return f

    return ErrorModel("torch's Sleef _u10 exp and log1p (AVX2, AVX-512, NEON, SVE) or libm (DEFAULT)",
                      "Sleef's documentation (_u10: 1.0 ulp) and glibc's libm-test-ulps (1 ulp)",
                      _torch_bounds, formula)
