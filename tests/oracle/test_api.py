"""The public API: shapes, dtypes and clear errors for bad input."""

import math

import ml_dtypes
import numpy as np
import pytest

import oracle


@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3), (2, 1, 4)])
@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64,
                                   ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2])
def test_same_dtype_and_shape(shape, dtype):
    x = (np.arange(int(np.prod(shape))) - 2.0).reshape(shape).astype(dtype)
    for f in (oracle.softplus, oracle.softplus_grad):
        y = f(x, beta=2.0)
        assert y.dtype == np.dtype(dtype) and y.shape == x.shape


def test_noncontiguous_input():
    x = np.linspace(-5, 5, 24, dtype=np.float32).reshape(4, 6).T[::2]
    y = oracle.softplus(x)
    assert (y == oracle.softplus(np.ascontiguousarray(x))).all()


@pytest.mark.parametrize("bad", [np.int32, np.complex64, np.uint8, np.bool_, object])
def test_unsupported_dtype(bad):
    with pytest.raises(ValueError, match="unsupported dtype"):
        oracle.softplus(np.zeros(3, dtype=bad))


@pytest.mark.parametrize("beta", [0.0, -1.0, math.nan, math.inf, "two", None])
def test_bad_beta(beta):
    with pytest.raises(ValueError, match="beta"):
        oracle.softplus(np.zeros(3, np.float32), beta)
    with pytest.raises(ValueError, match="beta"):
        oracle.ulp_error(np.zeros(3, np.float32), np.zeros(3, np.float32), beta=beta)


def test_mismatched_shapes_and_unknown_function():
    with pytest.raises(ValueError, match="shape"):
        oracle.ulp_error(np.zeros(3, np.float32), np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="unknown function"):
        oracle.ulp_error(np.zeros(3, np.float32), np.zeros(3, np.float32), fn="tanh")


def test_get_format():
    assert oracle.get_format("bfloat16").dtype == np.dtype(ml_dtypes.bfloat16)
    assert oracle.get_format(np.float32).p == 24
    with pytest.raises(ValueError, match="supported: float16"):
        oracle.get_format("float128")
