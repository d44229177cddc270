"""Draft a certificate from measured verdicts: the budgets a target meets today, with their reasons.

The draft holds one [[budget]] per measured combination: max_ulp (and max_finite_ulp where non-finite or
NaN results make the maximum infinite) rounded up to two significant digits after a 2% margin, each
allowance (non-finite, NaN, monotonicity, properties, layout) the measured count plus 10%, and a reason that
states what was measured and why it deviates (overflow onset, flush to zero, a switch jump with the safe
threshold). Review it before committing: a budget is a promise.

Several reports, one per instruction-set path (``Verdict.path``: e.g. one run native on an AVX-512 machine
and one capped at AVX2), give one certificate that holds on all of them. Where every path measured the same
budget, one entry without a path selector holds everywhere. Where they differ, a first entry holds the
largest figure of each key over the paths (so a path that was not measured, say arm64, gets the loosest
known budget), and one entry per path, selected by ``path``, sets every key to that path's own measurement
with the reason naming the path: a loose-budget notice then compares with what that path measured. Where
the loosest figures are not loose for any path (counts a few inputs apart, both within the 10% margin), the
first entry alone is written, its reason giving each path's measurement.
"""

from __future__ import annotations

import math

from oracle.certificate import Certificate, limits_in_force
from oracle.judge import Verdict

from .digits import num, percent

__all__ = ["draft_certificate"]


def _ceil2(v: float) -> float:
    """v rounded up to two significant digits (as a short decimal)."""
    if v <= 0 or not math.isfinite(v):
        return v
    e = math.floor(math.log10(v)) - 1
    return float(f"{math.ceil(v / 10 ** e - 1e-9)}e{e}")


def _toml_float(v: float) -> str:
    if math.isinf(v):
        return "inf"
    return repr(v)


def _allow(n: int) -> int:
    return n + math.ceil(0.1 * n) if n else 0


def _why(v: Verdict) -> str:
    inputs = f"{v.n_inputs} inputs" + (f", seed {v.seed}" if v.seed is not None else "")
    finite = "" if v.max_finite_ulp == v.max_ulp else f" (largest finite {num(v.max_finite_ulp, 6)} ulp)"
    parts = [f"measured max {num(v.max_ulp, 6)} ulp{finite}, {percent(v.correctly_rounded_fraction, 4)}% correctly "
             f"rounded ({v.mode}, {inputs})"]
    if v.nonfinite_count or v.nan_count:
        parts.append(f"{v.nonfinite_count} non-finite and {v.nan_count} NaN results where the truth is "
                     f"finite, from x = {v.overflow_onset!r} (true overflow onset: {v.true_overflow_onset!r})")
    if v.underflow_onset is not None:
        parts.append(f"returns 0 up to x = {v.underflow_onset!r} where the true result is positive "
                     f"(flush to zero or exp underflow; true: 0 only up to {v.true_underflow_onset!r})")
    if v.threshold_jump_ulp is not None and v.threshold_jump_ulp > 1:
        j = max(v.switch_jumps, key=lambda s: s.jump_ulp)
        parts.append(f"jump of {j.jump_ulp:.4g} ulp at its formula switch x = {j.at!r}"
                     + (f"; the linear branch is correctly rounded only from beta*x = {v.safe_threshold:.6g}"
                        if v.safe_threshold is not None and v.fn == "softplus" else ""))
    if v.monotonicity_violations:
        parts.append(f"{v.monotonicity_violations} monotonicity violations (first: {v.monotonicity_examples[0]})")
    props = {k: n for k, n in v.property_failures.items() if n}
    if props:
        parts.append(f"property failures {props}")
    bad = [k for k, s in v.special_values.items() if not s["ok"]]
    if bad:
        parts.append("wrong special values at " + ", ".join(
            f"{k} (got {v.special_values[k]['result']!r}, expected {v.special_values[k]['expected']!r})" for k in bad))
    return "; ".join(parts)


def _layout_why(r) -> str:
    w = r.worst
    worst = (f"; worst x = {w.x!r}: {w.result_a!r} ({w.layout_a}) vs {w.result_b!r} ({w.layout_b}), "
             f"{w.ulps:g} ulp") if w else ""
    return (f"{r.differing} of {r.n_inputs} inputs give another result in another tensor layout "
            f"(SIMD body vs scalar tail, strides or threads){worst}")


def _budget_ulp(u: float) -> float:
    """A budget for a measured maximum: 2% margin, two significant digits, never below 0.5 (what a
    correctly rounded result may err by); inf stays inf, NaN (NaN results: an infinite error) is inf."""
    if math.isnan(u) or math.isinf(u):
        return math.inf
    return max(_ceil2(u * 1.02), 0.5)


def _limits(v: Verdict, layout) -> dict[str, object]:
    """The certificate keys (in file order) that ``v`` and its layout report satisfy; absent keys are the
    defaults (0, false, max_finite_ulp = max_ulp)."""
    out: dict[str, object] = {}
    if math.isnan(v.max_ulp) and not v.nan_count:  # nothing was judged: the correctly rounded budget
        out["max_ulp"] = 0.5
    else:
        out["max_ulp"] = _budget_ulp(v.max_ulp)
    finite = 0.5 if math.isnan(v.max_finite_ulp) else _budget_ulp(v.max_finite_ulp)
    if finite != out["max_ulp"]:
        out["max_finite_ulp"] = finite
    for key, n in (("nonfinite", v.nonfinite_count), ("nan", v.nan_count),
                   ("monotonicity_violations", v.monotonicity_violations),
                   ("property_failures", sum(v.property_failures.values())),
                   ("special_values_wrong", sum(not s["ok"] for s in v.special_values.values()))):
        if n:
            out[key] = _allow(n)
    if v.overflow_onset is not None and (v.true_overflow_onset is None or v.overflow_onset < v.true_overflow_onset):
        out["premature_overflow"] = True
    if v.underflow_onset is not None:
        out["premature_underflow"] = True
    if v.threshold_jump_ulp is not None and v.threshold_jump_ulp > 2 * finite + 1:
        out["threshold_jump_ulp"] = _ceil2(v.threshold_jump_ulp * 1.02)
    if layout is not None:
        out["layout_differences"] = _allow(layout.differing)
    return out


def _widest(limits: list[dict[str, object]]) -> dict[str, object]:
    """Each key's loosest value over several paths' limits (absent: its default)."""
    keys = [k for k in _KEY_ORDER if any(k in d for d in limits)]
    in_force = [limits_in_force(d) for d in limits]
    out = {}
    for k in keys:
        vals = [d[k] for d in in_force]
        out[k] = any(vals) if isinstance(vals[0], bool) else max(vals)
    if out.get("max_finite_ulp") == out["max_ulp"]:
        del out["max_finite_ulp"]
    return out


_KEY_ORDER = ("max_ulp", "max_finite_ulp", "nonfinite", "nan", "monotonicity_violations", "property_failures",
              "special_values_wrong", "premature_overflow", "premature_underflow", "threshold_jump_ulp",
              "layout_differences")


def _value(v: object) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else _toml_float(float(v)) if isinstance(v, float) \
        else str(v)


def _entry(sel: list[str], limits: dict[str, object], why: str) -> list[str]:
    return ["[[budget]]", *sel, *(f"{k} = {_value(limits[k])}" for k in _KEY_ORDER if k in limits),
            f"reason = {_toml_str(why)}", ""]


def draft_certificate(target: str, verdicts: list[Verdict], layouts=(), *more) -> str:
    """TOML text of a certificate for ``target`` that the given (status "ok") verdicts and layout reports
    (:class:`oracle.consistency.LayoutReport`) satisfy. ``more``: further (verdicts, layouts) pairs, e.g.
    the reports of other instruction-set paths (see the module doc)."""
    reports = [(verdicts, layouts), *more]
    # combination -> path -> [(verdict, layout report)], in the first report's order
    groups: dict[tuple, dict[str, list]] = {}
    for vs, ls in reports:
        layout_of = {(r.format, r.fn, r.beta, r.threshold, r.path): r for r in ls
                     if r.target == target and r.status == "ok" and r.differing}
        for v in vs:
            if v.target != target or v.status != "ok":
                continue
            exhaustive = v.mode == "exhaustive" and v.format == "float32"  # counts of 2**32 inputs: not a sample's
            key = (v.format, v.fn, v.beta, v.threshold, exhaustive)
            # layout checks are sampled: their budget is the sampled entry's (certificate.check_layout)
            lay = None if exhaustive else layout_of.get((v.format, v.fn, v.beta, v.threshold, v.path))
            groups.setdefault(key, {}).setdefault(v.path or "unknown", []).append((v, lay))
    lines = [f'# Certificate of {target}: drafted from measurements by `softplus-cert draft-certificate`.',
             "# Each budget states what was measured and why it deviates from a correctly rounded result.",
             f'target = "{target}"', ""]
    for (fmt, fn, beta, thr, exhaustive), by_path in groups.items():
        t = '"default"' if thr is None else ('"inf"' if thr == math.inf else _toml_float(thr))
        sel = [f'format = "{fmt}"', f'fn = "{fn}"', f"beta = {_toml_float(beta)}", f"threshold = {t}"]
        if exhaustive:
            sel.append('mode = "exhaustive"')
        own = {p: _widest([_limits(v, lay) for v, lay in pairs]) for p, pairs in by_path.items()}
        whys = {p: _path_why(pairs) for p, pairs in by_path.items()}
        paths = sorted(own)
        if all(own[p] == own[paths[0]] for p in paths):
            tail = f"; the same budget on the {' and '.join(paths)} paths" if len(paths) > 1 else \
                f" (on the {paths[0]} path)"
            lines += _entry(sel, own[paths[0]], whys[paths[0]] + tail)
            continue
        widest = _widest(list(own.values()))
        # one entry still serves where it is not loose for any path (counts a little apart, say)
        one = Certificate(target, [{**widest, "reason": "-"}])
        if not any(one.loose(v) for pairs in by_path.values() for v, _ in pairs):
            lines += _entry(sel, widest, f"holds on the {' and '.join(paths)} paths; "
                                         + "; ".join(f"{p}: {whys[p]}" for p in paths))
            continue
        lines += _entry(sel, widest, f"the loosest of the {', '.join(paths)} paths (for paths not measured); "
                                     f"each measured path has an entry of its own below")
        for p in paths:
            in_force = limits_in_force(own[p])
            full = {k: in_force[k] for k in widest}
            lines += _entry(sel + [f'path = "{p}"'], full, f"on the {p} path: {whys[p]}")
    return "\n".join(lines)


def _path_why(pairs: list) -> str:
    parts = []
    for v, lay in pairs:
        why = _why(v)
        if lay is not None:
            why += "; " + _layout_why(lay)
        parts.append(why)
    return " / ".join(dict.fromkeys(parts))


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
