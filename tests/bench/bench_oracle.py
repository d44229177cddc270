"""Oracle throughput (values/s), recorded by pytest-benchmark.

Run: pytest tests/bench/bench_oracle.py --benchmark-only --benchmark-json=bench-oracle.json
Goals (issue 2): all float16+bfloat16 inputs, both functions, < 5 s cold and < 0.2 s from the disk cache;
float32 >= 5e6 values/s and float64 >= 5e4 values/s on one core.
"""

import numpy as np
import pytest

import oracle
from oracle import cache
from oracle.formats import get_format

N32 = 1_000_000
N64 = 20_000


def _all_16_bit():
    for name in ("float16", "bfloat16"):
        x = get_format(name).all_values()
        oracle.softplus(x)
        oracle.softplus_grad(x)


def _bit_uniform(name, n, seed=0):
    fmt = get_format(name)
    raw = np.random.default_rng(seed).integers(0, 1 << fmt.bits, n, dtype=np.uint64).astype(fmt.uint)
    return fmt.from_bits(raw)


def test_tables_cold(benchmark, tmp_path, monkeypatch):
    counter = iter(range(10 ** 6))

    def setup():  # a fresh, empty cache directory for every round
        monkeypatch.setenv("SOFTPLUS_CERT_CACHE", str(tmp_path / str(next(counter))))
        cache.clear_memory()

    benchmark.extra_info["values"] = 4 * 65536
    benchmark.pedantic(_all_16_bit, setup=setup, rounds=3)


def test_tables_from_disk(benchmark, tmp_path, monkeypatch):
    monkeypatch.setenv("SOFTPLUS_CERT_CACHE", str(tmp_path))
    _all_16_bit()
    benchmark.extra_info["values"] = 4 * 65536
    benchmark.pedantic(_all_16_bit, setup=cache.clear_memory, rounds=10)


@pytest.mark.parametrize("fn", [oracle.softplus, oracle.softplus_grad], ids=["softplus", "softplus_grad"])
def test_float32_throughput(benchmark, fn):
    x = _bit_uniform("float32", N32)
    fn(x[:1000])  # warm the imports
    benchmark.extra_info["values"] = N32
    benchmark.pedantic(fn, args=(x,), rounds=5)


@pytest.mark.parametrize("fn", [oracle.softplus, oracle.softplus_grad], ids=["softplus", "softplus_grad"])
def test_float64_throughput(benchmark, fn):
    x = _bit_uniform("float64", N64)
    fn(x[:100])
    benchmark.extra_info["values"] = N64
    benchmark.pedantic(fn, args=(x,), rounds=3)
