"""Every bit pattern of a format, judged on all cores, chunk by chunk, in shards that merge.

The *stream* of a format of b bits is its 2**b bit patterns in increasing order of value: the negative
NaN patterns, −inf, the negative numbers, −0, +0, the positive numbers, +inf, the positive NaN patterns.
Position p holds pattern ``2**b − 1 − p`` below 2**(b−1) and ``p − 2**(b−1)`` from there on, so a
position range is a value range and every chunk is measured as :class:`~engine.tally.Tally` needs.

The stream is cut into chunks of :data:`CHUNK` inputs (one :func:`engine.measure.measure_chunk` each), the
chunks into pieces of :data:`PIECE` chunks (one task for a worker process, and one checkpoint record), and
a :class:`Shard` ``i/n`` is the i-th of n contiguous runs of chunks. Tallies of adjacent runs merge into
exactly the tally of their union, so shards computed on different machines merge into the verdict an
unsharded run gives, and a restarted run takes the pieces its checkpoint file already holds.

The pieces run on an executor (:mod:`engine.execute`): a local pool of worker processes by default, a Dask
cluster on request; the result does not depend on which.

Memory: each worker holds one chunk and its float64 temporaries (~300 MB at the default chunk size);
the main process holds only tallies.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engine.case import Case
from engine.defaults import TIMEOUT_S
from engine.execute import Executor, LocalPool, Work, WorkLost
from engine.inputs import boundary_points
from engine.measure import (
    CHUNK,
    ChunkFailed,
    ExhaustiveFailed,
    failure_reason,
    finite_before,
    sample_chunks,
    tally_chunks,
)
from engine.switches import SwitchJump
from engine.tally import Tally
from engine.verdict import Verdict, boundary_measurements, finish_verdict
from oracle.files import from_json_safe, json_safe
from oracle.formats import Format
from oracle.implementation import (
    NotSendable,
    caller,
    previous_failure,
    recipe_of,
    remember_failure,
    switch_points_of,
    worker_env_of,
)

__all__ = ["CHUNK", "PIECE", "Shard", "ExhaustiveFailed", "stream_size", "stream_values", "finite_span",
           "piece_ranges", "run_exhaustive", "exhaustive_verdict", "EXHAUSTIVE_BITS", "boundary_record", "Checkpoint"]

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


# --- the worker side --------------------------------------------------------------------------------------

class _Here:
    """The recipe of an implementation at hand (an in-process executor builds its state from it)."""

    def __init__(self, impl) -> None:
        self.impl = impl

    def resolve(self):
        return self.impl


def _piece_state(recipe, case: Case, chunk: int, worst_k: int, values: np.ndarray | None) -> dict[str, Any]:
    """What a worker keeps for measuring pieces of one case: the target rebuilt from its recipe."""
    target = recipe.resolve()
    state = dict(call=caller(target, case.fn, case.beta, case.threshold), case=case, f=case.format, chunk=chunk,
                 worst_k=worst_k, values=values)
    if values is not None:
        state["before"] = finite_before(values)
    return state


def _measure_piece(w: dict[str, Any], piece: tuple[int, int]) -> Tally | str:
    """The tally of chunks [lo, hi) of the stream (or of the values), or the reason the target failed there."""
    lo, hi = piece
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
        return tally_chunks(w["call"], w["case"], chunks, n_finite, w["worst_k"])
    except ChunkFailed as failed:
        return failure_reason(w["call"], failed.x, failed.cause)


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

def run_exhaustive(target, fmt: str | Format | Case, fn: str = "softplus", beta: float = 1.0,
                   threshold: float | None = None, *,
                   values: np.ndarray | None = None, shard: Shard | None = None, jobs: int | None = None,
                   executor: Executor | None = None, chunk: int = CHUNK, piece: int | None = None,
                   checkpoint: Path | None = None, identity: dict[str, Any] | None = None,
                   progress: Callable[[int, int], None] | None = None, timeout: float = TIMEOUT_S,
                   memory_limit: int | None = None, worst_k: int = 10) -> Tally:
    """The tally of every input of the case's format (or of ``shard`` of them) for ``target``; the case is
    ``fmt`` itself where it is a :class:`~engine.case.Case`, else that of the four arguments.

    The pieces run on ``executor`` (:mod:`engine.execute`; default: a local pool of ``jobs`` worker
    processes, every core available by default), each a whole piece; ``progress`` is called as
    ``progress(done, total)`` in inputs (first with what the checkpoint already holds).
    ``checkpoint``: a file of finished pieces, read on start and appended to as pieces finish (pass the
    same path to resume an interrupted run; ``identity`` is what must match for its records to count).
    ``timeout``: seconds one piece may take before the target counts as hung. ExhaustiveFailed if the
    target raises, returns garbage, crashes or hangs; Ctrl-C stops the workers and keeps the checkpoint.

    ``values``: instead of the stream, these inputs (in increasing x, NaN last, as an InputSet holds
    them): how :func:`engine.judge.judge` spreads a large sample over the workers.
    """
    case = Case.of(fmt, fn, beta, threshold)
    f, fn = case.format, case.fn
    skipped = previous_failure(target, f.name, fn)
    if skipped is not None:
        raise ExhaustiveFailed(skipped)
    if values is None and f.bits > EXHAUSTIVE_BITS:
        raise ValueError(f"{f.name} has 2**{f.bits} inputs: too many to judge exhaustively; sample it")
    executor = executor or LocalPool(jobs)
    total_inputs = stream_size(f) if values is None else int(values.size)
    n_chunks = -(-total_inputs // chunk)
    chunks = shard.chunks(n_chunks) if shard else range(n_chunks)
    if piece is None:  # PIECE chunks per task, fewer where that would leave workers idle
        piece = max(1, min(PIECE, n_chunks // (4 * executor.jobs)))
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
        try:
            recipe = recipe_of(target) if executor.remote else _Here(target)
        except NotSendable as e:  # neither located nor picklable
            raise ExhaustiveFailed(str(e)) from None
        work = Work(_piece_state, (recipe, case, chunk, worst_k, values), _measure_piece,
                    env=worker_env_of(target), memory_limit=memory_limit, name=f"{target.name}-{case.slug}")

        def finished_piece(p, result) -> None:
            nonlocal finished
            if isinstance(result, str):
                raise ExhaustiveFailed(f"{result} (in inputs {_span(f, p, chunk, values)})")
            done[p] = result
            if ckpt:
                ckpt.add(p, result)
            finished += size(p)
            if progress:
                progress(finished, total)

        try:
            executor.run(work, todo, finished_piece, timeout=timeout,
                         describe=lambda p: _span(f, p, chunk, values))
        except WorkLost as lost:  # a crash or hang: not worth waiting for again in this run
            remember_failure(target, f.name, fn, lost.cause)
            raise ExhaustiveFailed(str(lost)) from None
    tally = Tally(start=chunks.start * chunk, stop=chunks.start * chunk)  # covers nothing yet
    for p in pieces:
        tally = done[p] if tally.start == tally.stop else tally.merge(done[p], worst_k)
    return tally


def _span(f: Format, p: tuple[int, int], chunk: int, values: np.ndarray | None = None) -> str:
    total = stream_size(f) if values is None else values.size
    lo, hi = p[0] * chunk, min(p[1] * chunk, total) - 1

    def at(i: int) -> float:
        v = stream_values(f, i, i + 1) if values is None else values[i:i + 1]
        with np.errstate(invalid="ignore"):
            return float(v.astype(np.float64)[0])
    return f"x from {at(lo)!r} to {at(hi)!r}"


def exhaustive_verdict(target: str, case: Case, tally: Tally | None, *,
                       boundary: dict[str, Any] | None, failure: str | None = None, device: str = "cpu",
                       elapsed_s: float = 0.0, code_path: dict[str, str] | None = None) -> Verdict:
    """The Verdict of an exhaustive run of the target named ``target`` from its tally over the whole
    stream, or its ``failure``. ``boundary``: the switch jumps and safe threshold from
    :func:`boundary_record` (measured with the target; a merge has no target at hand)."""
    f = case.format
    v = Verdict(target=target, format=f.name, fn=case.fn, beta=case.beta, threshold=case.threshold, device=device,
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


def boundary_record(target, case: Case) -> dict[str, Any]:
    """The switch jumps and the safe threshold, measured with the target (JSON-safe, for shard files).

    Declared switches only: switches discovered from a stream's jump candidates would depend on how it was
    sharded (a shard sees its own candidates), and a merge must equal the unsharded run."""
    f, fn, beta, threshold = case.format, case.fn, case.beta, case.threshold
    v = Verdict(target=target.name, format=f.name, fn=fn, beta=beta, threshold=threshold)
    switches = switch_points_of(target, f.name, beta, threshold)
    linear = boundary_points(f, fn, beta).get("linear_branch") if fn == "softplus" else None
    boundary_measurements(v, caller(target, fn, beta, threshold), f, fn, beta, switches, linear)
    return json_safe({"switch_jumps": [asdict(j) for j in v.switch_jumps],
                      "threshold_jump_ulp": v.threshold_jump_ulp, "safe_threshold": v.safe_threshold})


def _apply_boundary(v: Verdict, rec: dict[str, Any]) -> None:
    rec = from_json_safe(rec)
    v.switch_jumps = [SwitchJump(**j) for j in rec["switch_jumps"]]
    v.threshold_jump_ulp, v.safe_threshold = rec["threshold_jump_ulp"], rec["safe_threshold"]
