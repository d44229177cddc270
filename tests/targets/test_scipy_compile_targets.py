"""scipy-softplus and torch-compile give what their libraries give when called directly, and refuse the rest.

Kept cheap: torch-compile's graphs are compiled once per process (each ~0.1-0.3 s with Inductor's on-disk
cache warm), so these tests use few dtypes and reuse the target's own compiled functions where they can.
"""

from __future__ import annotations

import numpy as np
import pytest

from oracle.formats import get_format
from targets import Unsupported
from target_support import assert_same_values, sample_values, usable

# --- scipy-softplus ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["float32", "float64"])
def test_scipy_matches_direct_call(fmt) -> None:
    target = usable("scipy-softplus")
    special = pytest.importorskip("scipy.special")
    x = sample_values(fmt)
    with np.errstate(all="ignore"):
        want_y, want_g = special.softplus(x), special.expit(x)
    assert_same_values(target.softplus(x), want_y, f"scipy {fmt} softplus")
    assert_same_values(target.softplus_grad(x), want_g, f"scipy {fmt} expit")


@pytest.mark.parametrize("fmt", ["float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"])
def test_scipy_formats_it_does_not_keep_are_unsupported_with_the_reason(fmt) -> None:
    target = usable("scipy-softplus")
    special = pytest.importorskip("scipy.special")
    x = np.array([-1.0, 0.0, 1.0], dtype=get_format(fmt).dtype)
    got = {fn: np.asarray(getattr(special, fn)(x)).dtype for fn in ("softplus", "expit")}
    changed = [fn for fn, dt in got.items() if dt != x.dtype]
    assert changed, f"SciPy now keeps {fmt} for both functions: declare it supported"  # a fact, not a guess
    fn = changed[0]
    reason = target.check(fmt)
    assert reason and f"scipy.special.{fn} returns {got[fn]} for {fmt} input" in reason
    for call in (target.softplus, target.softplus_grad):
        with pytest.raises(Unsupported, match=f"returns {got[fn]} for {fmt}"):
            call(x)


def test_scipy_takes_no_beta_and_no_threshold() -> None:
    target = usable("scipy-softplus")
    x = np.ones(2, np.float32)
    with pytest.raises(Unsupported, match="only beta=1"):
        target.softplus(x, 2.0)
    with pytest.raises(Unsupported, match="threshold"):
        target.softplus_grad(x, 1.0, 20.0)


# --- torch-compile ----------------------------------------------------------------------------------------------

# (beta, threshold): the default threshold, the two extremes of the grid, and a non-default pair
COMPILE_PARAMS = [(1.0, None), (2.0, 0.0), (0.5, float("inf")), (3.0, 5.0)]


@pytest.fixture(scope="module")
def direct_compile():
    """A torch.compile of F.softplus of the test's own (dynamic shapes), independent of the target's."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    def softplus(x, beta, threshold):
        return F.softplus(x, beta, threshold)

    return torch.compile(softplus, dynamic=True, fullgraph=True)


@pytest.mark.parametrize("fmt", ["bfloat16", "float32"])
def test_compile_matches_direct_torch_compile(fmt, direct_compile) -> None:
    target = usable("torch-compile")
    import torch

    from targets import marshal

    f = get_format(fmt)
    x = sample_values(fmt)
    t = marshal.to_torch(x).clone()
    for beta, threshold in COMPILE_PARAMS:
        thr = 20.0 if threshold is None else threshold
        with torch.no_grad():
            want_y = marshal.from_torch(direct_compile(t, beta, thr), f, x.shape)
        leaf = t.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(direct_compile(leaf, beta, thr), leaf, torch.ones_like(leaf))
        want_g = marshal.from_torch(g, f, x.shape)
        what = f"torch-compile {fmt} beta={beta} threshold={threshold}"
        assert_same_values(target.softplus(x, beta, threshold), want_y, what + " softplus")
        assert_same_values(target.softplus_grad(x, beta, threshold), want_g, what + " grad")


def test_compile_threshold_zero_and_inf_take_effect() -> None:
    target = usable("torch-compile")
    x = np.array([0.25, 1.0, 3.0, 12.0], dtype=np.float32)
    with_zero, with_inf = target.softplus(x, 2.0, 0.0), target.softplus(x, 2.0, float("inf"))
    assert np.array_equal(with_zero, x)  # βx > 0: the compiled graph returns x itself
    assert np.all(with_inf[:3] > x[:3])  # log1p(exp(24))/2 rounds to 12 itself in float32
    # the derivative: exactly 1 on the linear branch, sigmoid(βx) < 1 without it
    assert np.array_equal(target.softplus_grad(x, 2.0, 0.0), np.ones_like(x))
    assert np.all(target.softplus_grad(x[:3], 2.0, float("inf")) < 1)


def test_compile_count_stays_bounded_across_beta_threshold_and_shapes() -> None:
    target = usable("torch-compile")
    from engine.grid import BETAS, THRESHOLDS

    def run(beta, threshold):
        for n in (2, 7, 100, 1000, 4097):
            x = np.linspace(-30, 30, n).astype(np.float32)
            target.softplus(x, beta, threshold)
            target.softplus_grad(x, beta, threshold)
        for x in (np.float32(1.5), np.zeros(0, np.float32), np.ones(1, np.float32),
                  np.ones((3, 4), np.float32), np.ones((2, 0, 3), np.float32)):
            target.softplus(x, beta, threshold)
            target.softplus_grad(x, beta, threshold)

    def graphs():
        return {k: v for k, v in target.compiled_graphs().items() if k[2] == "float32" and k[3] == "flat"}

    run(1.0, None)
    after_first = graphs()
    for beta in BETAS:
        for threshold in THRESHOLDS:
            run(beta, threshold)
    # sizes n >= 2, 1 and 0: dynamo specializes 0 and 1; nothing for β or threshold
    assert graphs() == after_first, (after_first, graphs())
    assert after_first and all(v <= 3 for v in after_first.values()), after_first


def test_compile_without_a_compiler_is_unavailable_with_the_reason(monkeypatch, tmp_path) -> None:
    pytest.importorskip("torch")
    from targets.compile_targets import TorchCompileSoftplus

    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no g++ on it
    monkeypatch.delenv("CXX", raising=False)
    reason = TorchCompileSoftplus().availability()
    assert reason and "no C++ compiler" in reason and "g++" in reason
    missing = str(tmp_path / "no-such-c++")
    monkeypatch.setenv("CXX", missing)
    import sys

    import contextlib

    config = sys.modules.get("torch._inductor.config")
    # Inductor read CXX at import: that is what it would use. Its own patch() restores the setting; a
    # monkeypatch would delattr it on undo, which torch's config module takes as "hide": later compiles fail.
    patched = config.patch({"cpp.cxx": (None, missing)}) if config is not None else contextlib.nullcontext()
    with patched:
        reason = TorchCompileSoftplus().availability()
        assert reason and "no-such-c++" in reason
        with pytest.raises(Unsupported, match="no C\\+\\+ compiler"):
            TorchCompileSoftplus().softplus(np.ones(2, np.float32))


def test_compile_refuses_float8_with_a_reason() -> None:
    from targets import get_target

    t = get_target("torch-compile")
    for fmt in ("float8_e4m3fn", "float8_e5m2"):
        assert "Inductor cannot lower softplus for float8" in t.check(fmt)
