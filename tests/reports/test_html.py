"""The HTML accuracy report: self-contained, escaped, deterministic plots, and really rendered by a browser.

The browser test opens index.html in headless Chromium (Debian's ``chromium`` and ``chromium-driver``
packages, driven by Selenium) and fails unless the page renders: the per-format tables with the expected
target rows, every plot image decoded (naturalWidth > 0) and laid out, no console errors (a
Content-Security-Policy violation would be one), and a screenshot that is not a blank page. It is skipped
only where no Chromium is installed; set SOFTPLUS_CERT_CHROMIUM to use another binary.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import os
import re
import shutil
from pathlib import Path

import pytest

import targets
from engine.grid import combinations
from engine.judge import Verdict
from engine.sweep import run_grid
from engine.environment import environment
from reports.html import deviations, write_html
from reports.plots import plot_switch_neighbourhoods, render_plots, switch_selection

EVIL = 'evil<script>alert("x")</script>&co'


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A tiny report: torch-cpu float16 softplus at its default threshold (a switch point: a neighbourhood
    plot), numpy-stable float8_e5m2 softplus and derivative, plus an unavailable target and a failing one
    whose name and reason need escaping. About 3 s."""
    torch, stable = targets.get_target("torch-cpu"), targets.get_target("numpy-stable")
    combos = (combinations([torch], ["float16"], ("softplus",), (1.0,), (None,))
              + combinations([stable], ["float8_e5m2"], ("softplus", "softplus_grad"), (1.0,), (None,)))
    verdicts = run_grid(combos, None, 0)
    verdicts += [Verdict(target="gone", format="-", fn="-", beta=1.0, threshold=None, status="unsupported",
                         reason="gone: no device"),
                 Verdict(target=EVIL, format="float16", fn="softplus", beta=1.0, threshold=None, status="error",
                         reason=f"raised ValueError: {EVIL}")]
    out = tmp_path_factory.mktemp("html-report")
    page = write_html(out, verdicts, environment(0, [torch, stable], command=["softplus-cert", "report"]))
    return out, page, verdicts


def _srcs(text: str) -> list[str]:
    return re.findall(r'\b(?:src|href)\s*=\s*["\']?([^"\'\s>]+)', text)


def test_page_is_self_contained(report):
    out, page, _ = report
    text = page.read_text(encoding="utf-8")
    assert page == out / "index.html"
    assert "http://" not in text and "https://" not in text and "<script" not in text.lower()
    refs = _srcs(text)
    assert refs and all(r.startswith(("data:image/png;base64,", "#")) for r in refs), refs
    assert "Content-Security-Policy" in text


def test_plots_beside_the_page_are_the_embedded_ones(report):
    out, page, _ = report
    embedded = {base64.b64decode(r.split(",", 1)[1]) for r in _srcs(page.read_text(encoding="utf-8"))
                if r.startswith("data:")}
    files = {p.name: p.read_bytes() for p in (out / "plots").glob("*.png")}
    assert set(files.values()) == embedded
    assert set(files) == {"error-float16-softplus.png", "error-float8_e5m2-softplus.png",
                          "error-float8_e5m2-softplus_grad.png", "switch-torch-cpu-float16-softplus-b1-tdefault.png",
                          "summary.png"}
    assert all(b"Software" not in b for b in files.values())  # no version text: reruns give the same bytes
    from PIL import Image

    for data in files.values():
        Image.open(io.BytesIO(data)).load()  # a whole PNG: a truncated one raises (a browser would show half)


def test_tables_and_escaping(report):
    _, page, verdicts = report
    text = page.read_text(encoding="utf-8")
    assert 'id="verdicts-float16"' in text and 'id="verdicts-float8_e5m2"' in text
    assert text.count('<table class="verdicts"') == 2 and '<table class="worst"' in text
    assert 'data-target="torch-cpu"' in text and 'data-target="numpy-stable"' in text
    assert "<script>" not in text and "evil&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;co" in text
    assert "gone: no device" in text  # the unavailable target, listed with its reason
    assert all(v.status != "ok" or not deviations(v) or "deviates" in text for v in verdicts)


def test_deviating_rows_are_flagged(report):
    _, _, verdicts = report
    good = next(v for v in verdicts if v.target == "torch-cpu")
    assert deviations(good) == set()
    bad = dataclasses.replace(good, max_ulp=3.0, monotonicity_violations=2, overflow_onset=11.0,
                              property_failures={"identity": 4})
    assert deviations(bad) == {"max ulp", "monotonicity", "overflow onset / true", "property failures"}
    assert "max ulp" in deviations(dataclasses.replace(good, max_ulp=float("nan")))


def test_plots_are_deterministic_and_stale_ones_removed(report, tmp_path):
    out, _, verdicts = report
    from reports.summary import summarize

    first = {p.path.name: p.png for p in render_plots(verdicts, tmp_path, summary=summarize(verdicts))}
    assert first == {p.name: p.read_bytes() for p in (out / "plots").glob("*.png")}  # same bytes, rerun
    render_plots([v for v in verdicts if v.target != "torch-cpu"], tmp_path)
    assert not list(tmp_path.glob("switch-*.png")) and not (tmp_path / "error-float16-softplus.png").exists()


def test_switch_plots_are_capped_largest_jump_first(report, tmp_path):
    _, _, verdicts = report
    base = next(v for v in verdicts if v.switch_jumps)
    many = [dataclasses.replace(base, beta=b, threshold_jump_ulp=j) for b, j in ((1, 0.1), (2, 50.0), (3, 7.0))]
    chosen, left_out = switch_selection(many, cap=2)
    assert [v.beta for v in chosen] == [2, 3] and left_out == 1
    paths = plot_switch_neighbourhoods(many, tmp_path, cap=2)
    assert [p.name for p in paths] == ["switch-torch-cpu-float16-softplus-b2-tdefault.png",
                                       "switch-torch-cpu-float16-softplus-b3-tdefault.png"]


# --- a real browser -----------------------------------------------------------------------------------------------

def _chromium() -> str | None:
    return (os.environ.get("SOFTPLUS_CERT_CHROMIUM") or shutil.which("chromium")
            or shutil.which("chromium-browser"))


def _driver(chromium: str, profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromedriver = shutil.which("chromedriver") or "/usr/lib/chromium/chromedriver"
    if not Path(chromedriver).is_file():
        pytest.fail(f"{chromium} is installed but chromedriver is not: apt-get install chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", f"--user-data-dir={profile}", "--window-size=1400,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # A driver path given to Service: Selenium Manager (which would download a driver) is never consulted.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    driver.set_page_load_timeout(60)
    return driver


def _colours(png: bytes) -> int:
    from PIL import Image

    colours = Image.open(io.BytesIO(png)).convert("RGB").getcolors(maxcolors=1 << 24)
    return len(colours)


_IMAGES_JS = """return Array.from(document.querySelectorAll('img.plot')).map(i => ({
    alt: i.alt, cls: i.className, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight,
    shown: i.getBoundingClientRect().width}));"""
_OPEN_DETAILS_JS = "document.querySelectorAll('details').forEach(d => d.open = true);"
_SUMMARY_JS = """return Array.from(document.querySelectorAll('#summary-grid tbody tr')).map(r => r.dataset.target);"""
_TABLES_JS = """return Array.from(document.querySelectorAll('table.verdicts')).map(t => ({
    id: t.id, height: t.getBoundingClientRect().height,
    targets: Array.from(t.querySelectorAll('tbody tr')).map(r => r.dataset.target)}));"""


def test_renders_in_headless_chromium(report, tmp_path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium chromium-driver)")
    out, page, _ = report
    driver = _driver(chromium, tmp_path / "profile")
    try:
        driver.get(page.as_uri())
        assert driver.execute_script("return document.readyState") == "complete"
        assert driver.title == "softplus-cert accuracy report"

        # the summary first: one row per measured target (the failing one included), before any format table
        assert driver.execute_script(_SUMMARY_JS) == ["torch-cpu", "numpy-stable", EVIL]
        assert driver.execute_script("return document.querySelector('#summary').getBoundingClientRect().top") < \
            driver.execute_script("return document.querySelector('table.verdicts').getBoundingClientRect().top")
        driver.execute_script(_OPEN_DETAILS_JS)  # the plots are folded; open them to see them drawn
        tables = {t["id"]: t for t in driver.execute_script(_TABLES_JS)}
        assert set(tables) == {"verdicts-float16", "verdicts-float8_e5m2"}
        assert tables["verdicts-float16"]["targets"] == ["torch-cpu"]
        assert tables["verdicts-float8_e5m2"]["targets"] == ["numpy-stable", "numpy-stable"]
        assert all(t["height"] > 0 for t in tables.values())
        assert driver.execute_script("return document.querySelectorAll('table.worst tbody tr').length") > 0
        # the hostile name is text on the page, not markup: no script element came out of it
        assert driver.execute_script("return document.scripts.length") == 0
        assert EVIL in driver.execute_script("return document.querySelector('ul.errors').textContent")

        images = driver.execute_script(_IMAGES_JS)
        assert len(images) == len(list((out / "plots").glob("*.png")))
        assert any("switch" in i["cls"] for i in images)
        for i in images:
            assert i["complete"] and i["w"] > 0 and i["h"] > 0 and i["shown"] > 0, i

        severe = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        assert not severe, severe

        assert _colours(driver.get_screenshot_as_png()) > 20  # text and tables, not a blank page
        switch = driver.find_element("css selector", "img.plot.switch")
        driver.execute_script("arguments[0].scrollIntoView()", switch)
        assert _colours(switch.screenshot_as_png) > 20  # the plot itself is drawn on screen
    finally:
        driver.quit()


REFERENCE = Path(__file__).resolve().parents[2] / "reports" / "reference"


def test_reference_page_is_light_and_renders(tmp_path):
    """The committed reference report's index.html (the default report): under 3 MB, self-contained, a
    summary row for every target measured in its accuracy.json, and it renders in Chromium."""
    import json

    page = REFERENCE / "index.html"
    assert page.stat().st_size < 3 * 10**6, f"{page} is {page.stat().st_size / 1e6:.2f} MB"
    text = page.read_text(encoding="utf-8")
    assert all(r.startswith(("data:image/png;base64,", "#")) for r in _srcs(text))
    doc = json.loads((REFERENCE / "accuracy.json").read_text(encoding="utf-8"))
    measured = list(dict.fromkeys(v["target"] for v in doc["verdicts"] if v["format"] != "-"))
    chromium = _chromium()
    if chromium is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium chromium-driver)")
    driver = _driver(chromium, tmp_path / "profile")
    try:
        driver.get(page.as_uri())
        assert driver.execute_script(_SUMMARY_JS) == measured
        driver.execute_script(_OPEN_DETAILS_JS)
        images = driver.execute_script(_IMAGES_JS)
        assert images and all(i["complete"] and i["w"] > 0 and i["shown"] > 0 for i in images)
        assert not [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    finally:
        driver.quit()


def test_errors_beyond_1e30_ulp_still_plot(report, tmp_path):
    """OpenVINO's float32 softplus errs by 8.3e34 ulp: the y range grows with it (a huge axis limit once
    became an integer numpy could not take)."""
    from reports.plots import plot_error_profiles

    _, _, verdicts = report
    v = next(v for v in verdicts if v.status == "ok" and v.error_profile)
    huge = dataclasses.replace(v, error_profile=[[x0, x1, 8.3e34, m] for x0, x1, _, m in v.error_profile])
    (path,) = plot_error_profiles([huge], tmp_path)
    from PIL import Image

    Image.open(path).load()
