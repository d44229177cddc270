"""Targets whose results do or do not depend on the layout, loaded as a plugin module by the consistency tests.

Each is the oracle (correctly rounded, so any difference between layouts is planted here, not inherited):

* ``layout-oracle``: the oracle as it is; no layout changes anything.
* ``layout-last-bumped``: the last element of every tensor it is called on (in C order of the tensor's
  logical shape) is one ulp above the correctly rounded result, as a kernel whose scalar tail loop rounds
  differently from its vector body would do.
* ``layout-strided``: one ulp off on every element of a tensor that is not C-contiguous (a strided loop that
  rounds differently from the contiguous one).
* ``layout-threads``: takes a thread count through ``set_threads``; at exactly one thread every result is one
  ulp off, as a kernel whose single-threaded path differs from its parallel one would do.
"""

import numpy as np

import oracle
from oracle.formats import format_of
from targets import Params, Target


def one_ulp_off(y: np.ndarray) -> np.ndarray:
    """Each finite element moved to its neighbour one ulp further from zero (nearer, where that is the inf)."""
    f = format_of(y)
    bits = f.to_bits(np.array(y, copy=True)).astype(np.int64)
    sign = bits & f.sign_mask
    mag = bits & ~f.sign_mask
    mag = np.where(mag + 1 <= f.max_bits, mag + 1, mag - 1)
    return f.from_bits((sign | mag).astype(f.uint)).reshape(np.shape(y))


class OracleTarget(Target):
    name = "layout-oracle"
    formats = ("float16", "bfloat16", "float32", "float64")
    params = Params(beta=True)

    def compute(self, x, beta, threshold):
        return oracle.softplus(x, beta)

    def compute_grad(self, x, beta, threshold):
        return oracle.softplus_grad(x, beta)


class LastBumped(OracleTarget):
    name = "layout-last-bumped"

    def compute(self, x, beta, threshold):
        return self._bump_last(oracle.softplus(x, beta))

    def compute_grad(self, x, beta, threshold):
        return self._bump_last(oracle.softplus_grad(x, beta))

    @staticmethod
    def _bump_last(y):
        y = np.array(y, copy=True, order="C")
        if y.size:
            flat = y.reshape(-1)
            flat[-1:] = one_ulp_off(flat[-1:])
        return y


class StrideDependent(OracleTarget):
    name = "layout-strided"

    def compute(self, x, beta, threshold):
        y = oracle.softplus(x, beta)
        return y if x.flags.c_contiguous else one_ulp_off(y)


class ThreadDependent(OracleTarget):
    name = "layout-threads"

    def __init__(self):
        self.threads = None

    def set_threads(self, n):
        self.threads = n
        return True

    def compute(self, x, beta, threshold):
        y = oracle.softplus(x, beta)
        return one_ulp_off(y) if self.threads == 1 else y


TARGETS = [OracleTarget(), LastBumped(), StrideDependent(), ThreadDependent()]
