"""Chunked measurement: a verdict does not depend on where the chunks are cut (engine.tally)."""

import math

import numpy as np
import pytest

import oracle
from engine.exhaustive import stream_values
from oracle.formats import get_format
from engine.judge import judge
from engine.case import Case
from engine.tally import Tally
from oracle.ulp import errors_and_rounding
from tests.scale.scale_targets import Faulty


def _comparable(v):
    d = v.to_dict()
    d.pop("elapsed_s")
    return d


@pytest.mark.parametrize("fn", ["softplus", "softplus_grad"])
def test_chunk_edges_lose_nothing(fn):
    # cuts at odd places, at every input, and right between the faults' neighbours: same verdict
    from engine.inputs import input_set

    whole = judge(Faulty(), "float16", fn)
    assert whole.monotonicity_violations >= 1
    # a cut exactly between the planted dip and the input before it: only the seam sees that pair
    dip = 3.0 if fn == "softplus" else 0.5
    at = int(np.flatnonzero(input_set("float16", fn).x.astype(np.float64) == dip)[0])
    for chunk in (4099, 1000, 333, at):
        assert _comparable(judge(Faulty(), "float16", fn, chunk=chunk)) == _comparable(whole), chunk


def test_faults_are_all_measured():
    v = judge(Faulty(), "float16", "softplus", chunk=777)
    # independent expectations from the planted faults
    finite = get_format("float16").all_values().astype(np.float64)
    finite = finite[np.isfinite(finite)]
    # non-finite results where the truth is finite: the +inf from 11 on, and the NaN at -1
    assert v.nan_count == 1 and v.nonfinite_count == int((finite >= 11).sum()) + 1
    assert v.histogram[">256"] >= 1  # the dip at 3.0: 0 where ~3.05 is due, thousands of ulps
    assert v.worst[0].x == -1.0  # NaN ranks first, then the infinite errors in increasing x
    assert [w.x for w in v.worst[1:]] == [11.0, 11.0078125, 11.015625, 11.0234375, 11.03125, 11.0390625,
                                          11.046875, 11.0546875, 11.0625]
    assert v.overflow_onset == 11.0 and v.true_overflow_onset is None
    assert v.underflow_onset == -17.0 and v.monotonicity_violations == 2
    assert [e[:2] for e in v.monotonicity_examples] == [[1.9990234375, 2.0], [2.998046875, 3.0]]
    assert v.property_failures["lower_bound"] == 1


def _chunk_inputs(start, stop):
    f = get_format("float16")
    x = stream_values(f, start, stop)
    y = Faulty().compute(x, 1.0, None)
    ref, err = errors_and_rounding(y, x, "softplus", 1.0)
    ym = Faulty().compute(-x, 1.0, None)
    return x, y, ref, err, ym


def test_clean_path_equals_the_general_one():
    f = get_format("float16")
    x, y, ref, err, ym = _chunk_inputs(20000, 30000)  # finite inputs, finite results: the clean path
    assert np.isfinite(x.astype(np.float64)).all() and np.isfinite(y.astype(np.float64)).all()
    kw = dict(start=20000, rank0=20000 - 1023, n_finite=2 * (f.max_bits + 1))
    fast = Tally.of_chunk(x, y, ref, err, ym, Case(f.name), **kw)
    slow = Tally.of_chunk(x, y, ref, err, ym, Case(f.name), _general=True, **kw)
    assert fast.to_dict() == slow.to_dict()


def test_merge_is_associative_and_checks_adjacency():
    f = get_format("float16")
    first, n_fin = 1023, 2 * (f.max_bits + 1)
    parts = []
    for a, b in ((0, 20000), (20000, 40000), (40000, 65536)):
        x, y, ref, err, ym = _chunk_inputs(a, b)
        parts.append(Tally.of_chunk(x, y, ref, err, ym, Case(f.name), start=a,
                                    rank0=min(max(a - first, 0), n_fin), n_finite=n_fin))
    left = parts[0].merge(parts[1]).merge(parts[2])
    right = parts[0].merge(parts[1].merge(parts[2]))
    assert left.to_dict() == right.to_dict()
    assert Tally.from_dict(left.to_dict()).to_dict() == left.to_dict()  # JSON round trip, exact sums kept
    with pytest.raises(ValueError, match="do not meet"):
        parts[0].merge(parts[2])


def test_mean_is_the_exact_mean_of_the_errors():
    # independent: the floored-to-2**-32 errors summed as Python integers
    v = judge(Faulty(), "float16", "softplus", chunk=5000)
    from engine.inputs import every_value

    x = every_value("float16")  # what the judge judges (boundary points are among them)
    y = Faulty().compute(x, 1.0, None)
    err = oracle.ulp_error(y, x, "softplus")
    err = err[np.isfinite(err) & ~np.isnan(x.astype(np.float64))]
    total = sum(math.floor(e * 2 ** 32) for e in err.tolist())
    assert v.mean_ulp == pytest.approx(total / 2 ** 32 / err.size, rel=1e-12)


def _every_pair_jumps(x, y, ref, err, fn, start):
    """Jump candidates from every adjacent pair, written out from the definition (engine.switches): the
    step in signed error between neighbours where it reaches CANDIDATE_ULPS, at least CANDIDATE_ULPS where
    the onset code changes; the six largest, ties to the first."""
    from engine.switches import CANDIDATE_ULPS

    xf, yf, rf = (np.asarray(a).astype(np.float64) for a in (x, y, ref))
    s = np.array([e if a > b else -e if a < b else 0.0 for a, b, e in zip(yf, rf, err)])
    lin = xf if fn == "softplus" else np.ones_like(xf)
    code = [1 if (a == l and b != l) else 2 if (a == 0 and b != 0) else 0 for a, b, l in zip(yf, rf, lin)]
    rows = []
    for i in range(xf.size - 1):
        step = abs(s[i + 1] - s[i])
        score = step if step >= CANDIDATE_ULPS else 0.0
        if code[i] != code[i + 1]:
            score = max(score, CANDIDATE_ULPS)
        if score > 0:
            rows.append([score, start + i, xf[i], xf[i + 1], s[i], s[i + 1], code[i], code[i + 1]])
    return sorted(rows, key=lambda r: (-r[0], r[1]))[:6]


@pytest.mark.parametrize("fn", ["softplus", "softplus_grad"])
def test_jump_candidates_are_those_of_every_pair(fn):
    """The tally looks only at inputs erring by about 1/2 ulp or more and their neighbours: its candidates
    must be those of every pair, for onsets that err by one ulp (a 0 where the truth is the smallest
    subnormal) and a single outlier."""
    f = get_format("float32")
    rng = np.random.default_rng(5)
    x = np.sort(np.concatenate([np.linspace(-104, -100, 3000), rng.uniform(-30, 30, 3000)]).astype(np.float32))
    x = np.unique(x)
    ref, _ = errors_and_rounding(x, x, fn, 1.0)  # (the correctly rounded results; x as y is a dummy)
    y = ref.copy()
    bits = y.view(np.uint32).copy()
    tiny = np.flatnonzero(bits == 1)  # the smallest subnormal: a 0 there errs by exactly one ulp
    y[tiny[::3]] = 0
    y[x.size // 2] *= np.float32(1.001)  # thousands of ulps, once: the rest of the six are onset pairs
    _, err = errors_and_rounding(y, x, fn, 1.0)
    t = Tally.of_chunk(x, y, ref, err, None, Case(f.name, fn), start=100, rank0=0, n_finite=x.size)
    want = _every_pair_jumps(x, y, ref, err, fn, 100)
    assert len(want) == 6 and sum(r[6] != r[7] for r in want) >= 3  # the planted onsets are among them
    assert t.jumps == want
