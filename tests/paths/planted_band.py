"""A regression planted in a real target, for the test that certificates catch it on every CPU path.

``planted-logaddexp`` is numpy-logaddexp with its float16 softplus results one ulp up on a narrow band of
inputs, x in [3, 3.03125) (16 float16 values); ``PLANTED_BAND=off`` in the environment turns the band off,
for the control run. Everything else is numpy-logaddexp itself (its kernels, its instruction-set path).
"""

import os

import numpy as np

from targets.numpy_targets import TARGETS, NumpyFormulation

_LOGADDEXP = next(t for t in TARGETS if t.name == "numpy-logaddexp")


class PlantedBand(NumpyFormulation):
    def __init__(self) -> None:
        super().__init__("planted-logaddexp", _LOGADDEXP._forward, _LOGADDEXP._derivative)

    def compute(self, x, beta, threshold):
        y = super().compute(x, beta, threshold)
        if os.environ.get("PLANTED_BAND") != "off" and x.dtype == np.float16:
            band = (x >= np.float16(3)) & (x < np.float16(3.03125))
            y = y.copy()
            y[band] = (y[band].view(np.uint16) + 1).view(np.float16)  # positive results: one ulp up
        return y


TARGETS = [PlantedBand()]
