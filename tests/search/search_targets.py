"""Targets with defects they do not declare, for the switch discovery and worst-case search tests.

* ``undeclared-threshold``: the oracle, but x itself above 12 (softplus) and 1 (derivative) — a threshold
  like torch's, at a point the target does not declare (no ``switch_points``). In float32 the first float
  above 12 is the worst input: 6.44 ulps.
* ``narrow-band``: the oracle plus k ulps in a band of 2 × 16,384 float32 keys around x ≈ 1.0528, k growing
  like 1/distance towards the centre as a cancellation near a point makes errors grow: 4096 ulps at the
  centre, 52 at 5,000 floats from it, so the band's worst input is its centre. With the default sample
  (seed 0) the softplus input set holds one input of the band (the tests check it): the sample sees the
  band once, at about 52 ulps.
"""

import numpy as np

import oracle
from oracle.formats import get_format
from engine.inputs import from_ordered_keys, ordered_keys
from targets import Target

THRESHOLD = 12.0
#: The band's centre: the key of the seed-0 sample point x = 1.0525071620941162 (1065793678), plus 5000.
BAND_CENTRE = 1065793678 + 5000
BAND_HALF_WIDTH = 1 << 14
PEAK, SCALE = 4096, 64  # ulps at the centre; floats over which the error halves first


def band_offset(keys: np.ndarray) -> np.ndarray:
    """Ulps added at these ordered keys (0 outside the band)."""
    d = np.abs(keys.astype(np.int64) - BAND_CENTRE)
    k = np.floor(PEAK / (1 + d / SCALE))
    return np.where(d <= BAND_HALF_WIDTH, k, 0).astype(np.int64)


class UndeclaredThreshold(Target):
    name = "undeclared-threshold"
    formats = ("float32", "float64")

    def compute(self, x, beta, threshold):
        return np.where(x > THRESHOLD, x, oracle.softplus(x)).astype(x.dtype)

    def compute_grad(self, x, beta, threshold):
        return np.where(x > THRESHOLD, np.ones_like(x), oracle.softplus_grad(x)).astype(x.dtype)


class NarrowBand(Target):
    name = "narrow-band"
    formats = ("float32",)

    def compute(self, x, beta, threshold):
        f = get_format("float32")
        y = oracle.softplus(x)
        flat, yflat = x.reshape(-1), y.reshape(-1)
        fin = np.isfinite(flat)
        add = np.zeros(flat.shape, dtype=np.int64)
        add[fin] = band_offset(ordered_keys(f, flat[fin]))
        out = yflat.copy()
        hit = add != 0
        out[hit] = from_ordered_keys(f, ordered_keys(f, yflat[hit]) + add[hit])
        return out.reshape(x.shape)

    def compute_grad(self, x, beta, threshold):
        return oracle.softplus_grad(x)


TARGETS = [UndeclaredThreshold(), NarrowBand()]
