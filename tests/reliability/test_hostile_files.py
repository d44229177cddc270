"""Hostile files: certificates and shard files that are malformed, edited or cut short.

Each gives one line and exit status 2, and nothing already written is touched. The parsers are fuzzed with
hypothesis: whatever the bytes, they accept the file or raise their own error naming it, never anything else.
"""

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.certificate import CertificateError, load_certificate
from softplus_cert.cli import main
from engine.exhaustive_runs import ShardError, shard_digest, merge_shards, read_shard

SCALE_PLUGIN = str(Path(__file__).parents[1] / "scale" / "scale_targets.py")
SHARD_RUN = ["report", "--target-module", SCALE_PLUGIN, "--targets", "faulty", "--dtypes", "float16",
             "--functions", "softplus", "--betas", "1", "--thresholds", "default", "--exhaustive", "--chunk", "4096",
             "--jobs", "1", "--quiet", "--skip-layout"]
TORCH_CERT = Path(__file__).parents[2] / "targets" / "certificates" / "torch-cpu.toml"


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("shards")
    for i in (1, 2):
        assert main([*SHARD_RUN, "--shard", f"{i}/2", "--out", str(out)]) in (0, 3)
    return [out / "shard-1-of-2.json", out / "shard-2-of-2.json"]


def _one_line_exit_2(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


# --- certificates -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, words", [
    ('target = "numpy-stable"\n[[budget]]\nmax_ulp = nan\nreason = "r"\n', "'max_ulp' must be >= 0"),
    ('target = "numpy-stable"\n[[budget]]\nmax_ulp = 1\nreason = "r"\nmax_ulps = 2\n', "unknown key 'max_ulps'"),
    ('target = "numpy-stable"\nbudgets = []\n', "unknown top-level key"),
    ('target = "numpy-stable"\n[[budget]\nmax_ulp = 1\n', "not valid TOML"),
    ('target = "numpy-stable"\n[[budget]]\nmax_ulp = 1\n', "key 'reason' is required"),
    ('target = "numpy-stable"\n[[budget]]\nnonfinite = inf\nmax_ulp = 1\nreason = "r"\n', "wrong type"),
    ('target = "numpy-stable"\n[[budget]]\nmax_ulp = 1\nnan = -1\nreason = "r"\n', "must be finite and >= 0"),
], ids=["nan-budget", "unknown-key", "unknown-table", "malformed", "no-reason", "infinite-count", "negative-count"])
def test_a_bad_certificate_is_one_line_before_anything_runs_and_the_last_report_survives(tmp_path, capsys, text,
                                                                                           words):
    out = tmp_path / "out"
    out.mkdir()
    (out / "accuracy.json").write_text("the previous run's report")
    cert = tmp_path / "bad.toml"
    cert.write_text(text)
    line = _one_line_exit_2(capsys, ["certify", "--targets", "numpy-stable", "--certificate", str(cert),
                                     "--quiet", "--out", str(out)])
    assert str(cert) in line and words in line
    assert (out / "accuracy.json").read_text() == "the previous run's report"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_an_edited_certificate_is_accepted_or_named_never_a_crash(tmp_path, data):
    text = TORCH_CERT.read_text()
    edited = _mutate(data, text)
    p = tmp_path / "edited.toml"
    p.write_text(edited, encoding="utf-8")
    try:
        cert = load_certificate(p)
    except CertificateError as e:
        assert str(e).startswith(str(p)) and "\n" not in str(e).strip()
        return
    assert cert.target and all(e["reason"] for e in cert.entries)


def _mutate(data, text: str) -> str:
    """An edit as a person (or a bad disk) makes it: cut short, a span deleted, replaced or repeated."""
    n = len(text)
    i = data.draw(st.integers(0, n), label="at")
    j = data.draw(st.integers(i, min(n, i + 40)), label="to")
    kind = data.draw(st.sampled_from(["truncate", "delete", "replace", "repeat"]), label="edit")
    if kind == "truncate":
        return text[:i]
    if kind == "delete":
        return text[:i] + text[j:]
    if kind == "repeat":
        return text[:j] + text[i:j] + text[j:]
    junk = data.draw(st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
                     | st.sampled_from(["nan", "inf", "-1", "1e999", '"', "[[budget]]", "= =", "\x00"]),
                     label="junk")
    return text[:i] + junk + text[j:]


# --- shard files --------------------------------------------------------------------------------------------

def test_shards_merge_when_intact(shards, tmp_path):
    verdicts, env = merge_shards(shards)
    assert len(verdicts) == 1 and len(env["shards"]) == 2


def test_a_truncated_shard_is_one_line_and_the_others_are_kept(shards, tmp_path, capsys):
    cut = tmp_path / "shard-2-of-2.json"
    text = shards[1].read_text()
    cut.write_text(text[: len(text) // 2])
    line = _one_line_exit_2(capsys, ["merge", str(shards[0]), str(cut), "--out", str(tmp_path / "m")])
    assert str(cut) in line and "cut short" in line
    assert read_shard(shards[0])  # the finished shard is untouched and still merges
    assert not (tmp_path / "m").exists()


def test_an_edited_shard_is_refused_by_itsshard_digest(shards, tmp_path, capsys):
    doc = json.loads(shards[1].read_text())
    doc["records"][0]["tally"]["nan_count"] += 1  # a count changed by hand: still valid JSON and structure
    edited = tmp_path / "shard-2-of-2.json"
    edited.write_text(json.dumps(doc))
    line = _one_line_exit_2(capsys, ["merge", str(shards[0]), str(edited), "--out", str(tmp_path / "m")])
    assert str(edited) in line and "edited or damaged" in line and "run that shard again" in line


def test_a_shard_of_the_older_schema_is_refused_with_the_fix(shards, tmp_path, capsys):
    doc = json.loads(shards[1].read_text())
    doc["schema"] = "softplus-cert/shard/1"
    doc.pop("digest")
    old = tmp_path / "shard-2-of-2.json"
    old.write_text(json.dumps(doc))
    line = _one_line_exit_2(capsys, ["merge", str(shards[0]), str(old), "--out", str(tmp_path / "m")])
    assert "older softplus-cert" in line


#: What read_shard says of a file whose bytes were damaged: unreadable JSON, not a shard, or edited.
DAMAGE_REASONS = ("not JSON", "not a shard file of schema", "does not match its digest")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_shard_bytes_are_named_never_a_crash(shards, tmp_path, data):
    """A damaged file is refused with its own path first and one of read_shard's reasons for refusing it.
    The old check (the path, or the word "shard", anywhere in the message) passed whatever the message said:
    the path itself holds "shard" (pytest's folder is named after this test). The file is now named
    without it, and the message must start with the damaged file's path (not the intact one's) and say
    what is wrong with it."""
    text = shards[1].read_text()
    p = tmp_path / "damaged-2-of-2.json"
    p.write_text(_mutate(data, text), encoding="utf-8")
    try:
        merge_shards([shards[0], p])
    except ShardError as e:
        msg = str(e)
        assert msg.startswith(f"{p}: ") and any(r in msg for r in DAMAGE_REASONS), msg
        assert "\n" not in msg


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 1 << 40) | st.floats(allow_nan=False,
                                                                                        allow_infinity=False)
                     | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                  max_size=3), max_leaves=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_structurally_edited_shards_with_a_valid_digest_are_named_never_a_crash(shards, tmp_path, data):
    """The digest re-signed after the edit: the structure checks and the merge must stand on their own."""
    doc = json.loads(shards[1].read_text())
    node, path = doc, []
    while isinstance(node, (dict, list)) and node and data.draw(st.booleans(), label="deeper"):
        key = data.draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))), label="key")
        path.append((node, key))
        node = node[key]
    if path:
        parent, key = path[-1]
        if data.draw(st.booleans(), label="delete") and isinstance(parent, dict):
            del parent[key]
        else:
            parent[key] = data.draw(_JSON, label="value")
    else:
        doc = data.draw(_JSON, label="document")
        doc = doc if not isinstance(doc, dict) else {**doc, "schema": "softplus-cert/shard/2"}
    if isinstance(doc, dict):
        doc["digest"] = shard_digest(doc)
    p = tmp_path / "shard-2-of-2.json"
    p.write_text(json.dumps(doc), encoding="utf-8")
    try:
        merge_shards([shards[0], p])
    except ShardError as e:
        assert "\n" not in str(e)


def test_the_structure_fuzzer_can_fail(shards, tmp_path, monkeypatch):
    """Planted: without the structure checks, a re-signed edit ends in an exception other than ShardError."""
    import engine.exhaustive_runs as ex

    doc = json.loads(shards[1].read_text())
    doc["shard"] = "2/2"
    doc["digest"] = shard_digest(doc)
    p = tmp_path / "shard-2-of-2.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(ShardError, match="'shard' must be"):
        merge_shards([shards[0], p])
    monkeypatch.setattr(ex, "shape_problem", lambda doc: None)
    with pytest.raises(Exception) as caught:
        merge_shards([shards[0], p])
    assert not isinstance(caught.value, ShardError)
    shutil.rmtree(tmp_path, ignore_errors=True)
