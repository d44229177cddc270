"""The implementations under test: softplus and its derivative as each framework computes them.

Importing this package imports no framework (torch, TensorFlow and JAX load on first use). Public API:

* contract: :class:`Target`, :class:`Params`, :class:`Unsupported`, :class:`TargetOutputError`
* discovery: :func:`all_targets`, :func:`available_targets`, :func:`get_target`, :func:`load_target_module`,
  :func:`register_target`, :class:`Registry`, ``ENTRY_POINT_GROUP``

A backend author starts from ``targets/example.py``.
"""

from targets import locate  # noqa: F401 — teaches the oracle to send a target to worker processes by its source
from targets.base import Params, Target, TargetOutputError, Unsupported
from targets.registry import (
    ENTRY_POINT_GROUP,
    BrokenPlugin,
    DuplicateTargetError,
    Registry,
    all_targets,
    available_targets,
    get_target,
    load_target_module,
    reason_unavailable,
    register_target,
)

__all__ = [
    "Params", "Target", "TargetOutputError", "Unsupported",
    "ENTRY_POINT_GROUP", "BrokenPlugin", "DuplicateTargetError", "Registry",
    "all_targets", "available_targets", "get_target", "load_target_module", "reason_unavailable",
    "register_target",
]
