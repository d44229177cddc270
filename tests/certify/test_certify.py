"""Certify every available target against its certificate, with the judge.

Each combination is judged on its full input set (every value of the 8- and 16-bit formats; a seeded
bit-uniform sample plus the boundary sets for float32/float64), and the Verdict is held to the budget of
the target's certificate. A failure names target, format, function, parameters, worst input and values.
For the sampled formats, hypothesis searches further (boundary points among its examples) and shrinks
any failure to a minimal input.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import oracle
from oracle.formats import get_format
from oracle.judge import judge


def _certificate(certificates, target):
    return certificates.get(target.name) or certificates["*"]


def _check_path(r, cpu_path):
    """The cap must have reached the framework: a capped run that still dispatched AVX-512 proves nothing.
    (A plugin that reports no path of its own gets the CPU's, which no cap changes: nothing to check.)"""
    if cpu_path == "avx2" and "cpu.isa" not in r.code_path:
        assert r.path not in ("avx512", "unknown"), f"{r.target}: capped at AVX2 but reports {r.code_path}"


def test_certify(combo, cpu_path, on_path, certificates, record_property, pytestconfig):
    v = judge(on_path(combo.target, cpu_path), combo.fmt, combo.fn, combo.beta, combo.threshold,
              n=pytestconfig.getoption("--samples"), seed=pytestconfig.getoption("--seed"))
    _check_path(v, cpu_path)
    cert = _certificate(certificates, combo.target)
    for line in cert.loose(v):
        record_property("loose_budget", line)
    violations = cert.check(v)
    assert not violations, f"certificate {cert.path}:\n" + "\n".join(x.message for x in violations)


@pytest.mark.sampled_only
def test_certify_hypothesis(combo, certificates):
    from oracle.inputs import boundary_points

    fmt = get_format(combo.fmt)
    t = combo.target
    cert = _certificate(certificates, t)
    from oracle.judge import Verdict, code_path_of

    budget = cert.budget_for(Verdict(t.name, fmt.name, combo.fn, combo.beta, combo.threshold,
                                     code_path=code_path_of(t)))
    if budget is None:
        pytest.fail(f"no budget in {cert.path} covers {combo.id}")
    max_ulp = budget.limits["max_finite_ulp"]  # non-finite results have allowances of their own
    switches = t.switch_points(fmt.name, combo.beta, combo.threshold)
    pts = np.concatenate(list(boundary_points(fmt, combo.fn, combo.beta, switches).values()))
    pts = [float(p) for p in oracle.evaluate.to_float64(pts) if np.isfinite(p)]
    width = fmt.bits
    strategy = st.one_of(st.sampled_from(pts), st.floats(width=width, allow_nan=False, allow_infinity=False))
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
def test_certify_layout(combo, cpu_path, on_path, certificates, pytestconfig):
    """The same inputs at other positions, lengths, strides and thread counts give the same bits, up to
    the certificate's stated ``layout_differences``."""
    from oracle.consistency import layout_check

    r = layout_check(on_path(combo.target, cpu_path), combo.fmt, combo.fn, combo.beta, combo.threshold,
                     seed=pytestconfig.getoption("--seed"))
    _check_path(r, cpu_path)
    cert = _certificate(certificates, combo.target)
    violations = cert.check_layout(r)
    assert not violations, f"certificate {cert.path}:\n" + "\n".join(x.message for x in violations)
