"""The certification suite runs through the installed pytest plugin (``softplus_cert.plugin``), as a backend
author's suite does: its options select what is certified.

  --softplus-cert-target NAMES       only these targets (default: every registered one, plugins loaded with
                                     the suite's --target-module included)
  --softplus-cert-certificate PATH   a certificate file for a target (repeatable); built-in targets use
                                     targets/certificates/<name>.toml, others default.toml
  --softplus-cert-samples N          sample size for float32/float64 (default: engine.inputs.DEFAULT_SAMPLES)
  --softplus-cert-seed N             seed of the sampled inputs (default 0; "random": a fresh one, printed)
  --softplus-cert-cpu-paths LIST     "native" judges the targets in this process, as the CPU dispatches; a
                                     cap level (avx512_bf16, avx512_icl, avx512_skx, avx2, baseline) in a
                                     worker process whose environment holds every framework at that CPU
                                     family or below (targets.cpu_path.CAPS), with compile caches of its own
                                     (default here: native,baseline, pyproject's softplus_cert_cpu_paths). A
                                     level that changes nothing on this CPU is skipped, saying so, unless
                                     asked for alone.
"""
