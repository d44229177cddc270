"""The command line of exhaustive runs: report --exhaustive [--shard i/n], merge [--certify]."""

import json
from pathlib import Path

import numpy as np

import pytest

from softplus_cert.cli import main

PLUGIN = str(Path(__file__).with_name("scale_targets.py"))
BASE = ["--target-module", PLUGIN, "--targets", "faulty", "--dtypes", "float16", "--functions", "softplus",
        "--betas", "1", "--thresholds", "default", "--exhaustive", "--chunk", "4096", "--jobs", "1", "--quiet",
        "--skip-layout"]


def _verdicts(path):
    out = json.loads(Path(path).read_text())["verdicts"]
    for v in out:
        v.pop("elapsed_s")
    return out


def test_shards_then_merge_give_the_unsharded_report_and_certify(tmp_path, capsys):
    assert main(["report", *BASE, "--skip-speed", "--out", str(tmp_path / "whole")]) == 0
    for i in (1, 2, 3):
        assert main(["report", *BASE, "--shard", f"{i}/3", "--out", str(tmp_path / "sh")]) == 0
    assert not (tmp_path / "sh" / "checkpoints").exists()  # forgotten once the shard file is written
    capsys.readouterr()
    assert main(["report", *BASE, "--shard", "2/3", "--out", str(tmp_path / "sh")]) == 0
    assert "shard 2/3 is already done" in capsys.readouterr().err
    shards = sorted(str(p) for p in (tmp_path / "sh").glob("shard-*-of-3.json"))
    assert main(["merge", *shards, "--out", str(tmp_path / "merged")]) == 0
    whole, merged = _verdicts(tmp_path / "whole" / "accuracy.json"), _verdicts(tmp_path / "merged" / "accuracy.json")
    assert merged == whole and whole[0]["mode"] == "exhaustive" and whole[0]["n_inputs"] == 65536
    assert (tmp_path / "merged" / "index.html").exists() and (tmp_path / "merged" / "accuracy.md").exists()

    strict = tmp_path / "strict.toml"
    strict.write_text('target = "faulty"\n[[budget]]\nmax_ulp = 0.5\nreason = "correctly rounded"\n')
    capsys.readouterr()
    assert main(["merge", *shards, "--out", str(tmp_path / "m2"), "--certify", "--certificate", str(strict)]) == 1
    err = capsys.readouterr().err
    # the headline maximum is NaN (a NaN result), with that input; the finite maximum has its own
    # non-finite where the truth is finite: every float16 from 11 to 65504 (inf), and the NaN at x = -1
    bits = np.array([11, 65504], dtype=np.float16).view(np.uint16).astype(int)
    nonfinite = bits[1] - bits[0] + 1 + 1
    assert (f"faulty float16 softplus (beta=1, threshold=default): max error nan ulp > budget 0.5 ({nonfinite} "
            "results non-finite where the truth is finite; 1 NaN where it is a number) at x = -1.0: got nan") in err
    # its worst: 0 returned at x = 3, where softplus(3) = log1p(e**3) lies in [2, 4): ulp 2**-9 in float16
    import mpmath

    expected = float(mpmath.log1p(mpmath.exp(3))) / 2.0 ** -9
    assert (f"faulty float16 softplus (beta=1, threshold=default): largest finite error {expected:.7g} ulp > "
            f"budget 0.5 at x = 3.0: got 0.0") in err
    measured = whole[0]
    loose = tmp_path / "loose.toml"
    loose.write_text('target = "faulty"\n[[budget]]\nmax_ulp = 0.5\nreason = "sampled runs"\n'
                     '[[budget]]\nmode = "exhaustive"\nmax_ulp = inf\nmax_finite_ulp = 1600\nnonfinite = 20000\n'
                     'nan = 1\n'
                     'monotonicity_violations = 2\nproperty_failures = 1000\npremature_overflow = true\n'
                     'premature_underflow = true\nreason = "the planted faults, over every input"\n')
    assert measured["nonfinite_count"] < 20000
    assert main(["merge", *shards, "--out", str(tmp_path / "m3"), "--certify", "--certificate", str(loose)]) == 0


@pytest.mark.parametrize("extra, words", [
    (["--shard", "1/2"], "add --exhaustive"),
    (["--shard", "0/2", "--exhaustive"], "i must run from 1 to n"),
    (["--exhaustive", "--dtypes", "float64"], "only float64 is selected"),
    (["--exhaustive", "--jobs", "0"], "jobs must be at least 1"),
])
def test_usage_errors(tmp_path, capsys, extra, words):
    args = ["report", "--targets", "numpy-stable", "--functions", "softplus", "--skip-speed", "--quiet",
            "--out", str(tmp_path)]
    if "--dtypes" not in extra:
        args += ["--dtypes", "float32"]
    try:
        code = main(args + extra)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    assert code == 2 and words in capsys.readouterr().err


def test_merge_refuses_an_incomplete_set(tmp_path, capsys):
    assert main(["report", *BASE, "--shard", "1/2", "--out", str(tmp_path)]) == 0
    assert main(["merge", str(tmp_path / "shard-1-of-2.json"), "--out", str(tmp_path / "m")]) == 2
    assert "missing shard(s) 2/2 of 2" in capsys.readouterr().err
