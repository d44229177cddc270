"""Certification suite setup: the combinations to judge, the certificates, and the loose-budget report.

Options:
  --certificate PATH      a certificate file for a target (repeatable); built-in targets use
                          targets/certificates/<name>.toml, others targets/certificates/default.toml.
  --samples N             sample size for float32/float64 (default: oracle.inputs.DEFAULT_SAMPLES).
  --seed N                seed of the sampled inputs (default 0).
  --cpu-paths LIST        the instruction-set paths to certify on, comma-separated (default "native,avx2"):
                          "native" judges the targets in this process, as the CPU dispatches; "avx2" judges
                          them in a worker process whose environment holds every framework at AVX2 or below
                          (targets.cpu_path.AVX2_CAP), as on most hosted CI runners. The certificates must
                          hold on both. On a CPU without AVX-512 the capped run repeats the native one and
                          is skipped, saying so, unless asked for alone (--cpu-paths avx2).
"""

from __future__ import annotations

import pytest

from oracle.certificate import load_certificate
from oracle.grid import combinations

_LOOSE: list[str] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("softplus-cert")
    group.addoption("--certificate", action="append", default=[], metavar="PATH",
                    help="certificate TOML for a target (repeatable; default: the built-in ones)")
    group.addoption("--samples", type=int, default=None, metavar="N",
                    help="float32/float64 sample size (default: oracle.inputs.DEFAULT_SAMPLES)")
    group.addoption("--seed", type=int, default=0, metavar="N", help="seed of the sampled inputs")
    group.addoption("--cpu-paths", default="native,avx2", metavar="LIST",
                    help="instruction-set paths to certify on: native, avx2 (default both)")


CPU_PATHS = ("native", "avx2")


def _redundant(path: str, paths: list[str]) -> list:
    """A skip for the capped run where it would repeat the native one: on a CPU whose best ISA is AVX2 or
    below (or not x86), the cap takes nothing away, so both runs judge the same code path (``--cpu-paths
    avx2`` alone still runs it, in its worker)."""
    from targets.cpu_path import capped, host_isa

    host = host_isa()
    if path == "avx2" and "native" in paths and capped(host, "avx2") == host:
        return [pytest.mark.skip(reason=f"this CPU's native path is already {host} (host_isa()): the AVX2-capped "
                                        "run would judge the same code again; it runs on AVX-512 hosts")]
    return []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cpu_path" in metafunc.fixturenames:
        paths = [p for p in metafunc.config.getoption("--cpu-paths").split(",") if p]
        unknown = sorted(set(paths) - set(CPU_PATHS))
        if unknown:
            raise pytest.UsageError(f"--cpu-paths: unknown path(s) {unknown}; choose from {', '.join(CPU_PATHS)}")
        metafunc.parametrize("cpu_path", [pytest.param(p, marks=_redundant(p, paths)) for p in paths])
    if "combo" not in metafunc.fixturenames:
        return
    from tests.conftest import selected_targets

    sampled_only = "sampled_only" in metafunc.definition.keywords
    layout_only = "layout_only" in metafunc.definition.keywords
    params = []
    for combo in combinations(selected_targets(metafunc.config)):
        if sampled_only and combo.fmt in ("float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"):
            continue
        if layout_only and not combo.skip and (combo.beta != 1.0 or combo.threshold is not None):
            continue
        marks = [pytest.mark.skip(reason=combo.skip)] if combo.skip else []
        params.append(pytest.param(combo, id=combo.id, marks=marks))
    metafunc.parametrize("combo", params)


@pytest.fixture(scope="session")
def on_path():
    """on_path(target, cpu_path): the target as judged on that path — itself for "native", else behind a
    worker process capped at AVX2 (one worker per target per test process, stopped at the end)."""
    from targets.cpu_path import cap_changes
    from targets.isolation import IsolatedTarget

    capped: dict[str, IsolatedTarget] = {}

    def get(target, cpu_path: str):
        if cpu_path == "native":
            return target
        if target.name not in capped:
            capped[target.name] = IsolatedTarget(target, env=cap_changes())
        return capped[target.name]

    yield get
    for t in capped.values():
        t.close()


@pytest.fixture(scope="session")
def certificates(pytestconfig):
    """target name -> Certificate (user-given files first, then the built-in directory)."""
    from pathlib import Path

    import targets

    certs = {}
    builtin = Path(targets.__file__).parent / "certificates"
    for path in sorted(builtin.glob("*.toml")):
        c = load_certificate(path)
        certs[c.target] = c
    for p in pytestconfig.getoption("--certificate"):
        c = load_certificate(p)
        certs[c.target] = c
    return certs


def pytest_runtest_logreport(report) -> None:
    # user_properties travel from xdist workers to the controller with each report
    if report.when == "call":
        _LOOSE.extend(v for k, v in report.user_properties if k == "loose_budget")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if _LOOSE:
        terminalreporter.section("budgets looser than measured (tighten them)")
        for line in sorted(set(_LOOSE)):
            terminalreporter.write_line(line)
