"""The training-step benchmark: real steps of the asked-for models, sane numbers, failures recorded, sections written.

Quick runs (tiny models, three short rounds) of every framework, each in its own worker — torch with both
models, TensorFlow and JAX with one (their imports and compilations are most of the time) — beside two planted
frameworks: one not installed, one whose import fails. The numbers are checked for being what the conventions
say (positive, finite, ratio = Softplus / ReLU, medians of the rounds), not for speed. Kept near 25 s on two
cores: the workers' imports (TensorFlow ~8 s) are most of it.
"""

from __future__ import annotations

import json
import math
import statistics

import pytest

from engine.training import FRAMEWORKS, QUICK_MODELS, Framework, build_torch_model, run_training
from reports.training import CLAIM_TEXT, TrainingRecord, claim_sentence, training_markdown, training_to_json

REAL = ["torch", "tensorflow", "jax"]
MODELS = list(QUICK_MODELS)


def _planted_info():
    raise ImportError("planted failure: the framework does not import")


def _planted_steps(spec):
    raise AssertionError("never reached: the framework's info() fails first")


GHOST = Framework("ghost", "softplus_cert_no_such_framework", _planted_steps, _planted_info, "never runs")
BROKEN = Framework("broken", "json", _planted_steps, _planted_info, "raises on import")


@pytest.fixture(scope="module")
def records() -> list[TrainingRecord]:
    # the planted failures first: the real frameworks after them must still run
    return (run_training([GHOST, BROKEN, "torch"], MODELS, quick=True, timeout=120)
            + run_training(["tensorflow", "jax"], ["mlp"], quick=True, timeout=120))


def _of(records, framework):
    return [r for r in records if r.framework == framework]


def test_every_installed_framework_times_a_real_step(records):
    assert [r.framework for r in records].count("torch") == len(MODELS)
    for fw in REAL:
        mine = _of(records, fw)
        assert [r.model for r in mine] == (MODELS if fw == "torch" else ["mlp"])
        if fw != "torch" and all(r.status == "not installed" for r in mine):
            continue  # torch at least must run
        for r in mine:
            assert r.status == "ok", (fw, r.model, r.reason)
            assert r.sizes["inputs"] == QUICK_MODELS[r.model].inputs
            assert r.sizes["hidden"] == list(QUICK_MODELS[r.model].hidden)
            for t in (r.softplus_s, r.relu_s, r.identity_s):
                assert t is not None and math.isfinite(t) and t > 0, (fw, r.model, t)  # a time, not a goal
            assert r.ratio == pytest.approx(r.softplus_s / r.relu_s, rel=1e-12)  # independently computed
            assert r.activation_share == pytest.approx(1 - r.identity_s / r.relu_s, rel=1e-12)
            assert r.repeats == 3
            for act, median in (("softplus", r.softplus_s), ("relu", r.relu_s), ("identity", r.identity_s)):
                assert len(r.samples[act]) == r.repeats and r.loops[act] >= 1
                assert median == statistics.median(r.samples[act])
            pairs = [s / q for s, q in zip(r.samples["softplus"], r.samples["relu"])]
            assert r.ratio_low == min(pairs) and r.ratio_high == max(pairs)
            assert r.paired_ratio == pytest.approx(statistics.median(pairs))
            # the built models computed the MLP with the activation asked for, before any timing
            assert set(r.forward_check) == {"softplus", "relu", "identity"}
            assert all(c["ok"] for c in r.forward_check.values()), r.forward_check
            assert r.threads and r.versions and r.environment.get("cpu")
    torch_rec = _of(records, "torch")[0]
    assert torch_rec.threads["torch.get_num_threads"] >= 1
    assert torch_rec.versions["torch"]


def test_a_framework_not_installed_gives_a_record_saying_so(records):
    mine = _of(records, "ghost")
    assert [r.model for r in mine] == MODELS
    for r in mine:
        assert r.status == "not installed"
        assert "softplus_cert_no_such_framework is not installed" in r.reason
        assert r.softplus_s is None and r.relu_s is None and r.ratio is None


def test_a_failing_framework_gives_failure_records_and_the_others_run(records):
    for r in _of(records, "broken"):
        assert r.status == "error"
        assert "ImportError" in r.reason and "planted failure" in r.reason
        assert r.ratio is None
    assert all(r.status == "ok" for r in _of(records, "torch"))  # after the failure


def test_the_json_section(records, tmp_path):
    from engine.environment import environment
    from reports.speed import write_speed_json

    section = training_to_json(records)
    assert section["unit"] == "seconds per training step"
    assert section["claim"]["text"] == CLAIM_TEXT
    json.dumps(section, allow_nan=False)
    for r in records:
        entry = section["results"][r.framework][r.model]
        for key in ("status", "softplus_s", "relu_s", "identity_s", "ratio", "repeats", "spread", "threads",
                    "versions", "sizes"):
            assert key in entry, key
        if r.status == "ok":
            assert entry["ratio"] == pytest.approx(entry["softplus_s"] / entry["relu_s"])
            assert entry["verdict"]
    assert section["results"]["ghost"]["mlp"]["status"] == "not installed"

    env = environment(None)
    write_speed_json(tmp_path / "with.json", [], env, training=records)
    write_speed_json(tmp_path / "without.json", [], env)
    with_doc = json.loads((tmp_path / "with.json").read_text())
    without = json.loads((tmp_path / "without.json").read_text())
    assert with_doc["training"]["results"]["torch"]["mlp"]["ratio"] == _of(records, "torch")[0].ratio
    assert "training" not in without and without["records"] == []


def test_the_markdown_section(records, tmp_path):
    from engine.environment import environment
    from reports.speed import write_speed_markdown

    text = training_markdown(records)
    assert "## Training step" in text
    torch_mlp = _of(records, "torch")[0]
    assert f"torch, mlp: Softplus step {torch_mlp.ratio:.2f}× ReLU" in text
    assert "the claim: 10–20%" in text
    assert "| model | sizes | Softplus ms/step | ReLU ms/step |" in text
    assert "- ghost, mlp: not installed" in text
    assert "planted failure" in text

    env = environment(None)
    write_speed_markdown(tmp_path / "with.md", [], env, training=records)
    write_speed_markdown(tmp_path / "without.md", [], env)
    assert "torch, mlp: Softplus step" in (tmp_path / "with.md").read_text()
    assert "Training step" not in (tmp_path / "without.md").read_text()


@pytest.mark.parametrize(("ratio", "words", "verdict"), [
    (1.07, "7% slower", "below the claim"), (1.15, "15% slower", "within the claim"),
    (1.204, "20% slower", "within the claim"), (1.25, "25% slower", "above the claim"),
    (0.98, "2% faster", "faster than ReLU, below the claim"), (0.999, "as fast", "below the claim"),
])
def test_the_sentence_beside_the_claim(ratio, words, verdict):
    r = TrainingRecord(framework="torch", model="mlp", softplus_s=ratio * 0.01, relu_s=0.01, ratio=ratio)
    s = claim_sentence(r)
    assert s.startswith(f"torch, mlp: Softplus step {ratio:.2f}× ReLU ({words}")
    assert s.endswith(f"the claim: 10–20% slower ({verdict}).")


def test_the_torch_model_holds_the_activation_asked_for():
    from torch import nn

    spec = QUICK_MODELS["act-heavy"]
    for act, cls in (("softplus", nn.Softplus), ("relu", nn.ReLU)):
        mods = list(build_torch_model(spec, act))
        assert sum(isinstance(m, cls) for m in mods) == len(spec.hidden)
        assert not any(isinstance(m, (nn.Softplus, nn.ReLU)) and not isinstance(m, cls) for m in mods)
        assert [m.out_features for m in mods if isinstance(m, nn.Linear)] == [*spec.hidden, spec.classes]
    assert not any(isinstance(m, (nn.Softplus, nn.ReLU)) for m in build_torch_model(spec, "identity"))


def test_a_model_with_the_wrong_activation_is_refused(monkeypatch):
    """A planted swap (torch's Softplus silently a ReLU) makes the record an error, never a timing."""
    import torch

    monkeypatch.setattr(torch.nn, "Softplus", torch.nn.ReLU)
    (rec,) = run_training(["torch"], ["mlp"], quick=True, isolate=False)
    assert rec.status == "error" and rec.softplus_s is None
    assert "does not compute the MLP with the activation asked for" in rec.reason
    assert not rec.forward_check["softplus"]["ok"] and rec.forward_check["relu"]["ok"]


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown model"):
        run_training(["torch"], ["resnet"], quick=True)
    with pytest.raises(ValueError, match="unknown framework"):
        run_training(["mxnet"], quick=True)
    assert set(FRAMEWORKS) == set(REAL)
