"""Every target isolated, a dead target costs one timeout, and the exit status tells what was not measured.

The plugin ``local_targets.py`` builds its targets inside ``get_targets()`` and gives them a lock and a lambda:
they do not pickle, so a worker can only get them by loading the file again (``targets.locate``).
"""

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

import oracle
import targets
from softplus_cert.cli import main
from engine.isolation import IsolatedTarget, TargetCrashed, TargetRaised, TargetSkipped, TargetTimeout
from targets.locate import NotSendable

LOCAL = str(Path(__file__).with_name("local_targets.py"))


@pytest.fixture(scope="module")
def local():
    return {t.name: t for t in targets.load_target_module(LOCAL, strict=True)}


def test_unpicklable_plugin_targets_run_in_a_worker_that_loads_the_plugin(local):
    good = local["local-good"]
    with pytest.raises(Exception):
        pickle.dumps(good)  # the premise: pickling cannot be how it travels
    iso = IsolatedTarget(good, timeout=60)
    assert iso.ref.kind == "module" and iso.ref.spec == str(Path(LOCAL).resolve())
    x = np.array([-3.0, 0.0, 1.5, 30.0], dtype=np.float32)
    y = iso.softplus(x, 2.0)
    assert y.dtype == np.float32 and np.array_equal(y, oracle.softplus(x, 2.0))
    iso.close()


def test_each_failure_of_an_unpicklable_target_comes_back_as_its_kind(local):
    x = np.array([1.0], dtype=np.float16)
    with pytest.raises(TargetRaised, match="kernel launch failed"):
        IsolatedTarget(local["local-raise"], timeout=60).softplus(x)
    with pytest.raises(TargetCrashed, match="SIGSEGV"):
        IsolatedTarget(local["local-segfault"], timeout=60).softplus(x)
    with pytest.raises(TargetRaised, match="returned float64 for float16 input"):
        IsolatedTarget(local["local-float64"], timeout=60).softplus(x)


def test_a_timed_out_call_kind_is_skipped_afterwards_and_other_kinds_still_run(local):
    hang = IsolatedTarget(local["local-hang"], timeout=6)
    x16 = np.array([1.0], dtype=np.float16)
    with pytest.raises(TargetTimeout):
        hang.softplus(x16)
    assert hang.previous_failure("float16", "softplus") == (
        "skipped: an earlier float16 softplus call of this run timed out after 6 s")
    with pytest.raises(TargetSkipped, match="^skipped: an earlier float16 softplus call"):
        hang.softplus(x16, 2.0)  # another parameter set of the same kind: not waited for again
    assert hang.previous_failure("float16", "softplus_grad") is None
    assert hang.previous_failure("float32", "softplus") is None
    # a crash is remembered the same way, per kind
    seg = IsolatedTarget(local["local-segfault"], timeout=60)
    with pytest.raises(TargetCrashed):
        seg.softplus_grad(np.array([1.0], dtype=np.float32))
    with pytest.raises(TargetSkipped, match="float32 softplus_grad call of this run crashed: SIGSEGV"):
        seg.softplus_grad(np.array([2.0], dtype=np.float32))


def test_a_target_the_worker_cannot_load_is_one_failure_then_skipped(local):
    iso = IsolatedTarget(local["local-good"], timeout=60, env={"LOCAL_TARGETS_FAIL_IN_WORKER": "1"})
    with pytest.raises(TargetRaised, match="accelerator library is not installed.*loading the target"):
        iso.softplus(np.array([1.0], dtype=np.float32))
    reason = iso.previous_failure("float16", "softplus_grad")  # every kind, not only the one tried
    assert reason.startswith("skipped: the target could not be loaded in a worker") and "accelerator" in reason


def test_a_target_without_a_source_that_does_not_pickle_is_refused_with_the_way_out(tmp_path, monkeypatch, capsys):
    with pytest.raises(NotSendable, match=r"cannot run in a worker process: it is not registered.*--no-isolation"):
        IsolatedTarget(_Unregistered())
    # through the CLI: a usage error before anything runs, never a silent run in this process
    with targets.registry.scratch_registry():
        targets.register_target(_Unregistered())
        assert main(["report", "--targets", "unregistered-lambda", "--quiet", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "registered in code" in err[0] and "--no-isolation" in err[0]


class _Unregistered(targets.Target):
    name = "unregistered-lambda"
    formats = ("float16",)

    def __init__(self):
        self.f = lambda x: x

    def compute(self, x, beta, threshold):
        return oracle.softplus(x)

    compute_grad = compute


def _run(tmp_path, *argv):
    out = tmp_path / "out"
    code = main([*argv, "--target-module", LOCAL, "--quiet", "--out", str(out)])
    return code, json.loads((out / "accuracy.json").read_text()), out


def test_report_with_a_hanging_target_waits_once_per_kind_and_exits_3(tmp_path, capsys):
    code, doc, out = _run(tmp_path, "report", "--targets", "local-hang,local-good", "--dtypes", "float16",
                          "--betas", "1", "2", "--timeout", "6", "--sizes", "small", "--repeats", "1",
                          "--min-time", "0.001", "--skip-training")
    assert code == 3
    hang = [v for v in doc["verdicts"] if v["target"] == "local-hang"]
    for fn in ("softplus", "softplus_grad"):
        reasons = [v["reason"] for v in hang if v["fn"] == fn]
        # one timeout per (format, function); every later call of that kind was skipped, not waited for
        assert reasons == ["timed out after 6 s",
                           f"skipped: an earlier float16 {fn} call of this run timed out after 6 s"]
    assert all(v["status"] == "ok" for v in doc["verdicts"] if v["target"] == "local-good")
    phases = {(s["phase"], s["fn"]) for s in doc["skipped"] if s["target"] == "local-hang"}
    assert phases == {(p, fn) for p in ("accuracy", "layout", "agreement") for fn in ("softplus", "softplus_grad")}
    speed = json.loads((out / "speed.json").read_text())["records"]
    assert {r["status"] for r in speed if r["target"] == "local-hang"} == {"error"}
    assert all(r["reason"].startswith("skipped: an earlier float16") for r in speed if r["target"] == "local-hang")
    assert {r["status"] for r in speed if r["target"] == "local-good"} == {"ok"}
    assert "## Skipped after a failure" in (out / "accuracy.md").read_text()
    err = capsys.readouterr().err.strip().splitlines()
    first = next(i for i, line in enumerate(err) if line.startswith("not measured:"))
    listed = err[first + 1:]  # the last lines: every unmeasured combination, nothing after them
    assert listed and all(line.startswith("  local-hang float16 ") for line in listed)
    assert any("beta=2 threshold=default: skipped: an earlier float16 softplus call" in line for line in listed)


def test_report_exits_0_when_everything_was_measured(tmp_path):
    code, doc, _ = _run(tmp_path, "report", "--targets", "local-good", "--dtypes", "float16", "--betas", "1",
                        "--skip-speed")
    assert code == 0 and doc["skipped"] == []


def test_certify_names_each_failure_of_four_local_targets_and_still_judges_torch(tmp_path, capsys):
    pytest.importorskip("torch")
    code, doc, _ = _run(tmp_path, "certify", "--targets",
                        "local-raise,local-hang,local-segfault,local-float64,torch-cpu", "--dtypes", "float16",
                        "--functions", "softplus", "--betas", "1", "--thresholds", "default", "--timeout", "5")
    assert code == 1
    by = {v["target"]: v for v in doc["verdicts"]}
    assert by["torch-cpu"]["status"] == "ok" and by["torch-cpu"]["max_ulp"] <= 1
    err = capsys.readouterr().err
    for line in ("local-raise float16 softplus (beta=1, threshold=default): raised RuntimeError: kernel launch failed",
                 "local-hang float16 softplus (beta=1, threshold=default): timed out after 5 s",
                 "local-segfault float16 softplus (beta=1, threshold=default): crashed: SIGSEGV",
                 "local-float64 float16 softplus (beta=1, threshold=default): raised TargetOutputError: "
                 "local-float64.softplus returned float64 for float16 input"):
        assert line in err
    assert "torch-cpu float16 softplus" not in err.split("not measured:")[1]


def test_no_isolation_runs_the_target_in_this_process(tmp_path, monkeypatch):
    started = []
    import engine.isolation as isolation

    monkeypatch.setattr(isolation.WorkerProcess, "__init__", lambda *a, **k: started.append(1) or 1 / 0)
    code, doc, _ = _run(tmp_path, "report", "--targets", "local-good", "--dtypes", "float16", "--betas", "1",
                        "--skip-speed", "--skip-layout", "--no-isolation")
    assert code == 0 and not started and {v["status"] for v in doc["verdicts"]} == {"ok"}


def test_exhaustive_pool_remembers_a_hang_for_later_phases(local):
    from engine.exhaustive import ExhaustiveFailed, run_exhaustive

    iso = IsolatedTarget(local["local-hang"], timeout=60)
    with pytest.raises(ExhaustiveFailed, match="timed out"):
        run_exhaustive(iso, "float16", "softplus", jobs=1, chunk=1 << 14, timeout=3)
    assert iso.previous_failure("float16", "softplus") == (
        "skipped: an earlier float16 softplus call of this run timed out after 3 s")
    with pytest.raises(ExhaustiveFailed, match="^skipped: "):
        run_exhaustive(iso, "float16", "softplus", jobs=1, chunk=1 << 14, timeout=3)


def test_exhaustive_pool_runs_unpicklable_targets(local):
    from engine.exhaustive import run_exhaustive

    tally = run_exhaustive(IsolatedTarget(local["local-good"]), "float16", "softplus", jobs=2, chunk=1 << 14)
    assert tally.n == 1 << 16 and tally.max_ulp <= 0.5


def test_a_plain_target_with_attributes_named_like_the_suites_own_runs_on_the_pool(local):
    """``ref`` and ``env`` on a plugin's target are its own business: the pool locates it by its source."""
    from engine.exhaustive import run_exhaustive

    good = local["local-good"]
    assert good.ref and good.env  # the premise: both attributes are there, and are not the suite's
    tally = run_exhaustive(good, "float16", "softplus", jobs=2, chunk=1 << 14)
    assert tally.n == 1 << 16 and tally.max_ulp <= 0.5
