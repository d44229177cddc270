"""A crash in what the run asks a target before computing (its check, availability, path, versions) is that
target's finding: the other targets are judged, the reports written, the exit status says it (issue 32).

The planted targets (``probe_crash_targets.py``) compute correctly; their questions kill the process that
asks them. Without isolation of those questions the run itself dies (the OpenVINO probe of bfloat16 under
``--max-isa avx2`` on an AVX-512 machine did, with SIGSEGV and nothing written).
"""

import json
from pathlib import Path

import pytest

from softplus_cert.cli import main
from targets.registry import scratch_registry


@pytest.fixture(autouse=True)
def _own_registry():
    """These probes crash whoever asks them: loaded into a registry of each test's own, they do not stay
    registered for a later test (in the same worker) that lists every target in this process."""
    with scratch_registry():
        yield

PLUGIN = str(Path(__file__).with_name("probe_crash_targets.py"))


def _verdicts(out: Path) -> dict[tuple[str, str], dict]:
    doc = json.loads((out / "accuracy.json").read_text())
    return {(v["target"], v["format"]): v for v in doc["verdicts"]}


def test_report_names_each_crashing_probe_and_judges_the_rest(tmp_path, capsys):
    out = tmp_path / "out"
    planted = ["probe-crash-check", "probe-crash-check-f16", "probe-crash-availability", "probe-crash-code-path",
               "probe-crash-versions"]
    code = main(["report", "--target-module", PLUGIN, "--targets", ",".join(planted + ["numpy-logaddexp"]),
                 "--dtypes", "float16,float32", "--functions", "softplus", "--betas", "1", "--samples", "2000",
                 "--skip-speed", "--skip-layout", "--quiet", "--out", str(out)])
    assert code == 3
    v = _verdicts(out)
    for fmt in ("float16", "float32"):
        assert v[("numpy-logaddexp", fmt)]["status"] == "ok"
        assert v[("probe-crash-check", fmt)]["reason"] == f"crashed: SIGSEGV while probing check({fmt})"
    # a crash probing one format leaves the others judged
    assert v[("probe-crash-check-f16", "float16")]["reason"] == "crashed: SIGSEGV while probing check(float16)"
    assert v[("probe-crash-check-f16", "float32")]["status"] == "ok"
    # a crash of the whole target's survey: its first verdict says how, the next one that it was skipped
    for name, how in (("probe-crash-availability", "SIGABRT while probing availability()"),
                      ("probe-crash-code-path", "SIGSEGV while probing code_path()"),
                      ("probe-crash-versions", "SIGSEGV while probing versions()")):
        assert v[(name, "float16")]["status"] == "error" and v[(name, "float16")]["reason"] == f"crashed: {how}"
        assert v[(name, "float32")]["reason"] == f"skipped: an earlier probe of this run crashed: {how}"
    err = capsys.readouterr().err.split("not measured:")[1]
    for name in planted:
        assert f"{name} float16 softplus beta=1 threshold=default: crashed: " in err
    assert "numpy-logaddexp" not in err


def test_certify_fails_on_a_crashing_check_and_still_judges_the_good_target(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["certify", "--target-module", PLUGIN, "--targets", "probe-crash-check,numpy-logaddexp",
                 "--dtypes", "float16", "--functions", "softplus", "--betas", "1", "--skip-layout", "--quiet",
                 "--out", str(out)])
    assert code == 1
    v = _verdicts(out)
    assert v[("numpy-logaddexp", "float16")]["status"] == "ok"
    assert v[("probe-crash-check", "float16")]["status"] == "error"
    err = capsys.readouterr().err
    assert ("probe-crash-check float16 softplus (beta=1, threshold=default): crashed: SIGSEGV while probing "
            "check(float16)") in err


def test_a_hanging_check_costs_one_timeout_and_its_other_format_is_judged(tmp_path):
    out = tmp_path / "out"
    code = main(["report", "--target-module", PLUGIN, "--targets", "probe-hang-check-f16,numpy-logaddexp",
                 "--dtypes", "float16,float32", "--betas", "1", "--samples", "2000", "--timeout", "5",
                 "--skip-speed", "--skip-layout", "--quiet", "--out", str(out)])
    assert code == 3
    doc = json.loads((out / "accuracy.json").read_text())
    hung = [(v["format"], v["fn"], v["reason"]) for v in doc["verdicts"] if v["target"] == "probe-hang-check-f16"]
    assert hung == [("float16", "softplus", "timed out after 5 s probing check(float16)"),
                    ("float16", "softplus_grad",
                     "skipped: an earlier probe of this run timed out after 5 s probing check(float16)"),
                    ("float32", "softplus", None), ("float32", "softplus_grad", None)]
    assert all(v["status"] == "ok" for v in doc["verdicts"] if v["format"] == "float32" or
               v["target"] == "numpy-logaddexp")


def test_selection_starts_one_worker_per_target_and_asks_each_question_once(monkeypatch):
    import engine.isolation as isolation
    from softplus_cert.run import select

    started = []
    real = isolation.WorkerProcess.__init__

    def counting(self, ref, *a, **k):
        started.append(ref.name)
        real(self, ref, *a, **k)

    monkeypatch.setattr(isolation.WorkerProcess, "__init__", counting)
    sel = select(["probe-crash-none", "probe-crash-check-f16"], modules=[PLUGIN], formats=["float16", "float32"],
                 functions=["softplus", "softplus_grad"], betas=[1.0])
    try:
        got = {(c.target.name, c.fmt, c.fn) for c in sel.todo}
        assert got == {(name, fmt, fn) for name in ("probe-crash-none", "probe-crash-check-f16")
                       for fmt in ("float16", "float32") for fn in ("softplus", "softplus_grad")}
        # one worker each, and one more where a probe crashed it (float16 of probe-crash-check-f16)
        assert sorted(started) == ["probe-crash-check-f16", "probe-crash-check-f16", "probe-crash-none"]
        good, crashed = sel.targets
        assert good.previous_failure("float16", "softplus") is None
        assert crashed.previous_failure("float32", "softplus") is None
        assert crashed.previous_failure("float16", "softplus") == "crashed: SIGSEGV while probing check(float16)"
        assert crashed.previous_failure("float16", "softplus_grad") == (
            "skipped: an earlier probe of this run crashed: SIGSEGV while probing check(float16)")
        assert good.versions() == {"probe-crash": "1"} and good.code_path()["path"]
        assert len(started) == 3  # the answers were cached by the survey
    finally:
        for t in sel.targets:
            t.close()


def test_openvino_bfloat16_capped_at_avx2_no_longer_kills_the_run(tmp_path):
    pytest.importorskip("openvino")
    from targets.cpu_path import host_isa

    if host_isa() != "avx512":
        pytest.skip(f"the CPU's best ISA is {host_isa()}: a cap at AVX2 changes nothing here")
    out = tmp_path / "out"
    # --max-isa runs the command again in a capped process (softplus_cert.cli._rerun_capped): its exit status
    code = main(["certify", "--max-isa", "avx2", "--targets", "openvino", "--dtypes", "bfloat16", "--skip-layout",
                 "--quiet", "--out", str(out)])
    assert code in (0, 1)
    assert (out / "accuracy.json").is_file()
    for v in _verdicts(out).values():
        assert v["status"] == "ok" or "crashed: SIG" in v["reason"] or v["reason"].startswith("skipped: ")


def test_openvino_probe_of_bfloat16_capped_at_avx2_is_a_reason_not_a_crash():
    pytest.importorskip("openvino")
    import targets
    from targets.cpu_path import cap_changes, host_isa
    from engine.isolation import IsolatedTarget

    if host_isa() != "avx512":
        pytest.skip(f"the CPU's best ISA is {host_isa()}: a cap at AVX2 changes nothing here")
    ov = IsolatedTarget(targets.get_target("openvino"), env=cap_changes())
    try:
        reason = ov.check("bfloat16")  # asked of the capped worker, not of this (uncapped) process
        assert reason is not None and reason.startswith("bfloat16 is not supported")
        if "BF16" in ov.code_path()["openvino.capabilities"]:  # the plugin claims bf16: the probe must not run it
            assert "oneDNN is capped at avx2" in reason and "so it is not run" in reason
        assert ov.previous_failure("bfloat16", "softplus") is None  # declined, not crashed
        assert ov.check("float32") is None
    finally:
        ov.close()
