"""The speed report: the timed kernels are the real ones, the numbers are sane, failures are recorded, files parse.

Kept fast: tiny sizes, two repeats and loops of a millisecond. The numbers are not checked for speed, only for
being what the conventions say (positive, finite, consistent with each other).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from oracle.formats import get_format
from engine.environment import environment
from engine.speed import run_speed, time_kernels
from reports.speed import SIZES, SPEED_SCHEMA, SpeedRecord, write_speed_json, write_speed_markdown, write_speed_plots
from targets import Params, Target, get_target, reason_unavailable
from targets.base import KERNEL_NAMES, speed_inputs

FAST = {"repeats": 2, "min_time": 1e-3}
N = 1003  # not a multiple of any SIMD width: torch's vector loop and its scalar remainder both run
KERNEL_TARGETS = ["torch-cpu", "numpy-stable", "numpy-log1p", "tf-softplus", "tf-stable", "jax-softplus"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _available(name: str) -> Target:
    t = get_target(name)
    reason = reason_unavailable(t)
    if reason is not None:
        pytest.skip(f"{name}: {reason}")
    return t


def _to_numpy(obj, fmt: str, shape: tuple) -> np.ndarray:
    """A kernel's result (NumPy, torch, TensorFlow or JAX array) as a NumPy array, bit for bit."""
    from targets import marshal

    f = get_format(fmt)
    module = type(obj).__module__
    if isinstance(obj, np.ndarray):
        return obj
    if module.startswith("torch"):
        return marshal.from_torch(obj, f, shape)
    if module.startswith("tensorflow"):
        return marshal.from_tf(obj, f, shape)
    if module.startswith(("jax", "jaxlib")):
        return marshal.from_jax(obj, f, shape)
    raise TypeError(f"unknown array type {type(obj)}")


def _address(obj) -> int:
    """Where an array's first element lives, to tell a copy from an alias."""
    if isinstance(obj, np.ndarray):
        return obj.ctypes.data
    module = type(obj).__module__
    if module.startswith("torch"):
        return obj.data_ptr()
    if module.startswith("tensorflow"):
        return obj._numpy().ctypes.data  # a CPU EagerTensor's _numpy() shares the tensor's buffer
    return obj.unsafe_buffer_pointer()  # jax.Array


def _bits(x: np.ndarray) -> np.ndarray:
    return get_format(x.dtype).to_bits(x)


def _run(kernels: dict, name: str):
    out = kernels[name]()
    if "sync" in kernels:
        kernels["sync"]()
    return out


# --- the kernels are the real ones ---------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["float32", "bfloat16"])
@pytest.mark.parametrize("name", KERNEL_TARGETS)
def test_kernels_compute_what_the_public_api_computes(name: str, fmt: str) -> None:
    t = _available(name)
    kernels = t.kernels(fmt, N)
    assert set(KERNEL_NAMES) <= set(kernels)
    x = _to_numpy(kernels["inputs"](), fmt, (N,))
    np.testing.assert_array_equal(_bits(x), _bits(speed_inputs(fmt, N)))  # the inputs crossed bit-exactly
    for kernel, public in (("softplus", t.softplus), ("softplus_grad", t.softplus_grad)):
        got = _to_numpy(_run(kernels, kernel), fmt, (N,))
        want = public(x)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(_bits(got), _bits(want), err_msg=f"{name} {fmt} {kernel}")
    xf = x.astype(np.float64)
    relu = _to_numpy(_run(kernels, "relu"), fmt, (N,)).astype(np.float64)
    relu_grad = _to_numpy(_run(kernels, "relu_grad"), fmt, (N,)).astype(np.float64)
    np.testing.assert_array_equal(relu, np.maximum(xf, 0.0))
    np.testing.assert_array_equal(relu_grad, (xf > 0).astype(np.float64))


@pytest.mark.parametrize("fmt", ["float32", "bfloat16", "float64"])
@pytest.mark.parametrize("name", KERNEL_TARGETS)
def test_copy_kernel_really_copies(name: str, fmt: str) -> None:
    t = _available(name)
    kernels = t.kernels(fmt, N)
    x = kernels["inputs"]()
    y = _run(kernels, "copy")
    assert _address(y) != _address(x), "the copy aliases its input: no bytes were moved"
    np.testing.assert_array_equal(_bits(_to_numpy(y, fmt, (N,))), _bits(_to_numpy(x, fmt, (N,))))


def test_torch_cuda_kernels() -> None:
    t = _available("torch-cuda")
    kernels = t.kernels("float32", N)
    assert "sync" in kernels  # CUDA launches are asynchronous: the timing must wait for them
    x = _to_numpy(kernels["inputs"](), "float32", (N,))
    got = _to_numpy(_run(kernels, "softplus_grad"), "float32", (N,))
    np.testing.assert_array_equal(_bits(got), _bits(t.softplus_grad(x)))
    assert _address(_run(kernels, "copy")) != _address(kernels["inputs"]())
    (fwd, der) = run_speed([t], formats=["float32"], sizes=("small",), **FAST)
    assert fwd.status == der.status == "ok" and fwd.device == "cuda"


# --- records -----------------------------------------------------------------------------------------------------

def _assert_sane(r: SpeedRecord) -> None:
    assert r.status == "ok", (r.target, r.reason, r.errors)
    assert not r.errors
    for v in (r.seconds, r.elements_per_s, r.gbps, r.relu_seconds, r.copy_seconds, r.copy_gbps, r.vs_relu,
              r.vs_copy):
        assert v is not None and math.isfinite(v) and v > 0, r
    per_element = {"forward": 2, "derivative": 3}[r.direction]
    assert r.bytes_per_call == r.n * r.itemsize * per_element
    assert r.elements_per_s == pytest.approx(r.n / r.seconds)
    assert r.gbps == pytest.approx(r.bytes_per_call / r.seconds / 1e9)
    assert r.vs_relu == pytest.approx(r.seconds / r.relu_seconds)
    assert r.vs_copy == pytest.approx(r.seconds / r.copy_seconds)
    for timing in r.timings.values():
        assert len(timing.samples) == FAST["repeats"] and timing.min_s <= timing.median_s <= timing.max_s


@pytest.mark.parametrize("name", ["torch-cpu", "numpy-stable"])
def test_records_for_every_size_and_direction(name: str) -> None:
    t = _available(name)
    records = run_speed([t], formats=["float32"], sizes=("small", 4096), **FAST)
    assert [(r.size, r.n, r.direction) for r in records] == [
        ("small", SIZES["small"], "forward"), ("small", SIZES["small"], "derivative"),
        ("4096", 4096, "forward"), ("4096", 4096, "derivative")]
    for r in records:
        _assert_sane(r)
        assert r.target == name and r.format == "float32" and r.timed_via == "kernels" and r.note is None
        assert set(r.timings) == ({"softplus", "relu", "copy"} if r.direction == "forward"
                                  else {"softplus_grad", "relu_grad", "copy"})


def test_unsupported_format_and_unavailable_target_are_recorded() -> None:
    torch_cpu = _available("torch-cpu")

    class Away(_NumpyLogaddexp):
        name = "away"

        def availability(self) -> str | None:
            return "nothing to run on"

    records = run_speed([torch_cpu, Away()], formats=["float8_e5m2"], sizes=(64,), **FAST)
    assert [(r.target, r.status) for r in records] == [("torch-cpu", "unsupported")] * 2 + [("away", "unavailable")]
    assert "float8" in records[0].reason and records[2].reason == "nothing to run on"


class _NumpyLogaddexp(Target):
    """A minimal target without kernels of its own: the speed report times its public API."""

    name = "test-logaddexp"
    formats = ("float32", "float64")
    params = Params(beta=True)

    def compute(self, x, beta, threshold):
        return np.asarray(np.logaddexp(x.dtype.type(0), x))

    def compute_grad(self, x, beta, threshold):
        with np.errstate(over="ignore"):
            return np.asarray(x.dtype.type(1) / (x.dtype.type(1) + np.exp(-x)))


class _Failing(_NumpyLogaddexp):
    """Kernels of which one (or the preparation) raises."""

    def __init__(self, name: str, broken: str) -> None:
        self.name, self._broken = name, broken

    def kernels(self, fmt, n, beta=1.0, threshold=None):
        if self._broken == "prepare":
            raise RuntimeError("no memory on the device")
        x = speed_inputs(fmt, n)

        def broken():
            raise RuntimeError(f"{self._broken} kernel exploded")

        kernels = {"softplus": lambda: np.logaddexp(0, x), "softplus_grad": lambda: 1 / (1 + np.exp(-x)),
                   "relu": lambda: np.maximum(x, 0), "relu_grad": lambda: np.where(x > 0, 1, 0),
                   "copy": lambda: x.copy()}
        kernels[self._broken] = broken
        return kernels


def test_numpy_api_fallback_says_so() -> None:
    (fwd, der) = run_speed([_NumpyLogaddexp()], formats=["float32"], sizes=(256,), **FAST)
    for r in (fwd, der):
        _assert_sane(r)
        assert r.timed_via == "numpy-api" and "timed through NumPy marshalling" in r.note


def test_a_failing_kernel_gives_a_record_with_the_error() -> None:
    targets = [_Failing("bad-grad", "softplus_grad"), _Failing("bad-copy", "copy"), _Failing("bad-prep", "prepare")]
    records = run_speed(targets, formats=["float32"], sizes=(128,), **FAST)
    by = {(r.target, r.direction): r for r in records}
    assert by["bad-grad", "forward"].status == "ok"
    bad = by["bad-grad", "derivative"]
    assert bad.status == "error" and "softplus_grad kernel exploded" in bad.reason and bad.seconds is None
    for d in ("forward", "derivative"):  # the softplus kernels ran; only the ratio to the copy is missing
        r = by["bad-copy", d]
        assert r.status == "ok" and r.vs_copy is None and r.vs_relu > 0 and "copy kernel exploded" in r.errors["copy"]
        assert by["bad-prep", d].status == "error" and "no memory on the device" in by["bad-prep", d].reason


class _Clock:
    """A simulated perf_counter: time moves only when a kernel or the sync says so (no wall clock at all)."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def test_time_kernels_medians_and_sync_inside_the_timing(monkeypatch) -> None:
    """Structure and arithmetic of the timing, on a simulated clock: each call of "slow" costs 2 ms, of "fast"
    1 µs, each sync 10 µs. Calibration then picks the autorange loop count (1, 2, 5, 10, …) whose loop first
    reaches min_time, and each sample is (calls × cost + one sync) / calls: derived here, not read back."""
    import engine.timing as timing

    clock = _Clock()
    monkeypatch.setattr(timing, "time", clock)
    syncs = []

    def slow() -> None:
        clock.now += 2e-3

    def fast() -> None:
        clock.now += 1e-6

    def sync() -> None:
        syncs.append(1)
        clock.now += 1e-5

    timings, errors = time_kernels({"slow": slow, "fast": fast}, repeats=3, min_time=20e-3, sync=sync)
    assert not errors
    # slow: 10 calls (20 ms + 10 µs) is the first loop ≥ 20 ms; fast: 20 000 calls (20 ms + 10 µs)
    for name, cost, loops in (("slow", 2e-3, 10), ("fast", 1e-6, 20_000)):
        t = timings[name]
        assert t.loops == loops and len(t.samples) == 3
        assert t.median_s == pytest.approx(cost + 1e-5 / loops, rel=1e-9)  # the sync is inside the timing
        assert t.min_s == pytest.approx(t.median_s, rel=1e-9) and t.max_s == pytest.approx(t.median_s, rel=1e-9)
    # warm-up (one sync per kernel), each calibration loop, and each of the 2 × 3 timed loops end in a sync
    assert len(syncs) >= 2 + 2 + 2 * 3


def test_time_kernels_drops_a_kernel_that_raises_and_times_the_rest() -> None:
    def broken() -> None:
        raise RuntimeError("kernel exploded")

    timings, errors = time_kernels({"broken": broken, "fine": lambda: None}, repeats=2, min_time=0.0)
    assert set(timings) == {"fine"} and "kernel exploded" in errors["broken"]
    assert timings["fine"].loops == 1 and len(timings["fine"].samples) == 2


# --- files ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def records() -> list[SpeedRecord]:
    ts = [t for t in (get_target("torch-cpu"), get_target("numpy-stable")) if reason_unavailable(t) is None]
    ts.append(_Failing("bad-grad", "softplus_grad"))
    return run_speed(ts, formats=["float32", "float64"], sizes=(256, 2048), **FAST)


def test_json_is_parseable_with_the_schema(tmp_path, records) -> None:
    path = tmp_path / "speed.json"
    write_speed_json(path, records, environment(None, []))
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["schema"] == SPEED_SCHEMA
    assert "packages" in doc["environment"] and doc["conventions"]["gb"] == "1e9 bytes"
    assert len(doc["records"]) == len(records)
    ok = [d for d in doc["records"] if d["status"] == "ok"]
    assert ok and all(d["elements_per_s"] > 0 and d["timings"] for d in ok)


def test_markdown_has_a_table_per_format(tmp_path, records) -> None:
    path = tmp_path / "speed.md"
    write_speed_markdown(path, records, environment(None, []))
    md = path.read_text(encoding="utf-8")
    header = "| target | device | size | direction | elements/s | GB/s | ×ReLU | ×copy | spread |"
    assert md.count(header) == 2
    assert md.index("## float32") < md.index("## float64")
    assert "## Errors" in md and "softplus_grad kernel exploded" in md
    assert "| bad-grad | cpu | 256 (256) | forward |" in md


def test_plots_are_png_files(tmp_path, records) -> None:
    pytest.importorskip("matplotlib")
    paths = write_speed_plots(tmp_path / "plots", records)
    assert sorted(p.name for p in paths) == ["speed-float32.png", "speed-float64.png"]
    for p in paths:
        assert p.read_bytes()[:8] == PNG_SIGNATURE
