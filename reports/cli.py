"""The ``softplus-cert`` command line.

Errors are one line on stderr with exit status 2, never a traceback: a usage error names the fix.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

__all__ = ["main"]

FUNCTIONS = ("softplus", "softplus_grad")


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
    from oracle.formats import FORMATS

    print(f"oracle tables in {cache.cache_dir()}")
    for fmt in FORMATS.values():
        if fmt.bits > 16:
            continue
        for fn in FUNCTIONS:
            start = time.perf_counter()
            state = "cached" if cache.table_path(fmt, fn).exists() else "built"
            table = cache.table(fmt, fn)
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="softplus-cert",
        description="Certify implementations of softplus and its derivative against a correctly "
                    "rounded oracle.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except UsageError as e:
        print(f"softplus-cert: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("softplus-cert: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
