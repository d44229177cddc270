"""How a worker process gets the same target as the main process: by its source and name, or pickled.

A plugin's targets are often objects that do not pickle (classes made inside ``get_targets()``, a lambda, a
lock or an open session held as an attribute), so sending the object itself cannot be the rule. A
:class:`TargetRef` names where the registry found the target — a built-in module, an entry point, a plugin
module (a ``.py`` path or dotted name) — and the target's name; the worker loads that source again and looks
the name up (:meth:`TargetRef.resolve`), and checks that what it finds is of the same class. Only a target
registered in code (``register_target``), which has no source to load, travels pickled, with the plugin
modules loaded first so that its classes can be found.

A TargetRef is small and always pickles; :func:`ref_of` raises :class:`NotSendable` (one line: what the
target is and why neither way works) where a target can be neither located nor pickled.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass

from oracle import implementation
from targets import registry
from targets.base import Target

__all__ = ["TargetRef", "NotSendable", "ref_of"]


class NotSendable(implementation.NotSendable):
    """A target a worker process cannot get: not from a source it can load, and it does not pickle (the
    oracle's :class:`oracle.implementation.NotSendable`, with the target's own advice in its message)."""


@dataclass(frozen=True)
class TargetRef:
    """A target as a worker process can rebuild it.

    ``kind``: "builtin", "entry point", "module" (``spec``: the module, entry point name, or the resolved
    ``.py`` path or dotted name) or "pickle" (``payload``: the pickled target; ``plugins``: modules to load
    before unpickling it). ``name``: the target's name; ``cls``: its class's module and qualified name, checked
    on :meth:`resolve` so that a source that gives a different object under that name is caught.
    """

    name: str
    kind: str
    spec: str = ""
    cls: str = ""
    payload: bytes = b""
    plugins: tuple[str, ...] = ()

    def resolve(self):
        """The target, rebuilt in this process. Raises what loading the source raises, LookupError where the
        source gives no such target (or one of another class)."""
        if self.kind == "pickle":
            for spec in self.plugins:  # their classes must be importable before the target is unpickled
                registry.load_target_module(spec)
            return pickle.loads(self.payload)
        found = [t for t in registry.targets_of_source(self.kind, self.spec) if t.name == self.name]
        if not found:
            raise LookupError(f"{self.kind} {self.spec} gives no target named {self.name!r} in the worker process")
        target = found[0]
        if _class_name(target) != self.cls:
            raise LookupError(f"{self.kind} {self.spec} gives {self.name!r} as a {_class_name(target)} in the "
                              f"worker process, not the {self.cls} of the main process")
        return target

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}{' ' + self.spec if self.spec else ''})"


def _class_name(target) -> str:
    cls = type(target)
    # a plugin file's module name carries a hash of its path: stable between processes on one machine
    return f"{cls.__module__}.{cls.__qualname__}"


def ref_of(target, plugins: list[str] | None = None) -> TargetRef:
    """How a worker gets ``target``: by its registry source where it has one, else pickled (``plugins``:
    modules the worker loads first; default: every plugin module loaded here). NotSendable if neither."""
    source = registry.source_of(target)
    if source is not None:
        return TargetRef(name=target.name, kind=source[0], spec=source[1], cls=_class_name(target))
    try:
        payload = pickle.dumps(target)
    except Exception as e:  # noqa: BLE001 — pickling fails in many ways (PicklingError, TypeError, AttributeError)
        origin = "registered in code" if registry_has(target) else "not registered"
        raise NotSendable(
            f"target {getattr(target, 'name', target)!r} cannot run in a worker process: it is {origin} (no "
            f"module, entry point or built-in to load it from) and does not pickle ({type(e).__name__}: {e}); "
            f"load it with --target-module, or run it in this process (--no-isolation)") from None
    specs = registry.loaded_module_specs() if plugins is None else plugins
    return TargetRef(name=getattr(target, "name", ""), kind="pickle", cls=_class_name(target), payload=payload,
                     plugins=tuple(specs))


def registry_has(target) -> bool:
    """Whether the shared registry holds this very object under its name."""
    try:
        return registry.get_target(target.name) is target
    except (ValueError, AttributeError):
        return False


def _registry_recipe(impl):
    """The recipe finder ``targets`` adds to the oracle (:func:`oracle.implementation.add_recipe_finder`): a
    :class:`~targets.base.Target` by its source (:func:`ref_of`); None for any other object."""
    return ref_of(impl) if isinstance(impl, Target) else None


implementation.add_recipe_finder(_registry_recipe)
