"""``softplus-cert compare OLD NEW``: the comparison (engine.compare), its writers (reports.compare) and the
command's exit statuses, on planted faults and on the committed references (an AVX2 Zen 3 run against a
Sapphire Rapids one), where the combinations it lists are checked against a diff of the JSON made here."""

from __future__ import annotations

import copy
import gzip
import json
import math
from pathlib import Path

import pytest

from engine.compare import (
    BETTER,
    NEITHER,
    WORSE,
    CompareError,
    compare,
    compare_reports,
    figure_changes,
    worse_than,
    worse_than_baseline,
)
from engine.stored import REPORT_SCHEMA
from engine.switches import SwitchJump
from engine.verdict import Verdict
from reports.compare import render_html, render_markdown, terminal_lines
from softplus_cert.cli import main

ROOT = Path(__file__).resolve().parents[2]
ZEN3 = ROOT / "reports" / "reference" / "accuracy.json"
SPR = ROOT / "reports" / "reference" / "sapphire-rapids" / "accuracy.json.gz"


def _v(target: str = "t", fmt: str = "float16", fn: str = "softplus", beta: float = 1.0, threshold=None,
       path: str = "avx2", **kw) -> Verdict:
    """A measured verdict of a well-behaved implementation, with ``kw`` planted."""
    base = dict(mode="exhaustive", n_inputs=1000, max_ulp=0.5, max_finite_ulp=0.5, correctly_rounded_fraction=0.99,
                code_path={"path": path}, property_failures={"identity": 0},
                special_values={"nan": {"result": math.nan, "expected": math.nan, "ok": True}})
    return Verdict(target, fmt, fn, beta, threshold, **{**base, **kw})


def _grid(path: str = "avx2") -> list[Verdict]:
    return [_v(fmt=f, fn=fn, beta=b, path=path) for f in ("float16", "bfloat16") for fn in ("softplus", "softplus_grad")
            for b in (1.0, 2.0)]


def _write(path: Path, verdicts: list[Verdict], machine: str = "test machine") -> Path:
    text = json.dumps({"schema": REPORT_SCHEMA, "environment": {"machine": machine, "date": "2026-12-05"},
                       "verdicts": [v.to_dict() for v in verdicts]})
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def _cli(capsys, *argv: str) -> tuple[int, list[str], list[str]]:
    status = main(["compare", *argv])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err.splitlines()


def _changed(old: list[Verdict], new: list[Verdict]):
    return compare(old, new).changes


# --- planted faults through the command line ----------------------------------------------------------------------

def test_a_larger_max_error_is_worse_and_exits_1(tmp_path, capsys):
    old = _grid()
    new = copy.deepcopy(old)
    new[2].max_ulp = new[2].max_finite_ulp = 0.75
    a, b = _write(tmp_path / "old.json", old), _write(tmp_path / "new.json", new)
    status, out, err = _cli(capsys, str(a), str(b), "--out", str(tmp_path / "out"))
    assert status == 1 and not err
    lines = [line for line in out if line.startswith(("worse", "better", "changed"))]
    assert len(lines) == 1 and lines[0].startswith("worse") and "t float16 softplus_grad (beta=1," in lines[0]
    assert "max error 0.5 → 0.75 ulp ▲" in lines[0]
    md = (tmp_path / "out" / "compare.md").read_text()
    assert "1 changed (1 worse" in md and "t float16 softplus_grad (beta=1," in md
    assert (tmp_path / "out" / "compare.html").read_text().startswith("<!DOCTYPE html>")
    assert _cli(capsys, str(a), str(b), "--print-only", "--fail-on", "never")[0] == 0


def test_a_smaller_max_error_is_better_and_fails_only_on_any(tmp_path, capsys):
    old = _grid()
    new = copy.deepcopy(old)
    new[0].max_ulp = new[0].max_finite_ulp = 0.25
    a, b = _write(tmp_path / "old.json", old), _write(tmp_path / "new.json.gz", new)
    status, out, _ = _cli(capsys, str(a), str(b), "--print-only")
    assert status == 0 and any(line.startswith("better") and "0.5 → 0.25 ulp ▼" in line for line in out)
    assert not list(tmp_path.glob("compare.*")) and not (tmp_path / "reports").exists()
    assert _cli(capsys, str(a), str(b), "--print-only", "--fail-on", "any")[0] == 1
    assert _cli(capsys, str(a), str(b), "--print-only", "--fail-on", "worse")[0] == 0


def test_identical_runs_and_a_path_change_alone_list_nothing(tmp_path, capsys):
    a = _write(tmp_path / "old.json", _grid("avx2"))
    b = _write(tmp_path / "new.json", _grid("avx512"))  # another machine: same figures
    status, out, _ = _cli(capsys, str(a), str(b), "--print-only", "--fail-on", "any")
    assert status == 0
    assert out[-1] == "8 combinations in both reports: 0 changed (0 worse, 0 better, 0 neither), 8 unchanged; " \
                      "0 only in NEW, 0 only in OLD"
    assert len(out) == 3  # OLD, NEW, the count
    assert compare_reports(a, b).path_changes == [("avx2", "avx512", 8)]


def test_a_truncated_or_missing_report_exits_2_in_one_line(tmp_path, capsys):
    good = _write(tmp_path / "good.json", _grid())
    text = good.read_text()
    (tmp_path / "cut.json").write_text(text[: len(text) // 2])
    with gzip.open(tmp_path / "cut.json.gz", "wt") as f:
        f.write(text)
    raw = (tmp_path / "cut.json.gz").read_bytes()
    (tmp_path / "cut.json.gz").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "list.json").write_text("[1, 2]")
    for bad in ("cut.json", "cut.json.gz", "missing.json", "list.json", "."):
        status, out, err = _cli(capsys, str(good), str(tmp_path / bad), "--print-only")
        assert status == 2 and len(err) == 1 and "Traceback" not in err[0], (bad, err)
        assert err[0].startswith("softplus-cert: error: cannot read") and bad.strip(".") in err[0], err


def test_reports_with_no_combination_in_common_exit_2(tmp_path, capsys):
    a = _write(tmp_path / "old.json", _grid())
    b = _write(tmp_path / "new.json", [_v(target="other")])
    status, _, err = _cli(capsys, str(a), str(b), "--print-only")
    assert status == 2 and len(err) == 1 and "no combination" in err[0]
    empty = _write(tmp_path / "empty.json", [])
    assert _cli(capsys, str(empty), str(a), "--print-only")[0] == 2


def test_added_and_removed_are_listed_and_are_not_worse(tmp_path, capsys):
    old = _grid()
    new = old[1:] + [_v(target="u")]
    a, b = _write(tmp_path / "old.json", old), _write(tmp_path / "new.json", new)
    status, out, _ = _cli(capsys, str(a), str(b), "--print-only")
    assert status == 0
    assert [line.split()[0] for line in out[2:-1]] == ["added", "removed"]
    assert "u float16 softplus" in out[2] and "only in NEW: ok" in out[2]
    assert _cli(capsys, str(a), str(b), "--print-only", "--fail-on", "any")[0] == 1


def test_a_report_folder_is_read(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _write(tmp_path / "a" / "accuracy.json", _grid())
    _write(tmp_path / "b" / "accuracy.json.gz", _grid())
    assert _cli(capsys, str(tmp_path / "a"), str(tmp_path / "b"), "--print-only")[0] == 0


# --- the figures and their directions ----------------------------------------------------------------------------

@pytest.mark.parametrize("old, new, direction", [
    (0.5, 0.6, WORSE), (0.6, 0.5, BETTER), (1e30, math.inf, WORSE), (math.inf, math.nan, WORSE),
    (0.5, math.nan, WORSE), (math.nan, 0.5, BETTER), (math.nan, math.inf, BETTER), (math.inf, 2.0, BETTER),
])
def test_nan_maxima_are_worse_than_inf_worse_than_any_number(old, new, direction):
    f = figure_changes(_v(max_ulp=old), _v(max_ulp=new))
    assert [(x.name, x.direction) for x in f] == [("max_ulp", direction)]


def test_nan_figures_equal_to_nan_are_unchanged():
    v = _v(max_ulp=math.nan, max_finite_ulp=math.nan, correctly_rounded_fraction=math.nan, nan_count=3)
    assert figure_changes(v, copy.deepcopy(v)) == []


@pytest.mark.parametrize("field, old, new, direction", [
    ("correctly_rounded_fraction", 0.99, 0.98, WORSE), ("correctly_rounded_fraction", 0.98, 0.99, BETTER),
    ("correctly_rounded_fraction", 0.99, math.nan, WORSE),
    ("nonfinite_count", 0, 2, WORSE), ("nan_count", 3, 0, BETTER), ("monotonicity_violations", 1, 4, WORSE),
    ("threshold_jump_ulp", None, 6.0, WORSE), ("threshold_jump_ulp", 6.0, 0.3, BETTER),
    ("true_overflow_onset", 88.0, 89.0, NEITHER),
])
def test_each_figure_has_its_direction(field, old, new, direction):
    f = figure_changes(_v(**{field: old}), _v(**{field: new}))
    assert [(x.name, x.direction) for x in f] == [(field, direction)]


def test_onsets_switches_properties_and_special_values():
    early = dict(overflow_onset=80.0, true_overflow_onset=88.0)
    assert [(f.name, f.direction) for f in figure_changes(_v(true_overflow_onset=88.0), _v(**early))] == [
        ("overflow_onset", WORSE)]
    later = dict(overflow_onset=85.0, true_overflow_onset=88.0)
    assert figure_changes(_v(**early), _v(**later))[0].direction == BETTER
    late_enough = dict(overflow_onset=88.0, true_overflow_onset=88.0)  # overflows where the truth does: no finding
    assert figure_changes(_v(true_overflow_onset=88.0), _v(**late_enough))[0].direction == NEITHER
    assert figure_changes(_v(), _v(underflow_onset=-10.0))[0].direction == WORSE
    assert figure_changes(_v(underflow_onset=-10.0), _v(underflow_onset=-12.0))[0].direction == BETTER

    def jumps(*ats, discovered=True):
        return [SwitchJump(a, a, a + 1, 0.0, 9.0, 9.0, [[a, 0.0]], discovered) for a in ats]
    assert figure_changes(_v(switch_jumps=jumps(1.0)), _v(switch_jumps=jumps(1.0, 2.0)))[0].direction == WORSE
    assert figure_changes(_v(switch_jumps=jumps(1.0, 2.0)), _v(switch_jumps=jumps(2.0)))[0].direction == BETTER
    moved = figure_changes(_v(switch_jumps=jumps(20.0, discovered=False)),
                           _v(switch_jumps=jumps(15.0, discovered=False)))
    assert [(f.name, f.direction) for f in moved] == [("switches.declared", NEITHER)]
    same_but_neighbours = jumps(1.0)
    same_but_neighbours[0].neighbourhood = [[1.0, 0.25]]  # not a figure: its values come from the fast path
    assert figure_changes(_v(switch_jumps=jumps(1.0)), _v(switch_jumps=same_but_neighbours)) == []

    props = figure_changes(_v(property_failures={"identity": 2, "lower_bound": 0}),
                           _v(property_failures={"identity": 1, "upper_bound": 3}))
    assert [(f.name, f.old, f.new, f.direction) for f in props] == [
        ("property_failures.identity", 2, 1, BETTER), ("property_failures.upper_bound", 0, 3, WORSE)]
    wrong = {"nan": {"result": 0.0, "expected": math.nan, "ok": False}}
    assert figure_changes(_v(), _v(special_values=wrong))[0].direction == WORSE


def test_a_status_change_is_the_only_figure_and_error_is_a_new_finding():
    broken = _v(status="error", reason="RuntimeError: boom", max_ulp=math.nan)
    [f] = figure_changes(_v(monotonicity_violations=3), broken)
    assert (f.name, f.old, f.new, f.direction) == ("status", "ok", "error", WORSE)
    [c] = _changed([_v(monotonicity_violations=3)], [broken])
    assert [(x.kind, x.state) for x in c.findings] == [("error", "new")]  # not "fixed: monotonicity"
    assert figure_changes(broken, _v())[0].direction == BETTER
    assert figure_changes(_v(), _v(status="unsupported"))[0].direction == NEITHER
    assert figure_changes(_v(status="unsupported"), _v(status="unsupported", reason="other")) == []


def test_findings_come_first_by_severity_then_worse_better_neither():
    old = [_v(beta=b) for b in (1, 2, 3, 4, 5, 6, 7, 8, 9)] + [_v(beta=10, monotonicity_violations=2)]
    new = [_v(beta=1, correctly_rounded_fraction=0.5),                    # worse, no finding
           _v(beta=2, max_ulp=0.25, max_finite_ulp=0.25),                 # better
           _v(beta=3, max_ulp=1.5, max_finite_ulp=1.5),                   # new: max error ≥ 1 ulp
           _v(beta=4, monotonicity_violations=1),                         # new: monotonicity
           _v(beta=5, overflow_onset=1.0, true_overflow_onset=2.0),       # new: early overflow
           _v(beta=6, nan_count=1, max_ulp=math.nan),                     # new: NaN results
           _v(beta=7, status="error", reason="crash"),                    # new: error
           _v(beta=8, true_underflow_onset=-3.0),                         # changed, no direction
           _v(beta=9),                                                    # unchanged
           _v(beta=10)]                                                   # fixed: monotonicity
    order = [(c.key[3], c.direction, [(f.state, f.kind) for f in c.findings]) for c in _changed(old, new)]
    assert order == [(7, WORSE, [("new", "error")]), (6, WORSE, [("new", "nan"), ("new", "unfaithful")]),
                     (5, WORSE, [("new", "early_overflow")]), (4, WORSE, [("new", "monotonicity")]),
                     (10, BETTER, [("fixed", "monotonicity")]), (3, WORSE, [("new", "unfaithful")]),
                     (1, WORSE, []), (2, BETTER, []), (8, NEITHER, [])]


def test_combinations_are_matched_by_key_not_path_and_several_paths_pair_by_path():
    native, capped = _v(path="avx512", max_ulp=0.5), _v(path="x86_v2", max_ulp=0.9, max_finite_ulp=0.9)
    c = compare([native, capped], [_v(path="x86_v2", max_ulp=0.9, max_finite_ulp=0.9), _v(path="avx512")])
    assert c.matched == 2 and c.changes == []
    assert compare([_v(path="avx2")], [_v(path="avx512", max_ulp=0.7)]).changes[0].path_change == ("avx2", "avx512")
    with pytest.raises(CompareError):
        compare([_v()], [_v(mode="sampled")])  # the mode is part of the combination


def test_worse_than_gives_the_reasons_and_the_baseline_rules():
    assert worse_than(_v(), _v()) == []
    reasons = worse_than(_v(), _v(max_ulp=2.0, max_finite_ulp=2.0, correctly_rounded_fraction=0.5, nan_count=1))
    assert reasons == ["max error: 0.5 ulp → 2.0 ulp", "largest finite error: 0.5 ulp → 2.0 ulp",
                       "correctly rounded: 0.99 → 0.5 (fraction of the inputs)", "NaN results: 0 → 1"]
    assert worse_than(_v(max_ulp=2.0), _v()) == []  # better is not worse
    assert worse_than_baseline([_v(target="other")], _v(max_ulp=9.0)) == []  # not in the baseline
    two_paths = [_v(path="avx512", max_ulp=0.3), _v(path="x86_v2", max_ulp=0.6)]
    assert worse_than_baseline(two_paths, _v(path="x86_v2", max_ulp=0.6)) == []  # its own path
    assert worse_than_baseline(two_paths, _v(path="avx512", max_ulp=0.6)) == ["max error: 0.3 ulp → 0.6 ulp"]
    assert worse_than_baseline(two_paths, _v(path="avx2", max_ulp=0.6)) == []  # a new path: the best match


# --- the writers ------------------------------------------------------------------------------------------------

def test_the_writers_escape_and_tell_close_values_apart():
    old = [_v(target="a|<b>", max_ulp=127.99999999999999, max_finite_ulp=127.99999999999999)]
    new = [_v(target="a|<b>", max_ulp=128.0, max_finite_ulp=128.0, status="ok")]
    c = compare(old, new)
    [line] = terminal_lines(c)
    assert "max error 127.99999999999999 → 128 ulp ▲" in line and "largest finite" not in line
    md = render_markdown(c)
    assert "a\\|<b> float16" in md and "## New and fixed findings" not in md and "## Other changes" in md
    page = render_html(c)
    assert "a|&lt;b&gt; float16" in page and "<b>" not in page and "Content-Security-Policy" in page
    assert 'tr class="worse" data-target="a|&lt;b&gt;"' in page


# --- the committed references -------------------------------------------------------------------------------------

#: The figures compare holds two verdicts of a combination to, read straight from the JSON.
_FIELDS = ("status", "max_ulp", "max_finite_ulp", "correctly_rounded_fraction", "nonfinite_count", "nan_count",
           "overflow_onset", "true_overflow_onset", "underflow_onset", "true_underflow_onset", "threshold_jump_ulp",
           "monotonicity_violations", "property_failures")


def _figures_of(d: dict) -> tuple:
    switches = sorted((s["at"], s["below"], s["above"], s["jump_ulp"], s["discovered"]) for s in d["switch_jumps"])
    wrong = sorted(k for k, s in d["special_values"].items() if not s["ok"])
    return tuple(d[f] for f in _FIELDS) + (switches, wrong)


def _read(path: Path) -> dict:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        doc = json.load(f)
    key = ("target", "format", "fn", "beta", "threshold", "mode")
    return {tuple(v[k] for k in key): v for v in doc["verdicts"]}


def test_zen3_against_sapphire_rapids_lists_exactly_the_combinations_that_differ(tmp_path, capsys):
    old, new = _read(ZEN3), _read(SPR)
    assert old.keys() == new.keys()
    differ = {k for k in old if _figures_of(old[k]) != _figures_of(new[k])}
    assert 0 < len(differ) < len(old)

    status, out, err = _cli(capsys, str(ZEN3), str(SPR), "--out", str(tmp_path))
    assert status == 1 and not err  # figures got worse on the Sapphire Rapids (e.g. numpy-stable monotonicity)
    change_lines = out[2:-2]  # OLD, NEW ... the count, "wrote"
    assert len(change_lines) == len(differ)
    c = compare_reports(ZEN3, SPR)
    assert {ch.key for ch in c.changes} == differ and all(ch.kind == "changed" for ch in c.changes)
    assert c.matched == len(old) and c.unchanged == len(old) - len(differ)
    assert [line.split(" [")[0].split(":")[0] for line in change_lines] == [
        f"{ch.direction:8s} {ch.title}" for ch in c.changes]
    assert {p[:2] for p in c.path_changes} >= {("avx2", "avx512"), ("x86_v3", "avx512_spr")}
    assert "path x86_v3 → avx512_spr" in "\n".join(change_lines)
    md = (tmp_path / "compare.md").read_text()
    assert all(ch.title in md for ch in c.changes)
    assert md.index("## New and fixed findings") < md.index("## Other changes")
    assert md.count("\n| ") == len(differ) + 2  # a row per change, and both headers
