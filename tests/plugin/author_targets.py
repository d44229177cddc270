"""What a backend author's plugin file looks like: a correctly rounded target and one a ulp high on a band.

Copied into a temporary folder outside this repository by the plugin tests (it imports only the installed
packages). ``cr-softplus`` returns the oracle's own correctly rounded results; ``band-softplus`` returns them
one ulp high for 1 <= x < 1.0078125 (a narrow band a sample can miss but the 16-bit formats' every-input
judgement cannot).
"""

import numpy as np

import oracle
from targets import Target


class CorrectlyRounded(Target):
    name = "cr-softplus"
    formats = ("float16", "bfloat16", "float32", "float8_e4m3fn", "float8_e5m2")

    def compute(self, x, beta, threshold):
        return oracle.correctly_rounded(x, "softplus", beta)

    def compute_grad(self, x, beta, threshold):
        return oracle.correctly_rounded(x, "softplus_grad", beta)


class OneUlpHighOnABand(CorrectlyRounded):
    name = "band-softplus"

    def compute(self, x, beta, threshold):
        y = oracle.correctly_rounded(x, "softplus", beta)
        xf = x.astype(np.float64)
        band = (xf >= 1.0) & (xf < 1.0078125)
        bits = y.view({1: np.uint8, 2: np.uint16, 4: np.uint32}[y.dtype.itemsize]).copy()
        bits[band] += 1  # one ulp up (positive results)
        return bits.view(y.dtype)


TARGETS = [CorrectlyRounded(), OneUlpHighOnABand()]
