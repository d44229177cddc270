"""torch.nn.functional.softplus on CPU and CUDA: targets ``torch-cpu`` and ``torch-cuda``.

Forward: ``F.softplus(x, beta, threshold)`` (threshold None means torch's default, 20; 0 and ±inf are passed
through as given: torch returns x where βx > threshold). Derivative: torch.autograd of that same call, i.e.
``softplus_backward(1, x, beta, threshold)``.

Formats: float16, bfloat16, float32, float64. The float8 formats are Unsupported: torch stores them, but has
no softplus kernel for them ("softplus_cpu" not implemented for 'Float8_e4m3fn', torch 2.13).

Speed kernels (:meth:`TorchSoftplus.kernels`): the forward is the same ``F.softplus`` call; the derivative is
``torch.ops.aten.softplus_backward(grad_out, x, beta, threshold)`` with ``grad_out`` a tensor of ones, the
kernel autograd runs for it, without building a graph; ReLU's derivative is ``aten.threshold_backward(grad_out,
relu(x), 0)``, what autograd runs for ``relu``. On CUDA the kernels only launch; ``"sync"`` waits for them.

Beware: on CPU, torch evaluates float32/float64 with SIMD kernels over whole vectors and a scalar loop over each
thread's remainder, and the two disagree in the last bit for some inputs. An element's result can therefore
depend on the array's length, its position and the thread count, not only on x (seen for float32/float64 with
AVX512 on torch 2.13; float16/bfloat16 agreed). This adapter computes on the array exactly as given: a
non-contiguous NumPy view reaches torch as a non-contiguous tensor (``marshal.to_torch`` keeps its strides), and
:meth:`TorchSoftplus.set_threads` sets torch's intra-op thread count, so ``engine.consistency`` can measure it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from oracle.formats import Format, format_of, get_format
from targets import cpu_path, marshal
from targets.base import Params, Target, import_module, missing_module, speed_inputs, thread_count
from targets.error_models import torch_model

__all__ = ["TorchSoftplus", "TARGETS", "DEFAULT_THRESHOLD", "threshold_or_default"]

_FLOAT8_NOTE = "torch has no softplus kernel for float8 (it only stores and casts them)"
DEFAULT_THRESHOLD = 20.0
_DEFAULT_THREADS: int | None = None  # torch's intra-op thread count before set_threads first changed it


class TorchSoftplus(Target):
    """``torch.nn.functional.softplus`` on one torch device; any β > 0 and any threshold."""

    formats = ("float16", "bfloat16", "float32", "float64")
    params = Params(beta=True, threshold=True, default_threshold=DEFAULT_THRESHOLD)
    format_notes = {"float8_e4m3fn": _FLOAT8_NOTE, "float8_e5m2": _FLOAT8_NOTE}

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.name = f"torch-{device}"

    def error_model(self):
        """On the CPU: ATen's softplus kernels over Sleef's _u10 exp/log1p or libm (``targets.error_models``);
        on CUDA none is modelled here (its libdevice bounds differ)."""
        if self.device != "cpu":
            return None
        return torch_model(DEFAULT_THRESHOLD)

    def availability(self) -> str | None:
        reason = missing_module("torch")
        if reason is not None or self.device == "cpu":
            return reason
        try:
            torch = import_module("torch")
        except Exception as exc:  # noqa: BLE001 — Unsupported from import_module carries the reason
            return str(exc)
        if self.device == "cuda" and not torch.cuda.is_available():
            return "no CUDA device"
        return None

    def versions(self) -> dict[str, str]:
        torch = import_module("torch")
        out = {"torch": torch.__version__}
        if self.device == "cpu":
            out["torch.cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        elif torch.cuda.is_available():
            out["cuda"] = str(torch.version.cuda)
            out["gpu"] = torch.cuda.get_device_name()
        return out

    def code_path(self) -> dict[str, str]:
        """CPU: torch's capability (``cpu_path.torch_path()``: "AVX512", "AVX2", "DEFAULT" as our labels).
        CUDA: ``{"path": "cuda", "torch.cuda": <CUDA version>}``, plus the GPU's name where a device is visible."""
        torch = import_module("torch")
        if self.device == "cpu":
            return cpu_path.torch_path()
        out = {cpu_path.PATH_KEY: "cuda", "torch.cuda": str(torch.version.cuda or "")}
        if torch.cuda.is_available():  # the name costs one device query, as versions() makes anyway
            out["torch.gpu"] = torch.cuda.get_device_name()
        return out

    def switch_points(self, fmt, beta: float = 1.0, threshold: float | None = None) -> list[float]:
        # torch returns x itself where x * beta > threshold
        t = threshold_or_default(threshold)
        return [t / beta] if np.isfinite(t) else []

    def set_threads(self, n: int | None) -> bool:
        """``torch.set_num_threads(n)`` (process-wide); None restores the count torch started with. CPU only:
        a CUDA kernel's result does not depend on host threads, so torch-cuda returns False."""
        if self.device != "cpu":
            return False
        torch = import_module("torch")
        global _DEFAULT_THREADS
        if _DEFAULT_THREADS is None:
            _DEFAULT_THREADS = torch.get_num_threads()
        n = thread_count(n)
        torch.set_num_threads(_DEFAULT_THREADS if n is None else n)
        return True

    def roundtrip(self, x: np.ndarray) -> np.ndarray:
        import_module("torch")
        return marshal.from_torch(marshal.to_torch(x, self.device), format_of(x), x.shape)

    def compute(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        torch = import_module("torch")
        t = marshal.to_torch(x, self.device)
        with torch.no_grad():
            y = torch.nn.functional.softplus(t, beta, threshold_or_default(threshold))
        return marshal.from_torch(y, format_of(x), x.shape)

    def compute_grad(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        torch = import_module("torch")
        # detach(): a fresh leaf, so autograd differentiates with respect to exactly these values
        t = marshal.to_torch(x, self.device).detach().requires_grad_(True)
        with torch.enable_grad():
            y = torch.nn.functional.softplus(t, beta, threshold_or_default(threshold))
            (g,) = torch.autograd.grad(y, t, grad_outputs=torch.ones_like(y))
        return marshal.from_torch(g, format_of(x), x.shape)

    def kernels(self, fmt: str | Format, n: int, beta: float = 1.0,
                threshold: float | None = None) -> dict[str, Callable[[], object]]:
        """softplus, its backward kernel, ReLU, ReLU's backward and ``out.copy_(x)`` on this device."""
        torch = import_module("torch")
        f = get_format(fmt)
        t = threshold_or_default(threshold)
        x = marshal.to_torch(speed_inputs(f, n), self.device)
        grad_out = torch.ones_like(x)
        relu_out = torch.relu(x)  # threshold_backward reads relu's result, as autograd's formula for relu does
        out = torch.empty_like(x)
        F, aten = torch.nn.functional, torch.ops.aten
        kernels: dict[str, Callable[[], object]] = {
            "softplus": lambda: F.softplus(x, beta, t),
            "softplus_grad": lambda: aten.softplus_backward(grad_out, x, beta, t),
            "relu": lambda: torch.relu(x),
            "relu_grad": lambda: aten.threshold_backward(grad_out, relu_out, 0),
            "copy": lambda: out.copy_(x),
            "inputs": lambda: x,
        }
        if self.device != "cpu":  # CPU kernels finish before returning; CUDA launches are asynchronous
            cuda = self.device.startswith("cuda")
            kernels["sync"] = torch.cuda.synchronize if cuda else torch.accelerator.synchronize
        return kernels


def threshold_or_default(threshold: float | None) -> float:
    """The threshold torch is called with: ``threshold``, or torch's default (20) for None."""
    return DEFAULT_THRESHOLD if threshold is None else threshold


TARGETS = [TorchSoftplus("cpu"), TorchSoftplus("cuda")]
