"""Fuzzing the command line and the certificate parser: any input ends in a result or a one-line error."""

import contextlib
import io

from hypothesis import HealthCheck, given, settings, strategies as st

from engine.certificate import CertificateError, parse_certificate
from softplus_cert.cli import build_parser

TOKENS = ["report", "certify", "list", "eval", "tables", "draft-certificate", "--targets", "--dtypes",
          "--betas", "--thresholds", "--samples", "--seed", "--out", "--functions", "--timeout",
          "--memory-limit", "--certificate", "--beta", "--dtype", "--fn", "torch-cpu", "float16", "bfloat16",
          "softplus", "nan", "inf", "-1", "0", "1e30", "1e-3", "default", "x", "8G", "-0", "--", "--help"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=8)), max_size=6))
def test_argument_parsing_never_crashes(argv):
    err_buf, out_buf = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err_buf), contextlib.redirect_stdout(out_buf):
            build_parser().parse_args(argv)
    except SystemExit as e:
        assert e.code in (0, 2)
        err = err_buf.getvalue()
        if e.code == 2:
            lines = [ln for ln in err.splitlines() if ln.strip()]
            assert len(lines) == 1 and "error:" in lines[0] and "Traceback" not in err


scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10 ** 6), st.floats(allow_nan=True),
                    st.text(max_size=6), st.sampled_from(["*", "default", "inf", "float32", "softplus"]))
entries = st.dictionaries(
    st.sampled_from(["format", "fn", "beta", "threshold", "max_ulp", "nonfinite", "nan", "reason",
                     "monotonicity_violations", "premature_overflow", "threshold_jump_ulp", "bogus"]),
    scalars, max_size=6)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(["target", "budget", "extra"]),
                       st.one_of(scalars, st.lists(st.one_of(entries, scalars), max_size=3)), max_size=3))
def test_certificate_parsing_accepts_or_names_the_problem(data):
    data = {k: v for k, v in data.items() if v is not None}  # TOML has no null
    try:
        cert = parse_certificate(data, "fuzz.toml")
    except CertificateError as e:
        assert str(e).startswith("fuzz.toml:")
        return
    assert cert.target and cert.entries and all(e["reason"] for e in cert.entries)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_certificate_text_never_crashes(tmp_path_factory, text):
    from engine.certificate import load_certificate

    p = tmp_path_factory.mktemp("c") / "c.toml"
    p.write_text(text, encoding="utf-8")
    try:
        load_certificate(p)
    except CertificateError as e:
        assert str(p) in str(e)
