"""Bit-exact moves of NumPy arrays into frameworks and back.

Every value crosses as its bit pattern: an array is viewed as unsigned (NumPy, TensorFlow) or signed (torch,
which has few unsigned ops) integers of the same width and reinterpreted on the other side, so nothing is
converted, nothing flushed to zero, no NaN payload rewritten, and bfloat16/float8 need no NumPy bridge in the
framework (torch has none for them). JAX shares ml_dtypes with NumPy and takes the arrays as they are; what
comes back is checked all the same.

Each ``from_*`` checks that the framework returned the expected dtype and shape and raises
:class:`~targets.base.TargetOutputError` otherwise, so a framework that silently promotes (say, float16 to
float32) is caught rather than rounded back. Frameworks are imported inside the functions, never here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from oracle.formats import Format, format_of
from targets.base import TargetOutputError

__all__ = ["to_torch", "from_torch", "torch_dtype", "to_tf", "from_tf", "tf_dtype", "to_jax", "from_jax"]

_SIGNED = {8: np.int8, 16: np.int16, 32: np.int32, 64: np.int64}


def _expect(what: str, got_dtype: Any, want_dtype: Any, got_shape: tuple, want_shape: tuple) -> None:
    if got_dtype != want_dtype or tuple(got_shape) != tuple(want_shape):
        raise TargetOutputError(
            f"{what} returned dtype {got_dtype} shape {tuple(got_shape)}, expected {want_dtype} {tuple(want_shape)}"
        )


# --- torch -----------------------------------------------------------------------------------------------------

def torch_dtype(fmt: Format):
    """The torch dtype of a format (float8 included: torch stores them even where it computes nothing)."""
    import torch

    dt = getattr(torch, fmt.name, None)
    if not isinstance(dt, torch.dtype):
        raise TypeError(f"torch has no dtype for {fmt.name}")
    return dt


def _torch_shareable(x: np.ndarray) -> np.ndarray:
    """``x`` itself where torch.from_numpy can take it as it is, keeping its strides (a sliced or transposed view
    stays non-contiguous, so torch runs its strided kernels on it); else a C-contiguous copy: negative strides
    or strides that are no multiple of the item size (torch cannot express either), and read-only arrays
    (torch.from_numpy warns on them)."""
    ok = x.flags.writeable and all(s >= 0 and s % x.itemsize == 0 for s in x.strides)
    return x if ok else np.array(x, copy=True, order="C")


def to_torch(x: np.ndarray, device: str = "cpu"):
    """A torch tensor with ``x``'s bit patterns, dtype, shape and (on the CPU, where it shares ``x``'s memory)
    strides, on ``device``. Non-contiguous views stay non-contiguous on the CPU (see :func:`_torch_shareable`);
    ``.to(device)`` decides the layout elsewhere."""
    import torch

    x = np.asarray(x)
    fmt = format_of(x)
    # a same-size view is allowed for any strides: the int view has x's strides
    bits = _torch_shareable(x).view(_SIGNED[fmt.bits])
    t = torch.from_numpy(bits).view(torch_dtype(fmt))
    return t.to(device) if device != "cpu" else t


def from_torch(t, fmt: Format, shape: tuple) -> np.ndarray:
    """The NumPy array of a torch tensor, bit for bit; TargetOutputError unless it is ``fmt`` of ``shape``."""
    import torch

    _expect("torch", t.dtype, torch_dtype(fmt), t.shape, shape)
    t = t.detach().to("cpu").contiguous()
    int_dtype = {8: torch.int8, 16: torch.int16, 32: torch.int32, 64: torch.int64}[fmt.bits]
    return t.view(int_dtype).numpy().view(fmt.dtype)


# --- TensorFlow ------------------------------------------------------------------------------------------------

def tf_dtype(fmt: Format):
    """The tf.DType of a format; TypeError for one TensorFlow does not have (the float8 formats)."""
    import tensorflow as tf

    dt = getattr(tf.dtypes, fmt.name, None)
    if not isinstance(dt, tf.dtypes.DType):
        raise TypeError(f"tensorflow has no dtype for {fmt.name}")
    return dt


def to_tf(x: np.ndarray):
    """A tf.Tensor (on the current device scope) with ``x``'s bit patterns, dtype and shape."""
    import tensorflow as tf

    fmt = format_of(x)
    # not np.ascontiguousarray: it turns 0-d arrays into 1-d ones
    bits = tf.constant(np.asarray(x, order="C").view(fmt.uint))
    return tf.bitcast(bits, tf_dtype(fmt))


def from_tf(t, fmt: Format, shape: tuple) -> np.ndarray:
    """The NumPy array of a tf.Tensor, bit for bit; TargetOutputError unless it is ``fmt`` of ``shape``."""
    import tensorflow as tf

    _expect("tensorflow", t.dtype, tf_dtype(fmt), t.shape, shape)
    # np.asarray: .numpy() of a 0-d tensor is a NumPy scalar, not a 0-d array
    return np.asarray(tf.bitcast(t, tf.as_dtype(fmt.uint)).numpy()).view(fmt.dtype)


# --- JAX -------------------------------------------------------------------------------------------------------

def to_jax(x: np.ndarray, device=None):
    """A jax.Array with ``x``'s values on ``device`` (default: the first CPU device).

    JAX would silently narrow float64 to float32 while x64 is off; this raises TargetOutputError instead.
    """
    import jax

    x = np.asarray(x)
    if device is None:
        device = jax.devices("cpu")[0]
    a = jax.device_put(x, device)
    _expect("jax.device_put", np.dtype(a.dtype), x.dtype, a.shape, x.shape)
    return a


def from_jax(a, fmt: Format, shape: tuple) -> np.ndarray:
    """The NumPy array of a jax.Array, bit for bit; TargetOutputError unless it is ``fmt`` of ``shape``."""
    _expect("jax", np.dtype(a.dtype), fmt.dtype, a.shape, shape)
    return np.array(a, copy=True)
