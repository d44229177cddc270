"""Where targets come from: the built-ins, installed plugins (entry points) and modules named at run time.

* Built-ins: ``torch_targets``, ``numpy_targets``, ``tensorflow_targets``, ``jax_targets``, ``scipy_targets``,
  ``compile_targets`` (torch.compile), ``onnxruntime_targets``, ``openvino_targets`` (their ``TARGETS``).
* Entry points in group ``softplus_cert.targets``: each loads a :class:`Target` instance, a Target subclass
  (instantiated without arguments) or a callable returning an iterable of Targets.
* :func:`load_target_module`: a path ending in ``.py`` or a dotted module name whose module has ``get_targets()``
  (called) or ``TARGETS`` (a list of Targets).

Listing never imports a framework: only availability checks and computations do (and only torch-cuda's
availability imports torch, to ask for a device). A plugin that fails to load becomes an unavailable
:class:`BrokenPlugin` named ``plugin:<entry point or spec>`` whose reason says what went wrong; two targets of one
name raise :class:`DuplicateTargetError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import sys
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Iterator

import numpy as np

from oracle.implementation import reason_unavailable  # (re-exported: targets.reason_unavailable)
from targets.base import Target, Unsupported

__all__ = [
    "scratch_registry",
    "ENTRY_POINT_GROUP", "BrokenPlugin", "DuplicateTargetError", "Registry",
    "all_targets", "available_targets", "get_target", "load_target_module", "register_target",
    "reason_unavailable", "loaded_module_specs", "source_of", "targets_of_source",
]

ENTRY_POINT_GROUP = "softplus_cert.targets"
_BUILTIN_MODULES = ("torch_targets", "numpy_targets", "tensorflow_targets", "jax_targets", "scipy_targets",
                    "compile_targets", "onnxruntime_targets", "openvino_targets")


class DuplicateTargetError(ValueError):
    """Two targets claim one name."""


class BrokenPlugin(Target):
    """Stands in for a plugin that failed to load: listed, never available, ``availability()`` says why."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self._reason = reason

    def availability(self) -> str | None:
        return self._reason

    def compute(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        raise Unsupported(self._reason)  # unreachable: validation refuses an unavailable target first

    compute_grad = compute


def _as_targets(obj: Any, origin: str) -> list[Target]:
    """Targets from what a plugin hands over: a Target, a Target subclass, an iterable, or a callable of those."""
    if isinstance(obj, type):
        if not issubclass(obj, Target):
            raise TypeError(f"{origin} gave class {obj.__name__}, which is not a Target subclass")
        obj = obj()
    elif callable(obj) and not isinstance(obj, Target):
        obj = obj()
    if isinstance(obj, Target):
        _check_target(obj, origin)
        return [obj]
    if isinstance(obj, (str, bytes)) or not isinstance(obj, Iterable):
        raise TypeError(f"{origin} gave {type(obj).__name__}; expected Targets")
    out = []
    for item in obj:
        if isinstance(item, type) and issubclass(item, Target):
            item = item()
        _check_target(item, origin)
        out.append(item)
    return out


def _check_target(target: Any, origin: str) -> None:
    if not isinstance(target, Target):
        raise TypeError(f"{origin} gave {type(target).__name__}; expected Target instances")
    if not isinstance(target.name, str) or not target.name:
        raise ValueError(f"{origin}: a target needs a non-empty name, got {target.name!r}")


def _import_spec(spec: str) -> ModuleType:
    """Import a module from a ``.py`` path (under a private unique name) or a dotted module name."""
    if spec.endswith(".py"):
        path = Path(spec).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
        # Unique per path, so two plugins both called plugin.py do not replace each other in sys.modules.
        name = f"_softplus_cert_plugin_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"
        file_spec = importlib.util.spec_from_file_location(name, path)
        if file_spec is None or file_spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(file_spec)
        sys.modules[name] = module  # dataclasses, pickling and relative lookups need the module registered
        try:
            file_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module
    return importlib.import_module(spec)


def _module_targets(module: ModuleType, origin: str) -> list[Target]:
    if callable(getattr(module, "get_targets", None)):
        return _as_targets(module.get_targets, origin)
    if hasattr(module, "TARGETS"):
        return _as_targets(module.TARGETS, origin)
    raise AttributeError(f"{origin} defines neither TARGETS nor get_targets()")


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Registry:
    """A set of targets by unique name. The module-level functions use one shared instance."""

    def __init__(self, builtins: bool = True, entry_points: bool = True) -> None:
        self._targets: dict[str, Target] = {}
        self._origins: dict[str, str] = {}
        # name -> (kind, spec) where a worker process can find the same target again: ("builtin", module),
        # ("entry point", entry point name) or ("module", resolved .py path or dotted name)
        self._sources: dict[str, tuple[str, str]] = {}
        self._modules: dict[str, list[Target]] = {}  # spec -> what it gave, so loading twice is harmless
        self._want_builtins = builtins
        self._want_entry_points = entry_points
        self._started = False

    def register(self, target: Target, origin: str = "registered in code") -> Target:
        """Add one target; DuplicateTargetError if its name is taken, TypeError if it is not a Target."""
        self._start()
        self._add(target, origin)  # no source: a worker cannot rebuild it (it is sent pickled, if it pickles)
        return target

    def load_module(self, spec: str | Path, strict: bool = False) -> list[Target]:
        """Register the targets of a ``.py`` file or dotted module; returns them.

        A module that fails to import or gives no Targets is registered as a :class:`BrokenPlugin` (returned
        too) unless ``strict``, which re-raises. Loading the same spec again returns the first result.
        """
        self._start()
        spec = str(spec)
        key = str(Path(spec).resolve()) if spec.endswith(".py") else spec
        if key in self._modules:
            return self._modules[key]
        origin = f"module {spec}"
        try:
            found = _module_targets(_import_spec(spec), origin)
        except Exception as exc:  # noqa: BLE001 — a plugin's failure is reported, not propagated
            if strict:
                raise
            found = [BrokenPlugin(f"plugin:{spec}", f"{origin} failed to load: {_failure(exc)}")]
        for t in found:
            self._add(t, origin, None if isinstance(t, BrokenPlugin) else ("module", key))
        self._modules[key] = found
        return found

    def all(self) -> list[Target]:
        """Every target, available or not, in registration order (built-ins, entry points, modules)."""
        self._start()
        return list(self._targets.values())

    def available(self) -> list[Target]:
        """The targets whose ``availability()`` is None (one that raises counts as unavailable)."""
        return [t for t in self.all() if reason_unavailable(t) is None]

    def get(self, name: str) -> Target:
        """The target of that name; ValueError listing the known names otherwise."""
        self._start()
        try:
            return self._targets[name]
        except KeyError:
            raise ValueError(f"unknown target {name!r}; known: {', '.join(self._targets)}") from None

    def source(self, target: Target) -> tuple[str, str] | None:
        """(kind, spec) of where this very target object came from, for a worker process to load it again
        (:func:`targets_of_source`); None for one registered in code, or not registered here."""
        self._start()
        if self._targets.get(getattr(target, "name", None)) is not target:
            return None
        return self._sources.get(target.name)

    def _add(self, target: Target, origin: str, source: tuple[str, str] | None = None) -> None:
        _check_target(target, origin)
        if target.name in self._targets:
            raise DuplicateTargetError(
                f"target name {target.name!r} from {origin} is already taken by {self._origins[target.name]}"
            )
        self._targets[target.name] = target
        self._origins[target.name] = origin
        if source is not None:
            self._sources[target.name] = source

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        if self._want_builtins:
            for mod in _BUILTIN_MODULES:
                module = importlib.import_module(f"{__package__}.{mod}")
                for t in module.TARGETS:
                    self._add(t, f"built-in {mod}", ("builtin", module.__name__))
        if self._want_entry_points:
            self._load_entry_points()

    def _load_entry_points(self) -> None:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            origin = f"entry point {ep.name} = {ep.value}"
            try:
                found = _as_targets(ep.load(), origin)
            except Exception as exc:  # noqa: BLE001 — a plugin's failure is reported, not propagated
                found = [BrokenPlugin(f"plugin:{ep.name}", f"{origin} failed to load: {_failure(exc)}")]
            for t in found:
                self._add(t, origin, None if isinstance(t, BrokenPlugin) else ("entry point", ep.name))


_default = Registry()


@contextlib.contextmanager
def scratch_registry() -> Iterator[Registry]:
    """An empty registry as the default one for the length of the block (the built-ins load into it on first
    use, as at start-up), and the one before it back afterwards: a test, or an author trying a target out,
    registers targets without leaving them behind."""
    global _default
    before, _default = _default, Registry()
    try:
        yield _default
    finally:
        _default = before


def all_targets() -> list[Target]:
    """Every registered target, unavailable ones included (ask each ``availability()`` why)."""
    return _default.all()


def available_targets() -> list[Target]:
    """The registered targets that can run here."""
    return _default.available()


def get_target(name: str) -> Target:
    """The registered target named ``name``; ValueError listing the known names if there is none."""
    return _default.get(name)


def load_target_module(spec: str | Path, strict: bool = False) -> list[Target]:
    """Register the targets of a ``.py`` file or dotted module (see :meth:`Registry.load_module`)."""
    return _default.load_module(spec, strict)


def register_target(target: Target) -> Target:
    """Register one target instance in the shared registry; returns it."""
    return _default.register(target)


def loaded_module_specs() -> list[str]:
    """The plugin modules loaded so far (resolved .py paths or dotted names), e.g. to load them again in a
    worker process before its targets are unpickled there."""
    return list(_default._modules)


def source_of(target: Target) -> tuple[str, str] | None:
    """Where the shared registry got this target object: ("builtin", module), ("entry point", name) or
    ("module", spec); None for a target registered in code or not registered (see :class:`Registry.source`)."""
    return _default.source(target)


def targets_of_source(kind: str, spec: str) -> list[Target]:
    """The targets a source gives in this process (a worker rebuilding a target by its source): a built-in
    module's TARGETS, one entry point's, or a plugin module's (loaded into the shared registry, strictly:
    its failure raises). Raises what the source raises; LookupError for an unknown kind or entry point."""
    if kind == "builtin":
        return list(importlib.import_module(spec).TARGETS)
    if kind == "entry point":
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name == spec:
                return _as_targets(ep.load(), f"entry point {ep.name} = {ep.value}")
        raise LookupError(f"no entry point {spec!r} in group {ENTRY_POINT_GROUP} here")
    if kind == "module":
        return load_target_module(spec, strict=True)
    raise LookupError(f"unknown target source {kind!r}")
