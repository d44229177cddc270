"""The certification tests: one per target × format × function × (β, threshold) × instruction-set path.

Parametrized by :mod:`softplus_cert.plugin` (``softplus_cert_case``: the combination, ``cpu_path``: "native"
or a cap level of ``targets.cpu_path.CAP_LEVELS``, e.g. "baseline"); collected from here when a backend author asks for them on the command line
(``pytest --softplus-cert-module my_target.py --softplus-cert-target NAME``), and imported by this
repository's own suite (``tests/certify``). Each test judges its combination with the oracle's judge and
fails with the certificate's violation messages (target, format, function, parameters, the worst input, its
result and the correctly rounded one).

* :func:`test_certify` — the Verdict of the whole input set (every value of the 8- and 16-bit formats; a
  seeded bit-uniform sample plus the boundary sets for float32/float64) within its budget, and (with
  ``--softplus-cert-baseline``) no worse than the baseline's verdict of its combination;
* :func:`test_certify_hypothesis` — for the sampled formats, hypothesis searches further (boundary points
  among its examples) and shrinks a failure to a minimal input;
* :func:`test_certify_layout` — the same inputs at other positions, lengths, strides and thread counts give
  the same bits, up to the certificate's ``layout_differences`` (β = 1, default threshold).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oracle
from engine.certificate import certificate_for
from engine.consistency import layout_check
from engine.inputs import boundary_points
from engine.judge import judge
from engine.verdict import Verdict
from oracle.formats import get_format
from oracle.implementation import code_path_of
from targets.cpu_path import within_cap

__all__ = ["test_certify", "test_certify_hypothesis", "test_certify_layout"]


def _check_path(r, cpu_path: str) -> None:
    """The cap must have reached the framework: a capped run that still dispatched above the cap proves
    nothing. (A label on no framework's ladder, e.g. a plugin's CPU level or glibc's libm variant, is one no
    cap changes: nothing to check.)"""
    if cpu_path != "native":
        assert r.path != "unknown" and within_cap(r.code_path, cpu_path), \
            f"{r.target}: capped at {cpu_path} but reports {r.code_path}"


def test_certify(softplus_cert_case, cpu_path, softplus_cert, record_property):
    combo = softplus_cert_case
    v = judge(softplus_cert.on_path(combo.target, cpu_path), combo.case, n=softplus_cert.samples,
              seed=softplus_cert.seed)
    softplus_cert.record(record_property, verdict=v)
    _check_path(v, cpu_path)
    cert = certificate_for(softplus_cert.certificates, combo.target.name)
    for line in cert.loose(v):
        record_property("loose_budget", line)
    worse = softplus_cert.regressions(v)  # [] unless --softplus-cert-baseline holds a better verdict of it
    if cert.expects_failure(v) and not worse:  # a known defect of this path, in the certificate: shown, not passed
        pytest.xfail(f"known defect on path {v.path} ({cert.path}): {v.reason}")
    violations = [x.message for x in cert.check(v)]
    assert not violations and not worse, "\n".join(([f"certificate {cert.path}:"] + violations if violations else [])
                                                   + worse)


@pytest.mark.sampled_only
def test_certify_hypothesis(softplus_cert_case, softplus_cert):
    combo = softplus_cert_case
    fmt = get_format(combo.fmt)
    t = combo.target
    cert = certificate_for(softplus_cert.certificates, t.name)
    budget = cert.budget_for(Verdict(t.name, fmt.name, combo.fn, combo.beta, combo.threshold,
                                     code_path=code_path_of(t)))
    if budget is None:
        pytest.fail(f"no budget in {cert.path} covers {combo.id}")
    max_ulp = budget.limits["max_finite_ulp"]  # non-finite results have allowances of their own
    switches = t.switch_points(fmt.name, combo.beta, combo.threshold)
    pts = np.concatenate(list(boundary_points(fmt, combo.fn, combo.beta, switches).values()))
    pts = [float(p) for p in oracle.evaluate.to_float64(pts) if np.isfinite(p)]
    strategy = st.one_of(st.sampled_from(pts), st.floats(width=fmt.bits, allow_nan=False, allow_infinity=False))
    call = t.softplus if combo.fn == "softplus" else t.softplus_grad

    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def holds(xv):
        x = np.array([xv], dtype=fmt.dtype)
        y = call(x, combo.beta, combo.threshold)
        e = float(oracle.ulp_error(y, x, combo.fn, combo.beta)[0])
        if not np.isfinite(float(y[0])) and (budget.limits["nonfinite"] or budget.limits["nan"]):
            return  # non-finite results are counted against their own allowance by test_certify
        assert e <= max_ulp, (f"{combo.id}: x = {float(x[0])!r} gives {float(y[0])!r}, correctly rounded "
                              f"{float(oracle.correctly_rounded(x, combo.fn, combo.beta)[0])!r}: "
                              f"{e:.4g} ulp > budget {max_ulp:g} ({cert.path})")

    holds()


@pytest.mark.layout_only
def test_certify_layout(softplus_cert_case, cpu_path, softplus_cert, record_property):
    combo = softplus_cert_case
    r = layout_check(softplus_cert.on_path(combo.target, cpu_path), combo.case, seed=softplus_cert.seed)
    softplus_cert.record(record_property, layout=r)
    _check_path(r, cpu_path)
    cert = certificate_for(softplus_cert.certificates, combo.target.name)
    if cert.expects_failure(r):
        pytest.xfail(f"known defect on path {r.path} ({cert.path}): {r.reason}")
    violations = cert.check_layout(r)
    assert not violations, f"certificate {cert.path}:\n" + "\n".join(x.message for x in violations)
