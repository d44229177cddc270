"""The pytest plugin: certification tests for a backend author's own target, in the author's own test suite.

Installed with the package (entry point ``pytest11``) and off unless asked: nothing is collected and no
fixture is parametrized until ``--softplus-cert-module`` or ``--softplus-cert-target`` is given (or a test
module imports :mod:`softplus_cert.suite`, as this repository's suite does)::

    pytest --softplus-cert-module my_target.py --softplus-cert-target my-softplus
           [--softplus-cert-certificate my_target.toml] [--softplus-cert-formats float16,bfloat16]
           [--softplus-cert-samples 20000] [--softplus-cert-report reports/] [-n auto]
           [--softplus-cert-baseline reports/accuracy.json]

generates one test per format × function × parameter set (and instruction-set path) of the target, each
failing with the certificate's violation message (the worst input, its result and the correctly rounded
one); the 8- and 16-bit formats are judged on every input. ``--softplus-cert-report DIR`` also writes
accuracy.json, accuracy.md and index.html of what was judged (under xdist too: the verdicts travel with the
test reports to the controller). A target without a certificate of its own is held to the default one
(faithfully rounded, every property). ``--softplus-cert-baseline FILE`` (an accuracy.json, .json.gz or report
folder of an earlier run) also fails each ``test_certify`` whose verdict got worse than the baseline's verdict
of its combination (:func:`engine.compare.worse_than`, matched by target, format, function, β, threshold and
mode, on the same path where the baseline has it), with the figures that got worse; a combination the
baseline lacks is no failure.

Fixtures: ``softplus_cert`` (:class:`Certifier`: ``softplus_cert.judge("float32", "softplus")`` returns the
Verdict of the selected target, for the author's own assertions; ``.certificates``, ``.targets``),
``softplus_cert_case`` (the :class:`engine.grid.Combo` of a generated test) and ``cpu_path``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import targets
from engine.arguments import argparse_type, check_samples, check_seed
from engine.certificate import certificate_for
from engine.compare import CompareError, load_verdicts, worse_than_baseline
from engine.consistency import LayoutReport
from engine.defaults import SAMPLES, SEED
from engine.environment import environment
from engine.isolation import IsolatedTarget
from engine.judge import judge
from engine.verdict import Verdict
from softplus_cert import suite
from softplus_cert.certify import CertificateError, load_certificates
from softplus_cert.run import AccuracyRun, SelectionError, select, writable, write_accuracy
from targets.cpu_path import CAP_LEVELS, cap_changes, cap_reaches, host_isa, host_level

__all__ = ["Certifier", "CPU_PATHS"]

#: The instruction-set paths a certification can run on: "native" (as the CPU dispatches) and each cap level of
#: ``targets.cpu_path.CAP_LEVELS`` ("avx512_bf16", "avx512_icl", "avx512_skx", "avx2", "baseline": every framework held to that
#: CPU family in a worker process of its own, with compile caches of its own).
CPU_PATHS = ("native", *CAP_LEVELS)
_VERDICT, _LAYOUT, _LOOSE = "softplus_cert_verdict", "softplus_cert_layout", "loose_budget"


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("softplus-cert", "certification of softplus implementations (softplus-cert)")
    g.addoption("--softplus-cert-module", action="append", default=[], metavar="SPEC",
                help="load targets from this .py file or module (repeatable); turns the plugin on")
    g.addoption("--softplus-cert-target", action="append", default=[], metavar="NAMES",
                help="comma-separated targets to certify (default: every target the modules give)")
    g.addoption("--softplus-cert-certificate", action="append", default=[], metavar="FILE",
                help="certificate TOML for a target (repeatable; default: the built-in ones, else the default)")
    g.addoption("--softplus-cert-formats", default=None, metavar="LIST",
                help="comma-separated formats (default: all the target supports)")
    g.addoption("--softplus-cert-samples", type=argparse_type(check_samples), default=None, metavar="N",
                help="float32/float64 sample size (default: {} / {}, plus boundary sets)".format(
                    *(f"{SAMPLES[name]:,}" for name in ("float32", "float64"))))
    g.addoption("--softplus-cert-seed", type=argparse_type(check_seed), default=SEED, metavar="N",
                help=f"seed of the sampled inputs, or 'random' for a fresh one, printed in the header (default {SEED})")
    g.addoption("--softplus-cert-cpu-paths", default=None, metavar="LIST",
                help=f"instruction-set paths to certify on: {', '.join(CPU_PATHS)} "
                     "(default: the ini setting softplus_cert_cpu_paths, else native)")
    g.addoption("--softplus-cert-report", default=None, metavar="DIR",
                help="also write accuracy.json, accuracy.md and index.html of what was judged into DIR")
    g.addoption("--softplus-cert-baseline", default=None, metavar="FILE",
                help="an earlier run's accuracy.json (.json.gz, or its folder): fail each certification whose "
                     "verdict got worse than the baseline's verdict of the same combination")
    parser.addini("softplus_cert_cpu_paths", f"instruction-set paths to certify on by default ({', '.join(CPU_PATHS)})",
                  default="native")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sampled_only: a certification test only for the sampled formats "
                                       "(float32, float64)")
    config.addinivalue_line("markers", "layout_only: a certification test only at beta=1 and the default threshold")
    config.pluginmanager.register(_Session(config), "softplus-cert-session")


def _split(values) -> list[str]:
    return [p.strip() for v in values or [] for p in str(v).split(",") if p.strip()]


@dataclass
class Certifier:
    """The selection and certificates of this pytest run, and a judge for authors' own assertions."""

    targets: list
    certificates: dict
    samples: int | None = None
    seed: int = SEED
    reporting: bool = False
    baseline: list = field(default_factory=list)  # the verdicts of --softplus-cert-baseline ([]: none given)
    baseline_path: str = ""
    _capped: dict = field(default_factory=dict)

    def target(self, name: str | None = None):
        """The selected target called ``name`` (default: the only one); LookupError otherwise."""
        if name is None:
            if len(self.targets) != 1:
                raise LookupError(f"{len(self.targets)} targets are selected: name one "
                                  f"({', '.join(t.name for t in self.targets)})")
            return self.targets[0]
        for t in self.targets:
            if t.name == name:
                return t
        raise LookupError(f"no selected target named {name!r}")

    def judge(self, fmt: str, fn: str = "softplus", beta: float = 1.0, threshold: float | None = None, *,
              target: str | None = None, n: int | None = None, **kwargs):
        """The :class:`engine.verdict.Verdict` of the (only, or named) selected target on this case."""
        return judge(self.target(target), fmt, fn, beta, threshold, n=self.samples if n is None else n,
                     seed=self.seed, **kwargs)

    def violations(self, verdict) -> list[str]:
        """The verdict's broken budgets under its target's certificate ([] where it holds)."""
        return [m.message for m in certificate_for(self.certificates, verdict.target).check(verdict)]

    def regressions(self, verdict) -> list[str]:
        """Why the verdict is worse than the baseline's verdict of its combination: the header line and one
        line per figure that got worse ([] without a baseline, where none got worse, or where the baseline
        lacks the combination)."""
        worse = worse_than_baseline(self.baseline, verdict)
        return [f"worse than the baseline {self.baseline_path}:", *(f"  {line}" for line in worse)] if worse else []

    def on_path(self, target, cpu_path: str):
        """The target as judged on that path: itself for "native", else behind a worker process whose
        environment holds every framework at that cap level (one per target and level, stopped at the end of
        the session)."""
        if cpu_path == "native":
            return target
        key = (target.name, cpu_path)
        if key not in self._capped:
            self._capped[key] = IsolatedTarget(target, env=cap_changes(cpu_path))
        return self._capped[key]

    def record(self, record_property, *, verdict=None, layout=None) -> None:
        """Send a verdict or layout report to the controller (for ``--softplus-cert-report``)."""
        if not self.reporting:
            return
        if verdict is not None:
            record_property(_VERDICT, json.dumps(verdict.to_dict()))
        if layout is not None:
            record_property(_LAYOUT, json.dumps(layout.to_dict()))

    def close(self) -> None:
        for t in self._capped.values():
            t.close()
        self._capped.clear()


class _Session:
    """The plugin's state for one pytest run (registered in pytest_configure)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        opt = config.getoption
        self.modules = list(opt("--softplus-cert-module"))
        self.names = _split(opt("--softplus-cert-target"))
        self.asked = bool(self.modules or self.names)
        self.report_dir = opt("--softplus-cert-report")
        self.baseline_path = opt("--softplus-cert-baseline")
        self.baseline: list = []
        if self.baseline_path:  # read now: an unreadable baseline is a usage error before anything runs
            try:
                self.baseline = load_verdicts(self.baseline_path)[0]
            except CompareError as e:
                raise pytest.UsageError(f"softplus-cert: --softplus-cert-baseline: {e}") from None
        self.certifier: Certifier | None = None
        self.collected: dict[str, list] = {_VERDICT: [], _LAYOUT: [], _LOOSE: []}

    # --- the selection ------------------------------------------------------------------------------------

    def selection(self):
        """(targets, combos) of this run, built once; a UsageError (pytest's) for a bad request."""
        if not hasattr(self, "_selection"):
            formats = _split([self.config.getoption("--softplus-cert-formats")] if
                             self.config.getoption("--softplus-cert-formats") else [])
            names = self.names
            if self.modules and not names:  # the modules' own targets, not every built-in
                names = self._module_targets()
            try:
                sel = select(names or None, modules=self.modules, formats=formats or None, isolation=False)
            except SelectionError as e:
                raise pytest.UsageError(f"softplus-cert: {e}") from None
            self._selection = sel
        return self._selection

    def _module_targets(self) -> list[str]:
        try:
            return [t.name for spec in self.modules for t in targets.load_target_module(spec, strict=True)]
        except Exception as e:  # noqa: BLE001 — the author's module failing to load is a usage problem here
            raise pytest.UsageError(f"softplus-cert: cannot load target module: {type(e).__name__}: {e}") from None

    def get_certifier(self) -> Certifier:
        if self.certifier is None:
            sel = self.selection()
            try:
                certs = load_certificates(self.config.getoption("--softplus-cert-certificate"))
            except CertificateError as e:
                raise pytest.UsageError(f"softplus-cert: {e}") from None
            self.certifier = Certifier(sel.targets, certs, self.config.getoption("--softplus-cert-samples"),
                                       self.config.getoption("--softplus-cert-seed"), bool(self.report_dir),
                                       self.baseline, self.baseline_path or "")
        return self.certifier

    def cpu_paths(self) -> list[str]:
        paths = _split([self.config.getoption("--softplus-cert-cpu-paths") or
                        self.config.getini("softplus_cert_cpu_paths") or "native"])
        bad = [p for p in paths if p not in CPU_PATHS]
        if bad or not paths:
            raise pytest.UsageError(f"--softplus-cert-cpu-paths: choose from {', '.join(CPU_PATHS)}, got {bad or paths}")
        return paths

    # --- hooks ----------------------------------------------------------------------------------------------

    @pytest.hookimpl
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "softplus_cert_case" not in metafunc.fixturenames:
            return
        combos = self.selection().combos  # an unavailable target's tests are skipped with its reason
        if metafunc.definition.get_closest_marker("sampled_only"):
            combos = [c for c in combos if c.skip or c.fmt in ("float32", "float64")]
        if metafunc.definition.get_closest_marker("layout_only"):
            combos = [c for c in combos if c.skip or (c.beta == 1.0 and c.threshold is None)]
        metafunc.parametrize("softplus_cert_case", [
            pytest.param(c, id=c.id, marks=[pytest.mark.skip(reason=c.skip)] if c.skip else []) for c in combos])
        if "cpu_path" in metafunc.fixturenames:
            paths = self.cpu_paths()
            metafunc.parametrize("cpu_path", [pytest.param(p, marks=_redundant(p, paths)) for p in paths], ids=paths)

    @pytest.hookimpl
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config, items: list) -> None:
        """The generated tests, for an author who asked for them and has no module importing the suite."""
        if not self.asked:
            return

        path = Path(suite.__file__)
        if any(getattr(i, "path", None) == path or getattr(getattr(i, "function", None), "__module__", "") ==
               suite.__name__ for i in items):
            return
        module = pytest.Module.from_parent(session, path=path, nodeid="softplus_cert/suite.py")
        items.extend(session.genitems(module))

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report) -> None:
        # user_properties travel from xdist workers to the controller with each report
        if report.when == "call":
            for k, v in report.user_properties:
                if k in self.collected:
                    self.collected[k].append(v)

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.certifier is not None:
            self.certifier.close()
        if self.report_dir and not hasattr(self.config, "workerinput") and self.collected[_VERDICT]:
            self._write_report(Path(self.report_dir))

    @pytest.hookimpl
    def pytest_report_header(self, config) -> list[str] | None:
        """The seed the sampled formats are judged with (a ``random`` one, drawn at start-up, is this one)."""
        given = any(a.startswith("--softplus-cert-seed") for a in config.invocation_params.args)
        if not (self.asked or given):
            return None
        return [f"softplus-cert: seed {config.getoption('--softplus-cert-seed')} of the sampled inputs "
                f"(again: --softplus-cert-seed N)"]

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.collected[_LOOSE]:
            terminalreporter.section("budgets looser than measured (tighten them)")
            for line in sorted(set(self.collected[_LOOSE])):
                terminalreporter.write_line(line)
        if self.report_dir and self.collected[_VERDICT]:
            terminalreporter.write_line(f"softplus-cert: reports written to {self.report_dir}")

    def _write_report(self, out: Path) -> None:
        verdicts = sorted({json.dumps(json.loads(v), sort_keys=True) for v in self.collected[_VERDICT]})
        layouts = sorted({json.dumps(json.loads(v), sort_keys=True) for v in self.collected[_LAYOUT]})
        sel = self.selection()
        run = AccuracyRun(sel, verdicts=[Verdict.from_dict(json.loads(v)) for v in verdicts],
                          layouts=[LayoutReport.from_dict(json.loads(v)) for v in layouts],
                          env=environment(self.config.getoption("--softplus-cert-seed"), sel.available))
        order = {(c.target.name, c.fmt, c.fn, c.beta, c.threshold): i for i, c in enumerate(sel.combos)}
        run.verdicts.sort(key=lambda v: order.get((v.target, v.format, v.fn, v.beta, v.threshold), 0))
        write_accuracy(run, writable(out))


def _redundant(path: str, paths: list[str]) -> list:
    """A skip for a capped run where it would repeat the native one: where the cap takes no framework below
    what this CPU runs (an AVX2 CPU capped at avx512_icl, any cap off x86), both runs judge the same kernels
    (asked for alone, without "native", it still runs, in its worker)."""
    if path != "native" and "native" in paths and not cap_reaches(path):
        return [pytest.mark.skip(reason=f"capping at {path} changes no framework's kernels on this CPU "
                                        f"({host_isa()}, oneDNN level {host_level('onednn')}): the capped run "
                                        "would judge the native kernels again")]
    return []


@pytest.fixture(scope="session")
def softplus_cert(request) -> Certifier:
    """The :class:`Certifier` of this run (the selected targets, their certificates, a judge)."""
    return request.config.pluginmanager.get_plugin("softplus-cert-session").get_certifier()
