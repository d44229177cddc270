"""A real regression is caught on the native path and capped at AVX2, by the built-in certificate.

planted_band.py moves numpy-logaddexp's float16 softplus one ulp on 16 inputs; held to numpy-logaddexp's
own certificate (renamed), ``certify`` passes without the band and fails with it, natively and under
``--max-isa avx2`` (a child process whose frameworks are capped), naming an input of the band.
"""

import re
from pathlib import Path

import pytest

import targets
from reports.cli import main

PLUGIN = str(Path(__file__).with_name("planted_band.py"))


@pytest.fixture
def certificate(tmp_path):
    text = (Path(targets.__file__).parent / "certificates" / "numpy-logaddexp.toml").read_text()
    path = tmp_path / "planted.toml"
    path.write_text(text.replace('target = "numpy-logaddexp"', 'target = "planted-logaddexp"'))
    return path


@pytest.mark.parametrize("cap", [[], ["--max-isa", "avx2"]], ids=["native", "avx2"])
def test_the_band_is_caught_on_both_paths(tmp_path, certificate, monkeypatch, capfd, cap):
    argv = ["certify", "--target-module", PLUGIN, "--targets", "planted-logaddexp", "--dtypes", "float16",
            "--functions", "softplus", "--betas", "1", "--skip-layout", "--quiet", "--certificate",
            str(certificate), *cap]
    monkeypatch.setenv("PLANTED_BAND", "off")
    assert main([*argv, "--out", str(tmp_path / "clean")]) == 0
    monkeypatch.setenv("PLANTED_BAND", "on")
    assert main([*argv, "--out", str(tmp_path / "planted")]) == 1
    err = capfd.readouterr().err
    found = re.search(r"planted-logaddexp float16 softplus \(beta=1, threshold=default\): max error (\S+) ulp > "
                      r"budget \S+ at x = (\S+):", err)
    assert found, err
    # one ulp off a correctly rounded result (which errs by at most 1/2): between 1/2 and 3/2 ulp
    assert 0.5 < float(found[1]) <= 1.5 and 3.0 <= float(found[2]) < 3.03125
