"""The project's two file conventions, kept once for every layer: a file is written whole or not at all, and
a record in JSON keeps its non-finite floats as the strings "inf", "-inf" and "nan".

* :func:`atomic_write` / :func:`atomic_write_text`: through a temporary file and a rename, so a reader (or a
  run interrupted mid-write) sees the old file or the new one, never half a file. The oracle's cache, the
  reports, checkpoints, shard files and drafted certificates all write through it.
* :func:`json_safe` / :func:`from_json_safe`: JSON has no infinities or NaN, and the records hold many (an
  infinite error is a finding, a speed ratio of a failed kernel is NaN); :func:`dumps` writes a record with
  them that way and refuses anything else that is not JSON.

Leaf module: it imports nothing of the project.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["atomic_write", "atomic_write_text", "json_safe", "from_json_safe", "dumps"]


def json_safe(v):
    """``v`` with every non-finite float (in dicts, lists and tuples too) as "inf", "-inf" or "nan"."""
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, dict):
        return {k: json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    return v


_SPECIAL_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def from_json_safe(v):
    """The inverse of :func:`json_safe` (tuples come back as lists)."""
    if isinstance(v, str) and v in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[v]
    if isinstance(v, dict):
        return {k: from_json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [from_json_safe(x) for x in v]
    return v


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename: readers see the old or the new file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide reports from other users
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path: Path | str, text: str) -> None:
    """``text`` (UTF-8) into ``path`` as :func:`atomic_write` does, its directory created first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text.encode("utf-8"))


def dumps(record: Any, *, indent: int | None = None) -> str:
    """``record`` as JSON text with the non-finite floats as strings (:func:`json_safe`); compact unless
    ``indent``. ValueError for anything else JSON cannot hold."""
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(json_safe(record), separators=separators, indent=indent, allow_nan=False)
