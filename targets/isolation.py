"""Running a target in a worker process, so that a crash, a hang or a runaway allocation stays there.

:class:`IsolatedTarget` wraps a :class:`~targets.base.Target`: everything cheap (name, formats, ``check``,
switch points, versions) is answered in this process; ``softplus``, ``softplus_grad``, ``set_threads`` and
``code_path`` (the instruction-set path is the worker's, which may be capped by ``env``) run in a worker process started with ``spawn`` (fork is unsafe once torch, TensorFlow or XLA have started their
thread pools). The worker lives as long as the wrapper, so the framework is imported once per target and a
well-behaved target pays only the pickling of its arrays through a pipe. Arrays keep their memory layout on
the way (a sliced or transposed view arrives as such a view, not as the contiguous copy pickle would make),
and a thread count set with ``set_threads`` is set again in a worker started after a crash.

Failures come back as exceptions of their own kind, each with a one-line cause:

* :class:`TargetRaised` — the target raised (type, message and the worker's traceback are kept);
* :class:`TargetTimeout` — no answer within ``timeout`` seconds: the worker is killed;
* :class:`TargetCrashed` — the worker died (segfault, abort, out-of-memory kill): "crashed: SIGSEGV".

After a timeout or a crash the next call starts a fresh worker. ``memory_limit`` (bytes) caps the worker's
address space (RLIMIT_AS), so an allocation storm ends as a MemoryError or a crash of the worker alone.
``env`` (variable → value) is set in the worker's environment before it starts, so frameworks read it at
import: ``targets.cpu_path.cap_changes()`` holds them to AVX2 in that worker alone.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import signal
import threading
import traceback
from typing import Any, Iterator, Mapping

import numpy as np

__all__ = ["IsolatedTarget", "TargetFailure", "TargetRaised", "TargetTimeout", "TargetCrashed",
           "DEFAULT_TIMEOUT", "call_in_worker"]

#: Seconds one call may take, the framework's import on first use included (TensorFlow: ~7 s).
DEFAULT_TIMEOUT = 300.0


class TargetFailure(RuntimeError):
    """A target call that produced no result; ``str()`` is the cause in one line."""


class TargetRaised(TargetFailure):
    """The target raised. ``type_name`` is the exception's class name, ``detail`` the worker's traceback."""

    def __init__(self, type_name: str, message: str, detail: str = "") -> None:
        super().__init__(f"raised {type_name}: {message}")
        self.type_name, self.message, self.detail = type_name, message, detail


class TargetTimeout(TargetFailure):
    """No answer in time; the worker was killed."""


class TargetCrashed(TargetFailure):
    """The worker process died while computing."""


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "crashed: the worker stopped answering"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (killed: out of memory?)" if -code == signal.SIGKILL else ""
        return f"crashed: {name}{hint}"
    return f"crashed: the worker exited with status {code}"


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


def _serve(conn, payload: bytes, plugin_specs: list[str], memory_limit: int | None) -> None:
    """The worker: rebuild the target, then answer (method, args) requests until EOF."""
    if memory_limit:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    import targets

    for spec in plugin_specs:  # plugin modules must exist here before their targets can be unpickled
        targets.load_target_module(spec)
    target = pickle.loads(payload)
    while True:
        try:
            method, args = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        try:
            y = getattr(target, method)(*(_unpack(a) for a in args))
            conn.send(("ok", y))
        except BaseException as exc:  # noqa: BLE001 — everything the target does wrong is reported back
            try:
                conn.send(("raised", (type(exc).__name__, str(exc), traceback.format_exc())))
            except Exception:  # noqa: BLE001 — an unpicklable result or exception
                conn.send(("raised", (type(exc).__name__, repr(exc), "")))
            if isinstance(exc, KeyboardInterrupt):
                return


_ENVIRON_LOCK = threading.Lock()


@contextlib.contextmanager
def _environ(env: Mapping[str, str] | None) -> Iterator[None]:
    """os.environ with ``env`` applied, for the start of a spawned process (which copies it); restored
    afterwards. spawn has no environment argument, and the variables must be there before the child
    imports NumPy (which the unpickling of its entry point already does)."""
    if not env:
        yield
        return
    with _ENVIRON_LOCK:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


class _Worker:
    def __init__(self, payload: bytes, plugin_specs: list[str], memory_limit: int | None,
                 env: Mapping[str, str] | None = None) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, payload, plugin_specs, memory_limit),
                                daemon=True, name="softplus-cert-target")
        with _environ(env):
            self.proc.start()
        child.close()

    def call(self, method: str, args: tuple, timeout: float) -> Any:
        try:
            self.conn.send((method, tuple(_pack(a) for a in args)))
            ready = self.conn.poll(timeout)
        except (BrokenPipeError, ConnectionResetError, EOFError):
            raise TargetCrashed(self._death()) from None
        if not ready:
            self.stop()
            raise TargetTimeout(f"timed out after {timeout:g} s")
        try:
            status, payload = self.conn.recv()
        except (EOFError, ConnectionResetError):
            raise TargetCrashed(self._death()) from None
        if status == "ok":
            return payload
        raise TargetRaised(*payload)

    def _death(self) -> str:
        self.proc.join(5)
        return _describe_exit(self.proc.exitcode)

    def alive(self) -> bool:
        return self.proc.is_alive()

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()


class IsolatedTarget:
    """A target whose computations run in a worker process (see the module docstring).

    Attribute access other than ``softplus``/``softplus_grad``/``set_threads`` goes to the wrapped target.
    Raises ``pickle.PicklingError`` (or TypeError) at construction for a target that cannot be sent to a worker.
    """

    def __init__(self, target, timeout: float = DEFAULT_TIMEOUT, memory_limit: int | None = None,
                 plugin_specs: list[str] | None = None, env: Mapping[str, str] | None = None) -> None:
        self._target = target
        self._env = dict(env or {})
        self._payload = pickle.dumps(target)
        self._timeout = timeout
        self._memory_limit = memory_limit
        if plugin_specs is None:
            from .registry import loaded_module_specs

            plugin_specs = loaded_module_specs()
        self._plugins = list(plugin_specs)
        self._worker: _Worker | None = None
        self._threads: int | None = None  # the last thread count set, set again in a fresh worker

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    def __repr__(self) -> str:
        capped = f" with {sorted(self._env)}" if self._env else ""
        return f"<isolated {self._target!r}{capped}>"

    def _call(self, method: str, *args) -> Any:
        try:
            if self._worker is None or not self._worker.alive():
                self._worker = _Worker(self._payload, self._plugins, self._memory_limit, self._env)
                if self._threads is not None:  # a fresh worker after a crash: the caller's setting holds
                    self._worker.call("set_threads", (self._threads,), self._timeout)
            return self._worker.call(method, args, self._timeout)
        except (TargetTimeout, TargetCrashed):
            self._worker = None  # the next call starts afresh
            raise

    def softplus(self, x: np.ndarray, beta: float = 1.0, threshold=None) -> np.ndarray:
        return self._call("softplus", np.asarray(x), beta, threshold)

    def softplus_grad(self, x: np.ndarray, beta: float = 1.0, threshold=None) -> np.ndarray:
        return self._call("softplus_grad", np.asarray(x), beta, threshold)

    def code_path(self) -> dict[str, str]:
        """The wrapped target's instruction-set path as the worker sees it (its environment may cap it)."""
        return self._call("code_path")

    def set_threads(self, n: int | None) -> bool:
        """The wrapped target's ``set_threads``, run in the worker (where the framework's thread pool is)."""
        done = self._call("set_threads", n)
        self._threads = n if done else None
        return done

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


def _run_once(conn, payload: bytes, plugin_specs: list[str], memory_limit: int | None) -> None:
    """A one-shot worker: load plugins, run the pickled (func, args, kwargs), send the result back."""
    if memory_limit:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    import targets

    for spec in plugin_specs:
        targets.load_target_module(spec)
    try:
        func, args, kwargs = pickle.loads(payload)
        conn.send(("ok", func(*args, **kwargs)))
    except BaseException as exc:  # noqa: BLE001
        conn.send(("raised", (type(exc).__name__, str(exc), traceback.format_exc())))


def call_in_worker(func, *args, timeout: float = DEFAULT_TIMEOUT, memory_limit: int | None = None,
                   plugin_specs: list[str] | None = None, **kwargs):
    """``func(*args, **kwargs)`` in a fresh worker process; its result, or a :class:`TargetFailure`.

    For whole jobs on one target (e.g. timing it) that must not take the caller down with them. ``func``
    and its arguments must pickle (module-level functions, target objects).
    """
    if plugin_specs is None:
        from .registry import loaded_module_specs

        plugin_specs = loaded_module_specs()
    ctx = mp.get_context("spawn")
    conn, child = ctx.Pipe()
    proc = ctx.Process(target=_run_once, daemon=True, name="softplus-cert-job",
                       args=(child, pickle.dumps((func, args, kwargs)), list(plugin_specs), memory_limit))
    proc.start()
    child.close()
    try:
        if not conn.poll(timeout):
            raise TargetTimeout(f"timed out after {timeout:g} s")
        try:
            status, payload = conn.recv()
        except (EOFError, ConnectionResetError):
            proc.join(5)
            raise TargetCrashed(_describe_exit(proc.exitcode)) from None
        if status == "ok":
            return payload
        raise TargetRaised(*payload)
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        conn.close()
