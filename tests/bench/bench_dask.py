"""The exhaustive torch-cpu float32 run on a Dask LocalCluster against the local process pool, same machine.

Long (two runs over all 2**32 inputs): run explicitly, on an otherwise idle machine:

    pytest tests/bench/bench_dask.py --benchmark-only --benchmark-json=reports/reference/benchmarks/dask-2cores.json

Both legs run the same Work (engine.execute) on the same number of single-threaded worker processes and give
the same tally (checked here): the difference is the executor's own cost — task scheduling, the state built
once per worker, results through the scheduler instead of a pipe. Each benchmark stores its input count in
extra_info["values"] (values/s = values / mean time) and the tally's digest, so the two are seen to agree.
"""

from __future__ import annotations

import hashlib
import json

import pytest

JOBS = 2
FN = "softplus"


def _run(executor):
    from engine.exhaustive import run_exhaustive
    from targets.registry import get_target

    return run_exhaustive(get_target("torch-cpu"), "float32", FN, executor=executor)


def _record(benchmark, executor_name: str, tally) -> None:
    digest = hashlib.sha256(json.dumps(tally.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
    benchmark.extra_info.update(values=tally.n, jobs=JOBS, executor=executor_name, fn=FN, tally_sha256=digest,
                                max_ulp=tally.max_ulp)


@pytest.mark.parametrize("executor", ["local-pool", "dask-local"])
def test_exhaustive_torch_cpu_float32(benchmark, executor):
    from engine.execute import DaskCluster, LocalPool

    ex = LocalPool(JOBS) if executor == "local-pool" else DaskCluster("local", JOBS)
    try:
        tally = benchmark.pedantic(_run, args=(ex,), rounds=1, iterations=1)
    finally:
        ex.close()
    _record(benchmark, ex.label, tally)
    assert tally.n == 1 << 32
