"""Targets for the scale tests: the oracle with faults planted at known inputs, picklable for workers."""

import numpy as np

import oracle
from targets import Params, Target


class Faulty(Target):
    """float16 softplus from the oracle, with faults that every accumulated measurement must see:

    * x in [2, 2.5): one ulp up (errors, histogram, worst inputs, identity);
    * x = 2.0: 2.0 itself, below softplus(1.999) (a dip at the first input of a 4096-input chunk of the
      stream: only the seam between two chunks or shards sees it);
    * x = 3.0: 0 (a dip: monotonicity, lower bound; 1000s of ulps: the ">256" bin);
    * x ≥ 11: +inf (overflow onset, non-finite count), x in (-20, -17]: 0 (underflow onset);
    * x = -1.0: NaN (NaN count).
    """

    name = "faulty"
    formats = ("float16", "bfloat16")
    params = Params(beta=True)

    def compute(self, x, beta, threshold):
        y = oracle.softplus(x, beta).copy()
        up = (x >= 2) & (x < 2.5)
        bits = y.view(np.uint16)
        bits[up] += 1
        y[x == 2] = 2
        y[x == 3] = 0
        y[x >= 11] = np.inf
        y[(x > -20) & (x <= -17)] = 0
        y[x == -1] = np.nan
        return y

    def compute_grad(self, x, beta, threshold):
        y = oracle.softplus_grad(x, beta).copy()
        y[x == 0.5] = 0
        return y


class Logged(Faulty):
    """Faulty, noting the bit pattern of the first input of every call in a file (one line per call)."""

    def __init__(self, path):
        self.path = str(path)

    def compute(self, x, beta, threshold):
        with open(self.path, "a") as log:
            log.write(f"{int(x.view(np.uint16)[0])}\n")
        return super().compute(x, beta, threshold)


TARGETS = [Faulty()]  # for --target-module
