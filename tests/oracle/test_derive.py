"""oracle.derive: error bounds carried through a formula, checked against hand derivations and real kernels.

* one kernel alone: the derived bound is the kernel's own bound (nothing else errs);
* one correctly rounded operation: ½ ulp, and 0 where the result is exact (x·2);
* a float16 operation computed in float32: ½ ulp + ½ float32 ulp (2⁻¹⁴ of a float16 ulp at most);
* soundness: real NumPy kernels, which honour NumPy's stated bounds, never err by more than the bound derived
  from those bounds (and with the bounds left out the derivation falls below what NumPy measures, so this
  check has teeth);
* the bounds quoted in targets.error_models are the ones the installed NumPy tests itself against.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import oracle
from oracle.derive import IntervalOps, Iv, KernelBound, budget, derive
from oracle.formats import get_format
from engine.inputs import bit_uniform, every_value
from targets.error_models import NUMPY_STATED
from targets.numpy_targets import TARGETS

_BY_NAME = {t.name: t for t in TARGETS}


def test_one_kernel_alone_errs_by_its_bound():
    x = bit_uniform("float32", 1 << 14, 1)
    # the formula is exp, the truth softplus: compare on inputs where they agree to far below an ulp
    xs = x[x < -30]
    d = derive(lambda ops, v: ops.exp(v), "float32", "softplus", 1.0, xs, {"exp": KernelBound(3.5)})
    assert 3.5 <= d.max_finite_ulp < 3.5 + 2.0 ** -10


def test_roundings_go_to_the_nearest_value_and_exact_results_stay():
    x = every_value("float16")
    x = x[np.isfinite(x) & (x < -20) & (x > -30000)]  # x*2 exact (no overflow), x/3 rounds
    ops = IntervalOps(get_format("float16"), {}, np.float64)
    v = x.astype(np.float64)
    doubled = Iv(ops, v, v.copy()) * 2.0
    assert np.array_equal(doubled.lo, 2 * v) and np.array_equal(doubled.hi, 2 * v)
    thirds = Iv(ops, v, v.copy()) / 3.0
    # rounding to nearest is monotone: a point goes to a point, x/3 computed in float32 and rounded to float16
    want = (v / 3).astype(np.float32).astype(np.float16).astype(np.float64)
    assert np.array_equal(thirds.lo, want) and np.array_equal(thirds.hi, want)
    # an interval goes to [rn(lo), rn(hi)]: from one float16 value to the next, both ends stay
    up = np.nextafter(x.astype(np.float16), np.float16(np.inf)).astype(np.float64)
    span = Iv(ops, v, up) + 0.0
    assert np.array_equal(span.lo, v) and np.array_equal(span.hi, up)


def test_a_straddling_comparison_takes_both_branches():
    ops = IntervalOps(get_format("float32"), {}, np.float64)
    z = Iv(ops, np.array([-1e-3, 1.0]), np.array([1e-3, 2.0]))
    r = ops.where(z >= 0.0, 10.0, 20.0)
    assert r.lo.tolist() == [10.0, 10.0] and r.hi.tolist() == [20.0, 10.0]


def _measured_max(target, fmt, fn, x):
    y = target.softplus(x, 1.0, None) if fn == "softplus" else target.softplus_grad(x, 1.0, None)
    e = oracle.ulp_error(y, x, fn)
    return float(np.max(e[np.isfinite(e)]))


@pytest.mark.parametrize("name, fmt, fn, teeth", [
    ("numpy-logaddexp", "float32", "softplus", True), ("numpy-logaddexp", "float64", "softplus_grad", False),
    ("numpy-stable", "float32", "softplus", True), ("numpy-log1p", "float16", "softplus", False),
    ("numpy-stable", "bfloat16", "softplus_grad", False), ("numpy-stable", "float64", "softplus", True),
])
def test_real_kernels_never_exceed_the_bound_derived_from_their_stated_bounds(name, fmt, fn, teeth):
    t = _BY_NAME[name]
    model = t.error_model()
    f = get_format(fmt)
    x = every_value(f) if f.bits <= 16 else bit_uniform(f, 1 << 15, 7)
    x = x[np.isfinite(x.astype(np.float64))]
    measured = _measured_max(t, fmt, fn, x)
    derived = derive(model.formula(fn, 1.0, None), fmt, fn, 1.0, x, model.bounds(fmt))
    assert measured <= derived.max_finite_ulp, (measured, derived)
    # the check has teeth: with every kernel taken as exact the derivation falls below what NumPy measures
    # (where the kernels' errors, not the formula's own roundings, make the largest error)
    if teeth:
        exact = {k: KernelBound(0.0) for k in model.bounds(fmt)}
        naive = derive(model.formula(fn, 1.0, None), fmt, fn, 1.0, x, exact)
        assert naive.max_finite_ulp < measured, (naive, measured)


def test_budget_rounds_up():
    assert budget(0.5006) == 0.52 and budget(4.954) == 5.1 and budget(0.1) == 0.5 and budget(float("inf")) == np.inf


def _numpy_data_dir() -> Path:
    return Path(os.path.dirname(np.__file__)) / "_core" / "tests" / "data"


@pytest.mark.parametrize("fn", ["exp", "log1p"])
def test_the_quoted_numpy_bounds_are_numpys_own(fn):
    path = _numpy_data_dir() / f"umath-validation-set-{fn}.csv"
    if not path.exists():
        pytest.skip(f"this NumPy ships no validation data ({path})")
    worst: dict[str, int] = {}
    for line in path.read_text().splitlines():
        parts = line.split(",")
        if len(parts) == 4 and parts[0].startswith("np.float"):
            name = parts[0][3:]
            worst[name] = max(worst.get(name, 0), int(parts[3]))
    assert worst == {fmt: NUMPY_STATED[fmt][fn] for fmt in ("float32", "float64")}, worst
