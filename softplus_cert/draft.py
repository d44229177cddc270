"""Draft a certificate from measured verdicts: the budgets a target meets today, with their reasons.

The draft holds one [[budget]] per measured combination: max_ulp (and max_finite_ulp where non-finite or
NaN results make the maximum infinite) rounded up to two significant digits after a 2% margin, each
allowance (non-finite, NaN, monotonicity, properties, layout) the measured count plus 10%, and a reason that
states what was measured and why it deviates (overflow onset, flush to zero, a switch jump with the safe
threshold). Review it before committing: a budget is a promise.

Several reports, one per instruction-set path (``Verdict.path``: the kernels each framework dispatched, e.g.
NumPy's ``avx512_spr`` natively on a Sapphire Rapids and ``x86_v3`` capped at AVX2), give one certificate that
holds on all of them, and on the paths nobody measured:

* the measured paths: one entry per group of paths with the same figures, selected by ``path`` (a label or a
  list), every key set to that measurement, ``measured_on`` naming each path and the machine it ran on; a
  loose-budget notice then compares with what that path measured;
* every other path (arm64, a dispatch target NumPy adds next year, a CPU above any measured): a first,
  path-less entry. Where the target states how it computes and what its kernels promise
  (``Target.error_model()``, :mod:`targets.error_models`), its ulp budgets are **derived**: the largest error
  of any implementation within those bounds (:mod:`oracle.derive`), never below a measured path's; its
  counts and flags, which no kernel bound limits, are the loosest measured path's; ``derived_for`` says so
  and the reason gives the derivation. Where the target states no bound, the loosest measured figures stand
  for every other path, and the entry says it is not derived. One measured group and no derivation: that
  single entry, path-less, serves both.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

import targets
from engine.certificate import limits_in_force
from engine.inputs import bit_uniform, every_value
from engine.stored import load_json, load_layout
from engine.verdict import Verdict
from oracle.derive import budget, derive
from oracle.formats import get_format
from reports.digits import num, percent
from softplus_cert.run import SelectionError, load_modules

__all__ = ["draft_certificate", "draft_from_reports", "distribution_versions"]


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
    """A budget for a measured maximum: the rule a derived bound gets too (:func:`oracle.derive.budget`: 2%
    margin, two significant digits, never below 0.5, what a correctly rounded result may err by); inf stays
    inf, NaN (NaN results: an infinite error) is inf."""
    return budget(u)


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


def _entry(sel: list[str], limits: dict[str, object], why: str, measured_on: list[str] | None = None,
           derived_for: str | None = None, expected_failure: str | None = None) -> list[str]:
    meta = [f"expected_failure = {_toml_str(expected_failure)}"] if expected_failure else []
    if measured_on:
        meta.append("measured_on = [" + ", ".join(_toml_str(m) for m in measured_on) + "]")
    if derived_for:
        meta.append(f"derived_for = {_toml_str(derived_for)}")
    return ["[[budget]]", *sel, *(f"{k} = {_value(limits[k])}" for k in _KEY_ORDER if k in limits),
            f"reason = {_toml_str(why)}", *meta, ""]


def derived_inputs(fmt: str, beta: float, measured_worst=()) -> np.ndarray:
    """The inputs a derivation takes its maximum over: every finite value of an 8- or 16-bit format; for
    float32 and float64 a bit-uniform sample (2**20 resp. 2**17, seed 0: every binade), 2**16 evenly spaced
    values over |βx| <= 64, where the formulas switch and cancel, and 2**17 over |βx| <= 800, where they
    underflow; and the worst inputs the measured paths found (``measured_worst``), so that the derivation
    is compared with each measurement where that measurement was largest."""
    f = get_format(fmt)
    if f.bits <= 16:
        return every_value(f)
    with np.errstate(all="ignore"):
        grids = [np.linspace(-z / beta, z / beta, n).astype(f.dtype) for z, n in ((64.0, 1 << 16), (800.0, 1 << 17))]
    worst = np.asarray(list(measured_worst), dtype=np.float64).astype(f.dtype)
    return np.concatenate([bit_uniform(f, 1 << (20 if f.bits == 32 else 17), 0), *grids, worst])


def _derived_entry(model, fmt: str, fn: str, beta: float, thr, widest: dict, cache: dict,
                   measured_worst=()) -> tuple[dict, str]:
    """The path-less entry's limits and reason where ``model`` states its kernels' bounds."""
    key = (fmt, fn, beta, thr, tuple(sorted(set(measured_worst))))
    if key not in cache:
        cache[key] = derive(model.formula(fn, beta, thr), fmt, fn, beta, derived_inputs(fmt, beta, measured_worst),
                            model.bounds(fmt))
    d = cache[key]
    limits = dict(widest)
    in_force = limits_in_force(widest)
    finite = max(budget(d.max_finite_ulp), in_force["max_finite_ulp"])
    limits["max_ulp"] = math.inf if (d.max_ulp == math.inf or in_force["max_ulp"] == math.inf) else finite
    if finite != limits["max_ulp"]:
        limits["max_finite_ulp"] = finite
    else:
        limits.pop("max_finite_ulp", None)
    over = "" if budget(d.max_finite_ulp) >= in_force["max_finite_ulp"] else \
        (f"; a measured path erred by more ({num(in_force['max_finite_ulp'], 4)} ulp), at an input the derivation "
         f"also took: its kernels exceed their stated bounds there, and the budget is that measurement")
    nonfinite = (f"; a result may be non-finite for {d.nonfinite_inputs} of them (an intermediate overflows)"
                 if d.nonfinite_inputs else "") + (f"; NaN possible for {d.nan_inputs}" if d.nan_inputs else "")
    why = (f"derived for paths not measured: {model.family}, within their stated bounds ({model.source}), "
           f"carried through the formula by interval arithmetic (oracle.derive) over {d.n_inputs} inputs: any "
           f"such implementation errs by at most {num(d.max_finite_ulp, 4)} ulp (largest at x = {d.worst_x!r})"
           f"{nonfinite}{over}; counts and flags, which no kernel bound limits: the loosest measured path's")
    return limits, why


def draft_certificate(target: str, verdicts: list[Verdict], layouts=(), *more, model=None,
                      machines: list[str] | None = None, versions: dict[str, list[str]] | None = None) -> str:
    """TOML text of a certificate for ``target`` that the given (status "ok") verdicts and layout reports
    (:class:`engine.consistency.LayoutReport`) satisfy. ``more``: further (verdicts, layouts) pairs, e.g.
    the reports of other instruction-set paths; ``machines``: one description per report (first, then
    ``more``), named in ``measured_on``; ``model``: the target's :class:`targets.error_models.ErrorModel`,
    from which the budget of paths nobody measured is derived (see the module doc); ``versions``: the
    target's distributions and the versions the reports measured (``[drafted_with]``)."""
    reports = [(verdicts, layouts), *more]
    machines = list(machines or [])
    machines += ["unnamed machine"] * (len(reports) - len(machines))
    # combination -> path -> [(verdict, layout report, machine)], in the first report's order
    groups: dict[tuple, dict[str, list]] = {}
    failures: dict[tuple, dict[str, tuple[str, str]]] = {}
    for (vs, ls), machine in zip(reports, machines):
        layout_of = {(r.format, r.fn, r.beta, r.threshold, r.path): r for r in ls
                     if r.target == target and r.status == "ok" and r.differing}
        for v in vs:
            if v.target != target or v.status not in ("ok", "error"):
                continue
            exhaustive = v.mode == "exhaustive" and v.format == "float32"  # counts of 2**32 inputs: not a sample's
            key = (v.format, v.fn, v.beta, v.threshold, exhaustive)
            if v.status == "error":  # a defect of that path: an entry that expects it, naming it
                failures.setdefault(key, {}).setdefault(v.path or "unknown", (v.reason or "", machine))
                continue
            # layout checks are sampled: their budget is the sampled entry's (certificate.check_layout)
            lay = None if exhaustive else layout_of.get((v.format, v.fn, v.beta, v.threshold, v.path))
            groups.setdefault(key, {}).setdefault(v.path or "unknown", []).append((v, lay, machine))
    lines = [f'# Certificate of {target}: drafted from measurements by `softplus-cert draft-certificate`.',
             "# Each budget states what was measured and why it deviates from a correctly rounded result;",
             "# measured_on names the paths and machines, derived_for the paths a budget is derived for.",
             f'target = "{target}"', ""]
    if versions:
        lines += ["# the versions measured: certify on others holds the budgets anyway and names the difference",
                  "[drafted_with]"]
        lines += [f"{name} = " + (_toml_str(vs[0]) if len(vs) == 1 else "[" + ", ".join(map(_toml_str, vs)) + "]")
                  for name, vs in sorted(versions.items())]
        lines.append("")
    cache: dict = {}
    for (fmt, fn, beta, thr, exhaustive), by_path in groups.items():
        t = '"default"' if thr is None else ('"inf"' if thr == math.inf else _toml_float(thr))
        sel = [f'format = "{fmt}"', f'fn = "{fn}"', f"beta = {_toml_float(beta)}", f"threshold = {t}"]
        if exhaustive:
            sel.append('mode = "exhaustive"')
        own = {p: _widest([_limits(v, lay) for v, lay, _ in trios]) for p, trios in by_path.items()}
        whys = {p: _path_why(trios) for p, trios in by_path.items()}
        where = {p: f"{p} ({'; '.join(dict.fromkeys(m for _, _, m in trios))})" for p, trios in by_path.items()}
        known = [_entry(sel + [f'path = "{p}"'], {}, f"known defect on the {p} path: {why}",
                        measured_on=[f"{p} ({machine})"], expected_failure=_failure_key(why))
                 for p, (why, machine) in sorted(failures.get((fmt, fn, beta, thr, exhaustive), {}).items())
                 if p not in by_path]
        paths = sorted(own)
        widest = _widest(list(own.values()))
        if model is None:
            # not derivable: the loosest measured figures stand for every other path, and say so
            base, base_why = widest, ("not derived for paths not measured: this target's kernels state no error "
                                      "bound; they are held to the loosest measured path")
        else:
            worst = [w.x for trios in by_path.values() for v, _, _ in trios for w in (*v.worst, *v.worst_finite)
                     if math.isfinite(w.x)]
            base, base_why = _derived_entry(model, fmt, fn, beta, thr, widest, cache, worst)
        # measured paths with the same figures share an entry
        by_limits: dict[str, list[str]] = {}
        for p in paths:
            by_limits.setdefault(repr(sorted(own[p].items())), []).append(p)
        if model is None and len(by_limits) == 1:
            lines += _entry(sel, widest, _joined_whys(whys), measured_on=[where[p] for p in paths],
                            derived_for=f"every other path ({base_why})")
            lines += [line for entry in known for line in entry]
            continue
        lines += _entry(sel, base, base_why, derived_for="every path not measured (measured paths: the entries "
                                                          "below)")
        keys = [k for k in _KEY_ORDER if k in base or any(k in own[p] for p in paths)]
        for members in by_limits.values():
            in_force = limits_in_force(own[members[0]])
            full = {k: in_force[k] for k in keys}
            if full.get("max_finite_ulp") == full["max_ulp"] and "max_finite_ulp" not in base:
                del full["max_finite_ulp"]
            path_sel = f'path = "{members[0]}"' if len(members) == 1 else \
                "path = [" + ", ".join(f'"{p}"' for p in members) + "]"
            why = _joined_whys({p: whys[p] for p in members})
            lines += _entry(sel + [path_sel], full, f"measured: {why}", measured_on=[where[p] for p in members])
        lines += [line for entry in known for line in entry]
    return "\n".join(lines)


def _failure_key(reason: str) -> str:
    """The stable part of a failure's reason (its kind and first words, not the inputs or the fusion's name):
    "raised JaxRuntimeError: INTERNAL: Failed to materialize symbols"."""
    return ":".join(reason.split(" (on ")[0].split(":")[:3]).strip()


def _joined_whys(whys: dict[str, str]) -> str:
    """One reason for several paths: each distinct measurement once, after the paths that gave it."""
    if len(set(whys.values())) == 1:
        (why,) = set(whys.values())
        return why if len(whys) == 1 else f"the same on {', '.join(whys)}: {why}"
    by_text: dict[str, list[str]] = {}
    for p, why in whys.items():
        by_text.setdefault(why, []).append(p)
    return "; ".join(f"{', '.join(ps)}: {why}" for why, ps in by_text.items())


def _path_why(trios: list) -> str:
    parts = []
    for v, lay, _machine in trios:
        why = _why(v)
        if lay is not None:
            why += "; " + _layout_why(lay)
        parts.append(why)
    return " / ".join(dict.fromkeys(parts))


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def draft_from_reports(target: str, reports: Sequence[str | Path], modules: Sequence[str] = ()) -> str:
    """The certificate text :func:`draft_certificate` drafts for ``target`` from the accuracy reports at
    ``reports`` (one per instruction-set path; accuracy.json, .json.gz or a report folder), with the
    target's error model where it states one (a plugin target's after loading ``modules``). SelectionError,
    in one line, for a report that cannot be read, a target it does not measure, or a module that fails."""
    loaded, names, machines, versions = [], set(), [], {}
    for report in reports:
        try:
            verdicts, env = load_json(Path(report))
            layouts = load_layout(Path(report))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise SelectionError(f"cannot read report {report}: {e}") from None
        names |= {v.target for v in verdicts if v.status == "ok"}
        loaded.append((verdicts, layouts))
        machines.append(env.get("machine") or f"{env.get('cpu', 'unknown CPU')}, {str(env.get('date', ''))[:10]}")
        for name, version in distribution_versions(env.get("targets", {}).get(target, {})).items():
            versions.setdefault(name, [])
            if version not in versions[name]:
                versions[name].append(version)
    if target not in names:
        raise SelectionError(f"no measurements of {target!r} in {', '.join(map(str, reports))}; measured: "
                             f"{', '.join(sorted(names)) or 'nothing'}")
    return draft_certificate(target, *loaded[0], *loaded[1:], model=_error_model(target, modules),
                             machines=machines, versions=versions)


def distribution_versions(target_env: dict[str, str]) -> dict[str, str]:
    """The installed distributions among a target's recorded versions (``{"torch": "2.13.0+cpu"}``): the
    lower-case plain names, not settings such as ``torch.cpu_capability`` or ``TF_ENABLE_ONEDNN_OPTS``."""
    return {k: str(v) for k, v in target_env.items() if k.isidentifier() and k == k.lower() and k != "cxx"}


def _error_model(name: str, modules: Sequence[str]):
    """The target's error model (None where it states none, or where the target is not known here: a
    plugin not loaded with ``modules``)."""
    load_modules(modules)
    try:
        return targets.get_target(name).error_model()
    except (KeyError, LookupError, ValueError):
        return None
