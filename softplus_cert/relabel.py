"""Relabel a report measured before the fine instruction-set labels, so certificates can select on its paths.

Reports written before ``targets.cpu_path`` named each framework's own dispatch level recorded every AVX-512
level as "avx512" and every AVX2 one as "avx2"; their detail keys (NumPy's dispatch target, the oneDNN and
XLA caps) and the CPU they ran on say which fine level it was. ``python -m softplus_cert.relabel IN OUT --levels
numpy=avx512_spr,torch=avx512,onednn=avx512_core_amx,xla=amx [--machine TEXT]`` writes the report again with today's
labels (:func:`targets.cpu_path.fine_path`), the CPU's levels under ``environment.cpu_levels`` and the
machine's description under ``environment.machine``; everything else is kept as it was measured.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

from engine.stored import read_report
from targets.cpu_path import LADDERS, fine_path

__all__ = ["relabel", "main"]


def relabel(doc: dict, levels: dict[str, str], machine: str | None = None) -> dict:
    """A copy of report ``doc`` with every recorded code path relabelled for a CPU of ``levels``."""
    out = json.loads(json.dumps(doc))
    env = out["environment"]
    env["cpu_levels"] = {ladder: levels.get(ladder) for ladder in LADDERS}
    if machine:
        env["machine"] = machine
    env["code_paths"] = {t: fine_path(p, levels) for t, p in (env.get("code_paths") or {}).items()}
    for record in out.get("verdicts", []) + out.get("layout", []):
        if record.get("code_path"):
            record["code_path"] = fine_path(record["code_path"], levels)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m softplus_cert.relabel", description=__doc__.split("\n\n")[0])
    p.add_argument("report", type=Path, help="accuracy.json (or .json.gz, or its folder)")
    p.add_argument("out", type=Path, help="where to write the relabelled report (.json or .json.gz)")
    p.add_argument("--levels", required=True, help="ladder=label,... of the measuring CPU (numpy, torch, onednn, xla)")
    p.add_argument("--machine", default=None, help="a description of the measuring machine")
    args = p.parse_args(argv)
    levels = {}
    for item in args.levels.split(","):
        ladder, _, label = item.partition("=")
        if ladder not in LADDERS or label not in LADDERS[ladder]:
            print(f"softplus_cert.relabel: error: {item!r} is not ladder=label of {sorted(LADDERS)}", file=sys.stderr)
            return 2
        levels[ladder] = label
    text = json.dumps(relabel(read_report(args.report), levels, args.machine), separators=(",", ":"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix == ".gz":
        with gzip.open(args.out, "wt", encoding="utf-8", compresslevel=9) as f:
            f.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
