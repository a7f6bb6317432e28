"""The digest's HTML rendered in a real headless Chromium at a phone's 390 px and a desktop's 1000 px.

For each width the page is laid out by Chromium, a script measures it after load
(``document.documentElement.scrollWidth`` and any element reaching past the viewport); a screenshot
of the same page is kept under ``var/screenshots/`` for a person to look at. The inline chart
(cid: in the email) is given to the browser as a data: URI, as a mail client shows it.

Chromium is driven over the DevTools protocol (``support.chromium``): headless windows are never
narrower than 500 px, so the phone's viewport is emulated as DevTools' device mode does it.
Skips, saying why, where ``/usr/bin/chromium`` (Debian package ``chromium``) is not installed;
CI installs it.
"""

from __future__ import annotations

import base64
import os
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from claimaudit.report.digest import DigestOptions, build_digest
from claimaudit.report.worklist import open_worklist
from claimaudit.rules.catalogue import rule_catalogue
from claimaudit.settings import EXPECTATIONS_DIR
from support.chromium import CHROMIUM, Chromium, chromium_installed
from support.report_scenarios import CATALOGUE, D2, RUN_URL, busy_month, empty_day, two_days

ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("AUDIT_SCREENSHOT_DIR", ROOT / "var" / "screenshots"))
LINKED = DigestOptions(airflow_base_url="https://airflow.example.org",
                       rule_catalogue_url="https://wiki.example.org/claims-audit/rule-catalogue",
                       data_docs_url="https://audit.example.org/data-docs")

pytestmark = pytest.mark.skipif(
    not chromium_installed(),
    reason=f"headless Chromium not installed at {CHROMIUM} (apt-get install chromium); CI installs it")

MEASURE = """(function () {
  var w = window.innerWidth, wide = [];
  document.querySelectorAll('body *').forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (r.width && r.right > w + 1) wide.push(el.tagName + '.' + el.className + ' right=' + Math.round(r.right));
  });
  var img = document.querySelector('img');
  return {innerWidth: w, scrollWidth: document.documentElement.scrollWidth, wide: wide.slice(0, 10),
          imgWidth: img ? img.getBoundingClientRect().width : null,
          imgLoaded: img ? img.complete && img.naturalWidth > 0 : null,
          fontSize: parseFloat(getComputedStyle(document.querySelector('.w') || document.body).fontSize),
          banner: ((document.querySelector('.b') || {}).textContent || '').trim()};
})()"""


@pytest.fixture(scope="module")
def browser():
    with Chromium(CHROMIUM) as b:
        yield b


def as_browser_page(msg) -> str:
    """The HTML part with its inline chart as a data: URI (what a mail client displays)."""
    html = msg.get_body(("html",)).get_content()
    for part in msg.walk():
        if part.get_content_type() == "image/png":
            cid = part["Content-ID"].strip("<>")
            uri = "data:image/png;base64," + base64.b64encode(part.get_content()).decode()
            html = html.replace(f"cid:{cid}", uri)
    return html


def render(browser, name: str, html: str, width: int, height: int = 844) -> dict:
    """Lay the page out in a ``width`` px viewport (a phone's, emulated as mobile, below 500 px),
    keep a full-page screenshot, and return the page's own measurements."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = SHOTS / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    phone = width < 500
    browser.open(page.resolve().as_uri(), width, height, scale=2 if phone else 1, mobile=phone)
    metrics = browser.evaluate(MEASURE)
    browser.screenshot(SHOTS / f"{name}-{width}.png")
    if phone:  # what the phone shows before any scrolling
        browser.screenshot(SHOTS / f"{name}-{width}-first-screen.png", full_page=False)
    chart = browser.evaluate("(function(){var h=[].filter.call(document.querySelectorAll('h2'),"
                             "function(e){return e.textContent.indexOf('Last 30 days')===0})[0];"
                             "if(!h)return null;var a=h.getBoundingClientRect(),b=document.querySelector('.ft')"
                             ".getBoundingClientRect();return {x:0,y:a.top+scrollY,width:innerWidth,"
                             "height:b.top-a.top}})()")
    if chart:  # the trend chart as it is read
        browser.screenshot(SHOTS / f"{name}-{width}-chart.png", clip=chart)
    return metrics


def fits(m: dict, width: int) -> bool:
    """Nothing wider than the viewport. On an emulated phone a too-wide page widens the layout
    viewport itself (the phone zooms out to tiny text), so innerWidth must stay the phone's too."""
    return m["innerWidth"] == width and m["scrollWidth"] <= width and not m["wide"]


def _digest(engine, day, options=LINKED, catalogue=None):
    return build_digest(engine, day, email_from="claims-audit@example.org", email_to=["billing@example.org"],
                        airflow_run_url=RUN_URL, rule_catalogue=catalogue or CATALOGUE, options=options)


@pytest.mark.parametrize("width", [390, 1000])
def test_busy_digest_fits_phone_and_desktop(browser, sqlite_engine, width):
    last = date(2025, 6, 30)
    busy_month(sqlite_engine, last, open_target=215)
    msg = _digest(sqlite_engine, last, catalogue=rule_catalogue(EXPECTATIONS_DIR))
    m = render(browser, "digest", as_browser_page(msg), width)
    assert fits(m, width), m  # nothing runs off to the side
    assert m["imgLoaded"] and m["imgWidth"] <= min(width, 640), m  # the chart scales down to the column
    open_ = len(open_worklist(sqlite_engine, last))
    assert open_ >= 200 and m["banner"].startswith(f"{open_} open findings on {open_} claims"), m
    assert m["fontSize"] >= 14, m  # body text readable without zooming


@pytest.mark.parametrize("width", [390, 1000])
def test_alert_and_small_digests_fit(browser, sqlite_engine, width):
    two_days(sqlite_engine)
    m = render(browser, "digest-small", as_browser_page(_digest(sqlite_engine, D2)), width)
    assert fits(m, width), m  # long hostile ids wrap
    m = render(browser, "digest-summary",
               as_browser_page(_digest(sqlite_engine, D2, replace(LINKED, detail="summary"))), width)
    assert fits(m, width), m
    empty_day(sqlite_engine, date(2025, 6, 4))  # a Wednesday without a file
    m = render(browser, "digest-no-files", as_browser_page(_digest(sqlite_engine, date(2025, 6, 4))), width)
    assert fits(m, width), m
    assert m["banner"].startswith("Alert: no file received on Wed 2025-06-04"), m


def test_chromium_measures_overflow_when_there_is_some(browser):
    """The measurement can fail: a 600 px wide table in a 390 px viewport is caught."""
    html = ('<!DOCTYPE html><html><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1"></head><body>'
            '<table style="width:600px"><tr><td>wide</td></tr></table></body></html>')
    m = render(browser, "overflow-probe", html, 390, height=300)
    assert not fits(m, 390) and m["innerWidth"] >= 600, m  # the phone had to zoom out to 608 px
    m = render(browser, "overflow-probe", html, 1000, height=300)
    assert fits(m, 1000), m
