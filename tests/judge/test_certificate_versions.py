"""Certificates know the versions they were drafted on, and certify names the difference (issue: a release
that got worse fails; one that got better shows as loose notices)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from engine.certificate import CertificateError, parse_certificate
from softplus_cert.certify import builtin_certificate_dir, hold
from softplus_cert.draft import distribution_versions

BUDGET = [{"max_ulp": 1.0, "reason": "test"}]


def _cert(drafted_with):
    return parse_certificate({"target": "torch-cpu", "drafted_with": drafted_with, "budget": BUDGET})


def test_drafted_with_is_read_and_checked():
    assert _cert({"torch": "2.13.0+cpu"}).drafted_with == {"torch": "2.13.0+cpu"}
    for bad in ({"torch": 2.13}, {"torch": []}, {"torch": ""}, "2.13"):
        with pytest.raises(CertificateError, match="drafted_with"):
            _cert(bad)


def test_a_different_running_version_is_named_and_the_same_is_not():
    cert = _cert({"torch": "2.13.0+cpu", "numpy": ["2.4.6", "2.3.5"]})
    assert cert.version_changes({"torch": "2.14.1", "numpy": "2.3.5"}) == ["torch 2.13.0+cpu, running 2.14.1"]
    assert cert.version_changes({"torch": "2.13.0+cpu", "numpy": "2.4.6"}) == []
    assert cert.version_changes({}) == []  # a version not recorded in the run: nothing to compare


def test_hold_says_per_target_drafted_on_and_running():
    from engine.verdict import Verdict

    v = Verdict(target="torch-cpu", format="float16", fn="softplus", beta=1.0, threshold=None, status="ok",
                max_ulp=0.5, max_finite_ulp=0.5)
    env = {"targets": {"torch-cpu": {"torch": "2.14.1", "torch.cpu_capability": "AVX2"}}}
    held = hold({"torch-cpu": _cert({"torch": "2.13.0+cpu"})}, [v], env=env)
    assert held.versions == ["torch-cpu: drafted on torch 2.13.0+cpu, running 2.14.1"] and held.holds


def test_only_distributions_count_as_versions():
    env = {"torch": "2.13.0+cpu", "torch.cpu_capability": "AVX512", "TF_ENABLE_ONEDNN_OPTS": "(default)",
           "numpy": "2.4.6", "cxx": "g++ 12"}
    assert distribution_versions(env) == {"torch": "2.13.0+cpu", "numpy": "2.4.6"}


@pytest.mark.parametrize("path", sorted(p for p in builtin_certificate_dir().glob("*.toml") if p.stem != "default"),
                         ids=lambda p: p.stem)
def test_every_built_in_certificate_records_the_versions_of_its_framework(path: Path):
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    framework = {"torch": "torch", "numpy": "numpy", "tf": "tensorflow", "jax": "jax", "scipy": "scipy",
                 "onnxruntime": "onnxruntime", "openvino": "openvino"}[doc["target"].split("-")[0]]
    assert framework in doc.get("drafted_with", {}), f"{path.name} does not record the {framework} it was drafted on"


def test_certify_names_both_versions_and_holds_the_budgets(tmp_path, capsys):
    """The command line, end to end: a certificate drafted on another NumPy still holds, and says so."""
    import numpy as np

    from softplus_cert.cli import main

    text = (builtin_certificate_dir() / "numpy-stable.toml").read_text(encoding="utf-8")
    doc = tomllib.loads(text)
    assert doc["drafted_with"]["numpy"] == np.__version__  # the built-in one: drafted on the NumPy installed here
    cert = tmp_path / "numpy-stable.toml"
    cert.write_text(text.replace(f'numpy = "{np.__version__}"', 'numpy = "1.0.0"'), encoding="utf-8")
    code = main(["certify", "--targets", "numpy-stable", "--dtypes", "float8_e5m2", "--functions", "softplus",
                 "--betas", "1", "--thresholds", "default", "--certificate", str(cert), "--skip-layout", "--quiet",
                 "--no-isolation", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0 and f"numpy-stable: drafted on numpy 1.0.0, running {np.__version__}" in out
