"""Targets whose questions crash, loaded as a plugin module by ``test_probe_crash.py``.

Each computes the oracle itself, correctly; what it plants is in the code the run calls before computing:
its capability check, its availability, its instruction-set path or its versions kill the process that asks
(SIGSEGV, or abort) or hang it, as a framework's probe that compiles and runs a model can. The run must
contain each in a worker and report it as that target's failure.
"""

import os
import signal
import time

import oracle
from targets import Target


def _die(how: str) -> None:
    if how == "abort":
        os.abort()
    if how == "hang":
        time.sleep(3600)
    os.kill(os.getpid(), signal.SIGSEGV)


class ProbeCrash(Target):
    formats = ("float16", "float32")

    def __init__(self, name: str, where: str, how: str = "segv", formats: tuple[str, ...] | None = None) -> None:
        self.name = name
        self.where = where
        self.how = how
        self.crash_formats = self.formats if formats is None else formats

    def availability(self):
        if self.where == "availability":
            _die(self.how)
        return None

    def check(self, fmt, beta=1.0, threshold=None):
        reason = super().check(fmt, beta, threshold)
        if self.where == "check" and str(getattr(fmt, "name", fmt)) in self.crash_formats:
            _die(self.how)  # a probe that runs a model in fmt, and the runtime dies of it
        return reason

    def code_path(self):
        if self.where == "code_path":
            _die(self.how)
        return super().code_path()

    def versions(self):
        if self.where == "versions":
            _die(self.how)
        return {"probe-crash": "1"}

    def compute(self, x, beta, threshold):
        return oracle.softplus(x, beta)

    def compute_grad(self, x, beta, threshold):
        return oracle.softplus_grad(x, beta)


TARGETS = [
    ProbeCrash("probe-crash-check", "check"),
    # crashes probing float16 only: its float32 combinations are judged
    ProbeCrash("probe-crash-check-f16", "check", formats=("float16",)),
    ProbeCrash("probe-crash-availability", "availability", "abort"),
    ProbeCrash("probe-crash-code-path", "code_path"),
    ProbeCrash("probe-crash-versions", "versions"),
    ProbeCrash("probe-hang-check-f16", "check", "hang", formats=("float16",)),
    ProbeCrash("probe-crash-none", "nowhere"),
]
