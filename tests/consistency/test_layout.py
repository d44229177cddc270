"""Layout consistency (engine.consistency): a result that changes with an input's place in a tensor is found.

The planted targets live in ``layout_targets.py``, a plugin module loaded the way ``--target-module`` loads one
(into a private registry here, so the rest of the suite does not parametrize over them).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

import oracle
from engine.consistency import layout_check
from oracle.formats import get_format
from targets import Registry, Target, marshal
from engine.isolation import IsolatedTarget

PLUGIN = str(Path(__file__).with_name("layout_targets.py"))
N = 300  # inputs per check: every layout still puts each input at many positions


@pytest.fixture(scope="module")
def planted():
    return {t.name: t for t in Registry(builtins=False, entry_points=False).load_module(PLUGIN, strict=True)}


def _length(layout: str) -> int | None:
    m = re.match(r"len=(\d+)", layout)
    return int(m.group(1)) if m else None


def _neighbours(a: float, b: float, fmt: str) -> bool:
    """a and b are adjacent values of the format (bit patterns one apart, same sign): one ulp step."""
    f = get_format(fmt)
    ba, bb = (int(f.to_bits(np.array([v]).astype(f.dtype))[0]) for v in (a, b))
    return (ba ^ bb) & f.sign_mask == 0 and abs(ba - bb) == 1


@pytest.mark.parametrize("fmt", ["float32", "bfloat16"])
def test_a_result_that_changes_at_the_end_of_a_tensor_is_caught(planted, fmt):
    r = layout_check(planted["layout-last-bumped"], fmt, n=N)
    assert r.status == "ok", r.reason
    assert r.differing > 0 and r.worst is not None
    assert r.worst.ulps == 1 and r.max_ulps == 1
    assert 0 < len(r.examples) <= 10 and r.worst == r.examples[0]
    f = get_format(fmt)
    for e in r.examples:
        assert _neighbours(e.result_a, e.result_b, fmt), e
        # one of the two is the correctly rounded result, the other the planted neighbour
        correct = float(oracle.softplus(np.array([e.x]).astype(f.dtype)).astype(np.float64)[0])
        assert correct in (e.result_a, e.result_b), e
    named = {d.layout_a for d in r.examples} | {d.layout_b for d in r.examples}
    assert any(_length(name) is not None and _length(name) < 64 for name in named), named
    # in tensors of L, every L-th input is some tensor's last element
    short = min((lay for lay in r.by_layout if re.fullmatch(r"len=\d+ offset=0", lay)), key=_length)
    assert r.by_layout[short] >= r.n_inputs // _length(short) - 1
    assert r.by_layout["len=1"] > 0
    assert r.differing <= r.n_inputs and r.differing >= max(r.by_layout.values())


def test_a_layout_independent_target_shows_no_difference(planted):
    r = layout_check(planted["layout-oracle"], "float32", n=N)
    assert r.status == "ok", r.reason
    assert r.differing == 0 and r.max_ulps == 0 and r.worst is None and r.examples == []
    assert set(r.by_layout.values()) == {0}
    ran = [lay for lay in r.layouts if "skipped" not in lay]
    assert ran[0] == "contiguous" and set(ran[1:]) == set(r.by_layout)
    for family in ("len=1", "strided[::2]", "transposed", "rows[:, :"):
        assert any(lay.startswith(family) for lay in ran), family
    lengths = {_length(lay) for lay in ran} - {None}
    assert {15, 16, 17} <= lengths and any(L > 4096 and L % 2 for L in lengths)  # float32: 16 lanes of 512 bit
    # the oracle target cannot set a thread count: those layouts are named as skipped
    assert any(lay.startswith("threads=1 (skipped") for lay in r.layouts)
    assert r.calls > len(ran)


def test_a_result_that_depends_on_the_thread_count_is_caught(planted):
    t = planted["layout-threads"]
    r = layout_check(t, "float32", n=N)
    assert r.status == "ok", r.reason
    assert r.by_layout["threads=1"] == r.n_inputs == r.differing
    assert all(v == 0 for k, v in r.by_layout.items() if k != "threads=1")
    assert r.worst.layout_b == "threads=1" and r.worst.ulps == 1
    assert t.threads is None  # restored afterwards


def test_through_an_isolated_worker(planted):
    iso = IsolatedTarget(planted["layout-threads"], plugin_specs=[PLUGIN], timeout=60)
    try:
        r = layout_check(iso, "float32", n=N)
        assert r.status == "ok", r.reason
        assert r.by_layout["threads=1"] == r.n_inputs
        assert planted["layout-threads"].threads is None  # the setting went to the worker, not to this copy
    finally:
        iso.close()


def test_non_contiguous_inputs_reach_an_isolated_worker_as_such(planted):
    """Pickle alone would hand the worker contiguous copies; the strided layouts must arrive strided."""
    iso = IsolatedTarget(planted["layout-strided"], plugin_specs=[PLUGIN], timeout=60)
    try:
        r = layout_check(iso, "bfloat16", n=N)
    finally:
        iso.close()
    assert r.status == "ok", r.reason
    non_contiguous = [lay for lay in r.by_layout if lay.startswith(("strided", "rows"))]
    assert non_contiguous and all(r.by_layout[lay] == r.n_inputs for lay in non_contiguous), r.by_layout
    assert r.by_layout["len=16 offset=0"] == 0


@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16, np.float64])
def test_to_torch_keeps_a_strided_view_strided(dtype):
    pytest.importorskip("torch")
    f = get_format(dtype)
    base = f.from_bits(np.random.default_rng(1).integers(0, 2 ** f.bits, 64, dtype=np.uint64).astype(f.uint))
    for view, strides in ((base[::2], (2,)), (base.reshape(8, 8).T, (1, 8)), (base.reshape(8, 8)[:, :5], (8, 1))):
        t = marshal.to_torch(view)
        assert not t.is_contiguous() and t.stride() == strides
        assert t.data_ptr() == view.ctypes.data  # the same memory, not a copy
        back = marshal.from_torch(t, f, view.shape)
        assert np.array_equal(f.to_bits(back), f.to_bits(np.ascontiguousarray(view)))
    rev = base[::-3]  # torch has no negative strides: a copy, same values
    assert np.array_equal(f.to_bits(marshal.from_torch(marshal.to_torch(rev), f, rev.shape)),
                          f.to_bits(np.ascontiguousarray(rev)))


def test_torch_cpu_float32_softplus():
    torch = pytest.importorskip("torch")
    from targets import get_target

    threads = torch.get_num_threads()
    r = layout_check(get_target("torch-cpu"), "float32")
    assert torch.get_num_threads() == threads
    assert r.status == "ok", r.reason
    doc = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert doc["target"] == "torch-cpu" and doc["n_inputs"] == r.n_inputs
    assert "threads=1" in r.layouts and "threads=all" in r.layouts  # torch sets its thread count
    assert set(r.by_layout) == set(r.layouts[1:])
    assert r.differing >= max(r.by_layout.values()) and len(r.examples) == min(r.differing, 10)
    if r.differing:
        assert r.worst.ulps == r.max_ulps > 0 and r.worst.result_a != r.worst.result_b
    shown = {k: v for k, v in r.by_layout.items() if v}
    print(f"\ntorch-cpu float32 softplus: {r.differing} of {r.n_inputs} inputs differ, max {r.max_ulps} ulp, "
          f"{r.calls} calls, {r.elapsed_s:.2f} s; worst {r.worst}; by layout {shown}")


def test_torch_set_threads_sets_and_restores():
    torch = pytest.importorskip("torch")
    from targets import get_target

    t = get_target("torch-cpu")
    before = torch.get_num_threads()
    try:
        assert t.set_threads(1) is True and torch.get_num_threads() == 1
    finally:
        assert t.set_threads(None) is True
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError):
        t.set_threads(0)


class _RaisesOnSingles(Target):
    name = "raises-on-singles"
    formats = ("bfloat16",)

    def compute(self, x, beta, threshold):
        if x.size == 1:
            raise ValueError("no kernel for one element")
        return oracle.softplus(x)

    compute_grad = compute


def test_errors_and_unsupported_are_reported(planted):
    r = layout_check(_RaisesOnSingles(), "bfloat16", n=N)
    assert r.status == "error" and "raised ValueError: no kernel for one element" in r.reason
    assert "'len=1'" in r.reason
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["max_ulps"] == "nan"
    u = layout_check(planted["layout-oracle"], "float8_e5m2", n=N)
    assert u.status == "unsupported" and "float8_e5m2" in u.reason
