"""A backend author's plugin file: the target softplus-cert certifies (see README.md beside it).

``my-softplus`` evaluates softplus and sigmoid in float64 with NumPy and rounds once to the format under test:
replace ``compute`` and ``compute_grad`` with calls into your own kernel (keep the input's dtype and shape;
move bfloat16 as bit patterns, see ``targets.marshal``).
"""

import numpy as np

from targets import Target


class MySoftplus(Target):
    name = "my-softplus"
    formats = ("float16", "bfloat16", "float32")

    def compute(self, x, beta, threshold):
        return np.logaddexp(0.0, x.astype(np.float64)).astype(x.dtype)

    def compute_grad(self, x, beta, threshold):
        x64 = x.astype(np.float64)
        # sigmoid without overflow: exp of a non-positive number only
        e = np.exp(-np.abs(x64))
        return np.where(x64 >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype)


TARGETS = [MySoftplus()]
