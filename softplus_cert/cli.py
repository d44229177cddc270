"""The ``softplus-cert`` command line: its options, and the dispatch to :mod:`softplus_cert.commands`.

Each option's default comes from :mod:`engine.defaults` and its check from :mod:`engine.arguments`, the
same the library applies; the help text reads both. Errors are one line on stderr with exit status 2,
never a traceback: a usage error names the fix. Exit status (:data:`EXIT_STATUS`): 0 done, 1 a
certificate's budget broken or a combination not measured under ``certify``, 2 usage error, 3 reports
written but a combination not measured (``report``, ``bench``, ``merge``; the list on the last lines), 130
interrupted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Sequence

from engine import arguments, defaults
from engine.arguments import argparse_type
from engine.certificate import CertificateError
from engine.compare import FAIL_ON
from engine.speed import SIZES
from oracle.formats import FORMATS
from softplus_cert import commands
from softplus_cert.run import SelectionError
from targets.cpu_path import CAP_LEVELS, capped_environ

__all__ = ["main", "build_parser", "EXIT_STATUS"]

#: What each exit status means (shown by --help).
EXIT_STATUS = ("exit status: 0 every selected combination measured (and, for certify, every budget holds); "
               "1 certify: a budget broken or a combination not measured; 2 usage error (one line); "
               "3 report/bench/merge: reports written, some combination not measured (listed on the last lines); "
               "130 interrupted (what finished is written)")


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors in one line (what is wrong, and where help is) and exit status 2."""

    def error(self, message: str):  # noqa: D401 — argparse's hook
        # control characters typed (or fuzzed) into an argument must not split the one line
        message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_out(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default=defaults.OUT, metavar="DIR", help=f"output directory (default {defaults.OUT})")


def _add_targets(p: argparse.ArgumentParser) -> None:
    p.add_argument("--targets", action="append", metavar="NAMES",
                   help="comma-separated target names (default: every available target)")
    p.add_argument("--target-module", action="append", metavar="SPEC",
                   help="load extra targets from a .py file or module (repeatable)")
    p.add_argument("--dtypes", action="append", metavar="FORMATS",
                   help="comma-separated formats (default: all the target supports)")


def _add_speed_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sizes", action="append", metavar="SIZES", help="comma-separated: " + ", ".join(
        f"{name} (2**{n.bit_length() - 1})" for name, n in SIZES.items()) + " (default all)")
    p.add_argument("--repeats", type=argparse_type(arguments.check_repeats), default=defaults.SPEED_REPEATS,
                   help=f"timed rounds per kernel; the median is reported (default {defaults.SPEED_REPEATS})")
    p.add_argument("--min-time", type=argparse_type(arguments.check_min_time), default=defaults.SPEED_MIN_TIME_S,
                   metavar="SECONDS",
                   help=f"each timed round loops for at least this long (default {defaults.SPEED_MIN_TIME_S:g})")
    p.add_argument("--skip-training", action="store_true",
                   help="leave out the training-step benchmark (Softplus beside ReLU in a small MLP per "
                        "framework: about a minute)")


def _add_isolation_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=argparse_type(arguments.check_timeout), default=defaults.TIMEOUT_S, metavar="SECONDS",
                   help="per call to a target (per target when timing; per piece of 16 chunks in an exhaustive "
                        f"run), before it counts as hung (default {defaults.TIMEOUT_S:g})")
    p.add_argument("--memory-limit", type=argparse_type(arguments.check_memory), default=None, metavar="SIZE",
                   help="address-space cap of each target's worker process, e.g. 8G (default none)")
    p.add_argument("--no-isolation", action="store_true",
                   help="run targets in this process (faster start; a crash or hang then ends the run); without "
                        "it each target runs in a worker that loads it from its module, entry point or built-in")
    p.add_argument("--max-isa", choices=CAP_LEVELS, default=None,
                   help="hold every framework to this CPU family or below (ATEN_CPU_CAPABILITY, "
                        "NPY_DISABLE_CPU_FEATURES, ONEDNN_MAX_CPU_ISA, XLA_FLAGS: targets.cpu_path.CAPS), with "
                        "compile caches of its own; the command runs again in a process with that environment")


def _add_selection(p: argparse.ArgumentParser) -> None:
    _add_targets(p)
    p.add_argument("--functions", action="append", metavar="FNS",
                   help=f"{', '.join(defaults.FUNCTIONS)} (default both)")
    p.add_argument("--betas", type=argparse_type(arguments.check_beta), nargs="+", metavar="BETA",
                   help="β values for targets that take one (default: " +
                        " ".join(f"{b:g}".replace("e+", "e") for b in defaults.BETAS) + ")")
    p.add_argument("--thresholds", type=argparse_type(arguments.check_threshold), nargs="+", metavar="T",
                   help="thresholds for targets that take one: numbers, inf, default (default: " +
                        " ".join(map(defaults.threshold_text, defaults.THRESHOLDS)) + ")")
    p.add_argument("--samples", type=argparse_type(arguments.check_samples), default=None, metavar="N",
                   help="float32/float64 sample size (default: {} / {}, plus boundary sets)".format(
                       *(f"{defaults.SAMPLES[name]:,}" for name in ("float32", "float64"))))
    p.add_argument("--seed", type=argparse_type(arguments.check_seed), default=defaults.SEED,
                   help=f"seed of the sampled inputs, or 'random' (recorded in the report) (default {defaults.SEED})")
    _add_out(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--skip-layout", action="store_true",
                   help="no layout-consistency checks (positions, lengths, strides, threads)")
    p.add_argument("--exhaustive", action="store_true",
                   help="judge every bit pattern of each format up to 32 bits (float32: all 2**32 inputs, "
                        "streamed in chunks on all cores); float64 stays sampled")
    p.add_argument("--jobs", type=argparse_type(arguments.check_jobs), default=None, metavar="N",
                   help="worker processes for an exhaustive run or a sample of more than two chunks "
                        "(default: every core available)")
    p.add_argument("--dask", default=None, metavar="ADDRESS",
                   help="run the exhaustive pieces and large samples as tasks of a Dask cluster: a running "
                        "scheduler's address (tcp://host:8786; its workers need this package, the targets' "
                        "frameworks and --nthreads 1) or 'local' for a distributed.LocalCluster of --jobs "
                        "workers")
    p.add_argument("--chunk", type=argparse_type(arguments.check_chunk), default=defaults.CHUNK, metavar="N",
                   help="inputs per chunk of an exhaustive run: each worker holds one chunk and ~40 float64 "
                        f"arrays of its size (default {defaults.CHUNK}: ~300 MB per worker)")
    _add_isolation_options(p)


def _add_certificates(p: argparse.ArgumentParser) -> None:
    p.add_argument("--certificate", action="append", metavar="PATH",
                   help="certificate TOML (repeatable; default: the built-in ones)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="softplus-cert", description="Certify implementations of softplus and its derivative "
                                                  "against a correctly rounded oracle.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def command(name: str, run, help: str, epilog: str | None = EXIT_STATUS) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help, description=run.__doc__, epilog=epilog)
        c.set_defaults(run=run)
        return c

    command("tables", commands.tables, "build or verify the cached exhaustive oracle tables", None)

    e = command("eval", commands.evaluate, "correctly rounded values for given inputs", None)
    e.add_argument("x", nargs="+", help="input values (rounded to --dtype first)")
    e.add_argument("--dtype", default="float32", help=f"format: {', '.join(FORMATS)} (default float32)")
    e.add_argument("--beta", type=argparse_type(arguments.check_beta), default=1.0, help="β > 0 (default 1)")
    e.add_argument("--fn", choices=defaults.FUNCTIONS, default="softplus", help="function (default softplus)")

    r = command("report", commands.report, "accuracy report of every selected target (the main job)")
    _add_selection(r)
    r.add_argument("--skip-speed", action="store_true", help="accuracy report only")
    r.add_argument("--shard", type=argparse_type(arguments.check_shard), default=None, metavar="I/N",
                   help="with --exhaustive: run the I-th of N slices of the inputs (I from 1) and write "
                        "shard-I-of-N.json to --out, for `softplus-cert merge`")
    _add_speed_options(r)

    c = command("certify", commands.certify, "judge targets against their certificates (CI gate)")
    _add_selection(c)
    _add_certificates(c)

    m = command("merge", commands.merge, "merge the shard files of an exhaustive run into one report")
    m.add_argument("shards", nargs="+", metavar="SHARD.json", help="every shard-I-of-N.json of the run")
    _add_out(m)
    m.add_argument("--certify", action="store_true", help="also hold the verdicts to the certificates")
    _add_certificates(m)

    d = command("draft-certificate", commands.draft, "draft a certificate from an accuracy.json", None)
    d.add_argument("--report", required=True, action="append", metavar="PATH",
                   help="accuracy.json of a report run (repeatable: one per instruction-set path)")
    d.add_argument("--target", required=True, metavar="NAME", help="the target to draft for")
    d.add_argument("--target-module", action="append", metavar="SPEC",
                   help="load the target from this .py file or module (for its error model; repeatable)")
    d.add_argument("--out", metavar="FILE", help="write here instead of stdout")

    b = command("bench", commands.bench, "the speed report alone")
    _add_targets(b)
    _add_out(b)
    b.add_argument("--quiet", action="store_true", help="no progress lines")
    _add_speed_options(b)
    _add_isolation_options(b)

    cmp = command("compare", commands.compare, "compare two runs' accuracy reports (CI regression gate)",
                  "exit status: 0 nothing worse (per --fail-on); 1 a verdict got worse (--fail-on any: any change); "
                  "2 a report unreadable, or none of its combinations in the other (one line)")
    cmp.add_argument("old", metavar="OLD", help="the earlier run: accuracy.json, accuracy.json.gz or a report folder")
    cmp.add_argument("new", metavar="NEW", help="the later run (the same kinds)")
    _add_out(cmp)
    cmp.add_argument("--fail-on", choices=FAIL_ON, default=FAIL_ON[0],
                     help=f"exit status 1 when: a verdict got worse, anything changed, never (default {FAIL_ON[0]})")
    cmp.add_argument("--print-only", action="store_true", help="write no compare.md and compare.html")

    ls = command("list", commands.list_targets, "targets and what they support", None)
    ls.add_argument("--target-module", action="append", metavar="SPEC",
                    help="load extra targets from a .py file or module (repeatable)")
    return p


def _rerun_capped(args: argparse.Namespace, argv: Sequence[str] | None) -> int | None:
    """With --max-isa, the same command in a child process whose environment holds the frameworks to
    that path (they read it at import, so it cannot be set in this process); its exit status. None
    where no cap was asked for or this process already runs under it."""
    cap = getattr(args, "max_isa", None)
    if cap is None or os.environ.get("SOFTPLUS_CERT_MAX_ISA") == cap:
        return None
    env = capped_environ(cap)
    env["SOFTPLUS_CERT_MAX_ISA"] = cap
    rest = list(sys.argv[1:] if argv is None else argv)
    return subprocess.call([sys.executable, "-m", "softplus_cert.cli", *rest], env=env)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rerun = _rerun_capped(args, argv)
        return rerun if rerun is not None else args.run(args)
    except (commands.UsageError, SelectionError, CertificateError) as e:
        print(f"softplus-cert: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("softplus-cert: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
