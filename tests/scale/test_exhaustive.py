"""Exhaustive runs: the stream, shards that merge to the unsharded verdict, resume, failures (small formats)."""

import json

import numpy as np
import pytest

from engine.exhaustive import (ExhaustiveFailed, Shard, exhaustive_verdict, piece_ranges, run_exhaustive,
                               stream_values)
from engine.case import Case
from oracle.formats import get_format
from engine.grid import Combo
from engine.exhaustive_runs import ShardError, merge_shards, run_exhaustive_combo, shard_config, shard_digest, write_shard
from tests.scale.scale_targets import Faulty, Logged

CHUNK = 4096  # 16 chunks of float16, 4 pieces of 4 chunks: enough seams to lose something at


def _verdict(tally, fn="softplus", target=Faulty()):
    from engine.exhaustive import boundary_record
    from engine.judge import code_path_of

    return exhaustive_verdict(target.name, Case("float16", fn), tally,
                              boundary=boundary_record(target, Case("float16", fn)),
                              code_path=code_path_of(target))


def _same(a, b):
    a, b = a.to_dict(), b.to_dict()
    a.pop("elapsed_s"), b.pop("elapsed_s")
    return a == b


def test_stream_is_every_pattern_once_in_increasing_order():
    f = get_format("bfloat16")
    x = stream_values(f, 0, 1 << 16)
    bits = x.view(np.uint16)
    assert np.unique(bits).size == 1 << 16
    with np.errstate(invalid="ignore"):
        xf = x.astype(np.float64)
    num = xf[~np.isnan(xf)]
    assert (np.diff(num) >= 0).all() and np.isnan(xf[:10]).all() and np.isnan(xf[-10:]).all()
    zeros = np.flatnonzero(num == 0)
    assert np.signbit(num[zeros[0]]) and not np.signbit(num[zeros[1]])  # −0 just before +0


def test_shard_ranges_partition_the_chunks():
    for n_chunks in (1, 5, 16, 4096):
        for count in (1, 3, 7, 64):
            got = [c for i in range(1, count + 1) for c in Shard(i, count).chunks(n_chunks)]
            assert got == list(range(n_chunks))
    assert piece_ranges(range(3, 11), 4) == [(3, 4), (4, 8), (8, 11)]
    with pytest.raises(ValueError, match="from 1 to n"):
        Shard.parse("0/4")
    with pytest.raises(ValueError, match="i/n"):
        Shard.parse("3")


@pytest.fixture(scope="module")
def unsharded():
    return {fn: run_exhaustive(Faulty(), "float16", fn, chunk=CHUNK, piece=4, jobs=2)
            for fn in ("softplus", "softplus_grad")}


@pytest.mark.parametrize("fn", ["softplus", "softplus_grad"])
def test_exhaustive_run_equals_the_in_process_judge_on_every_pattern(unsharded, fn):
    # the pool, the stream and the merges against one in-process pass over the same 65,536 inputs
    from engine.judge import judge
    from engine.inputs import InputSet

    f = get_format("float16")
    x = stream_values(f, 0, 1 << 16)
    xs = np.concatenate([x[~np.isnan(x.astype(np.float64))], x[np.isnan(x.astype(np.float64))]])  # NaN last
    # the search for undeclared switches calls the target beyond the tally: a stream's verdict has none
    ref = judge(Faulty(), "float16", fn, inputs=InputSet(xs, f, "exhaustive", None, {}), search=False)
    got = _verdict(unsharded[fn], fn)
    a, b = got.to_dict(), ref.to_dict()
    for d in (a, b):
        d.pop("elapsed_s")
        d.pop("worst")  # positions differ (NaN inputs at both ends of the stream, last in the InputSet)
        d.pop("error_profile")
        d.pop("safe_threshold")  # the InputSet above has no boundary sets
    assert a == b


def test_shards_merge_to_the_unsharded_verdict(unsharded, tmp_path):
    want = _verdict(unsharded["softplus"])
    f = get_format("float16")
    assert float(stream_values(f, 12 * CHUNK, 12 * CHUNK + 1)[0]) == 2.0  # the dip starts chunk 12
    for count in (3, 4, 5, 20):  # 4: a shard starts at chunk 12; 20 shards of 16 chunks: some are empty
        parts = [run_exhaustive(Faulty(), "float16", "softplus", chunk=CHUNK, piece=4, jobs=1,
                                shard=Shard(i, count)) for i in range(1, count + 1)]
        tally = None
        for p in parts:
            if p.start != p.stop:
                tally = p if tally is None else tally.merge(p)
        assert _same(_verdict(tally), want), count


def _combo():
    return Combo(Faulty(), "float16", "softplus", 1.0, None)


def test_shard_files_merge_and_refuse_what_does_not_belong(unsharded, tmp_path):
    from engine.environment import environment

    c = _combo()
    paths = []
    for i in (1, 2, 3):
        s = Shard(i, 3)
        rec = run_exhaustive_combo(c, tmp_path, shard=s, jobs=1, chunk=CHUNK, quiet=True)
        paths.append(tmp_path / f"shard-{i}-of-3.json")
        write_shard(paths[-1], s, shard_config([c], s, CHUNK), environment(None, [c.target]), [rec])
    verdicts, env = merge_shards(paths[::-1])  # any order
    assert _same(verdicts[0], _verdict(unsharded["softplus"])) and len(env["shards"]) == 3
    with pytest.raises(ShardError, match="missing shard"):
        merge_shards(paths[:2])
    with pytest.raises(ShardError, match="given twice"):
        merge_shards(paths + paths[:1])
    other = json.loads(paths[2].read_text())
    other["config"]["combinations"][0]["chunk"] = 8192
    other["digest"] = shard_digest(other)  # a shard of another run, intact: refused for what it is
    paths[2].write_text(json.dumps(other))
    with pytest.raises(ShardError, match="different runs.*chunk"):
        merge_shards(paths)


def test_interrupted_run_resumes_from_finished_pieces(unsharded, tmp_path):
    ckpt, ident = tmp_path / "ck.jsonl", {"run": 1}
    seen = []

    def stop_after_two(done, total):
        seen.append(done)
        if len(seen) == 3:  # the initial call, then two finished pieces
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_exhaustive(Faulty(), "float16", "softplus", chunk=CHUNK, piece=4, jobs=1, checkpoint=ckpt,
                       identity=ident, progress=stop_after_two)
    lines = ckpt.read_text().splitlines()
    assert len(lines) == 3  # the header and two pieces
    finished = [tuple(json.loads(line)["piece"]) for line in lines[1:]]
    # the restart must not compute those pieces again: the target notes the first input of every call
    # (a chunk's own call starts at its first stream value; the calls at −x never start at a chunk's start)
    f = get_format("float16")
    starts = {int(stream_values(f, c * CHUNK, c * CHUNK + 1).view(np.uint16)[0])
              for p in finished for c in range(*p)}
    log = tmp_path / "calls.log"
    resumed_from = []
    tally = run_exhaustive(Logged(log), "float16", "softplus", chunk=CHUNK, piece=4, jobs=2,
                           checkpoint=ckpt, identity=ident, progress=lambda d, t: resumed_from.append(d))
    called = {int(line) for line in log.read_text().split()}
    assert resumed_from[0] == 2 * 4 * CHUNK and not called & starts and len(called) > 8
    assert _same(_verdict(tally), _verdict(unsharded["softplus"]))
    # another identity (say, a new torch version) starts over rather than mixing results
    log.unlink()
    run_exhaustive(Logged(log), "float16", "softplus", chunk=CHUNK, piece=4, jobs=1, checkpoint=ckpt,
                   identity={"run": 2})
    assert starts <= {int(line) for line in log.read_text().split()}


@pytest.mark.parametrize("mode, words", [
    ("raise_some", "raised ValueError: bad input in batch on 1 of 4,096 inputs; first: x = "),
    ("segfault", "crashed: SIGSEGV while judging inputs x from"),
    ("wrong_dtype", "returned float64 for float16 input"),
])
def test_a_failing_target_is_an_error_with_its_cause(mode, words):
    from tests.reliability.hostile_targets import Broken

    with pytest.raises(ExhaustiveFailed) as e:
        run_exhaustive(Broken("broken", mode), "float16", "softplus", chunk=CHUNK, piece=4, jobs=2)
    assert words in str(e.value)


def test_a_hanging_target_times_out():
    from tests.reliability.hostile_targets import Broken

    with pytest.raises(ExhaustiveFailed, match=r"timed out: no piece finished within 3 s \(from inputs x from "):
        run_exhaustive(Broken("broken", "hang"), "float16", "softplus", chunk=CHUNK, piece=4, jobs=1, timeout=3)


def test_too_wide_a_format_is_refused():
    with pytest.raises(ValueError, match="too many to judge exhaustively"):
        run_exhaustive(Faulty(), "float64", "softplus")


def test_a_large_sample_on_the_pool_gives_the_in_process_verdict():
    from engine.judge import judge

    for fn in ("softplus", "softplus_grad"):
        here = judge(Faulty(), "float16", fn, chunk=4096)
        pooled = judge(Faulty(), "float16", fn, chunk=4096, jobs=2)
        assert _same(pooled, here)
    from tests.reliability.hostile_targets import Broken

    v = judge(Broken("broken", "raise_some"), "float16", "softplus", chunk=4096, jobs=2)
    assert v.status == "error" and "raised ValueError: bad input in batch on 1 of 4,096 inputs" in v.reason
