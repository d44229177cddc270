"""draft-certificate: one certificate from the reports of several instruction-set paths, holding on each."""

import tomllib

import numpy as np

from oracle.certificate import parse_certificate
from oracle.judge import judge
from reports.draft import draft_certificate
from tests.judge.test_judge import Planted, _next_up


def _as_path(v, path):
    v.code_path = {"path": path}
    return v


def _band_fault(x, y):  # one ulp up on a band: the "other path" rounds worse there
    y = y.copy()
    band = (x > 1) & (x < 2)
    y[band] = _next_up(y[band])
    return y


def _verdicts(fault, path, fns=("softplus",)):
    t = Planted(fault)
    return [_as_path(judge(t, "float16", fn), path) for fn in fns]


def test_paths_that_measure_alike_share_one_entry_that_holds_everywhere():
    same = lambda x, y: y  # noqa: E731 — correctly rounded on both paths
    a, b = _verdicts(same, "avx2"), _verdicts(same, "avx512")
    doc = tomllib.loads(draft_certificate("planted", a, [], (b, [])))
    (entry,) = doc["budget"]
    assert "path" not in entry and 0.5 <= entry["max_ulp"] <= 0.52 and "avx2 and avx512" in entry["reason"]


def test_paths_that_differ_get_entries_of_their_own_and_the_loosest_for_the_rest():
    a, b = _verdicts(lambda x, y: y, "avx2"), _verdicts(_band_fault, "avx512")
    text = draft_certificate("planted", a, [], (b, []))
    cert = parse_certificate(tomllib.loads(text))
    base, *per_path = cert.entries
    assert "path" not in base and sorted(e["path"] for e in per_path) == ["avx2", "avx512"]
    assert all(e["reason"].startswith(f"on the {e['path']} path") for e in per_path)
    for v in a + b:  # holds on each path, and nothing reads as loose against the path's own measurement
        assert cert.check(v) == [] and cert.loose(v) == []
    # a path nobody measured gets the loosest budget known
    (unmeasured,) = _verdicts(_band_fault, "neon")
    assert cert.check(unmeasured) == []
    # a regression on the tighter path is caught there, though the other path would allow it
    (regressed,) = _verdicts(_band_fault, "avx2")
    assert "max_ulp" in [m.key for m in cert.check(regressed)]


def test_overflow_drafts_an_infinite_maximum_and_a_finite_budget():
    def overflow(x, y):
        return np.where(x >= np.float16(8), np.float16(np.inf), y).astype(y.dtype)

    (v,) = _verdicts(overflow, "avx2")
    (entry,) = tomllib.loads(draft_certificate("planted", [v]))["budget"]
    assert entry["max_ulp"] == float("inf") and 0.5 <= entry["max_finite_ulp"] <= 0.52
    assert entry["nonfinite"] >= v.nonfinite_count and entry["premature_overflow"] is True
    cert = parse_certificate({"target": "planted", "budget": [entry]})
    assert cert.check(v) == []
