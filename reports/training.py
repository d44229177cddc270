"""The training step written: the ``training`` section of speed.json and its Markdown, each framework's
Softplus step beside its ReLU step and the seeds' claim (how it is measured: :mod:`engine.training`).
"""

from __future__ import annotations

from typing import Any, Sequence

from engine.training import LEARNING_RATE, ModelSpec, TrainingRecord

__all__ = ["CLAIM", "CLAIM_TEXT", "training_to_json", "training_markdown", "claim_sentence"]

#: The seeds' claim: a Softplus training step costs this much of a ReLU one (low, high).
CLAIM = (1.10, 1.20)
CLAIM_TEXT = "10 to 20% slower"
#: Largest / smallest per-round ratio above which a sentence calls the measurement noisy.
NOISY = 1.5


# --- report sections ---------------------------------------------------------------------------------------------

def _percent_slower(ratio: float) -> int:
    """(ratio − 1) in whole percent, as the sentences print it (the verdict uses the same number)."""
    return round((ratio - 1.0) * 100)


def _verdict(ratio: float) -> str:
    """Where ``ratio`` falls beside :data:`CLAIM`, judged on the whole percent the sentence prints."""
    pct, lo, hi = _percent_slower(ratio), round((CLAIM[0] - 1) * 100), round((CLAIM[1] - 1) * 100)
    if pct < 0:
        return "faster than ReLU, below the claim"
    if pct < lo:
        return "below the claim"
    if pct <= hi:
        return "within the claim"
    return "above the claim"


def training_to_json(records: Sequence[TrainingRecord]) -> dict[str, Any]:
    """The ``training`` section of speed.json: conventions, then per framework and model its record
    (``softplus_s``, ``relu_s``, ``identity_s`` in seconds per step, ``ratio`` = softplus_s / relu_s, …)."""
    results: dict[str, dict[str, Any]] = {}
    for r in records:
        d = r.to_dict()
        if r.ratio is not None:
            d["verdict"] = _verdict(r.ratio)
        results.setdefault(r.framework, {})[r.model] = d
    return {
        "unit": "seconds per training step",
        "step": "forward, cross-entropy loss, backward, one SGD update of every weight (learning rate "
                f"{LEARNING_RATE:g}); float32; same data and initial weights for every activation",
        "statistic": "median over interleaved rounds (softplus, relu, identity) after warm-up; compile/trace "
                     "time excluded",
        "ratio": "softplus_s / relu_s",
        "activation_share": "1 - identity_s / relu_s (identity: the same step without activation)",
        "claim": {"text": CLAIM_TEXT, "ratio_low": CLAIM[0], "ratio_high": CLAIM[1]},
        "results": results,
    }


def _ms(v: float | None) -> str:
    return "–" if v is None else f"{v * 1e3:.3g}"


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v * 100:.0f}%"


def claim_sentence(r: TrainingRecord) -> str:
    """"torch, mlp: Softplus step 1.07× ReLU (7% slower); the claim: 10–20% (within the claim)"."""
    pct = _percent_slower(r.ratio)
    how = f"{pct}% slower" if pct > 0 else ("as fast" if pct == 0 else f"{-pct}% faster")
    noisy = ""
    if r.ratio_low is not None and r.ratio_high is not None:
        noisy = f"; single rounds {r.ratio_low:.2f}–{r.ratio_high:.2f}×"
        if r.paired_ratio is not None:
            noisy += f", their median {r.paired_ratio:.2f}×"
        if r.ratio_low > 0 and r.ratio_high / r.ratio_low > NOISY:
            noisy += ": noisy, read with care"
    share = ""
    if r.softplus_share is not None and r.softplus_share > 0:
        share = f"; Softplus and its gradient take {_pct(r.softplus_share)} of the Softplus step"
    return (f"{r.framework}, {r.model}: Softplus step {r.ratio:.2f}× ReLU ({how}{noisy}){share}; "
            f"the claim: {CLAIM_TEXT.replace(' to ', '–')} ({_verdict(r.ratio)}).")


def training_markdown(records: Sequence[TrainingRecord]) -> str:
    """The training section of speed.md: a table per framework (a row per model: step times, ×ReLU, the
    activation's share, spread, threads), a sentence per framework × model beside the seeds' claim, then what
    was not measured."""
    lines = ["## Training step: Softplus beside ReLU", "",
             f"The seeds claim Softplus makes training \"{CLAIM_TEXT}\" than ReLU. Timed here: one training step "
             "(forward, cross-entropy loss, backward, SGD update; float32) of the seeds' MLP, with Softplus, with "
             "ReLU and with no activation (identity: the Linear layers alone), same data and initial weights, "
             "median of interleaved rounds after warm-up, in **milliseconds per step**. ×ReLU = Softplus step / "
             "ReLU step; act. share = 1 − identity / ReLU (how much of the ReLU step the activation takes); "
             "spread = slowest / fastest round of the Softplus step.", ""]
    ok = [r for r in records if r.status == "ok"]
    for fw in dict.fromkeys(r.framework for r in ok):
        mine = [r for r in ok if r.framework == fw]
        first = mine[0]
        versions = ", ".join(f"{k} {v}" for k, v in first.versions.items())
        lines += [f"### {fw}", "", f"{first.step}. {versions}. Threads: "
                  + ", ".join(f"{k} = {v}" for k, v in first.threads.items() if k != "note") + ".", "",
                  "| model | sizes | Softplus ms/step | ReLU ms/step | identity ms/step | ×ReLU | act. share | "
                  "Softplus share | spread | rounds |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in mine:
            spec = ModelSpec(r.model, r.sizes["inputs"], tuple(r.sizes["hidden"]), r.sizes["classes"],
                             r.sizes["batch"])
            spread = r.spread.get("softplus")
            lines.append(f"| {r.model} | {spec.describe()} | {_ms(r.softplus_s)} | {_ms(r.relu_s)} | "
                         f"{_ms(r.identity_s)} | ×{r.ratio:.2f} | {_pct(r.activation_share)} | "
                         f"{_pct(r.softplus_share)} | {'–' if spread is None else f'{spread:.2f}'} | {r.repeats} |")
        lines.append("")
    if ok:
        lines += ["### Against the claim", ""] + [f"- {claim_sentence(r)}" for r in ok] + [""]
        env = ok[0].environment
        if env:
            lines += [f"Measured on {env.get('cpu')} ({env.get('cpus_usable', env.get('cpu_count'))} CPUs usable); "
                      f"load average (1 min) {env.get('load_average_1_5_15min', ['?'])[0]} before the first "
                      "framework: other work on the machine makes every number noisier.", ""]
    bad = [r for r in records if r.status != "ok"]
    if bad:
        lines += ["### Training step not measured", ""]
        lines += [f"- {r.framework}, {r.model}: {r.status}: {r.reason}" for r in bad] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"
