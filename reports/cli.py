"""The ``softplus-cert`` command line.

Errors are one line on stderr with exit status 2, never a traceback: a usage error names the fix. Exit
status (:data:`EXIT_STATUS`): 0 done, 1 a certificate's budget broken or a combination not measured under
``certify``, 2 usage error, 3 reports written but a combination not measured (``report``, ``bench``, ``merge``; the list
on the last lines), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

__all__ = ["main"]

FUNCTIONS = ("softplus", "softplus_grad")

#: What each exit status means (shown by --help).
EXIT_STATUS = ("exit status: 0 every selected combination measured (and, for certify, every budget holds); "
               "1 certify: a budget broken or a combination not measured; 2 usage error (one line); "
               "3 report/bench/merge: reports written, some combination not measured (listed on the last lines); "
               "130 interrupted (what finished is written)")


class UsageError(Exception):
    """A problem with what the user asked for: reported in one line, exit status 2."""


def _parse_beta(text: str) -> float:
    from oracle.evaluate import check_beta

    try:
        return check_beta(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _cmd_tables(args: argparse.Namespace) -> int:
    """Build (or verify) the exhaustive oracle tables of the 8- and 16-bit formats at β = 1."""
    from oracle import cache
    from oracle.evaluate import exhaustive_table
    from oracle.formats import FORMATS

    print(f"oracle tables in {cache.cache_dir()}")
    for fmt in FORMATS.values():
        if fmt.bits > 16:
            continue
        for fn in FUNCTIONS:
            start = time.perf_counter()
            state = "cached" if cache.table_path(fmt, fn).exists() else "built"
            table = exhaustive_table(fmt, fn)
            print(f"  {fmt.name:14s} {fn:14s} {table.size:6d} values  {state:6s} "
                  f"{time.perf_counter() - start:6.3f} s")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    """Print correctly rounded values for inputs given on the command line."""
    import numpy as np

    import oracle

    try:
        fmt = oracle.get_format(args.dtype)
    except ValueError as e:
        raise UsageError(str(e)) from None
    try:
        x = np.array([float(v) for v in args.x], dtype=np.float64)
    except ValueError:
        raise UsageError(f"inputs must be numbers, got {' '.join(args.x)}") from None
    with np.errstate(over="ignore"):
        xs = x.astype(fmt.dtype)  # the inputs, rounded to the format first (as a user's tensor would be)
    y = oracle.softplus(xs, args.beta) if args.fn == "softplus" else oracle.softplus_grad(xs, args.beta)
    for xi, yi in zip(xs, y):
        bits = int(np.asarray(yi).view(fmt.uint))
        print(f"{args.fn}({float(xi)!r}) = {float(yi)!r}  [{fmt.name} 0x{bits:0{fmt.bits // 4}x}]")
    return 0


def _load_plugins(args: argparse.Namespace) -> None:
    from softplus_cert.run import SelectionError, load_modules

    try:
        load_modules(args.target_module or [])
    except SelectionError as e:
        raise UsageError(str(e)) from None


def _selection(args: argparse.Namespace):
    """The targets and grid the user asked for (softplus_cert.select), usage errors in one line."""
    from softplus_cert.run import SelectionError, select

    try:
        return select(_split(args.targets) if args.targets else None, modules=args.target_module or [],
                      formats=_split(args.dtypes) if args.dtypes else None,
                      functions=_split(args.functions) if args.functions else None, betas=args.betas,
                      thresholds=args.thresholds, isolation=not args.no_isolation, timeout=args.timeout,
                      memory_limit=args.memory_limit)
    except SelectionError as e:
        raise UsageError(str(e)) from None


def _parse_memory(text: str) -> int:
    units = {"": 1, "K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30, "T": 2 ** 40}
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    num, unit = (t[:-1], t[-1]) if t and t[-1] in units else (t, "")
    try:
        value = int(float(num) * units[unit])
    except (ValueError, OverflowError):  # "x", "inf", "nan"
        raise argparse.ArgumentTypeError(f"memory limit must look like 8G or 512M, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"memory limit must be positive, got {text!r}")
    return value


def _parse_timeout(text: str) -> float:
    try:
        t = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"timeout must be a number of seconds, got {text!r}") from None
    if not (t > 0 and t != float("inf")):
        raise argparse.ArgumentTypeError(f"timeout must be a finite number of seconds > 0, got {text!r}")
    return t


def _parse_shard(text: str):
    from oracle.exhaustive import Shard

    try:
        return Shard.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _parse_jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"jobs must be a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"jobs must be at least 1, got {text!r}")
    return n


def _split(values: list[str]) -> list[str]:
    return [v for item in values for v in item.split(",") if v]


def _parse_threshold(text: str):
    if text == "default":
        return None
    try:
        t = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threshold must be a number, inf or 'default', got {text!r}") from None
    if t != t:
        raise argparse.ArgumentTypeError("threshold must not be NaN")
    return t


class _Run:
    """What a command selected and measured, for the phases after it and the exit status."""

    def __init__(self, selection, accuracy=None) -> None:
        self.selection, self.accuracy = selection, accuracy
        self.verdicts = list(accuracy.verdicts) if accuracy else []
        self.layouts = list(accuracy.layouts) if accuracy else []
        self.speed: list = []
        self.training: list = []  # reports.training records (speed phase)
        self.violations: dict | None = None


def _judge_and_write(args: argparse.Namespace, certs: dict | None = None, page_now: bool = True) -> _Run:
    """Judge the selection (softplus_cert.run_accuracy), write the accuracy reports into --out and print the
    summary; with ``certs`` (``certify``), the reports and the summary say whether each target's certificate
    holds. ``page_now=False`` leaves index.html for :func:`_write_page` (after the speed phase)."""
    from reports.accuracy import summary_table
    from softplus_cert.certify import hold
    from softplus_cert.run import SelectionError, run_accuracy, write_accuracy, writable

    sel = _selection(args)
    try:
        out = writable(args.out)
    except SelectionError as e:
        raise UsageError(str(e)) from None
    if getattr(args, "shard", None) is not None:
        run = _Run(sel)
        run.verdicts = _run_shard(args, sel, out)
        return run
    with _executor(args) as executor:
        try:
            acc = run_accuracy(sel, out, samples=args.samples, seed=args.seed, exhaustive=args.exhaustive,
                               executor=executor, chunk=args.chunk, timeout=args.timeout,
                               memory_limit=args.memory_limit, layout=not args.skip_layout, quiet=args.quiet)
        except SelectionError as e:
            raise UsageError(str(e)) from None
    run = _Run(sel, acc)
    run.violations = hold(certs, acc.verdicts, acc.layouts).broken if certs is not None else None
    written = write_accuracy(acc, out, run.violations, page=page_now)
    if acc.interrupted:
        done = sum(v.status != "unsupported" for v in acc.verdicts)
        print(f"interrupted: wrote the {done} of {len(sel.todo)} combinations that finished to {out}",
              file=sys.stderr)
        raise KeyboardInterrupt
    summary_table(acc.verdicts, certificate_violations=run.violations)
    print("wrote " + ", ".join(map(str, written[:-1])) + f" and {written[-1]}")
    return run


def _write_page(args: argparse.Namespace, run: _Run) -> None:
    """index.html of a run whose page waited for the speed phase, with the training step beside the claim."""
    from softplus_cert.run import write_page

    if run.accuracy is not None and not run.accuracy.interrupted:
        print(f"wrote {write_page(args.out, run.accuracy, run.violations, run.training)}")


def _executor(args: argparse.Namespace):
    """Where exhaustive pieces and large samples run: ``--dask`` (a cluster) or a local pool of ``--jobs``."""
    from oracle.execute import executor_for

    try:
        return executor_for(args.jobs, getattr(args, "dask", None))
    except ValueError as e:
        raise UsageError(str(e)) from None


def _run_shard(args: argparse.Namespace, sel, out) -> list:
    """One shard of an exhaustive run (softplus_cert.run_shard): shard-i-of-n.json in --out; the verdicts of
    its failed combinations (those it measured are merged later)."""
    from softplus_cert.run import SelectionError, run_shard

    if not getattr(args, "exhaustive", False):
        raise UsageError("--shard splits an exhaustive run: add --exhaustive")
    try:
        with _executor(args) as executor:
            return run_shard(sel, out, args.shard, executor=executor, chunk=args.chunk, timeout=args.timeout,
                             memory_limit=args.memory_limit, quiet=args.quiet)
    except SelectionError as e:
        raise UsageError(str(e)) from None


def _cmd_merge(args: argparse.Namespace) -> int:
    """Merge the shard files of an exhaustive run into one report (the same verdicts as an unsharded
    run); with --certify, also hold them to the certificates (exit status 1 if a budget is broken)."""
    from reports.accuracy import summary_table
    from softplus_cert.run import SelectionError, merge_shard_files

    certs = _certificates(args) if args.certify else None
    try:
        merged, written = merge_shard_files(args.shards, args.out, certs)
    except SelectionError as e:
        raise UsageError(str(e)) from None
    print(f"merged {len(merged.env['shards'])} shards: wrote " + ", ".join(map(str, written[:-1])) +
          f" and {written[-1]}", file=sys.stderr)
    summary_table(merged.verdicts, certificate_violations=merged.violations)
    run = _Run(None)
    run.verdicts = merged.verdicts
    if certs is None:
        return _exit_status(run, 3)
    return max(_hold_to_certificates(certs, merged.verdicts, []), _exit_status(run, 1, certs))


def _cmd_report(args: argparse.Namespace) -> int:
    """Judge every selected target against the oracle and write the accuracy report (HTML with plots,
    Markdown, JSON), then time them for the speed report (unless --skip-speed). With --shard, run one
    slice of an exhaustive run instead and write its shard file (see `softplus-cert merge`)."""
    timed = args.shard is None and not args.skip_speed
    run = _judge_and_write(args, page_now=not timed)
    if timed:
        try:
            run.speed, run.training = _speed(args, run.selection)
        finally:  # Ctrl-C or a failure while timing still leaves the page of what was judged
            _write_page(args, run)
    return _exit_status(run, 3)


def _exit_status(run: _Run, failed: int, certs: dict | None = None) -> int:
    """0 if every selected combination was measured, else ``failed`` after listing the unmeasured ones on
    the last lines (stderr). With ``certs`` (certify), a failure its certificate expects on that path (a
    known defect, ``expected_failure``) is no failure of the run: the certificate holds it."""
    from oracle.certificate import certificate_for
    from reports.unmeasured import unmeasured_lines

    def unexpected(records):
        return [r for r in records if certs is None or not certificate_for(certs, r.target).expects_failure(r)]

    verdicts, layouts = unexpected(run.verdicts), unexpected(run.layouts)
    lines = unmeasured_lines(verdicts, layouts, run.speed)
    if not lines:
        return 0
    count = sum(1 for v in verdicts if v.status == "error") + sum(
        1 for r in layouts if r.status == "error") + sum(1 for r in run.speed if r.status == "error")
    sys.stdout.flush()
    print(f"not measured: {count} combination(s) (exit status {failed}); the reports hold the rest:",
          file=sys.stderr)
    for line in lines:
        print(f"  {line}", file=sys.stderr)
    return failed


def _speed(args: argparse.Namespace, selection) -> tuple[list, list]:
    """The speed report of the selection (softplus_cert.run_speed) into --out: (speed records, training)."""
    from pathlib import Path

    from softplus_cert.run import SelectionError, run_speed

    try:
        records, training = run_speed(selection, args.out, sizes=_split(args.sizes) if args.sizes else None,
                                      repeats=args.repeats, min_time=args.min_time,
                                      training=not args.skip_training, timeout=args.timeout,
                                      isolation=not args.no_isolation, quiet=args.quiet)
    except SelectionError as e:
        raise UsageError(str(e)) from None
    out = Path(args.out)
    print(f"wrote {out / 'speed.md'} and {out / 'speed.json'}")
    return records, training


def _cmd_bench(args: argparse.Namespace) -> int:
    """The speed report alone: elements/s and GB/s per target, format, size and direction, beside ReLU and
    a plain copy on the same framework and device."""
    args.betas, args.thresholds, args.functions = [1.0], [None], None
    run = _Run(_selection(args))
    run.speed, run.training = _speed(args, run.selection)
    return _exit_status(run, 3)


def _certificates(args: argparse.Namespace) -> dict:
    """The built-in certificates, overridden by those given with --certificate, by target name."""
    from softplus_cert.certify import CertificateError, load_certificates

    try:
        return load_certificates(args.certificate or [])
    except CertificateError as e:
        raise UsageError(str(e)) from None


def _hold_to_certificates(certs: dict, verdicts, layouts) -> int:
    """Print the broken budgets and the loose ones (the summary has been printed); 0 if all hold, else 1."""
    from softplus_cert.certify import hold

    held = hold(certs, verdicts, layouts)
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


def _cmd_certify(args: argparse.Namespace) -> int:
    """Judge targets and hold them to their certificates: exit 0 if all hold, 1 if a budget is broken."""
    certs = _certificates(args)
    run = _judge_and_write(args, certs)
    code = _hold_to_certificates(certs, run.verdicts, run.layouts)
    return max(code, _exit_status(run, 1, certs))


def _cmd_list(args: argparse.Namespace) -> int:
    """List targets: available ones with formats, device and parameters; unavailable ones with the reason."""
    import targets

    from softplus_cert.run import availability_of

    _load_plugins(args)
    for t, reason in availability_of(targets.all_targets()):
        if reason:
            print(f"{t.name:18s} unavailable: {reason}")
            continue
        p = t.params
        params = ("any beta" if p.beta else "beta=1") + (
            f", threshold (default {p.default_threshold:g})" if p.threshold else "")
        print(f"{t.name:18s} {t.device:5s} {', '.join(t.formats):55s} {params}")
    return 0


def _cmd_draft(args: argparse.Namespace) -> int:
    """Print a certificate for a target that its measured verdicts satisfy: one accuracy.json, or several
    (one per instruction-set path, e.g. a native AVX-512 run and one capped at AVX2), for a certificate
    that holds on every one of them."""
    from pathlib import Path

    from reports.accuracy import load_json, load_layout
    from reports.draft import draft_certificate

    reports, names, machines = [], set(), []
    for report in args.report:
        try:
            verdicts, env = load_json(Path(report))
            layouts = load_layout(Path(report))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UsageError(f"cannot read report {report}: {e}") from None
        names |= {v.target for v in verdicts if v.status == "ok"}
        reports.append((verdicts, layouts))
        machines.append(env.get("machine") or f"{env.get('cpu', 'unknown CPU')}, {str(env.get('date', ''))[:10]}")
    if args.target not in names:
        raise UsageError(f"no measurements of {args.target!r} in {', '.join(args.report)}; measured: "
                         f"{', '.join(sorted(names)) or 'nothing'}")
    model = _error_model(args.target, getattr(args, "target_module", None) or [])
    text = draft_certificate(args.target, *reports[0], *reports[1:], model=model, machines=machines)
    if args.out:
        from reports.accuracy import atomic_write_text

        atomic_write_text(Path(args.out), text)
    else:
        print(text, end="")
    return 0


def _error_model(name: str, modules: list[str]):
    """The target's error model (None where it states none, or where the target is not known here: a
    plugin not loaded with --target-module)."""
    import targets

    for spec in modules:
        try:
            targets.load_target_module(spec)
        except Exception as e:  # noqa: BLE001 — the author's module failing to load is a usage error
            raise UsageError(f"cannot load target module {spec}: {type(e).__name__}: {e}") from None
    try:
        return targets.get_target(name).error_model()
    except (KeyError, LookupError, ValueError):
        return None


def _add_speed_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sizes", action="append", metavar="SIZES",
                   help="comma-separated: small (2**10), medium (2**16), large (2**22) (default all)")
    p.add_argument("--repeats", type=int, default=5, help="timed rounds per kernel; the median is reported")
    p.add_argument("--min-time", type=float, default=0.02, metavar="SECONDS",
                   help="each timed round loops for at least this long (default 0.02)")
    p.add_argument("--skip-training", action="store_true",
                   help="leave out the training-step benchmark (Softplus beside ReLU in a small MLP per "
                        "framework: about a minute)")


def _add_isolation_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=_parse_timeout, default=300.0, metavar="SECONDS",
                   help="per call to a target (per target when timing; per piece of 16 chunks in an exhaustive "
                        "run), before it counts as hung (default 300)")
    p.add_argument("--memory-limit", type=_parse_memory, default=None, metavar="SIZE",
                   help="address-space cap of each target's worker process, e.g. 8G (default none)")
    p.add_argument("--no-isolation", action="store_true",
                   help="run targets in this process (faster start; a crash or hang then ends the run); without "
                        "it each target runs in a worker that loads it from its module, entry point or built-in")
    from targets.cpu_path import CAP_LEVELS

    p.add_argument("--max-isa", choices=CAP_LEVELS, default=None,
                   help="hold every framework to this CPU family or below (ATEN_CPU_CAPABILITY, "
                        "NPY_DISABLE_CPU_FEATURES, ONEDNN_MAX_CPU_ISA, XLA_FLAGS: targets.cpu_path.CAPS), with "
                        "compile caches of its own; the command runs again in a process with that environment")


def _add_selection(p: argparse.ArgumentParser) -> None:
    from oracle.inputs import DEFAULT_SAMPLES  # the one place the sample sizes are set

    p.add_argument("--targets", action="append", metavar="NAMES",
                   help="comma-separated target names (default: every available target)")
    p.add_argument("--target-module", action="append", metavar="SPEC",
                   help="load extra targets from a .py file or module (repeatable)")
    p.add_argument("--dtypes", action="append", metavar="FORMATS",
                   help="comma-separated formats (default: all the target supports)")
    p.add_argument("--functions", action="append", metavar="FNS", help="softplus, softplus_grad (default both)")
    p.add_argument("--betas", type=_parse_beta, nargs="+", metavar="BETA",
                   help="β values for targets that take one (default: 1 1e-3 0.5 2 1e30)")
    p.add_argument("--thresholds", type=_parse_threshold, nargs="+", metavar="T",
                   help="thresholds for targets that take one: numbers, inf, default (default: default 0 inf)")
    p.add_argument("--samples", type=int, default=None, metavar="N",
                   help="float32/float64 sample size (default: {} / {}, plus boundary sets)".format(
                       *(f"{DEFAULT_SAMPLES[name]:,}" for name in ("float32", "float64"))))
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled inputs (default 0)")
    p.add_argument("--out", default="reports/latest", metavar="DIR",
                   help="output directory (default reports/latest)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--skip-layout", action="store_true",
                   help="no layout-consistency checks (positions, lengths, strides, threads)")
    p.add_argument("--exhaustive", action="store_true",
                   help="judge every bit pattern of each format up to 32 bits (float32: all 2**32 inputs, "
                        "streamed in chunks on all cores); float64 stays sampled")
    p.add_argument("--jobs", type=_parse_jobs, default=None, metavar="N",
                   help="worker processes for an exhaustive run or a sample of more than two chunks "
                        "(default: every core available)")
    p.add_argument("--dask", default=None, metavar="ADDRESS",
                   help="run the exhaustive pieces and large samples as tasks of a Dask cluster: a running "
                        "scheduler's address (tcp://host:8786; its workers need this package, the targets' "
                        "frameworks and --nthreads 1) or 'local' for a distributed.LocalCluster of --jobs "
                        "workers")
    p.add_argument("--chunk", type=_parse_jobs, default=1 << 20, metavar="N",
                   help="inputs per chunk of an exhaustive run: each worker holds one chunk and ~40 float64 "
                        "arrays of its size (default 1048576: ~300 MB per worker)")
    _add_isolation_options(p)


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors in one line (what is wrong, and where help is) and exit status 2."""

    def error(self, message: str):  # noqa: D401 — argparse's hook
        # control characters typed (or fuzzed) into an argument must not split the one line
        message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="softplus-cert",
        description="Certify implementations of softplus and its derivative against a correctly "
                    "rounded oracle.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    t = sub.add_parser("tables", help="build or verify the cached exhaustive oracle tables",
                       description=_cmd_tables.__doc__)
    t.set_defaults(run=_cmd_tables)

    e = sub.add_parser("eval", help="correctly rounded values for given inputs",
                       description=_cmd_eval.__doc__)
    e.add_argument("x", nargs="+", help="input values (rounded to --dtype first)")
    e.add_argument("--dtype", default="float32", help="format: float16, bfloat16, float32, float64, "
                                                      "float8_e4m3fn, float8_e5m2 (default float32)")
    e.add_argument("--beta", type=_parse_beta, default=1.0, help="β > 0 (default 1)")
    e.add_argument("--fn", choices=FUNCTIONS, default="softplus", help="function (default softplus)")
    e.set_defaults(run=_cmd_eval)

    r = sub.add_parser("report", help="accuracy report of every selected target (the main job)",
                       description=_cmd_report.__doc__, epilog=EXIT_STATUS)
    _add_selection(r)
    r.add_argument("--skip-speed", action="store_true", help="accuracy report only")
    r.add_argument("--shard", type=_parse_shard, default=None, metavar="I/N",
                   help="with --exhaustive: run the I-th of N slices of the inputs (I from 1) and write "
                        "shard-I-of-N.json to --out, for `softplus-cert merge`")
    _add_speed_options(r)
    r.set_defaults(run=_cmd_report)

    c = sub.add_parser("certify", help="judge targets against their certificates (CI gate)",
                       description=_cmd_certify.__doc__, epilog=EXIT_STATUS)
    _add_selection(c)
    c.add_argument("--certificate", action="append", metavar="PATH",
                   help="certificate TOML (repeatable; default: the built-in ones)")
    c.set_defaults(run=_cmd_certify)

    m = sub.add_parser("merge", help="merge the shard files of an exhaustive run into one report",
                       description=_cmd_merge.__doc__, epilog=EXIT_STATUS)
    m.add_argument("shards", nargs="+", metavar="SHARD.json", help="every shard-I-of-N.json of the run")
    m.add_argument("--out", default="reports/latest", metavar="DIR", help="output directory (default reports/latest)")
    m.add_argument("--certify", action="store_true", help="also hold the verdicts to the certificates")
    m.add_argument("--certificate", action="append", metavar="PATH",
                   help="certificate TOML (repeatable; default: the built-in ones)")
    m.set_defaults(run=_cmd_merge)

    d = sub.add_parser("draft-certificate", help="draft a certificate from an accuracy.json",
                       description=_cmd_draft.__doc__)
    d.add_argument("--report", required=True, action="append", metavar="PATH",
                   help="accuracy.json of a report run (repeatable: one per instruction-set path)")
    d.add_argument("--target", required=True, metavar="NAME", help="the target to draft for")
    d.add_argument("--target-module", action="append", metavar="SPEC",
                   help="load the target from this .py file or module (for its error model; repeatable)")
    d.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    d.set_defaults(run=_cmd_draft)

    b = sub.add_parser("bench", help="the speed report alone", description=_cmd_bench.__doc__, epilog=EXIT_STATUS)
    for flag, kw in (("--targets", dict(action="append", metavar="NAMES", help="comma-separated target names")),
                     ("--target-module", dict(action="append", metavar="SPEC", help="extra targets (repeatable)")),
                     ("--dtypes", dict(action="append", metavar="FORMATS", help="comma-separated formats")),
                     ("--out", dict(default="reports/latest", metavar="DIR", help="output directory")),
                     ("--quiet", dict(action="store_true", help="no progress lines"))):
        b.add_argument(flag, **kw)
    _add_speed_options(b)
    _add_isolation_options(b)
    b.set_defaults(run=_cmd_bench)

    ls = sub.add_parser("list", help="targets and what they support", description=_cmd_list.__doc__)
    ls.add_argument("--target-module", action="append", metavar="SPEC",
                    help="load extra targets from a .py file or module (repeatable)")
    ls.set_defaults(run=_cmd_list)
    return p


def _rerun_capped(args: argparse.Namespace, argv: Sequence[str] | None) -> int | None:
    """With --max-isa, the same command in a child process whose environment holds the frameworks to
    that path (they read it at import, so it cannot be set in this process); its exit status. None
    where no cap was asked for or this process already runs under it."""
    import os

    cap = getattr(args, "max_isa", None)
    if cap is None or os.environ.get("SOFTPLUS_CERT_MAX_ISA") == cap:
        return None
    import subprocess

    from targets.cpu_path import capped_environ

    env = capped_environ(cap)
    env["SOFTPLUS_CERT_MAX_ISA"] = cap
    rest = list(sys.argv[1:] if argv is None else argv)
    return subprocess.call([sys.executable, "-m", "reports.cli", *rest], env=env)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rerun = _rerun_capped(args, argv)
        if rerun is not None:
            return rerun
        return args.run(args)
    except UsageError as e:
        print(f"softplus-cert: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("softplus-cert: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
