"""Faults planted in targets that are otherwise correctly rounded, and whether the judge finds them.

Each target returns the oracle's correctly rounded value except where its fault is planted; which way a
one-ulp fault steps comes from tests/oracle/independent (exact rationals, no oracle code), where a result
lies near a midpoint from float64. Each fault has its control: the same target unplanted is judged 0 ulp
from correctly rounded, so what a verdict reports is the fault.

* one ulp off in a region, in float64, bfloat16 and both float8 formats;
* the other rounding, only where the exact result lies within 2**-14 ulp of a rounding midpoint: found by
  the judge's near-midpoint boundary set, missed without it and by a uniform sample of the same size;
* one ulp off only at the inputs the certification suite's hypothesis test draws and the judge's input set
  does not hold: the judge misses it, the hypothesis test's own check (run as the suite runs it) finds it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import oracle
import softplus_cert
from oracle.formats import FORMATS, get_format
from softplus_cert import Case, judge, suite
from targets import Params, Target
from tests.oracle import independent

#: fault(x, y, fn, beta) -> the planted results, given the inputs and the correctly rounded results.
Fault = Callable[[np.ndarray, np.ndarray, str, float], np.ndarray]


class Planted(Target):
    """The oracle's correctly rounded values in every format, any β, with ``fault`` applied (None: none)."""

    formats = tuple(FORMATS)
    params = Params(beta=True)

    def __init__(self, name: str, fault: Fault | None = None) -> None:
        self.name, self._fault = name, fault

    def _value(self, x: np.ndarray, fn: str, beta: float) -> np.ndarray:
        y = oracle.softplus(x, beta) if fn == "softplus" else oracle.softplus_grad(x, beta)
        return y if self._fault is None else self._fault(x, y, fn, beta)

    def compute(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        return self._value(x, "softplus", beta)

    def compute_grad(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        return self._value(x, "softplus_grad", beta)


class Recording(Planted):
    """Correctly rounded, and keeps the bit pattern of every input it is called on."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.seen: set[int] = set()  # bit patterns as Python ints

    def _value(self, x: np.ndarray, fn: str, beta: float) -> np.ndarray:
        self.seen.update(int(b) for b in np.asarray(x).reshape(-1).view(get_format(x.dtype).uint))
        return super()._value(x, fn, beta)


def one_ulp_away(x: np.ndarray, y: np.ndarray, fn: str, beta: float, where: np.ndarray) -> np.ndarray:
    """y with the elements at ``where`` moved one step of their format away from the exact f(x) (decided by
    tests/oracle/independent): off by 1 + |exact − y|/ulp ≥ 1 ulp (stepping down across a power of two
    halves the step; a region holds many inputs, so the verdict's maximum is ≥ 1 all the same)."""
    f = get_format(y.dtype)
    out = np.array(y, copy=True)
    flat_x, flat = np.asarray(x).reshape(-1), out.reshape(-1)
    bits = flat.view(f.uint)
    for i in np.flatnonzero(np.asarray(where).reshape(-1)):
        exact = independent.exact_fraction(float(flat_x[i]), beta, fn)
        up = exact < Fraction(float(flat[i])) or bits[i] == 0  # results are ≥ +0: their bits order as values
        bits[i] = bits[i] + f.uint(1) if up else bits[i] - f.uint(1)
    return out


def region_fault(lo: float, hi: float) -> Fault:
    """One ulp away from exact wherever lo ≤ x < hi."""
    def fault(x: np.ndarray, y: np.ndarray, fn: str, beta: float) -> np.ndarray:
        xf = np.asarray(x).astype(np.float64)
        return one_ulp_away(x, y, fn, beta, (xf >= lo) & (xf < hi))
    return fault


def judges_input_set(fmt: str, fn: str, beta: float, n: int, seed: int = 0):
    """The judge's own input set, from the module the public judge lives in (wherever that is moved)."""
    return importlib.import_module(judge.__module__).input_set(fmt, fn, beta, n=n, seed=seed)


def _input_set_of(fmt: str, x: np.ndarray, boundaries: dict | None = None):
    """An input set of the values ``x`` (and the given boundary sets, each a subset of x), of the judge's
    own InputSet type: sorted by value, distinct bit patterns, NaN last."""
    f = get_format(fmt)
    x = np.asarray(x, dtype=f.dtype)
    bits = np.unique(x.view(f.uint))
    xs = bits.view(f.dtype)
    with np.errstate(invalid="ignore"):
        xf = xs.astype(np.float64)
    nan = np.isnan(xf)
    order = np.lexsort((~np.signbit(xf[~nan]), xf[~nan]))  # by value, −0 before +0
    xs = np.concatenate([xs[~nan][order], xs[nan][:1]])
    module = importlib.import_module(judge.__module__)
    return module.InputSet(x=xs, fmt=f, mode="sampled", seed=0, boundaries=dict(boundaries or {}))


def assert_correctly_rounded(v) -> None:
    """The verdict of a target the judge found no fault in: every input correctly rounded, 0 off."""
    assert v.status == "ok", v.reason
    assert v.correctly_rounded_fraction == 1.0 and v.worst == [] and v.max_ulp <= 0.5, (v.max_ulp, v.worst[:3])


# --- one ulp off in a region ----------------------------------------------------------------------------------

@pytest.mark.parametrize("fn", ["softplus", "softplus_grad"])
@pytest.mark.parametrize("fmt", ["float64", "bfloat16", "float8_e4m3fn", "float8_e5m2"])
def test_one_ulp_off_in_a_region_is_reported(fmt: str, fn: str) -> None:
    """One ulp away from exact for 1 ≤ x < 16, else correctly rounded: the verdict reports a maximum of
    at least 1 ulp, not every input correctly rounded, and only inputs of the region among the worst; the
    unplanted target reports 0. Guards against a judge blind to the smallest fault there is, in the widest
    format and in the narrow ones where one ulp is a large relative step (1/8 in float8_e4m3fn)."""
    case = Case(fmt, fn, 1.0, None)
    clean = judge(Planted("clean"), case, n=20_000)
    assert_correctly_rounded(clean)
    v = judge(Planted("one-ulp", region_fault(1.0, 16.0)), case, n=20_000)
    assert v.status == "ok", v.reason
    assert v.max_ulp >= 1.0 and v.max_finite_ulp >= 1.0, v.max_ulp
    assert v.correctly_rounded_fraction < 1.0
    assert v.worst and all(1.0 <= w.x < 16.0 and w.result != w.correct for w in v.worst), v.worst[:3]


# --- the other rounding near midpoints ------------------------------------------------------------------------

#: The fault's reach: inputs whose exact result lies within this many ulps of a rounding midpoint, in
#: -20 < x < 10 (away from underflow to 0 and the linear branch, whose own boundary sets lie near midpoints
#: by construction: the fault is to be found by the near-midpoint set alone).
NEAR, NEAR_LO, NEAR_HI = 2.0 ** -14, -20.0, 10.0


def midpoint_distance(x: np.ndarray, y: np.ndarray, fn: str) -> tuple[np.ndarray, np.ndarray]:
    """(distance of the exact f(x) to the midpoint between y and its neighbour towards f(x), in ulps, inf
    for non-finite or zero results; that neighbour), for float32 x and correctly rounded y, β = 1. The
    exact value in float64 (within 2**-50 relative: 2**-26 of a float32 ulp, far below NEAR); the midpoint
    of two float32 values is exact in float64."""
    f = get_format(x.dtype)
    with np.errstate(all="ignore"):
        xf = x.astype(np.float64)
        exact = np.logaddexp(0.0, xf) if fn == "softplus" else 1.0 / (1.0 + np.exp(-xf))
        yf = y.astype(np.float64)
        bits = y.view(f.uint)
        other = np.where(exact > yf, bits + f.uint(1), bits - f.uint(1)).astype(f.uint).view(f.dtype)
        of = other.astype(np.float64)
        d = np.abs(exact - (yf + of) / 2) / np.abs(of - yf)
    return np.where(np.isfinite(d) & np.isfinite(exact) & (yf > 0), d, np.inf), other


def near_midpoint_fault(x: np.ndarray, y: np.ndarray, fn: str, beta: float) -> np.ndarray:
    """The other rounding (the neighbour across the midpoint) where f(x) lies within NEAR ulp of it."""
    d, other = midpoint_distance(x, y, fn)
    xf = x.astype(np.float64)
    return np.where((d < NEAR) & (xf > NEAR_LO) & (xf < NEAR_HI), other, y)


def test_a_fault_only_near_midpoints_is_caught_by_the_near_midpoint_set() -> None:
    """A target that rounds the wrong way only where f(x) lies within 2**-14 ulp of a midpoint (the hard
    cases of correct rounding: about 1 input in 8,000) is caught by the judge. Measuring the input set
    alone (no search), the wrong results are all at inputs of its near-midpoint boundary set; the same
    input set without that boundary set, and a uniform sample of as many inputs over the range it spans,
    find nothing. Guards against losing the near-midpoint set: without it a sampled format's input set
    certifies such a target correctly rounded."""
    fmt, fn = "float32", "softplus"
    uint = get_format(fmt).uint
    case = Case(fmt, fn, 1.0, None)
    target = Planted("near-midpoint", near_midpoint_fault)
    inputs = judges_input_set(fmt, fn, 1.0, n=2_000)
    near = inputs.boundaries["near_midpoint"]
    assert near.size == 64

    v = judge(target, case, n=2_000)  # the judge as it runs: input set and search
    assert v.correctly_rounded_fraction < 1.0 and v.worst, "the judge missed the near-midpoint fault"

    v = judge(target, case, inputs=inputs, search=False)
    assert v.status == "ok", v.reason
    assert v.correctly_rounded_fraction < 1.0 and v.worst
    assert 0.5 < v.max_finite_ulp <= 0.5 + NEAR, v.max_finite_ulp  # the other rounding: just over 1/2 ulp
    wrong = np.array([w.x for w in v.worst], dtype=np.float32)
    assert np.isin(wrong.view(uint), near.view(uint)).all(), wrong  # found by that set alone
    assert (midpoint_distance(wrong, oracle.softplus(wrong), fn)[0] < NEAR).all()

    # The same inputs without the near-midpoint set: nothing found.
    rest = inputs.x[~np.isin(inputs.x.view(uint), near.view(uint))]
    without = {k: b for k, b in inputs.boundaries.items() if k != "near_midpoint"}
    assert_correctly_rounded(judge(target, case, inputs=_input_set_of(fmt, rest, without), search=False))

    # A uniform sample of as many inputs, over the range the near-midpoint inputs span: none of the
    # planted inputs, and a verdict of 0 ulp.
    lo, hi = float(near.astype(np.float64).min()), float(near.astype(np.float64).max())
    uniform = np.random.default_rng(2024).uniform(lo, hi, near.size).astype(np.float32)
    right = oracle.softplus(uniform)
    assert np.array_equal(near_midpoint_fault(uniform, right, fn, 1.0).view(uint), right.view(uint)), \
        "the uniform sample holds a planted input"
    assert_correctly_rounded(judge(target, case, inputs=_input_set_of(fmt, uniform), search=False))


# --- a fault only the certification suite's hypothesis test reaches -------------------------------------------

def _certificate(tmp_path: Path, name: str, max_ulp: float) -> dict:
    """Certificates holding target ``name`` to ``max_ulp`` (0.75: a one-ulp fault breaks it, a correctly
    rounded value, ≤ 1/2 ulp with the oracle's 2**-20 ulp of measuring, holds)."""
    path = tmp_path / f"{name}.toml"
    path.write_text(f'target = "{name}"\n\n[[budget]]\nmax_ulp = {max_ulp}\nreason = "planted fault test"\n')
    return softplus_cert.load_certificates([path], builtin=False)


def _run_hypothesis_test(target: Target, case: Case, certificates: dict) -> None:
    """softplus_cert.suite.test_certify_hypothesis as the certification suite runs it, for one case."""
    combo = SimpleNamespace(target=target, fmt=case.format.name, fn=case.fn, beta=case.beta,
                            threshold=case.threshold, case=case, id=f"{target.name}-{case.format.name}-{case.fn}")
    suite.test_certify_hypothesis(combo, SimpleNamespace(certificates=certificates))


@pytest.mark.parametrize("fmt", ["float32", "float64"])
def test_a_fault_only_the_hypothesis_test_reaches_is_found_by_it(fmt: str, tmp_path: Path) -> None:
    """One ulp off exactly at the inputs the suite's hypothesis test draws and the judge does not: the
    picks of its floats strategy (simple decimals such as -1.9 and 1e-05, subnormals, large integral
    values near ±1e16), which the judge's default input set (a seeded bit-uniform sample plus the boundary
    sets, which the strategy's other half samples) and its search never call. The judge misses the fault;
    the hypothesis test's own check, run with the suite's strategy and settings, fails naming the input.
    Guards against a hypothesis test that searches nowhere the judge has not already been."""
    case = Case(fmt, "softplus", 1.0, None)
    f = get_format(fmt)
    n = None  # the judge's default sample, as the suite's test_certify judges
    certs = _certificate(tmp_path, "planted", 0.75)

    drawn, judged = Recording("planted"), Recording("planted")
    _run_hypothesis_test(drawn, case, certs)  # passes: correctly rounded
    assert_correctly_rounded(judge(judged, case, n=n))
    only_drawn = sorted(drawn.seen - judged.seen)
    x_only = np.array(only_drawn, dtype=f.uint).view(f.dtype)
    x_only = x_only[np.isfinite(x_only.astype(np.float64))]
    assert x_only.size > 0, "the hypothesis test drew nothing the judge does not judge"
    planted_at = x_only.view(f.uint)  # bit patterns, compared as the format's unsigned integers

    def fault(x: np.ndarray, y: np.ndarray, fn: str, beta: float) -> np.ndarray:
        return one_ulp_away(x, y, fn, beta, np.isin(np.asarray(x).view(f.uint), planted_at))

    assert_correctly_rounded(judge(Planted("planted", fault), case, n=n))  # missed by the judge
    with pytest.raises(AssertionError, match=r"ulp > budget 0\.75") as caught:
        _run_hypothesis_test(Planted("planted", fault), case, certs)
    x_named = float(str(caught.value).split("x = ")[1].split(" gives")[0])
    assert np.array([x_named], dtype=f.dtype).view(f.uint)[0] in planted_at, str(caught.value)
