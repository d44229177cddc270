"""A real regression is caught on every CPU path, measured or derived, by the built-in certificate.

planted_band.py moves numpy-logaddexp's float16 softplus one ulp on 16 inputs; held to numpy-logaddexp's
own certificate (renamed), ``certify`` passes without the band and fails with it, natively and capped at
each lower CPU family (``--max-isa``: a child process whose frameworks are capped), naming an input of the
band. On a path nobody measured (arm64's, say) the certificate's derived budget catches it too.
"""

import re
from pathlib import Path

import pytest

import targets
from engine.certificate import load_certificate
from engine.judge import judge
from softplus_cert.cli import main
from targets import cpu_path

PLUGIN = str(Path(__file__).with_name("planted_band.py"))


@pytest.fixture
def certificate(tmp_path):
    text = (Path(targets.__file__).parent / "certificates" / "numpy-logaddexp.toml").read_text()
    path = tmp_path / "planted.toml"
    path.write_text(text.replace('target = "numpy-logaddexp"', 'target = "planted-logaddexp"'))
    return path


@pytest.mark.parametrize("cap", [[], *(["--max-isa", c] for c in cpu_path.CAP_LEVELS)],
                         ids=["native", *cpu_path.CAP_LEVELS])
def test_the_band_is_caught_on_every_path(tmp_path, certificate, monkeypatch, capfd, cap):
    if cap and not cpu_path.cap_reaches(cap[1]):
        pytest.skip(f"capping at {cap[1]} changes nothing on this CPU: the native run is that path")
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


def test_the_band_is_caught_on_a_path_nobody_measured(certificate, monkeypatch):
    """The same verdict, as if it came from a path no certificate entry names: the derived budget holds it.
    And without the band it holds there (the derivation is not merely tight everywhere)."""
    from tests.paths.planted_band import TARGETS

    (planted,) = TARGETS
    cert = load_certificate(certificate)
    for band, caught in (("off", False), ("on", True)):
        monkeypatch.setenv("PLANTED_BAND", band)
        v = judge(planted, "float16", "softplus", 1.0, None)
        v.code_path = {"path": "asimdhp", "numpy.simd": "ASIMDHP"}  # arm64's float16 NumPy loops
        keys = [m.key for m in cert.check(v)]
        assert ("max_ulp" in keys) is caught, (band, [m.message for m in cert.check(v)])
        if caught:
            assert 0.5 < v.max_ulp <= 1.5 and cert.budget_for(v).limits["max_ulp"] < v.max_ulp
