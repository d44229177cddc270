"""Exhaustive runs on a real Dask cluster: a ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1.

The verdicts of ``report --exhaustive --dask ADDRESS`` must equal those of the local pool, to the last bit;
a target that raises, hangs or kills its worker there is reported with its cause and input range; a
checkpoint written on the cluster resumes on the pool and the other way round.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed", reason="the 'dask' extra (distributed) is not installed")

from engine.execute import DaskCluster, LocalPool, held_work  # noqa: E402
from engine.exhaustive import run_exhaustive  # noqa: E402
from engine.measure import ExhaustiveFailed  # noqa: E402
from softplus_cert.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DASK = str(Path(sys.executable).with_name("dask"))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    # a crashing task fails at once instead of being retried on every worker in turn
    env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = "0"
    return env


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """The address of a scheduler with two single-threaded workers (each under a nanny), all processes."""
    d = tmp_path_factory.mktemp("dask")
    info = d / "scheduler.json"
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(info)], env=_env(), cwd=d,
                              stdout=subprocess.DEVNULL, stderr=open(d / "scheduler.log", "w"))]
    try:
        for _ in range(300):
            if info.exists() and info.stat().st_size:
                break
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        for i in range(2):
            procs.append(subprocess.Popen([DASK, "worker", address, "--nthreads", "1", "--nworkers", "1",
                                           "--host", "127.0.0.1", "--no-dashboard", "--memory-limit", "0"],
                                          env=_env(), cwd=d, stdout=subprocess.DEVNULL,
                                          stderr=open(d / f"worker-{i}.log", "w")))
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def _two_workers(address: str) -> distributed.Client:
    client = distributed.Client(address, timeout=30)
    client.wait_for_workers(2, timeout=120)
    return client


def _verdicts(out: Path) -> list[dict]:
    doc = json.loads((out / "accuracy.json").read_text())
    return [{k: v for k, v in rec.items() if k != "elapsed_s"} for rec in doc["verdicts"]]


def test_an_exhaustive_run_on_the_cluster_gives_the_local_verdicts(scheduler, tmp_path):
    common = ["report", "--exhaustive", "--dtypes", "float16,bfloat16", "--targets", "numpy-log1p,numpy-stable",
              "--betas", "1", "--thresholds", "default", "--skip-speed", "--skip-layout", "--quiet",
              "--chunk", "4096"]
    assert main(common + ["--jobs", "2", "--out", str(tmp_path / "pool")]) == 0
    with _two_workers(scheduler) as client:
        before = {w: set(h) for w, h in client.run(held_work).items()}
        assert main(common + ["--dask", scheduler, "--out", str(tmp_path / "dask")]) == 0
        after = {w: set(h) for w, h in client.run(held_work).items()}
    # both workers computed pieces of this run (each holds the state of Works it had not held before)
    assert len(after) == 2 and all(after[w] - before.get(w, set()) for w in after)
    local, cluster = _verdicts(tmp_path / "pool"), _verdicts(tmp_path / "dask")
    assert len(local) == 8 and {v["status"] for v in local} == {"ok"}
    assert cluster == local


@pytest.mark.parametrize("mode, words", [
    ("raise_some", r"raised .* \(in inputs x from "),
    ("segfault", r"crashed: a Dask worker died .* while judging inputs x from "),
    ("hang", r"timed out: no piece finished within 4 s on the Dask cluster \(from inputs x from "),
])
def test_a_failing_target_on_the_cluster_is_reported_with_its_cause(scheduler, mode, words):
    from tests.reliability.hostile_targets import Broken

    with _two_workers(scheduler):
        pass
    with DaskCluster(scheduler) as ex:
        with pytest.raises(ExhaustiveFailed, match=words):
            run_exhaustive(Broken("broken", mode), "float16", "softplus", chunk=4096, piece=2, executor=ex,
                           timeout=4)
    with _two_workers(scheduler) as client:  # the nannies bring the killed or hung workers back
        assert len(client.scheduler_info()["workers"]) == 2


def test_a_checkpoint_resumes_across_executors(scheduler, tmp_path):
    from targets.registry import get_target

    t = get_target("numpy-log1p")
    ckpt = tmp_path / "run.jsonl"
    whole = run_exhaustive(t, "bfloat16", "softplus_grad", chunk=2048, piece=2, executor=LocalPool(2),
                           checkpoint=ckpt, identity={"run": 1})
    lines = ckpt.read_text().splitlines()
    assert len(lines) == 1 + 16
    ckpt.write_text("\n".join(lines[:9]) + "\n")  # half the pieces lost, as after a kill
    seen = []
    with DaskCluster(scheduler) as ex:
        resumed = run_exhaustive(t, "bfloat16", "softplus_grad", chunk=2048, piece=2, executor=ex,
                                 checkpoint=ckpt, identity={"run": 1}, progress=lambda d, n: seen.append(d))
    assert seen[0] == 8 * 2 * 2048  # the pieces the checkpoint held were not computed again
    assert resumed.to_dict() == whole.to_dict()
