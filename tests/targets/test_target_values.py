"""Each built-in target gives bit for bit what its framework gives when called directly.

The direct calls here take their own route into the framework (torch.tensor / tf.constant / jnp.asarray on
the NumPy array, bfloat16 through float32 where torch needs it), call the framework's public API as a user
would, and differentiate with the framework's own autodiff spelled differently from the adapter
(``y.sum().backward()`` rather than ``torch.autograd.grad``). Inputs: every float16 and bfloat16 value (and
every float8 value where supported), and 8k random bit patterns plus moderate values for float32/float64.
Outputs must agree in every bit except NaN payloads (NaN positions must agree).
"""

from __future__ import annotations

import numpy as np
import pytest

from target_support import assert_same_values, sample_values, usable
from targets import get_target
from oracle.formats import get_format

TORCH_FORMATS = ("float16", "bfloat16", "float32", "float64")
TF_FORMATS = ("float16", "bfloat16", "float32", "float64")
ALL_FORMATS = ("float16", "bfloat16", "float32", "float64", "float8_e4m3fn", "float8_e5m2")


# --- torch ------------------------------------------------------------------------------------------------------

# (beta, threshold); None means "do not pass a threshold", which must be torch's own default
TORCH_PARAMS = [(1.0, None), (2.0, None), (2.0, 0.0), (0.5, float("inf")), (1.0, float("-inf")), (3.0, 5.0),
                (0.3, 1.5)]


def _torch_direct(x: np.ndarray, beta: float, threshold, device: str):
    import torch
    import torch.nn.functional as F

    fmt = get_format(x.dtype)
    tdtype = getattr(torch, fmt.name)
    src = x.astype(np.float32) if fmt.name == "bfloat16" else x  # torch has no bfloat16 NumPy bridge
    t = torch.tensor(src).to(tdtype).to(device).requires_grad_(True)
    y = F.softplus(t, beta) if threshold is None else F.softplus(t, beta, threshold)
    y.sum().backward()

    def back(v):
        v = v.detach().cpu()
        return v.float().numpy().astype(fmt.dtype) if fmt.name == "bfloat16" else v.numpy()

    return back(y), back(t.grad)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("fmt", TORCH_FORMATS)
@pytest.mark.parametrize("beta, threshold", TORCH_PARAMS)
def test_torch_matches_direct_call(device, fmt, beta, threshold) -> None:
    target = usable(f"torch-{device}")
    x = sample_values(fmt)
    want_y, want_g = _torch_direct(x, beta, threshold, device)
    what = f"torch-{device} {fmt} beta={beta} threshold={threshold}"
    assert_same_values(target.softplus(x, beta, threshold), want_y, what + " softplus")
    assert_same_values(target.softplus_grad(x, beta, threshold), want_g, what + " grad")


def test_torch_threshold_zero_and_inf_take_effect() -> None:
    # Guards the comparison above against a threshold that never reaches torch: 0 and inf must differ.
    target = usable("torch-cpu")
    x = np.array([0.25, 1.0, 3.0], dtype=np.float32)
    with_zero, with_inf = target.softplus(x, 2.0, 0.0), target.softplus(x, 2.0, float("inf"))
    assert np.array_equal(with_zero, x)  # βx > 0: torch returns x itself
    assert np.all(with_inf > x)


# --- NumPy ------------------------------------------------------------------------------------------------------

def _numpy_direct(name: str, x: np.ndarray, beta: float):
    t = x.dtype.type
    with np.errstate(all="ignore"):
        z = x if beta == 1 else x * t(beta)
        if name == "numpy-log1p":
            y, g = np.log1p(np.exp(z)), np.exp(z) / (t(1) + np.exp(z))
        elif name == "numpy-logaddexp":
            y = np.logaddexp(t(0), z)
            g = np.exp(z - y)
        else:
            e = np.exp(-np.abs(z))
            y = np.maximum(z, t(0)) + np.log1p(e)
            g = np.where(z >= 0, t(1) / (t(1) + e), e / (t(1) + e))
        if beta != 1:
            y = y / t(beta)
    return np.asarray(y), np.asarray(g)


@pytest.mark.parametrize("name", ["numpy-log1p", "numpy-logaddexp", "numpy-stable"])
@pytest.mark.parametrize("fmt", ALL_FORMATS)
@pytest.mark.parametrize("beta", [1.0, 2.0, 0.5])
def test_numpy_matches_direct_formula(name, fmt, beta) -> None:
    target = usable(name)
    x = sample_values(fmt)
    want_y, want_g = _numpy_direct(name, x, beta)
    assert want_y.dtype == x.dtype and want_g.dtype == x.dtype  # NumPy itself kept the format
    assert_same_values(target.softplus(x, beta), want_y, f"{name} {fmt} beta={beta} softplus")
    assert_same_values(target.softplus_grad(x, beta), want_g, f"{name} {fmt} beta={beta} grad")


# --- TensorFlow ----------------------------------------------------------------------------------------------

def _tf_direct(name: str, x: np.ndarray):
    import tensorflow as tf

    forms = {
        "tf-softplus": lambda z: tf.nn.softplus(z),
        "tf-naive": lambda z: tf.math.log(1.0 + tf.exp(z)),  # TF converts the Python 1.0 to z's dtype
        "tf-stable": lambda z: tf.math.log(1 + tf.exp(-tf.abs(z))) + tf.maximum(tf.cast(0.0, z.dtype), z),
    }
    with tf.device("/CPU:0"):
        z = tf.constant(x)  # TF takes ml_dtypes.bfloat16 arrays itself
        with tf.GradientTape() as tape:
            tape.watch(z)
            y = forms[name](z)
        g = tape.gradient(y, z)
    return np.asarray(y.numpy()), np.asarray(g.numpy())


@pytest.mark.parametrize("name", ["tf-softplus", "tf-naive", "tf-stable"])
@pytest.mark.parametrize("fmt", TF_FORMATS)
def test_tensorflow_matches_direct_call(name, fmt) -> None:
    target = usable(name)
    x = sample_values(fmt)
    want_y, want_g = _tf_direct(name, x)
    assert_same_values(target.softplus(x), want_y, f"{name} {fmt} softplus")
    assert_same_values(target.softplus_grad(x), want_g, f"{name} {fmt} grad")


# --- JAX --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_jax_matches_direct_call(fmt) -> None:
    target = usable("jax-softplus")
    import jax
    import jax.numpy as jnp

    x = sample_values(fmt)
    target.softplus(x[:1])  # lets the adapter switch x64 on first, as it does for any caller
    z = jnp.asarray(x)
    assert z.dtype == x.dtype
    want_y = np.asarray(jax.nn.softplus(z))
    want_g = np.asarray(jax.vmap(jax.grad(jax.nn.softplus))(z))
    assert_same_values(target.softplus(x), want_y, f"jax {fmt} softplus")
    assert_same_values(target.softplus_grad(x), want_g, f"jax {fmt} grad")
