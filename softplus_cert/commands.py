"""What each ``softplus-cert`` command does: call the library with the parsed arguments, print what it returns.

Nothing here measures or writes a report itself: :mod:`softplus_cert.run`, :mod:`softplus_cert.certify`,
:mod:`softplus_cert.draft` and :mod:`softplus_cert.values` do. A request the library refuses
(:class:`softplus_cert.run.SelectionError`, :class:`engine.certificate.CertificateError`, a ValueError of
the oracle) reaches :func:`softplus_cert.cli.main`, which prints it in one line with exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import targets
from engine.certificate import certificate_for
from engine.compare import CompareError, compare_reports
from engine.execute import executor_for
from oracle import cache
from oracle.files import atomic_write_text
from reports.accuracy import summary_table
from reports.compare import headline, terminal_lines, write_comparison
from reports.unmeasured import unmeasured_lines
from softplus_cert.certify import hold, load_certificates
from softplus_cert.draft import draft_from_reports
from softplus_cert.run import (
    availability_of,
    load_modules,
    merge_shard_files,
    reference_truth,
    run_accuracy,
    run_shard,
    run_speed,
    select,
    writable,
    write_accuracy,
    write_page,
)
from softplus_cert.values import build_tables, correct_values

__all__ = ["UsageError", "tables", "evaluate", "report", "certify", "merge", "draft", "bench", "compare",
           "list_targets"]


class UsageError(ValueError):
    """A problem with what the user asked for: reported in one line, exit status 2."""


def tables(args: argparse.Namespace) -> int:
    """Build (or verify) the exhaustive oracle tables of the 8- and 16-bit formats at β = 1."""
    print(f"oracle tables in {cache.cache_dir()}")
    for t in build_tables():
        print(f"  {t.fmt:14s} {t.fn:14s} {t.size:6d} values  {t.state:6s} {t.seconds:6.3f} s")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """Print correctly rounded values for inputs given on the command line."""
    try:
        fmt, values = correct_values(args.x, args.dtype, args.fn, args.beta)
    except ValueError as e:  # an unknown format or an input that is not a number
        raise UsageError(str(e)) from None
    for v in values:
        print(f"{args.fn}({v.x!r}) = {v.y!r}  [{fmt} {v.bits}]")
    return 0


def _split(values: list[str] | None) -> list[str] | None:
    """Comma-separated values of a repeatable option, or None where it was not given."""
    return [v for item in values for v in item.split(",") if v] if values else None


def _selection(args: argparse.Namespace):
    """The targets and grid the user asked for (:func:`softplus_cert.run.select`)."""
    return select(_split(args.targets), modules=args.target_module or [], formats=_split(args.dtypes),
                  functions=_split(getattr(args, "functions", None)), betas=getattr(args, "betas", None),
                  thresholds=getattr(args, "thresholds", None), isolation=not args.no_isolation,
                  timeout=args.timeout, memory_limit=args.memory_limit)


def _executor(args: argparse.Namespace):
    """Where exhaustive pieces and large samples run: ``--dask`` (a cluster) or a local pool of ``--jobs``."""
    try:
        return executor_for(args.jobs, args.dask)
    except ValueError as e:  # no distributed package, or an address that does not answer
        raise UsageError(str(e)) from None


class _Run:
    """What a command selected and measured, for the phases after it and the exit status."""

    def __init__(self, selection, accuracy=None) -> None:
        self.selection, self.accuracy = selection, accuracy
        self.verdicts = list(accuracy.verdicts) if accuracy else []
        self.layouts = list(accuracy.layouts) if accuracy else []
        self.speed: list = []
        self.training: list = []
        self.violations: dict | None = None


def _judge_and_write(args: argparse.Namespace, certs: dict | None = None, page_now: bool = True) -> _Run:
    """Judge the selection, write the accuracy reports into --out and print the summary; with ``certs``
    (``certify``) the reports and the summary say whether each certificate holds. ``page_now=False`` leaves
    index.html for after the speed phase."""
    sel = _selection(args)
    out = writable(args.out)
    if getattr(args, "shard", None) is not None:
        if not args.exhaustive:
            raise UsageError("--shard splits an exhaustive run: add --exhaustive")
        run = _Run(sel)
        with _executor(args) as executor:
            run.verdicts = run_shard(sel, out, args.shard, executor=executor, chunk=args.chunk,
                                     timeout=args.timeout, memory_limit=args.memory_limit, quiet=args.quiet)
        return run
    with _executor(args) as executor:
        acc = run_accuracy(sel, out, samples=args.samples, seed=args.seed, exhaustive=args.exhaustive,
                           executor=executor, chunk=args.chunk, timeout=args.timeout,
                           memory_limit=args.memory_limit, layout=not args.skip_layout, quiet=args.quiet)
    run = _Run(sel, acc)
    run.violations = hold(certs, acc.verdicts, acc.layouts).broken if certs is not None else None
    written = write_accuracy(acc, out, run.violations, page=page_now)
    if acc.interrupted:
        done = sum(v.status != "unsupported" for v in acc.verdicts)
        print(f"interrupted: wrote the {done} of {len(sel.todo)} combinations that finished to {out}",
              file=sys.stderr)
        raise KeyboardInterrupt
    summary_table(acc.verdicts, certificate_violations=run.violations, **reference_truth())
    print("wrote " + ", ".join(map(str, written[:-1])) + f" and {written[-1]}")
    return run


def _speed(args: argparse.Namespace, run: _Run) -> None:
    """The speed report of the run's selection into --out."""
    run.speed, run.training = run_speed(run.selection, args.out, sizes=_split(args.sizes), repeats=args.repeats,
                                        min_time=args.min_time, training=not args.skip_training,
                                        timeout=args.timeout, isolation=not args.no_isolation, quiet=args.quiet)
    print(f"wrote {Path(args.out) / 'speed.md'} and {Path(args.out) / 'speed.json'}")


def _exit_status(run: _Run, failed: int, certs: dict | None = None) -> int:
    """0 if every selected combination was measured, else ``failed`` after listing the unmeasured ones on
    the last lines (stderr). With ``certs``, a failure its certificate expects on that path (a known defect,
    ``expected_failure``) is no failure of the run."""
    def unexpected(records):
        return [r for r in records if certs is None or not certificate_for(certs, r.target).expects_failure(r)]

    verdicts, layouts = unexpected(run.verdicts), unexpected(run.layouts)
    lines = unmeasured_lines(verdicts, layouts, run.speed)
    if not lines:
        return 0
    count = sum(r.status == "error" for r in (*verdicts, *layouts, *run.speed))
    sys.stdout.flush()
    print(f"not measured: {count} combination(s) (exit status {failed}); the reports hold the rest:",
          file=sys.stderr)
    for line in lines:
        print(f"  {line}", file=sys.stderr)
    return failed


def _hold_to_certificates(certs: dict, verdicts, layouts, env: dict | None = None) -> int:
    """Print the versions that differ from those the certificates were drafted on, what the budgets rest on,
    the known defects, the loose budgets and the broken ones; 0 if all hold, else 1."""
    held = hold(certs, verdicts, layouts, env)
    for line in held.versions:
        print(f"versions: {line} (the budgets hold anyway)")
    for line in held.basis:
        print(f"budgets of {line}")
    for line in held.known:
        print(f"known defect, expected by its certificate: {line}")
    for line in held.loose:
        print(f"loose budget (tighten it): {line}")
    if held.violations:
        print(f"FAILED: {len(held.violations)} budget(s) broken", file=sys.stderr)
        for m in held.violations:
            print(f"  {m}", file=sys.stderr)
        return 1
    print("certified: every budget holds")
    return 0


def report(args: argparse.Namespace) -> int:
    """Judge every selected target against the oracle and write the accuracy report (HTML with plots,
    Markdown, JSON), then time them for the speed report (unless --skip-speed). With --shard, run one
    slice of an exhaustive run instead and write its shard file (see `softplus-cert merge`)."""
    timed = args.shard is None and not args.skip_speed
    run = _judge_and_write(args, page_now=not timed)
    if timed:
        try:
            _speed(args, run)
        finally:  # Ctrl-C or a failure while timing still leaves the page of what was judged
            if run.accuracy is not None and not run.accuracy.interrupted:
                print(f"wrote {write_page(args.out, run.accuracy, run.violations, run.training)}")
    return _exit_status(run, 3)


def certify(args: argparse.Namespace) -> int:
    """Judge targets and hold them to their certificates: exit 0 if all hold, 1 if a budget is broken."""
    certs = load_certificates(args.certificate or [])
    run = _judge_and_write(args, certs)
    env = run.accuracy.env if run.accuracy is not None else None
    return max(_hold_to_certificates(certs, run.verdicts, run.layouts, env), _exit_status(run, 1, certs))


def merge(args: argparse.Namespace) -> int:
    """Merge the shard files of an exhaustive run into one report (the same verdicts as an unsharded
    run); with --certify, also hold them to the certificates (exit status 1 if a budget is broken)."""
    certs = load_certificates(args.certificate or []) if args.certify else None
    merged, written = merge_shard_files(args.shards, args.out, certs)
    print(f"merged {len(merged.env['shards'])} shards: wrote " + ", ".join(map(str, written[:-1])) +
          f" and {written[-1]}", file=sys.stderr)
    summary_table(merged.verdicts, certificate_violations=merged.violations, **reference_truth())
    run = _Run(None)
    run.verdicts = merged.verdicts
    if certs is None:
        return _exit_status(run, 3)
    return max(_hold_to_certificates(certs, merged.verdicts, [], merged.env), _exit_status(run, 1, certs))


def draft(args: argparse.Namespace) -> int:
    """Print a certificate for a target that its measured verdicts satisfy: one accuracy.json, or several
    (one per instruction-set path, e.g. a native AVX-512 run and one capped at AVX2), for a certificate
    that holds on every one of them."""
    text = draft_from_reports(args.target, args.report, args.target_module or [])
    if args.out:
        atomic_write_text(args.out, text)
    else:
        print(text, end="")
    return 0


def bench(args: argparse.Namespace) -> int:
    """The speed report alone: elements/s and GB/s per target, format, size and direction, beside ReLU and
    a plain copy on the same framework and device."""
    args.betas, args.thresholds = [1.0], [None]
    run = _Run(_selection(args))
    _speed(args, run)
    return _exit_status(run, 3)


def compare(args: argparse.Namespace) -> int:
    """Compare two runs: OLD and NEW are each an accuracy.json, accuracy.json.gz or report folder. Prints one
    line per combination whose figures changed (matched by target, format, function, beta, threshold and mode,
    not by machine or path) and writes compare.md and compare.html into --out (not with --print-only)."""
    try:
        comparison = compare_reports(args.old, args.new)
    except CompareError as e:  # unreadable or mismatched input: one line, exit status 2
        raise UsageError(str(e)) from None
    print(f"OLD {args.old} ({comparison.old.machine or 'machine not recorded'})")
    print(f"NEW {args.new} ({comparison.new.machine or 'machine not recorded'})")
    for line in terminal_lines(comparison):
        print(line)
    print(headline(comparison))
    if not args.print_only:
        md, page = write_comparison(writable(args.out), comparison)
        print(f"wrote {md} and {page}")
    return 1 if comparison.fails(args.fail_on) else 0


def list_targets(args: argparse.Namespace) -> int:
    """List targets: available ones with formats, device and parameters; unavailable ones with the reason."""
    load_modules(args.target_module or [])
    for t, reason in availability_of(targets.all_targets()):
        if reason:
            print(f"{t.name:18s} unavailable: {reason}")
            continue
        p = t.params
        params = ("any beta" if p.beta else "beta=1") + (
            f", threshold (default {p.default_threshold:g})" if p.threshold else "")
        print(f"{t.name:18s} {t.device:5s} {', '.join(t.formats):55s} {params}")
    return 0
