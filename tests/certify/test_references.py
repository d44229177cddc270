"""Every committed reference report of an instruction-set path holds under the built-in certificates.

The certificates are drafted from these reports (``softplus-cert draft-certificate``, one ``--report`` per
path); holding each of them again, verdicts and layout reports alike, is the check that the drafting kept
every measured path's figures: 0 violations. Among them the Sapphire Rapids run that failed 4 budgets when
its NumPy paths were labelled like a Zen 4's, and the same machine capped at every lower CPU family.
"""

from pathlib import Path

import pytest

from engine.stored import load_json, load_layout
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


def test_no_measured_error_exceeds_the_bound_derived_for_its_input():
    """The derivation (oracle.derive over targets.error_models) against every real kernel these reports
    measured: at each worst input of each verdict of a target with an error model, the error any
    implementation within the stated bounds can make is at least the error measured there. A model that
    forgets a rounding (torch's β converted to float32, say) fails this on real data."""
    import math

    import numpy as np

    import targets
    from oracle.derive import derive
    from oracle.formats import get_format

    checked = 0
    for report in REPORTS:
        verdicts, _ = load_json(report)
        for v in verdicts:
            model = targets.get_target(v.target).error_model() if v.status == "ok" else None
            worst = [w for w in v.worst_finite if math.isfinite(w.ulp) and math.isfinite(w.x)]
            if model is None or not worst:
                continue
            x = np.array([w.x for w in worst]).astype(get_format(v.format).dtype)
            d = derive(model.formula(v.fn, v.beta, v.threshold), v.format, v.fn, v.beta, x, model.bounds(v.format))
            # within the method's own precision (oracle.derive: at most 2**-10 ulp of the format, long double)
            slack = 2.0 ** -10 + 1e-9 * max(w.ulp for w in worst)
            assert d.max_finite_ulp >= max(w.ulp for w in worst) - slack or d.nonfinite_inputs or d.nan_inputs, \
                (str(report), v.target, v.format, v.fn, v.beta, v.threshold, d, worst[0])
            checked += 1
    assert checked > 1000, checked
