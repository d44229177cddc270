"""Reports read back as records: an accuracy.json (or .json.gz, or a folder holding one) as verdicts, layout
reports and agreement, whatever schema version wrote it.

Drafting certificates, relabelling old reports and comparing two runs start here. The writers
(:mod:`reports.accuracy`) write the same schema, :data:`REPORT_SCHEMA`.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from engine.agreement import AgreementMatrix, PairReport
from engine.consistency import LayoutReport
from engine.verdict import SCHEMA_VERSION, Verdict
from targets.cpu_path import normalize

__all__ = ["REPORT_SCHEMA", "read_report", "load_json", "load_layout"]

#: Layout version of accuracy.json: the Verdict schema plus the envelope around it.
REPORT_SCHEMA = f"softplus-cert/accuracy/{SCHEMA_VERSION}"


def read_report(path: Path) -> dict[str, Any]:
    """The JSON document of an accuracy report: ``path`` is an accuracy.json, a gzip-compressed one
    (``.gz``), or a report folder holding either."""
    path = Path(path)
    if path.is_dir():
        found = [p for p in (path / "accuracy.json", path / "accuracy.json.gz") if p.exists()]
        if not found:
            raise ValueError(f"{path}: no accuracy.json or accuracy.json.gz in this folder")
        path = found[0]
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return json.load(f)
    return json.loads(path.read_text(encoding="utf-8"))


def load_layout(path: Path) -> list:
    """The layout reports of an accuracy.json ([] for a report without them)."""
    doc = read_report(path)
    reports = [LayoutReport.from_dict(d) for d in doc.get("layout", [])]
    if doc.get("schema") == _SCHEMA_3:  # no path recorded: the machine's (see load_json)
        inferred = _schema_3_path(doc["environment"], path)
        for r in reports:
            r.code_path = dict(inferred)
    return reports


#: An older layout that :func:`load_json` still reads (upgraded: see ``engine.judge.Verdict.from_dict``).
_SCHEMA_3 = "softplus-cert/accuracy/3"
#: Schema 4: no search fields (read with their defaults: ``worst_source`` "", ``search_points`` 0).
_SCHEMA_4 = "softplus-cert/accuracy/4"


def load_json(path: Path, *, agreement: bool = False):
    """(verdicts, environment) of an accuracy.json; with ``agreement=True`` (verdicts, environment,
    matrices, device pair reports), empty lists for a report written without them.

    A report of schema 3 is read as schema 4: its verdicts record no instruction-set path, so each gets
    the path of the machine it ran on, as its torch-cpu target recorded it (``torch.cpu_capability``
    in the environment); ValueError where that is not there to read."""
    doc = read_report(path)
    if doc.get("schema") not in (REPORT_SCHEMA, _SCHEMA_4, _SCHEMA_3):
        raise ValueError(f"{path}: schema {doc.get('schema')!r}, expected {REPORT_SCHEMA!r}")
    verdicts, env = [Verdict.from_dict(d) for d in doc["verdicts"]], doc["environment"]
    if doc["schema"] == _SCHEMA_3:
        inferred = _schema_3_path(env, path)
        for v in verdicts:
            v.code_path = dict(inferred)
    if not agreement:
        return verdicts, env
    return (verdicts, env, [AgreementMatrix.from_dict(d) for d in doc.get("agreement", [])],
            [PairReport.from_dict(d) for d in doc.get("device_agreement", [])])


def _schema_3_path(env: dict[str, Any], path) -> dict[str, str]:
    """The instruction-set path of a schema-3 report's machine, from torch's capability in its environment."""
    caps = {str(t.get("torch.cpu_capability")) for t in env.get("targets", {}).values()
            if t.get("torch.cpu_capability")}
    if len(caps) != 1:
        raise ValueError(f"{path}: a schema-3 report records no instruction-set path, and torch's "
                         f"cpu_capability is not there to tell it")
    cap = caps.pop()
    return {"path": normalize(cap), "inferred": f"schema-3 report: the machine's path (torch.cpu_capability {cap})"}
