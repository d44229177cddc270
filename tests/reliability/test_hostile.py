"""Broken targets never break the suite: each is reported with its cause, and the run goes on."""

import json
from pathlib import Path

import pytest

from softplus_cert.cli import main

PLUGIN = str(Path(__file__).with_name("hostile_targets.py"))


def _report(tmp_path, names, *extra):
    out = tmp_path / "out"
    code = main(["report", "--target-module", PLUGIN, "--targets", ",".join(names), "--functions", "softplus",
                 "--quiet", "--out", str(out), "--timeout", "20", "--memory-limit", "6G", "--skip-speed", *extra])
    doc = json.loads((out / "accuracy.json").read_text())
    return code, {v["target"]: v for v in doc["verdicts"]}


def test_every_kind_of_breakage_is_reported_and_the_run_goes_on(tmp_path):
    names = ["hostile-raise_all", "hostile-raise_some", "hostile-segfault", "hostile-abort", "hostile-memory",
             "hostile-wrong_dtype", "hostile-wrong_shape", "hostile-list", "hostile-tensor", "hostile-nan",
             "hostile-fine"]
    code, v = _report(tmp_path, names)
    assert code == 3  # reports written, some combinations not measured
    assert v["hostile-fine"]["status"] == "ok" and v["hostile-fine"]["max_ulp"] <= 0.5
    assert "raised ValueError: kernel not implemented (on every input tried" in v["hostile-raise_all"]["reason"]
    assert v["hostile-raise_some"]["reason"].startswith("raised ValueError: bad input in batch on 3 of ")
    assert "first: x = -3.0" in v["hostile-raise_some"]["reason"]
    assert v["hostile-segfault"]["reason"] == "crashed: SIGSEGV"
    assert v["hostile-abort"]["reason"] == "crashed: SIGABRT"
    assert "MemoryError" in v["hostile-memory"]["reason"] or "crashed" in v["hostile-memory"]["reason"]
    assert "returned float64 for float16 input" in v["hostile-wrong_dtype"]["reason"]
    assert "returned shape" in v["hostile-wrong_shape"]["reason"]
    assert "returned builtins.list instead of a NumPy array" in v["hostile-list"]["reason"]
    assert "returned torch.Tensor instead of a NumPy array" in v["hostile-tensor"]["reason"]
    assert v["hostile-nan"]["status"] == "ok" and v["hostile-nan"]["nan_count"] > 0


def test_a_hang_times_out_and_certify_fails(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["certify", "--target-module", PLUGIN, "--targets", "hostile-hang,hostile-fine",
                 "--functions", "softplus", "--quiet", "--out", str(out), "--timeout", "3"])
    assert code == 1
    err = capsys.readouterr().err
    assert "hostile-hang float16 softplus" in err and "timed out after 3 s" in err
    doc = json.loads((out / "accuracy.json").read_text())
    assert {v["target"]: v["status"] for v in doc["verdicts"]} == {"hostile-hang": "error", "hostile-fine": "ok"}


def test_same_seed_gives_identical_json_timings_aside(tmp_path):
    def run(sub):
        out = tmp_path / sub
        assert main(["report", "--targets", "numpy-stable,torch-cpu", "--dtypes", "float32,float8_e5m2",
                     "--betas", "1", "--thresholds", "default", "--samples", "500", "--seed", "3",
                     "--quiet", "--skip-speed", "--out", str(out)]) == 0
        doc = json.loads((out / "accuracy.json").read_text())
        for record in doc["verdicts"] + doc["layout"]:  # timings aside
            record.pop("elapsed_s")
        for key in ("date", "command"):
            doc["environment"].pop(key)
        return doc

    assert run("a") == run("b")


def test_ctrl_c_writes_what_finished(tmp_path, monkeypatch, capsys):
    import engine.sweep as acc

    real = acc.judge
    calls = []

    def judge_then_interrupt(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(acc, "judge", judge_then_interrupt)
    out = tmp_path / "out"
    code = main(["report", "--targets", "numpy-stable", "--dtypes", "float8_e5m2,float8_e4m3fn", "--betas", "1",
                 "--quiet", "--no-isolation", "--skip-speed", "--out", str(out)])
    assert code == 130
    doc = json.loads((out / "accuracy.json").read_text())
    assert len(doc["verdicts"]) == 2 and doc["environment"]["complete"] is False
    assert "interrupted: wrote the 2 of 4" in capsys.readouterr().err


def test_timing_a_crashing_target_does_not_end_the_speed_report(tmp_path):
    out = tmp_path / "out"
    assert main(["bench", "--target-module", PLUGIN, "--targets", "hostile-segfault,hostile-fine", "--sizes", "small",
                 "--repeats", "2", "--min-time", "0.001", "--skip-training", "--quiet", "--out", str(out)]) == 3
    doc = json.loads((out / "speed.json").read_text())
    by = {}
    for r in doc["records"]:
        by.setdefault(r["target"], []).append(r)
    assert by["hostile-segfault"][0]["status"] == "error" and by["hostile-segfault"][0]["reason"] == "crashed: SIGSEGV"
    assert all(r["status"] == "ok" for r in by["hostile-fine"])


@pytest.mark.parametrize("isolation", [[], ["--no-isolation"]], ids=["isolated", "in-process"])
def test_read_only_and_strided_results_are_judged_and_a_mutated_input_is_an_error(tmp_path, isolation):
    code, v = _report(tmp_path, ["hostile-readonly", "hostile-strided", "hostile-mutate"], "--skip-layout",
                      *isolation)
    assert code == 3  # the mutating one
    for name in ("hostile-readonly", "hostile-strided"):  # valid results, whatever their flags and strides
        assert v[name]["status"] == "ok" and v[name]["max_ulp"] <= 0.5, v[name]
    reason = v["hostile-mutate"]["reason"]
    assert v["hostile-mutate"]["status"] == "error"
    assert "hostile-mutate.softplus changed its input in place" in reason and "a target must leave its input" in reason


def test_the_callers_inputs_survive_a_target_that_mutates_them():
    import numpy as np

    import targets

    mutate = {t.name: t for t in targets.load_target_module(PLUGIN)}["hostile-mutate"]
    x = np.array([-1.0, 0.5, 2.0], dtype=np.float16)
    with pytest.raises(targets.TargetOutputError, match=r"changed its input in place \(2 of 3 elements\)"):
        mutate.softplus(x)
    assert x.tolist() == [-1.0, 0.5, 2.0]  # put back: the judge measures against the inputs it gave


@pytest.mark.parametrize("source, words", [
    ("raise RuntimeError('CUDA driver too old')\n", ["cannot load target module", "CUDA driver too old"]),
    ("from targets import Target\nimport oracle\n"
     "class T(Target):\n    formats = ('float16',)\n    def __init__(self): self.name = 'twice'\n"
     "    def compute(self, x, b, t): return oracle.softplus(x)\n    compute_grad = compute\n"
     "TARGETS = [T(), T()]\n", ["cannot load target module", "'twice'", "already taken"]),
    ("TARGETS = [42]\n", ["cannot load target module", "expected Target instances"]),
], ids=["raises-at-import", "two-targets-one-name", "not-a-target"])
def test_a_bad_plugin_module_is_one_line_and_exit_2(tmp_path, capsys, source, words):
    plugin = tmp_path / "bad_plugin.py"
    plugin.write_text(source)
    assert main(["report", "--target-module", str(plugin), "--quiet", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(w in err[0] for w in words), err
    assert not (tmp_path / "o").exists()  # nothing ran, nothing written
