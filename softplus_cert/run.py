"""The certification pipeline as a library: select targets and a grid, judge them, write the reports, time them.

The command line (``softplus_cert.cli``), the repository's certification suite and the pytest plugin
(:mod:`softplus_cert.plugin`) all run through these functions:

* :func:`select` — targets (built-in, from plugin modules, by name), formats, functions, β and thresholds →
  a :class:`Selection` of judge combinations, each target behind a worker process unless ``isolation`` is
  off (then in this process, still sent to an exhaustive run's workers by its source);
* :func:`run_accuracy` — every combination judged (sampled, or every bit pattern with ``exhaustive``, on an
  :class:`engine.execute.Executor`), then agreement between targets and layout checks → :class:`AccuracyRun`;
  Ctrl-C keeps what finished (``interrupted``);
* :func:`write_accuracy` — accuracy.json, accuracy.md and index.html of a run;
* :func:`run_speed` — the speed report (and the training step), written to a directory.

Every function raises :class:`SelectionError` (a ValueError, one line naming the fix) for a request that
cannot be run; a target that fails is a finding in the verdicts, never an exception. Progress goes to stderr
(a tqdm bar per phase) unless ``quiet``.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from tqdm import tqdm

import reports
import targets
from engine import arguments
from engine.agreement import report_agreement
from engine.defaults import SEED, SPEED_MIN_TIME_S, SPEED_REPEATS
from engine.environment import environment
from engine.execute import Executor, LocalPool
from engine.exhaustive_runs import (
    ShardError,
    finished_shard,
    forget_checkpoints,
    is_exhaustive,
    merge_shards,
    run_exhaustive_combo,
    shard_config,
    shard_path,
    verdict_of,
    write_shard,
)
from engine.grid import FUNCTIONS, THRESHOLDS, Combo, combinations
from engine.isolation import IsolatedTarget
from engine.measure import CHUNK
from engine.speed import run_speed as time_targets
from engine.speed import speed_job
from engine.stored import load_json
from engine.sweep import Interrupted, run_grid, run_layout_checks
from engine.training import run_training
from engine.workers import DEFAULT_TIMEOUT
from oracle.formats import FORMATS, get_format
from oracle.implementation import previous_failure
from reports.accuracy import write_json, write_markdown
from reports.html import write_html
from reports.speed import DIRECTIONS, SIZES, SpeedRecord, write_speed_json, write_speed_markdown, write_speed_plots
from softplus_cert.certify import hold
from targets.locate import NotSendable

__all__ = ["SelectionError", "Selection", "AccuracyRun", "load_modules", "availability_of", "select", "run_accuracy", "run_shard",
           "write_accuracy", "write_page", "run_speed", "progress_bar", "exhaustive_selection", "writable",
           "Merged", "merge_shard_files"]


class SelectionError(ValueError):
    """A request that cannot be run as asked (unknown target or format, bad module, unwritable directory);
    the message is one line and names the fix."""


@dataclass
class Selection:
    """The targets as they will be judged, and the judge combinations of the grid (unavailable targets
    and declined ones appear as skips)."""

    targets: list
    combos: list[Combo]

    @property
    def todo(self) -> list[Combo]:
        return [c for c in self.combos if not c.skip]

    @property
    def available(self) -> list:
        """The targets that run here (an unavailable one appears among the combinations as a skip)."""
        return [t for t in self.targets if not any(c.skip for c in self.combos if c.target is t)]


@dataclass
class AccuracyRun:
    """What :func:`run_accuracy` measured. ``interrupted``: Ctrl-C came; what finished is here.
    ``finished_exhaustive``: the exhaustive combinations whose checkpoints the written report makes
    redundant."""

    selection: Selection
    verdicts: list = field(default_factory=list)
    layouts: list = field(default_factory=list)
    agreement: list = field(default_factory=list)
    device_agreement: list = field(default_factory=list)
    env: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    finished_exhaustive: list[Combo] = field(default_factory=list)


@contextlib.contextmanager
def progress_bar(total: int, quiet: bool, unit: str = "combo"):
    """A tqdm bar on stderr (rate and time left); yields the callback to call after each item (None when
    ``quiet``)."""
    if quiet:
        yield None
        return

    with tqdm(total=total, unit=unit, file=sys.stderr, mininterval=0.5, dynamic_ncols=True) as bar:
        def advance(item) -> None:
            bar.set_postfix_str(getattr(item, "id", str(item)), refresh=False)
            bar.update()
        yield advance


def _checked(check, value):
    """``value`` through its validator (:mod:`engine.arguments`): the library checks what it is given as the
    command line checks what is typed, with the same one-line message (as a SelectionError)."""
    try:
        return check(value)
    except ValueError as e:
        raise SelectionError(str(e)) from None


def load_modules(specs: Iterable[str]) -> None:
    """Load plugin target modules (``.py`` paths or dotted names); SelectionError naming the one that fails."""
    for spec in specs or ():
        try:
            targets.load_target_module(spec, strict=True)
        except Exception as e:  # noqa: BLE001 — any plugin failure is the user's input problem here
            raise SelectionError(f"cannot load target module {spec!r}: {e}") from None


def _isolated(target, timeout: float, memory_limit: int | None):
    """The target behind a worker process (crash, hang and memory containment), which rebuilds it from its
    module, entry point or built-in (targets.locate). Its availability, checks, path and versions are asked
    there too (a probe that crashes is the target's finding): nothing of the target's own code runs here,
    except for a plugin that failed to load (its reason is all it has) and a target no worker can get,
    which is asked here whether it is available (if not, it stays as it is; if so, the run is refused)."""
    if isinstance(target, targets.BrokenPlugin):
        return target
    try:
        return IsolatedTarget(target, timeout=timeout, memory_limit=memory_limit)
    except NotSendable as e:
        if targets.reason_unavailable(target) is not None:
            return target
        raise SelectionError(str(e)) from None


def availability_of(all_targets: Sequence, timeout: float = DEFAULT_TIMEOUT) -> list[tuple[object, str | None]]:
    """(target, why it is unavailable or None) for each target, each asked in a worker of its own (a probe
    that crashes or hangs there is named as the reason instead of ending this process)."""
    def ask(t):
        iso = _isolated(t, timeout, None)
        try:
            reason = targets.reason_unavailable(iso)
            failed = getattr(iso, "probe_failure", lambda: None)()
            return t, reason or (f"probe failed: {failed}" if failed else None)
        finally:
            if iso is not t:
                iso.close()

    # the workers start and import their frameworks side by side (each thread only waits on its pipe)
    with ThreadPoolExecutor(max_workers=max(1, len(all_targets))) as pool:
        return list(pool.map(ask, all_targets))


def select(names: Sequence[str] | None = None, *, modules: Sequence[str] = (), formats: Sequence[str] | None = None,
           functions: Sequence[str] | None = None, betas: Sequence[float] | None = None,
           thresholds: Sequence[float | None] | None = None, isolation: bool = True,
           timeout: float = DEFAULT_TIMEOUT, memory_limit: int | None = None) -> Selection:
    """The targets named (default: every registered one, after loading ``modules``) and the grid.

    ``formats`` default to all each target supports, ``functions`` to both, ``betas`` to each target's own
    default grid (``engine.grid``), ``thresholds`` to default, 0 and inf. With ``isolation`` (the default)
    every available target computes in a worker process of its own (``timeout`` seconds per call,
    ``memory_limit`` bytes of address space); without, in this process.
    """
    betas = [_checked(arguments.check_beta, b) for b in betas] if betas else None
    thresholds = [_checked(arguments.check_threshold, t) for t in thresholds] if thresholds else None
    timeout = _checked(arguments.check_timeout, timeout)
    memory_limit = _checked(arguments.check_memory, memory_limit)
    load_modules(modules)
    try:
        chosen = [targets.get_target(n) for n in names] if names else targets.all_targets()
    except ValueError as e:
        raise SelectionError(str(e)) from None
    if isolation:  # (without, in this process; an exhaustive run's workers still get each by its source)
        chosen = [_isolated(t, timeout, memory_limit) for t in chosen]
    try:
        fmts = [get_format(d).name for d in formats] if formats else None
    except ValueError as e:
        raise SelectionError(f"formats: {e}") from None
    fns = tuple(functions) if functions else FUNCTIONS
    for fn in fns:
        if fn not in FUNCTIONS:
            raise SelectionError(f"unknown function {fn!r}; choose from {', '.join(FUNCTIONS)}")
    grid_betas = tuple(betas) if betas else None  # None: each target's default grid
    grid_thresholds = tuple(thresholds) if thresholds else THRESHOLDS
    return Selection(chosen, combinations(chosen, fmts, fns, grid_betas, grid_thresholds))


def exhaustive_selection(selection: Selection, exhaustive: bool, quiet: bool = False) -> list[Combo]:
    """The combinations an exhaustive run streams over every bit pattern (formats up to 32 bits); [] without
    ``exhaustive``. SelectionError where only float64 (2**64 inputs) is selected."""
    if not exhaustive:
        return []

    todo = selection.todo
    big = [c for c in todo if is_exhaustive(c)]
    if not big:
        raise SelectionError("an exhaustive run judges every input of formats up to 32 bits, and only float64 "
                             "is selected; add float32")
    if any(c.fmt == "float64" for c in todo) and not quiet:
        print("softplus-cert: note: float64 has 2**64 inputs: its combinations stay sampled "
              "(--samples sets how many)", file=sys.stderr)
    return big


def writable(out: Path) -> Path:
    """``out``, created; SelectionError if it cannot be written."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise SelectionError(f"output directory {out} is not writable ({e.strerror}); pass --out DIR") from None
    return out


def run_accuracy(selection: Selection, out: Path | str, *, samples: int | None = None, seed: int = SEED,
                 exhaustive: bool = False, executor: Executor | None = None, chunk: int = CHUNK,
                 timeout: float = DEFAULT_TIMEOUT, memory_limit: int | None = None, layout: bool = True,
                 agreement: bool = True, quiet: bool = False) -> AccuracyRun:
    """Judge every combination of ``selection``, then agreement between targets and the layout checks.

    Sampled combinations (``samples`` per float32/float64 combination, default the judge's, ``seed``) are
    judged in order; with ``exhaustive``, formats up to 32 bits are judged on every bit pattern, their pieces
    on ``executor`` (default: a local pool on every core), checkpointed in ``out/checkpoints`` (a run started
    again resumes there). Ctrl-C stops the phase it comes in and returns what finished (``interrupted``).
    """
    samples, seed = _checked(arguments.check_samples, samples), _checked(arguments.check_seed, seed)
    chunk, timeout = _checked(arguments.check_chunk, chunk), _checked(arguments.check_timeout, timeout)
    out = writable(Path(out))
    executor = executor or LocalPool()
    todo = selection.todo
    big = exhaustive_selection(selection, exhaustive, quiet)
    if not quiet:
        print(f"judging {len(todo)} combinations of {len(selection.targets)} targets -> {out}", file=sys.stderr)
    run = AccuracyRun(selection)
    rest = [c for c in selection.combos if c not in big]
    with progress_bar(len(todo) - len(big), quiet) as advance:
        try:
            run.verdicts = run_grid(rest, samples, seed, progress=advance, executor=executor)
        except Interrupted as stop:
            run.verdicts, run.interrupted = stop.verdicts, True
    if not run.interrupted and big:
        try:
            for c in big:
                rec = run_exhaustive_combo(c, out, executor=executor, chunk=chunk, timeout=timeout,
                                           memory_limit=memory_limit, quiet=quiet)
                run.finished_exhaustive.append(c)
                run.verdicts.append(verdict_of(rec))
        except KeyboardInterrupt:
            run.interrupted = True
    if big:
        order = {(c.target.name, c.fmt, c.fn, c.beta, c.threshold): i for i, c in enumerate(selection.combos)}
        run.verdicts.sort(key=lambda v: order[(v.target, v.format, v.fn, v.beta, v.threshold)])
    if not run.interrupted and agreement:
        start = time.perf_counter()
        try:
            run.agreement, run.device_agreement = report_agreement(selection.combos, run.verdicts, samples, seed)
        except KeyboardInterrupt:
            run.interrupted = True
        if not quiet:
            print(f"agreement between targets: {len(run.agreement)} matrices, {len(run.device_agreement)} device "
                  f"pair comparisons ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    if not run.interrupted and layout:
        layout_combos = [c for c in todo if c.beta == 1.0 and c.threshold is None]
        with progress_bar(len(layout_combos), quiet, unit="layout check") as advance:
            try:
                run.layouts = run_layout_checks(layout_combos, seed, progress=advance)
            except Interrupted as stop:
                run.layouts, run.interrupted = stop.verdicts, True
    run.env = environment(seed, selection.available)
    run.env["complete"] = not run.interrupted
    return run


def run_shard(selection: Selection, out: Path | str, shard, *, executor: Executor | None = None,
              chunk: int = CHUNK, timeout: float = DEFAULT_TIMEOUT, memory_limit: int | None = None,
              quiet: bool = False) -> list:
    """The ``shard`` (:class:`engine.exhaustive.Shard`) of an exhaustive run of the selection: its
    shard-i-of-n.json in ``out`` (not run again if it is there already; ``softplus-cert merge`` joins the
    shards). The verdicts of the combinations that failed in it (those it measured are merged later)."""
    shard, chunk = _checked(arguments.check_shard, shard), _checked(arguments.check_chunk, chunk)
    out, todo = writable(Path(out)), selection.todo
    others = sorted({c.fmt for c in todo if not is_exhaustive(c)})
    if others:
        raise SelectionError(f"a shard splits exhaustive runs, and {', '.join(others)} cannot be one; "
                             "select float32 (--dtypes float32)")
    if not todo:
        raise SelectionError("nothing to run: no selected target supports the selected formats here")
    path, config = shard_path(out, shard), shard_config(todo, shard, chunk)
    if finished_shard(path, shard, config):
        print(f"shard {shard.label} is already done: {path}", file=sys.stderr)
        return []
    if not quiet:
        print(f"shard {shard.label} of {len(todo)} exhaustive combinations -> {path}", file=sys.stderr)
    executor = executor or LocalPool()
    records = [run_exhaustive_combo(c, out, shard=shard, executor=executor, chunk=chunk, timeout=timeout,
                                    memory_limit=memory_limit, quiet=quiet) for c in todo]
    write_shard(path, shard, config, environment(None, selection.available), records)
    forget_checkpoints(out, todo, shard)
    print(f"wrote {path}; when all {shard.count} shards are done: softplus-cert merge "
          f"{out}/shard-*-of-{shard.count}.json --out DIR")
    return [verdict_of(r) for r in records if r["status"] != "ok"]


@dataclass
class Merged:
    """The report of merged shard files: its verdicts, environment and (with certificates) broken budgets."""

    verdicts: list
    env: dict[str, Any]
    violations: dict[str, list[str]] | None = None


def merge_shard_files(paths: Sequence[str | Path], out: Path | str, certificates: dict | None = None
                      ) -> tuple[Merged, list[Path]]:
    """The shard files of one exhaustive run merged into its report in ``out`` (the verdicts an unsharded run
    gives; ``engine.exhaustive_runs.merge_shards`` checks that they belong together and cover everything once),
    held to ``certificates`` when given: (the merge, the paths written). SelectionError for shard files that
    do not merge."""
    try:
        verdicts, env = merge_shards([Path(p) for p in paths])
    except ShardError as e:
        raise SelectionError(str(e)) from None
    out = writable(Path(out))
    env["complete"] = True
    broken = hold(certificates, verdicts).broken if certificates is not None else None
    write_json(out / "accuracy.json", verdicts, env)
    truth = reference_truth()
    write_markdown(out / "accuracy.md", verdicts, env, certificate_violations=broken, **truth)
    page = write_html(out, verdicts, env, certificate_violations=broken, **truth)
    return Merged(verdicts, env, broken), [page, out / "accuracy.md", out / "accuracy.json"]


def write_accuracy(run: AccuracyRun, out: Path | str, violations: dict[str, list[str]] | None = None,
                   page: bool = True) -> list[Path]:
    """accuracy.json and accuracy.md of ``run`` in ``out`` (and index.html with ``page``, unless the run was
    interrupted); ``violations``: target → broken budgets' messages, for a certificate run. The paths
    written. The checkpoints of finished exhaustive combinations are removed once their report is written."""
    out = Path(out)
    common = dict(agreement=run.agreement, device_agreement=run.device_agreement)
    write_json(out / "accuracy.json", run.verdicts, run.env, layout=run.layouts, **common)
    write_markdown(out / "accuracy.md", run.verdicts, run.env, layout=run.layouts, certificate_violations=violations,
                   **common, **reference_truth())
    written = [out / "accuracy.md", out / "accuracy.json"]
    if page and not run.interrupted:
        written.insert(0, write_page(out, run, violations))
    if run.finished_exhaustive:
        forget_checkpoints(out, run.finished_exhaustive)
    return written


def write_page(out: Path | str, run: AccuracyRun, violations: dict[str, list[str]] | None = None,
               training: Sequence = ()) -> Path:
    """index.html of ``run`` (with the training step beside the claim, when timed)."""
    return write_html(Path(out), verdicts=run.verdicts, env=run.env, agreement=run.agreement,
                      device_agreement=run.device_agreement, certificate_violations=violations,
                      training=list(training) or None, **reference_truth())


#: The committed exhaustive float32 reference (every input, β = 1, default thresholds), where the package
#: runs from a checkout that has it: the truth the summary sets beside a sample's maximum.
EXHAUSTIVE_REFERENCE = Path(reports.__file__).resolve().parent / "reference" / "exhaustive-float32" / "accuracy.json"


@functools.lru_cache(maxsize=1)
def _truth_of(path: Path) -> tuple[tuple, str]:
    try:
        verdicts, env = load_json(path)
    except (OSError, ValueError, KeyError, TypeError):  # absent (an installed package) or unreadable: no footnote
        return (), ""
    where = env.get("machine") or env.get("cpu") or "unknown machine"
    return tuple(v for v in verdicts if v.mode == "exhaustive"), f"exhaustive reference, {where}"


def reference_truth(path: Path | None = None) -> dict[str, Any]:
    """``truth`` and ``truth_source`` for the writers (:func:`reports.summary.summarize`): the exhaustive
    verdicts of the reference at ``path`` (default :data:`EXHAUSTIVE_REFERENCE`), or none."""
    truth, source = _truth_of(Path(path or EXHAUSTIVE_REFERENCE))
    return {"truth": truth, "truth_source": source}


def run_speed(selection: Selection, out: Path | str, *, sizes: Sequence[str] | None = None, repeats: int = SPEED_REPEATS,
              min_time: float = SPEED_MIN_TIME_S, training: bool = True, timeout: float = DEFAULT_TIMEOUT,
              isolation: bool = True, quiet: bool = False) -> tuple[list, list]:
    """Time the selected targets (a target that hung or crashed in the accuracy run is not timed in that
    format), then a training step with Softplus and with ReLU per framework (``training``), and write
    speed.json, speed.md and the speed plots into ``out``: (speed records, training records)."""
    repeats, min_time = _checked(arguments.check_repeats, repeats), _checked(arguments.check_min_time, min_time)
    timeout = _checked(arguments.check_timeout, timeout)
    out = writable(Path(out))
    runnable = [t for t in selection.targets if targets.reason_unavailable(t) is None]
    formats = sorted({c.fmt for c in selection.todo}, key=list(FORMATS).index)
    sizes = list(sizes) if sizes else list(SIZES)
    for s in sizes:
        if s not in SIZES:
            raise SelectionError(f"unknown size {s!r}; choose from {', '.join(SIZES)}")
    if not quiet:
        print(f"timing {len(runnable)} targets in {', '.join(formats)} -> {out}", file=sys.stderr)
    records = []
    with progress_bar(len(runnable), quiet, unit="target") as advance:
        for t in runnable:
            records += _time_target(t, formats, sizes, repeats, min_time, timeout, isolation)
            if advance:
                advance(t.name)
    # versions and paths as each target's worker answered them (cached since selection): no framework here
    env = environment(None, runnable)
    steps = _training(timeout, quiet) if training else []
    write_speed_json(out / "speed.json", records, env, training=steps or None)
    write_speed_markdown(out / "speed.md", records, env, training=steps or None)
    write_speed_plots(out, records)
    return records, steps


def _training(timeout: float, quiet: bool) -> list:
    """The training-step benchmark (each framework in a worker of its own); failures are said, not fatal."""
    start = time.perf_counter()
    say = (lambda line: None) if quiet else (lambda line: print(line, file=sys.stderr))
    say("timing a training step with Softplus and with ReLU (torch, TensorFlow, JAX)")
    records = run_training(progress=None if quiet else (lambda line: say(f"  {line}")), timeout=timeout)
    for r in records:
        if r.status == "error":
            print(f"training step not measured: {r.framework}, {r.model}: {r.reason}", file=sys.stderr)
    say(f"training step: {sum(r.status == 'ok' for r in records)} of {len(records)} measured "
        f"({time.perf_counter() - start:.0f} s)")
    return records


def _time_target(t, formats, sizes, repeats: int, min_time: float, timeout: float, isolation: bool) -> list:
    """Speed records of one target, timed in a worker process of its own (a crash or hang ends there); a
    format where it hung or crashed earlier in the run is not timed (records "skipped: …")."""
    device = getattr(t, "device", "cpu")
    records, timed = [], []
    for fmt in formats:
        gone = {d: previous_failure(t, fmt, kernels[0]) for d, kernels in DIRECTIONS.items()}  # softplus(_grad)
        if not any(gone.values()):
            timed.append(fmt)
            continue
        either = next(r for r in gone.values() if r)  # one job times both directions: skip the format
        records += [SpeedRecord(target=t.name, device=device, format=fmt, size="-", n=0, direction=d,
                                status="error", reason=gone[d] or either) for d in DIRECTIONS]
    if not timed:
        return records
    if not isolation:
        return records + time_targets([t], timed, sizes, repeats=repeats, min_time=min_time)
    try:
        return records + t.run_job(speed_job, timed, sizes, repeats, min_time, timeout=timeout)
    except Exception as e:  # noqa: BLE001 — a TargetFailure: the job crashed, hung or raised
        return records + [SpeedRecord(target=t.name, device=device, format="-", size="-", n=0, direction="-",
                                      status="error", reason=str(e))]
