"""Deliberately broken targets, loaded as a plugin module by the reliability tests.

Each is the oracle with one misbehaviour planted: the suite must report it and carry on.
"""

import ctypes
import os
import time

import numpy as np

import oracle
from targets import Target


class Broken(Target):
    formats = ("float16",)

    def __init__(self, name, mode):
        self.name = name
        self.mode = mode

    def compute(self, x, beta, threshold):
        m = self.mode
        if m == "raise_all":
            raise ValueError("kernel not implemented")
        if m == "raise_some" and (x == np.float16(1.5)).any() | (x == np.float16(-3)).any() | (x == np.float16(7)).any():
            raise ValueError("bad input in batch")
        if m == "hang":
            time.sleep(3600)
        if m == "segfault":
            ctypes.string_at(0)
        if m == "abort":
            os.abort()
        if m == "memory":
            # address space, not touched pages: reaches the worker's limit at once, on any machine load
            hog = [np.empty(2 ** 28) for _ in range(10_000)]
            return hog[0]
        y = oracle.softplus(x)
        if m == "mutate":
            x[x > 0] = 0  # an in-place "optimization" that destroys the caller's inputs
            return y
        if m == "readonly":
            y.flags.writeable = False
            return y
        if m == "strided":  # the right values in a view with gaps, as a kernel writing every other slot would
            out = np.zeros(y.shape + (2,), dtype=y.dtype)
            out[..., 0] = y
            return out[..., 0]
        if m == "wrong_dtype":
            return y.astype(np.float64)
        if m == "wrong_shape":
            return y.reshape(-1)[:-1] if y.size else y
        if m == "list":
            return y.tolist()
        if m == "tensor":
            import torch

            return torch.from_numpy(y)
        if m == "nan":
            return np.where(x > np.float16(3), np.float16(np.nan), y).astype(np.float16)
        return y

    def compute_grad(self, x, beta, threshold):
        return oracle.softplus_grad(x)

    def _checked(self, y, x, what):
        return y  # let garbage through: the judge must catch it on its own


MODES = ["raise_all", "raise_some", "hang", "segfault", "abort", "memory", "wrong_dtype", "wrong_shape",
         "list", "tensor", "nan", "fine", "mutate", "readonly", "strided"]
TARGETS = [Broken(f"hostile-{m}", m) for m in MODES]
