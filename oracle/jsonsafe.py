"""Records as JSON: non-finite floats as the strings "inf", "-inf" and "nan", and back.

JSON has no infinities or NaN, and the reports hold many (an infinite error is a finding). Leaf module.
"""

from __future__ import annotations

import math

__all__ = ["json_safe", "from_json_safe"]


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
