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


def test_host_path_is_host_isa() -> None:
    assert cpu_path.host_path() == {PATH_KEY: HOST, "cpu.isa": HOST}


def test_avx2_cap_names_every_framework() -> None:
    assert AVX2_CAP["ATEN_CPU_CAPABILITY"] == "avx2"
    assert AVX2_CAP["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert AVX2_CAP["XLA_FLAGS"] == "--xla_cpu_max_isa=AVX2"
    groups = AVX2_CAP["NPY_DISABLE_CPU_FEATURES"].split()
    assert groups and all(normalize(g) == "avx512" for g in groups)


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
    monkeypatch.setattr(cpu_path, "host_isa", lambda: "avx512")
    for var in STEERING:
        monkeypatch.delenv(var, raising=False)
    assert cpu_path.onednn_path() == {PATH_KEY: "avx512", "onednn.max_isa": "(unset)"}
    assert cpu_path.xla_path() == {PATH_KEY: "avx512", "xla.max_isa": "(unset)"}
    for value, want in [("AVX2", "avx2"), ("SSE41", "baseline"), ("AVX512_CORE_AMX", "avx512"),
                        ("DEFAULT", "avx512"), ("NONSENSE", "avx512")]:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", value)
        assert cpu_path.onednn_path() == {PATH_KEY: want, "onednn.max_isa": value}
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=SSE4_2 --xla_dump_to=/d --xla_cpu_max_isa=AVX2")
    assert cpu_path.xla_path() == {PATH_KEY: "avx2", "xla.max_isa": "AVX2"}  # the last one, as XLA reads it
    monkeypatch.setattr(cpu_path, "host_isa", lambda: "avx")
    assert cpu_path.xla_path()[PATH_KEY] == "avx"  # a cap above the host changes nothing


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
    _x86_only()
    _numpy_groups()
    # -W always: NumPy reports a name it cannot disable as an ImportWarning, which is otherwise hidden
    no_v3 = _start(_NUMPY, _clean_env(NPY_DISABLE_CPU_FEATURES="X86_V3"))
    capped_ = _start(_NUMPY, capped_environ(base=_clean_env()), "-W", "always")
    low, _, _ = _finish(no_v3, "numpy, NPY_DISABLE_CPU_FEATURES=X86_V3")
    cap, out, err = _finish(capped_, "numpy, AVX2_CAP")
    assert _rank(low[PATH_KEY]) < _rank("avx2"), low
    assert low["numpy.disabled"] == "X86_V3", low
    assert cap[PATH_KEY] != "avx512", cap
    assert cap["numpy.disabled"] == AVX2_CAP["NPY_DISABLE_CPU_FEATURES"], cap
    assert err == "" and out.startswith("RESULT "), f"NumPy printed something under AVX2_CAP:\n{out}\n{err}"
    if HOST_HAS_AVX2:
        assert cap[PATH_KEY] == "avx2", cap


def test_numpy_is_avx512_without_the_cap_on_an_avx512_host() -> None:
    if HOST != "avx512":
        pytest.skip(f"this host has no AVX-512 (host_isa() = {HOST!r}): the cap has nothing to take away here")
    _numpy_groups()
    plain, _, _ = _finish(_start(_NUMPY, _clean_env()), "numpy, no cap")
    assert plain[PATH_KEY] == "avx512", plain


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
    assert sse41[PATH_KEY] == "baseline" and cap[PATH_KEY] != "avx512", (sse41, cap)
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


def test_avx2_cap_holds_all_four_readers() -> None:
    _need("torch")
    _x86_only()
    got, _, _ = _finish(_start(_ALL, capped_environ(base=_clean_env())), "the four readers under AVX2_CAP")
    for framework, path in got.items():
        assert path[PATH_KEY] != "avx512", (framework, path)
        if HOST_HAS_AVX2:
            assert path[PATH_KEY] == "avx2", (framework, path)
    assert got["onednn"]["onednn.max_isa"] == "AVX2" and got["xla"]["xla.max_isa"] == "AVX2", got


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
    assert low == {PATH_KEY: "baseline", "xla.max_isa": "SSE4_2"}, low
    assert cap[PATH_KEY] != "avx512" and cap["xla.max_isa"] == "AVX2", cap
    assert not _YMM.search(low_code) and not _AVX512_REGS.search(low_code), "256-bit code under SSE4_2"
    assert not _AVX512_REGS.search(cap_code), f"AVX-512 registers under AVX2: {_AVX512_REGS.search(cap_code)}"
    if HOST_HAS_AVX2:  # the criterion sees wide code where there is some: it is not vacuous
        assert _YMM.search(cap_code), "no ymm register in XLA's AVX2 code for softplus"
