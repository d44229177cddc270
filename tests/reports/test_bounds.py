"""Say what a figure is: a sample's maximum is a lower bound of the true one and reads "≥ 1.21", in the
summary (Markdown, terminal, HTML) and the per-format tables; where an exhaustive reference has the
combination, a footnote gives the truth beside it. An exhaustive verdict's figure is the maximum itself."""

from __future__ import annotations

from engine.verdict import Verdict
from reports.accuracy import max_cell
from reports.html import render_html
from reports.summary import summarize, summary_lines, summary_markdown


def _verdict(mode: str, max_ulp: float, target: str = "t", n: int = 20_098) -> Verdict:
    return Verdict(target=target, format="float32", fn="softplus", beta=1.0, threshold=None, status="ok",
                   mode=mode, max_ulp=max_ulp, max_finite_ulp=max_ulp, n_inputs=n, correctly_rounded_fraction=0.9)


def test_a_sampled_maximum_reads_as_a_lower_bound_and_an_exhaustive_one_does_not():
    sampled, every = _verdict("sampled", 1.21), _verdict("exhaustive", 1.54, n=2 ** 32)
    assert max_cell(sampled) == "≥ 1.21" and max_cell(every) == "1.54"
    s = summarize([sampled])
    assert s.rows[0].cells[0].text == "≥ 1.21"
    assert summarize([every]).rows[0].cells[0].text == "1.54"
    md = "\n".join(summary_markdown(s))
    assert "≥ 1.21" in md and "the maximum over every input of the format is at least this" in md
    assert any("≥ 1.21" in line for line in summary_lines(s))
    assert "at least this" not in "\n".join(summary_markdown(summarize([every])))  # no note without a bound


def test_the_truth_of_an_exhaustive_reference_is_footnoted_beside_the_sample():
    sampled, truth = _verdict("sampled", 1.21), _verdict("exhaustive", 1.54, n=2 ** 32)
    truth.code_path = {"path": "x86_v3"}
    s = summarize([sampled], truth=[truth], truth_source="exhaustive reference, Zen 3")
    assert s.footnotes == ["t float32 softplus: ≥ 1.21 over 20,098 sampled inputs; every input: 1.54 "
                           "(exhaustive reference, Zen 3, path x86_v3)"]
    assert s.footnotes[0] in "\n".join(summary_markdown(s)) and any(s.footnotes[0] in x for x in summary_lines(s))
    page = render_html([sampled], {"date": "d", "seed": 0}, [], truth=[truth], truth_source="exhaustive reference, Zen 3")
    assert "≥ 1.21" in page and "every input: 1.54" in page
    # another target's truth, or another combination's, is no footnote
    other = _verdict("exhaustive", 9.0, target="u", n=2 ** 32)
    assert summarize([sampled], truth=[other]).footnotes == []


def test_an_infinite_sampled_maximum_states_no_bound_and_long_cells_stay_apart():
    inf = _verdict("sampled", float("inf"))
    inf.nonfinite_count = 1
    assert max_cell(inf) == "inf"  # the worst there is: "≥ inf" would say nothing
    a, b = _verdict("sampled", 5.8e5, target="u"), _verdict("sampled", 1.86e7, target="u")
    b.fn = "softplus_grad"
    (row,) = [line for line in summary_lines(summarize([a, b])) if line.startswith("  u ")]
    assert row.split() == ["u", "≥", "5.8e+05!", "≥", "1.86e+07!"]  # two long figures, each apart
