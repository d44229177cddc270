"""``torch.compile`` (Inductor, CPU) of ``torch.nn.functional.softplus``: target ``torch-compile``.

Forward: ``torch.compile(lambda x, beta, threshold: F.softplus(x, beta, threshold), dynamic=True,
fullgraph=True)``, called under ``torch.no_grad()`` (an inference graph). Derivative: what the compiled
*training* graph computes: the same compiled function called on a leaf that requires grad, then
``torch.autograd.grad(y, x, ones)``, which runs AOT-autograd's compiled backward (Inductor's code for the
``softplus_backward`` decomposition ``where(βx > threshold, g, g·z/(z + 1))``, z = exp(βx)). β and threshold as
for torch-cpu (threshold None means 20; 0 and ±inf are passed as given).

The default grid judges β = 1 only (``Params.grid_betas``), at the three thresholds: β is a run-time double
argument of one compiled kernel (below: no recompile, and bit-identical to kernels with β baked in), so the
other β values of ``engine.grid.BETAS`` exercise no code that β = 1 does not, and judging them five times over,
twice per certification run, cost 3 min 47 s of the default test run. ``--betas 1 1e-3 0.5 2 1e30`` judges
them all.

Formats: float16, bfloat16, float32, float64. float8 is Unsupported: Inductor fails to lower softplus for it
("Promotion for Float8 Types is not supported, attempted to promote Bool and Float8_e4m3fn", torch 2.13; eager
torch has no float8 softplus kernel either).

Compiles (each costs ~0.1-0.3 s with Inductor's on-disk FX graph cache warm, seconds cold):

* β and threshold are Python floats that dynamo does not specialize (``specialize_float=False``, torch 2.13's
  default): they reach the generated C++ as double arguments, so new values cause no recompile. Measured: the
  results with them unspecialized are bit-identical to a compile with ``specialize_float=True`` (β, threshold
  baked in as constants) for every float16/bfloat16 input and 100,000 float32/float64 ones, forward and
  derivative, at (β, threshold) = (1, 20), (0.5, 20), (2, 0), (1e30, inf), (1e-3, 20), (1, inf). (Not
  measured: a threshold that is not exact in the format, which the C++ compares in double, eager in the format.)
* Shapes: ``dynamic=True``; a contiguous input (any shape, 0-d included) is passed as its flat 1-D view
  (elementwise: Inductor collapses contiguous dimensions to one loop anyway), a non-contiguous one with its
  strides. Dynamo still specializes sizes 0 and 1, so each kind of call compiles at most three graphs.
* Each (function, inference/training, dtype, contiguous or rank of the strided input, thread count) has a code
  object of its own (:meth:`TorchCompileSoftplus.compiled_graphs` counts its graphs), so dynamo's per-function
  recompile limit (8) is never reached; calls run with ``fail_on_recompile_limit_hit``, so if it were, the
  call fails instead of silently running eager torch. The thread count is part of the key because Inductor
  bakes ``torch.get_num_threads()`` into the C++ it generates: :meth:`set_threads` then takes effect as it
  would for a user who sets threads before compiling.

Compared with eager torch-cpu (measured, torch 2.13, AVX2 host, ``sample_values`` inputs at β = 1, default
threshold; the agreement matrix of ``softplus-cert report --targets torch-cpu,torch-compile`` says 100.0 for
every format and function): same formula, same float32 opmath for float16/bfloat16, same vectorized exp/log1p
(``at::vec``). On contiguous arrays whose length is a multiple of the vector width the two are bit-identical
(all float16/bfloat16 values, 16,400 float32/float64 inputs, both functions). They differ where eager uses its
scalar remainder loop: on 13-element chunks torch-compile (masked vector tail, the same as its contiguous
result) differed from eager on 3.2% (float32 softplus), 2.5% (float32 grad), 0.8% / 0.6% (float64) of inputs,
and there eager was closer to the oracle more often (float32 softplus 364 vs 166, grad 302 vs 105; float64
softplus 64 vs 64, grad 58 vs 40). Inductor is not layout-free either: its kernel for a non-contiguous input is
scalar for the forward (``[::2]`` views then equal eager's strided result, 3.2% / 2.0% off its contiguous one),
and the graph dynamo specializes for a 1-element input is scalar too (a few float32/float64 derivative values
differ, 1 ulp); ``engine.consistency`` reports both (layout_differences in the certificate).

Code path: Inductor picks its own vector ISA (``torch._inductor.cpu_vec_isa.pick_vec_isa()``: the best one the
compiler can build and the CPU runs), capped by the same ``ATEN_CPU_CAPABILITY`` that caps eager torch (its
``get_isa_from_cpu_capability``), so ``cpu_path.AVX2_CAP`` holds the generated vector code to AVX2
(``Vectorized`` over 256 bits, ``-mavx2 -mfma``). It does not hold the compiler's target: Inductor also passes
``-march=native`` (unless ``TORCHINDUCTOR_CPP_MARCH`` is set), so on an AVX-512 host the scalar parts may be
compiled with AVX-512 encodings; with ``-ffp-contract=off`` that changes no rounding we know of, but it is
reported (``inductor.march``). :meth:`code_path` gives the vector ISA as the path.

Speed kernels: the compiled inference forward; the compiled backward alone (one compiled training forward is
run once, then ``autograd.grad(..., retain_graph=True)`` replays only its backward); ReLU and its backward
compiled the same way; ``out.copy_(x)``. All are called once while preparing, so no compile is timed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import types
from typing import Callable

import numpy as np

from oracle.formats import Format, format_of, get_format
from targets import cpu_path, marshal
from targets.base import Params, Unsupported, import_module, missing_module, speed_inputs
from targets.torch_targets import DEFAULT_THRESHOLD, TorchSoftplus, threshold_or_default

__all__ = ["TorchCompileSoftplus", "TARGETS"]

_FLOAT8_NOTE = ("Inductor cannot lower softplus for float8 (\"Promotion for Float8 Types is not supported\", "
                "torch 2.13)")


# Templates of the compiled functions; each key gets a copy with a code object of its own (see _fresh).
# ``F`` and ``torch`` are looked up in the globals _fresh gives them, so this module never imports torch.
def _softplus_template(x, beta, threshold):
    return F.softplus(x, beta, threshold)  # noqa: F821 — F is in the copy's globals


def _relu_template(x, beta, threshold):
    return torch.relu(x)  # noqa: F821


_TEMPLATES = {"softplus": _softplus_template, "relu": _relu_template}


def _fresh(template, tag: str, torch):
    """A copy of ``template`` with its own code object: dynamo keeps its compiled graphs (and counts them
    against ``recompile_limit``) per code object."""
    name = f"{template.__name__}_{tag}"
    code = template.__code__.replace(co_name=name, co_qualname=name)
    return types.FunctionType(code, {"F": torch.nn.functional, "torch": torch, "__builtins__": __builtins__},
                              name)


def _compiler() -> str:
    """The C++ compiler Inductor will use: ``torch._inductor.config.cpp.cxx`` once that is imported (it reads
    ``CXX`` at import), else ``$CXX`` or g++ as it would read them."""
    config = sys.modules.get("torch._inductor.config")
    cxx = getattr(getattr(config, "cpp", None), "cxx", None) if config is not None else None
    if isinstance(cxx, (list, tuple)):
        cxx = next((c for c in cxx if c), None)
    return cxx or os.environ.get("CXX", "g++")


class TorchCompileSoftplus(TorchSoftplus):
    """``torch.compile`` (Inductor, CPU) of ``F.softplus``; any β > 0 and any threshold, like torch-cpu."""

    format_notes = {"float8_e4m3fn": _FLOAT8_NOTE, "float8_e5m2": _FLOAT8_NOTE}
    params = Params(beta=True, threshold=True, default_threshold=DEFAULT_THRESHOLD, grid_betas=(1.0,))

    def __init__(self) -> None:
        super().__init__("cpu")
        self.name = "torch-compile"
        self._fns: dict[tuple, Callable] = {}
        self._build_failure: str | None = None
        self._which: dict[tuple, str | None] = {}
        self._code_path: dict[str, str] | None = None

    def __getstate__(self):  # compiled functions do not pickle; a worker compiles its own
        state = dict(self.__dict__)
        state["_fns"], state["_code_path"] = {}, None
        return state

    # --- availability, versions, path ---------------------------------------------------------------------

    def availability(self) -> str | None:
        reason = missing_module("torch")
        if reason is not None:
            return reason
        if self._build_failure is not None:
            return self._build_failure
        cxx = _compiler()
        key = (cxx, os.environ.get("PATH", ""))
        if key not in self._which:
            self._which[key] = shutil.which(cxx)
        if self._which[key] is None:
            return (f"no C++ compiler for torch._inductor: {cxx!r} not found (set CXX or put g++ on PATH); "
                    f"torch.compile generates and compiles C++ on the CPU")
        return None

    def versions(self) -> dict[str, str]:
        out = super().versions()
        cxx = shutil.which(_compiler()) or _compiler()
        try:
            first = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30).stdout
            out["cxx"] = first.splitlines()[0].strip() if first else cxx
        except (OSError, subprocess.SubprocessError) as exc:
            out["cxx"] = f"{cxx} ({type(exc).__name__})"
        return out

    def code_path(self) -> dict[str, str]:
        """Inductor's vector ISA as the path ("avx2", "avx512", "baseline" where it vectorizes nothing), with
        ``inductor.vec_isa``, ``inductor.march`` and eager torch's capability as details."""
        if self._code_path is None:
            import_module("torch")
            from torch._inductor import config, cpu_vec_isa

            isa = cpu_vec_isa.pick_vec_isa()
            march = config.cpp.march
            self._code_path = {
                cpu_path.PATH_KEY: cpu_path.normalize(str(isa)) if isa else "baseline",
                "inductor.vec_isa": str(isa) if isa else "(none)",
                "inductor.march": "native (not capped)" if march is None else (march or "(none)"),
                **{k: v for k, v in cpu_path.torch_path().items() if k != cpu_path.PATH_KEY},
            }
        return dict(self._code_path)

    # --- the compiled functions ----------------------------------------------------------------------------

    def _fn(self, op: str, mode: str, fmt: Format, layout: str) -> Callable:
        torch = import_module("torch")
        key = (op, mode, fmt.name, layout, torch.get_num_threads())
        fn = self._fns.get(key)
        if fn is None:
            tag = "_".join(str(k) for k in key)
            fn = self._fns[key] = torch.compile(_fresh(_TEMPLATES[op], tag, torch), dynamic=True, fullgraph=True)
        return fn

    def compiled_graphs(self) -> dict[tuple, int]:
        """(function, mode, format, layout, threads) -> graphs dynamo holds for it, for the calls so far."""
        torch = import_module("torch")
        from torch._dynamo.eval_frame import _debug_get_cache_entry_list

        out = {}
        for key, fn in self._fns.items():
            orig = getattr(fn, "_torchdynamo_orig_callable", fn)
            out[key] = len(_debug_get_cache_entry_list(orig.__code__))
        del torch
        return out

    def _run(self, call: Callable, *args):
        """``call(*args)``; an exceeded recompile limit raises instead of falling back to eager, and a failure
        to build C++ makes the target unavailable with the reason."""
        torch = import_module("torch")
        from torch._inductor import exc as inductor_exc

        try:
            with torch._dynamo.config.patch(fail_on_recompile_limit_hit=True):
                return call(*args)
        except Exception as e:  # noqa: BLE001 — classified, then re-raised
            if isinstance(e, inductor_exc.InvalidCxxCompiler) or "CppCompileError" in repr(e) or \
                    isinstance(getattr(e, "inner_exception", None), inductor_exc.CppCompileError):
                self._build_failure = f"torch._inductor cannot build C++: {type(e).__name__}: {str(e)[:300]}"
                raise Unsupported(self._build_failure) from e
            raise

    @staticmethod
    def _prepared(x: np.ndarray):
        """x as a torch tensor: contiguous ones flat (layout "flat"), others with their strides."""
        torch = import_module("torch")
        t = marshal.to_torch(x)
        # detach(): no autograd view of a base, whose shape dynamo would guard on too
        if t.is_contiguous():
            flat = t.reshape(-1)
            # 0 or 1 elements: NumPy's stride of such an array is arbitrary, and dynamo guards on it
            return (flat.clone(memory_format=torch.contiguous_format) if flat.numel() <= 1 else flat.detach()), "flat"
        return t.detach(), f"strided{t.dim()}"

    def compute(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        torch = import_module("torch")
        f = format_of(x)
        t, layout = self._prepared(x)
        fn = self._fn("softplus", "infer", f, layout)
        with torch.no_grad():
            y = self._run(fn, t, beta, threshold_or_default(threshold))
        return marshal.from_torch(y.reshape(x.shape), f, x.shape)

    def compute_grad(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        torch = import_module("torch")
        f = format_of(x)
        t, layout = self._prepared(x)
        fn = self._fn("softplus", "train", f, layout)
        leaf = t.detach().requires_grad_(True)

        def grad():
            with torch.enable_grad():
                y = fn(leaf, beta, threshold_or_default(threshold))
                (g,) = torch.autograd.grad(y, leaf, grad_outputs=torch.ones_like(y))
            return g

        return marshal.from_torch(self._run(grad).reshape(x.shape), f, x.shape)

    def kernels(self, fmt: str | Format, n: int, beta: float = 1.0,
                threshold: float | None = None) -> dict[str, Callable[[], object]]:
        """Compiled softplus, its compiled backward alone, compiled ReLU and its backward, ``out.copy_(x)``;
        each run once here, so the compiles are done before anything is timed."""
        torch = import_module("torch")
        f = get_format(fmt)
        t = threshold_or_default(threshold)
        x = marshal.to_torch(speed_inputs(f, n))
        out = torch.empty_like(x)
        layout = "flat"
        fwd, relu = self._fn("softplus", "infer", f, layout), self._fn("relu", "infer", f, layout)
        leaf = x.detach().requires_grad_(True)
        # Graphs of their own, compiled without donated buffers (AOT autograd would otherwise let the backward
        # reuse the saved tensors' memory and refuse retain_graph); that changes memory reuse, not arithmetic.
        with torch.enable_grad(), torch._functorch.config.patch(donated_buffer=False):
            y_train = self._run(self._fn("softplus", "train-retained", f, layout), leaf, beta, t)
            r_train = self._run(self._fn("relu", "train-retained", f, layout), leaf, beta, t)
        ones = torch.ones_like(x)

        def forward(fn):
            def k():
                with torch.no_grad():
                    return fn(x, beta, t)
            return k

        def backward(y):
            # replays only the compiled backward of the training graph run above (its saved tensors kept)
            def k():
                with torch._functorch.config.patch(donated_buffer=False):
                    return torch.autograd.grad(y, leaf, grad_outputs=ones, retain_graph=True)[0]
            return k

        kernels: dict[str, Callable[[], object]] = {
            "softplus": forward(fwd),
            "softplus_grad": backward(y_train),
            "relu": forward(relu),
            "relu_grad": backward(r_train),
            "copy": lambda: out.copy_(x),
            "inputs": lambda: x,
        }
        for name in ("softplus", "softplus_grad", "relu", "relu_grad"):
            self._run(kernels[name])  # compiles now, not while timed
        return kernels


TARGETS = [TorchCompileSoftplus()]
