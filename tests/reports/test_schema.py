"""accuracy.json against its JSON Schema (reports/schema/accuracy.schema.json, draft 2020-12).

A freshly written report validates; the schema names every field of the Verdict record and its parts, so a
field added to the judge without the schema fails here; and the schema can fail: documents with a field of
the wrong type, a missing field or an unknown one are rejected.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest

import targets
from engine.grid import combinations
from engine.judge import SCHEMA_VERSION, SwitchJump, Verdict, WorstInput
from engine.sweep import run_grid
from reports.accuracy import REPORT_SCHEMA, write_json
from engine.environment import environment

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "reports" / "schema" / "accuracy.schema.json"


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    """accuracy.json as the report writes it, parsed: numpy-stable on float8_e5m2 (both functions) and
    torch-cpu float16 softplus at its default threshold (a switch point, so switch_jumps and their
    neighbourhoods are present); about 2 s."""
    torch, stable = targets.get_target("torch-cpu"), targets.get_target("numpy-stable")
    combos = (combinations([stable], ["float8_e5m2"], ("softplus", "softplus_grad"), (1.0,), (None,))
              + combinations([torch], ["float16"], ("softplus",), (1.0,), (None,)))
    path = tmp_path_factory.mktemp("schema-report") / "accuracy.json"
    write_json(path, run_grid(combos, None, 0), environment(0, [stable, torch]))
    return json.loads(path.read_text(encoding="utf-8"))


def _errors(validator, doc) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def test_schema_is_valid_draft_2020_12(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_versions_match_the_code(schema):
    assert schema["properties"]["schema"]["const"] == REPORT_SCHEMA
    assert schema["$defs"]["verdict"]["properties"]["schema_version"]["const"] == SCHEMA_VERSION


@pytest.mark.parametrize("cls, name", [(Verdict, "verdict"), (WorstInput, "worst_input"),
                                       (SwitchJump, "switch_jump")])
def test_schema_names_every_field(schema, cls, name):
    """Every dataclass field is described and required, and nothing else is allowed: a field added to (or
    renamed in) the judge must be added to the schema."""
    d = schema["$defs"][name]
    fields = {f.name for f in dataclasses.fields(cls)}
    assert set(d["properties"]) == fields
    assert set(d["required"]) == fields
    assert d["additionalProperties"] is False


def test_fresh_report_validates(report, validator):
    assert _errors(validator, report) == []
    ok = [v for v in report["verdicts"] if v["status"] == "ok"]
    # the parts a tiny selection could leave empty are really there, so the schema checked them
    assert {(v["target"], v["format"]) for v in ok} >= {("numpy-stable", "float8_e5m2"), ("torch-cpu", "float16")}
    assert any(v["switch_jumps"] and v["switch_jumps"][0]["neighbourhood"] for v in ok)
    assert all(v["error_profile"] for v in ok)


def test_not_measured_and_nonfinite_verdicts_validate(validator, tmp_path):
    """What write_json makes of unavailable targets, errors, and the non-finite floats ("inf", "nan")."""
    verdicts = [Verdict(target="gone", format="-", fn="-", beta=1.0, threshold=None, status="unsupported",
                        reason="gone: no such device"),
                Verdict(target="broken", format="float16", fn="softplus", beta=2.0, threshold=float("inf"),
                        status="error", reason="raised RuntimeError: <boom>"),
                Verdict(target="wild", format="float32", fn="softplus_grad", beta=1e30, threshold=-1.0,
                        mode="sampled", n_inputs=3, max_ulp=float("inf"), correctly_rounded_fraction=0.5,
                        worst=[WorstInput(x=1.0, result=float("nan"), correct=0.5, ulp=float("nan"))],
                        error_profile=[[-1.0, 1.0, float("inf"), float("nan")]],
                        special_values={"nan": {"result": float("nan"), "expected": float("nan"), "ok": True}})]
    path = tmp_path / "accuracy.json"
    write_json(path, verdicts, {"date": "2026-01-01T00:00:00+00:00", "seed": None, "command": ["x"],
                                "python": "3.11", "platform": "p", "cpu": "c", "cpu_count": 1, "packages": {},
                                "targets": {}, "flags": {}})
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert _errors(validator, doc) == []


def _set(path: str, value):
    """A mutation: set the value at a slash-separated path (list indices as numbers)."""
    def apply(doc):
        *parents, last = [int(p) if p.isdigit() else p for p in path.split("/")]
        node = doc
        for p in parents:
            node = node[p]
        node[last] = value
    return apply


def _delete(path: str):
    def apply(doc):
        *parents, last = [int(p) if p.isdigit() else p for p in path.split("/")]
        node = doc
        for p in parents:
            node = node[p]
        del node[last]
    return apply


def _first_switch(doc) -> str:
    i = next(i for i, v in enumerate(doc["verdicts"]) if v["switch_jumps"])
    return f"verdicts/{i}/switch_jumps/0"


MUTATIONS = [
    (_set("verdicts/0/max_ulp", "big"), "a string that is not inf/-inf/nan where a float is due"),
    (_set("verdicts/0/max_ulp", "Infinity"), "JavaScript's spelling of inf"),
    (_set("verdicts/0/n_inputs", 1.5), "a float where a count is due"),
    (_set("verdicts/0/nan_count", -1), "a negative count"),
    (_set("verdicts/0/status", "fine"), "an unknown status"),
    (_set("verdicts/0/beta", 0), "beta must be > 0"),
    (_set("verdicts/0/error_profile/0", [0.0, 1.0, 0.5]), "a profile bin with 3 numbers"),
    (_set("verdicts/0/special_values/-0/ok", "yes"), "a string where a boolean is due"),
    (_set("verdicts/0/histogram/inf", "3"), "a count given as a string"),
    (_set("verdicts/0/surprise", 1), "an unknown field"),
    (_delete("verdicts/0/error_profile"), "a missing field"),
    (_delete("environment/seed"), "a missing environment field"),
    (_set("schema", "softplus-cert/accuracy/0"), "another layout version"),
    (_set("environment/command", "softplus-cert report"), "the command as a string, not argv"),
]


@pytest.mark.parametrize("mutate, why", MUTATIONS, ids=[why for _, why in MUTATIONS])
def test_schema_rejects(report, validator, mutate, why):
    # the unmutated report validates (test_fresh_report_validates), so the mutation is what fails
    bad = copy.deepcopy(report)
    mutate(bad)
    assert not validator.is_valid(bad), f"schema accepted {why}"


def test_schema_rejects_bad_switch_neighbourhood_and_unexplained_status(report, validator):
    bad = copy.deepcopy(report)
    _set(_first_switch(bad) + "/neighbourhood/0", [20.0, "x"])(bad)
    assert not validator.is_valid(bad)
    bad = copy.deepcopy(report)
    bad["verdicts"][0].update(status="error", reason=None)
    assert any("reason" in e for e in _errors(validator, bad))
