"""Which instruction-set path a framework's CPU kernels take, and an environment that holds them at AVX2.

torch, NumPy, oneDNN (under TensorFlow) and XLA (under JAX) each pick their kernels by CPU at run time, so the
same call can round differently on an AVX-512 machine and on an AVX2 one. A target reports the path its results
depend on as a dict whose ``"path"`` key (:data:`PATH_KEY`) is one of our labels, in :data:`ISA_ORDER`
("baseline" < "sse4.2" < "avx" < "avx2" < "avx512"), or "neon"/"sve" on ARM, plus detail keys prefixed by the
framework: ``{"path": "avx2", "torch.cpu_capability": "AVX2"}``.

Each framework reads its control variable once, at import or first use, so :data:`AVX2_CAP` only acts on a
process started with it (:func:`capped_environ` builds that environment); the readers here report what the
running process uses. The readers import their framework: call them where it is already in use.

Seen on this project's machines (torch 2.13, NumPy 2.4, TensorFlow 2.21 with oneDNN 3.7, jaxlib 0.10):

* torch believes ``ATEN_CPU_CAPABILITY`` without checking the CPU: ``avx512`` on a CPU without AVX-512 reports
  "AVX512" and the first vectorized op dies of SIGILL. :func:`capped_environ` therefore never raises it above
  what the host has. It wants lower case; "AVX2" or an empty value is "invalid" (a warning, then ignored).
* NumPy 2.4 renamed its x86 dispatch targets to the groups X86_V3 (AVX2), X86_V4 (AVX-512 SKX), AVX512_ICL and
  AVX512_SPR; a name it does not dispatch on (the 1.x-style AVX512F, AVX512_SKX, ...) draws an ImportWarning.
* tf.nn.softplus runs no oneDNN primitive (ONEDNN_VERBOSE shows none; its kernel is Eigen, compiled into the
  wheel), so ONEDNN_MAX_CPU_ISA governs TensorFlow's oneDNN ops (matmul, conv) but not that kernel.
* XLA takes the last ``--xla_cpu_max_isa=`` in XLA_FLAGS and warns "Unknown CPU ISA" for a name it lacks.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import os
import platform
import re
from collections.abc import Mapping

__all__ = ["PATH_KEY", "ISA_ORDER", "AVX2_CAP", "host_isa", "normalize", "capped", "capped_environ", "cap_changes",
           "torch_path", "numpy_path", "onednn_path", "xla_path", "host_path", "isa_from_cpu", "xla_max_isa"]

#: The key of a code-path dict that certificates select on (budget key ``path``).
PATH_KEY = "path"

#: x86 labels from least to most capable; :func:`capped` takes the lower of two by this order.
ISA_ORDER = ("baseline", "sse4.2", "avx", "avx2", "avx512")

_XLA_ISA_FLAG = "--xla_cpu_max_isa="
_AVX512_FLAGS = ("avx512f", "avx512bw", "avx512vl", "avx512dq")  # the set torch and XLA call "AVX-512"

# Names (upper case) whose label the prefix rules of normalize() would not give.
_EXACT = {
    "DEFAULT": "baseline",  # torch's capability without any SIMD dispatch
    "X86_V4": "avx512", "X86_V3": "avx2", "X86_V2": "baseline", "X86_V1": "baseline",  # NumPy >= 2.4 groups
    "AVX": "avx", "F16C": "avx", "FMA3": "avx",  # NumPy 1.x: AVX-era features below AVX2 in its dispatch order
    "POPCNT": "baseline",
}


def _numpy_avx512_targets() -> str:
    """NumPy's AVX-512 dispatch targets, spelled for the installed NumPy (from its metadata: no import).

    A name the NumPy at hand does not dispatch on makes it emit an ImportWarning at import (silent by
    default, printed under ``-W always``, fatal under ``-W error``), so the two spellings are never mixed.
    NumPy >= 2.4 groups them as X86_V4, AVX512_ICL, AVX512_SPR, and warns for the older single-feature names
    (AVX512F, AVX512_SKX, ...: seen with 2.4.6); NumPy < 2.4 dispatches on those (the list of a default build;
    not run here, no such NumPy is installed). NumPy absent or its version unreadable: the current names.
    """
    try:
        m = re.match(r"(\d+)\.(\d+)", importlib.metadata.version("numpy"))
    except importlib.metadata.PackageNotFoundError:
        m = None
    if m is None or (int(m.group(1)), int(m.group(2))) >= (2, 4):
        return "X86_V4 AVX512_ICL AVX512_SPR"
    return "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR"


#: The environment that holds every framework at or below AVX2; apply it with :func:`capped_environ`.
AVX2_CAP: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",  # torch: lower case only
    "NPY_DISABLE_CPU_FEATURES": _numpy_avx512_targets(),
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "XLA_FLAGS": _XLA_ISA_FLAG + "AVX2",
}


def isa_from_cpu(machine: str, cpuinfo: str | None) -> str:
    """The label for ``machine`` (``platform.machine()``) with ``cpuinfo`` (/proc/cpuinfo text or None)."""
    machine = machine.lower()
    lines = cpuinfo.splitlines() if cpuinfo else []

    def first(name: str) -> set[str]:
        # every core lists the same flags; the first "flags"/"Features" line stands for all
        for line in lines:
            key, sep, value = line.partition(":")
            if sep and key.strip() == name:
                return set(value.split())
        return set()

    if machine in ("x86_64", "amd64", "i386", "i686") and cpuinfo is not None:
        flags = first("flags")
        if all(f in flags for f in _AVX512_FLAGS):
            return "avx512"
        if {"avx2", "fma"} <= flags:
            return "avx2"
        if "avx" in flags:
            return "avx"
        return "sse4.2" if "sse4_2" in flags else "baseline"
    if machine in ("aarch64", "arm64"):
        # NEON (ASIMD) is part of every ARMv8-A core, so an unreadable cpuinfo (macOS) still means "neon"
        return "sve" if "sve" in first("Features") else "neon"
    return machine


@functools.cache
def host_isa() -> str:
    """The best vector ISA of this CPU: a label of :data:`ISA_ORDER` on x86-64, "sve" or "neon" on aarch64.

    Read from the flags of /proc/cpuinfo (Linux). "avx512" needs avx512f, bw, vl and dq together; "avx2" needs
    fma too. Without a readable /proc/cpuinfo, x86 gives ``platform.machine().lower()`` (e.g. "x86_64", not in
    the order, so :func:`capped` leaves it alone) and aarch64 "neon"; other machines give their machine name.
    Cached: the CPU does not change under a running process.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            cpuinfo: str | None = f.read()
    except OSError:
        cpuinfo = None
    return isa_from_cpu(platform.machine(), cpuinfo)


def normalize(name: str) -> str:
    """Our label for a framework's ISA name: torch's "AVX512"/"AVX2"/"DEFAULT", NumPy's dispatch targets
    ("X86_V4", "AVX512_SKX", "X86_V3", "SSE42", ...), oneDNN's "AVX512_CORE_AMX", "AVX2_VNNI", "SSE41", ...,
    XLA's "AVX512", "AVX2", "SSE4_2".

    Case and surrounding blanks are ignored. Every SSE level is "baseline", the 128-bit code each x86-64
    build has (the "sse4.2" label comes only from :func:`host_isa`). AMX and AVX10 imply AVX-512: "avx512".
    Unknown names come back lowercased. Note that oneDNN's "DEFAULT" means "no limit", not torch's baseline:
    :func:`onednn_path` handles it before calling this.
    """
    upper = name.strip().upper()
    if upper in _EXACT:
        return _EXACT[upper]
    if upper.startswith(("AVX512", "AVX10", "AMX")):
        return "avx512"
    if upper.startswith("AVX2"):
        return "avx2"
    if upper.startswith(("SSE", "SSSE")):
        return "baseline"
    if upper.startswith("SVE"):  # torch's "SVE256", NumPy's "SVE", XLA's "SVE2"
        return "sve"
    if upper.startswith(("NEON", "ASIMD")):
        return "neon"
    return name.strip().lower()


def capped(host: str, cap: str | None) -> str:
    """The lower of ``host`` and ``cap`` in :data:`ISA_ORDER`: what a framework capped at ``cap`` runs here.

    ``cap`` None, or either label outside the order ("neon", "x86_64", an unknown name): ``host``, since
    there is nothing to compare.
    """
    if cap is None or host not in ISA_ORDER or cap not in ISA_ORDER:
        return host
    return min(host, cap, key=ISA_ORDER.index)


def _rank(label: str | None) -> int | None:
    return ISA_ORDER.index(label) if label in ISA_ORDER else None


def _cap_level(var: str, value: str | None) -> str | None:
    """The label an ISA cap variable's value stands for; None for unset, empty, "no limit" or unknown."""
    if not value or not value.strip():
        return None
    if var == "ONEDNN_MAX_CPU_ISA" and value.strip().upper() == "DEFAULT":
        return None  # oneDNN: the library's own choice, i.e. no limit
    label = normalize(value)
    return label if label in ISA_ORDER else None


def xla_max_isa(flags: str | None) -> str | None:
    """The value of the last ``--xla_cpu_max_isa=`` in an XLA_FLAGS string (XLA lets the last one win)."""
    values = [f[len(_XLA_ISA_FLAG):] for f in (flags or "").split() if f.startswith(_XLA_ISA_FLAG)]
    return values[-1] if values else None


def capped_environ(cap: dict[str, str] = AVX2_CAP, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default ``os.environ``) with ``cap`` applied, for starting a capped process.

    A cap only ever lowers, so where ``base`` already holds something stricter that stays:

    * ``ATEN_CPU_CAPABILITY``, ``ONEDNN_MAX_CPU_ISA``: ``base``'s value is kept where it is a lower level.
      ``ATEN_CPU_CAPABILITY`` is also left out where the host lacks the level (torch does not check it and
      would die of SIGILL; an x86 name on ARM is "invalid" to it and only draws a warning).
    * ``XLA_FLAGS``: the cap's flags are appended to ``base``'s (not replacing them), unless ``base`` already
      caps ``--xla_cpu_max_isa`` lower (XLA takes the last occurrence, so appending would raise it).
    * ``NPY_DISABLE_CPU_FEATURES``: the union of both lists.

    Any other variable in ``cap`` is set as given. ``base`` is not modified.
    """
    env = dict(os.environ if base is None else base)
    for var, value in cap.items():
        old = env.get(var)
        if var in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA"):
            new, have = _rank(_cap_level(var, value)), _rank(_cap_level(var, old))
            if have is not None and new is not None and have < new:
                continue  # base is stricter
            if var == "ATEN_CPU_CAPABILITY" and new is not None:
                host = _rank(host_isa())
                if host is None or host < new:
                    continue  # unsafe or meaningless on this host: torch's own choice checks the CPU
            env[var] = value
        elif var == "XLA_FLAGS":
            have = _rank(_cap_level(var, xla_max_isa(old)))
            new = _rank(_cap_level(var, xla_max_isa(value)))
            if have is not None and new is not None and have < new:
                value = " ".join(f for f in value.split() if not f.startswith(_XLA_ISA_FLAG))
            env[var] = " ".join(part for part in (old, value) if part and part.strip())
        elif var == "NPY_DISABLE_CPU_FEATURES":
            names = (old or "").replace(",", " ").split()
            env[var] = " ".join(names + [n for n in value.replace(",", " ").split() if n not in names])
        else:
            env[var] = value
    return env


def cap_changes(cap: dict[str, str] = AVX2_CAP) -> dict[str, str]:
    """Only the variables :func:`capped_environ` sets or changes in this process's environment: what a
    worker process must be started with (``targets.isolation.IsolatedTarget(env=...)``), with the same
    safeguards (torch's capability never raised above the host's)."""
    env = capped_environ(cap)
    return {k: v for k, v in env.items() if os.environ.get(k) != v}


# --- readers: the path the running process uses ----------------------------------------------------------------


def torch_path() -> dict[str, str]:
    """torch's CPU kernel level, ``torch.backends.cpu.get_cpu_capability()`` ("AVX512", "AVX2", "DEFAULT", ...)."""
    import torch

    raw = torch.backends.cpu.get_cpu_capability()
    return {PATH_KEY: normalize(raw), "torch.cpu_capability": raw}


def numpy_path() -> dict[str, str]:
    """The highest dispatch target NumPy enabled in this process.

    The last entry of ``__cpu_dispatch__`` (ordered from least to most capable) whose ``__cpu_features__``
    value is True; if none, the last entry of ``__cpu_baseline__`` (what every loop was compiled for); if that
    is empty too (a build without SIMD), "baseline". Details: "numpy.simd" (NumPy's own name) and
    "numpy.disabled" (NPY_DISABLE_CPU_FEATURES, when set).
    """
    try:
        umath = importlib.import_module("numpy._core._multiarray_umath")
    except ImportError:  # NumPy 1.x
        umath = importlib.import_module("numpy.core._multiarray_umath")
    features = getattr(umath, "__cpu_features__", {})
    enabled = [t for t in getattr(umath, "__cpu_dispatch__", []) if features.get(t)]
    baseline = list(getattr(umath, "__cpu_baseline__", []))
    raw = enabled[-1] if enabled else (baseline[-1] if baseline else "")
    out = {PATH_KEY: normalize(raw) if raw else "baseline", "numpy.simd": raw or "(none)"}
    disabled = os.environ.get("NPY_DISABLE_CPU_FEATURES")
    if disabled is not None:
        out["numpy.disabled"] = disabled
    return out


def onednn_path() -> dict[str, str]:
    """The highest level oneDNN may use here: the host's, capped by ONEDNN_MAX_CPU_ISA (or its older name
    DNNL_MAX_CPU_ISA).

    oneDNN generates its kernels at run time for the best ISA up to that cap, so this is a statement about the
    environment and the CPU, not a query of oneDNN (which has no Python handle here). Unset, "DEFAULT" or an
    unknown value: no cap. Detail "onednn.max_isa": the variable's value or "(unset)".
    """
    raw = os.environ.get("ONEDNN_MAX_CPU_ISA", os.environ.get("DNNL_MAX_CPU_ISA"))
    return {PATH_KEY: capped(host_isa(), _cap_level("ONEDNN_MAX_CPU_ISA", raw)),
            "onednn.max_isa": raw if raw is not None else "(unset)"}


def xla_path() -> dict[str, str]:
    """The level XLA compiles for here: the host's, capped by the last ``--xla_cpu_max_isa=`` in XLA_FLAGS.

    XLA reads XLA_FLAGS once, when its CPU backend starts, so a change after that is reported but not in effect.
    Unknown value: no cap (XLA warns and ignores it too). Detail "xla.max_isa": the value or "(unset)".
    """
    raw = xla_max_isa(os.environ.get("XLA_FLAGS"))
    return {PATH_KEY: capped(host_isa(), _cap_level("XLA_FLAGS", raw)),
            "xla.max_isa": raw if raw is not None else "(unset)"}


def host_path() -> dict[str, str]:
    """The CPU's best ISA, for targets that say nothing else: ``{"path": host_isa(), "cpu.isa": host_isa()}``."""
    isa = host_isa()
    return {PATH_KEY: isa, "cpu.isa": isa}
