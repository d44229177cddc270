"""The double-word float64 path (oracle.fast64) against arb and against plain mpmath.

The claim under test: where ``ok``, |f(x) − (vh + vl)| ≤ W·(vh + vl) + 2**-1100. It is checked with arb
enclosures (oracle.exact.enclose at 256 bits) on every region's boundaries, a bit-uniform sample and
hypothesis searches, for β from 1e-3 to 1e30; the rounding decisions and ulp errors built on it are
checked against arb alone and against the independent mpmath/Fraction derivation. Planted faults (a
smaller W, a dropped polynomial term, a zero decision radius) must make the checks fail.
"""

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import inputs
from oracle import fast64
from oracle.evaluate import compute_bits
from oracle.exact import enclose as arb_enclose
from oracle.exact import rounded_and_error
from oracle.formats import get_format
from tests.oracle.independent import exact_fraction, round_fraction

F64 = get_format("float64")
FNS = ("softplus", "softplus_grad")
BETAS = (1e-3, 0.1, 0.5, 1.0, 2.0, 3.0, 10.0, 1e10, 1e30)
ABS = mpmath.ldexp(1, -1100)


def _dyadic(d):
    sign, man, exp = d
    return mpmath.mpf((-man if sign else man, exp))


def claim_check(x, beta, fn, w=fast64.W):
    """(violations, worst relative error, claimed count) of fast64's claim with bound ``w``, by arb."""
    x = np.asarray(x, dtype=np.float64)
    vh, vl, ok = fast64.enclose(x, beta, fn)
    bad, worst = [], 0.0
    with mpmath.workprec(400):
        for i in np.flatnonzero(ok):
            lo, hi = (_dyadic(d) for d in arb_enclose(float(x[i]), beta, fn, 256))
            v = mpmath.mpf(vh[i]) + mpmath.mpf(vl[i])
            radius = mpmath.mpf(w) * v + ABS
            if lo < v - radius or hi > v + radius:
                bad.append(float(x[i]))
            if v > 0:
                worst = max(worst, float(max(hi - v, v - lo) / v))
    return bad, worst, int(ok.sum())


def _neighbours(values, k=3):
    out = []
    for v in values:
        if not math.isfinite(v):
            continue
        lo = hi = float(v)
        out.append(lo)
        for _ in range(k):
            lo, hi = math.nextafter(lo, -math.inf), math.nextafter(hi, math.inf)
            out += [lo, hi]
    return out


def boundary_inputs(beta):
    """x around every place where fast64 changes formula or a claim's reasoning changes, for β."""
    ln = math.log
    e_beta = math.frexp(beta)[1]
    t_points = [2.0 ** -60, 2.0 ** -40, 2.0 ** -31, fast64.TINY, 2.0 ** -29, 2.0 ** -20, 1.0, 20.0, 33.3, 36.7,
                fast64.UPPER, fast64.MAIN_MAX, 700.0, 745.2, (1101 - e_beta) * 0.6931472, 1100 * 0.6931472]
    # exp's reduction: a at (m + 1/2)·ln2/1024 (rint ties) and at table wraps; log1p's: e**-a at (j + 1/2)/1024
    t_points += [(m + 0.5) * ln(2) / 1024 for m in (0, 1, 511, 1023, 1024, 5000, 900_000)]
    t_points += [-ln((j + 0.5) / 1024) for j in (0, 1, 2, 511, 1022, 1023)]
    # results near the subnormal range and the claim's 2**-900 floor: e**-a/β ≈ 2**-1022, 2**-900
    t_points += [ln(1 / beta) + 1022 * ln(2), ln(1 / beta) + 900 * ln(2), 1022 * ln(2), 900 * ln(2)]
    x = [s * t / beta for t in t_points for s in (1.0, -1.0) if t > 0]
    x += [20.0 / beta, 0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
          -1.7976931348623157e308, 1.0, -1.0]
    x = np.array(_neighbours(x))
    return x[np.isfinite(x)]


def bit_uniform(n, seed, limit=None):
    """n finite doubles uniform over bit patterns (the judge's sampler), |x| < ``limit`` if given."""
    x = inputs.bit_uniform("float64", 4 * n if limit is not None else n, seed)
    if limit is not None:
        x = x[np.abs(x) < limit]
    return x[:n]


@pytest.mark.parametrize("fn", FNS)
@pytest.mark.parametrize("beta", BETAS)
def test_claim_holds_on_every_region_boundary(fn, beta):
    x = boundary_inputs(beta)
    bad, worst, claimed = claim_check(x, beta, fn)
    assert not bad, bad[:5]
    assert claimed > 0.8 * x.size  # a fast path: most boundary inputs are claimed, not handed to arb


@pytest.mark.parametrize("fn", FNS)
@pytest.mark.parametrize("beta", BETAS)
def test_claim_holds_on_a_bit_uniform_sample(fn, beta):
    x = np.concatenate([bit_uniform(1500, 1, limit=800 / min(beta, 1.0)), bit_uniform(500, 2),
                        np.random.default_rng(3).uniform(-700, 700, 1000) / beta])
    bad, worst, claimed = claim_check(x, beta, fn)
    assert not bad, bad[:5]
    assert claimed > 0.95 * x.size
    assert worst < 2.0 ** -84.9  # the proof's bound, tighter than the W claimed


@settings(max_examples=400, deadline=None)
@given(x=st.floats(allow_nan=False, allow_infinity=False),
       beta=st.floats(1e-3, 1e30), fn=st.sampled_from(FNS))
def test_claim_holds_for_searched_inputs(x, beta, fn):
    assert not claim_check([x], beta, fn)[0]


@settings(max_examples=300, deadline=None)
@given(t=st.floats(-800, 800), beta=st.sampled_from(BETAS), fn=st.sampled_from(FNS))
def test_claim_holds_for_searched_arguments_of_the_main_region(t, beta, fn):
    assert not claim_check([t / beta], beta, fn)[0]


def test_a_planted_smaller_bound_is_caught():
    # the checks above can fail: claiming 2**-100 (below what double words deliver here) is refuted
    x = bit_uniform(400, 4, limit=800)
    assert claim_check(x, 1.0, "softplus", w=2.0 ** -100)[0]
    assert claim_check(x, 1.0, "softplus_grad", w=2.0 ** -100)[0]


def test_a_planted_dropped_term_is_caught(monkeypatch):
    # exp's polynomial without its r**6/720 term errs by up to 2**-78.7: beyond W, so refuted
    real = fast64.horner_fp

    def truncated(r, coefficients):
        return real(r, coefficients[:-1] + (0.0,)) if coefficients[-1] == 1 / 720 else real(r, coefficients)

    monkeypatch.setattr(fast64, "horner_fp", truncated)
    x = np.random.default_rng(5).uniform(-600, 600, 600)
    assert claim_check(x, 1.0, "softplus_grad")[0]


def test_tables_and_constants_against_arb():
    import flint

    tb = fast64.tables()
    flint.ctx.prec = 300
    step = flint.arb(2).log() / 1024
    assert abs(flint.arb(tb["L1"]) + flint.arb(tb["L2"]) + flint.arb(tb["L3"]) - step) < flint.arb(2) ** -126
    for part in ("L1", "L2"):  # 32 significant bits: m·L exact for every m < 2**20
        m, _ = math.frexp(tb[part])
        assert (m * 2 ** 32).is_integer()
    for j in range(1024):
        exact = flint.arb(2) ** (flint.arb(-j) / 1024)
        assert abs(flint.arb(tb["exp_h"][j]) + flint.arb(tb["exp_l"][j]) - exact) <= exact * flint.arb(2) ** -105
    for j in range(1025):
        c = float(tb["c"][j])
        assert (c * 2 ** 21).is_integer() and abs(c * (1 + j / 1024) - 1) <= 2.0 ** -21
        exact = -flint.arb(c).log()
        assert abs(flint.arb(tb["log_h"][j]) + flint.arb(tb["log_l"][j]) - exact) <= 2.0 ** -106 * max(c, 1e-300)


def test_rounding_decision_from_synthetic_enclosures():
    # independent of the evaluation: v at distance D ulps from vh, claimed to within R = 2**-25 ulps
    vh = np.array([1.5, 1.5, 1.5, 1.0, 1.0, 1.0, 0.0])
    d = np.array([0.5 - 2.0 ** -30, 0.5 - 2.0 ** -20, -0.5 + 2.0 ** -20, -0.25 + 2.0 ** -30, -0.25 + 2.0 ** -20,
                  0.49, 0.0])
    ulp = np.array([2.0 ** -52] * 3 + [2.0 ** -52] * 3 + [5e-324])
    bits, decided = fast64.rounding(vh, d * ulp, np.ones(7, bool))
    # a value 2**-30 ulp from the midpoint cannot be decided by a 2**-25 radius; 2**-20 can.
    # Below 1 (a power of two) the rounding boundary is 1/4 of its upper ulp away.
    assert decided.tolist() == [False, True, True, False, True, True, True]
    assert (bits.view(np.float64) == vh).all()


def test_a_planted_zero_radius_is_caught(monkeypatch):
    monkeypatch.setattr(fast64, "RADIUS_ULPS", 0.0)
    _, decided = fast64.rounding(np.array([1.5]), np.array([(0.5 - 2.0 ** -30) * 2.0 ** -52]), np.ones(1, bool))
    assert decided[0]  # what the synthetic test above rules out: the check has teeth


@pytest.mark.parametrize("fn", FNS)
@pytest.mark.parametrize("beta", (1e-3, 1.0, 3.0, 1e30))
def test_float64_oracle_equals_arb_and_the_independent_derivation(fn, beta):
    x = np.concatenate([boundary_inputs(beta), bit_uniform(600, 6), bit_uniform(600, 7, limit=800 / beta)])
    bits = compute_bits(x, beta, fn, F64)
    arb_bits = [rounded_and_error(float(v), 0.0, beta, fn, F64)[0] for v in x]
    assert bits.tolist() == arb_bits
    for i in range(0, x.size, 7):  # a slice against the slow mpmath/Fraction derivation
        want = round_fraction(exact_fraction(float(x[i]), beta, fn), np.float64)
        assert bits[i] == want.view(np.uint64), x[i]


@pytest.mark.parametrize("fn", FNS)
def test_float64_ulp_errors_match_arb(fn):
    from oracle.ulp import ulp_error

    x = np.concatenate([boundary_inputs(1.0), bit_uniform(800, 8, limit=800)])
    ref = compute_bits(x, 1.0, fn, F64).view(np.float64)
    rng = np.random.default_rng(9)
    with np.errstate(over="ignore"):  # results near the top overflow: skipped below
        ys = (ref, np.nextafter(ref, np.inf), ref * (1 + rng.uniform(-1e-9, 1e-9, x.size)))
    for y in ys:
        got = ulp_error(y, x, fn, 1.0, signed=True)
        for i in range(x.size):
            if np.isfinite(y[i]):
                want = rounded_and_error(float(x[i]), float(y[i]), 1.0, fn, F64, extra_bits=40)[1]
                assert abs(got[i] - want) <= 2.0 ** -20 * max(1.0, abs(want) * 2.0 ** -30), (x[i], y[i])


def test_sigmoid_binade_rules_at_one_half_and_one():
    # 1/2 ± tiny: the binade (and so the ulp) follows the sign of x; near 1 it is the binade below
    x0 = np.array([-5e-324, 5e-324, 0.0, 1e-300, -1e-300, -1e-100, 1e-30, 100.0, 300.0])
    centre = np.array([0.5] * 7 + [1.0] * 2)
    for step in (-2, -1, 0, 1):  # results a few quanta of 2**-54 around the centre: the ulp decides the error
        x = x0.copy()
        y = centre + step * 2.0 ** -54
        vh, vl, ok = fast64.enclose(x, 1.0, "softplus_grad")
        err, known = fast64.ulp_errors(y, x, vh, vl, ok, "softplus_grad")
        assert known.all()
        for i in range(x.size):  # against exact fractions: (y − f)/ulp(f)
            # below 1e-100, 1/2 + x/4 is f to far under an ulp (and 600 bits of mpmath would round f to 1/2)
            xi = float(x[i])
            f = Fraction(1, 2) + Fraction(xi) / 4 if abs(xi) < 1e-100 else exact_fraction(xi, 1.0, "softplus_grad")
            ulp = Fraction(2) ** (-54 if f < Fraction(1, 2) else -53)
            assert abs(Fraction(err[i]) - (Fraction(y[i]) - f) / ulp) < Fraction(1, 2 ** 24), (x[i], y[i])


def test_nothing_is_claimed_without_ieee_arithmetic(monkeypatch):
    assert fast64.ieee_arithmetic()  # NumPy on this machine: round to nearest, gradual underflow
    monkeypatch.setattr(fast64, "ieee_arithmetic", lambda: False)
    x = np.linspace(-10, 10, 41)  # ≥ MIN_BATCH: the vectorized path is asked first
    assert not fast64.enclose(x, 1.0, "softplus")[2].any()
    want = [rounded_and_error(float(v), 0.0, 1.0, "softplus", F64)[0] for v in x]
    assert compute_bits(x, 1.0, "softplus", F64).tolist() == want  # arb takes over


def test_beta_outside_the_claimed_range_goes_to_arb():
    for beta in (2.0 ** -901, 2.0 ** 901):
        assert not fast64.enclose(np.array([1.0, -1.0, 0.0]), beta, "softplus")[2].any()


@pytest.mark.parametrize("fn", FNS)
@pytest.mark.parametrize("beta", (1.0, 1e-3, 0.5, 2.0, 1e30))
def test_float64_oracle_equals_arb_on_the_judges_input_sets(fn, beta):
    # the boundary sets (switches, onsets, near-midpoint inputs) and a sample, as a verdict judges them
    from engine.inputs import input_set

    x = input_set("float64", fn, beta, switch_points=(20.0 / beta,), n=1500, seed=3).x.astype(np.float64)
    x = x[np.isfinite(x)]
    bits = compute_bits(x, beta, fn, F64)
    assert bits.tolist() == [rounded_and_error(float(v), 0.0, beta, fn, F64)[0] for v in x]
