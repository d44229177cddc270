"""ONNX Runtime on its CPU execution provider: target ``onnxruntime``.

What is computed: a one-node ONNX model (``onnx.helper``, default domain, opset 22, IR 10) whose node is the
ONNX ``Softplus`` op, y = log(exp(x) + 1), on a 1-d tensor of dynamic length. ONNX Softplus has neither β nor
a threshold, so β = 1 only and no threshold. The derivative is a second one-node model with the ONNX
``Sigmoid`` op: an inference runtime has no autodiff, and sigmoid(x) is what a deployed model computes for
it. Each (op, format) gets one ``InferenceSession``, built on first use and cached.

Formats: float32 only (onnxruntime 1.32.0, x86-64). The others are Unsupported, each with the runtime's own
reason, found by trying once per format (lazily, cached; :meth:`OrtSoftplus.check` returns it):

* float64, bfloat16: session creation fails, "NOT_IMPLEMENTED : Could not find an implementation for
  Softplus(22)" (the CPU EP registers Softplus for float only; Sigmoid has a float64 kernel, Softplus none).
* float8_e4m3fn, float8_e5m2: "INVALID_GRAPH ... Type 'tensor(float8e4m3fn)' of input parameter (x) of
  operator (Softplus) ... is invalid": ONNX's Softplus does not take float8 tensors.
* float16: the session is created and runs, but the CPU EP has no float16 Softplus (nor Sigmoid) kernel:
  ORT's InsertCastTransformer, which runs at every graph optimization level, rewrites the node into
  Cast(float32) -> Softplus -> Cast(float16). That is a float32 computation rounded to float16, not one in
  float16, so the format is refused. The probe detects it from the graph ORT actually runs: the session is
  built with ``optimized_model_filepath`` and the saved graph must be exactly the one node in the format
  (:func:`_graph_problem`); anything else (a Cast, a fused node) makes the format Unsupported with the nodes
  named.

Session settings, all explicit (recorded by :meth:`OrtSoftplus.versions`): providers
``["CPUExecutionProvider"]`` only; ``graph_optimization_level = ORT_DISABLE_ALL`` (a one-node graph has
nothing to fuse, and "disable all" rules out any rewrite of the node we mean to test: the results are the
Softplus kernel's; the forced Cast insertion above still happens and is caught); ``execution_mode =
ORT_SEQUENTIAL``, ``inter_op_num_threads = 1``; ``intra_op_num_threads`` from :meth:`OrtSoftplus.set_threads`
(0, ORT's default of one thread per physical core, until set); session config
``session.set_denormal_as_zero = 0`` (ORT's default, stated: subnormal inputs and results are kept, no
FTZ/DAZ).

Marshalling: every call goes through an IOBinding whose input and output are OrtValues over the bit patterns
(``OrtValue.ortvalue_from_numpy_with_onnx_type`` on an unsigned-integer view, with the ONNX element type of the
format), so nothing is converted on the way and the output lands in a NumPy buffer we own. Inputs are copied
to a contiguous 1-d array first (0-d, empty and strided inputs included) and the result is reshaped back.

Instruction-set path (:meth:`OrtSoftplus.code_path`): the host's. ORT's MLAS library picks its kernels by
CPUID at run time and has no run-time cap (no environment variable or session option limits the ISA; only a
build from source does), so a run "capped at AVX2" by :mod:`targets.cpu_path` still runs the host's kernels;
the path says so rather than claiming the cap.

Speed kernels (:meth:`OrtSoftplus.kernels`), each one ``run_with_iobinding`` of a cached session on bound
OrtValues that share NumPy buffers prepared once (no marshalling timed): softplus (the Softplus model),
softplus_grad (the Sigmoid model), relu (ONNX ``Relu``), relu_grad (a two-node model ``Cast(Greater(x, 0),
to=float)``: ONNX has no ReLU-gradient op outside ORT's training builds, and a 0/1 mask cast to the format is
what a deployed model computes for it), copy (ONNX ``Identity`` with its output bound to a separate
preallocated buffer: ORT's Identity kernel copies the bytes into it, it does not alias; the kernels return
those NumPy buffers). Calls are synchronous.
"""

from __future__ import annotations

import functools
import os
import tempfile
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

__all__ = ["OrtSoftplus", "TARGETS", "ORT_OPSET"]

ORT_OPSET = 22
_IR_VERSION = 10
_PROVIDERS = ["CPUExecutionProvider"]
_OPT_LEVEL = "ORT_DISABLE_ALL"
_DENORMAL_AS_ZERO = "0"

# ONNX TensorProto element types (fixed by the ONNX standard), so no import is needed to name them
_ONNX_TYPE = {"float32": 1, "float16": 10, "float64": 11, "bfloat16": 16, "float8_e4m3fn": 17, "float8_e5m2": 19}
_ONNX_TYPE_NAME = {1: "float", 10: "float16", 11: "double", 16: "bfloat16", 17: "float8e4m3fn", 19: "float8e5m2"}

# What onnxruntime 1.32.0 on x86-64 says (the probe gives the live reason where the runtime is installed)
_STATIC_NOTES = {
    "float16": "onnxruntime's CPU EP has no float16 Softplus kernel: it runs Cast(float32) -> Softplus -> "
               "Cast(float16), a hidden float32 computation",
    "bfloat16": "NOT_IMPLEMENTED : Could not find an implementation for Softplus(22) node (CPU EP)",
    "float64": "NOT_IMPLEMENTED : Could not find an implementation for Softplus(22) node (CPU EP)",
    "float8_e4m3fn": "INVALID_GRAPH : ONNX Softplus does not accept tensor(float8e4m3fn)",
    "float8_e5m2": "INVALID_GRAPH : ONNX Softplus does not accept tensor(float8e5m2)",
}


def _ort():
    return import_module("onnxruntime")


def _onnx():
    return import_module("onnx")


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message on one line: "[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : ..." -> from the code on."""
    text = " ".join(str(exc).split())
    text = text.replace("[ONNXRuntimeError] : ", "")
    if not text:
        text = type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_model(nodes: list[tuple[str, list[str], list[str], dict]], fmt: str, out_fmt: str | None = None) -> bytes:
    """A serialized ONNX model: input ``x`` and output ``y`` 1-d of dynamic length, the given nodes
    ``(op_type, inputs, outputs, attributes)`` between them."""
    onnx = _onnx()
    h = onnx.helper
    et_in = _ONNX_TYPE[fmt]
    et_out = _ONNX_TYPE[out_fmt or fmt]
    graph = h.make_graph(
        [h.make_node(op, ins, outs, **attrs) for op, ins, outs, attrs in nodes], "softplus_cert",
        [h.make_tensor_value_info("x", et_in, ["n"])], [h.make_tensor_value_info("y", et_out, ["n"])])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", ORT_OPSET)], producer_name="softplus-cert")
    model.ir_version = _IR_VERSION
    return model.SerializeToString()


def one_node(op: str, fmt: str) -> bytes:
    return build_model([(op, ["x"], ["y"], {})], fmt)


def session_options(threads: int | None, optimized_path: str | None = None):
    """The SessionOptions every session of this target is built with (see the module docstring)."""
    ort = _ort()
    so = ort.SessionOptions()
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _OPT_LEVEL)
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.inter_op_num_threads = 1
    so.intra_op_num_threads = 0 if threads is None else int(threads)
    so.add_session_config_entry("session.set_denormal_as_zero", _DENORMAL_AS_ZERO)
    so.log_severity_level = 3  # errors only: logging, no effect on values
    if optimized_path is not None:
        so.optimized_model_filepath = optimized_path
    return so


def _graph_problem(path: str, op: str, fmt: str) -> str | None:
    """None if the graph ORT saved after its transformations is the single ``op`` node on ``fmt`` tensors."""
    onnx = _onnx()
    graph = onnx.load(path).graph
    ops = [n.op_type for n in graph.node]
    types = {_ONNX_TYPE_NAME.get(v.type.tensor_type.elem_type, str(v.type.tensor_type.elem_type))
             for v in list(graph.input) + list(graph.output)}
    if ops == [op] and types == {_ONNX_TYPE_NAME[_ONNX_TYPE[fmt]]}:
        return None
    return (f"onnxruntime {_ort().__version__} CPU EP runs {op} on {fmt} as {' -> '.join(ops) or '(no nodes)'} (its optimized graph: "
            f"the CPU EP has no {fmt} {op} kernel and inserts Casts), a computation in another format")


def to_ortvalue(x: np.ndarray, fmt: Format):
    """A 1-d OrtValue with ``x``'s bit patterns and the format's ONNX element type, and the buffer it shares."""
    ort = _ort()
    bits = np.array(x.reshape(-1), copy=True, order="C").view(fmt.uint)
    return ort.OrtValue.ortvalue_from_numpy_with_onnx_type(bits, _ONNX_TYPE[fmt.name]), bits


def empty_ortvalue(n: int, fmt: Format):
    """A 1-d OrtValue of ``n`` elements of ``fmt`` over a new NumPy buffer (returned too) that it shares."""
    ort = _ort()
    bits = np.zeros(n, dtype=fmt.uint)
    return ort.OrtValue.ortvalue_from_numpy_with_onnx_type(bits, _ONNX_TYPE[fmt.name]), bits


class _Session:
    """One InferenceSession of a one-node model, run through an IOBinding on OrtValues."""

    def __init__(self, model: bytes, op: str, fmt: str, threads: int | None, check_graph: bool = True) -> None:
        ort = _ort()
        self.fmt = get_format(fmt)
        with tempfile.TemporaryDirectory(prefix="softplus-cert-ort-") as tmp:
            path = os.path.join(tmp, "optimized.onnx") if check_graph else None
            self.options = session_options(threads, path)
            self.session = ort.InferenceSession(model, self.options, providers=_PROVIDERS)
            self.problem = _graph_problem(path, op, fmt) if check_graph else None
        self.providers = self.session.get_providers()
        self._lock = threading.Lock()

    def run(self, x: np.ndarray) -> np.ndarray:
        """The model on ``x`` (any shape; its format), bit for bit; the result has x's shape."""
        vin, _keep = to_ortvalue(x, self.fmt)
        vout, out = empty_ortvalue(int(x.size), self.fmt)
        with self._lock:  # an IOBinding is not meant to be shared between threads
            binding = self.session.io_binding()
            binding.bind_ortvalue_input("x", vin)
            binding.bind_ortvalue_output("y", vout)
            self.session.run_with_iobinding(binding)
            got = binding.get_outputs()[0]
        shape = tuple(got.shape())
        if shape != (x.size,) or got.data_type() != f"tensor({_ONNX_TYPE_NAME[_ONNX_TYPE[self.fmt.name]]})":
            raise TargetOutputError(f"onnxruntime returned {got.data_type()} of shape {shape} for "
                                    f"{self.fmt.name} of {x.size} elements")
        if x.size and got.data_ptr() != out.ctypes.data:
            raise TargetOutputError("onnxruntime did not write into the bound output buffer")
        return out.view(self.fmt.dtype).reshape(x.shape)


class OrtSoftplus(Target):
    """ONNX ``Softplus`` (forward) and ``Sigmoid`` (derivative) on ONNX Runtime's CPU execution provider."""

    name = "onnxruntime"
    formats = ("float32",)
    format_notes = dict(_STATIC_NOTES)

    def __init__(self) -> None:
        self._threads: int | None = None
        self._sessions: dict[tuple[str, str], _Session] = {}
        self._probes: dict[str, str | None] = {}
        self._lock = threading.Lock()

    # --- availability and formats ---------------------------------------------------------------------------

    def availability(self) -> str | None:
        return missing_module("onnxruntime") or missing_module("onnx")

    def probe(self, fmt: str) -> str | None:
        """None if ONNX Runtime computes Softplus and Sigmoid natively in ``fmt`` here, else its reason.

        Tried once per format (session creation, a run on 4 values, the graph it runs), then cached."""
        fmt = get_format(fmt).name
        if fmt not in self._probes:
            reason = None
            for op in ("Softplus", "Sigmoid"):
                try:
                    s = self._session(op, fmt, probing=True)
                    if s.problem is not None:
                        reason = s.problem
                    else:
                        s.run(np.array([-1.0, 0.0, 1.0, 2.0]).astype(get_format(fmt).dtype))
                except Unsupported:
                    raise
                except Exception as exc:  # noqa: BLE001 — the runtime's refusal is the reason
                    reason = f"onnxruntime {_ort().__version__} CPU EP, {op} in {fmt}: {one_line(exc)}"
                if reason is not None:
                    break
            self._probes[fmt] = reason
        return self._probes[fmt]

    def check(self, fmt: str | Format, beta: float = 1.0, threshold: float | None = None) -> str | None:
        """The base checks (declared formats, β = 1, no threshold), with the runtime's own reason for a
        format it refuses: the probe's, where onnxruntime is installed, else what 1.32.0 says."""
        name = get_format(fmt).name
        reason = super().check(fmt, beta, threshold)
        if self.availability() is not None:
            return reason
        return probed_check(self, name, reason, self.probe(name), f"onnxruntime {_ort().__version__}")

    # --- settings ------------------------------------------------------------------------------------------

    def set_threads(self, n: int | None) -> bool:
        """``SessionOptions.intra_op_num_threads = n`` (None: 0, ORT's default); the cached sessions are rebuilt."""
        n = thread_count(n)
        with self._lock:
            if n != self._threads:
                self._threads = n
                self._sessions.clear()
        return True

    def versions(self) -> dict[str, str]:
        ort, onnx = _ort(), _onnx()
        s = self._session("Softplus", "float32")
        so = s.options
        return {
            "onnxruntime": ort.__version__,
            "onnx": onnx.__version__,
            "onnxruntime.providers": ",".join(s.providers),
            "onnxruntime.opset": str(ORT_OPSET),
            "onnxruntime.graph_optimization_level": str(so.graph_optimization_level).split(".")[-1],
            "onnxruntime.execution_mode": str(so.execution_mode).split(".")[-1],
            "onnxruntime.intra_op_num_threads": str(so.intra_op_num_threads),
            "onnxruntime.set_denormal_as_zero": so.get_session_config_entry("session.set_denormal_as_zero"),
        }

    def code_path(self) -> dict[str, str]:
        """The host's ISA: MLAS dispatches by CPUID at run time and nothing caps it short of rebuilding ORT."""
        out = cpu_path.host_path()
        out["onnxruntime.isa"] = "MLAS dispatch by CPUID (no run-time cap)"
        return out

    # --- computing -----------------------------------------------------------------------------------------

    def _session(self, op: str, fmt: str, probing: bool = False, model: bytes | None = None) -> _Session:
        key = (op, fmt)
        with self._lock:
            s = self._sessions.get(key)
        if s is None:
            s = _Session(model if model is not None else one_node(op, fmt), op, fmt, self._threads,
                         check_graph=model is None)
            with self._lock:
                s = self._sessions.setdefault(key, s)
        if not probing and s.problem is not None:
            raise Unsupported(f"{self.name}: {s.problem}")
        return s

    def roundtrip(self, x: np.ndarray) -> np.ndarray:
        """``x`` through a one-node ``Identity`` model (output bound to a buffer of ours: the bytes are copied)."""
        _ort()
        return self._session("Identity", format_of(x).name).run(x)

    def compute(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        return self._session("Softplus", format_of(x).name).run(x)

    def compute_grad(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        return self._session("Sigmoid", format_of(x).name).run(x)

    def kernels(self, fmt: str | Format, n: int, beta: float = 1.0,
                threshold: float | None = None) -> dict[str, Callable[[], object]]:
        """Softplus, Sigmoid, Relu, Cast(Greater(x, 0)) and Identity sessions on bound OrtValues (see above)."""
        f = get_format(fmt)
        x = speed_inputs(f, n)
        vin = _ort().OrtValue.ortvalue_from_numpy_with_onnx_type(x.view(f.uint), _ONNX_TYPE[f.name])
        relu_grad_model = build_model([("Constant", [], ["zero"], {"value": _scalar(0, f)}),
                                       ("Greater", ["x", "zero"], ["mask"], {}),
                                       ("Cast", ["mask"], ["y"], {"to": _ONNX_TYPE[f.name]})], f.name)
        sessions = {"softplus": self._session("Softplus", f.name), "softplus_grad": self._session("Sigmoid", f.name),
                    "relu": self._session("Relu", f.name),
                    "relu_grad": self._session("ReluGrad", f.name, model=relu_grad_model),
                    "copy": self._session("Identity", f.name)}
        out: dict[str, Callable[[], object]] = {}
        for name, s in sessions.items():
            out[name] = _bound(s, vin, f, int(n))
        out["inputs"] = lambda: x
        return out


def _scalar(value: float, f: Format):
    onnx = _onnx()
    return onnx.helper.make_tensor("zero", _ONNX_TYPE[f.name], [], np.array([value]).astype(f.dtype).view(f.uint).
                                   tobytes(), raw=True)


def _bound(s: _Session, vin, f: Format, n: int) -> Callable[[], np.ndarray]:
    """A zero-argument kernel: one run of ``s`` on the bound input into its own output buffer (returned)."""
    vout, out = empty_ortvalue(n, f)
    binding = s.session.io_binding()
    binding.bind_ortvalue_input("x", vin)
    binding.bind_ortvalue_output("y", vout)
    result = out.view(f.dtype)
    run = functools.partial(s.session.run_with_iobinding, binding)

    def kernel() -> np.ndarray:
        run()
        return result

    return kernel


TARGETS = [OrtSoftplus()]
