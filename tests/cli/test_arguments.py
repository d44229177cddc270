"""One validator per argument (engine.arguments), the same for the command line, the library and the plugin:
a bad value is one line naming the argument, never a traceback or another argument's message."""

from __future__ import annotations

import json

import pytest

from engine import arguments, defaults
from softplus_cert.cli import main
from softplus_cert.run import SelectionError, run_accuracy, select


@pytest.mark.parametrize("argv, says", [
    (["--samples", "-5"], "argument --samples: samples must be at least 1"),
    (["--samples", "x"], "argument --samples: samples must be a whole number"),
    (["--chunk", "0"], "argument --chunk: chunk must be at least 1"),
    (["--jobs", "0"], "argument --jobs: jobs must be at least 1"),
    (["--seed", "-1"], "argument --seed: seed must be at least 0"),
    (["--timeout", "nan"], "argument --timeout: timeout must be a finite number of seconds > 0"),
    (["--betas", "0"], "argument --betas: beta must be finite and > 0"),
    (["--thresholds", "nan"], "argument --thresholds: threshold must not be NaN"),
    (["--memory-limit", "lots"], "argument --memory-limit: memory limit must look like 8G"),
])
def test_a_bad_value_is_one_line_naming_its_argument(argv, says, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["report", "--targets", "numpy-stable", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1 and says in err[0], err


def test_the_library_checks_what_it_is_given_with_the_same_validators(tmp_path):
    sel = select(["numpy-stable"], formats=["float8_e5m2"], functions=["softplus"], betas=[1.0],
                 thresholds=[None], isolation=False)
    for kwargs, says in (({"samples": -5}, "samples must be at least 1"), ({"chunk": 0}, "chunk must be at least 1"),
                         ({"seed": -1}, "seed must be at least 0")):
        with pytest.raises(SelectionError, match=says):
            run_accuracy(sel, tmp_path, quiet=True, **kwargs)
    with pytest.raises(SelectionError, match="beta must be finite and > 0"):
        select(["numpy-stable"], betas=[-1.0], isolation=False)


def test_a_random_seed_is_drawn_once_and_recorded(tmp_path):
    seeds = {arguments.check_seed("random") for _ in range(4)}
    assert len(seeds) > 1 and all(0 <= s < 2 ** 32 for s in seeds)
    out = tmp_path / "r"
    assert main(["report", "--targets", "numpy-stable", "--dtypes", "float32", "--functions", "softplus",
                 "--betas", "1", "--thresholds", "default", "--samples", "100", "--seed", "random", "--skip-speed",
                 "--skip-layout", "--no-isolation", "--quiet", "--out", str(out)]) == 0
    seed = json.loads((out / "accuracy.json").read_text())["environment"]["seed"]
    assert isinstance(seed, int) and seed >= 0


def test_help_reads_the_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for expected in (f"default {defaults.OUT}", f"default {defaults.CHUNK}", f"default {defaults.SPEED_REPEATS}",
                     f"{defaults.SAMPLES['float32']:,}", f"default {defaults.TIMEOUT_S:g}"):
        assert expected in text, expected
