"""What a report must record to be rerun exactly: versions, hardware, flags, seed, date."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as md
import os
import platform
import sys
from typing import Any

from engine.judge import code_path_of
from targets.cpu_path import LADDERS, host_isa, host_level

__all__ = ["environment", "cpu_model"]

_PACKAGES = ("softplus-cert", "numpy", "ml_dtypes", "mpmath", "gmpy2", "python-flint", "torch",
             "tensorflow-cpu", "tensorflow", "jax", "jaxlib", "scipy", "onnxruntime", "onnx", "openvino")
_FLAGS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_ENABLE_ONEDNN_OPTS", "XLA_FLAGS", "ATEN_CPU_CAPABILITY",
          "NPY_DISABLE_CPU_FEATURES", "ONEDNN_MAX_CPU_ISA", "SOFTPLUS_CERT_MAX_ISA", "SOFTPLUS_CERT_CACHE",
          "SOFTPLUS_CERT_SHARED_COMPILE_CACHE", "TORCHINDUCTOR_CACHE_DIR", "JAX_COMPILATION_CACHE_DIR", "DNNL_MAX_CPU_ISA",
          "CUDA_VISIBLE_DEVICES", "TORCHINDUCTOR_CPP_MARCH", "CXX")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(seed: int | None, targets=(), command: list[str] | None = None) -> dict[str, Any]:
    """A JSON-safe record of everything a result may depend on: per-target versions and instruction-set
    paths (``code_paths``: what each target reported, :meth:`targets.Target.code_path`), the CPU's own
    best ISA (``cpu_isa``) and the flags that cap it."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    target_versions = {}
    for t in targets:
        try:
            target_versions[t.name] = {k: str(v) for k, v in t.versions().items()}
        except Exception as exc:  # noqa: BLE001 — a version query must not sink the report
            target_versions[t.name] = {"error": f"{type(exc).__name__}: {exc}"}
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seed": seed,
        "command": command if command is not None else sys.argv,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_isa": host_isa(),
        # the CPU's own level on each framework's ladder: what its native path runs, before any cap
        "cpu_levels": {ladder: host_level(ladder) for ladder in LADDERS},
        "code_paths": {t.name: code_path_of(t) for t in targets},
        "cpu_count": os.cpu_count(),
        "packages": versions,
        "targets": target_versions,
        "flags": {k: os.environ[k] for k in _FLAGS if k in os.environ},
    }
