"""Unsupported combinations are refused with a reason; invalid calls are errors; nothing falls back silently."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from targets import Params, Target, TargetOutputError, Unsupported, get_target
from target_support import usable


X16 = np.array([-1.0, 0.0, 1.0], dtype=np.float16)


@pytest.mark.parametrize("name", ["tf-softplus", "tf-naive", "tf-stable", "jax-softplus"])
def test_beta_other_than_one_is_unsupported(name) -> None:
    t = get_target(name)
    assert not t.params.beta
    assert "beta" in t.check("float32", beta=2.0)
    t = usable(name)
    for f in (t.softplus, t.softplus_grad):
        with pytest.raises(Unsupported, match="only beta=1"):
            f(X16, beta=2.0)


@pytest.mark.parametrize("name", ["numpy-log1p", "numpy-logaddexp", "numpy-stable", "tf-softplus", "jax-softplus"])
def test_threshold_is_unsupported_where_there_is_none(name) -> None:
    t = usable(name)
    with pytest.raises(Unsupported, match="threshold"):
        t.softplus(X16, threshold=20.0)


@pytest.mark.parametrize("fmt", ["float8_e4m3fn", "float8_e5m2"])
@pytest.mark.parametrize("name", ["torch-cpu", "torch-cuda"])
def test_torch_refuses_float8_with_a_reason(name, fmt) -> None:
    t = get_target(name)
    assert "no softplus kernel for float8" in t.check(fmt)
    t = usable(name)
    with pytest.raises(Unsupported, match="float8"):
        t.softplus(np.zeros(2, dtype=getattr(ml_dtypes, fmt)))


def test_torch_really_has_no_float8_softplus() -> None:
    # The declaration above is a fact about torch, not a guess: if torch grows the kernel, this fails.
    torch = pytest.importorskip("torch")
    with pytest.raises((NotImplementedError, RuntimeError)):
        torch.nn.functional.softplus(torch.zeros(2, dtype=torch.float8_e4m3fn))


@pytest.mark.parametrize("name", ["tf-softplus", "tf-naive", "tf-stable"])
def test_tensorflow_refuses_float8(name) -> None:
    t = usable(name)
    with pytest.raises(Unsupported, match="float8"):
        t.softplus(np.zeros(2, dtype=ml_dtypes.float8_e4m3fn))


def test_torch_cuda_without_a_gpu_is_unavailable_with_the_reason() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    t = get_target("torch-cuda")
    assert t.availability() == "no CUDA device"
    with pytest.raises(Unsupported, match="no CUDA device"):
        t.softplus(X16)
    with pytest.raises(Unsupported, match="no CUDA device"):
        t.softplus_grad(X16)


def test_numpy_refuses_a_beta_the_format_cannot_hold() -> None:
    t = usable("numpy-stable")
    x = np.ones(2, dtype=ml_dtypes.bfloat16)
    with pytest.raises(Unsupported, match="not representable in bfloat16"):
        t.softplus(x, beta=0.3)
    t.softplus(x.astype(np.float64), beta=0.3)  # fine in float64, where 0.3 is the double nearest 0.3
    with pytest.raises(Unsupported, match="not representable"):
        t.softplus(np.ones(2, np.float16), beta=1e6)  # overflows float16


# --- validation common to every target: pure NumPy, so it runs everywhere ----------------------------------

class _Recorder(Target):
    name = "recorder"
    formats = ("float32", "bfloat16")
    params = Params(beta=True, threshold=True, default_threshold=7.0)

    def __init__(self) -> None:
        self.calls = []

    def compute(self, x, beta, threshold):
        self.calls.append((x.dtype, x.shape, beta, threshold))
        return x.copy()

    compute_grad = compute


@pytest.mark.parametrize("beta", [0.0, -1.0, float("nan"), float("inf"), -float("inf")])
def test_invalid_beta_is_a_value_error(beta) -> None:
    t = _Recorder()
    with pytest.raises(ValueError, match="beta"):
        t.softplus(np.ones(2, np.float32), beta=beta)
    assert t.calls == []


def test_nan_threshold_is_a_value_error_but_infinities_are_fine() -> None:
    t = _Recorder()
    with pytest.raises(ValueError, match="threshold"):
        t.softplus(np.ones(2, np.float32), threshold=float("nan"))
    t.softplus(np.ones(2, np.float32), threshold=float("inf"))
    t.softplus(np.ones(2, np.float32), threshold=-float("inf"))
    t.softplus(np.ones(2, np.float32), threshold=0)
    assert [c[3] for c in t.calls] == [float("inf"), -float("inf"), 0.0]


@pytest.mark.parametrize("bad", [np.ones(2, np.int32), np.ones(2, np.complex64), np.ones(2, np.longdouble)])
def test_unknown_dtypes_are_value_errors(bad) -> None:
    if bad.dtype == np.float64:  # longdouble is float64 on some platforms
        pytest.skip("longdouble is float64 here")
    with pytest.raises(ValueError, match="unsupported dtype"):
        _Recorder().softplus(bad)


@pytest.mark.parametrize("bad", [[1.0, 2.0], 1.5, "x"])
def test_non_arrays_are_type_errors(bad) -> None:
    with pytest.raises(TypeError):
        _Recorder().softplus(bad)


@pytest.mark.parametrize("bad", ["2", None, True, 1 + 0j])
def test_non_real_beta_is_a_type_error(bad) -> None:
    with pytest.raises(TypeError):
        _Recorder().softplus(np.ones(2, np.float32), beta=bad)


def test_undeclared_known_format_is_unsupported_not_cast() -> None:
    t = _Recorder()
    with pytest.raises(Unsupported, match="float16 is not supported"):
        t.softplus(np.ones(2, np.float16))
    assert t.calls == []


def test_wrong_output_from_an_implementation_is_caught() -> None:
    class Upcaster(_Recorder):
        def compute(self, x, beta, threshold):
            return x.astype(np.float64)

    class Reshaper(_Recorder):
        def compute(self, x, beta, threshold):
            return x.reshape(-1)

    with pytest.raises(TargetOutputError, match="float64"):
        Upcaster().softplus(np.ones(2, np.float32))
    with pytest.raises(TargetOutputError, match=r"\(2, 2\)"):
        Reshaper().softplus(np.ones((2, 2), np.float32))


def test_numpy_scalar_input_reaches_the_implementation_as_a_0d_array() -> None:
    t = _Recorder()
    y = t.softplus(np.float32(1.5))
    assert t.calls == [(np.dtype(np.float32), (), 1.0, None)]
    assert isinstance(y, np.ndarray) and y.shape == ()


def test_check_takes_a_format_name_dtype_or_descriptor() -> None:
    from oracle.formats import get_format

    t = _Recorder()
    for spec in ("bfloat16", ml_dtypes.bfloat16, get_format("bfloat16")):
        assert t.check(spec) is None
    for spec in ("float16", np.float16, get_format("float16")):
        assert "float16 is not supported" in t.check(spec)
    with pytest.raises(ValueError):
        t.check("float128")
    assert t.supports("float32", beta=3.0, threshold=1.0) and not t.supports(np.float16)
