"""Every bit pattern of a format, judged on all cores, chunk by chunk, in shards that merge.

The *stream* of a format of b bits is its 2**b bit patterns in increasing order of value: the negative
NaN patterns, −inf, the negative numbers, −0, +0, the positive numbers, +inf, the positive NaN patterns.
Position p holds pattern ``2**b − 1 − p`` below 2**(b−1) and ``p − 2**(b−1)`` from there on, so a
position range is a value range and every chunk is measured as :class:`~oracle.tally.Tally` needs.

The stream is cut into chunks of :data:`CHUNK` inputs (one :func:`oracle.judge.measure_chunk` each), the
chunks into pieces of :data:`PIECE` chunks (one task for a worker process, and one checkpoint record), and
a :class:`Shard` ``i/n`` is the i-th of n contiguous runs of chunks. Tallies of adjacent runs merge into
exactly the tally of their union, so shards computed on different machines merge into the verdict an
unsharded run gives, and a restarted run takes the pieces its checkpoint file already holds.

Memory: each worker holds one chunk and its float64 temporaries (~300 MB at the default chunk size);
the main process holds only tallies.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing as mp
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .evaluate import check_params
from .formats import Format, get_format
from .judge import (ChunkFailed, ExhaustiveFailed, Verdict, _caller, _failure_reason, boundary_measurements,
                    finish_verdict, finite_before, sample_chunks, switch_points_of, tally_chunks)
from .tally import Tally

__all__ = ["CHUNK", "PIECE", "Shard", "ExhaustiveFailed", "stream_size", "stream_values", "finite_span",
           "piece_ranges", "run_exhaustive", "exhaustive_verdict", "default_jobs", "EXHAUSTIVE_BITS"]

#: Inputs per chunk: one target call and one oracle pass over them.
CHUNK = 1 << 20
#: Chunks per piece: one worker task and one checkpoint record (16 Mi inputs, a few seconds).
PIECE = 16
#: Formats up to this width can be judged exhaustively (float32: 2**32 inputs).
EXHAUSTIVE_BITS = 32


@dataclass(frozen=True)
class Shard:
    """The ``index``-th (from 1) of ``count`` contiguous runs of a stream's chunks."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """"3/8" → Shard(3, 8); ValueError naming the problem otherwise."""
        try:
            i, n = (int(p) for p in text.split("/"))
        except ValueError:
            raise ValueError(f"a shard is written i/n, like 3/8; got {text!r}") from None
        if not 1 <= i <= n:
            raise ValueError(f"shard {text!r}: i must run from 1 to n")
        return cls(i, n)

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    def chunks(self, n_chunks: int) -> range:
        """The chunk numbers of this shard (an empty range when there are fewer chunks than shards)."""
        return range((self.index - 1) * n_chunks // self.count, self.index * n_chunks // self.count)


def stream_size(f: Format) -> int:
    return 1 << f.bits


def stream_values(f: Format, start: int, stop: int) -> np.ndarray:
    """The values at stream positions [start, stop) (see the module doc), as ``f.dtype``."""
    p = np.arange(start, stop, dtype=np.uint64)
    half = np.uint64(1 << (f.bits - 1))
    top = np.uint64((1 << f.bits) - 1)
    bits = np.where(p < half, top - p, p - half)
    return f.from_bits(bits.astype(f.uint))


def finite_span(f: Format) -> tuple[int, int]:
    """(position of the most negative finite value, number of finite values) in the stream."""
    half = 1 << (f.bits - 1)
    return half - 1 - f.max_bits, 2 * (f.max_bits + 1)


def chunk_count(f: Format, chunk: int = CHUNK) -> int:
    return -(-stream_size(f) // chunk)


def piece_ranges(chunks: range, piece: int = PIECE) -> list[tuple[int, int]]:
    """[lo, hi) chunk ranges of the pieces covering ``chunks``, cut on multiples of ``piece`` (so a
    piece is the same whichever shard it falls in)."""
    out, lo = [], chunks.start
    while lo < chunks.stop:
        hi = min((lo // piece + 1) * piece, chunks.stop)
        out.append((lo, hi))
        lo = hi
    return out


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# --- the worker side --------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse instead of returning it to the system.

    Every pass over a chunk allocates fresh multi-megabyte float64 arrays; by default glibc maps each
    one anew and unmaps it on free, so every pass pays page faults on memory it just gave back — about
    40% of the time per chunk. Returns False where this is not glibc (nothing changes there)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20)) and bool(libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):
        return False


def _init_worker(ref, memory_limit: int | None, fmt: str, fn: str, beta: float, threshold, chunk: int,
                 worst_k: int, values: np.ndarray | None = None) -> None:
    """A pool worker's start: the target rebuilt from its :class:`targets.locate.TargetRef`."""
    from targets.isolation import limit_memory

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    keep_freed_memory()
    limit_memory(memory_limit)
    target = ref.resolve()
    _WORKER.update(call=_caller(target, fn, beta, threshold), f=get_format(fmt), fn=fn, beta=beta,
                   chunk=chunk, worst_k=worst_k, values=values)
    if values is not None:
        _WORKER["before"] = finite_before(values)


def _measure_piece(lo: int, hi: int) -> Tally | str:
    """The tally of chunks [lo, hi) of the stream, or the reason the target failed there."""
    w = _WORKER
    f, chunk, values = w["f"], w["chunk"], w["values"]
    if values is None:
        first, n_finite = finite_span(f)
        total = stream_size(f)
        chunks = ((c * chunk, stream_values(f, c * chunk, min((c + 1) * chunk, total)),
                   min(max(c * chunk - first, 0), n_finite)) for c in range(lo, hi))
    else:
        n_finite = int(w["before"][-1])
        chunks = sample_chunks(values, chunk, w["before"], lo, hi)
    try:
        return tally_chunks(w["call"], f, w["fn"], w["beta"], chunks, n_finite, w["worst_k"])
    except ChunkFailed as failed:
        return _failure_reason(w["call"], failed.x, failed.cause)


# --- checkpoints ------------------------------------------------------------------------------------------

class Checkpoint:
    """Finished pieces of one combination, one JSON line each after a header line with the run's
    identity; a file whose header differs (another target version, chunking, oracle) is started over."""

    def __init__(self, path: Path, identity: dict[str, Any]) -> None:
        self.path, self.identity = Path(path), identity
        self.done: dict[tuple[int, int], Tally] = {}
        if self.path.exists():
            self._load()
        if not self.done:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({"identity": identity}) + "\n", encoding="utf-8")

    def _load(self) -> None:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        try:
            if json.loads(lines[0]).get("identity") != self.identity:
                return
        except (IndexError, ValueError, AttributeError):
            return
        for line in lines[1:]:
            try:  # a line cut short by a kill is simply not there
                rec = json.loads(line)
                self.done[tuple(rec["piece"])] = Tally.from_dict(rec["tally"])
            except (ValueError, KeyError, TypeError):
                continue

    def add(self, piece: tuple[int, int], tally: Tally) -> None:
        self.done[piece] = tally
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"piece": list(piece), "tally": tally.to_dict()}, allow_nan=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


# --- the main side ----------------------------------------------------------------------------------------

def _ref(target):
    """How the pool's workers get the target (workers here are the isolation: no second worker per worker)."""
    from targets.isolation import IsolatedTarget
    from targets.locate import ref_of

    return target.ref if isinstance(target, IsolatedTarget) else ref_of(target)  # an isolated one knows its own


def _environment(target) -> dict | None:
    """The environment an isolated target's worker starts with (a capped path), for the pool's workers."""
    from targets.isolation import IsolatedTarget

    return target.env if isinstance(target, IsolatedTarget) else None


def _workers(executor: cf.ProcessPoolExecutor) -> dict:
    return dict(getattr(executor, "_processes", None) or {})


_STARTED: dict[int, Any] = {}  # pid -> process, for every pool worker started (see _RecordingContext)


class _RecordedProcess(mp.context.SpawnProcess):
    """A spawned pool worker that is remembered when it starts (module level: spawn pickles the process)."""

    def start(self) -> None:
        super().start()
        _STARTED[self.pid] = self


class _RecordingContext:
    """The spawn context, with workers that are remembered as they start: a pool that breaks drops its
    workers (and one that crashed at once may never have been listed), but their exit codes tell which one
    crashed and why. ``started``: pid -> process of the workers started through this context."""

    Process = _RecordedProcess

    def __init__(self, ctx) -> None:
        self._ctx, self._before = ctx, set(_STARTED)

    @property
    def started(self) -> dict:
        return {pid: p for pid, p in _STARTED.items() if pid not in self._before}

    def forget(self) -> None:
        for pid in self.started:
            _STARTED.pop(pid, None)

    def __getattr__(self, name: str):
        return getattr(self._ctx, name)


def _kill(executor: cf.ProcessPoolExecutor, known: dict | None = None) -> list[int | None]:
    """Kill the pool's workers (those it lists, and ``known`` ones it may have dropped once broken);
    their exit codes."""
    procs = list({**(known or {}), **_workers(executor)}.values())
    for p in procs:
        if p.is_alive():
            p.kill()
    for p in procs:
        p.join(5)
    executor.shutdown(wait=False, cancel_futures=True)
    return [p.exitcode for p in procs]


def run_exhaustive(target, fmt: str | Format, fn: str, beta: float = 1.0, threshold: float | None = None, *,
                   values: np.ndarray | None = None, shard: Shard | None = None, jobs: int | None = None,
                   chunk: int = CHUNK, piece: int | None = None,
                   checkpoint: Path | None = None, identity: dict[str, Any] | None = None,
                   progress: Callable[[int, int], None] | None = None, timeout: float = 300.0,
                   memory_limit: int | None = None, worst_k: int = 10) -> Tally:
    """The tally of every input of ``fmt`` (or of ``shard`` of them) for ``target``.

    ``jobs`` worker processes (default: every core available) each measure whole pieces; ``progress`` is
    called as ``progress(done, total)`` in inputs (first with what the checkpoint already holds).
    ``checkpoint``: a file of finished pieces, read on start and appended to as pieces finish (pass the
    same path to resume an interrupted run; ``identity`` is what must match for its records to count).
    ``timeout``: seconds one piece may take before the target counts as hung. ExhaustiveFailed if the
    target raises, returns garbage, crashes or hangs; Ctrl-C stops the workers and keeps the checkpoint.

    ``values``: instead of the stream, these inputs (in increasing x, NaN last, as an InputSet holds
    them): how :func:`oracle.judge.judge` spreads a large sample over the cores.
    """
    from targets.isolation import environ_applied, previous_failure, remember_failure

    f, beta = check_params(fmt, fn, beta, threshold)
    skipped = previous_failure(target, f.name, fn)
    if skipped is not None:
        raise ExhaustiveFailed(skipped)
    if values is None and f.bits > EXHAUSTIVE_BITS:
        raise ValueError(f"{f.name} has 2**{f.bits} inputs: too many to judge exhaustively; sample it")
    total_inputs = stream_size(f) if values is None else int(values.size)
    n_chunks = -(-total_inputs // chunk)
    chunks = shard.chunks(n_chunks) if shard else range(n_chunks)
    jobs = jobs or default_jobs()
    if piece is None:  # PIECE chunks per task, fewer where that would leave workers idle
        piece = max(1, min(PIECE, n_chunks // (4 * jobs)))
    pieces = piece_ranges(chunks, piece)
    ckpt = Checkpoint(checkpoint, identity or {}) if checkpoint else None
    done = dict(ckpt.done) if ckpt else {}
    done = {p: t for p, t in done.items() if p in set(pieces)}

    def size(p):
        return min(p[1] * chunk, total_inputs) - p[0] * chunk

    total, finished = sum(size(p) for p in pieces), sum(size(p) for p in done)
    if progress:
        progress(finished, total)
    todo = [p for p in pieces if p not in done]
    if todo:
        jobs = max(1, min(jobs, len(todo)))
        try:
            ref = _ref(target)
        except TypeError as e:  # targets.locate.NotSendable: neither located nor picklable
            raise ExhaustiveFailed(str(e)) from None
        try:
            # the workers start as the pool needs them: a capped target's environment holds meanwhile
            with environ_applied(_environment(target)):
                _run_pool(ref, jobs, memory_limit, f, fn, beta, threshold, chunk, piece, worst_k, values, todo,
                          done, ckpt, size, finished, total, progress, timeout)
        except _PoolLost as lost:  # a crash or hang: not worth waiting for again in this run
            remember_failure(target, f.name, fn, lost.cause)
            raise ExhaustiveFailed(str(lost)) from None
    tally = Tally(start=chunks.start * chunk, stop=chunks.start * chunk)  # covers nothing yet
    for p in pieces:
        tally = done[p] if tally.start == tally.stop else tally.merge(done[p], worst_k)
    return tally


class _PoolLost(ExhaustiveFailed):
    """The pool's workers crashed or hung; ``cause`` is the short form ("crashed: SIGSEGV", "timed out …")."""

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


def _run_pool(ref, jobs: int, memory_limit, f: Format, fn: str, beta: float, threshold, chunk: int, piece: int,
              worst_k: int, values, todo: list, done: dict, ckpt, size, finished: int, total: int, progress,
              timeout: float) -> None:
    """Measure the ``todo`` pieces on a pool of ``jobs`` workers into ``done`` (and the checkpoint)."""
    from targets.isolation import describe_exit

    ctx = _RecordingContext(mp.get_context("spawn"))
    ex = cf.ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker,
                                initargs=(ref, memory_limit, f.name, fn, beta, threshold, chunk, worst_k, values))
    try:
        running = {ex.submit(_measure_piece, *p): p for p in todo}
        last = time.monotonic()  # a hang shows as no piece finishing for `timeout` seconds
        while running:
            ready, _ = cf.wait(running, timeout=min(timeout, 5.0), return_when=cf.FIRST_COMPLETED)
            for fut in ready:
                p = running.pop(fut)
                try:
                    result = fut.result()
                except cf.process.BrokenProcessPool:
                    # every worker ever started: a broken pool forgets its workers, and their exit codes
                    codes = [c for c in _kill(ex, ctx.started) if c not in (None, 0)]
                    # the pool ends the other workers with SIGTERM: the culprit's code is another
                    codes.sort(key=lambda c: c == -signal.SIGTERM)
                    why = describe_exit(codes[0]) if codes else "crashed: a worker process died"
                    # every piece in flight fails with the pool: this one is only one of them
                    raise _PoolLost(f"{why} while judging inputs {_span(f, p, chunk, values)} "
                                    f"(or another piece in flight)", why) from None
                if isinstance(result, str):
                    raise ExhaustiveFailed(f"{result} (in inputs {_span(f, p, chunk, values)})")
                done[p] = result
                if ckpt:
                    ckpt.add(p, result)
                finished += size(p)
                last = time.monotonic()
                if progress:
                    progress(finished, total)
            if running and time.monotonic() - last > timeout:
                _kill(ex)
                first = min(running.values())
                raise _PoolLost(f"timed out: no piece of {chunk * piece:,} inputs finished within "
                                f"{timeout:g} s (from inputs {_span(f, first, chunk, values)})",
                                f"timed out after {timeout:g} s")
    except BaseException:
        _kill(ex)
        raise
    finally:
        ctx.forget()
    ex.shutdown(wait=True)


def _span(f: Format, p: tuple[int, int], chunk: int, values: np.ndarray | None = None) -> str:
    total = stream_size(f) if values is None else values.size
    lo, hi = p[0] * chunk, min(p[1] * chunk, total) - 1

    def at(i: int) -> float:
        v = stream_values(f, i, i + 1) if values is None else values[i:i + 1]
        with np.errstate(invalid="ignore"):
            return float(v.astype(np.float64)[0])
    return f"x from {at(lo)!r} to {at(hi)!r}"


def exhaustive_verdict(target: str, fmt: str | Format, fn: str, beta: float, threshold, tally: Tally | None, *,
                       boundary: dict[str, Any] | None, failure: str | None = None, device: str = "cpu",
                       elapsed_s: float = 0.0, code_path: dict[str, str] | None = None) -> Verdict:
    """The Verdict of an exhaustive run of the target named ``target`` from its tally over the whole
    stream, or its ``failure``. ``boundary``: the switch jumps and safe threshold from
    :func:`boundary_record` (measured with the target; a merge has no target at hand)."""
    f, beta = check_params(fmt, fn, beta, threshold)
    v = Verdict(target=target, format=f.name, fn=fn, beta=beta, threshold=threshold, device=device,
                mode="exhaustive", n_inputs=stream_size(f), code_path=dict(code_path or {}))
    if failure is not None:
        v.status, v.reason = "error", failure
    else:
        if tally is None or (tally.start, tally.stop) != (0, stream_size(f)):
            covered = "nothing" if tally is None else f"positions {tally.start:,} to {tally.stop:,}"
            raise ValueError(f"the tally covers {covered}, not the {stream_size(f):,} inputs of {f.name}")
        finish_verdict(v, tally, f)
        _apply_boundary(v, boundary)
        v.worst_source = "exhaustive" if v.worst_finite else ""
    v.elapsed_s = elapsed_s
    return v


def boundary_record(target, fmt: str | Format, fn: str, beta: float, threshold) -> dict[str, Any]:
    """The switch jumps and the safe threshold, measured with the target (JSON-safe, for shard files).

    Declared switches only: switches discovered from a stream's jump candidates would depend on how it was
    sharded (a shard sees its own candidates), and a merge must equal the unsharded run."""
    from .inputs import boundary_points
    from .judge import json_safe

    f, beta = check_params(fmt, fn, beta, threshold)
    v = Verdict(target=target.name, format=f.name, fn=fn, beta=beta, threshold=threshold)
    switches = switch_points_of(target, f, beta, threshold)
    linear = boundary_points(f, fn, beta).get("linear_branch") if fn == "softplus" else None
    boundary_measurements(v, _caller(target, fn, beta, threshold), f, fn, beta, switches, linear)
    from dataclasses import asdict

    return json_safe({"switch_jumps": [asdict(j) for j in v.switch_jumps],
                      "threshold_jump_ulp": v.threshold_jump_ulp, "safe_threshold": v.safe_threshold})


def _apply_boundary(v: Verdict, rec: dict[str, Any]) -> None:
    from .judge import from_json_safe
    from .switches import SwitchJump

    rec = from_json_safe(rec)
    v.switch_jumps = [SwitchJump(**j) for j in rec["switch_jumps"]]
    v.threshold_jump_ulp, v.safe_threshold = rec["threshold_jump_ulp"], rec["safe_threshold"]
