"""The cross-target agreement matrix and the pairwise (device) comparison: engine.agreement, and how the accuracy
report (JSON with its schema, Markdown, HTML, the command line) carries them.

The targets are plugin-style ones defined here: the oracle itself, the oracle with every result for x > 0
bumped by one ulp, and a few that differ only in ways the comparison must (NaN payloads) or must not (−0 for
+0) forgive. Expected fractions are counted here from the bit layout of the format, not from the suite's
input sets.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

import oracle
from engine.agreement import (AgreementMatrix, Disagreement, PairReport, agreement_matrix, compare_pair,
                              device_pairs, report_agreement)
from oracle.evaluate import to_float64
from engine.grid import combinations
from engine.judge import Verdict, judge
from engine.stored import load_json
from reports.accuracy import agreement_percent, write_json, write_markdown
from engine.environment import environment
from reports.html import render_html
from targets import Params, Target

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "reports" / "schema" / "accuracy.schema.json"

#: (exponent bits, mantissa bits) of the exhaustively enumerated formats used here (IEEE-like: inf and NaN).
LAYOUT = {"float8_e5m2": (5, 2), "float16": (5, 10)}


def _oracle(x, fn):
    return oracle.softplus(x) if fn == "softplus" else oracle.softplus_grad(x)


def _bits(y: np.ndarray) -> np.ndarray:
    """A writable copy of y's bit patterns (unsigned integers of y's width)."""
    return y.view(np.dtype(f"u{y.itemsize}")).copy()


class OracleTarget(Target):
    name = "oracle"
    formats = ("float8_e5m2", "float16")
    params = Params()

    def compute(self, x, beta, threshold):
        return _oracle(x, "softplus")

    def compute_grad(self, x, beta, threshold):
        return _oracle(x, "softplus_grad")


class BumpedTarget(OracleTarget):
    """The oracle, but every result for an input x > 0 is one ulp larger in magnitude (next bit pattern)."""

    name = "bumped"

    def _bump(self, x, y):
        bits = _bits(y)
        bits[to_float64(x) > 0] += 1
        return bits.view(y.dtype)

    def compute(self, x, beta, threshold):
        return self._bump(x, _oracle(x, "softplus"))

    def compute_grad(self, x, beta, threshold):
        return self._bump(x, _oracle(x, "softplus_grad"))


class NanPayloadTarget(OracleTarget):
    """The oracle with every NaN result given another payload: bit-different, but NaN = NaN."""

    name = "nan-payload"

    @staticmethod
    def _repaint(y):
        bits = _bits(y)
        nan = np.isnan(to_float64(y))
        assert nan.any()  # the input sets hold a NaN
        bits[nan] |= 1  # quiet NaN 0x7e00 (float16) / 0x7e (e5m2): payload bit 0 set, still a NaN
        return bits.view(y.dtype)

    def compute(self, x, beta, threshold):
        return self._repaint(_oracle(x, "softplus"))

    def compute_grad(self, x, beta, threshold):
        return self._repaint(_oracle(x, "softplus_grad"))


class NegativeZeroTarget(OracleTarget):
    """The oracle with every +0 result written as −0: numerically equal, bit-different."""

    name = "negative-zero"

    def compute(self, x, beta, threshold):
        y = _oracle(x, "softplus")
        bits = _bits(y)
        bits[to_float64(y) == 0] |= bits.dtype.type(1 << (8 * y.itemsize - 1))  # the sign bit
        return bits.view(y.dtype)

    compute_grad = compute


class RaisingTarget(OracleTarget):
    name = "raising"

    def compute(self, x, beta, threshold):
        raise RuntimeError("boom")

    compute_grad = compute


class Float16OnlyTarget(OracleTarget):
    name = "float16-only"
    formats = ("float16",)


class GoneTarget(OracleTarget):
    name = "gone"

    def availability(self):
        return "no such device"


class CountingTarget(OracleTarget):
    """The oracle, counting its calls (to see which targets the report calls again)."""

    name = "counting"
    calls = 0

    def compute(self, x, beta, threshold):
        CountingTarget.calls += 1
        return _oracle(x, "softplus")

    compute_grad = compute


class BumpedCuda(BumpedTarget):
    """A "GPU" variant of the oracle for the automatic device pairing: "oracle-cpu" / "oracle-cuda"."""

    name = "oracle-cuda"
    device = "cuda"


class OracleCpu(OracleTarget):
    name = "oracle-cpu"


# --- independent counts ------------------------------------------------------------------------------------------

def _counts(fmt: str) -> tuple[int, int]:
    """(inputs, inputs x > 0) of the exhaustive input set, from the bit layout alone: every non-NaN bit
    pattern (both zeros, both infinities) plus one NaN; x > 0 for the positive non-zero patterns and +inf."""
    e_bits, m_bits = LAYOUT[fmt]
    total, positive = 1, 0  # the one NaN
    for b in range(1 << (1 + e_bits + m_bits)):
        sign, exp, mant = b >> (e_bits + m_bits), (b >> m_bits) & ((1 << e_bits) - 1), b & ((1 << m_bits) - 1)
        if exp == (1 << e_bits) - 1 and mant:
            continue  # a NaN
        total += 1
        positive += sign == 0 and (exp or mant) != 0
    return total, positive


def test_independent_counts_match_the_format():
    assert _counts("float8_e5m2") == (251, 124)  # 256 − 6 NaN patterns + 1; 123 positive finite + inf
    assert _counts("float16") == (63491, 31744)  # 65536 − 2·1023 NaN patterns + 1; 31743 finite + inf


# --- the matrix ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["float8_e5m2", "float16"])
@pytest.mark.parametrize("fn", ["softplus", "softplus_grad"])
def test_matrix_counts_inputs_with_identical_bits(fmt, fn):
    total, positive = _counts(fmt)
    m = agreement_matrix([OracleTarget(), BumpedTarget(), NanPayloadTarget()], fmt, fn)
    assert (m.format, m.fn, m.beta, m.threshold, m.mode) == (fmt, fn, 1.0, None, "exhaustive")
    assert m.targets == ["oracle", "bumped", "nan-payload"] and m.errors == {}
    assert m.n_inputs == total
    expected = (total - positive) / total
    assert m.fraction("oracle", "bumped") == pytest.approx(expected, abs=1e-15)
    assert m.fraction("nan-payload", "bumped") == pytest.approx(expected, abs=1e-15)
    assert m.fraction("oracle", "nan-payload") == 1.0  # NaN = NaN whatever the payload
    k = len(m.targets)
    assert all(m.identical[i][i] == 1.0 for i in range(k))
    assert all(m.identical[i][j] == m.identical[j][i] for i in range(k) for j in range(k))


def test_signed_zeros_are_different_bits():
    x = np.array([-np.inf, -1e4, -1.0, 0.0, 1.0], dtype=np.float16)  # results +0, +0, 0.31.., ...
    m = agreement_matrix([OracleTarget(), NegativeZeroTarget()], "float16", x=x)
    assert m.mode == "given" and m.n_inputs == 5
    assert m.fraction("oracle", "negative-zero") == pytest.approx(3 / 5)
    p = compare_pair(OracleTarget(), NegativeZeroTarget(), "float16", x=x)
    assert (p.differing, p.a_closer, p.b_closer, p.ties) == (2, 0, 0, 2)  # −0 and +0: both 0 ulp off
    # worst first: at -1e4 both are 2e-297 ulp off (the truth is exp(-1e4)), at -inf exactly right
    assert [(e.x, e.result_b, e.closer) for e in p.examples] == [(-1e4, 0.0, "tie"), (-np.inf, 0.0, "tie")]


def test_failing_targets_are_listed_not_raised():
    m = agreement_matrix([OracleTarget(), RaisingTarget(), Float16OnlyTarget(), GoneTarget(), BumpedTarget()],
                         "float8_e5m2")
    assert m.targets == ["oracle", "bumped"] and len(m.identical) == 2 and len(m.identical[0]) == 2
    assert m.errors["raising"] == "raised RuntimeError: boom"
    assert m.errors["float16-only"].startswith("unsupported: float8_e5m2 is not supported")
    assert m.errors["gone"] == "unavailable: no such device"
    assert set(m.errors) == {"raising", "float16-only", "gone"}


def test_invalid_requests_raise():
    with pytest.raises(ValueError):
        agreement_matrix([OracleTarget()], "float16", fn="tanh")
    with pytest.raises(ValueError):
        agreement_matrix([OracleTarget()], "float16", x=np.zeros(3, dtype=np.float32))


def test_sampled_formats_use_the_seeded_input_set():
    class F32(OracleTarget):
        name, formats = "oracle32", ("float32",)

    a = agreement_matrix([F32(), F32()], "float32", n=300, seed=7)
    assert (a.mode, a.seed, a.targets) == ("sampled", 7, ["oracle32"])  # the same target twice: computed once
    assert 300 < a.n_inputs < 600  # the sample plus the boundary sets


# --- the pair ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["float8_e5m2", "float16"])
def test_compare_pair_finds_the_oracle_closer(fmt):
    total, positive = _counts(fmt)
    p = compare_pair(OracleTarget(), BumpedTarget(), fmt, "softplus")
    assert (p.a, p.b, p.n_inputs, p.errors) == ("oracle", "bumped", total, {})
    assert p.differing == positive and p.a_closer == positive and p.b_closer == 0 and p.ties == 0
    assert len(p.examples) == min(20, positive)
    keys = [max(e.ulp_a, e.ulp_b) if e.ulp_b == e.ulp_b else np.inf for e in p.examples]
    assert keys == sorted(keys, reverse=True)  # the worst first
    for e in p.examples:
        x = np.array([e.x], dtype=oracle.get_format(fmt).dtype)
        assert e.x > 0 and e.closer == "a" and e.ulp_a <= 0.5
        assert e.result_a == float(to_float64(oracle.softplus(x))[0])
        assert not e.ulp_b <= 0.5  # larger, inf or NaN (the bumped +inf is a NaN pattern)
    swapped = compare_pair(BumpedTarget(), OracleTarget(), fmt, "softplus")
    assert (swapped.a_closer, swapped.b_closer, swapped.differing) == (0, positive, positive)


def test_compare_pair_with_a_failing_target_counts_nothing():
    p = compare_pair(OracleTarget(), RaisingTarget(), "float8_e5m2")
    assert p.errors == {"raising": "raised RuntimeError: boom"} and p.differing == 0 and p.examples == []


def test_device_pairs_named_and_detected():
    assert device_pairs([OracleTarget(), BumpedTarget()]) == []
    assert device_pairs([OracleCpu(), BumpedCuda()]) == [("oracle-cpu", "oracle-cuda")]
    assert device_pairs([OracleTarget(), BumpedTarget()], pairs=[("oracle", "bumped"), ("oracle", "x")]) == \
        [("oracle", "bumped")]
    assert device_pairs([OracleCpu(), GoneTarget()], pairs=[("oracle-cpu", "gone")]) == []  # gone: unavailable


# --- what the report runs -------------------------------------------------------------------------------------------

def test_report_agreement_groups_and_does_not_rerun_failed_targets():
    total, positive = _counts("float8_e5m2")
    ts = [OracleCpu(), BumpedCuda(), CountingTarget(), Float16OnlyTarget()]
    combos = combinations(ts, ["float8_e5m2", "float16"], ("softplus",), (1.0,), (None,))
    failed = Verdict(target="counting", format="float8_e5m2", fn="softplus", beta=1.0, threshold=None,
                     status="error", reason="timed out after 3 s")
    CountingTarget.calls = 0
    lines = []
    matrices, pairs = report_agreement(combos, [failed], n=None, seed=0, progress=lines.append)
    assert [(m.format, m.fn) for m in matrices] == [("float16", "softplus"), ("float8_e5m2", "softplus")]
    e5 = matrices[1]
    assert e5.targets == ["oracle-cpu", "oracle-cuda"] and e5.errors == {"counting": "timed out after 3 s"}
    assert e5.identical[0][1] == pytest.approx((total - positive) / total)
    assert CountingTarget.calls == 1  # float16 only: its failed float8_e5m2 verdict is not run again
    assert matrices[0].targets == ["oracle-cpu", "oracle-cuda", "counting", "float16-only"]
    assert [(p.a, p.b, p.format) for p in pairs] == [("oracle-cpu", "oracle-cuda", "float16"),
                                                     ("oracle-cpu", "oracle-cuda", "float8_e5m2")]
    assert pairs[1].differing == positive == pairs[1].a_closer
    assert lines == ["float16 softplus", "float8_e5m2 softplus"]
    # a group with a single target, and combinations at β ≠ 1 or another threshold, give no matrix
    only = combinations([OracleCpu()], ["float16"], ("softplus",), (1.0,), (None,))
    assert report_agreement(only) == ([], [])


# --- the report files -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def records():
    m = agreement_matrix([OracleTarget(), BumpedTarget(), RaisingTarget()], "float8_e5m2", "softplus")
    p = compare_pair(OracleTarget(), BumpedTarget(), "float8_e5m2", "softplus")
    verdicts = [judge(OracleTarget(), "float8_e5m2", "softplus")]
    env = environment(0, [OracleTarget()], command=["softplus-cert", "report"])
    return verdicts, env, m, p


def test_agreement_percent():
    assert [agreement_percent(f) for f in (1.0, 0.99999, 0.5, 0.00001, 0.0, 127 / 251)] == \
        ["100.0", ">99.9", "50.0", "<0.1", "0.0", "50.6"]


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("cls, name", [(AgreementMatrix, "agreement_matrix"), (PairReport, "pair_report"),
                                       (Disagreement, "disagreement")])
def test_schema_names_every_field(cls, name):
    d = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))["$defs"][name]
    fields = {f.name for f in dataclasses.fields(cls)}
    assert set(d["properties"]) == fields == set(d["required"]) and d["additionalProperties"] is False


def test_json_with_agreement_validates_and_round_trips(records, validator, tmp_path):
    verdicts, env, m, p = records
    path = tmp_path / "accuracy.json"
    write_json(path, verdicts, env, agreement=[m], device_agreement=[p])
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert [e.message for e in validator.iter_errors(doc)] == []
    assert doc["agreement"][0]["targets"] == ["oracle", "bumped"]
    assert doc["agreement"][0]["errors"] == {"raising": "raised RuntimeError: boom"}
    assert any(e["ulp_b"] == "nan" for e in doc["device_agreement"][0]["examples"])  # +inf bumped to NaN
    v2, env2, ms, ps = load_json(path, agreement=True)
    assert [x.to_dict() for x in ms] == [m.to_dict()] and [x.to_dict() for x in ps] == [p.to_dict()]
    assert load_json(path)[1] == env2 and len(load_json(path)) == 2  # the old call sites are unchanged
    for mutate in (lambda d: d["agreement"][0]["identical"][0].__setitem__(1, 1.5),
                   lambda d: d["agreement"][0].__setitem__("extra", 1),
                   lambda d: d["agreement"][0].pop("errors"),
                   lambda d: d["device_agreement"][0]["examples"][0].__setitem__("closer", "c"),
                   lambda d: d["device_agreement"][0].__setitem__("differing", -1)):
        bad = copy.deepcopy(doc)
        mutate(bad)
        assert not validator.is_valid(bad)
    # without agreement: empty lists, still valid
    write_json(path, verdicts, env)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["agreement"] == [] and doc["device_agreement"] == [] and validator.is_valid(doc)
    assert load_json(path, agreement=True)[2:] == ([], [])


def test_markdown_shows_the_matrix(records, tmp_path):
    verdicts, env, m, p = records
    total, positive = _counts("float8_e5m2")
    pct = f"{100 * (total - positive) / total:.1f}"
    path = tmp_path / "accuracy.md"
    write_markdown(path, verdicts, env, agreement=[m], device_agreement=[p])
    md = path.read_text(encoding="utf-8")
    assert "## Agreement between targets" in md
    assert f"### float8_e5m2, softplus (exhaustive, {total:,} inputs)" in md
    assert "| | oracle | bumped |" in md
    assert f"| oracle | 100.0 | {pct} |" in md and f"| bumped | {pct} | 100.0 |" in md
    assert "- not compared: raising: raised RuntimeError: boom" in md
    assert f"{positive:,} of {total:,} inputs differ; closer to the oracle: oracle on {positive:,}, bumped on 0" in md
    write_markdown(path, verdicts, env)
    assert "Agreement" not in path.read_text(encoding="utf-8")


def test_html_shows_the_matrix(records):
    verdicts, env, m, p = records
    total, positive = _counts("float8_e5m2")
    pct = f"{100 * (total - positive) / total:.1f}"
    page = render_html(verdicts, env, [], agreement=[m], device_agreement=[p])
    assert 'href="#agreement"' in page and 'id="agreement-float8_e5m2"' in page
    table = page[page.index('<table class="agreement" id="agreement-float8_e5m2-softplus"'):]
    table = table[:table.index("</table>")]
    assert '<th scope="col">oracle</th><th scope="col">bumped</th>' in table
    assert table.count(f">{pct}</td>") == 2 and table.count('class="num diag"') == 2
    assert '<tr data-target="bumped"><th scope="row">bumped</th>' in table
    assert 'class="device-pair"' in page and "raised RuntimeError: boom" in page
    assert 'id="agreement"' not in render_html(verdicts, env, [])


def test_report_command_writes_agreement(tmp_path):
    from softplus_cert.cli import main

    out = tmp_path / "out"
    assert main(["report", "--targets", "numpy-stable,numpy-log1p", "--dtypes", "float8_e5m2", "--betas", "1",
                 "--quiet", "--skip-speed", "--out", str(out)]) == 0
    doc = json.loads((out / "accuracy.json").read_text())
    assert [(m["format"], m["fn"]) for m in doc["agreement"]] == [("float8_e5m2", "softplus"),
                                                                   ("float8_e5m2", "softplus_grad")]
    import targets

    for d in doc["agreement"]:
        direct = agreement_matrix([targets.get_target("numpy-stable"), targets.get_target("numpy-log1p")],
                                  "float8_e5m2", d["fn"])
        assert d == direct.to_dict()
    assert doc["device_agreement"] == []
    assert "## Agreement between targets" in (out / "accuracy.md").read_text()
    assert 'id="agreement-float8_e5m2-softplus_grad"' in (out / "index.html").read_text()
