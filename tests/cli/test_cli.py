"""The command line: exit codes, one-line errors, report files."""

import json

import pytest

from engine.stored import REPORT_SCHEMA
from softplus_cert.cli import main

FAST = ["--targets", "numpy-stable", "--dtypes", "float8_e5m2", "--betas", "1", "--quiet"]
SPEED = ["--sizes", "small", "--repeats", "2", "--min-time", "0.001"]


def test_report_writes_parseable_files(tmp_path, capsys, monkeypatch):
    import engine.training as training
    import softplus_cert.run as library

    real = training.run_training  # the quick torch-only benchmark: the CLI's wiring is what is tested here
    monkeypatch.setattr(library, "run_training", lambda **kw: real(frameworks=["torch"], quick=True, **kw))
    assert main(["report", *FAST, *SPEED, "--out", str(tmp_path)]) == 0
    assert (tmp_path / "index.html").read_text().startswith("<!DOCTYPE html>")
    speed = json.loads((tmp_path / "speed.json").read_text())
    assert speed["schema"].startswith("softplus-cert/speed/") and speed["records"]
    assert "| numpy-stable |" in (tmp_path / "speed.md").read_text()
    doc = json.loads((tmp_path / "accuracy.json").read_text())
    assert doc["schema"] == REPORT_SCHEMA and doc["environment"]["seed"] == 0
    assert {v["fn"] for v in doc["verdicts"]} == {"softplus", "softplus_grad"}
    assert "numpy" in doc["environment"]["packages"]
    md = (tmp_path / "accuracy.md").read_text()
    assert "## float8_e5m2" in md and "| numpy-stable |" in md
    assert md.index("## Summary") < md.index("## float8_e5m2")
    torch_runs = speed["training"]["results"]["torch"]
    assert set(torch_runs) == {"mlp", "act-heavy"}
    for r in torch_runs.values():
        assert r["ratio"] == pytest.approx(r["softplus_s"] / r["relu_s"])
    assert "the claim" in (tmp_path / "speed.md").read_text()
    assert 'id="training"' in (tmp_path / "index.html").read_text()


def test_certify_exit_codes(tmp_path, capsys):
    assert main(["certify", *FAST, "--out", str(tmp_path)]) == 0
    strict = tmp_path / "strict.toml"
    strict.write_text('target = "numpy-stable"\n[[budget]]\nmax_ulp = 0.5\nreason = "demand correct rounding"\n')
    assert main(["certify", *FAST, "--out", str(tmp_path), "--certificate", str(strict)]) == 1
    err = capsys.readouterr().err
    assert "budget(s) broken" in err and "numpy-stable float8_e5m2" in err


@pytest.mark.parametrize("argv, words", [
    (["report", "--targets", "no-such-target"], "no-such-target"),
    (["report", "--dtypes", "float128"], "float128"),
    (["report", "--functions", "tanh"], "tanh"),
    (["certify", "--certificate", "/nonexistent.toml"], "cannot read"),
    (["report", "--target-module", "/nonexistent/plugin.py"], "cannot load target module"),
    (["list", "--target-module", "/nonexistent/plugin.py"], "cannot load target module"),
])
def test_usage_errors_exit_2_in_one_line(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0] and "Traceback" not in err[0]


@pytest.mark.parametrize("argv", [["report", "--betas", "0"], ["report", "--betas", "nan"],
                                  ["report", "--thresholds", "nan"], ["eval", "1", "--beta", "-1"]])
def test_bad_parameters_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_unwritable_output_dir(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["report", *FAST, "--out", str(blocker / "sub")]) == 2
    assert "not writable" in capsys.readouterr().err


def test_eval_prints_correctly_rounded_values(capsys):
    assert main(["eval", "--dtype", "float32", "0", "-2"]) == 0
    out = capsys.readouterr().out
    assert "0.6931471824645996" in out  # log 2 rounded to float32: 0x3f317218
    assert "0x3f317218" in out


def test_list_shows_unavailable_with_reason(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "torch-cpu" in out and ("torch-cuda" in out)
