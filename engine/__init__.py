"""The engine: measures an implementation against the oracle, and nothing else.

One job per module, dependencies flowing one way (each line imports only the lines above it and the
packages below, ``oracle`` and ``targets``):

* what is judged — :mod:`engine.case` (format, function, β, threshold), :mod:`engine.grid` (the built-in
  grid of combinations), :mod:`engine.defaults` (every default of a run, once), :mod:`engine.arguments`
  (the one validator of each argument);
* which inputs — :mod:`engine.inputs` (samples, boundary sets, near-midpoints, every value);
* how errors add up — :mod:`engine.tally` (exact, mergeable), :mod:`engine.switches`,
  :mod:`engine.refine`, :mod:`engine.verdict`;
* where the calls run — :mod:`engine.workers` (worker processes), :mod:`engine.execute` (local pool, Dask),
  :mod:`engine.isolation` (a target behind its own worker), :mod:`engine.measure` (chunks);
* the measurements — :mod:`engine.judge` (one combination), :mod:`engine.exhaustive` (every bit pattern),
  :mod:`engine.exhaustive_runs` (checkpoints, shards, merging), :mod:`engine.sweep` (a list of
  combinations), :mod:`engine.consistency` (layouts), :mod:`engine.agreement` (targets against each other),
  :mod:`engine.timing`, :mod:`engine.speed`, :mod:`engine.training` (speed and the training step),
  :mod:`engine.environment` (versions, CPU and paths of a run);
* the claims — :mod:`engine.certificate` (budgets and holding them), :mod:`engine.stored` (reports read
  back as records), :mod:`engine.compare` (two runs set side by side: what got worse, what got better).

The writers (``reports``) render these records and never call a target or the judge; the library, the
command line and the pytest plugin (``softplus_cert``) sit on top.
"""
