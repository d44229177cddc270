"""Running a target in a worker process, so that a crash, a hang or a runaway allocation stays there.

:class:`IsolatedTarget` wraps a :class:`~targets.base.Target`: everything cheap (name, formats, ``check``,
switch points, versions) is answered in this process; ``softplus``, ``softplus_grad``, ``set_threads`` and
``code_path`` (the instruction-set path is the worker's, which may be capped by ``env``) run in a worker
process started with ``spawn`` (fork is unsafe once torch, TensorFlow or XLA have started their thread
pools). The worker gets the target by its source and name (:mod:`targets.locate`: the plugin module or entry
point is loaded again there), so targets that do not pickle are isolated too; it says "ready" once it has
the target, so a plugin that fails, hangs or crashes while loading is told apart from one that fails
computing. The worker lives as long as the wrapper, so the framework is imported once per target and a
well-behaved target pays only the pickling of its arrays through a pipe. Arrays keep their memory layout on
the way (a sliced or transposed view arrives as such a view, not as the contiguous copy pickle would make),
results that are not NumPy arrays are refused in the worker (a torch tensor never reaches this process), and
a thread count set with ``set_threads`` is set again in a worker started after a crash.

Failures come back as exceptions of their own kind, each with a one-line cause:

* :class:`TargetRaised` — the target raised (type, message and the worker's traceback are kept);
* :class:`TargetTimeout` — no answer within ``timeout`` seconds: the worker is killed;
* :class:`TargetCrashed` — the worker died (segfault, abort, out-of-memory kill): "crashed: SIGSEGV";
* :class:`TargetSkipped` — not tried: this kind of call timed out or crashed earlier in this wrapper's life.

**A dead target costs one timeout.** After a timeout or a crash of a call kind — ``softplus`` or
``softplus_grad`` in one format, or any other method — the wrapper remembers it, and every later call of that
kind fails at once with :class:`TargetSkipped` ("skipped: an earlier float32 softplus call of this run timed
out after 60 s") instead of waiting again; a worker that cannot even load the target makes every call fail
so. :meth:`IsolatedTarget.previous_failure` tells callers (the judge, the layout check, the speed report)
before they start; :meth:`IsolatedTarget.remember_failure` lets a process pool that ran the target on its
own report what it saw. Calls of other kinds start a fresh worker.

``memory_limit`` (bytes) caps the worker's address space (RLIMIT_AS), so an allocation storm ends as a
MemoryError or a crash of the worker alone. ``env`` (variable → value) is set in the worker's environment
before it starts, so frameworks read it at import: ``targets.cpu_path.cap_changes()`` holds them to AVX2
in that worker alone.
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Any, Callable, Mapping

import numpy as np

from oracle.implementation import (NO_RETRY, TargetCrashed, TargetFailure, TargetOutputError, TargetRaised,
                                   TargetSkipped, TargetTimeout, output_problem)
from oracle.workers import (DEFAULT_TIMEOUT, describe_exit, environ_applied, failure_payload, limit_memory,
                            prepare_worker, run_in_fresh_process)

from .locate import TargetRef, ref_of

# the failure types and process helpers live in the oracle (which measures any implementation); they are
# named here too, where a target author looks for them
__all__ = ["IsolatedTarget", "TargetFailure", "TargetRaised", "TargetTimeout", "TargetCrashed", "TargetSkipped",
           "NO_RETRY", "DEFAULT_TIMEOUT", "call_in_worker", "limit_memory", "environ_applied", "COMPUTE_METHODS",
           "describe_exit"]

#: The calls that compute, remembered per format when they time out or crash.
COMPUTE_METHODS = ("softplus", "softplus_grad")


class _Strided:
    """A non-contiguous array on its way through a pipe: the bytes it spans, and how it lies in them.

    Pickle sends an array as its values in C (or Fortran) order, so a sliced or reversed view would arrive as a
    contiguous array and the target would never see the layout it was called with.
    """

    def __init__(self, x: np.ndarray) -> None:
        lowest = tuple(slice(n - 1, n) if s < 0 else slice(0, 1) for n, s in zip(x.shape, x.strides))
        start = x[lowest].view(np.uint8).reshape(-1)  # a view at the element with the lowest address
        span = sum((n - 1) * abs(s) for n, s in zip(x.shape, x.strides)) + x.itemsize
        self.raw = np.lib.stride_tricks.as_strided(start, shape=(span,), strides=(1,)).copy()
        self.offset = -sum((n - 1) * s for n, s in zip(x.shape, x.strides) if s < 0)
        self.dtype, self.shape, self.strides = x.dtype, x.shape, x.strides

    def array(self) -> np.ndarray:
        return np.ndarray(self.shape, self.dtype, buffer=self.raw, offset=self.offset, strides=self.strides)


def _pack(a):
    if isinstance(a, np.ndarray) and a.size > 1 and not (a.flags.c_contiguous or a.flags.f_contiguous):
        return _Strided(a)
    return a


def _unpack(a):
    return a.array() if isinstance(a, _Strided) else a


def _serve(conn, ref: TargetRef, memory_limit: int | None) -> None:
    """The worker: rebuild the target, say "ready" (or why it could not), then answer (method, args)
    requests until EOF."""
    prepare_worker(memory_limit, ignore_sigint=False)  # (Ctrl-C ends the worker through its recv)
    try:
        target = ref.resolve()
    except BaseException as exc:  # noqa: BLE001 — a plugin that fails to load here is reported, not fatal
        conn.send(("failed", failure_payload(exc)))
        return
    conn.send(("ready", None))

    while True:
        try:
            method, args = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        try:
            if method == "__job__":  # (func, args): func(target, *args), for whole jobs such as timing
                func, job_args = args
                y = func(target, *job_args)
            else:
                args = tuple(_unpack(a) for a in args)
                y = getattr(target, method)(*args)
                if method in COMPUTE_METHODS:
                    # checked here, so a framework's tensor (or a generator) never has to cross the pipe
                    problem = output_problem(y, args[0])
                    if problem is not None:
                        raise TargetOutputError(f"{target.name}.{method} {problem}")
            conn.send(("ok", y))
        except BaseException as exc:  # noqa: BLE001 — everything the target does wrong is reported back
            try:
                conn.send(("raised", failure_payload(exc)))
            except Exception:  # noqa: BLE001 — an unpicklable result or exception
                conn.send(("raised", (type(exc).__name__, repr(exc), "")))
            if isinstance(exc, KeyboardInterrupt):
                return


class WorkerProcess:
    """The worker process behind an :class:`IsolatedTarget`: started with the target's reference, it answers
    (method, args) requests over a pipe until it is stopped (see the module doc)."""

    def __init__(self, ref: TargetRef, memory_limit: int | None, env: Mapping[str, str] | None = None) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, ref, memory_limit), daemon=True,
                                name="softplus-cert-target")
        with environ_applied(env):
            self.proc.start()
        child.close()

    def wait_ready(self, timeout: float) -> None:
        """Return once the worker holds the target; the failure (as a TargetFailure) otherwise."""
        status, payload = self._answer(timeout, "loading the target in its worker")
        if status != "ready":
            self.stop()
            type_name, message, detail = payload
            raise TargetRaised(type_name, f"{message} (loading the target in its worker)", detail)

    def call(self, method: str, args: tuple, timeout: float) -> Any:
        try:
            self.conn.send((method, tuple(_pack(a) for a in args)))
        except (BrokenPipeError, ConnectionResetError, EOFError):
            raise TargetCrashed(self._death()) from None
        status, payload = self._answer(timeout)
        if status == "ok":
            return payload
        raise TargetRaised(*payload)

    def _answer(self, timeout: float, during: str = "") -> tuple[str, Any]:
        """The worker's next (status, payload), within ``timeout`` seconds; TargetTimeout (the worker is
        killed) or TargetCrashed otherwise. ``during``: what it was doing, for the message."""
        crashed = " while " + during if during else ""
        try:
            ready = self.conn.poll(timeout)
        except (BrokenPipeError, ConnectionResetError, EOFError):
            raise TargetCrashed(self._death() + crashed) from None
        if not ready:
            self.stop()
            raise TargetTimeout(f"timed out after {timeout:g} s" + (" " + during if during else ""))
        try:
            return self.conn.recv()
        except (EOFError, ConnectionResetError):
            raise TargetCrashed(self._death() + crashed) from None

    def _death(self) -> str:
        self.proc.join(5)
        return describe_exit(self.proc.exitcode)

    def alive(self) -> bool:
        return self.proc.is_alive()

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()


def _call_kind(method: str, args: tuple) -> tuple[str, str]:
    """(format, method) for a compute call, ("*", method) for any other."""
    if method in COMPUTE_METHODS and args and isinstance(args[0], np.ndarray):
        from oracle.formats import format_of

        try:
            return format_of(args[0]).name, method
        except ValueError:
            return str(args[0].dtype), method
    return "*", method


class IsolatedTarget:
    """A target whose computations run in a worker process (see the module docstring).

    Attribute access other than the methods below goes to the wrapped target. ``plugin_specs``: modules a
    worker loads before unpickling a target that has no source (default: every plugin module loaded here).
    Raises :class:`targets.locate.NotSendable` at construction for a target a worker cannot get.
    """

    def __init__(self, target, timeout: float = DEFAULT_TIMEOUT, memory_limit: int | None = None,
                 plugin_specs: list[str] | None = None, env: Mapping[str, str] | None = None) -> None:
        self._target = target
        self.env = dict(env or {})
        self.ref = ref_of(target, plugin_specs)
        self._timeout = timeout
        self._memory_limit = memory_limit
        self._worker: WorkerProcess | None = None
        self._threads: int | None = None  # the last thread count set, set again in a fresh worker
        self._dead: dict[tuple[str, str], str] = {}  # call kind -> the timeout or crash it ended in
        self._unloadable: str | None = None  # why a worker could not load the target (then nothing runs)
        self._code_path: dict[str, str] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    def __repr__(self) -> str:
        capped = f" with {sorted(self.env)}" if self.env else ""
        return f"<isolated {self._target!r}{capped}>"

    # --- what failed before ---------------------------------------------------------------------------------

    def previous_failure(self, fmt: str, fn: str) -> str | None:
        """Why a ``fn`` call in ``fmt`` is not worth trying ("skipped: an earlier float32 softplus call of
        this run timed out after 60 s"), or None."""
        return self._skip_reason((fmt, fn))

    def _skip_reason(self, kind: tuple[str, str]) -> str | None:
        if self._unloadable is not None:
            return f"skipped: the target could not be loaded in a worker earlier in this run: {self._unloadable}"
        reason = self._dead.get(kind)
        if reason is None:
            return None
        what = kind[1] if kind[0] == "*" else f"{kind[0]} {kind[1]}"
        return f"skipped: an earlier {what} call of this run {reason}"

    def remember_failure(self, fmt: str, fn: str, reason: str) -> None:
        """Record that ``fn`` in ``fmt`` timed out or crashed elsewhere (e.g. on a process pool of its own)."""
        self._dead.setdefault((fmt, fn), reason)

    # --- calls ----------------------------------------------------------------------------------------------

    def _ensure_worker(self) -> WorkerProcess:
        if self._worker is not None and self._worker.alive():
            return self._worker
        worker = WorkerProcess(self.ref, self._memory_limit, self.env)
        try:
            worker.wait_ready(self._timeout)
        except TargetFailure as exc:
            self._unloadable = str(exc)
            raise
        self._worker = worker
        if self._threads is not None:  # a fresh worker after a crash: the caller's setting holds
            worker.call("set_threads", (self._threads,), self._timeout)
        return worker

    def _call(self, method: str, *args) -> Any:
        kind = _call_kind(method, args)
        skipped = self._skip_reason(kind)
        if skipped is not None:
            raise TargetSkipped(skipped)
        try:
            return self._ensure_worker().call(method, args, self._timeout)
        except (TargetTimeout, TargetCrashed) as exc:
            self._worker = None  # the next call of another kind starts afresh
            if self._unloadable is None:
                self._dead[kind] = str(exc)
            raise

    def softplus(self, x: np.ndarray, beta: float = 1.0, threshold=None) -> np.ndarray:
        return self._call("softplus", np.asarray(x), beta, threshold)

    def softplus_grad(self, x: np.ndarray, beta: float = 1.0, threshold=None) -> np.ndarray:
        return self._call("softplus_grad", np.asarray(x), beta, threshold)

    def recipe(self) -> TargetRef:
        """How another worker process (a pool's, a Dask cluster's) gets the wrapped target: the same
        reference this wrapper's own worker loads it by."""
        return self.ref

    @property
    def worker_env(self) -> dict[str, str]:
        """The environment every process computing for this target starts with (a capped path)."""
        return dict(self.env)

    def code_path(self) -> dict[str, str]:
        """The wrapped target's instruction-set path as the worker sees it (its environment may cap it);
        asked once (it does not change while the environment does not)."""
        if self._code_path is None:
            self._code_path = self._call("code_path")
        return dict(self._code_path)

    def set_threads(self, n: int | None) -> bool:
        """The wrapped target's ``set_threads``, run in the worker (where the framework's thread pool is)."""
        done = self._call("set_threads", n)
        self._threads = n if done else None
        return done

    def run_job(self, func: Callable, *args, timeout: float | None = None) -> Any:
        """``func(target, *args)`` in a fresh one-shot worker of its own (same environment and memory cap),
        e.g. timing the target without the accuracy run's worker state; ``func`` and ``args`` must pickle
        (module-level functions, plain data). Its result, or a TargetFailure."""
        if self._unloadable is not None:
            raise TargetSkipped(self._skip_reason(("*", "job")))
        return call_in_worker(_job_on_ref, func, self.ref, args, timeout=timeout or self._timeout,
                              memory_limit=self._memory_limit, env=self.env)

    def close(self) -> None:
        """Stop the worker (also done when the wrapper is garbage-collected or the process exits)."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 — interpreter shutdown
            pass


def _job_on_ref(func: Callable, ref: TargetRef, args: tuple):
    return func(ref.resolve(), *args)


def _load_plugins(specs: list[str]) -> None:
    """A one-shot worker's preload: the plugin modules whose classes its job may need to unpickle."""
    from . import registry

    for spec in specs:
        registry.load_target_module(spec)


def call_in_worker(func, *args, timeout: float = DEFAULT_TIMEOUT, memory_limit: int | None = None,
                   plugin_specs: list[str] | None = None, env: Mapping[str, str] | None = None, **kwargs):
    """``func(*args, **kwargs)`` in a fresh worker process (:func:`oracle.workers.run_in_fresh_process`, with
    the plugin modules loaded there first); its result, or a :class:`TargetFailure`.

    For whole jobs that must not take the caller down with them. ``func`` and its arguments must pickle
    (module-level functions, :class:`~targets.locate.TargetRef` for targets: :meth:`IsolatedTarget.run_job`).
    """
    if plugin_specs is None:
        from .registry import loaded_module_specs

        plugin_specs = loaded_module_specs()
    return run_in_fresh_process(func, *args, timeout=timeout, memory_limit=memory_limit, env=env,
                                preload=(_load_plugins, list(plugin_specs)), **kwargs)
