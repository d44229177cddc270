"""Certify every available target against its certificate: the tests of the pytest plugin's suite.

The same tests a backend author gets from ``pytest --softplus-cert-module my_target.py``
(:mod:`softplus_cert.suite`), parametrized by the plugin over every registered target here; see
``tests/certify/conftest.py`` for the options.
"""

from softplus_cert.suite import test_certify, test_certify_hypothesis, test_certify_layout  # noqa: F401
