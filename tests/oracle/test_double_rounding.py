"""One rounding, never two: the inputs where rounding through float64 (or float32) goes wrong."""

import numpy as np
import ml_dtypes
import pytest

import oracle
from oracle.formats import get_format
from oracle.rounding import round_float64_array
from tests.oracle.independent import correctly_rounded, exact_fraction, round_fraction, same_bits

# float32 inputs found by a search of |x| in [2**-26, 2**8) (fast-path candidates near a float32 midpoint,
# then checked by arb): the float64 value of f(x) is itself a float32 midpoint, so rounding again goes to
# even — the wrong way. Sigmoid near 0: 1/2 + x/4 sits on a midpoint and the x**3/48 term is lost.
DOUBLE_ROUNDING_F32 = {
    "softplus": [0x39EA41D0],
    "softplus_grad": [0x34C00000, 0x35600000, 0xB4400000, 0xB4E00000, 0x36180000, 0xB7370000],
}


@pytest.mark.parametrize("fn", sorted(DOUBLE_ROUNDING_F32))
def test_float32_inputs_where_float64_route_is_wrong(fn):
    x = np.array(DOUBLE_ROUNDING_F32[fn], dtype=np.uint32).view(np.float32)
    got = oracle.softplus(x) if fn == "softplus" else oracle.softplus_grad(x)
    for xi, yi in zip(x, got):
        exact = exact_fraction(float(xi), 1.0, fn)
        right = round_fraction(exact, np.float32)
        via64 = np.float32(round_fraction(exact, np.float64))  # the double rounding
        assert not same_bits(right, via64), "the example must really show double rounding"
        assert same_bits(yi, right)


def test_bfloat16_not_through_float32():
    # 1 + 2**-8 + 2**-30: just above the bfloat16 midpoint between 1 and 1 + 2**-7. Through float32 the
    # 2**-30 is lost, leaving a tie that goes to even (1); the right answer is 1 + 2**-7.
    v = np.array([1 + 2.0 ** -8 + 2.0 ** -30])
    fmt = get_format("bfloat16")
    ours = fmt.from_bits(round_float64_array(v, fmt))
    assert float(ours[0]) == 1 + 2.0 ** -7
    # the trap: through float32 first (which ml_dtypes' own cast did before 0.7)
    assert float(v.astype(np.float32).astype(ml_dtypes.bfloat16)[0]) == 1.0


def test_bfloat16_oracle_matches_independent_on_every_input():
    fmt = get_format("bfloat16")
    x = fmt.all_values()
    with np.errstate(invalid="ignore"):
        x = x[np.isfinite(x.astype(np.float64))]
    x = x[(np.abs(x.astype(np.float64)) > 2.0 ** -10) & (np.abs(x.astype(np.float64)) < 2.0 ** 7)][::31]
    for fn in ("softplus", "softplus_grad"):
        got = oracle.softplus(x) if fn == "softplus" else oracle.softplus_grad(x)
        for xi, yi in zip(x, got):
            assert same_bits(yi, correctly_rounded(float(xi), 1.0, fn, fmt.dtype)), (fn, float(xi))
