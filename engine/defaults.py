"""Every default of a run, defined once: the library's functions, the command line (whose help text reads
these names) and the pytest plugin take them from here.

Units: seconds for times, inputs (array elements) for sizes and counts.
"""

from __future__ import annotations

import math

from oracle.exact import FUNCTIONS

__all__ = ["FUNCTIONS", "BETAS", "THRESHOLDS", "SAMPLES", "SEED", "CHUNK", "TIMEOUT_S", "OUT", "SPEED_REPEATS",
           "SPEED_MIN_TIME_S", "TRAINING_REPEATS", "TRAINING_MIN_TIME_S", "threshold_text"]

#: β of the built-in grid, for targets that take one: the common value, a tiny one (the linear regime
#: reaches the whole range), two moderate ones, and one so large that βx overflows for ordinary x.
BETAS: tuple[float, ...] = (1.0, 1e-3, 0.5, 2.0, 1e30)
#: Thresholds of the built-in grid, for targets that take one: the target's own default (None), 0 (the
#: linear branch everywhere above zero) and inf (never linear).
THRESHOLDS: tuple[float | None, ...] = (None, 0.0, math.inf)
#: Sampled inputs per combination of the formats too large to judge whole (plus the boundary sets).
SAMPLES: dict[str, int] = {"float32": 20_000, "float64": 200_000}
#: Seed of the sampled inputs.
SEED = 0
#: Inputs per chunk of an exhaustive run or a large sample: each worker holds one chunk and ~40 float64
#: arrays of its size (~300 MB per worker at 2**20).
CHUNK = 1 << 20
#: Seconds one call to a target may take before it counts as hung (per target when timing, per piece of
#: an exhaustive run, per framework's training worker).
TIMEOUT_S = 300.0
#: Where reports are written.
OUT = "reports/latest"
#: Timed rounds per kernel of the speed report (the median is reported), and the least time of each round.
SPEED_REPEATS, SPEED_MIN_TIME_S = 5, 0.02
#: The same for a training step (a step is ~1000× a kernel call: fewer loops, more rounds against noise).
TRAINING_REPEATS, TRAINING_MIN_TIME_S = 7, 0.05


def threshold_text(t: float | None) -> str:
    """A threshold as the command line writes it: "default", "inf", "0"."""
    return "default" if t is None else f"{t:g}"
