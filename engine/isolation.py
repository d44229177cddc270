"""Running a target in a worker process, so that a crash, a hang or a runaway allocation stays there.

:class:`IsolatedTarget` wraps a :class:`~targets.base.Target`: the run reads only its attributes (name,
formats, device, params) in this process. Every call of its code runs in a worker process started with
``spawn`` (fork is unsafe once torch, TensorFlow or XLA have started their thread pools): ``softplus``,
``softplus_grad``, ``roundtrip``, ``set_threads``, and the questions the run asks before it computes —
``availability``, ``check`` and ``switch_points`` (OpenVINO's and ONNX Runtime's checks compile and run a
model), ``code_path`` and ``versions`` (the instruction-set path and versions are the worker's, whose
environment may be capped by ``env``). A method the wrapped target inherits unchanged from
:class:`~targets.base.Target` reads attributes only and is answered here. The worker gets the target by its
source and name (:mod:`targets.locate`: the plugin module or entry point is loaded again there), so targets
that do not pickle are isolated too; it says "ready" once it has the target, so a plugin that fails, hangs
or crashes while loading is told apart from one that fails computing. The worker lives as long as the
wrapper, so the framework is imported once per target and a well-behaved target pays only the pickling of
its arrays through a pipe. Arrays keep their memory layout on the way (a sliced or transposed view arrives
as such a view, not as the contiguous copy pickle would make), results that are not NumPy arrays are refused
in the worker (a torch tensor never reaches this process), and a thread count set with ``set_threads`` is
set again in a worker started after a crash.

Failures come back as exceptions of their own kind, each with a one-line cause:

* :class:`TargetRaised` — the target raised (type, message and the worker's traceback are kept);
* :class:`TargetTimeout` — no answer within ``timeout`` seconds: the worker is killed;
* :class:`TargetCrashed` — the worker died (segfault, abort, out-of-memory kill): "crashed: SIGSEGV";
* :class:`TargetSkipped` — not tried: this kind of call timed out or crashed earlier in this wrapper's life.

**A probe that crashes is a finding, not a dead run.** The run's questions are answered once each, cached:
the first question (or :meth:`IsolatedTarget.previous_failure`) surveys the target — ``availability()``,
then, where it is available, ``code_path()`` and ``versions()`` — and each ``check(fmt, β, threshold)``
asks the worker (with that combination's ``switch_points``, in the same round trip) where the target has a
check or switch points of its own. Where a probe crashes, hangs or cannot load the target, the target
stays in the grid (``availability()`` None; ``check`` accepts the declared formats, or for a format whose
own probe died, that format at the parameters the target takes) and the failure is the verdict: the first
:meth:`~IsolatedTarget.previous_failure` asked about it returns it ("crashed: SIGSEGV while probing
check(bfloat16)"), later ones "skipped: an earlier probe of this run crashed: …", and calls of its kinds
fail at once with :class:`TargetSkipped`. A ``check`` that raises is a finding the same way; an
``availability()`` that raises makes the target unavailable, and a ``code_path()`` or ``versions()`` that
raises is re-raised to its caller (who records it), as in-process.

**A dead target costs one timeout.** After a timeout or a crash of a call kind — ``softplus`` or
``softplus_grad`` in one format, or any other method — the wrapper remembers it, and every later call of that
kind fails at once with :class:`TargetSkipped` ("skipped: an earlier float32 softplus call of this run timed
out after 60 s") instead of waiting again; a worker that cannot even load the target makes every call fail
so. :meth:`IsolatedTarget.previous_failure` tells callers (the judge, the layout check, the speed report)
before they start; :meth:`IsolatedTarget.remember_failure` lets a process pool that ran the target on its
own report what it saw. Calls of other kinds start a fresh worker.

``memory_limit`` (bytes) caps the worker's address space (RLIMIT_AS), so an allocation storm ends as a
MemoryError or a crash of the worker alone. ``env`` (variable → value) is set in the worker's environment
before it starts, so frameworks read it at import: ``targets.cpu_path.cap_changes(level)`` holds them to a
lower CPU family in that worker alone.
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Any, Callable, Mapping

import numpy as np

from engine.workers import (
    DEFAULT_TIMEOUT,
    describe_exit,
    environ_applied,
    failure_payload,
    limit_memory,
    prepare_worker,
    run_in_fresh_process,
)
from oracle.formats import format_of, get_format
from oracle.implementation import (
    NO_RETRY,
    TargetCrashed,
    TargetFailure,
    TargetOutputError,
    TargetRaised,
    TargetSkipped,
    TargetTimeout,
    output_problem,
)
from targets import registry
from targets.base import Target
from targets.locate import TargetRef, ref_of
from targets.registry import loaded_module_specs

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

    def call(self, method: str, args: tuple, timeout: float, during: str = "") -> Any:
        """The worker's answer to ``method(*args)``; ``during``: what the call is, for a crash's or timeout's
        message ("probing check(bfloat16)")."""
        try:
            self.conn.send((method, tuple(_pack(a) for a in args)))
        except (BrokenPipeError, ConnectionResetError, EOFError):
            raise TargetCrashed(self._death() + (" while " + during if during else "")) from None
        status, payload = self._answer(timeout, during)
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
        try:
            return format_of(args[0]).name, method
        except ValueError:
            return str(args[0].dtype), method
    return "*", method


class IsolatedTarget:
    """A target whose computations run in a worker process (see the module docstring).

    Attribute access other than the methods below goes to the wrapped target (in this process: a method of
    the target's own that is not one of these, e.g. OpenVINO's ``probe``, runs here). ``plugin_specs``:
    modules a worker loads before unpickling a target that has no source (default: every plugin module loaded
    here).
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
        # the survey of the target (availability, then code_path and versions), asked once
        self._surveyed = False
        self._availability: str | None = None
        self._answers: dict[str, tuple[bool, Any]] = {}  # method -> (True, value) or (False, TargetRaised)
        # per (format, beta, threshold): the worker's check, and the switch points where it accepts
        self._checks: dict[tuple, str | None] = {}
        self._switches: dict[tuple, list[float]] = {}
        self._probe_failed: dict[str, str] = {}  # "*" (the whole target) or a format -> how its probe ended
        self._told: set[str] = set()  # the probe failures previous_failure has reported (then: skipped)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    def __repr__(self) -> str:
        capped = f" with {sorted(self.env)}" if self.env else ""
        return f"<isolated {self._target!r}{capped}>"

    # --- what failed before ---------------------------------------------------------------------------------

    def previous_failure(self, fmt: str, fn: str) -> str | None:
        """Why a ``fn`` call in ``fmt`` is not worth trying ("skipped: an earlier float32 softplus call of
        this run timed out after 60 s"), or None. Surveys the target first (see the module doc): a probe of
        the target or of ``fmt`` that crashed, hung or raised is returned as it ended the first time it is
        asked about ("crashed: SIGSEGV while probing check(bfloat16)"), as skipped afterwards."""
        self._survey()
        for key in ("*", fmt):
            reason = self._probe_failed.get(key)
            if reason is not None and key not in self._told:
                self._told.add(key)
                return reason
        return self._skip_reason((fmt, fn))

    def _skip_reason(self, kind: tuple[str, str]) -> str | None:
        if self._unloadable is not None:
            return f"skipped: the target could not be loaded in a worker earlier in this run: {self._unloadable}"
        probe = self._probe_failed.get("*") or (self._probe_failed.get(kind[0]) if kind[0] != "*" else None)
        if probe is not None:
            return f"skipped: an earlier probe of this run {probe}"
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

    def _ask(self, kind: tuple[str, str], method: str, args: tuple, during: str = "") -> Any:
        """``method(*args)`` in the worker (``during``: what it is, for the failure's message), remembering a
        timeout or crash under ``kind``; TargetSkipped at once where ``kind`` failed so before."""
        skipped = self._skip_reason(kind)
        if skipped is not None:
            raise TargetSkipped(skipped)
        try:
            return self._ensure_worker().call(method, args, self._timeout, during)
        except (TargetTimeout, TargetCrashed) as exc:
            self._worker = None  # the next call of another kind starts afresh
            if self._unloadable is None:
                self._dead[kind] = str(exc)
            raise

    def _call(self, method: str, *args) -> Any:
        return self._ask(_call_kind(method, args), method, args)

    def softplus(self, x: np.ndarray, beta: float = 1.0, threshold=None) -> np.ndarray:
        return self._call("softplus", np.asarray(x), beta, threshold)

    def softplus_grad(self, x: np.ndarray, beta: float = 1.0, threshold=None) -> np.ndarray:
        return self._call("softplus_grad", np.asarray(x), beta, threshold)

    def roundtrip(self, x: np.ndarray) -> np.ndarray:
        """The wrapped target's ``roundtrip`` (data through the framework and back), run in the worker."""
        return self._call("roundtrip", np.asarray(x))

    def recipe(self) -> TargetRef:
        """How another worker process (a pool's, a Dask cluster's) gets the wrapped target: the same
        reference this wrapper's own worker loads it by."""
        return self.ref

    @property
    def worker_env(self) -> dict[str, str]:
        """The environment every process computing for this target starts with (a capped path)."""
        return dict(self.env)

    # --- what the run asks before computing: answered by the worker, once (see the module doc) ----------------

    def _inherited(self, method: str) -> bool:
        """Whether the wrapped target's ``method`` is :class:`~targets.base.Target`'s own, which reads the
        target's attributes only (then it is answered in this process)."""
        t = self._target
        return (isinstance(t, Target) and method not in getattr(t, "__dict__", {})
                and getattr(type(t), method, None) is getattr(Target, method))

    def _probe_failure(self, exc: TargetFailure, during: str) -> str:
        """How a probe ended, in one line: a crash or timeout names the probe already; an exception the
        target raised gets it added."""
        if isinstance(exc, TargetRaised) and self._unloadable is None:
            return f"{exc} while {during}"
        return str(exc)

    def _survey(self) -> None:
        """Ask the worker, once, whether the target is available and, where it is, its instruction-set path
        and versions. A crash, hang or load failure there makes the whole target a finding (``"*"``)."""
        if self._surveyed:
            return
        self._surveyed = True
        if self._unloadable is not None:  # a call already failed to load it, and said so
            return
        questions = ["code_path"] + ([] if self._inherited("versions") else ["versions"])
        if not self._inherited("availability"):
            questions.insert(0, "availability")
        for method in questions:
            during = f"probing {method}()"
            try:
                answer = self._ask(("*", method), method, (), during)
            except TargetRaised as exc:
                if self._unloadable is not None:  # the worker could not load the target
                    self._probe_failed["*"] = str(exc)
                    return
                if method == "availability":  # as in-process (oracle's reason_unavailable): unavailable
                    self._availability = f"availability check failed: {exc.type_name}: {exc.message}"
                    return
                self._answers[method] = (False, exc)  # raised again to whoever asks, who records it
                continue
            except TargetFailure as exc:  # crashed or hung (also while loading the target)
                self._probe_failed["*"] = self._probe_failure(exc, during)
                return
            if method == "availability":
                self._availability = answer
                if answer is not None:
                    return  # unavailable: nothing else to ask
            else:
                self._answers[method] = (True, answer)

    def _from_survey(self, method: str) -> Any:
        """The survey's answer to ``method`` (re-raised where the target raised), asked now where the survey
        did not (the target is unavailable in its worker)."""
        self._survey()
        if method not in self._answers:
            self._answers[method] = (True, self._ask(("*", method), method, (), f"probing {method}()"))
        ok, value = self._answers[method]
        if not ok:
            raise TargetRaised(value.type_name, value.message, value.detail)
        return dict(value) if isinstance(value, dict) else value

    def probe_failure(self) -> str | None:
        """How the survey of the target (availability, path, versions) failed in its worker, or None."""
        return self._probe_failed.get("*")

    def availability(self) -> str | None:
        """None if the target can run here (as its worker sees it), else why not. A worker that crashed, hung
        or could not load the target while answering leaves it available: that failure is its verdict."""
        if self._inherited("availability"):
            return self._target.availability()
        self._survey()
        return self._availability

    def check(self, fmt, beta: float = 1.0, threshold: float | None = None) -> str | None:
        """The wrapped target's ``check``, run in the worker (with the combination's switch points) where the
        target has a check or switch points of its own; cached. ValueError here for a format the suite does
        not know. A probe that failed leaves the combination in (see the module doc)."""
        if self._inherited("check") and self._inherited("switch_points"):
            return self._target.check(fmt, beta, threshold)
        name = get_format(fmt).name  # ValueError for an unknown format, here, as Target.check raises it
        key = (name, beta, threshold)
        if key in self._checks:
            return self._checks[key]
        self._survey()
        if "*" in self._probe_failed or self._unloadable is not None:
            answer = self._declared_check(name, beta, threshold)
        elif name in self._probe_failed:
            answer = self._params_check(beta, threshold)
        else:
            during = "probing " + _described("check", name, beta, threshold)
            try:
                answer, switches = self._ask((name, "check"), "__job__", (_probe_combo, (name, beta, threshold)),
                                             during)
            except TargetFailure as exc:
                self._probe_failed["*" if self._unloadable is not None else name] = self._probe_failure(exc, during)
                return self.check(name, beta, threshold)
            if answer is None:
                self._switches[key] = switches
        self._checks[key] = answer
        return answer

    def _params_check(self, beta: float, threshold: float | None) -> str | None:
        """:meth:`Target.check`'s parameter rules alone (for a format whose probe failed)."""
        params = getattr(self._target, "params", None)
        if beta != 1.0 and not getattr(params, "beta", False):
            return f"only beta=1 is supported, got beta={beta!r}"
        if threshold is not None and not getattr(params, "threshold", False):
            return f"no threshold parameter; pass threshold=None, got threshold={threshold!r}"
        return None

    def _declared_check(self, fmt: str, beta: float, threshold: float | None) -> str | None:
        """What the target declares (its formats and parameters), without asking its code: for a target
        whose survey failed."""
        if isinstance(self._target, Target):
            return Target.check(self._target, fmt, beta, threshold)
        formats = getattr(self._target, "formats", None)
        if formats is not None and fmt not in formats:
            return f"{fmt} is not supported (supported: {', '.join(formats) or 'none'})"
        return self._params_check(beta, threshold)

    def supports(self, fmt, beta: float = 1.0, threshold: float | None = None) -> bool:
        """True if available here and :meth:`check` accepts the combination (both asked of the worker)."""
        return self.availability() is None and self.check(fmt, beta, threshold) is None

    def switch_points(self, fmt, beta: float = 1.0, threshold: float | None = None) -> list[float]:
        """The wrapped target's ``switch_points``, from the worker (cached; [] for a format whose probe
        failed: it is not computed)."""
        if self._inherited("switch_points"):
            return self._target.switch_points(fmt, beta, threshold)
        name = get_format(fmt).name
        key = (name, beta, threshold)
        if key not in self._switches:
            if "*" in self._probe_failed or name in self._probe_failed:
                return []
            during = "probing " + _described("switch_points", name, beta, threshold)
            self._switches[key] = [float(s) for s in
                                   self._ask((name, "switch_points"), "switch_points", (name, beta, threshold),
                                             during)]
        return list(self._switches[key])

    def versions(self) -> dict[str, str]:
        """The wrapped target's ``versions()`` as its worker reports them (asked once)."""
        if self._inherited("versions"):
            return self._target.versions()
        return self._from_survey("versions")

    def code_path(self) -> dict[str, str]:
        """The wrapped target's instruction-set path as the worker sees it (its environment may cap it);
        asked once (it does not change while the environment does not)."""
        return self._from_survey("code_path")

    def set_threads(self, n: int | None) -> bool:
        """The wrapped target's ``set_threads``, run in the worker (where the framework's thread pool is)."""
        done = self._call("set_threads", n)
        self._threads = n if done else None
        return done

    def run_job(self, func: Callable, *args, timeout: float | None = None) -> Any:
        """``func(target, *args)`` in a fresh one-shot worker of its own (same environment and memory cap),
        e.g. timing the target without the accuracy run's worker state; ``func`` and ``args`` must pickle
        (module-level functions, plain data). Its result, or a TargetFailure."""
        if self._unloadable is not None or "*" in self._probe_failed:
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


def _probe_combo(target, fmt: str, beta: float, threshold) -> tuple[str | None, list[float] | None]:
    """In the worker: the target's ``check`` of one combination and, where it accepts, its switch points."""
    reason = target.check(fmt, beta, threshold)
    if reason is not None:
        return reason, None
    get = getattr(target, "switch_points", None)
    return None, [float(s) for s in (get(fmt, beta, threshold) if get else [])]


def _described(method: str, fmt: str, beta: float, threshold) -> str:
    """``check(bfloat16)``, ``check(float32, beta=2, threshold=0)``: a probe, for messages."""
    extra = "" if beta == 1.0 and threshold is None else f", beta={beta:g}, threshold={threshold!r}"
    return f"{method}({fmt}{extra})"


def _load_plugins(specs: list[str]) -> None:
    """A one-shot worker's preload: the plugin modules whose classes its job may need to unpickle."""
    for spec in specs:
        registry.load_target_module(spec)


def call_in_worker(func, *args, timeout: float = DEFAULT_TIMEOUT, memory_limit: int | None = None,
                   plugin_specs: list[str] | None = None, env: Mapping[str, str] | None = None, **kwargs):
    """``func(*args, **kwargs)`` in a fresh worker process (:func:`engine.workers.run_in_fresh_process`, with
    the plugin modules loaded there first); its result, or a :class:`TargetFailure`.

    For whole jobs that must not take the caller down with them. ``func`` and its arguments must pickle
    (module-level functions, :class:`~targets.locate.TargetRef` for targets: :meth:`IsolatedTarget.run_job`).
    """
    if plugin_specs is None:
        plugin_specs = loaded_module_specs()
    return run_in_fresh_process(func, *args, timeout=timeout, memory_limit=memory_limit, env=env,
                                preload=(_load_plugins, list(plugin_specs)), **kwargs)
