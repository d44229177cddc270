"""Draft a certificate from measured verdicts: the budgets a target meets today, with their reasons.

The draft holds one [[budget]] per measured combination: max_ulp rounded up to two significant digits
after a 2% margin, each allowance (non-finite, NaN, monotonicity, properties) the measured count plus 10%,
and a reason that states what was measured and why it deviates (overflow onset, flush to zero, a switch
jump with the safe threshold). Review it before committing: a budget is a promise.
"""

from __future__ import annotations

import math

from oracle.judge import Verdict

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
    parts = [f"measured max {v.max_ulp:.4g} ulp, {100 * v.correctly_rounded_fraction:.2f}% correctly rounded "
             f"({v.mode}, {inputs})"]
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


def draft_certificate(target: str, verdicts: list[Verdict], layouts=()) -> str:
    """TOML text of a certificate for ``target`` that the given (status "ok") verdicts and layout reports
    (:class:`oracle.consistency.LayoutReport`) satisfy."""
    layout_of = {(r.format, r.fn, r.beta, r.threshold): r for r in layouts
                 if r.target == target and r.status == "ok" and r.differing}
    lines = [f'# Certificate of {target}: drafted from measurements by `softplus-cert draft-certificate`.',
             "# Each budget states what was measured and why it deviates from a correctly rounded result.",
             f'target = "{target}"', ""]
    for v in verdicts:
        if v.target != target or v.status != "ok":
            continue
        thr = '"default"' if v.threshold is None else ('"inf"' if v.threshold == math.inf else _toml_float(v.threshold))
        # never below 0.5: that is what a correctly rounded result may err by
        max_ulp = max(_ceil2(v.max_ulp * 1.02), 0.5) if math.isfinite(v.max_ulp) else v.max_ulp
        if math.isnan(max_ulp):
            max_ulp = 0.5
        lines += ["[[budget]]", f'format = "{v.format}"', f'fn = "{v.fn}"', f"beta = {_toml_float(v.beta)}",
                  f"threshold = {thr}"]
        if v.mode == "exhaustive" and v.format == "float32":  # counts of 2**32 inputs: not a sample's
            lines.append('mode = "exhaustive"')
        lines.append(f"max_ulp = {_toml_float(max_ulp)}")
        for key, n in (("nonfinite", v.nonfinite_count), ("nan", v.nan_count),
                       ("monotonicity_violations", v.monotonicity_violations),
                       ("property_failures", sum(v.property_failures.values())),
                       ("special_values_wrong", sum(not s["ok"] for s in v.special_values.values()))):
            if n:
                lines.append(f"{key} = {_allow(n)}")
        if v.overflow_onset is not None and (v.true_overflow_onset is None
                                             or v.overflow_onset < v.true_overflow_onset):
            lines.append("premature_overflow = true")
        if v.underflow_onset is not None:
            lines.append("premature_underflow = true")
        if v.threshold_jump_ulp is not None and v.threshold_jump_ulp > 2 * max_ulp + 1:
            lines.append(f"threshold_jump_ulp = {_toml_float(_ceil2(v.threshold_jump_ulp * 1.02))}")
        why = _why(v)
        layout = layout_of.get((v.format, v.fn, v.beta, v.threshold))
        if layout is not None:
            lines.append(f"layout_differences = {_allow(layout.differing)}")
            why += "; " + _layout_why(layout)
        lines += [f"reason = {_toml_str(why)}", ""]
    return "\n".join(lines)


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
