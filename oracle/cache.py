"""On-disk tables of f(x) for every bit pattern of the 8- and 16-bit formats at β = 1.

A table is a little-endian array of result bit patterns indexed by input bit pattern, stored as
``<format>-<fn>-v<ORACLE_VERSION>.bin`` with a sidecar ``.json`` holding its SHA-256 and what it was built
from. A table whose checksum, size or metadata does not match is rebuilt, never trusted; a table is written
to a temporary file and renamed into place, so an interrupted build leaves nothing half-written.

Location: ``$SOFTPLUS_CERT_CACHE`` if set, else ``$XDG_CACHE_HOME/softplus-cert``, else
``~/.cache/softplus-cert``. An unwritable location is not an error: the table is then kept in memory only.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from oracle.files import atomic_write
from oracle.formats import Format

__all__ = ["ORACLE_VERSION", "atomic_write", "cache_dir", "table", "table_path", "clear_memory"]

#: Bump whenever a change could alter any correctly rounded result: old tables then count as stale.
ORACLE_VERSION = 1

_MEMORY: dict[tuple[str, str], np.ndarray] = {}


def cache_dir() -> Path:
    env = os.environ.get("SOFTPLUS_CERT_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "softplus-cert"


def table_path(fmt: Format, fn: str) -> Path:
    return cache_dir() / f"{fmt.name}-{fn}-v{ORACLE_VERSION}.bin"


def _meta(fmt: Format, fn: str, digest: str) -> dict:
    return {"format": fmt.name, "fn": fn, "beta": 1.0, "oracle_version": ORACLE_VERSION,
            "entries": 1 << fmt.bits, "dtype": f"<u{fmt.bits // 8}", "sha256": digest}


def _load(fmt: Format, fn: str) -> np.ndarray | None:
    path = table_path(fmt, fn)
    try:
        raw = path.read_bytes()
        meta = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return None
    if meta != _meta(fmt, fn, hashlib.sha256(raw).hexdigest()):
        return None  # corrupt, truncated, or built by another oracle version
    return np.frombuffer(raw, dtype=np.dtype(fmt.uint).newbyteorder("<")).astype(fmt.uint)


def _store(fmt: Format, fn: str, bits: np.ndarray) -> None:
    raw = bits.astype(np.dtype(fmt.uint).newbyteorder("<")).tobytes()
    path = table_path(fmt, fn)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # The table first, its checksum last: a crash in between leaves a mismatch, i.e. a rebuild.
        atomic_write(path, raw)
        atomic_write(path.with_suffix(".json"),
                      json.dumps(_meta(fmt, fn, hashlib.sha256(raw).hexdigest())).encode())
    except OSError:
        pass  # read-only home, full disk: the in-memory table still serves this process


def table(fmt: Format, fn: str, build: Callable[[], np.ndarray]) -> np.ndarray:
    """Correctly rounded f(x) bit patterns for every bit pattern x of an 8/16-bit format, β = 1: from memory,
    from the file, or from ``build()`` (then stored). The builder is the caller's
    (:func:`oracle.evaluate.exhaustive_table`): this module only keeps tables, it does not compute them."""
    key = (fmt.name, fn)
    if key not in _MEMORY:
        bits = _load(fmt, fn)
        if bits is None:
            bits = build()
            _store(fmt, fn, bits)
        bits.setflags(write=False)
        _MEMORY[key] = bits
    return _MEMORY[key]


def clear_memory() -> None:
    """Forget the tables held in memory (the next use reads or rebuilds the files)."""
    _MEMORY.clear()
