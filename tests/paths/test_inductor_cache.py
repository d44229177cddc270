"""The torch defect this suite found (examples/findings/inductor-cache-isa), and that certify flags it.

Inductor keys its on-disk caches without the CPU capability, so a run capped at AVX2 that shares the native
run's cache loads AVX-512 code and returns wrong values. ``certify`` natively fills a cache; ``certify
--max-isa avx2`` on that same cache (``SOFTPLUS_CERT_SHARED_COMPILE_CACHE=1``) must then fail, naming
softplus(+0) among the wrong special values. (Without the variable every cap level has a cache of its own;
the certification suite's capped path runs torch-compile that way and holds.)
"""

import importlib.util
import re
import shutil

import pytest

from softplus_cert.cli import main
from targets import cpu_path

ARGS = ["certify", "--targets", "torch-compile", "--dtypes", "float32", "--functions", "softplus", "--betas", "1",
        "--thresholds", "default", "--skip-layout", "--quiet", "--samples", "2000"]


def test_a_shared_inductor_cache_breaks_the_capped_run_and_certify_says_so(tmp_path, monkeypatch, capfd):
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    if shutil.which("g++") is None and shutil.which("c++") is None:
        pytest.skip("no C++ compiler for Inductor (g++)")
    if cpu_path.host_isa() != "avx512":
        pytest.skip(f"the defect needs code compiled for AVX-512 served to an AVX2-capped run; this CPU's best "
                    f"ISA is {cpu_path.host_isa()}, so native and capped compile the same code")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    assert main([*ARGS, "--out", str(tmp_path / "native")]) == 0
    capfd.readouterr()
    monkeypatch.setenv(cpu_path.SHARED_CACHE_VAR, "1")
    assert main([*ARGS, "--max-isa", "avx2", "--out", str(tmp_path / "capped")]) == 1
    err = capfd.readouterr().err
    assert re.search(r"torch-compile float32 softplus \(beta=1, threshold=default\): \d+ wrong special values", err), err
    # softplus(+0) = log 2 (0.6931471824645996 in float32) came back as something else
    assert re.search(r"'\+0': \{'result': [^}]*'expected': 0\.6931471824645996, 'ok': False\}", err), err
