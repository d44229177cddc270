"""The judge against targets whose faults are known by construction (each fault planted on purpose)."""

import importlib
import json
import math

import numpy as np
import pytest

import oracle
import softplus_cert
from engine.certificate import CertificateError, load_certificate, parse_certificate
from engine.judge import Verdict, judge
from oracle.formats import FORMATS, get_format
from targets import Params, Target
from tests.oracle import independent


class OracleTarget(Target):
    """The oracle itself: correctly rounded by definition."""

    name = "oracle"
    formats = ("float16", "bfloat16", "float32", "float64", "float8_e5m2")
    params = Params(beta=True)

    def compute(self, x, beta, threshold):
        return oracle.softplus(x, beta)

    def compute_grad(self, x, beta, threshold):
        return oracle.softplus_grad(x, beta)


class Planted(OracleTarget):
    """The oracle with one fault planted by a function of (x, y)."""

    def __init__(self, fault, switches=()):
        self.name = "planted"
        self._fault = fault
        self._switches = list(switches)

    def switch_points(self, fmt, beta=1.0, threshold=None):
        return self._switches

    def compute(self, x, beta, threshold):
        return self._fault(x, oracle.softplus(x, beta))

    def compute_grad(self, x, beta, threshold):
        return self._fault(x, oracle.softplus_grad(x, beta))


def next_up(y):
    bits = y.view(np.uint16 if y.dtype.itemsize == 2 else np.uint32).copy()
    return (bits + 1).view(y.dtype)


def independent_values(x: np.ndarray, beta: float, fn: str) -> np.ndarray:
    """tests/oracle/independent's correctly rounded ``fn`` at every element of ``x`` (any shape, x's dtype).

    Non-finite inputs by the limits, derived here: softplus(−inf) = +0, softplus(+inf) = +inf,
    sigmoid(−inf) = +0, sigmoid(+inf) = 1, NaN → NaN."""
    x = np.asarray(x)
    out = np.empty(x.shape, dtype=x.dtype)
    flat = out.reshape(-1)
    for i, v in enumerate(x.astype(np.float64).reshape(-1)):
        if math.isnan(v):
            flat[i] = np.array(np.nan).astype(x.dtype)
        elif math.isinf(v):
            limit = 0.0 if v < 0 else (math.inf if fn == "softplus" else 1.0)
            flat[i] = np.array(limit).astype(x.dtype)
        else:
            flat[i] = independent.correctly_rounded(v, beta, fn, x.dtype)
    return out


class IndependentTarget:
    """tests/oracle/independent as an implementation the judge can call (oracle.implementation's protocol):
    correct roundings from plain mpmath and exact rational rounding, sharing no code with the oracle.
    ~55 µs an element: judge it on slices, not on every value of a 16-bit format."""

    name = "independent"
    device = "cpu"

    def check(self, fmt: str, beta: float = 1.0, threshold: float | None = None) -> str | None:
        return None if threshold is None else "no threshold parameter"

    def softplus(self, x: np.ndarray, beta: float = 1.0, threshold: float | None = None) -> np.ndarray:
        return independent_values(x, beta, "softplus")

    def softplus_grad(self, x: np.ndarray, beta: float = 1.0, threshold: float | None = None) -> np.ndarray:
        return independent_values(x, beta, "softplus_grad")


def judges_input_set(fmt: str, fn: str, beta: float, n: int, seed: int = 0):
    """The judge's own input set for the case, from the module the public judge lives in (wherever that
    is moved): every value of a float8 format; elsewhere a bit-uniform sample of ``n`` plus every boundary
    set (near-midpoint, overflow, underflow, ...), never all 65,536 values of a 16-bit format."""
    module = importlib.import_module(softplus_cert.judge.__module__)
    return module.input_set(fmt, fn, beta, n=n, seed=seed, exhaustive=get_format(fmt).bits <= 8)


@pytest.mark.parametrize("beta", [1.0, 0.75])
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_independent_correct_roundings_are_judged_correctly_rounded(fmt: str, beta: float) -> None:
    """The judge, holding tests/oracle/independent's answers (not the oracle's own) on a slice of every
    format, finds them 0 ulp from correctly rounded: every input correctly rounded, none off by more than
    1/2 ulp, every special value and property right. Guards against an oracle (or a judge) that disagrees
    with an independent derivation: judging the oracle against itself could never fail that way."""
    for fn in ("softplus", "softplus_grad"):
        inputs = judges_input_set(fmt, fn, beta, n=300)
        assert inputs.boundaries["near_midpoint"].size > 0  # the hardest roundings are in the slice
        v = softplus_cert.judge(IndependentTarget(), fmt, fn, beta, inputs=inputs, search=False)
        where = f"{fmt} {fn} beta={beta}"
        assert v.status == "ok", (where, v.reason)
        assert v.n_inputs == inputs.x.size
        assert v.correctly_rounded_fraction == 1.0, (where, v.worst[:3])
        assert v.worst == [] and v.max_ulp <= 0.5, (where, v.max_ulp, v.worst[:3])
        assert all(w.result == w.correct for w in v.worst_finite), where
        assert v.nonfinite_count == v.nan_count == v.monotonicity_violations == 0, where
        assert sum(v.property_failures.values()) == 0, (where, v.property_failures)
        assert all(s["ok"] for s in v.special_values.values()), (where, v.special_values)


def test_one_ulp_off_at_one_input_is_found_and_named():
    x0 = np.float16(1.5)

    def fault(x, y):
        y = y.copy()
        y[x == x0] = next_up(y[x == x0])
        return y

    v = judge(Planted(fault), "float16", "softplus")
    assert 0.5 < v.max_ulp < 1.5
    assert v.worst_input == 1.5 and v.worst[0].result != v.worst[0].correct
    assert v.correctly_rounded_fraction == pytest.approx(1 - 1 / v.n_inputs)


def test_linear_switch_jump_and_safe_threshold():
    # a "threshold" at x = 4: return x itself above it (as torch does above threshold/beta)
    def fault(x, y):
        return np.where(x > np.float16(4), x, y)

    v = judge(Planted(fault, switches=[4.0]), "float16", "softplus")
    j = v.switch_jumps[0]
    assert j.below == 4.0 and j.above == 4.00390625
    # softplus(4.0039) - 4.0039 = log1p(exp(-4.0039)) ≈ 0.01809: ulp there is 2**-8: ≈ 4.63 ulp error above
    want = math.log1p(math.exp(-4.00390625)) / 2.0 ** -8
    assert j.error_above_ulp == pytest.approx(-want, rel=1e-6)
    assert v.threshold_jump_ulp == pytest.approx(abs(j.error_above_ulp - j.error_below_ulp))
    # safe: log1p(exp(-x)) < ulp(x)/2; for x in [4, 8): 2**-9 -> x > ~6.24 (independently: -log(expm1(2**-9)))
    assert v.safe_threshold == pytest.approx(-math.log(math.expm1(2.0 ** -9)), abs=2 * 2.0 ** -8)


def test_overflow_onset_found_exactly_by_bisection():
    # naive log(1 + exp(x)) in float32 overflows where exp(x) does: the first x with exp(x) > max
    def fault(x, y):
        with np.errstate(over="ignore"):
            return np.where(np.exp(x.astype(np.float32)) == np.inf, np.float32(np.inf), y).astype(np.float32)

    v = judge(Planted(fault), "float32", "softplus", n=2000)
    # independently: scan float32 values upwards from 88.72 (exp overflows near log(max) = 88.7228...)
    start = np.array([88.72], dtype=np.float32).view(np.uint32)[0]
    vals = (np.arange(20000, dtype=np.uint32) + start).view(np.float32)
    with np.errstate(over="ignore"):
        onset = float(vals[np.isinf(np.exp(vals))][0])
    assert v.overflow_onset == onset and v.true_overflow_onset is None
    assert v.nonfinite_count > 0


def test_flush_to_zero_underflow_onset():
    tiny = np.finfo(np.float32).tiny

    def fault(x, y):
        return np.where(y < tiny, np.float32(0), y).astype(np.float32)

    v = judge(Planted(fault), "float32", "softplus", n=2000)
    # the largest x whose true result is below the smallest normal: just under -126 log 2
    assert v.underflow_onset is not None and -87.34 < v.underflow_onset < -87.33
    assert v.true_underflow_onset == pytest.approx(-150 * math.log(2), abs=1e-4)


def test_monotonicity_and_identity_failures():
    def fault(x, y):
        y = y.copy()
        y[x == np.float16(2.0)] = np.float16(0)  # a dip
        return y

    v = judge(Planted(fault), "float16", "softplus")
    assert v.monotonicity_violations == 1 and v.monotonicity_examples[0][1] == 2.0
    assert v.property_failures["lower_bound"] == 1 and v.property_failures["identity"] >= 1


def test_special_values_checked():
    def fault(x, y):
        return np.where(np.isinf(x), np.float16(np.nan), y).astype(np.float16)

    v = judge(Planted(fault), "float16", "softplus")
    assert not v.special_values["+inf"]["ok"] and not v.special_values["-inf"]["ok"]
    assert v.special_values["+0"]["ok"]


def test_raising_target_is_an_error_verdict():
    def fault(x, y):
        raise RuntimeError("kernel exploded")

    v = judge(Planted(fault), "float16", "softplus")
    assert v.status == "error" and "RuntimeError: kernel exploded" in v.reason


def test_unsupported_combination():
    v = judge(OracleTarget(), "float8_e4m3fn", "softplus")
    assert v.status == "unsupported" and "float8_e4m3fn" in v.reason


def test_verdict_json_round_trip():
    v = judge(Planted(lambda x, y: np.where(x > 3, np.float16(np.inf), y).astype(np.float16)), "float16",
              "softplus")
    text = json.dumps(v.to_dict(), allow_nan=False)  # strict JSON: no Infinity/NaN literals
    back = Verdict.from_dict(json.loads(text))
    assert back.to_dict() == v.to_dict()
    assert back.overflow_onset == v.overflow_onset


# --- certificates -------------------------------------------------------------------------------------------

def test_certificate_catches_a_planted_fault_and_names_it():
    cert = parse_certificate({"target": "planted", "budget": [{"max_ulp": 0.5, "reason": "correctly rounded"}]})
    v = judge(Planted(lambda x, y: np.where(x == np.float16(1.5), next_up(y), y)), "float16", "softplus")
    (violation,) = [m for m in cert.check(v) if m.key == "max_ulp"]
    assert "planted float16 softplus" in violation.message and "x = 1.5" in violation.message


def test_certificate_later_entries_override_and_select():
    cert = parse_certificate({"target": "t", "budget": [
        {"max_ulp": 1.0, "reason": "all"},
        {"format": "float32", "fn": "softplus_grad", "max_ulp": 4.0, "nonfinite": 3, "reason": "grad"},
        {"format": "float32", "beta": 2.0, "threshold": "inf", "max_ulp": 9.0, "reason": "beta 2"}]})
    b = cert.budget_for(Verdict("t", "float32", "softplus_grad", 1.0, None))
    assert b.limits["max_ulp"] == 4.0 and b.limits["nonfinite"] == 3
    assert cert.budget_for(Verdict("t", "float16", "softplus_grad", 1.0, None)).limits["max_ulp"] == 1.0
    assert cert.budget_for(Verdict("t", "float32", "softplus", 2.0, math.inf)).limits["max_ulp"] == 9.0
    assert cert.budget_for(Verdict("t", "float32", "softplus", 2.0, None)).limits["max_ulp"] == 1.0


def test_loose_budget_reported():
    cert = parse_certificate({"target": "oracle", "budget": [{"max_ulp": 8.0, "reason": "too generous"}]})
    v = judge(OracleTarget(), "float16", "softplus")
    assert cert.check(v) == [] and "max_ulp budget 8" in cert.loose(v)[0]


@pytest.mark.parametrize("text, words", [
    ('target = "t"\n[[budget]]\nmax_ulp = 1\n', "reason"),
    ('target = "t"\n[[budget]]\nmax_ulp = "one"\nreason = "r"\n', "max_ulp"),
    ('target = "t"\n[[budget]]\nmax_ulps = 1\nreason = "r"\n', "unknown key 'max_ulps'"),
    ('target = "t"\n[[budget]]\nmax_ulp = 1\nbeta = -2\nreason = "r"\n', "beta"),
    ('target = "t"\n[[budget]]\nmax_ulp = 1\nthreshold = nan\nreason = "r"\n', "threshold"),
    ('[[budget]]\nmax_ulp = 1\nreason = "r"\n', "target"),
    ('target = "t"\n[[budget]\nmax_ulp = 1\n', "line 2"),
])
def test_malformed_certificates_name_line_or_key(tmp_path, text, words):
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(CertificateError, match=None) as e:
        load_certificate(p)
    assert words in str(e.value) and str(p) in str(e.value)


def test_builtin_certificates_parse_and_have_reasons():
    from pathlib import Path

    import targets

    paths = sorted((Path(targets.__file__).parent / "certificates").glob("*.toml"))
    assert len(paths) >= 9
    for p in paths:
        c = load_certificate(p)
        assert all(e["reason"].strip() for e in c.entries)
