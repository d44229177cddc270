"""Speed report: elements/s and effective GB/s per target, format, size and direction, beside ReLU and a copy.

For each available target × format × size × direction (forward: softplus; derivative: softplus_grad) three
kernels are timed on the same n inputs (uniform in [-10, 10], seed 0, ``targets.base.speed_inputs``) in the
same framework on the same device: the softplus kernel, ReLU in that direction, and a plain copy of the n input
elements into another buffer. The ratio to the copy says how close the implementation is to the memory-bound
limit; the ratio to ReLU tests the common claim that softplus costs 10–20% more than ReLU.

Where the kernels come from: :meth:`targets.Target.kernels` (framework-resident arrays, nothing marshalled). A
target that gives none (returns None) is timed through its public ``softplus``/``softplus_grad`` on NumPy
arrays, validation and marshalling to and from the framework included, beside NumPy's own ReLU and copy; its
records say so (``timed_via = "numpy-api"``).

Timing (:func:`engine.timing.time_kernels`): ``time.perf_counter`` (pytest-benchmark's default timer too), garbage collection
off while timing. Each kernel is warmed up, then calibrated to a loop of ``loops`` calls lasting at least
``min_time`` seconds; then ``repeats`` rounds, each timing one loop of every kernel in turn (interleaved, so
drift in clock speed or load hits all three alike). A kernel's time is the median over the rounds of loop
time / loops, in **seconds per call**. A target's ``"sync"`` runs at the end of each loop, inside the timing.

Units and conventions:

* ``elements_per_s`` = n / (seconds per call).
* ``gbps`` = effective GB/s = bytes / (seconds per call) / 1e9 (GB = 1e9 bytes), with bytes counted by
  convention, not measured: forward n·itemsize·2 (read x, write y); derivative n·itemsize·3 (read x, read the
  incoming gradient, write dx) — also for kernels that read no gradient (JAX's vmap(grad), the NumPy
  formulations' analytic derivatives), whose GB/s is then a third above the bytes they really move.
  The copy always moves n·itemsize·2 bytes (``copy_gbps``).
* ``vs_relu`` = softplus seconds / ReLU seconds in the same direction (1.15: softplus costs 15% more).
* ``vs_copy`` = softplus seconds / copy seconds (1.0: as fast as copying the input; the memory-bound limit of
  the forward; a derivative reading a gradient too is bound at 1.5).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Sequence

from engine.defaults import SPEED_MIN_TIME_S, SPEED_REPEATS
from engine.timing import Kernel, Timing, failure_text, time_kernels
from oracle.formats import get_format
from targets.base import KERNEL_NAMES, Target, speed_inputs
from targets.numpy_targets import numpy_kernels

__all__ = ["SPEED_SCHEMA", "SIZES", "DIRECTIONS", "Timing", "SpeedRecord", "run_speed", "speed_job", "time_kernels",
           "numpy_api_kernels"]

#: Layout version of speed.json.
SPEED_SCHEMA = "softplus-cert/speed/1"

#: Sizes in elements: small (1 Ki, call overhead dominates), medium (64 Ki, in cache), large (4 Mi, in memory).
SIZES: dict[str, int] = {"small": 2**10, "medium": 2**16, "large": 2**22}

#: direction -> (the softplus kernel, the ReLU kernel) timed for it.
DIRECTIONS: dict[str, tuple[str, str]] = {"forward": ("softplus", "relu"),
                                          "derivative": ("softplus_grad", "relu_grad")}

#: Bytes moved per element, in itemsizes, by convention (see the module docstring).
_BYTES_PER_ELEMENT = {"forward": 2, "derivative": 3}

NUMPY_API_NOTE = ("timed through NumPy marshalling: the target gives no kernels, so its public "
                   "softplus/softplus_grad on NumPy arrays (validation and moves included) are timed, "
                   "beside NumPy's ReLU and copy")

Progress = Callable[[str], None]


# --- records -----------------------------------------------------------------------------------------------------

@dataclass
class SpeedRecord:
    """One target × format × size × direction. Times in seconds per call, rates per second, GB = 1e9 bytes.

    ``status``: "ok" (the softplus kernel was timed; ``errors`` may still hold a failed ReLU or copy, whose
    ratio is then None), "error" (preparing or running the softplus kernel raised: ``reason``), "unsupported"
    (the target refuses the format: ``reason``) or "unavailable" (the target cannot run here: ``reason``;
    format, size and direction are "-"). ``timed_via``: "kernels" (:meth:`Target.kernels`) or "numpy-api"
    (the public API on NumPy arrays, marshalling included; ``note`` says so).
    """

    target: str
    device: str
    format: str
    size: str
    n: int
    direction: str
    status: str = "ok"
    reason: str | None = None
    timed_via: str | None = None
    note: str | None = None
    itemsize: int | None = None
    bytes_per_call: int | None = None
    seconds: float | None = None
    elements_per_s: float | None = None
    gbps: float | None = None
    relu_seconds: float | None = None
    relu_elements_per_s: float | None = None
    copy_seconds: float | None = None
    copy_elements_per_s: float | None = None
    copy_gbps: float | None = None
    vs_relu: float | None = None
    vs_copy: float | None = None
    timings: dict[str, Timing] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["timings"] = {k: v.to_dict() for k, v in self.timings.items()}
        return d


def _rate(count: float, seconds: float | None) -> float | None:
    return count / seconds if seconds else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _record(target: Target, fmt: str, size: str, n: int, direction: str, timed_via: str,
            timings: dict[str, Timing], errors: dict[str, str]) -> SpeedRecord:
    """A record from the timings of one direction (its softplus kernel, its ReLU kernel and the copy)."""
    sp_name, relu_name = DIRECTIONS[direction]
    itemsize = get_format(fmt).dtype.itemsize
    nbytes = n * itemsize * _BYTES_PER_ELEMENT[direction]
    mine = {k: timings[k] for k in (sp_name, relu_name, "copy") if k in timings}
    errs = {k: errors[k] for k in (sp_name, relu_name, "copy") if k in errors}
    rec = SpeedRecord(target=target.name, device=target.device, format=fmt, size=size, n=n, direction=direction,
                      timed_via=timed_via, note=NUMPY_API_NOTE if timed_via == "numpy-api" else None,
                      itemsize=itemsize, bytes_per_call=nbytes, timings=mine, errors=errs)
    if sp_name not in mine:
        rec.status, rec.reason = "error", errs.get(sp_name, f"{sp_name} kernel missing")
        return rec
    sp = mine[sp_name].median_s
    relu = mine[relu_name].median_s if relu_name in mine else None
    copy = mine["copy"].median_s if "copy" in mine else None
    rec.seconds, rec.elements_per_s, rec.gbps = sp, n / sp, nbytes / sp / 1e9
    rec.relu_seconds, rec.relu_elements_per_s = relu, _rate(n, relu)
    rec.copy_seconds, rec.copy_elements_per_s = copy, _rate(n, copy)
    rec.copy_gbps = _rate(n * itemsize * 2 / 1e9, copy)
    rec.vs_relu, rec.vs_copy = _ratio(sp, relu), _ratio(sp, copy)
    return rec


def numpy_api_kernels(target: Target, fmt: str, n: int, beta: float = 1.0,
                      threshold: float | None = None) -> dict[str, Kernel]:
    """Kernels for a target without its own: its public API on NumPy arrays, beside NumPy's ReLU and copy."""
    x = speed_inputs(fmt, n)
    return numpy_kernels(x, lambda: target.softplus(x, beta, threshold),
                         lambda: target.softplus_grad(x, beta, threshold))


def _kernels(target: Target, fmt: str, n: int, beta: float,
             threshold: float | None) -> tuple[dict[str, Kernel], Callable[[], object] | None, str]:
    """(kernels to time, sync, how they were obtained) for one target, format and size."""
    given = target.kernels(fmt, n, beta, threshold)
    via = "kernels"
    if given is None:
        given, via = numpy_api_kernels(target, fmt, n, beta, threshold), "numpy-api"
    missing = [k for k in KERNEL_NAMES if not callable(given.get(k))]
    if missing:
        raise TypeError(f"{target.name}.kernels() lacks {', '.join(missing)}")
    sync = given.get("sync")
    return {k: given[k] for k in KERNEL_NAMES}, sync, via


def _measure_size(target: Target, fmt: str, size: str, n: int, directions: Sequence[str], beta: float,
                  threshold: float | None, repeats: int, min_time: float) -> list[SpeedRecord]:
    """The records of every direction for one target, format and size (errors recorded, never raised)."""
    try:
        kernels, sync, via = _kernels(target, fmt, n, beta, threshold)
    except Exception as exc:  # noqa: BLE001 — a target that cannot prepare its kernels is recorded, not fatal
        return [SpeedRecord(target=target.name, device=target.device, format=fmt, size=size, n=n, direction=d,
                            status="error", reason=f"preparing kernels: {failure_text(exc)}") for d in directions]
    # only what the requested directions need: the copy once, shared by both
    wanted = [k for d in directions for k in DIRECTIONS[d]] + ["copy"]
    timings, errors = time_kernels({k: kernels[k] for k in dict.fromkeys(wanted)}, repeats, min_time, sync)
    del kernels  # free the device arrays before the next size
    return [_record(target, fmt, size, n, d, via, timings, errors) for d in directions]


def speed_job(target: Target, formats: Sequence[str], sizes: Sequence[str], repeats: int,
              min_time: float) -> list[SpeedRecord]:
    """:func:`run_speed` of one target: the job an isolated target runs in a worker of its own
    (``IsolatedTarget.run_job``)."""
    return run_speed([target], formats, sizes, repeats=repeats, min_time=min_time)


def run_speed(targets: Iterable[Target], formats: Sequence[str] | None = None,
              sizes: Sequence[str] = ("small", "medium", "large"),
              directions: Sequence[str] = ("forward", "derivative"), repeats: int = SPEED_REPEATS, min_time: float = SPEED_MIN_TIME_S,
              progress: Progress | None = None, beta: float = 1.0,
              threshold: float | None = None) -> list[SpeedRecord]:
    """Time every target × format × size × direction; see the module docstring for units and conventions.

    ``formats``: names to try (default: each target's own formats); one a target refuses becomes an
    "unsupported" record. ``sizes``: names in :data:`SIZES` or element counts (named by their count).
    ``repeats``: rounds per kernel (the median is reported); ``min_time``: seconds each timed loop lasts at
    least. A target, kernel or preparation that raises is recorded with the error; the run goes on.
    """
    unknown = [d for d in directions if d not in DIRECTIONS]
    if unknown:
        raise ValueError(f"unknown direction(s) {unknown}; known: {list(DIRECTIONS)}")
    size_list = [(s, SIZES[s]) if isinstance(s, str) else (str(int(s)), int(s)) for s in sizes]
    records: list[SpeedRecord] = []
    for target in targets:
        reason = _unavailable(target)
        if reason is not None:
            records.append(SpeedRecord(target=target.name, device=target.device, format="-", size="-", n=0,
                                       direction="-", status="unavailable", reason=reason))
            continue
        for fmt in (formats if formats is not None else target.formats):
            reason = _check(target, fmt, beta, threshold)
            if reason is not None:
                records += [SpeedRecord(target=target.name, device=target.device, format=fmt, size=s, n=n,
                                        direction=d, status="unsupported", reason=reason)
                            for s, n in size_list for d in directions]
                continue
            for size, n in size_list:
                if progress:
                    progress(f"{target.name} {fmt} {size} (n={n})")
                records += _measure_size(target, fmt, size, n, directions, beta, threshold, repeats, min_time)
    return records


def _unavailable(target: Target) -> str | None:
    try:
        return target.availability()
    except Exception as exc:  # noqa: BLE001
        return f"availability check failed: {failure_text(exc)}"


def _check(target: Target, fmt: str, beta: float, threshold: float | None) -> str | None:
    try:
        return target.check(fmt, beta, threshold)
    except Exception as exc:  # noqa: BLE001 — an unknown format name, say
        return failure_text(exc)
