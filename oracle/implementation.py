"""What the oracle needs from an implementation under test, and how its failures read.

The judge, the exhaustive engine, agreement and the layout checks measure any object that has the shape of
:class:`Implementation`; ``targets.base.Target`` is one, ``engine.isolation.IsolatedTarget`` another (its
calls run in a worker process), a test's duck-typed object a third. This module is a leaf: it imports
nothing else of the project, and ``oracle/`` never imports ``targets/`` or ``reports/`` — the dependency runs
one way, targets → oracle.

Required: ``name``, ``softplus(x, beta, threshold)`` and ``softplus_grad(x, beta, threshold)`` (NumPy arrays
of the format under test in and out), ``check(fmt_name, beta, threshold)`` (None or why it declines).
Optional, looked up where used (a missing one means "nothing to say"): ``device`` ("cpu"),
``availability()`` (None or why it cannot run here), ``switch_points(fmt, beta, threshold)``,
``code_path()``, ``versions()``, ``params``; ``previous_failure(fmt, fn)`` and
``remember_failure(fmt, fn, reason)`` (an implementation that remembers calls that hung or crashed);
``recipe()`` (a :class:`Recipe`: how another process gets the same implementation) and ``worker_env``
(environment variables a process computing for it must start with).

Failures a call can end in, each with a one-line ``str()``: :class:`TargetRaised`, :class:`TargetTimeout`,
:class:`TargetCrashed`, :class:`TargetSkipped` (all :class:`TargetFailure`), and
:class:`TargetOutputError` for a result of the wrong kind, dtype or shape (:func:`output_problem` says
which).
"""

from __future__ import annotations

import math
import pickle
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

import numpy as np

__all__ = ["Implementation", "Recipe", "PickledRecipe", "NotSendable", "TargetFailure", "TargetRaised",
           "TargetTimeout", "TargetCrashed", "TargetSkipped", "NO_RETRY", "TargetOutputError", "output_problem",
           "checked_output", "describe_failure", "caller", "reason_unavailable", "unsupported_reason",
           "code_path_of", "switch_points_of", "previous_failure", "remember_failure", "recipe_of",
           "add_recipe_finder", "worker_env_of"]


@runtime_checkable
class Implementation(Protocol):
    """The shape of an implementation under test (see the module doc for the optional parts)."""

    name: str

    def softplus(self, x: np.ndarray, beta: float = 1.0, threshold: float | None = None) -> np.ndarray: ...

    def softplus_grad(self, x: np.ndarray, beta: float = 1.0, threshold: float | None = None) -> np.ndarray: ...

    def check(self, fmt: str, beta: float = 1.0, threshold: float | None = None) -> str | None: ...


class Recipe(Protocol):
    """How a worker process (local or on a cluster) rebuilds an implementation: it pickles, and
    ``resolve()`` in the worker returns the implementation (``targets.locate.TargetRef`` is one)."""

    def resolve(self) -> Implementation: ...


class PickledRecipe:
    """The recipe of an implementation that knows no source to be loaded from: the object, pickled."""

    def __init__(self, impl: Any) -> None:
        try:
            self.payload = pickle.dumps(impl)
        except Exception as e:  # noqa: BLE001 — pickling fails in many ways
            raise NotSendable(f"{getattr(impl, 'name', impl)!r} cannot run in a worker process: it has no "
                              f"recipe() and does not pickle ({type(e).__name__}: {e})") from None

    def resolve(self) -> Any:
        return pickle.loads(self.payload)


class NotSendable(TypeError):
    """An implementation a worker process cannot get: no source it can load, and it does not pickle."""


# --- failures -----------------------------------------------------------------------------------------------

class TargetFailure(RuntimeError):
    """A call that produced no result; ``str()`` is the cause in one line."""


class TargetRaised(TargetFailure):
    """The implementation raised. ``type_name`` is the exception's class name, ``detail`` its traceback."""

    def __init__(self, type_name: str, message: str, detail: str = "") -> None:
        super().__init__(f"raised {type_name}: {message}")
        self.type_name, self.message, self.detail = type_name, message, detail


class TargetTimeout(TargetFailure):
    """No answer in time; the process computing it was killed."""


class TargetCrashed(TargetFailure):
    """The process computing it died."""


class TargetSkipped(TargetFailure):
    """Not tried: a call of this kind timed out or crashed earlier (``str()`` starts with "skipped: ")."""


#: Failures not worth a second call on a smaller input (each costs a worker's restart, or nothing was tried).
NO_RETRY = (TargetTimeout, TargetCrashed, TargetSkipped)


class TargetOutputError(RuntimeError):
    """An implementation or its framework returned something other than an array of the input's dtype and
    shape."""


def output_problem(y: Any, x: np.ndarray) -> str | None:
    """What is wrong with a result ``y`` for input ``x`` ("returned float64 for float16 input"), or None
    when it is a NumPy array of x's dtype and shape."""
    if not isinstance(y, np.ndarray):
        return f"returned {type(y).__module__}.{type(y).__name__} instead of a NumPy array"
    if y.dtype != x.dtype:
        return f"returned {y.dtype} for {x.dtype} input"
    if y.shape != x.shape:
        return f"returned shape {y.shape} for input of shape {x.shape}"
    return None


def checked_output(y: Any, x: np.ndarray) -> np.ndarray:
    """y itself if it is an array of x's dtype and shape; else a TypeError saying what came back."""
    problem = output_problem(y, x)
    if problem is not None:
        raise TypeError(problem)
    return y


def describe_failure(exc: BaseException) -> str:
    """A failed call in one line: a :class:`TargetFailure` already reads "raised X: …", "timed out …",
    "crashed: SIGSEGV"; any other exception reads "raised <type>: <message>"."""
    return str(exc) if isinstance(exc, TargetFailure) else f"raised {type(exc).__name__}: {exc}"


# --- asking an implementation ---------------------------------------------------------------------------------

def caller(impl: Implementation, fn: str, beta: float, threshold) -> Callable[[np.ndarray], np.ndarray]:
    """x ↦ the implementation's ``fn`` ("softplus" or "softplus_grad") at (β, threshold)."""
    method = impl.softplus if fn == "softplus" else impl.softplus_grad
    return lambda x: method(x, beta, threshold)


def reason_unavailable(impl: Implementation) -> str | None:
    """``impl.availability()`` (None where it has none), an exception from it turned into the reason."""
    get = getattr(impl, "availability", None)
    if get is None:
        return None
    try:
        return get()
    except Exception as exc:  # noqa: BLE001 — a plugin's bug is a reason, not a crash
        return f"availability check failed: {type(exc).__name__}: {exc}"


def unsupported_reason(impl: Implementation, fmt: str, beta: float, threshold) -> str | None:
    """Why ``impl`` cannot be judged on this combination ("unavailable: …" or its own reason), or None."""
    avail = reason_unavailable(impl)
    if avail is not None:
        return f"unavailable: {avail}"
    return impl.check(fmt, beta, threshold)


def code_path_of(impl: Implementation) -> dict[str, str]:
    """The implementation's ``code_path()`` as strings, {"path": "unknown", "error": ...} where it fails (a
    plugin's bug must not sink the verdict) and {} for an object without one."""
    get = getattr(impl, "code_path", None)
    if get is None:
        return {}
    try:
        return {str(k): str(val) for k, val in dict(get()).items()}
    except Exception as exc:  # noqa: BLE001
        return {"path": "unknown", "error": f"{type(exc).__name__}: {exc}"}


def switch_points_of(impl: Implementation, fmt: str, beta: float, threshold) -> list[float]:
    """The finite inputs where the implementation declares a formula switch ([] where it declares none)."""
    get = getattr(impl, "switch_points", None)
    return [float(s) for s in (get(fmt, beta, threshold) if get else []) if math.isfinite(s)]


def previous_failure(impl: Implementation, fmt: str, fn: str) -> str | None:
    """Why not to call it again for this kind of call (it hung or crashed on one: "skipped: …"), or None
    (always for an implementation that keeps no such memory)."""
    get = getattr(impl, "previous_failure", None)
    return get(fmt, fn) if get is not None else None


def remember_failure(impl: Implementation, fmt: str, fn: str, reason: str) -> None:
    """Tell an implementation that remembers failures that ``fn`` in ``fmt`` timed out or crashed elsewhere
    (on a pool or a cluster); nothing for any other."""
    put = getattr(impl, "remember_failure", None)
    if put is not None:
        put(fmt, fn, reason)


_RECIPE_FINDERS: list[Callable[[Any], "Recipe | None"]] = []


def add_recipe_finder(find: Callable[[Any], "Recipe | None"]) -> None:
    """Teach :func:`recipe_of` another way to send implementations: ``find(impl)`` gives a recipe for the ones
    it knows, None for the others. ``targets`` adds its registry's (a target by the module, entry point or
    built-in it came from: a plugin's target that does not pickle still reaches a pool's workers)."""
    if find not in _RECIPE_FINDERS:
        _RECIPE_FINDERS.append(find)


def recipe_of(impl: Implementation) -> Recipe:
    """How a worker process gets ``impl``: its own ``recipe()`` where it has one, else the first recipe
    finder's (:func:`add_recipe_finder`), else the object pickled. :class:`NotSendable` (a TypeError, one
    line) where none works."""
    get = getattr(impl, "recipe", None)
    if get is not None:
        return get()
    for find in _RECIPE_FINDERS:
        recipe = find(impl)
        if recipe is not None:
            return recipe
    return PickledRecipe(impl)


def worker_env_of(impl: Implementation) -> Mapping[str, str]:
    """The environment a process computing for ``impl`` must start with ({} for none)."""
    return dict(getattr(impl, "worker_env", None) or {})
