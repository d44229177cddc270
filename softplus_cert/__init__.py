"""softplus-cert as a library: certify softplus implementations from Python, or from pytest.

* Selecting and running: :func:`select` (targets and grid), :func:`run_accuracy` (judge everything, with
  agreement and layout checks), :func:`write_accuracy` (accuracy.json, accuracy.md, index.html),
  :func:`run_speed` (the speed report) — :mod:`softplus_cert.run`.
* Certificates: :func:`load_certificates`, :func:`certificate_for` (the one lookup of a target's certificate),
  :func:`hold` (broken and loose budgets) — :mod:`softplus_cert.certify`.
* One case at a time: :func:`judge` and :class:`Case` (format, function, β, threshold), from the oracle.
* pytest: the plugin :mod:`softplus_cert.plugin` (``pytest --softplus-cert-module my_target.py
  --softplus-cert-target NAME``), with the tests of :mod:`softplus_cert.suite`.

The command line (``softplus-cert``) is a thin layer over these functions.
"""

from engine.case import Case
from engine.judge import judge
from softplus_cert.certify import CertificateError, Holding, certificate_for, hold, load_certificates
from softplus_cert.run import (
                  AccuracyRun,
                  Selection,
                  SelectionError,
                  run_accuracy,
                  run_speed,
                  select,
                  write_accuracy,
                  write_page,
)

__all__ = ["Case", "judge", "CertificateError", "Holding", "certificate_for", "hold", "load_certificates",
           "AccuracyRun", "Selection", "SelectionError", "run_accuracy", "run_speed", "select", "write_accuracy",
           "write_page"]
