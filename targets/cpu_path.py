"""Which kernels a framework's CPU code dispatches, and environments that cap them at a lower CPU family.

torch, NumPy, oneDNN (under TensorFlow and OpenVINO) and XLA (under JAX) each pick their kernels by CPU at run
time, so the same call can round differently on two x86-64 machines. A target reports the path its results
depend on as a dict whose ``"path"`` key (:data:`PATH_KEY`) names **the kernels the framework itself says it
dispatches**, in that framework's own terms, plus detail keys prefixed by the framework:

=================  ================================================================  ==========================
ladder             the label (least to most capable)                                 read from
=================  ================================================================  ==========================
numpy              ``baseline`` < ``x86_v3`` < ``x86_v4`` < ``avx512_icl`` <          the highest dispatch target
                   ``avx512_spr`` (NumPy >= 2.4; 1.x names such as ``avx512_skx``     NumPy enabled; per-loop
                   lower-cased the same way)                                          detail ``numpy.loops``
torch, inductor    ``baseline`` (DEFAULT) < ``avx2`` < ``avx512``; ``neon``, ``sve``  ``get_cpu_capability()``,
                                                                                      Inductor's ``vec_isa``
onednn             ``sse41`` < ``avx`` < ``avx2`` < ``avx2_vnni`` < ``avx512_core``   the CPU's level capped by
                   < ``avx512_core_vnni`` < ``avx512_core_bf16`` <                    ``ONEDNN_MAX_CPU_ISA``
                   ``avx512_core_fp16`` < ``avx512_core_amx``
xla                ``sse4_2`` < ``avx`` < ``avx2`` < ``avx512`` < ``avx512_vnni`` <   the CPU's level capped by
                   ``avx512_bf16`` < ``amx`` < ``amx_fp16``                           ``--xla_cpu_max_isa``
=================  ================================================================  ==========================

A coarse x86 level (:data:`ISA_ORDER`: "baseline" < "sse4.2" < "avx" < "avx2" < "avx512", :func:`normalize`)
still says which broad family a label belongs to; certificates select on the fine label. Two machines whose
labels agree run the same kernels: NumPy on a Sapphire Rapids (``avx512_spr``: its float16 loops use
AVX512-FP16) and on a Zen 4 (``avx512_icl``) do not, although both are "AVX-512".

:data:`CAPS` holds, per CPU family below the best one, the environment that holds every framework there
(:data:`CAP_LEVELS`, from the most capable down: ``avx512_bf16``, ``avx512_icl``, ``avx512_skx``, ``avx2``,
``baseline``), so one
machine measures every path below its own. Each capped environment also gives compiled-code caches a folder of
their own (:func:`capped_environ`): Inductor otherwise serves code compiled for another ISA to a capped run and
returns wrong values (a torch defect this suite found: ``examples/findings/inductor-cache-isa``).

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
import getpass
import importlib
import importlib.metadata
import os
import platform
import re
import tempfile
from collections.abc import Mapping

__all__ = ["PATH_KEY", "ISA_ORDER", "LADDERS", "CAP_LEVELS", "LOWEST_CAP", "CAP_LIMITS", "CAPS", "AVX2_CAP",
           "SHARED_CACHE_VAR", "host_isa", "host_flags", "host_level", "level_from_flags", "normalize", "capped",
           "capped_environ", "cap_changes", "cap_reaches", "within_cap", "ladder_of", "torch_path", "numpy_path",
           "numpy_loops", "onednn_path", "xla_path", "host_path", "libm_path", "isa_from_cpu", "xla_max_isa",
           "fine_path"]

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


def _numpy_dispatch_names() -> bool:
    """True where the installed NumPy dispatches on the x86 groups of NumPy >= 2.4 (X86_V3, X86_V4, AVX512_ICL,
    AVX512_SPR), False for the single-feature names of older NumPy; read from its metadata, no import.

    A name the NumPy at hand does not dispatch on makes it emit an ImportWarning at import (silent by default,
    printed under ``-W always``, fatal under ``-W error``), so the two spellings are never mixed: NumPy 2.4.6
    warns for AVX512F, AVX512_SKX, ... (seen); NumPy < 2.4 dispatches on those (the list of a default build; not
    run here, no such NumPy is installed). NumPy absent or its version unreadable: the current names.
    """
    try:
        m = re.match(r"(\d+)\.(\d+)", importlib.metadata.version("numpy"))
    except importlib.metadata.PackageNotFoundError:
        m = None
    return m is None or (int(m.group(1)), int(m.group(2))) >= (2, 4)


# What NumPy must not dispatch to under each cap (NumPy >= 2.4 names, then the older single-feature names).
_NUMPY_OFF = {
    "avx512_bf16": ("AVX512_SPR", "AVX512_SPR"),
    "avx512_icl": ("AVX512_SPR", "AVX512_SPR"),
    "avx512_skx": ("AVX512_ICL AVX512_SPR", "AVX512_CNL AVX512_ICL AVX512_SPR"),
    "avx2": ("X86_V4 AVX512_ICL AVX512_SPR",
             "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR"),
    "baseline": ("X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
                 "AVX AVX2 F16C FMA3 AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL "
                 "AVX512_ICL AVX512_SPR"),
}

#: The CPU families one machine can cap itself down to, from the most capable: Zen 4 / Cooper Lake class
#: (AVX-512 with BF16, without FP16), Ice Lake class (AVX-512 with VNNI and VBMI2, no BF16), Skylake-X class
#: (AVX-512 F/CD/BW/DQ/VL), Haswell / Zen 3 class (AVX2 + FMA), and x86-64-v2 (SSE4.2, no AVX: NumPy's baseline,
#: torch's DEFAULT kernels).
CAP_LEVELS = ("avx512_bf16", "avx512_icl", "avx512_skx", "avx2", "baseline")

#: The lowest of :data:`CAP_LEVELS`: what CI certifies on besides the native path.
LOWEST_CAP = CAP_LEVELS[-1]

#: Per cap, the highest label each ladder may report under it (:func:`within_cap` checks a run against it).
CAP_LIMITS: dict[str, dict[str, str]] = {
    "avx512_bf16": {"numpy": "avx512_icl", "torch": "avx512", "onednn": "avx512_core_bf16", "xla": "avx512_bf16"},
    "avx512_icl": {"numpy": "avx512_icl", "torch": "avx512", "onednn": "avx512_core_vnni", "xla": "avx512_vnni"},
    "avx512_skx": {"numpy": "x86_v4", "torch": "avx512", "onednn": "avx512_core", "xla": "avx512"},
    "avx2": {"numpy": "x86_v3", "torch": "avx2", "onednn": "avx2", "xla": "avx2"},
    "baseline": {"numpy": "baseline", "torch": "baseline", "onednn": "sse41", "xla": "sse4_2"},
}

_TORCH_CAP = {"avx2": "avx2", "baseline": "default"}  # torch has no level between AVX2 and AVX-512


def _cap_env(level: str) -> dict[str, str]:
    new_names = _numpy_dispatch_names()
    env = {"NPY_DISABLE_CPU_FEATURES": _NUMPY_OFF[level][0 if new_names else 1],
           "ONEDNN_MAX_CPU_ISA": CAP_LIMITS[level]["onednn"].upper(),
           "XLA_FLAGS": _XLA_ISA_FLAG + CAP_LIMITS[level]["xla"].upper()}
    if level in _TORCH_CAP:
        env = {"ATEN_CPU_CAPABILITY": _TORCH_CAP[level], **env}  # torch: lower case only
    return env


#: Per cap level, the environment that holds every framework at that CPU family or below; apply it with
#: :func:`capped_environ` (which adds the compile caches of its own).
CAPS: dict[str, dict[str, str]] = {level: _cap_env(level) for level in CAP_LEVELS}

#: The environment that holds every framework at or below AVX2 (``CAPS["avx2"]``).
AVX2_CAP: dict[str, str] = CAPS["avx2"]

#: Set to "1" to let a capped run share the caller's compiled-code caches (only to reproduce the Inductor
#: defect those caches exist to avoid).
SHARED_CACHE_VAR = "SOFTPLUS_CERT_SHARED_COMPILE_CACHE"


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


def _torch_level(value: str | None) -> str | None:
    """The label an ``ATEN_CPU_CAPABILITY`` value stands for; None for unset, empty or unknown. (oneDNN's and
    XLA's caps are compared on their own ladders, :func:`_ladder_rank`.)"""
    if not value or not value.strip():
        return None
    label = normalize(value)
    return label if label in ISA_ORDER else None


def xla_max_isa(flags: str | None) -> str | None:
    """The value of the last ``--xla_cpu_max_isa=`` in an XLA_FLAGS string (XLA lets the last one win)."""
    values = [f[len(_XLA_ISA_FLAG):] for f in (flags or "").split() if f.startswith(_XLA_ISA_FLAG)]
    return values[-1] if values else None


# --- the fine ladders: each framework's own levels, least to most capable -------------------------------------

#: Each ladder's labels, least to most capable (see the module doc); :func:`within_cap` compares on them.
LADDERS: dict[str, tuple[str, ...]] = {
    "numpy": ("baseline", "sse41", "sse42", "avx", "f16c", "fma3", "avx2", "x86_v3", "avx512f", "avx512cd",
              "avx512_knl", "avx512_knm", "avx512_skx", "x86_v4", "avx512_clx", "avx512_cnl", "avx512_icl",
              "avx512_spr"),
    "torch": ("baseline", "avx2", "avx512"),
    "onednn": ("sse41", "avx", "avx2", "avx2_vnni", "avx512_core", "avx512_core_vnni", "avx512_core_bf16",
               "avx512_core_fp16", "avx512_core_amx"),
    "xla": ("sse4_2", "avx", "avx2", "avx512", "avx512_vnni", "avx512_bf16", "amx", "amx_fp16"),
}
# The detail key by which a code-path dict says which ladder its label is on.
_LADDER_OF_DETAIL = {"numpy.simd": "numpy", "torch.cpu_capability": "torch", "inductor.vec_isa": "torch",
                     "onednn.max_isa": "onednn", "xla.max_isa": "xla"}

# The CPU flags (/proc/cpuinfo names) each level needs, on top of the level below it.
_NEEDS = {
    "numpy": {"x86_v3": {"avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "movbe", "abm"},
              "x86_v4": {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"},
              "avx512_icl": {"avx512vbmi", "avx512_vbmi2", "avx512_vnni", "avx512_bitalg", "avx512_vpopcntdq",
                             "avx512ifma"},
              "avx512_spr": {"avx512_fp16"}},
    "onednn": {"sse41": {"sse4_1"}, "avx": {"avx"}, "avx2": {"avx2"}, "avx2_vnni": {"avx_vnni"},
               "avx512_core": {"avx512f", "avx512bw", "avx512vl", "avx512dq"},
               "avx512_core_vnni": {"avx512_vnni"}, "avx512_core_bf16": {"avx512_bf16"},
               "avx512_core_fp16": {"avx512_fp16"}, "avx512_core_amx": {"amx_tile", "amx_bf16", "amx_int8"}},
    "xla": {"sse4_2": {"sse4_2"}, "avx": {"avx"}, "avx2": {"avx2", "fma"},
            "avx512": {"avx512f", "avx512bw", "avx512vl", "avx512dq"}, "avx512_vnni": {"avx512_vnni"},
            "avx512_bf16": {"avx512_bf16"}, "amx": {"amx_tile", "amx_bf16", "amx_int8"}, "amx_fp16": {"amx_fp16"}},
}


def level_from_flags(ladder: str, flags: set[str]) -> str | None:
    """The highest level of ``ladder`` ("numpy", "onednn", "xla") whose flags, and those of every level below
    it, are all in ``flags``; None where not even the lowest is (another architecture). The avx2_vnni rung of
    oneDNN is skipped over where missing (AVX-512 CPUs without AVX-VNNI still reach avx512_core)."""
    best = "baseline" if ladder == "numpy" else None
    for level, needs in _NEEDS[ladder].items():
        if not needs <= flags:
            if ladder == "onednn" and level == "avx2_vnni":
                continue
            break
        best = level
    return best


@functools.cache
def host_flags() -> frozenset[str]:
    """The CPU's feature flags from the first "flags" line of /proc/cpuinfo (empty where unreadable)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "flags":
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def host_level(ladder: str) -> str | None:
    """This CPU's best level on ``ladder`` (torch: :func:`host_isa`'s coarse label); None off x86."""
    if ladder == "torch":
        return host_isa() if host_isa() in ISA_ORDER else None
    return level_from_flags(ladder, set(host_flags())) if host_flags() else None


def _lower(ladder: str, a: str | None, b: str | None) -> str | None:
    """The lower of two labels of one ladder; either unknown to it: the other (or None)."""
    order = LADDERS[ladder]
    known = [x for x in (a, b) if x in order]
    return min(known, key=order.index) if known else (a or b)


def ladder_of(code_path: Mapping[str, str]) -> str | None:
    """The ladder a code-path dict's label is on, by its detail keys; None for labels on none (a plugin's
    "cpu.isa", libm's "glibc-fma")."""
    return next((_LADDER_OF_DETAIL[k] for k in code_path if k in _LADDER_OF_DETAIL), None)


def within_cap(code_path: Mapping[str, str], cap: str) -> bool:
    """Whether a target's reported path is at or below what cap level ``cap`` allows on its ladder: a capped
    run that still dispatched above the cap proves nothing about the capped path. Labels on no ladder (the
    CPU's own ISA, which no cap changes) and labels a ladder does not know (another architecture) pass."""
    ladder = ladder_of(code_path)
    label = code_path.get(PATH_KEY)
    if ladder is None or label not in LADDERS[ladder]:
        return True
    order = LADDERS[ladder]
    return order.index(label) <= order.index(CAP_LIMITS[cap][ladder])


def cap_reaches(cap: str) -> bool:
    """Whether capping at ``cap`` takes some framework below what this CPU runs natively (else the capped run
    would judge the native kernels again). False off x86 (the caps are x86 levels)."""
    for ladder, limit in CAP_LIMITS[cap].items():
        host = host_level(ladder)
        if host is not None and host in LADDERS[ladder] and \
                LADDERS[ladder].index(host) > LADDERS[ladder].index(limit):
            return True
    return False


# --- capped environments -------------------------------------------------------------------------------------


def _inductor_cache(env: Mapping[str, str]) -> str:
    """Inductor's cache folder for a process started with ``env`` (its default: <tmp>/torchinductor_<user>)."""
    if env.get("TORCHINDUCTOR_CACHE_DIR"):
        return env["TORCHINDUCTOR_CACHE_DIR"]
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (containers)
        user = str(os.getuid())
    return os.path.join(tempfile.gettempdir(), f"torchinductor_{user}")


def _own_caches(env: dict[str, str], level: str) -> None:
    """Give the compiled-code caches of a run capped at ``level`` folders of their own, below the caller's.

    Inductor keys its on-disk FX-graph and kernel caches on the graph, the torch version and the compiler, but
    not on ``ATEN_CPU_CAPABILITY``: a run capped at AVX2 that finds code compiled natively for AVX-512 loads it
    and returns wrong values (softplus(0) = 1.0019 in float32, seen with torch 2.13.0). A folder per cap level
    makes one path's code never serve another. JAX's persistent cache, where the caller turned it on, likewise.
    """
    if env.get(SHARED_CACHE_VAR) == "1":
        return
    env["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(_inductor_cache(env), f"softplus-cert-cap-{level}")
    if env.get("JAX_COMPILATION_CACHE_DIR"):
        env["JAX_COMPILATION_CACHE_DIR"] = os.path.join(env["JAX_COMPILATION_CACHE_DIR"],
                                                        f"softplus-cert-cap-{level}")


def _ladder_rank(ladder: str, value: str | None) -> int | None:
    v = (value or "").strip().lower()
    return LADDERS[ladder].index(v) if v in LADDERS[ladder] else None


def capped_environ(cap: str | dict[str, str] = "avx2", base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default ``os.environ``) with cap level ``cap`` (a name of :data:`CAP_LEVELS`, or an
    explicit variable dict) applied, for starting a capped process.

    A cap only ever lowers, so where ``base`` already holds something stricter that stays:

    * ``ATEN_CPU_CAPABILITY``: ``base``'s value is kept where it is a lower level; it is also left out where
      the host lacks the level (torch does not check it and would die of SIGILL; an x86 name on ARM is
      "invalid" to it and only draws a warning).
    * ``ONEDNN_MAX_CPU_ISA``: ``base``'s value is kept where it is lower on oneDNN's ladder.
    * ``XLA_FLAGS``: the cap's flags are appended to ``base``'s (not replacing them), unless ``base`` already
      caps ``--xla_cpu_max_isa`` lower (XLA takes the last occurrence, so appending would raise it).
    * ``NPY_DISABLE_CPU_FEATURES``: the union of both lists.

    Any other variable in ``cap`` is set as given. With a named level, Inductor's cache (and JAX's, where
    on) gets a folder of its own for that level (unless ``SOFTPLUS_CERT_SHARED_COMPILE_CACHE=1``). ``base`` is
    not modified. KeyError for an unknown level name.
    """
    level = cap if isinstance(cap, str) else None
    variables = CAPS[cap] if isinstance(cap, str) else cap
    env = dict(os.environ if base is None else base)
    for var, value in variables.items():
        old = env.get(var)
        if var == "ATEN_CPU_CAPABILITY":
            new, have = _rank(_torch_level(value)), _rank(_torch_level(old))
            if have is not None and new is not None and have < new:
                continue  # base is stricter
            host = _rank(host_isa())
            if new is not None and (host is None or host < new):
                continue  # unsafe or meaningless on this host: torch's own choice checks the CPU
            env[var] = value
        elif var == "ONEDNN_MAX_CPU_ISA":
            new, have = _ladder_rank("onednn", value), _ladder_rank("onednn", old)
            if have is not None and new is not None and have < new:
                continue
            env[var] = value
        elif var == "XLA_FLAGS":
            have = _ladder_rank("xla", xla_max_isa(old))
            new = _ladder_rank("xla", xla_max_isa(value))
            if have is not None and new is not None and have < new:
                value = " ".join(f for f in value.split() if not f.startswith(_XLA_ISA_FLAG))
            env[var] = " ".join(part for part in (old, value) if part and part.strip())
        elif var == "NPY_DISABLE_CPU_FEATURES":
            names = (old or "").replace(",", " ").split()
            env[var] = " ".join(names + [n for n in value.replace(",", " ").split() if n not in names])
        else:
            env[var] = value
    if level is not None:
        _own_caches(env, level)
    return env


def cap_changes(cap: str | dict[str, str] = "avx2") -> dict[str, str]:
    """Only the variables :func:`capped_environ` sets or changes in this process's environment: what a
    worker process must be started with (``engine.isolation.IsolatedTarget(env=...)``), with the same
    safeguards (torch's capability never raised above the host's; caches of the level's own)."""
    env = capped_environ(cap)
    return {k: v for k, v in env.items() if os.environ.get(k) != v}


# --- readers: the path the running process uses ----------------------------------------------------------------


def torch_path() -> dict[str, str]:
    """torch's CPU kernel level, ``torch.backends.cpu.get_cpu_capability()`` ("AVX512", "AVX2", "DEFAULT", ...)."""
    import torch

    raw = torch.backends.cpu.get_cpu_capability()
    return {PATH_KEY: normalize(raw), "torch.cpu_capability": raw}


def _numpy_umath():
    try:
        return importlib.import_module("numpy._core._multiarray_umath")
    except ImportError:  # NumPy 1.x
        return importlib.import_module("numpy.core._multiarray_umath")


def numpy_loops(ufuncs: tuple[str, ...] = ("exp", "log1p", "logaddexp")) -> str:
    """Which dispatch target each of ``ufuncs``' float loops runs in this process, from NumPy's own
    ``numpy.lib.introspect.opt_func_info`` (NumPy >= 2.0): "exp: e AVX512_SPR, f X86_V4, d X86_V4; ...";
    "" where NumPy cannot tell (older NumPy, or loops that do not dispatch, such as logaddexp)."""
    try:
        from numpy.lib import introspect
    except ImportError:
        return ""
    parts = []
    for name in ufuncs:
        try:
            info = introspect.opt_func_info(func_name=f"^{name}$").get(name, {})
        except Exception:  # noqa: BLE001 — an introspection API that changed: say nothing rather than fail
            continue
        # keys are the loops' type characters ("ff": float32 -> float32; e, f, d: float16, 32, 64)
        loops = [f"{sig[0]} {d.get('current')}" for sig, d in info.items()
                 if isinstance(d, dict) and set(sig) <= set("efd")]
        if loops:
            parts.append(f"{name}: {', '.join(loops)}")
    return "; ".join(parts)


def numpy_path() -> dict[str, str]:
    """The highest dispatch target NumPy enabled in this process, lower-cased ("avx512_spr", "avx512_icl",
    "x86_v4", "x86_v3"; NumPy 1.x: "avx512_skx", "avx2", ...): two processes with the same label run the same
    loops. None enabled: "baseline" (what every loop was compiled for, ``__cpu_baseline__``).

    Details: "numpy.simd" (NumPy's own name of that target, or of the last baseline feature), "numpy.loops"
    (:func:`numpy_loops`: the target each float exp/log1p loop really runs) and "numpy.disabled"
    (NPY_DISABLE_CPU_FEATURES, when set).
    """
    umath = _numpy_umath()
    features = getattr(umath, "__cpu_features__", {})
    enabled = [t for t in getattr(umath, "__cpu_dispatch__", []) if features.get(t)]
    baseline = list(getattr(umath, "__cpu_baseline__", []))
    raw = enabled[-1] if enabled else (baseline[-1] if baseline else "")
    out = {PATH_KEY: raw.lower() if enabled else "baseline", "numpy.simd": raw or "(none)"}
    loops = numpy_loops()
    if loops:
        out["numpy.loops"] = loops
    disabled = os.environ.get("NPY_DISABLE_CPU_FEATURES")
    if disabled is not None:
        out["numpy.disabled"] = disabled
    return out


def onednn_path() -> dict[str, str]:
    """The highest level oneDNN may use here, on oneDNN's own ladder ("avx512_core_amx", "avx512_core_bf16",
    "avx512_core", "avx2", "sse41", ...): the host's, capped by ONEDNN_MAX_CPU_ISA (or its older name
    DNNL_MAX_CPU_ISA).

    oneDNN generates its kernels at run time for the best ISA up to that cap, so this is a statement about the
    environment and the CPU, not a query of oneDNN (which has no Python handle here). Unset, "DEFAULT" or an
    unknown value: no cap. Off x86: the host's label (:func:`host_isa`). Detail "onednn.max_isa": the
    variable's value or "(unset)".
    """
    raw = os.environ.get("ONEDNN_MAX_CPU_ISA", os.environ.get("DNNL_MAX_CPU_ISA"))
    host = host_level("onednn")
    label = host_isa() if host is None else _lower("onednn", host, (raw or "").strip().lower() or None)
    return {PATH_KEY: label, "onednn.max_isa": raw if raw is not None else "(unset)"}


def xla_path() -> dict[str, str]:
    """The level XLA compiles for here, on XLA's ladder ("amx", "avx512_bf16", "avx512", "avx2", "sse4_2",
    ...): the host's, capped by the last ``--xla_cpu_max_isa=`` in XLA_FLAGS.

    XLA reads XLA_FLAGS once, when its CPU backend starts, so a change after that is reported but not in effect.
    Unknown value: no cap (XLA warns and ignores it too). Off x86: the host's label. Detail "xla.max_isa": the
    value or "(unset)".
    """
    raw = xla_max_isa(os.environ.get("XLA_FLAGS"))
    host = host_level("xla")
    label = host_isa() if host is None else _lower("xla", host, (raw or "").strip().lower() or None)
    return {PATH_KEY: label, "xla.max_isa": raw if raw is not None else "(unset)"}


def host_path() -> dict[str, str]:
    """The CPU's own level, for targets that say nothing else and whose kernels dispatch by CPUID with no cap
    (ONNX Runtime's MLAS, a plugin): oneDNN's ladder names it finely ("avx512_core_amx", "avx512_core_bf16",
    "avx2", ...), :func:`host_isa` off x86. Details "cpu.isa" (the coarse level) and "cpu.level"."""
    isa = host_isa()
    level = host_level("onednn") or isa
    return {PATH_KEY: level, "cpu.isa": isa, "cpu.level": level}


def libm_path() -> dict[str, str]:
    """glibc's libm variant that scalar exp/log/log1p calls take here: glibc selects ``__exp_fma`` and kin by
    CPUID (IFUNC) where the CPU has FMA and AVX2, else its SSE2 code; nothing caps it short of glibc tunables.
    Label "glibc-fma" or "glibc-sse2" (x86-64), else "libm-<machine>"."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        label = "glibc-fma" if {"fma", "avx2"} <= set(host_flags()) else "glibc-sse2"
    else:
        label = f"libm-{machine}"
    return {PATH_KEY: label, "libm": platform.libc_ver()[0] + " " + platform.libc_ver()[1], "cpu.isa": host_isa()}


def fine_path(code_path: Mapping[str, str], levels: Mapping[str, str | None]) -> dict[str, str]:
    """A code path recorded before the fine labels (every AVX-512 level "avx512", every AVX2 one "avx2"),
    relabelled as today's readers label it, given the measuring CPU's ``levels`` (ladder -> label, as
    :func:`host_level` gives them on that CPU): NumPy by its recorded dispatch target ("numpy.simd"),
    oneDNN and XLA by the CPU's level capped as recorded, glibc's libm for SciPy, the CPU's level for a
    target that reported only the CPU's ISA. torch's and Inductor's labels were already their own.
    """
    out = dict(code_path)
    label = out.get(PATH_KEY, "")
    if "scipy.loops" in out:
        out[PATH_KEY] = "glibc-fma" if label in ("avx2", "avx512") else "glibc-sse2"
    elif "numpy.simd" in out:
        raw = out["numpy.simd"]
        out[PATH_KEY] = raw.lower() if normalize(raw) in ("avx2", "avx512", "avx") else "baseline"
    elif "onednn.max_isa" in out or "xla.max_isa" in out:
        ladder = "onednn" if "onednn.max_isa" in out else "xla"
        raw = out.get(f"{ladder}.max_isa", "(unset)")
        cap = None if raw in ("(unset)", "DEFAULT") else raw.lower()
        out[PATH_KEY] = _lower(ladder, levels.get(ladder), cap) or label
    elif "cpu.isa" in out and levels.get("onednn"):
        out[PATH_KEY] = out["cpu.level"] = str(levels["onednn"])
    return out
