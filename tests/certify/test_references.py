"""Every committed reference report of an instruction-set path holds under the built-in certificates.

The certificates are drafted from these reports (``softplus-cert draft-certificate``, one ``--report`` per
path); holding each of them again, verdicts and layout reports alike, is the check that the drafting kept
every measured path's figures: 0 violations. Among them the Sapphire Rapids run that failed 4 budgets when
its NumPy paths were labelled like a Zen 4's, and the same machine capped at every lower CPU family.
"""

from pathlib import Path

import pytest

from reports.accuracy import load_json, load_layout
from softplus_cert.certify import hold, load_certificates

REFERENCE = Path(__file__).resolve().parents[2] / "reports" / "reference"
REPORTS = sorted([*REFERENCE.glob("sapphire-rapids/**/*.json.gz"), REFERENCE / "accuracy.json",
                  REFERENCE / "exhaustive-float32" / "accuracy.json"])


@pytest.mark.parametrize("report", REPORTS, ids=[str(p.relative_to(REFERENCE)) for p in REPORTS])
def test_reference_report_holds_under_the_certificates(report):
    verdicts, env = load_json(report)
    got = hold(load_certificates(), verdicts, load_layout(report))
    assert got.holds, f"{len(got.violations)} violations:\n" + "\n".join(got.violations[:20])
    # and the paths it holds on are the ones it was measured on, not a fallback
    paths = {v.path for v in verdicts if v.status == "ok"}
    assert paths and "" not in paths and "unknown" not in paths, paths


def test_the_sapphire_rapids_report_is_judged_on_its_own_paths():
    verdicts, env = load_json(REFERENCE / "sapphire-rapids" / "accuracy.json.gz")
    by_target = {v.target: v.path for v in verdicts if v.status == "ok"}
    assert by_target["numpy-stable"] == "avx512_spr" and by_target["tf-naive"] == "avx512_core_amx"
    assert by_target["jax-softplus"] == "amx" and by_target["scipy-softplus"] == "glibc-fma"
    assert env["cpu_levels"] == {"numpy": "avx512_spr", "torch": "avx512", "onednn": "avx512_core_amx", "xla": "amx"}
