"""Exhaustive runs for the command line: progress, checkpoints, shard files and their merge.

An unsharded ``report --exhaustive`` judges every combination of a format up to 32 bits over all its bit
patterns (float32: 2**32 inputs) with
:func:`engine.exhaustive.run_exhaustive`, one combination after another, with a progress bar in inputs
(rate and time left). ``--shard i/n`` does the i-th of n slices of every such combination and writes
``shard-i-of-n.json`` (schema :data:`SHARD_SCHEMA`): per combination the tally of the slice, the switch
jumps and safe threshold (measured with the target), or the failure. :func:`merge_shards` checks that
the n files belong together and cover everything once, and turns them into the verdicts an unsharded run
gives (all but ``elapsed_s``, which is the shards' sum).

Finished pieces go to ``<out>/checkpoints/`` as they finish; a run started again with the same options
takes them from there instead of recomputing them, and a shard whose file is already written is not
run again. Checkpoints are deleted once their combination is in a written report or shard file.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from tqdm import tqdm

from engine.case import Case
from engine.defaults import TIMEOUT_S
from engine.execute import Executor
from engine.exhaustive import (
    CHUNK,
    EXHAUSTIVE_BITS,
    ExhaustiveFailed,
    Shard,
    boundary_record,
    exhaustive_verdict,
    run_exhaustive,
)
from engine.grid import Combo
from engine.tally import Tally
from engine.verdict import SCHEMA_VERSION, Verdict
from oracle.cache import ORACLE_VERSION
from oracle.files import atomic_write_text, dumps, from_json_safe, json_safe
from oracle.formats import get_format
from oracle.implementation import code_path_of

__all__ = ["SHARD_SCHEMA", "shape_problem", "is_exhaustive", "run_exhaustive_combo", "write_shard", "merge_shards", "ShardError",
           "shard_path", "shard_config", "verdict_of", "forget_checkpoints", "finished_shard", "read_shard",
           "shard_digest"]

#: Version 2 adds the digest of the content (version-1 files are refused: run those shards again).
SHARD_SCHEMA = "softplus-cert/shard/2"


class ShardError(ValueError):
    """Shard files that cannot be merged; the message says which and why."""


def is_exhaustive(c: Combo) -> bool:
    """Whether ``--exhaustive`` streams this combination over every bit pattern: formats up to 32 bits
    (float64 cannot be)."""
    return c.skip is None and get_format(c.fmt).bits <= EXHAUSTIVE_BITS


def _identity(c: Combo, chunk: int) -> dict[str, Any]:
    try:
        versions = {k: str(v) for k, v in c.target.versions().items()}
    except Exception:  # noqa: BLE001 — a version query must not sink the run
        versions = {}
    # the instruction-set path too: shards measured on an AVX2 and an AVX-512 machine are not one run
    return {"combo": c.id, "chunk": chunk, "oracle": ORACLE_VERSION, "verdict": SCHEMA_VERSION,
            "versions": versions, "code_path": code_path_of(c.target)}


def shard_config(combos: Sequence[Combo], shard: Shard, chunk: int = CHUNK) -> dict[str, Any]:
    """What every shard of one run must agree on."""
    return {"shards": shard.count, "combinations": [_identity(c, chunk) for c in combos]}


def shard_path(out: Path, shard: Shard) -> Path:
    return Path(out) / f"shard-{shard.index}-of-{shard.count}.json"


def _checkpoint(out: Path, c: Combo, shard: Shard | None) -> Path:
    tail = f".shard-{shard.index}-of-{shard.count}" if shard else ""
    return Path(out) / "checkpoints" / f"{c.id}{tail}.jsonl"


def run_exhaustive_combo(c: Combo, out: Path, *, shard: Shard | None = None, jobs: int | None = None,
                         executor: Executor | None = None, chunk: int = CHUNK, timeout: float = TIMEOUT_S, memory_limit: int | None = None,
                         quiet: bool = False) -> dict[str, Any]:
    """One combination over every input (or one shard of them): a JSON-safe record with its tally,
    its boundary measurements, or the failure; progress on stderr as inputs judged, with rate and ETA.
    ``executor``: where the pieces run (default: a local pool of ``jobs`` workers)."""
    start = time.perf_counter()
    rec: dict[str, Any] = {"id": c.id, "target": c.target.name, "format": c.fmt, "fn": c.fn, "beta": c.beta,
                           "threshold": c.threshold, "device": getattr(c.target, "device", "cpu"),
                           "code_path": code_path_of(c.target)}
    label = c.id + (f" [shard {shard.label}]" if shard else "")
    with _bar(label, quiet) as progress:
        try:
            tally = run_exhaustive(c.target, c.fmt, c.fn, c.beta, c.threshold, shard=shard, jobs=jobs,
                                   executor=executor, chunk=chunk, checkpoint=_checkpoint(out, c, shard),
                                   identity=_identity(c, chunk),
                                   progress=progress, timeout=timeout, memory_limit=memory_limit)
            rec.update(status="ok", tally=tally.to_dict(),
                       boundary=boundary_record(c.target, c.case))
        except ExhaustiveFailed as e:
            rec.update(status="error", reason=str(e))
    rec["elapsed_s"] = time.perf_counter() - start
    return json_safe(rec)


def verdict_of(rec: dict[str, Any], tally: Tally | None = None) -> Verdict:
    """The Verdict of a complete record (``tally``: the merged one, for a merge of shards)."""
    if tally is None and rec.get("status") == "ok":
        tally = Tally.from_dict(rec["tally"])
    thr = from_json_safe(rec["threshold"])  # "inf" in JSON
    return exhaustive_verdict(rec["target"], Case(rec["format"], rec["fn"], rec["beta"], thr), tally,
                              boundary=rec.get("boundary"), device=rec.get("device", "cpu"),
                              failure=rec.get("reason") if rec.get("status") == "error" else None,
                              elapsed_s=rec.get("elapsed_s", 0.0), code_path=rec.get("code_path"))


def forget_checkpoints(out: Path, combos: Sequence[Combo], shard: Shard | None = None) -> None:
    for c in combos:
        _checkpoint(out, c, shard).unlink(missing_ok=True)
    try:
        (Path(out) / "checkpoints").rmdir()
    except OSError:
        pass  # not empty (other runs' checkpoints) or not there


class _bar:
    """A tqdm bar in inputs on stderr (rate, time left), fed by run_exhaustive's progress(done, total)."""

    def __init__(self, label: str, quiet: bool) -> None:
        self.label, self.quiet, self.tqdm = label, quiet, None

    def __enter__(self):
        if self.quiet:
            return None

        def progress(done: int, total: int) -> None:
            if self.tqdm is None:
                self.tqdm = tqdm(total=total, initial=done, desc=self.label, unit=" inputs", unit_scale=True,
                                 file=sys.stderr, mininterval=1.0, dynamic_ncols=True, smoothing=0.1)
            else:
                self.tqdm.update(done - self.tqdm.n)
        return progress

    def __exit__(self, *exc) -> None:
        if self.tqdm is not None:
            self.tqdm.close()


# --- shard files ----------------------------------------------------------------------------------------

def shard_digest(doc: dict[str, Any]) -> str:
    """sha256 of a shard document without its "digest", in canonical JSON (sorted keys, no spaces)."""
    body = {k: v for k, v in doc.items() if k != "digest"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_shard(path: Path, shard: Shard, config: dict[str, Any], env: dict[str, Any],
                records: list[dict[str, Any]]) -> None:
    """shard-i-of-n.json, with the digest of its content (an edited or damaged file is refused by the merge)."""
    doc = {"schema": SHARD_SCHEMA, "shard": [shard.index, shard.count], "config": config, "environment": env,
           "records": records}
    doc["digest"] = shard_digest(doc)
    atomic_write_text(Path(path), dumps(doc) + "\n")


def finished_shard(path: Path, shard: Shard, config: dict[str, Any]) -> bool:
    """Whether ``path`` already holds this shard of this run, intact (so it need not run again)."""
    try:
        doc = read_shard(Path(path))
    except ShardError:
        return False
    return doc["shard"] == [shard.index, shard.count] and doc["config"] == config


def read_shard(path: Path) -> dict[str, Any]:
    """A shard file's document, checked: schema, digest (the file as written), and the shape of what the
    merge reads. ShardError naming the file and the problem otherwise (never another exception)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ShardError(f"{path}: cannot read: {e.strerror or e}") from None
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise ShardError(f"{path}: not JSON ({str(e)[:120]}); a shard file cut short?") from None
    if not isinstance(doc, dict) or doc.get("schema") != SHARD_SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else None
        older = " (written by an older softplus-cert: run that shard again)" if (
            isinstance(found, str) and found.startswith("softplus-cert/shard/")) else ""
        raise ShardError(f"{path}: not a shard file of schema {SHARD_SCHEMA!r}{older}")
    try:
        digest_ok = doc.get("digest") == shard_digest(doc)
    except (TypeError, ValueError):  # a NaN or a non-JSON value smuggled in
        digest_ok = False
    if not digest_ok:
        raise ShardError(f"{path}: its content does not match its digest: the file was edited or damaged "
                         f"after it was written; run that shard again")
    problem = shape_problem(doc)
    if problem:
        raise ShardError(f"{path}: malformed shard file: {problem}")
    return doc


def shape_problem(doc: dict[str, Any]) -> str | None:
    """What is wrong with the structure the merge relies on, or None."""
    shard = doc.get("shard")
    if (not isinstance(shard, list) or len(shard) != 2 or not all(type(v) is int for v in shard)
            or not 1 <= shard[0] <= shard[1]):
        return f"'shard' must be [i, n] with 1 <= i <= n, got {shard!r}"
    config, env, records = doc.get("config"), doc.get("environment"), doc.get("records")
    if not isinstance(config, dict) or config.get("shards") != shard[1]:
        return "'config' must be an object whose 'shards' is the run's shard count"
    combos = config.get("combinations")
    if not isinstance(combos, list) or not all(isinstance(c, dict) and isinstance(c.get("combo"), str)
                                               for c in combos):
        return "'config.combinations' must be a list of objects naming their 'combo'"
    if not isinstance(env, dict):
        return "'environment' must be an object"
    if not isinstance(records, list) or len(records) != len(combos):
        return f"'records' must hold one record per combination ({len(combos)})"
    for r in records:
        if not isinstance(r, dict) or r.get("status") not in ("ok", "error"):
            return "every record must be an object with status 'ok' or 'error'"
        if r["status"] == "ok" and not isinstance(r.get("tally"), dict):
            return f"record {r.get('id')!r} has status 'ok' but no tally"
    return None


def merge_shards(paths: Sequence[Path]) -> tuple[list[Verdict], dict[str, Any]]:
    """(verdicts, environment) of a complete set of shard files; ShardError if they are not one.

    The files must be shards 1..n of the same n, each once, intact (:func:`read_shard`), written with the same
    selection, chunking, oracle, verdict schema and target versions. The environment is the first shard's,
    with every shard's date, machine and elapsed time under "shards".
    """
    docs = [(Path(p), read_shard(Path(p))) for p in paths]
    if not docs:
        raise ShardError("no shard files given")
    first_path, first = docs[0]
    n = first["shard"][1]
    seen: dict[int, Path] = {}
    for p, doc in docs:
        i, count = doc["shard"]
        if count != n:
            raise ShardError(f"{p} is shard {i}/{count}, but {first_path} belongs to a run of {n} shards")
        if i in seen:
            raise ShardError(f"shard {i}/{n} given twice: {seen[i]} and {p}")
        seen[i] = p
        if doc["config"] != first["config"]:
            raise ShardError(f"{p} and {first_path} come from different runs: {_config_difference(first['config'], doc['config'])}")
    missing = [i for i in range(1, n + 1) if i not in seen]
    if missing:
        raise ShardError(f"missing shard(s) {', '.join(f'{i}/{n}' for i in missing)} of {n}")
    docs.sort(key=lambda pd: pd[1]["shard"][0])
    verdicts = []
    for k, ident in enumerate(first["config"]["combinations"]):
        try:
            verdicts.append(_merged_verdict([doc["records"][k] for _, doc in docs], [doc for _, doc in docs], n))
        except ShardError:
            raise
        except Exception as e:  # noqa: BLE001 — a record that passed the digest but not the merge
            raise ShardError(f"{ident['combo']}: the shards' records cannot be merged "
                             f"({type(e).__name__}: {e})") from None
    env = dict(first["environment"])
    env["shards"] = [{"shard": f"{doc['shard'][0]}/{n}", "date": doc["environment"].get("date"),
                      "cpu": doc["environment"].get("cpu"), "platform": doc["environment"].get("platform"),
                      "elapsed_s": sum(_seconds(r) for r in doc["records"])} for _, doc in docs]
    return verdicts, env


def _seconds(rec: dict[str, Any]) -> float:
    v = rec.get("elapsed_s", 0.0)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0.0


def _merged_verdict(recs: list[dict[str, Any]], docs: list[dict[str, Any]], n: int) -> Verdict:
    """The verdict of one combination from its record in each shard (in shard order)."""
    failed = [(doc["shard"][0], r) for doc, r in zip(docs, recs) if r.get("status") != "ok"]
    if failed:
        i, r = failed[0]
        return verdict_of(dict(recs[0], status="error", reason=f"shard {i}/{n}: {r.get('reason')}"))
    tally = None
    for r in recs:
        part = Tally.from_dict(r["tally"])
        if part.start == part.stop:  # an empty shard (fewer chunks than shards)
            continue
        if tally is not None and part.start != tally.stop:
            raise ShardError(f"{recs[0].get('id')}: the shards' input ranges do not join "
                             f"(positions {tally.stop:,} and {part.start:,})")
        tally = part if tally is None else tally.merge(part)
    merged = dict(recs[0], elapsed_s=sum(_seconds(r) for r in recs))
    try:
        return verdict_of(merged, tally)
    except ValueError as e:
        raise ShardError(f"{recs[0].get('id')}: {e}") from None


def _config_difference(a: dict, b: dict) -> str:
    if a.get("shards") != b.get("shards"):
        return f"{a.get('shards')} vs {b.get('shards')} shards"
    ca, cb = a.get("combinations", []), b.get("combinations", [])
    if [c["combo"] for c in ca] != [c["combo"] for c in cb]:
        return "different combinations (targets, formats, functions or parameters)"
    for x, y in zip(ca, cb):
        if x != y:
            keys = sorted(k for k in {**x, **y} if x.get(k) != y.get(k))
            return (f"{x['combo']} differs in {', '.join(keys)}: {[x.get(k) for k in keys]} vs "
                    f"{[y.get(k) for k in keys]}")
    return "different settings"
