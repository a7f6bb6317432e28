"""The day's Data Docs: an index page, and GX's own pages readable without the internet.

A real audit of the e2e fixture day (no Airflow) writes GX 1.x Data Docs; after the day's findings
are written, no page may still reference a stylesheet, script or image on the internet, and the
index links every suite page. Chromium then opens the index and a suite page with the network
cut off and checks the local stylesheet was applied.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from claimaudit import pipeline
from claimaudit.report.data_docs import external_references, make_offline
from claimaudit.settings import Settings
from support.chromium import CHROMIUM, Chromium, chromium_installed

DAY = "2025-06-03"


def test_make_offline_removes_every_fetched_resource():
    html = ('<html><head><link rel="stylesheet" href="https://cdn.example/b.css"/>'
            '<script src="https://cdn.example/j.js"></script><script src=//cdn.example/x.js></script>'
            '<link rel="icon" href="favicon.ico"></head><body><img src="https://s3.example/logo.png">'
            '<a href="https://greatexpectations.io">GX</a></body></html>')
    assert len(external_references(html)) == 4
    fixed = make_offline(html)
    assert external_references(fixed) == [] and make_offline(fixed) == fixed
    assert 'href="favicon.ico"' in fixed and 'href="https://greatexpectations.io"' in fixed  # links stay links
    assert "<style>" in fixed


@pytest.fixture(scope="module")
def audited_day(tmp_path_factory):
    from test_e2e_dag import fixture_inbox

    tmp = tmp_path_factory.mktemp("docs")
    fixture_inbox(tmp / "inbox")
    settings = Settings.from_env({**os.environ, "AUDIT_INBOX": str(tmp / "inbox"), "AUDIT_VAR_DIR": str(tmp / "var"),
                                  "AUDIT_DB_URL": f"sqlite:///{tmp / 'report.db'}"})
    pipeline.audit_day(DAY, settings)
    return settings


def test_data_docs_have_an_index_and_no_internet_assets(audited_day):
    day_dir = audited_day.data_docs_dir / DAY
    index = day_dir / "index.html"
    assert index.is_file()
    pages = sorted(p for p in day_dir.rglob("*.html") if p.name != "index.html")
    assert pages, "GX wrote no Data Docs pages"
    for page in pages:
        assert external_references(page.read_text(encoding="utf-8")) == [], page
    html = index.read_text(encoding="utf-8")
    assert external_references(html) == []
    linked = set(re.findall(r'href="([^"]+\.html)"', html))
    assert linked == {p.relative_to(day_dir).as_posix() for p in pages}
    assert "failed" in html  # the fixture day has findings: some expectations failed
    # The digest links the day's index (a local path without AUDIT_DATA_DOCS_URL).
    msg = pipeline.build_digest(DAY, audited_day)
    assert str(index) in msg.get_body(("plain",)).get_content()


@pytest.mark.skipif(not chromium_installed(),
                    reason=f"headless Chromium not installed at {CHROMIUM} (apt-get install chromium)")
def test_data_docs_render_styled_offline(audited_day):
    day_dir = audited_day.data_docs_dir / DAY
    pages = [p for p in sorted(day_dir.rglob("*.html")) if p.name != "index.html"]
    page = next((p for p in pages if "fa-times" in p.read_text(encoding="utf-8")), pages[0])  # one with a failure
    shots = Path(os.environ.get("AUDIT_SCREENSHOT_DIR", Path(__file__).resolve().parents[1] / "var" / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    with Chromium(CHROMIUM) as b:
        b.page("Network.enable")
        b.page("Network.emulateNetworkConditions", offline=True, latency=0, downloadThroughput=-1,
               uploadThroughput=-1)
        for name, url in (("data-docs-index", (day_dir / "index.html").as_uri()), ("data-docs-suite", page.as_uri())):
            b.open(url, 1000, 800)
            style = b.evaluate("(function(){var td=document.querySelector('td');var s=getComputedStyle(td);"
                               "return {border: s.borderTopWidth, font: getComputedStyle(document.body).fontFamily,"
                               "failed: performance.getEntriesByType('resource').filter(function(r){"
                               "return /^https?:/.test(r.name)}).length}})()")
            b.screenshot(shots / f"{name}-1000.png")
            assert style["border"] == "1px" and "Arial" in style["font"], (name, style)
            assert style["failed"] == 0, (name, style)  # nothing was even tried from the internet
