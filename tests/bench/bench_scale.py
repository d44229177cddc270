"""Throughput at scale (exhaustive float32, float64 volume), recorded by pytest-benchmark.

Long (the exhaustive run takes minutes): run explicitly, on an otherwise idle machine:

    pytest tests/bench/bench_scale.py --benchmark-only --benchmark-json=.benchmarks/scale.json

Goals (issue 6), for 2 cores:
* the oracle's float32 path (correctly rounded results of whole chunks, as the exhaustive run computes
  them) at >= 20 million values/s across 2 worker processes;
* an exhaustive float32 run of torch-cpu softplus (forward): all 2**32 inputs judged in <= 10 minutes;
* the oracle's float64 path at >= 50,000 values/s per core, for the judge's use (rounding and ulp error);
* a sample of 10 million float64 inputs judged in minutes.
Each benchmark stores its input count in extra_info["values"]: values/s = values / mean time.
"""

import concurrent.futures as cf
import multiprocessing as mp

import numpy as np
import pytest

CHUNKS = 64  # stream chunks of 2**20 for the float32 oracle benchmark, spread evenly over the stream


def _oracle_chunk(c: int, fn: str) -> int:
    from oracle.evaluate import correctly_rounded
    from engine.exhaustive import CHUNK, stream_values
    from engine.workers import keep_freed_memory
    from oracle.formats import get_format

    keep_freed_memory()
    x = stream_values(get_format("float32"), c * CHUNK, (c + 1) * CHUNK)
    return int(correctly_rounded(x, fn).size)


@pytest.fixture(scope="module")
def pool():
    with cf.ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as ex:
        list(ex.map(_oracle_chunk, [0, 1], ["softplus"] * 2))  # start both workers, warm the imports
        yield ex


@pytest.mark.parametrize("fn", ["softplus", "softplus_grad"])
def test_oracle_float32_two_cores(benchmark, pool, fn):
    chunks = [i * (4096 // CHUNKS) for i in range(CHUNKS)]

    def run():
        return sum(pool.map(_oracle_chunk, chunks, [fn] * len(chunks)))

    benchmark.extra_info["values"] = CHUNKS << 20
    benchmark.extra_info["processes"] = 2
    assert benchmark.pedantic(run, rounds=3) == CHUNKS << 20


@pytest.mark.parametrize("fn", ["softplus", "softplus_grad"])
def test_oracle_float64_judge_path_one_core(benchmark, fn):
    from oracle.ulp import errors_and_rounding

    raw = np.random.default_rng(0).integers(0, 1 << 64, 20_000, dtype=np.uint64)
    x = raw.view(np.float64)
    y = x.copy()  # any float64 results: the cost is the oracle's
    benchmark.extra_info["values"] = x.size
    benchmark.pedantic(errors_and_rounding, args=(y, x, fn), rounds=3)


def test_exhaustive_torch_cpu_float32_softplus(benchmark):
    import targets
    from engine.case import Case
    from engine.exhaustive import boundary_record, exhaustive_verdict, run_exhaustive

    t = targets.get_target("torch-cpu")
    if targets.reason_unavailable(t):
        pytest.fail(f"torch-cpu is not available: {targets.reason_unavailable(t)}")
    tally = benchmark.pedantic(run_exhaustive, args=(t, "float32", "softplus"), kwargs={"jobs": 2}, rounds=1)
    v = exhaustive_verdict(t.name, Case("float32"), tally,
                           boundary=boundary_record(t, Case("float32")))
    benchmark.extra_info.update(values=1 << 32, jobs=2, max_ulp=v.max_ulp, mean_ulp=v.mean_ulp,
                                correctly_rounded_fraction=v.correctly_rounded_fraction,
                                worst=[w.x for w in v.worst[:3]], underflow_onset=v.underflow_onset)
    assert v.n_inputs == 1 << 32 and tally.n == 1 << 32


def test_float64_sample_of_ten_million(benchmark):
    import targets
    from engine.inputs import input_set
    from engine.judge import judge

    inputs = input_set("float64", "softplus", n=10_000_000, seed=0)
    v = benchmark.pedantic(judge, args=(targets.get_target("torch-cpu"), "float64", "softplus"),
                           kwargs={"inputs": inputs, "jobs": 2}, rounds=1)
    benchmark.extra_info.update(values=int(inputs.x.size), jobs=2, max_ulp=v.max_ulp)
    assert v.status == "ok" and v.n_inputs == inputs.x.size
