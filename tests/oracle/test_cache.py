"""The on-disk tables: built once, checksummed, rebuilt when corrupt or stale, never trusted blindly."""

import json
import os

import numpy as np
import pytest

import oracle
from oracle import cache
from oracle.evaluate import exhaustive_table
from oracle.evaluate import compute_bits, to_float64
from oracle.formats import get_format


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SOFTPLUS_CERT_CACHE", str(tmp_path))
    cache.clear_memory()
    yield tmp_path
    cache.clear_memory()


def _reference(fmt, fn):
    return compute_bits(to_float64(fmt.all_values()), 1.0, fn, fmt)


def test_built_stored_and_reused(fresh_cache):
    fmt = get_format("float8_e5m2")
    t = exhaustive_table(fmt, "softplus")
    path = cache.table_path(fmt, "softplus")
    assert path.exists() and path.with_suffix(".json").exists()
    assert (t == _reference(fmt, "softplus")).all()
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["oracle_version"] == cache.ORACLE_VERSION and meta["entries"] == 256


def test_corrupt_table_is_rebuilt(fresh_cache):
    fmt = get_format("float16")
    good = exhaustive_table(fmt, "softplus_grad").copy()
    path = cache.table_path(fmt, "softplus_grad")
    raw = bytearray(path.read_bytes())
    raw[2 * 15360] ^= 0x01  # flip one bit of sigmoid(1.0)
    path.write_bytes(bytes(raw))
    cache.clear_memory()
    assert (exhaustive_table(fmt, "softplus_grad") == good).all()
    assert path.read_bytes() != bytes(raw)  # rewritten


@pytest.mark.parametrize("damage", ["truncate", "no_meta", "stale_version", "bad_json"])
def test_damaged_or_stale_cache_is_rebuilt(fresh_cache, damage):
    fmt = get_format("float8_e4m3fn")
    good = exhaustive_table(fmt, "softplus").copy()
    path = cache.table_path(fmt, "softplus")
    meta = path.with_suffix(".json")
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "no_meta":
        meta.unlink()
    elif damage == "stale_version":
        m = json.loads(meta.read_text())
        m["oracle_version"] -= 1
        meta.write_text(json.dumps(m))
    else:
        meta.write_text("{not json")
    cache.clear_memory()
    assert (exhaustive_table(fmt, "softplus") == good).all()


def test_wrong_but_checksummed_table_still_detected_by_metadata(fresh_cache):
    # A table of another format under this name: the metadata (format, size) does not match.
    fmt = get_format("float8_e5m2")
    exhaustive_table(fmt, "softplus")
    path = cache.table_path(fmt, "softplus")
    m = json.loads(path.with_suffix(".json").read_text())
    m["format"] = "float8_e4m3fn"
    path.with_suffix(".json").write_text(json.dumps(m))
    cache.clear_memory()
    assert (exhaustive_table(fmt, "softplus") == _reference(fmt, "softplus")).all()


def test_unwritable_cache_dir_still_works(tmp_path, monkeypatch):
    target = tmp_path / "ro"
    target.mkdir()
    os.chmod(target, 0o500)
    monkeypatch.setenv("SOFTPLUS_CERT_CACHE", str(target / "sub"))
    cache.clear_memory()
    try:
        x = np.array([0.0, 1.0], dtype=np.float16)
        if os.access(target, os.W_OK):  # root ignores permissions: make the path a file instead
            monkeypatch.setenv("SOFTPLUS_CERT_CACHE", str(tmp_path / "file"))
            (tmp_path / "file").write_text("")
        y = oracle.softplus(x)
        assert float(y[0]) == pytest.approx(0.693, abs=1e-3)
    finally:
        cache.clear_memory()
        os.chmod(target, 0o700)


def test_lookup_equals_computation_for_16_bit_formats(fresh_cache):
    for name in ("float16", "bfloat16"):
        fmt = get_format(name)
        x = fmt.all_values()
        for fn in ("softplus", "softplus_grad"):
            via_table = fmt.to_bits(oracle.evaluate.correctly_rounded(x, fn))
            assert (via_table == _reference(fmt, fn)).all()
