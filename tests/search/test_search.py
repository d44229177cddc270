"""Switch discovery and worst-case refinement (engine.switches, engine.refine) on planted defects.

Expected values come from the oracle directly: the true worst input of each planted defect is found here by
evaluating every float where the defect lives, independently of the search.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

import oracle
import targets
from oracle.formats import get_format
from engine.inputs import from_ordered_keys, input_set, ordered_keys
from engine.judge import judge
from engine.tally import Tally
from oracle.ulp import ulp_error
from softplus_cert.cli import main

PLUGIN = str(Path(__file__).with_name("search_targets.py"))
F32 = get_format("float32")


@pytest.fixture(scope="module")
def planted():
    return {t.name: t for t in targets.load_target_module(PLUGIN, strict=True)}


def _true_worst(target, fn: str, lo_key: int, hi_key: int):
    """(x, error) of the worst input among every float32 with keys lo..hi (the oracle on all of them)."""
    x = from_ordered_keys(F32, np.arange(lo_key, hi_key + 1))
    y = target.softplus(x) if fn == "softplus" else target.softplus_grad(x)
    e = ulp_error(y, x, fn)
    i = int(np.argmax(e))
    return float(x[i]), float(e[i])


@pytest.mark.parametrize("fn", ["softplus", "softplus_grad"])
def test_an_undeclared_threshold_is_found_between_two_adjacent_floats(planted, fn):
    t = planted["undeclared-threshold"]
    k12 = int(ordered_keys(F32, np.array([12.0], dtype=np.float32))[0])
    true_x, true_e = _true_worst(t, fn, k12 - 4096, k12 + (1 << 20))  # the defect decays within 2**20 floats
    assert true_x == float(np.nextafter(np.float32(12), np.float32(13)))  # the premise: its worst is at the edge
    v = judge(t, "float32", fn)
    found = [j for j in v.switch_jumps if j.discovered]
    assert [(j.below, j.above) for j in found] == [(12.0, true_x)]
    assert found[0].jump_ulp >= 2 and abs(found[0].error_above_ulp) == pytest.approx(true_e, rel=1e-9)
    assert v.max_finite_ulp == pytest.approx(true_e, rel=0.01) and v.worst_source == "search"
    assert v.threshold_jump_ulp == found[0].jump_ulp


def test_without_the_search_the_threshold_is_missed(planted):
    """The planted fault seen by the plain sample: no switch, a maximum far below the true one."""
    v = judge(planted["undeclared-threshold"], "float32", "softplus", search=False)
    assert not v.switch_jumps and v.max_finite_ulp < 0.99 * 6.44


def test_a_float64_threshold_the_sample_straddles_unseen_is_found_by_the_climb(planted):
    v = judge(planted["undeclared-threshold"], "float64", "softplus_grad")
    above = float(np.nextafter(12.0, 13.0))
    assert [(j.below, j.above) for j in v.switch_jumps if j.discovered] == [(12.0, above)]
    truth = float(ulp_error(np.array([1.0]), np.array([above]), "softplus_grad")[0])
    assert v.max_finite_ulp == pytest.approx(truth, rel=1e-12) and v.worst_input == above


def test_a_narrow_band_seen_once_is_refined_to_its_worst_input(planted):
    t = planted["narrow-band"]
    plug = sys.modules[type(t).__module__]
    lo, hi = plug.BAND_CENTRE - plug.BAND_HALF_WIDTH, plug.BAND_CENTRE + plug.BAND_HALF_WIDTH
    sample = input_set(F32, "softplus", 1.0, seed=0).x
    keys = ordered_keys(F32, sample[np.isfinite(sample)])
    assert int(((keys >= lo) & (keys <= hi)).sum()) == 1  # the premise: the sample sees the band once
    true_x, true_e = _true_worst(t, "softplus", lo, hi)
    plain = judge(t, "float32", "softplus", search=False)
    assert plain.max_finite_ulp < true_e / 10  # what the sample alone reports
    v = judge(t, "float32", "softplus")
    assert v.worst_input == true_x and v.max_finite_ulp == pytest.approx(true_e, rel=1e-9)
    assert v.worst_source == "search" and 0 < v.search_points <= 6000
    assert v.worst[0].x == true_x and v.worst_finite[0].x == true_x


def test_the_search_is_deterministic_and_bounded(planted):
    a = judge(planted["narrow-band"], "float32", "softplus", seed=3)
    b = judge(planted["narrow-band"], "float32", "softplus", seed=3)
    assert (a.max_finite_ulp, a.worst_input, a.search_points) == (b.max_finite_ulp, b.worst_input, b.search_points)


def test_a_correctly_rounded_target_has_no_switch_and_stays_within_half_an_ulp():
    """The oracle itself as a target: nothing to discover, and whatever the search finds stays within 1/2 ulp."""

    class Oracle(targets.Target):
        name, formats = "oracle-itself", ("float32", "float64")

        def compute(self, x, beta, threshold):
            return oracle.softplus(x)

        def compute_grad(self, x, beta, threshold):
            return oracle.softplus_grad(x)

    for fmt in ("float32", "float64"):
        for fn in ("softplus", "softplus_grad"):
            v = judge(Oracle(), fmt, fn)
            assert not v.switch_jumps and v.max_ulp <= 0.5 and v.worst_source in ("sample", "boundary", "search")


def test_jump_candidates_merge_exactly_whatever_the_chunking(planted):
    """A tally's jump candidates (the seams included) do not depend on how the inputs were cut."""
    from oracle.implementation import caller
    from engine.case import Case
    from engine.measure import finite_before, sample_chunks, tally_chunks

    t = planted["undeclared-threshold"]
    x = from_ordered_keys(F32, np.arange(int(ordered_keys(F32, np.array([11.99], dtype=np.float32))[0]),
                                         int(ordered_keys(F32, np.array([12.01], dtype=np.float32))[0])))
    call = caller(t, "softplus", 1.0, None)
    before = finite_before(x)
    whole = tally_chunks(call, Case("float32"), sample_chunks(x, x.size, before), int(before[-1]), 10)
    for chunk in (7, 1000, 4096):
        cut = tally_chunks(call, Case("float32"), sample_chunks(x, chunk, before), int(before[-1]), 10)
        assert cut.jumps == whole.jumps
    assert whole.jumps[0][2:4] == [12.0, float(np.nextafter(np.float32(12), np.float32(13)))]
    assert Tally.from_dict(whole.to_dict()).jumps == whole.jumps


def test_report_shows_the_discovered_switch(tmp_path):
    out = tmp_path / "out"
    assert main(["report", "--target-module", PLUGIN, "--targets", "undeclared-threshold", "--dtypes", "float32",
                 "--functions", "softplus", "--quiet", "--skip-speed", "--skip-layout", "--out", str(out)]) == 0
    md = (out / "accuracy.md").read_text()
    assert "| discovered | 12.0 | 12.000000953674316 |" in md
