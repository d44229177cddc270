"""A plugin whose targets cannot be pickled: classes made inside ``get_targets()``, holding a lock and a lambda.

As a backend author writes them when the kernel needs set-up. Each is the oracle with one misbehaviour: the
suite must isolate them all the same (the worker loads this file again and looks the target up by name).
``LOCAL_TARGETS_FAIL_IN_WORKER=1`` in a worker's environment makes ``get_targets()`` raise there, as a plugin
whose set-up fails on another machine would.
"""

import ctypes
import os
import threading
import time

import numpy as np

import oracle
from targets import Params, Target

MODES = ("good", "raise", "hang", "segfault", "float64")


def get_targets():
    if os.environ.get("LOCAL_TARGETS_FAIL_IN_WORKER") == "1":
        raise RuntimeError("the accelerator library is not installed on this machine")
    lock = threading.Lock()  # a lock: no pickling

    class Local(Target):
        formats = ("float16", "float32")
        params = Params(beta=True)  # more than one parameter set, so later combinations can be skipped

        def __init__(self, mode):
            self.name = f"local-{mode}"
            self.mode = mode
            self._lock = lock
            self._finish = lambda y: y  # a lambda: no pickling either
            self.ref = "the vendor's reference kernel"  # names the suite uses for its own things, by accident
            self.env = ["not", "an", "environment"]

        def _run(self, fn, x, beta):
            with self._lock:
                if self.mode == "raise":
                    raise RuntimeError("kernel launch failed")
                if self.mode == "hang":
                    time.sleep(3600)
                if self.mode == "segfault":
                    ctypes.string_at(0)
                y = fn(x, beta)
                if self.mode == "float64":
                    return np.asarray(y, dtype=np.float64)
                return self._finish(y)

        def compute(self, x, beta, threshold):
            return self._run(oracle.softplus, x, beta)

        def compute_grad(self, x, beta, threshold):
            return self._run(oracle.softplus_grad, x, beta)

    return [Local(m) for m in MODES]
