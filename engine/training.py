"""Training cost: one training step of a small MLP with Softplus beside the same step with ReLU, per framework.

The seed articles claim Softplus makes *training* "10 to 20% slower" than ReLU on the same hardware. The speed
report (:mod:`engine.speed`) times the activation alone; this module times what the claim is about: a whole
**training step** — forward pass, cross-entropy loss, backward pass and one optimizer update of every weight —
of the seeds' MLP (Linear → activation → … → Linear), with Softplus and with ReLU, and reports
``ratio`` = Softplus seconds per step / ReLU seconds per step (1.15: the Softplus step costs 15% more).

Models (:data:`MODELS`, one place, as data: input width, hidden widths, classes, batch):

* ``mlp`` — the seeds' model at a realistic (MNIST) scale: 784 inputs → 1024 → 1024 → 10 classes, batch 256.
  Two hidden layers of 1024 is the classic MNIST MLP; each activation element costs 784 or 1024
  multiply-adds of matrix product in the forward pass (about three times that per step, with the two
  gradient products), so the matrix products dominate and the activation is a small share: this is the
  cost a user of the seeds' model actually pays.
* ``act-heavy`` — an activation-heavy variant: 64 inputs → 8 hidden layers of 64 → 10, batch 2048. Narrow
  layers make each matrix product cheap per activation element (64 multiply-adds forward) while the big
  batch and the depth make many activation elements (1 Mi per step, each computed forward and differentiated
  backward): the activation is a large share of the step (``softplus_share`` measures it: about a third
  with Softplus), so this is near the worst case a training step of an MLP can show for Softplus, an upper
  bound on what the claim could mean. (Batch 2048, not more: a bigger one changes the shares little and
  doubles the time on a loaded machine.)

What is timed, per framework (each in a fresh ``spawn`` worker process of its own,
:func:`engine.isolation.call_in_worker`: TensorFlow and torch in one process fight over threads, and a crash
stays in its worker):

* **torch** — eager ``nn.Sequential`` of ``nn.Linear`` and ``nn.Softplus``/``nn.ReLU``, ``nn.CrossEntropyLoss``,
  ``torch.optim.SGD``: ``zero_grad(set_to_none=True)``, forward, loss, ``backward()``, ``step()``.
* **tensorflow** — a Keras 3 ``Sequential`` of ``Dense`` layers (activation ``"softplus"``/``"relu"``), with a
  hand-written ``tf.function`` train step: ``GradientTape``, ``SparseCategoricalCrossentropy(from_logits=True)``,
  ``keras.optimizers.SGD.apply_gradients``. This is what ``model.fit``/``train_on_batch`` compile to on a CPU
  (Keras disables XLA on CPU-only machines), without their per-call Python overhead (data adapter, callbacks,
  metrics): the fastest idiomatic step.
* **jax** — ``jax.jit`` of a ``jax.value_and_grad`` step with a plain SGD update through ``jax.tree_util.tree_map``
  (no optax), ``jax.nn.softplus``/``jax.nn.relu``, mean softmax cross-entropy; the updated parameters are fed
  back in, and the timing waits for them (``block_until_ready``) at the end of each timed loop.

Every framework uses plain SGD (learning rate 1e-3: the same update everywhere, and values stay tame so no
slow-path inf/NaN appear), float32, the same data (inputs standard normal, labels uniform over the classes,
NumPy seed 0) and the same initial weights (uniform in ±1/√fan_in, NumPy seed 0, like torch's default) for
both activations. Beside the two activations the same step with **no activation** (``identity``: the Linear
layers alone) is timed as well, so ``activation_share`` = 1 − identity / ReLU says how much of the ReLU step the
activation and its gradient take, and ``softplus_share`` = 1 − identity / Softplus the same for Softplus.

Before timing, each built model's logits (initial weights, 8 rows) are checked against a NumPy MLP with the
activation asked for (:func:`check_forwards`, recorded as ``forward_check``): a model that computes another
activation is an "error" record, never a timing.

Timing: :func:`engine.timing.time_kernels`, the speed report's own timer — ``time.perf_counter``, garbage
collection off, each step function warmed up (3 steps: tracing, compilation and allocator warm-up excluded),
calibrated to a loop of at least ``min_time`` seconds, then ``repeats`` rounds, each timing one loop of every
variant in turn (Softplus, ReLU, identity interleaved, so drift in clock speed or load hits all alike). A step
time is the median over the rounds, in **seconds per step**. ``spread`` = slowest / fastest round (near 1: a
quiet machine); ``ratio_low``/``ratio_high`` = the smallest and largest Softplus/ReLU ratio of one round's pair.
``paired_ratio`` = the median of those per-round ratios (robust to drift between rounds; ``ratio`` is the
ratio of the medians). Defaults (7 rounds of ≥ 0.05 s, so 1–5 steps a loop; the steps take 10–250 ms) keep
the whole benchmark (three worker starts with their imports, two models, three variants each) near 50 s on
two cores; ``quick=True`` uses tiny models (:data:`QUICK_MODELS`), 3 rounds of ≥ 5 ms, for tests.

Threads: each framework's default (one per CPU) unless ``threads`` says otherwise, recorded per record
(``threads``) with the CPU and the load average before and after: other work on the machine skews every
number, torch's most (its OpenMP pool waits at every barrier for a thread the other work holds off its core).
"""

from __future__ import annotations

import importlib.util
import math
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from engine.defaults import TIMEOUT_S, TRAINING_MIN_TIME_S, TRAINING_REPEATS
from engine.environment import cpu_model
from engine.isolation import call_in_worker
from engine.timing import time_kernels

__all__ = [
    "ModelSpec", "MODELS", "QUICK_MODELS", "Framework", "FRAMEWORKS", "TrainingRecord", "ACTIVATIONS",
    "LEARNING_RATE", "run_training", "training_job", "initial_weights", "training_data", "build_torch_model",
    "build_keras_model", "jax_forward", "reference_logits", "check_forwards",
]

#: The activations timed, in the order of each round; "identity" is the Linear layers alone (a baseline).
ACTIVATIONS = ("softplus", "relu", "identity")

LEARNING_RATE = 1e-3
SEED = 0
DEFAULT_REPEATS, DEFAULT_MIN_TIME = TRAINING_REPEATS, TRAINING_MIN_TIME_S
QUICK_REPEATS = 3
QUICK_MIN_TIME = 0.005
#: Tolerance of the forward check (float32 logits against NumPy's float64 ones, :func:`check_forwards`).
FORWARD_ATOL, FORWARD_RTOL = 1e-4, 1e-3
#: Seconds one framework's worker may take (its import, all its models and variants) before it counts as hung.
DEFAULT_TIMEOUT = TIMEOUT_S


@dataclass(frozen=True)
class ModelSpec:
    """An MLP: ``inputs`` → (Linear → activation) per ``hidden`` width → Linear → ``classes``; ``batch``
    rows a step."""

    name: str
    inputs: int
    hidden: tuple[int, ...]
    classes: int
    batch: int

    @property
    def layer_sizes(self) -> list[int]:
        """Widths from input to output: [inputs, *hidden, classes]."""
        return [self.inputs, *self.hidden, self.classes]

    @property
    def activation_elements(self) -> int:
        """Activation outputs per step (batch × the hidden widths): each is computed forward and differentiated."""
        return self.batch * sum(self.hidden)

    @property
    def matmul_flops(self) -> int:
        """Floating-point operations of the matrix products of one step, by convention 3 × the forward's
        2·batch·fan_in·fan_out (forward, gradient of the input, gradient of the weights)."""
        s = self.layer_sizes
        return 3 * 2 * self.batch * sum(a * b for a, b in zip(s, s[1:]))

    def describe(self) -> str:
        """"64→64×8→10, batch 2048": the widths, a run of equal hidden widths as width×count."""
        runs: list[list[int]] = []
        for w in self.hidden:
            if runs and runs[-1][0] == w:
                runs[-1][1] += 1
            else:
                runs.append([w, 1])
        hidden = [f"{w}×{n}" if n > 1 else str(w) for w, n in runs]
        return "→".join([str(self.inputs), *hidden, str(self.classes)]) + f", batch {self.batch}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        d.update(activation_elements=self.activation_elements, matmul_flops=self.matmul_flops)
        return d


#: The benchmark's models (see the module docstring for why these sizes).
MODELS: dict[str, ModelSpec] = {
    "mlp": ModelSpec("mlp", inputs=784, hidden=(1024, 1024), classes=10, batch=256),
    "act-heavy": ModelSpec("act-heavy", inputs=64, hidden=(64,) * 8, classes=10, batch=2048),
}

#: The same models, tiny, for ``quick=True`` (tests): the step runs, the numbers mean nothing.
QUICK_MODELS: dict[str, ModelSpec] = {
    "mlp": ModelSpec("mlp", inputs=32, hidden=(64, 64), classes=10, batch=32),
    "act-heavy": ModelSpec("act-heavy", inputs=16, hidden=(16,) * 4, classes=10, batch=64),
}


# --- records -----------------------------------------------------------------------------------------------------

@dataclass
class TrainingRecord:
    """One framework × model. Times in **seconds per training step** (median over ``repeats`` rounds).

    ``status``: "ok", "error" (``reason``: why the framework or this model failed) or "not installed".
    ``ratio`` = ``softplus_s`` / ``relu_s``; ``identity_s``: the same step without activation;
    ``activation_share`` = 1 − identity_s / relu_s and ``softplus_share`` = 1 − identity_s / softplus_s (the
    share of the step the activation takes). ``spread``: per activation, slowest / fastest round.
    """

    framework: str
    model: str
    status: str = "ok"
    reason: str | None = None
    sizes: dict[str, Any] = field(default_factory=dict)
    step: str | None = None
    softplus_s: float | None = None
    relu_s: float | None = None
    identity_s: float | None = None
    ratio: float | None = None
    ratio_low: float | None = None
    ratio_high: float | None = None
    paired_ratio: float | None = None
    activation_share: float | None = None
    softplus_share: float | None = None
    repeats: int | None = None
    min_time: float | None = None
    loops: dict[str, int] = field(default_factory=dict)
    spread: dict[str, float] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    forward_check: dict[str, dict[str, Any]] = field(default_factory=dict)
    threads: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    seconds_total: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _host() -> dict[str, Any]:
    """CPU, CPUs usable, load average: what the numbers depend on besides the framework."""
    d: dict[str, Any] = {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "platform": platform.platform()}
    if hasattr(os, "sched_getaffinity"):
        d["cpus_usable"] = len(os.sched_getaffinity(0))
    if hasattr(os, "getloadavg"):
        d["load_average_1_5_15min"] = [round(v, 2) for v in os.getloadavg()]
    flags = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS", "TF_NUM_INTRAOP_THREADS",
                                         "TF_ENABLE_ONEDNN_OPTS") if k in os.environ}
    if flags:
        d["flags"] = flags
    return d


# --- the data and the weights (shared by every framework) --------------------------------------------------------

def training_data(spec: ModelSpec, seed: int = SEED):
    """(x float32 [batch, inputs] standard normal, y int64 [batch] uniform over the classes), NumPy, seeded."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((spec.batch, spec.inputs), dtype=np.float32)
    y = rng.integers(0, spec.classes, size=spec.batch, dtype=np.int64)
    return x, y


def initial_weights(spec: ModelSpec, seed: int = SEED):
    """[(W [fan_in, fan_out], b [fan_out])] float32 per Linear layer, uniform in ±1/√fan_in (torch's default)."""
    rng = np.random.default_rng(seed + 1)
    s = spec.layer_sizes
    out = []
    for fan_in, fan_out in zip(s, s[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        out.append((rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32),
                    rng.uniform(-bound, bound, fan_out).astype(np.float32)))
    return out


def reference_logits(spec: ModelSpec, activation: str, rows):
    """NumPy (float64) logits of the MLP with :func:`initial_weights` and ``activation`` on ``rows``."""
    acts = {"softplus": lambda h: np.logaddexp(0.0, h), "relu": lambda h: np.maximum(h, 0.0),
            "identity": lambda h: h}
    h = np.asarray(rows, dtype=np.float64)
    weights = initial_weights(spec)
    for i, (w, b) in enumerate(weights):
        h = h @ w.astype(np.float64) + b
        if i < len(weights) - 1:
            h = acts[activation](h)
    return h


def check_forwards(spec: ModelSpec, forwards: dict[str, Forward], rows: int = 8) -> dict[str, dict[str, Any]]:
    """Per activation: do the built model's logits (initial weights, first ``rows`` rows of the data) match
    :func:`reference_logits` with that activation (and not with another)? {"ok", "max_abs_diff"}."""
    x = training_data(spec)[0][:rows]
    out: dict[str, dict[str, Any]] = {}
    for act, forward in forwards.items():
        got = np.asarray(forward(x), dtype=np.float64)
        want = reference_logits(spec, act, x)
        diff = float(np.max(np.abs(got - want))) if got.shape == want.shape else math.inf
        out[act] = {"ok": bool(diff <= FORWARD_ATOL + FORWARD_RTOL * float(np.max(np.abs(want)))),
                    "max_abs_diff": diff}
    return out


# --- torch -------------------------------------------------------------------------------------------------------

def build_torch_model(spec: ModelSpec, activation: str):
    """``nn.Sequential(Linear, <activation>, …, Linear)`` with :func:`initial_weights`."""
    import torch
    from torch import nn

    acts = {"softplus": nn.Softplus, "relu": nn.ReLU, "identity": nn.Identity}
    layers: list = []
    weights = initial_weights(spec)
    for i, (w, b) in enumerate(weights):
        lin = nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i < len(weights) - 1:
            layers.append(acts[activation]())
    return nn.Sequential(*layers)


def _torch_steps(spec: ModelSpec):
    import torch
    from torch import nn

    x_np, y_np = training_data(spec)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    steps, forwards = {}, {}
    for act in ACTIVATIONS:
        model = build_torch_model(spec, act)

        def forward(rows, model=model):
            with torch.no_grad():
                return model(torch.from_numpy(rows)).numpy()
        forwards[act] = forward
        opt = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
        loss_fn = nn.CrossEntropyLoss()

        def step(model=model, opt=opt, loss_fn=loss_fn):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
        steps[act] = step
    return steps, None, forwards


def _torch_info() -> tuple[dict[str, Any], dict[str, str]]:
    import torch

    threads = {"torch.get_num_threads": torch.get_num_threads(),
               "torch.get_num_interop_threads": torch.get_num_interop_threads()}
    return threads, {"torch": torch.__version__}


# --- TensorFlow / Keras ------------------------------------------------------------------------------------------

def build_keras_model(spec: ModelSpec, activation: str):
    """A Keras ``Sequential`` of ``Dense`` layers (hidden ones with ``activation``), :func:`initial_weights`."""
    import keras

    act = None if activation == "identity" else activation
    weights = initial_weights(spec)
    layers = [keras.Input((spec.inputs,), dtype="float32")]
    layers += [keras.layers.Dense(h, activation=act) for h in spec.hidden]
    layers.append(keras.layers.Dense(spec.classes))
    model = keras.Sequential(layers)
    for layer, (w, b) in zip(model.layers, weights):
        layer.set_weights([w, b])
    return model


def _tf_steps(spec: ModelSpec):
    import keras
    import tensorflow as tf

    x_np, y_np = training_data(spec)
    x, y = tf.constant(x_np), tf.constant(y_np)
    steps, forwards = {}, {}
    last: dict[str, Any] = {}
    for act in ACTIVATIONS:
        model = build_keras_model(spec, act)
        forwards[act] = lambda rows, model=model: model(tf.constant(rows), training=False).numpy()
        opt = keras.optimizers.SGD(learning_rate=LEARNING_RATE)
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        @tf.function(jit_compile=False)
        def train_step(x, y, model=model, opt=opt, loss_fn=loss_fn):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        def step(train_step=train_step, act=act):
            last[act] = train_step(x, y)
        steps[act] = step

    def sync():
        for v in last.values():
            v.numpy()
    return steps, sync, forwards


def _tf_info() -> tuple[dict[str, Any], dict[str, str]]:
    import keras
    import tensorflow as tf

    threads = {"tf.config.threading.get_intra_op_parallelism_threads":
               tf.config.threading.get_intra_op_parallelism_threads(),
               "tf.config.threading.get_inter_op_parallelism_threads":
               tf.config.threading.get_inter_op_parallelism_threads(),
               "note": "0 = TensorFlow's default (one per CPU)"}
    return threads, {"tensorflow": tf.__version__, "keras": keras.__version__}


# --- JAX ---------------------------------------------------------------------------------------------------------

def _jax_activation(activation: str):
    import jax

    return {"softplus": jax.nn.softplus, "relu": jax.nn.relu, "identity": lambda h: h}[activation]


def jax_forward(params, x, activation: str):
    """Logits of the MLP with ``params`` [(W, b)] and the named activation after each hidden layer."""
    act = _jax_activation(activation)
    h = x
    for w, b in params[:-1]:
        h = act(h @ w + b)
    w, b = params[-1]
    return h @ w + b


def _jax_steps(spec: ModelSpec):
    import jax
    import jax.numpy as jnp

    x_np, y_np = training_data(spec)
    x, y = jnp.asarray(x_np), jnp.asarray(y_np.astype("int32"))
    state: dict[str, Any] = {}
    steps, forwards = {}, {}
    for act in ACTIVATIONS:
        def loss_fn(params, x, y, act=act):
            logp = jax.nn.log_softmax(jax_forward(params, x, act))
            return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

        @jax.jit
        def train_step(params, x, y, loss_fn=loss_fn):
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            return jax.tree_util.tree_map(lambda p, g: p - LEARNING_RATE * g, params, grads), loss

        state[act] = [(jnp.asarray(w), jnp.asarray(b)) for w, b in initial_weights(spec)]
        start = list(state[act])  # the initial weights, for the forward check (the steps replace state[act])
        forwards[act] = lambda rows, start=start, act=act: np.asarray(jax_forward(start, jnp.asarray(rows), act))

        def step(train_step=train_step, act=act):
            state[act], _ = train_step(state[act], x, y)
        steps[act] = step

    def sync():
        jax.block_until_ready(state)
    return steps, sync, forwards


def _jax_info() -> tuple[dict[str, Any], dict[str, str]]:
    import jax
    import jaxlib

    threads = {"jax.devices": [str(d) for d in jax.devices()],
               "note": "XLA's CPU client uses one thread per CPU unless XLA_FLAGS says otherwise"}
    return threads, {"jax": jax.__version__, "jaxlib": jaxlib.__version__}


# --- frameworks --------------------------------------------------------------------------------------------------

Step = Callable[[], object]
Forward = Callable[[Any], Any]
StepsFactory = Callable[[ModelSpec], tuple[dict[str, Step], Callable[[], object] | None, dict[str, Forward]]]


@dataclass(frozen=True)
class Framework:
    """A framework with a training API: ``module`` to find (installed?), ``steps(spec)`` → ({activation: step
    function}, sync or None, {activation: forward(rows) → logits with the initial weights, for
    :func:`check_forwards`}), ``info()`` → (threads, versions), ``step`` what one step is, in words.

    ``steps`` and ``info`` run in the framework's worker; they must be module-level functions (they pickle by
    name)."""

    name: str
    module: str
    steps: StepsFactory
    info: Callable[[], tuple[dict[str, Any], dict[str, str]]]
    step: str


FRAMEWORKS: dict[str, Framework] = {
    "torch": Framework("torch", "torch", _torch_steps, _torch_info,
                       "eager nn.Sequential; zero_grad, forward, CrossEntropyLoss, backward, SGD step"),
    "tensorflow": Framework("tensorflow", "tensorflow", _tf_steps, _tf_info,
                            "Keras Sequential of Dense; tf.function(GradientTape, SparseCategoricalCrossentropy, "
                            "keras.optimizers.SGD.apply_gradients), no XLA"),
    "jax": Framework("jax", "jax", _jax_steps, _jax_info,
                     "jax.jit(value_and_grad of softmax cross-entropy + SGD update by tree_map)"),
}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _share(base: float | None, total: float | None) -> float | None:
    return 1.0 - base / total if base and total else None


def _measure_model(fw: Framework, spec: ModelSpec, repeats: int, min_time: float) -> TrainingRecord:
    """One model in this process: build the three step functions, time them interleaved; errors recorded."""
    rec = TrainingRecord(framework=fw.name, model=spec.name, sizes=spec.to_dict(), step=fw.step, repeats=repeats,
                         min_time=min_time)
    start = time.perf_counter()
    try:
        steps, sync, forwards = fw.steps(spec)
        rec.forward_check = check_forwards(spec, forwards)
        bad = {a: d for a, d in rec.forward_check.items() if not d["ok"]}
        if bad:
            rec.status = "error"
            rec.reason = "the model does not compute the MLP with the activation asked for: " + "; ".join(
                f"{a}: logits differ from NumPy's by up to {d['max_abs_diff']:.3g}" for a, d in bad.items())
            rec.seconds_total = time.perf_counter() - start
            return rec
        timings, errors = time_kernels({a: steps[a] for a in ACTIVATIONS}, repeats, min_time, sync)
    except Exception as exc:  # noqa: BLE001 — one model that fails must not sink the others
        rec.status, rec.reason = "error", _failure(exc)
        rec.seconds_total = time.perf_counter() - start
        return rec
    rec.seconds_total = time.perf_counter() - start
    rec.errors = errors
    rec.loops = {a: t.loops for a, t in timings.items()}
    rec.samples = {a: t.samples for a, t in timings.items()}
    rec.spread = {a: t.max_s / t.min_s for a, t in timings.items() if t.min_s}
    med = {a: t.median_s for a, t in timings.items()}
    rec.softplus_s, rec.relu_s, rec.identity_s = med.get("softplus"), med.get("relu"), med.get("identity")
    rec.ratio = _ratio(rec.softplus_s, rec.relu_s)
    if "softplus" in timings and "relu" in timings:
        pairs = [s / r for s, r in zip(timings["softplus"].samples, timings["relu"].samples) if r]
        if pairs:
            rec.ratio_low, rec.ratio_high, rec.paired_ratio = min(pairs), max(pairs), statistics.median(pairs)
    rec.activation_share = _share(rec.identity_s, rec.relu_s)
    rec.softplus_share = _share(rec.identity_s, rec.softplus_s)
    if rec.ratio is None:
        missing = [a for a in ("softplus", "relu") if a not in timings]
        rec.status = "error"
        rec.reason = "; ".join(f"{a}: {errors.get(a, 'not timed')}" for a in missing)
    return rec


def training_job(fw: Framework, models: Sequence[ModelSpec], repeats: int, min_time: float,
                 threads: int | None = None) -> list[TrainingRecord]:
    """Every model of one framework, in this process (the job a framework's worker runs)."""
    before = _host()
    applied = _set_threads(fw.name, threads) if threads is not None else None
    try:
        thread_info, versions = fw.info()
        if threads is not None:
            thread_info = dict(thread_info, requested=threads, applied=applied)
    except Exception as exc:  # noqa: BLE001 — e.g. the framework's import fails
        return [TrainingRecord(framework=fw.name, model=m.name, status="error", sizes=m.to_dict(), step=fw.step,
                               reason=f"loading {fw.name}: {_failure(exc)}", environment=before) for m in models]
    records = [_measure_model(fw, m, repeats, min_time) for m in models]
    after = _host().get("load_average_1_5_15min")
    for r in records:
        r.threads, r.versions = dict(thread_info), dict(versions)
        r.environment = dict(before, load_average_after=after)
    return records


def _set_threads(framework: str, n: int) -> bool:
    """Hold the framework to ``n`` threads (before it has run anything); whether it could be done here."""
    if framework == "torch":
        import torch

        torch.set_num_threads(n)
        return True
    if framework == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(n)
        return True
    return False  # JAX: only XLA_FLAGS before its import, which this worker cannot set any more


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def run_training(frameworks: Iterable[str | Framework] = tuple(FRAMEWORKS), models: Iterable[str] = tuple(MODELS),
                 quick: bool = False, repeats: int | None = None, min_time: float | None = None,
                 isolate: bool = True, timeout: float = DEFAULT_TIMEOUT, threads: int | None = None,
                 progress: Callable[[str], None] | None = None) -> list[TrainingRecord]:
    """Time a training step with Softplus, ReLU and no activation for every framework × model.

    ``frameworks``: names in :data:`FRAMEWORKS` (or :class:`Framework` objects); ``models``: names in
    :data:`MODELS`; ``quick``: the tiny :data:`QUICK_MODELS` and few short rounds (tests). ``repeats`` /
    ``min_time`` override the rounds and the seconds each timed loop lasts at least. ``isolate``: each
    framework in a fresh spawned worker (default; False runs them here, one after the other). ``threads``:
    hold each framework to that many threads (default: its own default). A framework not installed gives
    "not installed" records, one that fails "error" records with the reason; the others still run.
    """
    table = QUICK_MODELS if quick else MODELS
    models = list(models)
    unknown = [m for m in models if m not in table]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; known: {list(table)}")
    specs = [table[m] for m in models]
    fws = []
    for f in frameworks:
        if isinstance(f, Framework):
            fws.append(f)
        elif f in FRAMEWORKS:
            fws.append(FRAMEWORKS[f])
        else:
            raise ValueError(f"unknown framework {f!r}; known: {list(FRAMEWORKS)}")
    repeats = repeats if repeats is not None else (QUICK_REPEATS if quick else DEFAULT_REPEATS)
    min_time = min_time if min_time is not None else (QUICK_MIN_TIME if quick else DEFAULT_MIN_TIME)
    records: list[TrainingRecord] = []
    for fw in fws:
        if not _installed(fw.module):
            records += [TrainingRecord(framework=fw.name, model=m.name, status="not installed", sizes=m.to_dict(),
                                       step=fw.step, reason=f"{fw.module} is not installed") for m in specs]
            continue
        if progress:
            progress(f"training step: {fw.name} ({', '.join(m.name for m in specs)})")
        try:
            if isolate:
                records += call_in_worker(training_job, fw, specs, repeats, min_time, threads, timeout=timeout,
                                          plugin_specs=[])
            else:
                records += training_job(fw, specs, repeats, min_time, threads)
        except Exception as exc:  # noqa: BLE001 — a TargetFailure (crash, hang, raise): recorded, the rest go on
            records += [TrainingRecord(framework=fw.name, model=m.name, status="error", sizes=m.to_dict(),
                                       step=fw.step, reason=str(exc) or _failure(exc)) for m in specs]
    return records
