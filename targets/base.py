"""The target contract: what an implementation under test must provide.

A target is one implementation of softplus_β(x) = log(1 + exp(βx))/β and of its derivative sigmoid(βx), in one
framework on one device. Subclass :class:`Target`, set the class attributes, and write :meth:`Target.compute`
and :meth:`Target.compute_grad`; the public :meth:`Target.softplus` and :meth:`Target.softplus_grad` validate
the call, refuse what the target does not support (:class:`Unsupported`), and check what comes back.

Values cross the contract as NumPy arrays of the format's dtype (``oracle.formats``: ml_dtypes dtypes for
bfloat16 and the float8 formats), of any shape, 0-d and empty included; the result has the input's dtype and
shape. A target never casts to another format to make a call work: it raises :class:`Unsupported` instead.
"""

from __future__ import annotations

import importlib
import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import ModuleType
from typing import Callable

import numpy as np

from oracle.formats import Format, format_of, get_format
from oracle.implementation import TargetOutputError, output_problem
from targets import cpu_path

__all__ = ["Unsupported", "TargetOutputError", "output_problem", "Params", "Target", "missing_module",
           "import_module", "KERNEL_NAMES", "speed_inputs", "thread_count", "probed_check"]

#: The kernels :meth:`Target.kernels` returns, all required; "sync" and "inputs" may be added (see there).
KERNEL_NAMES = ("softplus", "softplus_grad", "relu", "relu_grad", "copy")


class Unsupported(Exception):
    """The target cannot do what was asked (format, β, threshold, device, missing framework); ``str()`` is why."""


@dataclass(frozen=True)
class Params:
    """Which parameters a target accepts.

    ``beta``: any finite β > 0 (False: only β = 1). ``threshold``: a threshold (float, ±inf allowed, never NaN)
    may be passed (False: only ``threshold=None``). ``default_threshold``: what ``threshold=None`` means for
    this implementation (torch: 20.0), or None where the implementation has no threshold. ``grid_betas``: the
    β values the default grid (``engine.grid.combinations`` without ``betas``) judges for this target, where a
    target has a reason to judge fewer than ``engine.grid.BETAS`` (torch-compile: β is a run-time argument of
    one compiled kernel); None: the whole grid. An explicit β list (``--betas``) always applies as given.
    """

    beta: bool = False
    threshold: bool = False
    default_threshold: float | None = None
    grid_betas: tuple[float, ...] | None = None


class Target(ABC):
    """One implementation under test. Subclasses set the class attributes and write ``compute``/``compute_grad``.

    Attributes:
        name: unique, stable, used on the command line and in reports (e.g. ``"torch-cpu"``).
        formats: names of the formats (``oracle.formats.FORMATS``) it computes in.
        device: ``"cpu"`` or ``"cuda"`` (or another name a plugin's hardware goes by).
        params: which of β and threshold it accepts (:class:`Params`).
        format_notes: format name -> why that format is unsupported, for a clearer message than the default.
    """

    name: str = ""
    formats: tuple[str, ...] = ()
    device: str = "cpu"
    params: Params = Params()
    format_notes: dict[str, str] = {}

    # --- what a target author writes ------------------------------------------------------------------------

    @abstractmethod
    def compute(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        """softplus_β(x) as the implementation computes it.

        Called only after validation: ``x`` is an ndarray (possibly 0-d, empty or non-contiguous) of a format
        in ``self.formats``, ``beta`` a finite float > 0 (1.0 unless ``params.beta``), ``threshold`` a float or
        None (None unless ``params.threshold``). Return an array of ``x``'s dtype and shape.
        """

    @abstractmethod
    def compute_grad(self, x: np.ndarray, beta: float, threshold: float | None) -> np.ndarray:
        """d/dx softplus_β(x) as the implementation's autodiff gives it for the op of :meth:`compute`."""

    def availability(self) -> str | None:
        """None if this target can run here, else why not ("tensorflow is not installed", "no CUDA device")."""
        return None

    def check(self, fmt: str | Format, beta: float = 1.0, threshold: float | None = None) -> str | None:
        """None if the target supports this format (a name, dtype or Format) and these parameters, else the
        reason. ValueError for a format the suite does not know. Extend with ``super().check(...)``."""
        fmt = get_format(fmt).name
        if fmt not in self.formats:
            note = self.format_notes.get(fmt)
            supported = ", ".join(self.formats) or "none"
            return f"{fmt} is not supported" + (f": {note}" if note else "") + f" (supported: {supported})"
        if beta != 1.0 and not self.params.beta:
            return f"only beta=1 is supported, got beta={beta!r}"
        if threshold is not None and not self.params.threshold:
            return f"no threshold parameter; pass threshold=None, got threshold={threshold!r}"
        return None

    def roundtrip(self, x: np.ndarray) -> np.ndarray:
        """``x`` moved to the framework and device and back without computing; override where data moves.

        Used to prove the marshalling bit-exact. The default (pure NumPy targets) copies.
        """
        return np.array(x, copy=True)

    def switch_points(self, fmt: str | Format, beta: float = 1.0, threshold: float | None = None) -> list[float]:
        """Inputs x (in x units, not βx) where the implementation switches formula, e.g. torch's βx > threshold.

        The judge measures the jump in ulps across each one; [] (the default) where there is none known.
        """
        return []

    def versions(self) -> dict[str, str]:
        """Library versions this target's results depend on, for reports ({} if none worth naming)."""
        return {}

    def code_path(self) -> dict[str, str]:
        """The instruction-set path this target's results depend on: ``{"path": label, ...details}``; the label
        ("avx512", "avx2", "baseline", "neon", …) is what certificates select on (budget key ``path``).

        Called in the process that computes (an isolated worker answers for itself). Default: the CPU's best
        ISA (:func:`targets.cpu_path.host_path`).
        """
        return cpu_path.host_path()

    def error_model(self):
        """How this target computes, with the error bounds its kernels state on every path
        (:class:`targets.error_models.ErrorModel`), from which ``draft-certificate`` derives the budget of a
        path nobody measured (:mod:`oracle.derive`); None (the default) where the kernels state no bound:
        such a path is then held to the loosest measured one, and the certificate says it is not derived."""
        return None

    def set_threads(self, n: int | None) -> bool:
        """Set the implementation's intra-op thread count: ``n`` (≥ 1) threads, or back to its own default for None.

        Returns True if the setting took effect, False where the target cannot set it (the default: a target
        without a thread pool of its own, or one whose device does not compute on host threads). The setting
        holds for later calls in this process until changed; callers restore it with ``set_threads(None)``.
        The layout-consistency check (``engine.consistency``) uses it to compare results at 1 thread and at
        all of them: an element's result should not depend on how the work was split.
        """
        return False

    def kernels(self, fmt: str | Format, n: int, beta: float = 1.0,
                threshold: float | None = None) -> dict[str, Callable[[], object]] | None:
        """Framework-resident kernels for the speed report, or None (the default).

        None means the target has no kernels of its own: the speed report then times the public
        :meth:`softplus`/:meth:`softplus_grad` on NumPy arrays, marshalling to and from the framework included,
        and says so. A target that overrides this prepares ``n`` elements of ``fmt`` on its device once
        (:func:`speed_inputs`: uniform in [-10, 10], seeded) and returns zero-argument callables that run the
        framework's op once on them and return the result (a framework array):

        * ``"softplus"``: the forward op, exactly as :meth:`compute` calls it (β and threshold as given).
        * ``"softplus_grad"``: the derivative as :meth:`compute_grad` gets it, without the marshalling: the
          backward kernel autograd runs (fed a gradient of ones where the framework takes one), or the
          analytic derivative where the implementation is a hand formula. Same values as ``softplus_grad``.
        * ``"relu"``, ``"relu_grad"``: ReLU and its derivative, in the same framework, style and device.
        * ``"copy"``: a plain copy of the n input elements into another buffer on the same device (the
          memory-bound limit): it must really move the bytes, not alias them.
        * optional ``"sync"``: waits until all work the kernels queued is done. The speed report calls it
          after each timed loop, so with it a kernel may return as soon as its work is queued (CUDA);
          without it every kernel must have finished its work when it returns.
        * optional ``"inputs"``: returns the prepared input array; never timed, used to check the kernels.

        Called only on an available target for a combination :meth:`check` accepts.
        """
        return None

    # --- what callers use -----------------------------------------------------------------------------------

    def softplus(self, x: np.ndarray, beta: float = 1.0, threshold: float | None = None) -> np.ndarray:
        """softplus_β(x) = log(1 + exp(βx))/β, elementwise, in ``x``'s format.

        ``threshold=None`` means the implementation's default (``params.default_threshold``).
        Raises ValueError for an invalid call (β not finite and > 0, NaN threshold, a dtype that is no known
        format), TypeError for a non-array, :class:`Unsupported` for what this target cannot do, and
        :class:`TargetOutputError` if the result has the wrong dtype or shape.
        """
        x, beta, threshold = self._validate(x, beta, threshold)
        return self._checked(self._untouched(self.compute, x, beta, threshold, "softplus"), x, "softplus")

    def softplus_grad(self, x: np.ndarray, beta: float = 1.0, threshold: float | None = None) -> np.ndarray:
        """d/dx softplus_β(x) = sigmoid(βx) as the implementation differentiates it; same rules as softplus."""
        x, beta, threshold = self._validate(x, beta, threshold)
        return self._checked(self._untouched(self.compute_grad, x, beta, threshold, "softplus_grad"), x,
                             "softplus_grad")

    def supports(self, fmt: str | Format, beta: float = 1.0, threshold: float | None = None) -> bool:
        """True if available here and :meth:`check` accepts the combination."""
        return self.availability() is None and self.check(fmt, beta, threshold) is None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} on {self.device}>"

    # --- internals ------------------------------------------------------------------------------------------

    def _validate(self, x, beta, threshold) -> tuple[np.ndarray, float, float | None]:
        if not isinstance(x, (np.ndarray, np.generic)):
            raise TypeError(f"{self.name}: expected a NumPy array, got {type(x).__name__}")
        x = np.asarray(x)  # a NumPy scalar becomes a 0-d array of the same dtype; arrays pass through
        fmt = format_of(x)  # ValueError for a dtype the suite does not know
        beta = _real(beta, "beta")
        if not (np.isfinite(beta) and beta > 0):
            raise ValueError(f"{self.name}: beta must be finite and > 0, got {beta!r}")
        if threshold is not None:
            threshold = _real(threshold, "threshold")
            if np.isnan(threshold):
                raise ValueError(f"{self.name}: threshold must not be NaN")
        reason = self.availability()
        if reason is not None:
            raise Unsupported(f"{self.name} is unavailable: {reason}")
        reason = self.check(fmt.name, beta, threshold)
        if reason is not None:
            raise Unsupported(f"{self.name}: {reason}")
        return x, beta, threshold

    def _untouched(self, compute: Callable, x: np.ndarray, beta: float, threshold, what: str):
        """``compute(x, beta, threshold)``, and a TargetOutputError if it changed ``x`` in place (then ``x`` is
        put back as it was: the caller's inputs, against which the result is judged, stay the inputs). The
        target still sees ``x`` itself, in its layout: a copy would hide how it handles strided views."""
        if not x.flags.writeable:
            return compute(x, beta, threshold)
        before = x.copy()
        y = compute(x, beta, threshold)
        uint = np.dtype(f"u{x.dtype.itemsize}")
        changed = int(np.count_nonzero(x.view(uint) != before.view(uint)))  # bits: NaN payloads count
        if changed:
            np.copyto(x, before)
            raise TargetOutputError(f"{self.name}.{what} changed its input in place ({changed:,} of {x.size:,} "
                                    f"elements); a target must leave its input as it was")
        return y

    def _checked(self, y, x: np.ndarray, what: str) -> np.ndarray:
        problem = output_problem(y, x)
        if problem is not None:
            raise TargetOutputError(f"{self.name}.{what} {problem}")
        return y


def speed_inputs(fmt: str | Format, n: int, seed: int = 0) -> np.ndarray:
    """``n`` inputs for the speed report: uniform in [-10, 10] (float64, seeded), rounded to ``fmt``.

    Every format holds this range, and softplus there takes both its exp and its linear-ish regime.
    """
    f = get_format(fmt)
    return np.random.default_rng(seed).uniform(-10.0, 10.0, int(n)).astype(f.dtype)


def thread_count(n) -> int | None:
    """``n`` as a thread count for :meth:`Target.set_threads`: an int ≥ 1, or None (the default); ValueError else."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise ValueError(f"thread count must be an integer >= 1 or None, got {n!r}")
    return None if n is None else int(n)


def probed_check(target: Target, fmt: str, base_reason: str | None, live: str | None, runtime: str) -> str | None:
    """:meth:`Target.check` for a target that asks its runtime which formats it computes in: ``base_reason``
    is what the base checks said, ``live`` the runtime's own reason for ``fmt`` (None: it computes in it).
    A format the target does not declare reads with the runtime's reason; a declared one the installed
    runtime refuses is refused with it."""
    if fmt not in target.formats:
        note = live or f"{runtime} computes it natively here, but this adapter does not declare it (not verified)"
        return f"{fmt} is not supported: {note} (supported: {', '.join(target.formats)})"
    return base_reason if base_reason is not None else live


def _real(value, what: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what} must be a real number, got {type(value).__name__}")
    return float(value)


# --- optional frameworks: probe without importing, import once, remember a failure ------------------------------

_IMPORT_ERRORS: dict[str, str] = {}

#: The extra of softplus-cert that installs each framework a built-in target needs (pyproject.toml).
EXTRAS = {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax", "scipy": "scipy", "onnxruntime": "onnxruntime",
          "onnx": "onnxruntime", "openvino": "openvino"}


def missing_module(module: str) -> str | None:
    """None if ``module`` looks importable, else why not, naming the extra that installs it where one does
    (:data:`EXTRAS`); never imports it (TensorFlow alone costs seconds)."""
    if module in _IMPORT_ERRORS:
        return _IMPORT_ERRORS[module]
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError) as exc:  # a parent package that fails, or a broken __spec__
        return f"{module} cannot be found: {exc}"
    if found:
        return None
    extra = EXTRAS.get(module.split(".")[0])
    return f"{module} is not installed" + (f' (pip install "softplus-cert[{extra}]")' if extra else "")


def import_module(module: str) -> ModuleType:
    """Import ``module``; if that fails, raise :class:`Unsupported` and make :func:`missing_module` say why."""
    reason = _IMPORT_ERRORS.get(module)
    if reason is None:
        try:
            return importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 — any failure of an optional framework means "unavailable"
            reason = _IMPORT_ERRORS[module] = f"importing {module} failed: {type(exc).__name__}: {exc}"
    raise Unsupported(reason)
