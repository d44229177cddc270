"""Certificates as a library: which budgets hold each target, and whether its verdicts keep them.

:func:`load_certificates` reads the built-in certificates (``targets/certificates/*.toml``) and then the
given files (a later file for the same target replaces the earlier); :func:`certificate_for` is the one
lookup of a target's certificate (its own, else the ``"*"`` one of ``default.toml``); :func:`hold` says what
broke and what could be tightened. Budgets and their semantics: :mod:`engine.certificate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import targets
from engine.certificate import Certificate, CertificateError, certificate_for, load_certificate, violations_by_target

__all__ = ["CertificateError", "Holding", "builtin_certificate_dir", "load_certificates", "certificate_for", "hold",
           "basis", "version_notes"]


def builtin_certificate_dir() -> Path:
    """Where the built-in targets' certificates are installed."""
    return Path(targets.__file__).parent / "certificates"


def load_certificates(paths: Iterable[str | Path] = (), builtin: bool = True) -> dict[str, Certificate]:
    """Target name → Certificate: the built-in ones (unless ``builtin`` is False), then ``paths`` in order.
    CertificateError (one line naming file, entry and key) for a malformed file."""
    certs: dict[str, Certificate] = {}
    files = sorted(builtin_certificate_dir().glob("*.toml")) if builtin else []
    for path in [*files, *map(Path, paths)]:
        c = load_certificate(path)
        certs[c.target] = c
    return certs


@dataclass
class Holding:
    """What holding verdicts to certificates found: ``broken`` target → messages of its broken budgets
    ([] where it holds); ``loose`` lines naming budgets far looser than measured."""

    broken: dict[str, list[str]] = field(default_factory=dict)
    loose: list[str] = field(default_factory=list)
    #: per target and instruction-set path judged, what its budgets there rest on (:func:`basis`)
    basis: list[str] = field(default_factory=list)
    #: failures the certificates expect on their path (``expected_failure``): known defects, not breaks
    known: list[str] = field(default_factory=list)
    #: per target whose running framework versions differ from those its certificate was drafted on:
    #: "torch-cpu: drafted on torch 2.13.0+cpu, running 2.14.1" (the budgets hold anyway)
    versions: list[str] = field(default_factory=list)

    @property
    def violations(self) -> list[str]:
        return [m for ms in self.broken.values() for m in ms]

    @property
    def holds(self) -> bool:
        return not self.violations


def hold(certs: Mapping[str, Certificate], verdicts: Iterable, layouts: Iterable = (),
         env: Mapping[str, Any] | None = None) -> Holding:
    """Every verdict and layout report held to its target's certificate (:func:`certificate_for`); with the
    run's ``env`` (:func:`engine.environment.environment`), also the targets whose versions differ from
    those their certificate was drafted on (``versions``)."""
    verdicts, layouts = list(verdicts), list(layouts)
    broken = {t: [m.message for m in ms] for t, ms in violations_by_target(certs, verdicts, layouts).items()}
    loose = [line for v in verdicts for line in certificate_for(certs, v.target).loose(v)]
    known = [f"{r.target} {r.format} {r.fn} on path {r.path or 'unknown'}{what}: {r.reason}"
             for records, what in ((verdicts, ""), (layouts, " (layout check)")) for r in records
             if certificate_for(certs, r.target).expects_failure(r)]
    return Holding(broken, loose, basis(certs, verdicts), known, version_notes(certs, verdicts, env or {}))


def version_notes(certs: Mapping[str, Certificate], verdicts: Iterable, env: Mapping[str, Any]) -> list[str]:
    """"torch-cpu: drafted on torch 2.13.0+cpu, running 2.14.1", once per judged target whose versions in
    ``env["targets"]`` differ from its certificate's ``[drafted_with]``."""
    running = env.get("targets", {})
    out = []
    for name in dict.fromkeys(v.target for v in verdicts):
        changes = certificate_for(certs, name).version_changes(running.get(name, {}))
        if changes:
            out.append(f"{name}: drafted on {'; '.join(changes)}")
    return out


def _measured_here(entry: dict, path: str) -> bool:
    """Whether a certificate entry's figures were measured on ``path`` (its measured_on names the path)."""
    return any(m == path or m.startswith(f"{path} (") for m in entry.get("measured_on", []))


def basis(certs: Mapping[str, Certificate], verdicts: Iterable) -> list[str]:
    """One line per judged target and path: whether its budgets there were measured on that path, derived
    for it from stated kernel bounds, or neither (held to the loosest measured path): what a verdict on a
    CPU nobody here measured rests on."""
    seen: dict[tuple[str, str], str] = {}
    for v in verdicts:
        if v.status != "ok" or (v.target, v.path) in seen:
            continue
        cert = certificate_for(certs, v.target)
        entries = [e for e in cert.entries_for(v) if "max_ulp" in e or "expected_failure" in e]
        if not entries or not any("measured_on" in e or "derived_for" in e for e in cert.entries):
            continue  # a certificate without provenance (a plugin's hand-written one): nothing to tell
        if any(_measured_here(e, v.path) for e in entries):
            how = "measured on this path"
        elif "derived for paths not measured" in entries[-1].get("reason", ""):
            how = "not measured on this path: held to budgets derived from its kernels' stated bounds"
        else:
            how = "not measured on this path, and its kernels state no bound: held to the loosest measured path"
        seen[(v.target, v.path)] = f"{v.target} on path {v.path or 'unknown'}: {how}"
    return list(seen.values())
