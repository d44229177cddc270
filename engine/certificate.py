"""Certificates: what a target is expected to achieve, and the check of a Verdict against it.

A certificate is a TOML file per target::

    target = "torch-cpu"

    [[budget]]                 # applies to every combination it matches ("*" or absent: any)
    format = "*"
    fn = "*"
    max_ulp = 1.0              # ulps of the format under test
    reason = "why this is the expectation"

    [[budget]]                 # later entries override the keys they set, for what they match
    format = "float64"
    fn = "softplus"
    threshold = "default"      # "default" (None), a number, "inf", or "*"
    max_ulp = 3.5
    reason = "x*beta > 20 returns x: misrounded for x up to ~36.7 in float64"

An optional table ``[drafted_with]`` records the versions the budgets were drafted on (``torch =
"2.13.0+cpu"``): ``certify`` on other versions holds the budgets anyway and says which differ.

Keys of a budget, besides the selectors format / fn / beta / threshold / mode ("exhaustive": every input
of the format was judged, "sampled", or "*"; counts of an exhaustive float32 run are far larger than a
sample's, so such runs usually need entries of their own) / path (the instruction-set path the target
reported, :attr:`Verdict.path`: "avx512_spr", "x86_v3", "avx512_core_amx", "neon", … or "*", or a list of
labels, any of which matches; see :mod:`targets.cpu_path` for each framework's labels). An entry without ``path``
holds on every path; one with it overrides, on that path only, the keys it sets — so a figure that
depends on the CPU is budgeted per path, with the reason naming it, and a loose budget is told against
the path it was drafted on:

==========================  ======================================================  ========
key                         meaning                                                 default
==========================  ======================================================  ========
max_ulp                     largest allowed error over every input (required        —
                            somewhere): inf where the budget allows non-finite or
                            NaN results where the truth is a number (an infinite
                            error; a verdict's NaN maximum counts as one)
max_finite_ulp              largest allowed finite error                             max_ulp
nonfinite                   allowed non-finite results where the truth is finite     0
nan                         allowed NaN results where the truth is a number          0
monotonicity_violations     allowed decreasing adjacent pairs                        0
property_failures           allowed bound/identity failures (all properties)         0
special_values_wrong        allowed wrong results at ±0, ±inf, NaN                   0
premature_overflow          overflow before the true onset allowed                   false
premature_underflow         0 returned where the truth is a positive number allowed  false
threshold_jump_ulp          largest allowed jump at a formula switch (ulps)          2·max_finite_ulp+1
layout_differences          inputs whose result may change with the tensor layout    0
                            (position, length, strides, threads: engine.consistency)
expected_failure            a known defect: the combination cannot be measured on    —
                            the paths selected, and the error names this text
reason                      why (required for every entry)                           —
measured_on                 the paths and machines the figures come from (a list)   —
derived_for                 the paths the figures are derived for, not measured on  —
==========================  ======================================================  ========
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from engine.judge import Verdict

__all__ = ["Certificate", "Budget", "CertificateError", "Violation", "load_certificate", "limits_in_force",
           "violations_by_target", "certificate_for"]

_SELECTORS = ("format", "fn", "beta", "threshold", "mode", "path")
_LIMITS = {
    "max_ulp": (int, float), "max_finite_ulp": (int, float), "nonfinite": int, "nan": int,
    "monotonicity_violations": int, "property_failures": int, "special_values_wrong": int, "premature_overflow": bool,
    "premature_underflow": bool, "threshold_jump_ulp": (int, float), "layout_differences": int,
}
_DEFAULTS: dict[str, Any] = {"nonfinite": 0, "nan": 0, "monotonicity_violations": 0, "property_failures": 0,
                             "special_values_wrong": 0, "premature_overflow": False,
                             "premature_underflow": False, "layout_differences": 0}


def limits_in_force(limits: dict[str, Any]) -> dict[str, Any]:
    """Every limit, given those set (``max_ulp`` among them): the defaults of the table above for the rest
    (max_finite_ulp = max_ulp, threshold_jump_ulp = 2·max_finite_ulp + 1, counts 0, flags false)."""
    out = {**_DEFAULTS, **limits}
    out.setdefault("max_finite_ulp", out["max_ulp"])
    out.setdefault("threshold_jump_ulp", 2 * out["max_finite_ulp"] + 1)
    return out


class CertificateError(ValueError):
    """A malformed certificate: the message names the file, the entry and the key."""


@dataclass(frozen=True)
class Violation:
    """A measured value outside its budget; ``message`` names everything needed to reproduce it."""

    key: str
    message: str


@dataclass
class Budget:
    """The limits in force for one combination, with the reasons of the entries that set them."""

    limits: dict[str, Any]
    reasons: list[str]


def _matches(entry: dict, v: Verdict) -> bool:
    for key in _SELECTORS:
        want = entry.get(key, "*")
        if want == "*":
            continue
        if key == "path" and isinstance(want, list):
            if v.path not in want:
                return False
        elif key in ("format", "fn", "mode", "path"):
            if want != getattr(v, key):
                return False
        elif key == "beta":
            if float(want) != v.beta:
                return False
        else:  # threshold
            if want == "default":
                if v.threshold is not None:
                    return False
            elif v.threshold is None or float(want) != v.threshold:
                return False
    return True


@dataclass
class Certificate:
    """The parsed budgets of one target."""

    target: str
    entries: list[dict[str, Any]]
    path: str = "<memory>"
    #: The versions the budgets were drafted on (``[drafted_with]``: distribution → version, or a list of
    #: the versions of several reports); {} for a certificate written by hand.
    drafted_with: dict[str, Any] = field(default_factory=dict)

    def version_changes(self, running: Mapping[str, Any]) -> list[str]:
        """"torch 2.13.0+cpu, running 2.14.1" for each recorded version that differs from ``running`` (the
        target's versions in this run); [] where they agree or nothing was recorded."""
        out = []
        for name, drafted in self.drafted_with.items():
            now = running.get(name)
            was = drafted if isinstance(drafted, list) else [drafted]
            if now is not None and str(now) not in was:
                out.append(f"{name} {' / '.join(was)}, running {now}")
        return out

    def budget_for(self, v: Verdict) -> Budget | None:
        """The limits for the verdict's combination, or None where no entry sets max_ulp."""
        limits: dict[str, Any] = {}
        reasons: list[str] = []
        for entry in self.entries:
            if _matches(entry, v):
                limits.update({k: entry[k] for k in _LIMITS if k in entry})
                if "expected_failure" in entry:
                    limits["expected_failure"] = entry["expected_failure"]
                reasons.append(entry["reason"])
        if "max_ulp" not in limits and "expected_failure" not in limits:
            return None
        limits.setdefault("max_ulp", 0.5)
        return Budget(limits_in_force(limits), reasons)

    def expects_failure(self, record) -> bool:
        """Whether an errored verdict or layout report is a defect the certificate states for its path:
        an ``expected_failure`` entry whose text the error's reason contains."""
        if record.status != "error":
            return False
        v = record if isinstance(record, Verdict) else Verdict(
            record.target, record.format, record.fn, record.beta, record.threshold, code_path=dict(record.code_path))
        b = self.budget_for(v)
        known = b.limits.get("expected_failure") if b is not None else None
        return bool(known) and known in (record.reason or "")

    def entries_for(self, v: Verdict) -> list[dict[str, Any]]:
        """The entries that match the verdict's combination and path, in file order."""
        return [e for e in self.entries if _matches(e, v)]

    def check(self, v: Verdict) -> list[Violation]:
        """The violations of the verdict against its budget ([] when it holds or the target declined)."""
        where = f"{v.target} {v.format} {v.fn} ({v.params})"
        if v.status == "unsupported":
            return []
        b = self.budget_for(v)
        if v.status == "error":
            if self.expects_failure(v):
                return []  # a known defect on this path, stated in the certificate (its reason says which)
            return [Violation("error", f"{where}: {v.reason}")]
        if b is None:
            return [Violation("budget", f"{where}: no budget in {self.path} covers this combination")]
        if b.limits.get("expected_failure"):
            return [Violation("expected_failure", f"{where}: expected to fail with "
                                                  f"{b.limits['expected_failure']!r} on this path, but it "
                                                  f"was measured: the defect may be fixed (update {self.path})")]
        lim, out = b.limits, []
        # a NaN maximum (NaN results) is an infinite error here: only an infinite budget admits it
        nothing = math.isnan(v.max_ulp) and not v.nan_count  # no input judged at all
        if not nothing and not (math.inf if math.isnan(v.max_ulp) else v.max_ulp) <= lim["max_ulp"]:
            out.append(Violation("max_ulp", f"{where}: max error {_figure(v.max_ulp)} ulp > budget "
                                            f"{lim['max_ulp']:g}{_nonfinite_note(v)}{_at(_worst_of(v))}"))
        same_figure = out and v.max_finite_ulp == v.max_ulp  # already told, with its input
        if v.max_finite_ulp > lim["max_finite_ulp"] and not same_figure:  # (NaN: no finite error to hold)
            out.append(Violation("max_finite_ulp", f"{where}: largest finite error {_figure(v.max_finite_ulp)} "
                                                   f"ulp > budget {lim['max_finite_ulp']:g}"
                                                   f"{_at(v.worst_finite[0] if v.worst_finite else None)}"))
        for key, measured, what in (
                ("nonfinite", v.nonfinite_count, "non-finite results where the truth is finite"),
                ("nan", v.nan_count, "NaN results where the truth is a number"),
                ("monotonicity_violations", v.monotonicity_violations, "monotonicity violations"),
                ("property_failures", sum(v.property_failures.values()), "property failures"),
                ("special_values_wrong", sum(not s["ok"] for s in v.special_values.values()),
                 "wrong special values")):
            if measured > lim[key]:
                ex = ""
                if key == "monotonicity_violations" and v.monotonicity_examples:
                    ex = f"; first: {v.monotonicity_examples[0]}"
                elif key == "property_failures":
                    ex = f"; {v.property_failures} first: {v.property_examples}"
                elif key == "special_values_wrong":
                    ex = f"; {v.special_values}"
                out.append(Violation(key, f"{where}: {measured} {what} > allowed {lim[key]}{ex}"))
        if not lim["premature_overflow"] and v.overflow_onset is not None and (
                v.true_overflow_onset is None or v.overflow_onset < v.true_overflow_onset):
            out.append(Violation("premature_overflow",
                                 f"{where}: overflows from x = {v.overflow_onset!r}, true onset "
                                 f"{v.true_overflow_onset!r}"))
        if not lim["premature_underflow"] and v.underflow_onset is not None:
            out.append(Violation("premature_underflow",
                                 f"{where}: returns 0 up to x = {v.underflow_onset!r} where the true result "
                                 f"is positive (true: 0 only up to {v.true_underflow_onset!r})"))
        if v.threshold_jump_ulp is not None and not v.threshold_jump_ulp <= lim["threshold_jump_ulp"]:
            j = max(v.switch_jumps, key=lambda s: s.jump_ulp)
            out.append(Violation("threshold_jump_ulp",
                                 f"{where}: jump of {j.jump_ulp:.4g} ulp at the switch x = {j.at!r} "
                                 f"(between {j.below!r} and {j.above!r}) > allowed {lim['threshold_jump_ulp']:g}"))
        return out

    def check_layout(self, r) -> list[Violation]:
        """Violations of a :class:`engine.consistency.LayoutReport` against ``layout_differences``."""
        where = f"{r.target} {r.format} {r.fn} (beta={r.beta:g}, threshold=" \
                f"{'default' if r.threshold is None else f'{r.threshold:g}'})"
        if r.status == "unsupported":
            return []
        b = self.budget_for(Verdict(r.target, r.format, r.fn, r.beta, r.threshold, code_path=dict(r.code_path)))
        if r.status == "error":
            if self.expects_failure(r):
                return []
            return [Violation("layout", f"{where}: layout check failed: {r.reason}")]
        allowed = 0 if b is None else b.limits["layout_differences"]
        if r.differing <= allowed:
            return []
        w = r.worst
        ex = (f"; worst x = {w.x!r}: {w.result_a!r} ({w.layout_a}) vs {w.result_b!r} ({w.layout_b}), "
              f"{w.ulps:g} ulp") if w else ""
        return [Violation("layout_differences",
                          f"{where}: {r.differing} of {r.n_inputs} inputs change with the layout > allowed "
                          f"{allowed}{ex}")]

    def loose(self, v: Verdict) -> list[str]:
        """Budgets far looser than what was measured: each a line saying what could be tightened. The
        budget is the one in force for the verdict's path, so an allowance drafted on another path (in an
        entry of its own) is not reported here."""
        b = self.budget_for(v) if v.status == "ok" else None
        if b is None:
            return []
        where = f"{v.target} {v.format} {v.fn} ({v.params}{', path ' + v.path if v.path else ''})"
        out = []
        for key, measured in (("max_ulp", v.max_ulp), ("max_finite_ulp", v.max_finite_ulp)):
            allowed = b.limits[key]
            if key == "max_finite_ulp" and allowed == b.limits["max_ulp"]:
                continue  # not a budget of its own
            if math.isfinite(measured) and allowed > max(1.5 * measured, measured + 1.0):
                out.append(f"{where}: {key} budget {allowed:g} but measured {measured:.6g}")
        for key, measured in (("nonfinite", v.nonfinite_count), ("nan", v.nan_count),
                              ("monotonicity_violations", v.monotonicity_violations),
                              ("property_failures", sum(v.property_failures.values()))):
            if b.limits[key] > 0 and measured == 0:
                out.append(f"{where}: allows {b.limits[key]} {key} but none measured")
        return out


def _figure(u: float) -> str:
    """An error in ulps for a message: enough digits that 0.5000029 never reads as 0.5."""
    return "inf" if u == math.inf else "nan" if math.isnan(u) else f"{u:.7g}"


def _nonfinite_note(v: Verdict) -> str:
    """What made the maximum infinite or NaN (the two counts may share the NaN results of finite inputs)."""
    parts = [f"{n} {what}" for n, what in ((v.nonfinite_count, "results non-finite where the truth is finite"),
                                           (v.nan_count, "NaN where it is a number")) if n]
    return f" ({'; '.join(parts)})" if parts else ""


def _worst_of(v: Verdict):
    """The input that the verdict's max_ulp belongs to: a NaN result for a NaN maximum, else the first of
    ``worst`` (infinite errors first), or the largest finite error's where nothing erred by more than 1/2."""
    if math.isnan(v.max_ulp):
        return next((w for w in v.worst if math.isnan(w.result)), None)
    if v.worst:
        return v.worst[0]
    return v.worst_finite[0] if v.worst_finite else None


def _at(w) -> str:
    return f" at x = {w.x!r}: got {w.result!r}, correctly rounded {w.correct!r}" if w else ""


def load_certificate(path: str | Path) -> Certificate:
    """Parse and validate a certificate file; CertificateError naming file, entry and key when malformed."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise CertificateError(f"{path}: cannot read: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise CertificateError(f"{path}: not valid TOML: {e}") from None
    return parse_certificate(data, str(path))


def parse_certificate(data: dict[str, Any], path: str = "<memory>") -> Certificate:
    """Validate an already-parsed certificate (see :func:`load_certificate`)."""
    target = data.get("target")
    if not isinstance(target, str) or not target:
        raise CertificateError(f"{path}: key 'target' must name the target (a non-empty string)")
    unknown = set(data) - {"target", "budget", "drafted_with"}
    if unknown:
        raise CertificateError(f"{path}: unknown top-level key(s) {sorted(unknown)}; expected 'target', "
                               f"'drafted_with', 'budget'")
    drafted_with = data.get("drafted_with", {})
    if not isinstance(drafted_with, dict) or not all(
            isinstance(v, str) and v or isinstance(v, list) and v and all(isinstance(x, str) and x for x in v)
            for v in drafted_with.values()):
        raise CertificateError(f"{path}: [drafted_with] must map each distribution to its version (a string, or "
                               f"a list of strings)")
    entries = data.get("budget", [])
    if not isinstance(entries, list) or not entries:
        raise CertificateError(f"{path}: needs at least one [[budget]] entry")
    for i, e in enumerate(entries, 1):
        here = f"{path}: [[budget]] #{i}"
        if not isinstance(e, dict):
            raise CertificateError(f"{here}: must be a table")
        for key, value in e.items():
            if key in _LIMITS:
                types = _LIMITS[key]
                if isinstance(value, bool) and types is not bool:
                    raise CertificateError(f"{here}: key '{key}' must be a number, got {value!r}")
                if not isinstance(value, types):
                    raise CertificateError(f"{here}: key '{key}' has the wrong type: {value!r}")
                if types is not bool and (not math.isfinite(value) or value < 0) and key not in (
                        "max_ulp", "max_finite_ulp"):
                    raise CertificateError(f"{here}: key '{key}' must be finite and >= 0, got {value!r}")
                if key in ("max_ulp", "max_finite_ulp") and not value >= 0:
                    raise CertificateError(f"{here}: key '{key}' must be >= 0 (inf allowed), got {value!r}")
            elif key == "path" and isinstance(value, list):
                if not value or not all(isinstance(p, str) and p for p in value):
                    raise CertificateError(f"{here}: key 'path' must be a non-empty string or a non-empty list "
                                           f"of them")
            elif key in ("format", "fn", "path"):
                if not isinstance(value, str) or not value:
                    raise CertificateError(f"{here}: key '{key}' must be a non-empty string")
            elif key == "measured_on":
                if not isinstance(value, list) or not all(isinstance(m, str) and m.strip() for m in value):
                    raise CertificateError(f"{here}: key 'measured_on' must be a list of non-empty strings "
                                           f"(the paths and machines the figures come from)")
            elif key in ("derived_for", "expected_failure"):
                if not isinstance(value, str) or not value.strip():
                    raise CertificateError(f"{here}: key '{key}' must be a non-empty string")
            elif key == "mode":
                if value not in ("*", "exhaustive", "sampled"):
                    raise CertificateError(f"{here}: key 'mode' must be \"exhaustive\", \"sampled\" or \"*\", "
                                           f"got {value!r}")
            elif key == "beta":
                if value != "*" and (isinstance(value, bool) or not isinstance(value, (int, float))
                                     or not value > 0 or not math.isfinite(value)):
                    raise CertificateError(f"{here}: key 'beta' must be a finite number > 0 or \"*\", got {value!r}")
            elif key == "threshold":
                ok = value in ("*", "default") or (not isinstance(value, bool)
                                                   and isinstance(value, (int, float)) and value == value)
                if isinstance(value, str) and value in ("inf", "-inf"):
                    e[key], ok = float(value), True
                if not ok:
                    raise CertificateError(f"{here}: key 'threshold' must be a number, \"inf\", \"default\" "
                                           f"or \"*\", got {value!r}")
            elif key == "reason":
                if not isinstance(value, str) or not value.strip():
                    raise CertificateError(f"{here}: key 'reason' must be a non-empty string")
            else:
                raise CertificateError(f"{here}: unknown key '{key}'")
        if "reason" not in e:
            raise CertificateError(f"{here}: key 'reason' is required: say why this is the expectation")
    return Certificate(target=target, entries=entries, path=path, drafted_with=dict(drafted_with))


def violations_by_target(certificates: Mapping[str, Certificate], verdicts: Iterable[Verdict],
                         layouts: Iterable = ()) -> dict[str, list[Violation]]:
    """Every judged target's broken budgets ([] where its certificate holds), verdicts and layout reports
    alike; a target without a certificate of its own is held to the ``"*"`` one (``default.toml``).
    KeyError where neither exists: a certificate run must say what it holds a target to."""
    out: dict[str, list[Violation]] = {}
    for item in verdicts:
        out.setdefault(item.target, []).extend(certificate_for(certificates, item.target).check(item))
    for r in layouts:
        out.setdefault(r.target, []).extend(certificate_for(certificates, r.target).check_layout(r))
    return out


def certificate_for(certificates: Mapping[str, Certificate], target: str) -> Certificate:
    """The certificate ``target`` is held to: its own, else the default one (``"*"``, ``default.toml``);
    KeyError naming the target where neither exists. The one lookup every caller uses."""
    cert = certificates.get(target) or certificates.get("*")
    if cert is None:
        raise KeyError(f"no certificate for {target} and no default certificate")
    return cert
