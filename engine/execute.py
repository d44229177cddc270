"""Where pieces of work run: in this process, on a local process pool, or on a Dask cluster — one interface.

A :class:`Work` is what every worker needs once (``setup(*setup_args)`` → its state: e.g. the target rebuilt
from its recipe and the combination it measures) and what it does per piece (``run(state, piece)`` → a
plain-data result: a tally, or the reason the target failed there). An :class:`Executor` runs a list of
pieces of one Work and hands each result to ``on_result(piece, result)`` in this process as it arrives (in
any order: callers that merge keep their own order). The executors are interchangeable:

* :class:`InProcess` — here, one piece after another; no timeout of its own (an isolated target times
  its calls out itself); the state is built from the implementation itself, not from a recipe;
* :class:`LocalPool` — ``jobs`` spawned processes on this machine (``concurrent.futures``), each prepared by
  :func:`engine.workers.prepare_worker` (memory cap, Ctrl-C ignored) and started in the Work's environment;
* :class:`DaskCluster` — the tasks of a ``distributed`` cluster: a running scheduler (``tcp://host:8786``) or a
  :class:`distributed.LocalCluster` of ``jobs`` single-threaded worker processes (``"local"``). Each worker
  builds a Work's state once and keeps it for the Work's next pieces.

The guarantees are the same on all three: a piece whose target raises comes back as its result (the Work
catches it); a worker that dies or a piece that hangs ends the run with :class:`WorkLost` — its ``cause``
the short form ("crashed: SIGSEGV", "timed out after 60 s"), its message naming the inputs
(``describe(piece)``) — and the pieces that finished before it have already been handed over, so a
checkpoint keeps them. A hang is no piece finishing for ``timeout`` seconds; the workers running it are
killed (on a cluster: restarted through their nanny).

Dask workers need this project and the target's framework installed, the environment a capped run asks for
(``Work.env``: checked on every worker before the first piece), and ``--nthreads 1`` (the frameworks bring
their own threads). A Work's memory limit is the pool's RLIMIT_AS; on a cluster the workers' own
``--memory-limit`` applies instead.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing as mp
import os
import signal
import threading
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from engine.workers import default_jobs, describe_exit, environ_applied, prepare_worker

__all__ = ["Work", "WorkLost", "Executor", "InProcess", "LocalPool", "DaskCluster", "executor_for",
           "DASK_LOCAL", "held_work"]

#: The ``--dask`` value that starts a LocalCluster instead of connecting to a scheduler.
DASK_LOCAL = "local"


@dataclass(frozen=True)
class Work:
    """One batch of pieces (see the module doc). ``setup`` and ``run`` are module-level functions (they
    travel by reference); ``setup_args`` pickles. ``env``: the environment workers must start with;
    ``memory_limit``: bytes of address space per local worker; ``name``: for task names and messages."""

    setup: Callable[..., Any]
    setup_args: tuple
    run: Callable[[Any, Any], Any]
    env: Mapping[str, str] = field(default_factory=dict)
    memory_limit: int | None = None
    name: str = "work"


class WorkLost(RuntimeError):
    """Workers crashed or a piece hung; ``cause`` is the short form ("crashed: SIGSEGV", "timed out …")."""

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


Describe = Callable[[Any], str]
OnResult = Callable[[Any, Any], None]


class Executor(ABC):
    """Runs the pieces of a :class:`Work` (see the module doc). ``remote``: whether the state is built in
    other processes (from a recipe) rather than from the implementation at hand. Use as a context manager,
    or call :meth:`close`."""

    remote = True
    label = "executor"
    jobs = 1

    @abstractmethod
    def run(self, work: Work, pieces: Sequence[Any], on_result: OnResult, *, timeout: float,
            describe: Describe = str) -> None:
        """Every piece, each result to ``on_result`` as it arrives; WorkLost on a crash or a hang."""

    def close(self) -> None:
        """Release the workers (nothing for executors that hold none)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class InProcess(Executor):
    """Here, in order. ``setup`` is called with the Work's own arguments (the caller passes the
    implementation itself, not a recipe, since ``remote`` is False)."""

    remote = False
    label = "this process"

    def run(self, work: Work, pieces: Sequence[Any], on_result: OnResult, *, timeout: float,
            describe: Describe = str) -> None:
        if not pieces:
            return
        state = work.setup(*work.setup_args)
        for p in pieces:
            on_result(p, work.run(state, p))


# --- the local pool ------------------------------------------------------------------------------------------

_POOL_STATE: dict[str, Any] = {}  # in a pool worker: the Work's state


def _pool_init(setup: Callable, setup_args: tuple, memory_limit: int | None) -> None:
    prepare_worker(memory_limit)
    _POOL_STATE["state"] = setup(*setup_args)


def _pool_run(run: Callable, piece: Any) -> Any:
    return run(_POOL_STATE["state"], piece)


_STARTED: dict[int, Any] = {}  # pid -> process, for every pool worker started (see _RecordingContext)


class _RecordedProcess(mp.context.SpawnProcess):
    """A spawned pool worker that is remembered when it starts (module level: spawn pickles the process)."""

    def start(self) -> None:
        super().start()
        _STARTED[self.pid] = self


class _RecordingContext:
    """The spawn context, with workers that are remembered as they start: a pool that breaks drops its
    workers (and one that crashed at once may never have been listed), but their exit codes tell which one
    crashed and why. ``started``: pid -> process of the workers started through this context."""

    Process = _RecordedProcess

    def __init__(self, ctx) -> None:
        self._ctx, self._before = ctx, set(_STARTED)

    @property
    def started(self) -> dict:
        return {pid: p for pid, p in _STARTED.items() if pid not in self._before}

    def forget(self) -> None:
        for pid in self.started:
            _STARTED.pop(pid, None)

    def __getattr__(self, name: str):
        return getattr(self._ctx, name)


def _pool_processes(executor: cf.ProcessPoolExecutor) -> dict:
    return dict(getattr(executor, "_processes", None) or {})


def _kill(executor: cf.ProcessPoolExecutor, known: dict | None = None) -> list[int | None]:
    """Kill the pool's workers (those it lists, and ``known`` ones it may have dropped once broken); the
    exit codes of those that had died before (the ones this kill ended say nothing of the cause)."""
    procs = list({**(known or {}), **_pool_processes(executor)}.values())
    dead_before = [p for p in procs if not p.is_alive()]
    for p in procs:
        if p.is_alive():
            p.kill()
    for p in procs:
        p.join(5)
    executor.shutdown(wait=False, cancel_futures=True)
    return [p.exitcode for p in dead_before]


class LocalPool(Executor):
    """``jobs`` spawned worker processes on this machine, started afresh for each Work."""

    def __init__(self, jobs: int | None = None) -> None:
        self.jobs = jobs or default_jobs()
        self.label = f"a local pool of {self.jobs} worker{'s' if self.jobs != 1 else ''}"

    def run(self, work: Work, pieces: Sequence[Any], on_result: OnResult, *, timeout: float,
            describe: Describe = str) -> None:
        if not pieces:
            return
        jobs = max(1, min(self.jobs, len(pieces)))
        ctx = _RecordingContext(mp.get_context("spawn"))
        # the workers start as the pool needs them: the Work's environment holds meanwhile
        with environ_applied(work.env):
            ex = cf.ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_pool_init,
                                        initargs=(work.setup, work.setup_args, work.memory_limit))
            try:
                self._drive(ex, ctx, work, pieces, on_result, timeout, describe)
            except BaseException:
                _kill(ex)
                raise
            finally:
                ctx.forget()
        ex.shutdown(wait=True)

    @staticmethod
    def _drive(ex, ctx, work: Work, pieces, on_result, timeout: float, describe: Describe) -> None:
        running = {ex.submit(_pool_run, work.run, p): p for p in pieces}
        last = time.monotonic()  # a hang shows as no piece finishing for `timeout` seconds
        while running:
            ready, _ = cf.wait(running, timeout=min(timeout, 5.0), return_when=cf.FIRST_COMPLETED)
            for fut in ready:
                p = running.pop(fut)
                try:
                    result = fut.result()
                except cf.process.BrokenProcessPool:
                    # every worker ever started: a broken pool forgets its workers, and their exit codes
                    time.sleep(0.2)  # the culprit's exit status: a dying process may still be exiting
                    codes = [c for c in _kill(ex, ctx.started) if c not in (None, 0)]
                    # the pool ends the other workers with SIGTERM: the culprit's code is another
                    codes.sort(key=lambda c: c == -signal.SIGTERM)
                    why = describe_exit(codes[0]) if codes else "crashed: a worker process died"
                    # every piece in flight fails with the pool: this one is only one of them
                    raise WorkLost(f"{why} while judging inputs {describe(p)} (or another piece in flight)",
                                   why) from None
                on_result(p, result)
                last = time.monotonic()
            if running and time.monotonic() - last > timeout:
                _kill(ex)
                first = min(running.values())
                raise WorkLost(f"timed out: no piece finished within {timeout:g} s (from inputs "
                               f"{describe(first)})", f"timed out after {timeout:g} s")


# --- Dask ----------------------------------------------------------------------------------------------------

_DASK_STATES: dict[str, Any] = {}  # in a Dask worker: Work token -> state (the last few Works)
_DASK_LOCK = threading.Lock()
_DASK_KEEP = 4


def _dask_run(token: str, setup: Callable, setup_args: tuple, run: Callable, piece: Any) -> Any:
    """A Dask task: the Work's state (built on this worker's first piece of it), then the piece."""
    with _DASK_LOCK:
        state = _DASK_STATES.get(token)
        if state is None:
            prepare_worker(None, ignore_sigint=False)
            state = setup(*setup_args)
            while len(_DASK_STATES) >= _DASK_KEEP:
                _DASK_STATES.pop(next(iter(_DASK_STATES)))
            _DASK_STATES[token] = state
    return run(state, piece)


def held_work() -> list[str]:
    """In a Dask worker: the tokens of the Works whose state this process holds (newest last)."""
    with _DASK_LOCK:
        return list(_DASK_STATES)


def _environment_gaps(env: Mapping[str, str]) -> list[str]:
    """On a Dask worker: the variables of ``env`` its process does not have as asked."""
    return [f"{k}={v}" for k, v in env.items() if os.environ.get(k) != v]


def _dask_config() -> dict[str, Any]:
    # a worker that dies fails its task at once: retrying a crashing target on every worker in turn
    # would only take the cluster down with it (the local cluster's scheduler runs in this process)
    return {"distributed.scheduler.allowed-failures": 0, "distributed.worker.daemon": False}


class DaskCluster(Executor):
    """The workers of a Dask cluster (see the module doc). ``address``: a scheduler's address, or
    :data:`DASK_LOCAL` for a LocalCluster of ``jobs`` worker processes (in the Work's environment... of this
    process: start a capped run with ``--max-isa``, which re-runs the command in that environment).
    ValueError (one line) if ``distributed`` is missing or the scheduler does not answer."""

    def __init__(self, address: str, jobs: int | None = None, connect_timeout: float = 10.0) -> None:
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise ValueError("--dask needs the 'distributed' package: pip install 'softplus-cert[dask]'") from None
        self.address, self._cluster = address, None
        self._config = dask.config.set(_dask_config())
        self._config.__enter__()
        try:
            if address == DASK_LOCAL:
                self.jobs = jobs or default_jobs()
                self._cluster = LocalCluster(n_workers=self.jobs, threads_per_worker=1, processes=True,
                                             dashboard_address=None, silence_logs=logging.ERROR)
                self.client = Client(self._cluster)
                self.label = f"a local Dask cluster of {self.jobs} worker{'s' if self.jobs != 1 else ''}"
            else:
                self.client = Client(address, timeout=connect_timeout)
                self.jobs = max(1, sum(w.get("nthreads", 1) for w in
                                       self.client.scheduler_info()["workers"].values()))
                self.label = f"the Dask cluster at {address} ({self.jobs} worker threads)"
        except OSError as e:
            self.close()
            raise ValueError(f"--dask {address}: no Dask scheduler answers there ({e})") from None

    def run(self, work: Work, pieces: Sequence[Any], on_result: OnResult, *, timeout: float,
            describe: Describe = str) -> None:
        if not pieces:
            return
        if work.env:
            gaps = {w: g for w, g in self.client.run(_environment_gaps, dict(work.env)).items() if g}
            if gaps:
                w, g = next(iter(gaps.items()))
                raise ValueError(f"the Dask worker {w} lacks {', '.join(g)}: start the workers with the "
                                 f"capped environment (see README: Beyond one machine)")
        token = f"{work.name}-{uuid.uuid4().hex[:12]}"
        [args] = self.client.scatter([work.setup_args], broadcast=True, hash=False)
        futures = {self.client.submit(_dask_run, token, work.setup, args, work.run, p, pure=False,
                                      key=f"softplus-cert-{token}-{i}", retries=0): p
                   for i, p in enumerate(pieces)}
        try:
            self._drive(futures, on_result, timeout, describe)
        except BaseException:
            self.client.cancel(list(futures), force=True)
            raise
        finally:
            self.client.cancel([args], force=True)

    def _drive(self, futures: dict, on_result: OnResult, timeout: float, describe: Describe) -> None:
        left = dict(futures)
        last = time.monotonic()  # a hang shows as no piece finishing for `timeout` seconds
        while left:
            done = [f for f in left if f.done()]
            for fut in done:
                p = left.pop(fut)
                if fut.status == "error":
                    exc = fut.exception()
                    if type(exc).__name__ == "KilledWorker":  # its worker process died while running it
                        why = "crashed: a Dask worker died (its nanny's log has the exit status)"
                        raise WorkLost(f"{why} while judging inputs {describe(p)}", why) from None
                    raise exc
                on_result(p, fut.result())
                last = time.monotonic()
            if not done:
                time.sleep(0.05)
            if left and time.monotonic() - last > timeout:
                keys = {f.key for f in left}
                busy = [w for w, ks in self.client.processing().items() if keys & set(ks)]
                first = min(left.values())
                self.client.cancel(list(left), force=True)
                if busy:  # a hung task cannot be stopped inside its worker: its nanny restarts the process
                    try:
                        self.client.restart_workers(busy)
                    except Exception:  # noqa: BLE001 — a worker without a nanny just stays hung
                        pass
                raise WorkLost(f"timed out: no piece finished within {timeout:g} s on the Dask cluster (from "
                               f"inputs {describe(first)})", f"timed out after {timeout:g} s")

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
        if self._config is not None:
            self._config.__exit__(None, None, None)
            self._config = None


def executor_for(jobs: int | None = None, dask: str | None = None) -> Executor:
    """The executor the command line's ``--jobs`` and ``--dask`` ask for: a Dask cluster where ``dask`` is
    given, else a local pool of ``jobs`` workers."""
    return DaskCluster(dask, jobs) if dask else LocalPool(jobs)
