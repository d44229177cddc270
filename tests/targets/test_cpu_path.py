"""targets.cpu_path: labels on data, and each cap checked against what the framework itself reports or emits.

The caps are read at import or first use, so every framework check runs in fresh subprocesses (two or three at
once, to overlap TensorFlow's seconds-long import). The evidence per framework:

* torch: ``torch.backends.cpu.get_cpu_capability()``.
* NumPy: which dispatch targets ``__cpu_features__`` leaves enabled, and nothing printed (not even under
  ``-W always``: a name NumPy does not dispatch on draws an ImportWarning).
* oneDNN (TensorFlow): the ``isa:`` line oneDNN prints with ONEDNN_VERBOSE=1 on its first primitive, a 64x64
  float32 matmul (tf.nn.softplus runs no oneDNN primitive at all).
* XLA (JAX): the machine code XLA dumps for ``jit(jax.nn.softplus)`` (``--xla_dump_to``), disassembled: no
  256-bit (ymm) register under SSE4_2, no AVX-512 register (zmm, x/ymm16-31, mask k) under AVX2.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from targets import cpu_path
from targets.cpu_path import AVX2_CAP, ISA_ORDER, PATH_KEY, capped, capped_environ, normalize

ROOT = Path(__file__).resolve().parents[2]
# Everything that steers a framework's ISA or our probes: removed from the parent's environment so that an
# outer run under a cap (or with verbose oneDNN) does not change what the subprocesses see.
STEERING = ("ATEN_CPU_CAPABILITY", "NPY_DISABLE_CPU_FEATURES", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA",
            "XLA_FLAGS", "ONEDNN_VERBOSE", "DNNL_VERBOSE", "TF_ENABLE_ONEDNN_OPTS", "PYTHONWARNINGS")
HOST = cpu_path.host_isa()
HOST_HAS_AVX2 = HOST in ("avx2", "avx512")


def _rank(label: str) -> int:
    return ISA_ORDER.index(label)


def _need(module: str) -> None:
    if importlib.util.find_spec(module) is None:  # never import it here: TensorFlow alone costs seconds
        pytest.skip(f"{module} is not installed")


def _x86_only() -> None:
    if HOST not in ISA_ORDER:
        pytest.skip(f"the caps under test are x86 ISA levels; this host is {HOST!r}")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in STEERING}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up banner; logging only
    env.update(extra)
    return env


def _start(code: str, env: dict[str, str], *flags: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *flags, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait(proc: subprocess.Popen, what: str) -> tuple[str, str]:
    """(stdout, stderr) of a probe once it has ended, whatever its exit status."""
    try:
        return proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{what}: timed out\n{err[-3000:]}")


def _finish(proc: subprocess.Popen, what: str, output: tuple[str, str] | None = None) -> tuple[dict, str, str]:
    """(the JSON after "RESULT ", stdout, stderr) of a finished probe; fails with its stderr if it failed."""
    out, err = output if output is not None else _wait(proc, what)
    assert proc.returncode == 0, f"{what}: exit {proc.returncode}\n{err[-3000:]}"
    results = [line[len("RESULT "):] for line in out.splitlines() if line.startswith("RESULT ")]
    assert results, f"{what}: no RESULT line\n{out[-2000:]}\n{err[-2000:]}"
    return json.loads(results[-1]), out, err


# --- labels on data ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, label", [
    # torch
    ("AVX512", "avx512"), ("AVX2", "avx2"), ("DEFAULT", "baseline"), ("SVE256", "sve"),
    # NumPy >= 2.4 groups, NumPy 1.x / 2.0-2.3 features, ARM
    ("X86_V4", "avx512"), ("AVX512_ICL", "avx512"), ("AVX512_SPR", "avx512"), ("X86_V3", "avx2"),
    ("X86_V2", "baseline"), ("AVX512F", "avx512"), ("AVX512_SKX", "avx512"), ("AVX512_KNM", "avx512"),
    ("FMA3", "avx"), ("SSE42", "baseline"), ("SSE41", "baseline"), ("ASIMDHP", "neon"), ("NEON", "neon"),
    # oneDNN
    ("AVX512_CORE", "avx512"), ("AVX512_CORE_AMX", "avx512"), ("AVX10_1_512", "avx512"),
    ("AVX2_VNNI", "avx2"), ("AVX2_VNNI_2", "avx2"), ("AVX", "avx"),
    # XLA
    ("SSE4_2", "baseline"), ("AMX_FP16", "avx512"), ("AVX512_BF16", "avx512"),
    # spelling
    (" avx2 ", "avx2"), ("avx512_core", "avx512"), ("ZVector", "zvector"), ("", ""),
])
def test_normalize(name: str, label: str) -> None:
    assert normalize(name) == label


@pytest.mark.parametrize("host, cap, want", [
    ("avx512", "avx2", "avx2"), ("avx2", "avx512", "avx2"), ("avx2", "avx2", "avx2"),
    ("avx512", "baseline", "baseline"), ("sse4.2", "avx", "sse4.2"), ("avx", "sse4.2", "sse4.2"),
    ("avx512", None, "avx512"), ("neon", "avx2", "neon"), ("avx2", "neon", "avx2"), ("x86_64", "avx2", "x86_64"),
])
def test_capped(host: str, cap: str | None, want: str) -> None:
    assert capped(host, cap) == want


_X86 = "processor\t: 0\nflags\t\t: fpu sse sse2 {}\n\nprocessor\t: 1\nflags\t\t: fpu\n"


@pytest.mark.parametrize("machine, cpuinfo, want", [
    ("x86_64", _X86.format("sse4_2 avx avx2 fma avx512f avx512bw avx512vl avx512dq"), "avx512"),
    ("x86_64", _X86.format("sse4_2 avx avx2 fma avx512f avx512bw avx512vl"), "avx2"),  # no dq: not torch's AVX512
    ("x86_64", _X86.format("sse4_2 avx avx2 fma"), "avx2"),
    ("x86_64", _X86.format("sse4_2 avx avx2"), "avx"),  # AVX2 without FMA counts as AVX
    ("x86_64", _X86.format("sse4_2"), "sse4.2"),
    ("x86_64", _X86.format(""), "baseline"),
    ("AMD64", None, "amd64"),  # no /proc/cpuinfo (Windows): the machine name, outside ISA_ORDER
    ("aarch64", "Features\t: fp asimd evtstrm sve sve2\n", "sve"),
    ("aarch64", "Features\t: fp asimd evtstrm\n", "neon"),
    ("arm64", None, "neon"),
    ("riscv64", "isa\t: rv64imafdc\n", "riscv64"),
])
def test_isa_from_cpuinfo(machine: str, cpuinfo: str | None, want: str) -> None:
    assert cpu_path.isa_from_cpu(machine, cpuinfo) == want


# Feature flags as Linux lists them, per CPU family (the ones the ladders read; real lists hold more).
_BASE = "fpu sse sse2 ssse3 sse4_1 sse4_2 popcnt"
_V3 = _BASE + " avx avx2 fma f16c bmi1 bmi2 movbe abm"
_SKX = _V3 + " avx512f avx512dq avx512cd avx512bw avx512vl"
_CLX = _SKX + " avx512_vnni"
_ICL = _CLX + " avx512ifma avx512vbmi avx512_vbmi2 avx512_bitalg avx512_vpopcntdq gfni vaes"
_ZEN4 = _ICL + " avx512_bf16"
_SPR = _ZEN4 + " avx_vnni avx512_fp16 amx_bf16 amx_tile amx_int8"
_GNR = _SPR + " amx_fp16"


@pytest.mark.parametrize("flags, numpy_level, onednn_level, xla_level", [
    # levels as each framework documents its dispatch: NumPy's x86 groups (2.4), oneDNN's cpu_isa names,
    # XLA's --xla_cpu_max_isa names
    (_BASE, "baseline", "sse41", "sse4_2"),                                       # x86-64-v2 (Westmere)
    (_BASE + " avx", "baseline", "avx", "avx"),                                   # Sandy Bridge
    (_V3, "x86_v3", "avx2", "avx2"),                                              # Haswell, Zen 3
    (_V3 + " avx_vnni", "x86_v3", "avx2_vnni", "avx2"),                           # Alder Lake
    (_SKX, "x86_v4", "avx512_core", "avx512"),                                    # Skylake-X
    (_CLX, "x86_v4", "avx512_core_vnni", "avx512_vnni"),                          # Cascade Lake
    (_ICL, "avx512_icl", "avx512_core_vnni", "avx512_vnni"),                      # Ice Lake
    (_ZEN4, "avx512_icl", "avx512_core_bf16", "avx512_bf16"),                     # Zen 4
    (_SPR, "avx512_spr", "avx512_core_amx", "amx"),                               # Sapphire/Emerald Rapids
    (_GNR, "avx512_spr", "avx512_core_amx", "amx_fp16"),                          # Granite Rapids
    (_SKX.replace(" fma", ""), "baseline", "avx512_core", "avx"),                 # no FMA: no X86_V3, no AVX2 XLA
])
def test_levels_of_each_cpu_family(flags: str, numpy_level: str, onednn_level: str, xla_level: str) -> None:
    got = {ladder: cpu_path.level_from_flags(ladder, set(flags.split())) for ladder in ("numpy", "onednn", "xla")}
    assert got == {"numpy": numpy_level, "onednn": onednn_level, "xla": xla_level}


def test_no_level_off_x86() -> None:
    assert cpu_path.level_from_flags("onednn", {"fp", "asimd"}) is None
    assert cpu_path.level_from_flags("xla", set()) is None


def test_host_path_names_the_cpu_level() -> None:
    got = cpu_path.host_path()
    assert got["cpu.isa"] == HOST and got[PATH_KEY] == got["cpu.level"], got
    if HOST in ("avx", "avx2", "avx512"):
        assert normalize(got[PATH_KEY]) == HOST, got  # the fine level lies in the coarse one


@pytest.mark.parametrize("level", cpu_path.CAP_LEVELS)
def test_each_cap_names_every_framework(level: str) -> None:
    cap, limit = cpu_path.CAPS[level], cpu_path.CAP_LIMITS[level]
    assert cap["ONEDNN_MAX_CPU_ISA"] == limit["onednn"].upper()
    assert cap["XLA_FLAGS"] == "--xla_cpu_max_isa=" + limit["xla"].upper()
    assert cap.get("ATEN_CPU_CAPABILITY") == {"avx2": "avx2", "baseline": "default"}.get(level)
    off = set(cap["NPY_DISABLE_CPU_FEATURES"].split())
    numpy_order = cpu_path.LADDERS["numpy"]
    # every NumPy group above the cap's NumPy level is off, none at or below it
    for group in ("X86_V3", "X86_V4", "AVX512_ICL", "AVX512_SPR"):
        above = numpy_order.index(group.lower()) > numpy_order.index(limit["numpy"])
        assert (group in off) == above, (level, group, off)


def test_caps_descend() -> None:
    for ladder in ("numpy", "torch", "onednn", "xla"):
        ranks = [cpu_path.LADDERS[ladder].index(cpu_path.CAP_LIMITS[c][ladder]) for c in cpu_path.CAP_LEVELS]
        assert ranks == sorted(ranks, reverse=True), (ladder, ranks)
    assert cpu_path.LOWEST_CAP == "baseline"


@pytest.mark.parametrize("code_path, cap, ok", [
    ({PATH_KEY: "avx512_spr", "numpy.simd": "AVX512_SPR"}, "avx512_icl", False),
    ({PATH_KEY: "avx512_icl", "numpy.simd": "AVX512_ICL"}, "avx512_icl", True),
    ({PATH_KEY: "avx512_icl", "numpy.simd": "AVX512_ICL"}, "avx512_skx", False),
    ({PATH_KEY: "x86_v3", "numpy.simd": "X86_V3"}, "avx2", True),
    ({PATH_KEY: "x86_v3", "numpy.simd": "X86_V3"}, "baseline", False),
    ({PATH_KEY: "avx512", "torch.cpu_capability": "AVX512"}, "avx512_skx", True),
    ({PATH_KEY: "avx512", "torch.cpu_capability": "AVX512"}, "avx2", False),
    ({PATH_KEY: "avx512", "inductor.vec_isa": "avx512", "torch.cpu_capability": "AVX512"}, "avx2", False),
    ({PATH_KEY: "avx512_core_amx", "onednn.max_isa": "(unset)"}, "avx512_icl", False),
    ({PATH_KEY: "avx512_core_vnni", "onednn.max_isa": "AVX512_CORE_VNNI"}, "avx512_icl", True),
    ({PATH_KEY: "amx", "xla.max_isa": "(unset)"}, "avx512_skx", False),
    ({PATH_KEY: "sse4_2", "xla.max_isa": "SSE4_2"}, "baseline", True),
    ({PATH_KEY: "avx512_core_amx", "cpu.isa": "avx512", "cpu.level": "avx512_core_amx"}, "baseline", True),
    ({PATH_KEY: "glibc-fma", "libm": "glibc 2.36"}, "baseline", True),
    ({PATH_KEY: "neon", "numpy.simd": "ASIMD"}, "avx2", True),  # another architecture: nothing to compare
])
def test_within_cap(code_path: dict, cap: str, ok: bool) -> None:
    assert cpu_path.within_cap(code_path, cap) is ok


@pytest.mark.parametrize("flags, host, reaching", [
    (_SPR, "avx512", {"avx512_bf16", "avx512_icl", "avx512_skx", "avx2", "baseline"}),
    (_ZEN4, "avx512", {"avx512_icl", "avx512_skx", "avx2", "baseline"}),  # oneDNN's bf16 level is above ICL's
    (_ICL, "avx512", {"avx512_skx", "avx2", "baseline"}),
    (_SKX, "avx512", {"avx2", "baseline"}),
    (_V3, "avx2", {"baseline"}),
    (_BASE, "sse4.2", set()),
])
def test_cap_reaches(monkeypatch: pytest.MonkeyPatch, flags: str, host: str, reaching: set) -> None:
    monkeypatch.setattr(cpu_path, "host_flags", lambda: frozenset(flags.split()))
    monkeypatch.setattr(cpu_path, "host_isa", lambda: host)
    assert {c for c in cpu_path.CAP_LEVELS if cpu_path.cap_reaches(c)} == reaching


def test_each_cap_has_caches_of_its_own(tmp_path: Path) -> None:
    base = {"TORCHINDUCTOR_CACHE_DIR": str(tmp_path), "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax")}
    dirs = {c: capped_environ(c, base=base)["TORCHINDUCTOR_CACHE_DIR"] for c in cpu_path.CAP_LEVELS}
    assert len(set(dirs.values())) == len(dirs) and str(tmp_path) not in dirs.values(), dirs
    assert all(d.startswith(str(tmp_path)) for d in dirs.values()), dirs
    jax_dirs = {capped_environ(c, base=base)["JAX_COMPILATION_CACHE_DIR"] for c in cpu_path.CAP_LEVELS}
    assert len(jax_dirs) == len(dirs) and str(tmp_path / "jax") not in jax_dirs
    # Inductor's own default where the caller set none; and shared only when asked to
    assert "torchinductor_" in capped_environ("avx2", base={})["TORCHINDUCTOR_CACHE_DIR"]
    shared = capped_environ("avx2", base={**base, cpu_path.SHARED_CACHE_VAR: "1"})
    assert shared["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path)


def test_capped_environ_lowers_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_path, "host_isa", lambda: "avx512")
    base = {"HOME": "/h", "XLA_FLAGS": "--xla_dump_to=/d", "NPY_DISABLE_CPU_FEATURES": "X86_V4 FOO"}
    env = capped_environ(base=base)
    assert base == {"HOME": "/h", "XLA_FLAGS": "--xla_dump_to=/d", "NPY_DISABLE_CPU_FEATURES": "X86_V4 FOO"}
    assert env["HOME"] == "/h"
    assert env["XLA_FLAGS"] == "--xla_dump_to=/d --xla_cpu_max_isa=AVX2"  # appended, not replaced
    assert env["ATEN_CPU_CAPABILITY"] == "avx2" and env["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert env["NPY_DISABLE_CPU_FEATURES"].split()[:2] == ["X86_V4", "FOO"]
    assert set(AVX2_CAP["NPY_DISABLE_CPU_FEATURES"].split()) <= set(env["NPY_DISABLE_CPU_FEATURES"].split())
    # a stricter base stays; a looser one is lowered (XLA takes the last flag, so ours must come last)
    strict = capped_environ(base={"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41",
                                  "XLA_FLAGS": "--xla_cpu_max_isa=SSE4_2"})
    assert strict["ATEN_CPU_CAPABILITY"] == "default" and strict["ONEDNN_MAX_CPU_ISA"] == "SSE41"
    assert strict["XLA_FLAGS"] == "--xla_cpu_max_isa=SSE4_2"
    loose = capped_environ(base={"ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": "DEFAULT",
                                 "XLA_FLAGS": "--xla_cpu_max_isa=AVX512"})
    assert loose["ATEN_CPU_CAPABILITY"] == "avx2" and loose["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert cpu_path.xla_max_isa(loose["XLA_FLAGS"]) == "AVX2"
    # os.environ by default
    monkeypatch.setenv("CPU_PATH_PROBE", "1")
    assert capped_environ()["CPU_PATH_PROBE"] == "1"


@pytest.mark.parametrize("host", ["avx", "sse4.2", "neon"])
def test_capped_environ_never_raises_torch_above_the_host(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    # torch trusts ATEN_CPU_CAPABILITY blindly: "avx512" on an AVX2-only CPU reports AVX512 and dies of SIGILL
    monkeypatch.setattr(cpu_path, "host_isa", lambda: host)
    assert "ATEN_CPU_CAPABILITY" not in capped_environ(base={})


def test_env_readers_on_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_path, "host_flags", lambda: frozenset(_ZEN4.split()))
    for var in STEERING:
        monkeypatch.delenv(var, raising=False)
    assert cpu_path.onednn_path() == {PATH_KEY: "avx512_core_bf16", "onednn.max_isa": "(unset)"}
    assert cpu_path.xla_path() == {PATH_KEY: "avx512_bf16", "xla.max_isa": "(unset)"}
    for value, want in [("AVX2", "avx2"), ("SSE41", "sse41"), ("avx512_core", "avx512_core"),
                        ("AVX512_CORE_AMX", "avx512_core_bf16"),  # a cap above the host changes nothing
                        ("DEFAULT", "avx512_core_bf16"), ("NONSENSE", "avx512_core_bf16")]:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", value)
        assert cpu_path.onednn_path() == {PATH_KEY: want, "onednn.max_isa": value}
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=SSE4_2 --xla_dump_to=/d --xla_cpu_max_isa=AVX2")
    assert cpu_path.xla_path() == {PATH_KEY: "avx2", "xla.max_isa": "AVX2"}  # the last one, as XLA reads it
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=AMX")
    assert cpu_path.xla_path()[PATH_KEY] == "avx512_bf16"  # a cap above the host changes nothing


def test_code_path_contract(target) -> None:
    got = target.code_path()
    assert isinstance(got, dict) and isinstance(got.get(PATH_KEY), str) and got[PATH_KEY], got
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in got.items()), got


# --- each cap changes what the framework itself reports ----------------------------------------------------

_TORCH = """
    import json, torch
    from targets import cpu_path
    print("RESULT " + json.dumps({"raw": torch.backends.cpu.get_cpu_capability(), "reader": cpu_path.torch_path()}))
"""


def test_torch_cap() -> None:
    _need("torch")
    _x86_only()
    default = _start(_TORCH, _clean_env(ATEN_CPU_CAPABILITY="default"))
    capped_ = _start(_TORCH, capped_environ(base=_clean_env()))
    low, _, _ = _finish(default, "torch, ATEN_CPU_CAPABILITY=default")
    cap, _, _ = _finish(capped_, "torch, AVX2_CAP")
    assert low["raw"] == "DEFAULT" and low["reader"][PATH_KEY] == "baseline", low
    assert cap["raw"] in ("AVX2", "DEFAULT"), cap
    assert cap["reader"] == {PATH_KEY: normalize(cap["raw"]), "torch.cpu_capability": cap["raw"]}, cap
    if HOST_HAS_AVX2:  # the cap is not merely "nothing vectorized"
        assert cap["raw"] == "AVX2", cap


_NUMPY = """
    import json
    from targets import cpu_path
    print("RESULT " + json.dumps(cpu_path.numpy_path()))
"""


def _numpy_groups() -> None:
    try:
        umath = importlib.import_module("numpy._core._multiarray_umath")
    except ImportError:  # NumPy 1.x
        umath = importlib.import_module("numpy.core._multiarray_umath")
    if "X86_V3" not in getattr(umath, "__cpu_dispatch__", []):
        pytest.skip(f"NumPy {np.__version__} has no X86_V3 dispatch group (NumPy >= 2.4 on x86-64 has)")


def test_numpy_cap() -> None:
    """Every cap level takes NumPy to min(its native level, the cap's): on a Sapphire Rapids avx512_icl,
    x86_v4, x86_v3, baseline; a level the CPU lacks is no change. X86_V3 alone does not do it there: the
    AVX512_ICL and AVX512_SPR groups are dispatched apart from X86_V3/X86_V4 and stay on."""
    _x86_only()
    _numpy_groups()
    order = cpu_path.LADDERS["numpy"]
    native_level = cpu_path.host_level("numpy")
    # -W always: NumPy reports a name it cannot disable as an ImportWarning, which is otherwise hidden
    procs = {c: _start(_NUMPY, capped_environ(c, base=_clean_env()), "-W", "always") for c in cpu_path.CAP_LEVELS}
    for cap_level, proc in procs.items():
        got, out, err = _finish(proc, f"numpy, capped at {cap_level}")
        limit = cpu_path.CAP_LIMITS[cap_level]["numpy"]
        want = min(native_level, limit, key=order.index)
        assert got[PATH_KEY] == want, (cap_level, got)
        assert got["numpy.disabled"] == cpu_path.CAPS[cap_level]["NPY_DISABLE_CPU_FEATURES"], got
        assert err == "" and out.startswith("RESULT "), f"NumPy printed something capped at {cap_level}:\n{out}\n{err}"
        # and each float loop NumPy reports runs at or below the cap
        for part in filter(None, got.get("numpy.loops", "").split("; ")):
            for loop in part.split(": ", 1)[1].split(", "):
                target = loop.split()[1].lower()
                assert target not in order or order.index(target) <= order.index(limit), (cap_level, part)


def test_numpy_native_level_is_the_cpus() -> None:
    """What NumPy enables natively is the level the CPU's flags give (the table of test_levels_of_each_cpu_family
    is NumPy's own grouping)."""
    _x86_only()
    _numpy_groups()
    plain, _, _ = _finish(_start(_NUMPY, _clean_env()), "numpy, no cap")
    assert plain[PATH_KEY] == cpu_path.host_level("numpy"), plain


_TF_MATMUL = """
    import json, tensorflow as tf
    from targets import cpu_path
    a = tf.random.uniform((64, 64), dtype=tf.float32)
    tf.linalg.matmul(a, a).numpy()  # oneDNN's first primitive: it prints its isa line now
    print("RESULT " + json.dumps(cpu_path.onednn_path()), flush=True)
"""
_VERBOSE = {"ONEDNN_VERBOSE": "1", "TF_ENABLE_ONEDNN_OPTS": "1"}


def _isa_lines(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if "isa:" in line)


def test_onednn_cap() -> None:
    _need("tensorflow")
    _x86_only()
    # the two TensorFlow processes of this file, run at once
    sse41_p = _start(_TF_MATMUL, _clean_env(ONEDNN_MAX_CPU_ISA="SSE41", **_VERBOSE))
    cap_p = _start(_TF_MATMUL, capped_environ(base=_clean_env(**_VERBOSE)))
    sse41, out, err = _finish(sse41_p, "tensorflow, ONEDNN_MAX_CPU_ISA=SSE41")
    low = _isa_lines(out + err)
    cap, out, err = _finish(cap_p, "tensorflow, AVX2_CAP")
    avx2 = _isa_lines(out + err)
    if not low and not avx2:
        pytest.skip("oneDNN printed no 'isa:' line for a float32 matmul with ONEDNN_VERBOSE=1: this TensorFlow "
                    "build does not route it through oneDNN")
    assert "SSE4.1" in low and "AVX" not in low, low
    assert avx2 and "AVX-512" not in avx2 and "AVX512" not in avx2, avx2
    assert sse41[PATH_KEY] == "sse41" and cpu_path.within_cap(cap, "avx2"), (sse41, cap)
    if HOST_HAS_AVX2:  # the cap is not merely "oneDNN off"
        assert "AVX2" in avx2 and cap[PATH_KEY] == "avx2", (avx2, cap)


# The four readers in one process under the whole AVX2_CAP. onednn_path and xla_path read the environment
# only, so TensorFlow and JAX need not load here; their own evidence is test_onednn_cap's and test_xla_cap's.
_ALL = """
    import json, numpy, torch
    from targets import cpu_path
    print("RESULT " + json.dumps({
        "torch": cpu_path.torch_path(), "numpy": cpu_path.numpy_path(),
        "onednn": cpu_path.onednn_path(), "xla": cpu_path.xla_path(),
    }), flush=True)
"""


@pytest.mark.parametrize("level", ["avx2", "baseline"])
def test_cap_holds_all_four_readers(level: str) -> None:
    _need("torch")
    _x86_only()
    got, _, _ = _finish(_start(_ALL, capped_environ(level, base=_clean_env())), f"the four readers capped at {level}")
    for framework, path in got.items():
        assert cpu_path.within_cap(path, level), (framework, path)
        native = cpu_path.host_level(framework)
        order = cpu_path.LADDERS[framework]
        # at the cap's level exactly, where the CPU reaches it
        assert path[PATH_KEY] == min(native, cpu_path.CAP_LIMITS[level][framework], key=order.index), (framework, path)
    want = cpu_path.CAP_LIMITS[level]
    assert got["onednn"]["onednn.max_isa"] == want["onednn"].upper() and \
        got["xla"]["xla.max_isa"] == want["xla"].upper(), got


_XLA = """
    import json, numpy as np, jax
    from targets import cpu_path
    x = np.linspace(-5, 5, 1024, dtype=np.float32)
    jax.jit(jax.nn.softplus)(x).block_until_ready()
    print("RESULT " + json.dumps(cpu_path.xla_path()))
"""
_YMM = re.compile(r"%ymm\d+")
_AVX512_REGS = re.compile(r"%zmm\d+|%[xy]mm(?:1[6-9]|2\d|3[01])\b|%k[0-7]\b")  # EVEX-only registers


def _softplus_code(dump: Path, what: str) -> tuple[str, str]:
    """(disassembly of every object XLA dumped for jit_softplus, its debug_options text)."""
    objects = sorted(dump.glob("*jit_softplus*.o"))
    options = sorted(dump.glob("*jit_softplus*debug_options"))
    assert objects and options, f"{what}: XLA dumped no object or options for jit_softplus: {sorted(dump.iterdir())}"
    tool = shutil.which("objdump") or shutil.which("llvm-objdump")
    code = "".join(subprocess.run([tool, "-d", str(o)], capture_output=True, text=True, check=True).stdout
                   for o in objects)
    assert "ret" in code, f"{what}: the disassembly holds no function"
    return code, "".join(p.read_text() for p in options)


def test_xla_cap(tmp_path: Path) -> None:
    _need("jax")
    _x86_only()
    if not (shutil.which("objdump") or shutil.which("llvm-objdump")):
        pytest.skip("no objdump or llvm-objdump to disassemble XLA's dumped machine code")
    low_dir, cap_dir = tmp_path / "sse4_2", tmp_path / "avx2"
    low_env = _clean_env(XLA_FLAGS=f"--xla_cpu_max_isa=SSE4_2 --xla_dump_to={low_dir}")
    cap_env = capped_environ(base=_clean_env(XLA_FLAGS=f"--xla_dump_to={cap_dir}"))
    low_p, cap_p = _start(_XLA, low_env), _start(_XLA, cap_env)
    low_out, cap_out = _wait(low_p, "jax, SSE4_2"), _wait(cap_p, "jax, AVX2_CAP")
    errors = low_out[1] + cap_out[1]
    if re.search(r"Unknown flags? in XLA_FLAGS.*xla_cpu_max_isa|Unknown CPU ISA", errors):
        pytest.skip(f"this jaxlib does not take --xla_cpu_max_isa=SSE4_2/AVX2: {errors[-500:]}")
    low, _, _ = _finish(low_p, "jax, --xla_cpu_max_isa=SSE4_2", low_out)
    cap, _, _ = _finish(cap_p, "jax, AVX2_CAP", cap_out)
    low_code, low_opts = _softplus_code(low_dir, "SSE4_2")
    cap_code, cap_opts = _softplus_code(cap_dir, "AVX2")
    assert 'xla_cpu_max_isa: "SSE4_2"' in low_opts and 'xla_cpu_max_isa: "AVX2"' in cap_opts
    assert low == {PATH_KEY: "sse4_2", "xla.max_isa": "SSE4_2"}, low
    assert cpu_path.within_cap(cap, "avx2") and cap["xla.max_isa"] == "AVX2", cap
    assert not _YMM.search(low_code) and not _AVX512_REGS.search(low_code), "256-bit code under SSE4_2"
    assert not _AVX512_REGS.search(cap_code), f"AVX-512 registers under AVX2: {_AVX512_REGS.search(cap_code)}"
    if HOST_HAS_AVX2:  # the criterion sees wide code where there is some: it is not vacuous
        assert _YMM.search(cap_code), "no ymm register in XLA's AVX2 code for softplus"
