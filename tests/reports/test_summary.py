"""The report at a glance: digits that keep their meaning, a summary row for every target, findings from data.

Expected values are derived here, independently of the code under test: the torch-cpu float16 case compares
torch's own results with the oracle's correctly rounded ones on every float16 input; the other verdicts are
built by hand with the numbers written in the test.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oracle
from engine.judge import Verdict, WorstInput
from engine.switches import SwitchJump
from reports.accuracy import summary_table, write_markdown
from reports.digits import num, num_pair, percent
from reports.html import render_html
from reports.summary import grade, summarize, summary_lines, summary_markdown
from tests.targets.target_support import usable

# --- digits ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, text", [(0.5000029, "0.500003"), (0.5, "0.5"), (1.0000004, "1.0000004"),
                                         (0.99996, "0.99996"), (1.26, "1.26"), (1420.3, "1.42e+03"),
                                         (0.0, "0"), (math.inf, "inf"), (math.nan, "nan"), (None, "–")])
def test_num_examples(value, text):
    assert num(value) == text


@given(st.floats(min_value=0.0, max_value=2.0, allow_nan=False))
@settings(max_examples=300, deadline=None)
def test_num_never_prints_a_landmark_it_is_not(x):
    shown = float(num(x))
    for landmark in (0.0, 0.5, 1.0):
        assert (shown == landmark) == (x == landmark), (x, num(x))
    assert abs(shown - x) <= 5e-3 * max(abs(x), 1e-300)  # still three significant digits, or more


@given(st.integers(min_value=1, max_value=10**9), st.integers(min_value=0, max_value=10**9))
@settings(max_examples=300, deadline=None)
def test_percent_never_rounds_to_all_or_none(n, k):
    k = min(k, n)
    text = percent(k / n)
    assert (text.startswith("100") and float(text) == 100) == (k == n), (k, n, text)
    assert (float(text) == 0) == (k == 0), (k, n, text)


@given(st.floats(min_value=-2.0**100, max_value=2.0**100, allow_nan=False, width=32), st.integers(1, 3))
@settings(max_examples=200, deadline=None)
def test_two_different_onsets_never_read_alike(x, k):
    """An underflow onset one float32 early must not print like the true one (torch-compile: -103.972076
    against -103.972084, "-103.97208" both at 8 digits)."""
    y = float(np.nextafter(np.float32(x), np.float32(np.inf) if k % 2 else np.float32(-np.inf)))
    a, b = num_pair(x, y)
    assert (a == b) == (x == y), (x, y, a, b)


# --- hand-built verdicts -------------------------------------------------------------------------------------------

def _ok(target, fmt="float32", fn="softplus", *, max_ulp, cr=0.9, beta=1.0, threshold=None, **kw) -> Verdict:
    v = Verdict(target=target, format=fmt, fn=fn, beta=beta, threshold=threshold, mode="sampled", n_inputs=1000,
                max_ulp=max_ulp, max_finite_ulp=kw.pop("max_finite_ulp", max_ulp), mean_ulp=0.1,
                correctly_rounded_fraction=cr, **kw)
    return v


def _grid_row(lines: list[str], target: str) -> str:
    rows = [line for line in lines if line.startswith(f"| {target} |")]
    assert len(rows) == 1, (target, rows)
    return rows[0]


def test_grades_from_the_numbers():
    assert grade(_ok("a", max_ulp=0.5, cr=1.0)) == "correctly rounded"
    assert grade(_ok("a", max_ulp=0.5000029, cr=0.999996)) == "faithful"
    assert grade(_ok("a", max_ulp=0.5, cr=0.999)) == "faithful"  # a tie rounded the wrong way
    assert grade(_ok("a", max_ulp=1.0)) == "worse"
    assert grade(_ok("a", max_ulp=math.inf, max_finite_ulp=0.5, nonfinite_count=3)) == "non-finite"
    assert grade(_ok("a", max_ulp=math.nan, max_finite_ulp=0.5, nan_count=1)) == "non-finite"
    assert grade(Verdict(target="a", format="float32", fn="softplus", beta=1.0, threshold=None, status="error",
                         reason="raised")) == "error"
    assert grade(None) == "unsupported"


def _mixed_verdicts() -> list[Verdict]:
    jump = SwitchJump(at=20.0, below=20.0, above=20.000001907348633, error_below_ulp=0.3, error_above_ulp=-7.5,
                      jump_ulp=7.8)
    worst = WorstInput(x=20.000001907348633, result=20.000001907348633, correct=20.000001907348634, ulp=7.5)
    return [
        _ok("alpha", max_ulp=0.5000029, cr=0.999996),
        _ok("alpha", fn="softplus_grad", max_ulp=0.5, cr=1.0),
        _ok("beta-t", max_ulp=7.5, switch_jumps=[jump], threshold_jump_ulp=7.8, worst_finite=[worst],
            worst=[worst]),
        _ok("beta-t", max_ulp=math.inf, max_finite_ulp=0.5, nonfinite_count=12, overflow_onset=88.75,
            threshold=math.inf),
        Verdict(target="gamma", format="float32", fn="softplus", beta=1.0, threshold=None, status="error",
                reason="timed out after 60 s"),
        Verdict(target="delta", format="-", fn="-", beta=1.0, threshold=None, status="unsupported",
                reason="delta: no CUDA device"),
    ]


def test_every_target_has_a_row_or_a_reason(tmp_path):
    verdicts = _mixed_verdicts()
    s = summarize(verdicts)
    assert [r.target for r in s.rows] == ["alpha", "beta-t", "gamma"]
    assert s.unavailable == ["delta: no CUDA device"]
    md = summary_markdown(s)
    assert "0.500003" in _grid_row(md, "alpha") and "| 0.5 |" not in _grid_row(md, "alpha")
    assert "🔴" not in _grid_row(md, "beta-t")  # its default-parameter cell is finite: 7.5 ulp
    assert "7.5" in _grid_row(md, "beta-t") and "error" in _grid_row(md, "gamma")
    assert any("delta: no CUDA device" in line for line in md)
    # accuracy.md opens with it: the summary comes before the first per-format table
    write_markdown(tmp_path / "accuracy.md", verdicts, {"date": "d", "seed": 0})
    text = (tmp_path / "accuracy.md").read_text()
    assert text.index("## Summary") < text.index("## float32")
    page = render_html(verdicts, {"date": "d", "seed": 0}, [])
    assert page.index('id="summary"') < page.index('id="format-float32"')
    grid = page[page.index('id="summary-grid"'):page.index("</table>", page.index('id="summary-grid"'))]
    assert re.findall(r'<tr data-target="([^"]+)"', grid) == ["alpha", "beta-t", "gamma"]
    assert "grade-faithful" in grid and "grade-correctly-rounded" in grid and "grade-error" in grid


def test_findings_name_the_defect_and_its_input():
    s = summarize(_mixed_verdicts())
    beta_t = next(r for r in s.rows if r.target == "beta-t")
    text = " ".join(beta_t.findings)
    assert "jump of 7.8 ulp" in text and "x = 20.0" in text and "20.000001907348633" in text
    assert "inf or NaN" in text and "88.75" in text and "threshold=inf" in text
    gamma = next(r for r in s.rows if r.target == "gamma")
    assert any("timed out after 60 s" in f for f in gamma.findings)


def test_certificate_outcome_under_certify(capsys):
    verdicts = _mixed_verdicts()
    s = summarize(verdicts, {"alpha": [], "beta-t": ["beta-t float32 softplus: max_ulp budget 1 but 7.5"]})
    by = {r.target: r for r in s.rows}
    assert by["alpha"].certificate == "holds" and by["beta-t"].certificate == "broken"
    assert any("BROKEN" in f and "7.5" in f for f in by["beta-t"].findings)
    assert by["gamma"].certificate is None  # not held to one in this call
    summary_table(verdicts, certificate_violations={"alpha": [], "beta-t": ["x"]})
    out = capsys.readouterr().out
    assert "certificate holds" in out and "certificate broken" in out


def test_terminal_summary_lists_every_target():
    lines = summary_lines(summarize(_mixed_verdicts()))
    rows = [line for line in lines if line.startswith("  ") and not line.startswith("  -")]
    for name in ("alpha", "beta-t", "gamma"):
        assert any(line.split()[0] == name for line in rows), (name, lines)
    assert any("0.500003~" in line for line in rows)


# --- a real case: torch-cpu float16 softplus, every input ---------------------------------------------------------

def test_torch_float16_softplus_is_not_shown_as_correctly_rounded():
    """torch-cpu float16 softplus: torch's own results against the oracle on every float16 input decide, in
    the test, whether it is correctly rounded; the summary must not print 0.5 for a target that is not."""
    target = usable("torch-cpu")
    import torch

    from oracle.formats import get_format
    from engine.judge import judge

    f = get_format("float16")
    x = f.all_values()
    direct = torch.nn.functional.softplus(torch.from_numpy(x)).numpy()
    truth = oracle.softplus(x)
    fin = np.isfinite(x)
    differs = int(np.count_nonzero(direct[fin].view(np.uint16) != truth[fin].view(np.uint16)))
    v = judge(target, "float16", "softplus", 1.0, None)
    cell = summarize([v]).rows[0].cells[0]
    if differs:
        assert cell.grade != "correctly rounded" and cell.text != "0.5" and float(cell.text) > 0.5, cell
    else:
        assert cell.grade == "correctly rounded", cell
