"""The marshalling layer moves values bit for bit and refuses what a framework hands back wrongly.

What is checked: the round trip NumPy -> framework/device -> NumPy of every float16 and bfloat16 bit pattern
(and every float8 pattern, and random float32/float64 patterns, where a target supports them) gives back the
identical bits — NaN payloads and signs included, not just NaN-ness, since the layer only reinterprets bits.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from target_support import assert_identical_bits, every_value, sample_values
from targets import TargetOutputError, marshal
from oracle.formats import get_format


def test_roundtrip_is_bit_exact(target) -> None:
    for fmt in target.formats:
        x = every_value(fmt) if get_format(fmt).bits <= 16 else sample_values(fmt)
        assert_identical_bits(target.roundtrip(x), x, f"{target.name} round trip of {fmt}")


@pytest.mark.parametrize("shape", [(), (0,), (3, 0), (2, 3, 4)])
def test_roundtrip_keeps_shape(target, shape) -> None:
    for fmt in target.formats:
        x = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape).astype(get_format(fmt).dtype)
        y = target.roundtrip(x)
        assert y.shape == shape and y.dtype == x.dtype


def test_roundtrip_of_a_non_contiguous_view(target) -> None:
    for fmt in target.formats:
        base = every_value("float16")[:4096].astype(np.float64).reshape(64, 64)
        x = base.astype(get_format(fmt).dtype)[::3, ::-2].T
        assert not x.flags.c_contiguous
        assert_identical_bits(target.roundtrip(x), np.ascontiguousarray(x), f"{target.name} {fmt} strided")


# --- the framework functions directly ------------------------------------------------------------------------

def test_torch_bfloat16_crosses_as_int16_patterns() -> None:
    torch = pytest.importorskip("torch")
    x = every_value("bfloat16")
    t = marshal.to_torch(x)
    assert t.dtype == torch.bfloat16 and tuple(t.shape) == x.shape
    # independent of the layer: widen both sides to float32 bit patterns; finite and inf values must agree
    finite = np.isfinite(x.astype(np.float32))
    ours = t.float().numpy()[finite]
    assert np.array_equal(ours.view(np.uint32), x.astype(np.float32)[finite].view(np.uint32))


def test_torch_output_checks() -> None:
    torch = pytest.importorskip("torch")
    fmt = get_format("float16")
    with pytest.raises(TargetOutputError, match="float32"):
        marshal.from_torch(torch.zeros(3, dtype=torch.float32), fmt, (3,))
    with pytest.raises(TargetOutputError, match="shape"):
        marshal.from_torch(torch.zeros(3, dtype=torch.float16), fmt, (1, 3))


def test_torch_float8_is_marshalled_even_if_not_computed() -> None:
    pytest.importorskip("torch")
    x = every_value("float8_e4m3fn")
    f = get_format("float8_e4m3fn")
    assert_identical_bits(marshal.from_torch(marshal.to_torch(x), f, x.shape), x, "torch float8")


def test_tensorflow_bitcast_agrees_with_tf_constant() -> None:
    tf = pytest.importorskip("tensorflow")
    x = every_value("bfloat16")
    t = marshal.to_tf(x)
    assert t.dtype == tf.bfloat16
    # TensorFlow also accepts ml_dtypes.bfloat16 arrays itself: a second path to compare the bitcast with
    direct = tf.constant(x)
    assert np.array_equal(tf.bitcast(t, tf.uint16).numpy(), tf.bitcast(direct, tf.uint16).numpy())


def test_tensorflow_output_checks() -> None:
    tf = pytest.importorskip("tensorflow")
    with pytest.raises(TargetOutputError, match="float32"):
        marshal.from_tf(tf.zeros([2], tf.float32), get_format("bfloat16"), (2,))
    with pytest.raises(TypeError, match="float8"):
        marshal.to_tf(np.zeros(2, ml_dtypes.float8_e5m2))


def test_jax_output_checks() -> None:
    jnp = pytest.importorskip("jax.numpy")
    with pytest.raises(TargetOutputError, match="shape"):
        marshal.from_jax(jnp.zeros((2, 2), jnp.float32), get_format("float32"), (4,))
    with pytest.raises(TargetOutputError, match="bfloat16"):
        marshal.from_jax(jnp.zeros(2, jnp.bfloat16), get_format("float16"), (2,))
