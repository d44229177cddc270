"""OpenVINO's CPU plugin: target ``openvino``.

What is computed: a one-node ``openvino.Model`` whose node is the opset ``SoftPlus`` op (``openvino.opset15
.softplus``, y = ln(1 + exp(x))) on a 1-d parameter of dynamic length, compiled for "CPU". SoftPlus has neither
β nor a threshold: β = 1 only, no threshold. The derivative is a one-node model of OpenVINO's ``Sigmoid`` op:
an inference runtime has no autodiff, and sigmoid(x) is what a deployed model computes for it. Each (op,
format) is compiled once, on first use, and its infer request cached.

Precision: the CPU plugin lowers precision by default on capable CPUs (INFERENCE_PRECISION_HINT bf16 on
AVX512-BF16/AMX machines, f16 on AVX512-FP16 ones), and may flush denormals. So every model is compiled with
these properties, set explicitly and read back from the compiled model (:meth:`OvSoftplus.versions`):

* ``INFERENCE_PRECISION_HINT``: the format under test itself (f32 for float32, f16 for float16, ...);
* ``EXECUTION_MODE_HINT = ACCURACY`` (it exists in this OpenVINO: no precision lowering of its own);
* ``CPU_DENORMALS_OPTIMIZATION = False`` (no FTZ/DAZ: Relu keeps subnormal inputs, which it flushes to 0
  with True). SoftPlus and Sigmoid still return 0 for x below about -87.3, where the true value is a float32
  subnormal: the plugin's exp underflows there whatever this setting (seen in 2026.4.1);
* ``INFERENCE_NUM_THREADS``: from :meth:`OvSoftplus.set_threads` (0, the plugin's default, until set);
  ``NUM_STREAMS = 1``.

Formats: float32 only (OpenVINO 2026.4.1 on an AVX2 CPU). The probe (once per format, lazily, cached;
:meth:`OvSoftplus.check` returns its reason) compiles SoftPlus and Sigmoid with the format's hint and refuses
the format unless the plugin really computes in it: the hint must read back unchanged and the compiled
(runtime) model must run the op in the format with no Convert node (:func:`_runtime_problem`). What it finds:

* float64, float8_e4m3fn, float8_e5m2: the plugin refuses the hint ("Wrong value f64 for property key
  INFERENCE_PRECISION_HINT. Supported values: bf16, f16, f32, undefined"). With an f32 hint instead, an f64
  model compiles to Convert(f64 -> f32) -> SoftPlus in f32 -> Convert(f32 -> f64): a hidden float32
  computation, never used here. (An f8 model compiled with an f32 hint returns an output of shape [0] in
  2026.4.1 — a plugin bug, noticed and left alone: the format is refused before that.)
* float16, bfloat16 on a CPU without native f16/bf16 arithmetic (this one: OPTIMIZATION_CAPABILITIES FP32,
  INT8 only): the hint is accepted but reads back as f32, and the runtime model is Convert -> SoftPlus (f32)
  -> Convert: a hidden upcast, refused with the nodes named. On a CPU with AVX512-FP16/AMX-BF16 the probe
  may pass; the adapter still declares only float32 (not verified there) and says so.
* bfloat16 on such a CPU with oneDNN capped below AVX512_CORE (``--max-isa avx2``): the plugin compiles
  the model for bf16 and ``infer()`` dies of SIGSEGV (2026.4.1, Sapphire Rapids), so the probe refuses it
  without running it (:func:`_capped_kernel_problem`). Any probe runs in the target's worker process
  (:mod:`engine.isolation`), where a crash is that target's finding, not the run's end.

Marshalling: inputs are copied into an ``ov.Tensor`` of the format's element type by bit pattern (a contiguous
1-d unsigned-integer view, so 0-d, empty and strided inputs work and nothing is converted); the output
tensor's bytes are copied out, checked for element type and length, and reshaped back. ``roundtrip`` moves
data through a Parameter -> Result model (no op at all).

Instruction-set path (:meth:`OvSoftplus.code_path`): the CPU plugin's JIT eltwise kernels come from oneDNN
(jit_uni eltwise injectors) and honour ``ONEDNN_MAX_CPU_ISA``: on this AVX2 machine, float32 SoftPlus and
Sigmoid results change under ``ONEDNN_MAX_CPU_ISA=SSE41`` or ``AVX`` (seen with 2026.4.1), so the path is
:func:`targets.cpu_path.onednn_path`, plus the plugin's ``OPTIMIZATION_CAPABILITIES``.

Speed kernels (:meth:`OvSoftplus.kernels`): ``start_async(); wait()`` of an infer request of its own (a model
compiled for the kernels, same settings) whose input tensor holds the prepared inputs, set once; a kernel
returns a view of the request's output tensor: SoftPlus, Sigmoid, Relu, relu_grad as Convert(Greater(x, 0),
format) (OpenVINO has no ReLU-gradient op; the 0/1 mask cast to the format is the deployed equivalent), and
copy as Convert(x, same type), which the plugin turns into a plain copy of the input into the output tensor
(the bytes are moved). Tensors over NumPy buffers (``shared_memory=True``) were tried first and crashed
OpenVINO 2026.4.1 when the speed report's sizes followed one another in one process (SIGSEGV at 4 Mi
elements, after 1 Ki and 64 Ki); requests on the runtime's own tensors do not. Calls are synchronous.
"""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from oracle.formats import Format, format_of, get_format
from targets import cpu_path
from targets.base import (
    Target,
    TargetOutputError,
    Unsupported,
    import_module,
    missing_module,
    probed_check,
    speed_inputs,
    thread_count,
)

__all__ = ["OvSoftplus", "TARGETS", "compile_config"]

_OV_TYPE = {"float16": "f16", "bfloat16": "bf16", "float32": "f32", "float64": "f64",
            "float8_e4m3fn": "f8e4m3", "float8_e5m2": "f8e5m2"}

# What OpenVINO 2026.4.1 on an AVX2 CPU says (the probe gives the live reason where the runtime is installed)
_STATIC_NOTES = {
    "float64": "the CPU plugin refuses INFERENCE_PRECISION_HINT f64 (supported: bf16, f16, f32) and computes "
               "f64 models in f32",
    "float8_e4m3fn": "the CPU plugin refuses INFERENCE_PRECISION_HINT f8e4m3 (supported: bf16, f16, f32)",
    "float8_e5m2": "the CPU plugin refuses INFERENCE_PRECISION_HINT f8e5m2 (supported: bf16, f16, f32)",
    "float16": "on a CPU without native f16 the plugin reads the f16 hint back as f32 and computes in f32",
    "bfloat16": "on a CPU without native bf16 the plugin reads the bf16 hint back as f32 and computes in f32",
}

_OPS = {"SoftPlus": "softplus", "Sigmoid": "sigmoid", "Relu": "relu"}


def _ov():
    return import_module("openvino")


def _opset():
    return import_module("openvino.opset15")


_CORE = None


def _core():
    global _CORE
    if _CORE is None:
        _CORE = _ov().Core()
    return _CORE


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The last non-empty line of an OpenVINO exception (the plugin's own words, after the 'Exception from
    src/...' trail), or the whole message on one line."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not ln.strip().startswith("Exception from")]
    text = " ".join(lines[-1:] or [type(exc).__name__])
    return text if len(text) <= limit else text[: limit - 1] + "…"


def ov_type(fmt: str):
    return getattr(_ov().Type, _OV_TYPE[fmt])


def compile_config(hint: str, threads: int | None) -> dict:
    """The CPU plugin properties every compiled model of this target gets (see the module docstring)."""
    ov = _ov()
    return {
        "INFERENCE_PRECISION_HINT": getattr(ov.Type, hint),
        "EXECUTION_MODE_HINT": ov.properties.hint.ExecutionMode.ACCURACY,
        "CPU_DENORMALS_OPTIMIZATION": False,
        "INFERENCE_NUM_THREADS": 0 if threads is None else int(threads),
        "NUM_STREAMS": 1,
    }


def build_model(op: str, fmt: str):
    """A model of one node: ``op`` in ("SoftPlus", "Sigmoid", "Relu", "ReluGrad", "Copy", "Identity")."""
    ov, ops = _ov(), _opset()
    et = ov_type(fmt)
    p = ops.parameter([-1], et, name="x")
    if op in _OPS:
        y = getattr(ops, _OPS[op])(p)
    elif op == "ReluGrad":
        zero = ops.convert(ops.constant(np.zeros((), np.float32)), et)
        y = ops.convert(ops.greater(p, zero), et)
    elif op == "Copy":
        y = ops.convert(p, et)
    elif op == "Identity":
        return ov.Model([p], [p], "identity")
    else:
        raise ValueError(op)
    return ov.Model([y], [p], op.lower())


def runtime_nodes(compiled) -> list[tuple[str, str]]:
    """(layerType, runtimePrecision) of each node of the compiled model's runtime graph."""
    out = []
    for node in compiled.get_runtime_model().get_ops():
        rt = node.get_rt_info()
        order = int(rt["execOrder"].astype(str)) if "execOrder" in rt else len(out)
        prec, outs = rt["runtimePrecision"].astype(str), rt["outputPrecisions"].astype(str)
        out.append((order, rt["layerType"].astype(str), prec if outs in ("", prec) else f"{prec}->{outs}"))
    return [(t, p) for _, t, p in sorted(out, key=lambda o: o[0])]  # in execution order


def _runtime_problem(compiled, op: str, fmt: str) -> str | None:
    """None if the compiled model reads back the format's hint and runs ``op`` in the format, no Convert."""
    want = _OV_TYPE[fmt]
    hint = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    nodes = runtime_nodes(compiled)
    body = [(t, p) for t, p in nodes if t not in ("Input", "Output")]
    trail = " -> ".join(f"{t}({p})" for t, p in body)
    if hint != want:
        return (f"INFERENCE_PRECISION_HINT {want} reads back as {hint} from the compiled model (the CPU plugin "
                f"does not compute in {want} on this CPU); it runs {op} as {trail}, a hidden {hint} computation")
    if not body or any(t == "Convert" or p != want for t, p in body):  # p: "f32", or "f16->f32" for a cast
        return f"the CPU plugin runs {op} on {want} as {trail}, not in {want}"
    return None


#: The lowest oneDNN level at which the CPU plugin's JIT eltwise kernels handle bf16 data (or AVX2_VNNI_2's
#: AVX-NE-CONVERT, which this ladder does not name: the CPU flag is checked instead).
_BF16_KERNEL_LEVEL = "avx512_core"


def _capped_kernel_problem(fmt: str) -> str | None:
    """Why a bfloat16 model must not be run where oneDNN is capped below what the plugin's bf16 kernels need,
    or None.

    Seen with OpenVINO 2026.4.1 on a Sapphire Rapids CPU (AVX512_BF16, AMX) under ``ONEDNN_MAX_CPU_ISA=AVX2``
    (``--max-isa avx2``; also AVX, SSE41, AVX2_VNNI): the plugin still reports BF16 among its
    OPTIMIZATION_CAPABILITIES (FP16 is gone), the bf16 hint reads back as bf16 and the runtime graph is
    Input(bf16) -> Eltwise(bf16) -> Output(bf16), but ``infer()`` dies of SIGSEGV, a load through a null
    pointer in libopenvino_intel_cpu_plugin.so. Apparently the precision is chosen from what the CPU has and
    the kernel from what the capped oneDNN may use, and at AVX2 without AVX-NE-CONVERT no bf16 eltwise kernel
    is made.
    From AVX512_CORE up the same model runs. The format is refused there without running it (this adapter
    does not declare bfloat16; the reason says why it is not even tried).
    """
    if fmt != "bfloat16":
        return None
    path = cpu_path.onednn_path()
    level, ladder = path[cpu_path.PATH_KEY], cpu_path.LADDERS["onednn"]
    if level not in ladder or ladder.index(level) >= ladder.index(_BF16_KERNEL_LEVEL):
        return None
    if "avx_ne_convert" in cpu_path.host_flags():
        return None
    return (f"oneDNN is capped at {level} (ONEDNN_MAX_CPU_ISA={path.get('onednn.max_isa')}), below "
            f"{_BF16_KERNEL_LEVEL}, on a CPU without AVX-NE-CONVERT: the plugin compiles the model for bf16 all "
            f"the same and running it crashes the process (SIGSEGV in infer(), seen in 2026.4.1), so it is not run")


class _Request:
    """One compiled model and its infer request."""

    def __init__(self, model, fmt: str, hint: str, threads: int | None) -> None:
        self.fmt = get_format(fmt)
        self.et = ov_type(fmt)
        self.compiled = _core().compile_model(model, "CPU", compile_config(hint, threads))
        self.request = self.compiled.create_infer_request()
        self._lock = threading.Lock()

    def run(self, x: np.ndarray) -> np.ndarray:
        ov = _ov()
        f = self.fmt
        bits = np.array(x.reshape(-1), copy=True, order="C").view(f.uint)
        t = ov.Tensor(self.et, ov.Shape([bits.size]))
        if bits.size:
            np.asarray(t.data).reshape(-1).view(np.uint8)[:] = bits.view(np.uint8)
        with self._lock:
            self.request.set_input_tensor(t)
            self.request.infer()
            o = self.request.get_output_tensor()
            if o.element_type != self.et or tuple(o.shape) != (bits.size,):
                raise TargetOutputError(f"openvino returned {o.element_type} of shape {tuple(o.shape)} for "
                                        f"{f.name} of {bits.size} elements")
            raw = np.asarray(o.data).reshape(-1).view(np.uint8).copy() if bits.size else np.zeros(0, np.uint8)
        if raw.size != bits.size * f.bits // 8:
            raise TargetOutputError(f"openvino returned {raw.size} bytes for {bits.size} {f.name} elements")
        return raw.view(f.dtype).reshape(x.shape)


class OvSoftplus(Target):
    """OpenVINO ``SoftPlus`` (forward) and ``Sigmoid`` (derivative) on the CPU plugin, at the format's precision."""

    name = "openvino"
    formats = ("float32",)
    format_notes = dict(_STATIC_NOTES)

    def __init__(self) -> None:
        self._threads: int | None = None
        self._requests: dict[tuple[str, str], _Request] = {}
        self._problems: dict[tuple[str, str], str | None] = {}
        self._probes: dict[str, str | None] = {}
        self._lock = threading.Lock()

    # --- availability and formats ---------------------------------------------------------------------------

    def availability(self) -> str | None:
        return missing_module("openvino")

    def probe(self, fmt: str) -> str | None:
        """None if the CPU plugin computes SoftPlus and Sigmoid in ``fmt`` here, else why not (cached)."""
        fmt = get_format(fmt).name
        if fmt not in self._probes:
            reason = None
            for op in ("SoftPlus", "Sigmoid"):
                try:
                    r = self._request(op, fmt, probing=True)
                    reason = self._problems[(op, fmt)] or _capped_kernel_problem(fmt)
                    if reason is None:
                        r.run(np.array([-1.0, 0.0, 1.0, 2.0]).astype(get_format(fmt).dtype))
                except Unsupported:
                    raise
                except Exception as exc:  # noqa: BLE001 — the plugin's refusal is the reason
                    reason = one_line(exc)
                if reason is not None:
                    reason = f"openvino {_version()} CPU plugin, {op} in {fmt}: {reason}"
                    break
            self._probes[fmt] = reason
        return self._probes[fmt]

    def check(self, fmt: str | Format, beta: float = 1.0, threshold: float | None = None) -> str | None:
        """The base checks, with the plugin's own reason for a format it cannot compute in (the probe's where
        OpenVINO is installed, else what 2026.4.1 on an AVX2 CPU says)."""
        name = get_format(fmt).name
        reason = super().check(fmt, beta, threshold)
        if self.availability() is not None:
            return reason
        return probed_check(self, name, reason, self.probe(name), f"openvino {_version()}")

    # --- settings ------------------------------------------------------------------------------------------

    def set_threads(self, n: int | None) -> bool:
        """``INFERENCE_NUM_THREADS = n`` (None: 0, the plugin's default); the cached models are recompiled."""
        n = thread_count(n)
        with self._lock:
            if n != self._threads:
                self._threads = n
                self._requests.clear()
        return True

    def settings(self, op: str = "SoftPlus", fmt: str = "float32") -> dict[str, str]:
        """The properties read back from the compiled model of ``op`` in ``fmt``."""
        c = self._request(op, fmt, probing=True).compiled
        return {
            "INFERENCE_PRECISION_HINT": c.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
            "EXECUTION_MODE_HINT": str(c.get_property("EXECUTION_MODE_HINT")).split(".")[-1],
            "CPU_DENORMALS_OPTIMIZATION": str(c.get_property("CPU_DENORMALS_OPTIMIZATION")),
            "INFERENCE_NUM_THREADS": str(c.get_property("INFERENCE_NUM_THREADS")),
            "INFERENCE_NUM_THREADS.requested": "0 (plugin default)" if self._threads is None else str(self._threads),
            "NUM_STREAMS": str(c.get_property("NUM_STREAMS")),
        }

    def versions(self) -> dict[str, str]:
        out = {"openvino": _version()}
        out.update({f"openvino.{k}": v for k, v in self.settings().items()})
        out["openvino.runtime_graph"] = " -> ".join(
            f"{t}({p})" for t, p in runtime_nodes(self._request("SoftPlus", "float32", probing=True).compiled))
        return out

    def code_path(self) -> dict[str, str]:
        """oneDNN's level here (the plugin's eltwise JIT honours ONEDNN_MAX_CPU_ISA) and the plugin's capabilities."""
        out = cpu_path.onednn_path()
        out["openvino.capabilities"] = ",".join(_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
        return out

    # --- computing -----------------------------------------------------------------------------------------

    def _request(self, op: str, fmt: str, probing: bool = False, hint: str | None = None) -> _Request:
        key = (op, fmt)
        with self._lock:
            r = self._requests.get(key)
        if r is None:
            h = hint or _OV_TYPE[fmt]
            r = _Request(build_model(op, fmt), fmt, h, self._threads)
            problem = _runtime_problem(r.compiled, op, fmt) if op in ("SoftPlus", "Sigmoid", "Relu") else None
            with self._lock:
                r = self._requests.setdefault(key, r)
                self._problems.setdefault(key, problem)
        problem = self._problems.get(key)
        if not probing and problem is not None:
            raise Unsupported(f"{self.name}: {problem}")
        return r

    def roundtrip(self, x: np.ndarray) -> np.ndarray:
        """``x`` through a Parameter -> Result model (compiled with an f32 hint: nothing is computed)."""
        return self._request("Identity", format_of(x).name, hint="f32").run(x)

    def compute(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        return self._request("SoftPlus", format_of(x).name).run(x)

    def compute_grad(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        return self._request("Sigmoid", format_of(x).name).run(x)

    def kernels(self, fmt: str | Format, n: int, beta: float = 1.0,
                threshold: float | None = None) -> dict[str, Callable[[], object]]:
        """SoftPlus, Sigmoid, Relu, Convert(Greater(x, 0)) and Convert(x), each on a compiled model and input
        tensor of its own, set once (OpenVINO copies the inputs in when the tensor is made, not when timed)."""
        ov = _ov()
        f = get_format(fmt)
        x = speed_inputs(f, n)
        out: dict[str, Callable[[], object]] = {}
        for name, op in (("softplus", "SoftPlus"), ("softplus_grad", "Sigmoid"), ("relu", "Relu"),
                         ("relu_grad", "ReluGrad"), ("copy", "Copy")):
            src = self._request(op, f.name)
            # a compiled model of its own, same model and settings (same values): the cached one keeps serving
            # compute(). Requests of one compiled model over tensors of other lengths (the speed sizes one
            # after the other) crashed OpenVINO 2026.4.1 (SIGSEGV at the 4 Mi-element size).
            compiled = _core().compile_model(build_model(op, f.name), "CPU", compile_config(_OV_TYPE[f.name],
                                                                                            self._threads))
            req = compiled.create_infer_request()
            req.set_input_tensor(ov.Tensor(np.array(x, copy=True), shared_memory=False))
            out[name] = _kernel(req)
        out["inputs"] = lambda: x
        return out


def _kernel(req) -> Callable[[], np.ndarray]:
    # start_async + wait on the request's own tensors (the Python ``infer()`` builds a result dict per call);
    # the result is a view of the request's output tensor. Tensors over NumPy buffers (shared_memory) crashed
    # OpenVINO 2026.4.1 once the sizes of the speed report followed one another (SIGSEGV at 4 Mi elements).
    start, wait, output = req.start_async, req.wait, req.get_output_tensor

    def kernel() -> np.ndarray:
        start()
        wait()
        return np.asarray(output().data)

    return kernel


def _version() -> str:
    return _ov().__version__.split("-")[0]


TARGETS = [OvSoftplus()]
