"""The timer of the speed report and of the training-step benchmark: interleaved rounds, median seconds per call.

Each kernel is warmed up (:data:`WARMUP_CALLS` calls: JIT compilation, allocator and cache warm-up), then
calibrated to a loop of ``loops`` calls lasting at least ``min_time`` seconds; then ``repeats`` rounds, each
timing one loop of every kernel in turn (interleaved, so drift in clock speed or load hits all alike). A
kernel's time is the median over the rounds of loop time / loops, in **seconds per call**; ``sync`` runs at the
end of each loop, inside the timing (queued device work is then counted). ``time.perf_counter``
(pytest-benchmark's default timer too), garbage collection off while timing.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from engine.defaults import SPEED_MIN_TIME_S, SPEED_REPEATS

__all__ = ["Kernel", "Timing", "time_kernels", "failure_text", "WARMUP_CALLS"]

Kernel = Callable[[], object]
WARMUP_CALLS = 3


def failure_text(exc: BaseException) -> str:
    """An exception as "ExceptionType: message"."""
    return f"{type(exc).__name__}: {exc}"


@dataclass
class Timing:
    """One kernel's measurement: seconds per call (median, min, max over ``samples``), ``loops`` calls per sample."""

    median_s: float
    min_s: float
    max_s: float
    loops: int
    samples: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _loop_time(fn: Kernel, sync: Callable[[], object], loops: int) -> float:
    """Seconds for ``loops`` calls of ``fn`` and one ``sync`` (so queued device work is inside the time)."""
    start = time.perf_counter()
    for _ in range(loops):
        fn()
    sync()
    return time.perf_counter() - start


def _calibrate(fn: Kernel, sync: Callable[[], object], min_time: float) -> int:
    """The number of calls (1, 2, 5, 10, 20, 50, ...) whose loop lasts at least ``min_time`` seconds."""
    loops = 1
    for i in range(60):
        if _loop_time(fn, sync, loops) >= min_time:
            return loops
        loops *= (2, 2.5, 2)[i % 3]  # 1, 2, 5, 10, 20, 50, ... as timeit's autorange
        loops = int(loops)
    return loops


def _nothing() -> None:
    return None


def time_kernels(kernels: dict[str, Kernel], repeats: int = SPEED_REPEATS, min_time: float = SPEED_MIN_TIME_S,
                 sync: Callable[[], object] | None = None) -> tuple[dict[str, Timing], dict[str, str]]:
    """Time each kernel: warm-up, calibration, then ``repeats`` interleaved rounds; median seconds per call.

    Returns (name -> Timing for the kernels that ran, name -> "ExceptionType: message" for those that raised).
    A kernel that raises is dropped from the rounds; the others go on.
    """
    sync = sync or _nothing
    timings: dict[str, Timing] = {}
    errors: dict[str, str] = {}
    loops: dict[str, int] = {}
    was_enabled = gc.isenabled()
    gc.disable()  # a collection inside one sample would be charged to whichever kernel ran then
    try:
        for name, fn in kernels.items():
            try:
                for _ in range(WARMUP_CALLS):  # JIT compilation, allocator and cache warm-up
                    fn()
                sync()
                loops[name] = _calibrate(fn, sync, min_time)
            except Exception as exc:  # noqa: BLE001 — one failing kernel must not sink the others
                errors[name] = failure_text(exc)
        samples: dict[str, list[float]] = {name: [] for name in loops}
        for _ in range(max(1, repeats)):
            for name in list(samples):
                try:
                    samples[name].append(_loop_time(kernels[name], sync, loops[name]) / loops[name])
                except Exception as exc:  # noqa: BLE001
                    errors[name] = failure_text(exc)
                    del samples[name]
    finally:
        if was_enabled:
            gc.enable()
    for name, s in samples.items():
        timings[name] = Timing(median_s=statistics.median(s), min_s=min(s), max_s=max(s), loops=loops[name],
                               samples=s)
    return timings, errors
