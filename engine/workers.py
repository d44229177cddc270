"""Worker processes: how one starts, what it is allowed, how its death reads, and a one-shot job in one.

Every process that computes for an implementation — an isolated target's worker, a pool worker of an
exhaustive run, a one-shot job (timing), a Dask task's process — starts through :func:`prepare_worker`
(Ctrl-C left to the main process, glibc told to keep freed memory, the address space capped). Processes are
started with ``spawn``: fork is unsafe once torch, TensorFlow or XLA have started their thread pools; the
environment a child must see at its imports is applied around its start (:func:`environ_applied`).

Leaf module: the standard library and NumPy only.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import pickle
import resource
import signal
import threading
import traceback
from typing import Any, Callable, Iterator, Mapping

from engine.defaults import TIMEOUT_S
from oracle.implementation import TargetCrashed, TargetRaised, TargetTimeout

__all__ = ["DEFAULT_TIMEOUT", "default_jobs", "limit_memory", "keep_freed_memory", "prepare_worker",
           "environ_applied", "describe_exit", "failure_payload", "run_in_fresh_process"]

#: Seconds one call may take (and, separately, a worker's start: the framework's import, e.g. TensorFlow ~7 s).
DEFAULT_TIMEOUT = TIMEOUT_S


def default_jobs() -> int:
    """Worker processes by default: every core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def limit_memory(memory_limit: int | None) -> None:
    """Cap this process's address space at ``memory_limit`` bytes (RLIMIT_AS); nothing for None. For the start
    of a worker process, before it loads a target."""
    if memory_limit:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse instead of returning it to the system.

    Every pass over a chunk allocates fresh multi-megabyte float64 arrays; by default glibc maps each
    one anew and unmaps it on free, so every pass pays page faults on memory it just gave back — about
    40% of the time per chunk. Returns False where this is not glibc (nothing changes there)."""
    try:
        libc = ctypes.CDLL(None)
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20)) and bool(libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):
        return False


def prepare_worker(memory_limit: int | None, *, ignore_sigint: bool = True) -> None:
    """The start of every worker process, before it loads an implementation (see the module doc)."""
    if ignore_sigint:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    keep_freed_memory()
    limit_memory(memory_limit)


_ENVIRON_LOCK = threading.RLock()  # re-entrant: a pool started inside a capped block may apply it again


@contextlib.contextmanager
def environ_applied(env: Mapping[str, str] | None) -> Iterator[None]:
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


def describe_exit(code: int | None) -> str:
    """A worker's exit code in words: "crashed: SIGSEGV", "crashed: the worker exited with status 3"."""
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


def failure_payload(exc: BaseException) -> tuple[str, str, str]:
    """(type name, message, traceback) of an exception, for the way back to the main process."""
    return type(exc).__name__, str(exc), traceback.format_exc()


def _run_once(conn, payload: bytes, preload: tuple | None, memory_limit: int | None) -> None:
    """A one-shot worker: prepared, ``preload`` run, then the pickled (func, args, kwargs); the result sent back."""
    prepare_worker(memory_limit, ignore_sigint=False)
    try:
        if preload is not None:  # e.g. plugin modules whose classes the payload needs to unpickle
            preload[0](*preload[1:])
        func, args, kwargs = pickle.loads(payload)
        conn.send(("ok", func(*args, **kwargs)))
    except BaseException as exc:  # noqa: BLE001 — everything the job does wrong is reported back
        try:
            conn.send(("raised", failure_payload(exc)))
        except Exception:  # noqa: BLE001 — an unpicklable exception
            conn.send(("raised", (type(exc).__name__, repr(exc), "")))


def run_in_fresh_process(func: Callable, *args, timeout: float = DEFAULT_TIMEOUT, memory_limit: int | None = None,
                         env: Mapping[str, str] | None = None, preload: tuple | None = None, **kwargs) -> Any:
    """``func(*args, **kwargs)`` in a fresh spawned process; its result, or a TargetRaised / TargetTimeout
    (the process is killed) / TargetCrashed. ``func`` and its arguments must pickle (module-level
    functions, plain data); ``preload``: (function, *args), picklable, run in the process first."""
    ctx = mp.get_context("spawn")
    conn, child = ctx.Pipe()
    proc = ctx.Process(target=_run_once, daemon=True, name="softplus-cert-job",
                       args=(child, pickle.dumps((func, args, kwargs)), preload, memory_limit))
    with environ_applied(env):
        proc.start()
    child.close()
    try:
        if not conn.poll(timeout):
            raise TargetTimeout(f"timed out after {timeout:g} s")
        try:
            status, payload = conn.recv()
        except (EOFError, ConnectionResetError):
            proc.join(5)
            raise TargetCrashed(describe_exit(proc.exitcode)) from None
        if status == "ok":
            return payload
        raise TargetRaised(*payload)
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        conn.close()
