"""torch-cuda computes on the GPU or not at all: no silent fall-back to the CPU.

Without a CUDA device (CI, this project's machines) the target must say it is unavailable, naming CUDA, so
that a report shows "unavailable: no CUDA device" instead of CPU figures under a CUDA name; that test runs
everywhere. With a device (``examples/cuda/run.sh`` on a GPU machine), a profiler shows that the target's
softplus and its derivative launch CUDA kernels, and the path it records is CUDA's, with the GPU named.
"""

from __future__ import annotations

import numpy as np
import pytest

from oracle.implementation import code_path_of, reason_unavailable
from targets import get_target

torch = pytest.importorskip("torch", reason="torch is not installed (pip install \"softplus-cert[torch]\")")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="torch-cuda: no CUDA device")


def test_without_a_device_torch_cuda_is_unavailable_and_says_why() -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible: the profiler tests below check the GPU path instead")
    reason = reason_unavailable(get_target("torch-cuda"))
    assert reason is not None and "CUDA" in reason  # not a CPU computation under the CUDA name


def _cuda_kernels_launched(fn) -> list[str]:
    """Names of the CUDA kernels the profiler saw while ``fn`` ran."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    return [e.key for e in prof.key_averages() if getattr(e, "device_type", None) == torch.autograd.DeviceType.CUDA]


@needs_cuda
@pytest.mark.parametrize("fn", ["softplus", "softplus_grad"])
def test_torch_cuda_launches_cuda_kernels(fn: str) -> None:
    t = get_target("torch-cuda")
    x = np.linspace(-30, 30, 4099, dtype=np.float32)
    launched = _cuda_kernels_launched(lambda: getattr(t, fn)(x, 1.0, None))
    assert launched, f"torch-cuda {fn} launched no CUDA kernel: it computed on the CPU"


@needs_cuda
def test_torch_cuda_records_the_cuda_path_and_the_gpu() -> None:
    path = code_path_of(get_target("torch-cuda"))
    assert path.get("path") == "cuda" and path.get("torch.gpu") == torch.cuda.get_device_name()


def test_a_target_that_falls_back_to_the_cpu_is_caught() -> None:
    """The profiler check itself, planted: a "CUDA" softplus computed on the CPU launches no CUDA kernel."""
    if not torch.cuda.is_available():
        pytest.skip("torch-cuda: no CUDA device (the plant needs a profiler that sees CUDA)")
    cpu = get_target("torch-cpu")
    assert _cuda_kernels_launched(lambda: cpu.softplus(np.ones(64, np.float32), 1.0, None)) == []
