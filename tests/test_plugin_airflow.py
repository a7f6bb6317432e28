"""The Claims audit plugin in a real Airflow started by `make airflow`'s launcher
(scripts/airflow_local.sh: api-server, scheduler, dag-processor, triggerer on 127.0.0.1, a free
port, its own AIRFLOW_HOME, the demo days audited through the DAG on first start).

- sign-in and permissions come from Airflow's auth manager (SimpleAuthManager): no token -> 401,
  a bad token -> 403, a viewer may read but not change a status (403, nothing stored);
- in headless Chromium: sign in on Airflow's login page, open the list (also inside Airflow's
  UI) and a finding, suppress it with a reason through the form, and find the stored review row;
  screenshots at 390 and 1000 px land in var/screenshots/plugin-*.png;
- Ctrl-C (SIGINT) to the launcher stops every Airflow process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from support.airflow_services import processes_using
from support.chromium import CHROMIUM, Chromium, chromium_installed
from support.network import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "var" / "screenshots"
START_TIMEOUT_S = 420


@pytest.fixture(scope="module")
def airflow_local(tmp_path_factory):
    base = tmp_path_factory.mktemp("airflow-local")
    home, var = base / "airflow", base / "var"
    db_url = f"sqlite:///{var / 'audit.db'}"
    env = dict(os.environ, AIRFLOW_HOME=str(home), AUDIT_VAR_DIR=str(var), AUDIT_DB_URL=db_url,
               AUDIT_INBOX=str(var / "inbox"), AIRFLOW_PORT=str(free_port()),
               AIRFLOW_LOCAL_LOG_LEVEL="WARNING")  # first start audits the demo fortnight, as on a fresh clone
    out_path = base / "launcher.out"
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(["bash", str(ROOT / "scripts" / "airflow_local.sh")], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Stop: Ctrl-C" not in out_path.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"make airflow did not come up:\n{out_path.read_text()[-4000:]}")
            time.sleep(1)
        printed = out_path.read_text()
        url = re.search(r"Airflow is running on (http://127\.0\.0\.1:\d+)", printed).group(1)
        passwords = json.loads((home / "simple_auth_manager_passwords.json").read_text())
        # The launcher prints every local user's password: that is the local sign-in.
        assert all(re.search(rf"\b{u}\s+{re.escape(p)}\b", printed) for u, p in passwords.items())
        yield {"url": url, "passwords": passwords, "db_url": db_url, "home": home, "proc": proc}
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)  # what Ctrl-C sends
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, out_path.read_text()[-3000:]
    time.sleep(1)
    assert processes_using(home) == [], "Airflow processes left running after Ctrl-C"


def http(method: str, url: str, *, token: str | None = None, body: dict | None = None,
         headers: dict | None = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def token(af, user: str) -> str:
    status, text = http("POST", f"{af['url']}/auth/token", body={"username": user, "password": af["passwords"][user]})
    assert status == 201, text
    return json.loads(text)["access_token"]


def review_rows(db_url: str, fid: str | None = None):
    from claimaudit.store.db import engine_for
    from claimaudit.store.schema import finding_review

    engine = engine_for(db_url)
    try:
        with engine.connect() as conn:
            q = select(finding_review)
            if fid:
                q = q.where(finding_review.c.finding_id == fid)
            return conn.execute(q.order_by(finding_review.c.review_id)).all()
    finally:
        engine.dispose()


def _run_id_of(db_url: str, day: date) -> str:
    from claimaudit.store.db import engine_for
    from claimaudit.store.schema import audit_run

    engine = engine_for(db_url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(audit_run.c.run_id).where(audit_run.c.audit_date == day))
    finally:
        engine.dispose()


def test_the_plugin_is_registered_with_a_navigation_entry(airflow_local):
    status, text = http("GET", f"{airflow_local['url']}/api/v2/plugins", token=token(airflow_local, "auditor"))
    assert status == 200
    (plugin,) = [p for p in json.loads(text)["plugins"] if p["name"] == "claims_audit_review"]
    assert plugin["fastapi_apps"][0]["url_prefix"] == "/claims-audit"
    nav = {v["name"]: v for v in plugin["external_views"]}
    assert nav["Claims audit"]["destination"] == "nav" and nav["Claims audit"]["href"] == "/claims-audit/findings"
    assert nav["Claims audit day"]["destination"] == "dag_run"


def test_not_signed_in_gets_401_and_a_forged_token_403(airflow_local):
    base = airflow_local["url"] + "/claims-audit"
    assert http("GET", f"{base}/api/findings")[0] == 401
    status, page = http("GET", f"{base}/findings", headers={"Accept": "text/html"})
    assert status == 401 and "/auth/login" in page  # the page offers Airflow's own sign-in
    assert http("POST", f"{base}/api/findings/x/review", body={"action": "acknowledge"})[0] == 401
    assert http("GET", f"{base}/api/findings", token="not-a-jwt")[0] == 403
    assert http("GET", f"{base}/findings", headers={"Cookie": "_token=forged"})[0] == 403


def test_a_viewer_reads_but_cannot_change_a_status_and_an_editor_can(airflow_local):
    base = airflow_local["url"] + "/claims-audit"
    viewer, editor = token(airflow_local, "auditor"), token(airflow_local, "billing")
    status, text = http("GET", f"{base}/api/findings?severity=error&sort=claim_id&order=asc", token=viewer)
    assert status == 200
    listed = json.loads(text)
    assert listed["total"] > 0 and all(f["severity"] == "error" for f in listed["findings"])
    fid = listed["findings"][-1]["finding_id"]
    status, text = http("POST", f"{base}/api/findings/{fid}/review", token=viewer, body={"action": "acknowledge"})
    assert status == 403, text
    assert review_rows(airflow_local["db_url"], fid) == []
    status, text = http("POST", f"{base}/api/findings/{fid}/review", token=editor,
                        body={"action": "acknowledge", "note": "asked the physicist"})
    assert status == 201, text
    (row,) = review_rows(airflow_local["db_url"], fid)
    assert (row.actor, row.action, row.status, row.note) == ("billing", "acknowledge", "acknowledged",
                                                            "asked the physicist")
    # The DAG run tab's address: the audited day the demo's DAG run wrote.
    run_id = _run_id_of(airflow_local["db_url"], date(2025, 6, 4))
    req = urllib.request.Request(f"{base}/runs/by-dag-run/{urllib.request.quote(run_id)}",
                                 headers={"Authorization": f"Bearer {viewer}", "Accept": "text/html"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.url.endswith("/claims-audit/runs/2025-06-04") and "Audited day 2025-06-04" in r.read().decode()


@pytest.mark.skipif(not chromium_installed(), reason="headless browser test needs the Debian chromium package "
                                                     f"({CHROMIUM}); install it with apt-get install chromium")
def test_in_chromium_a_billing_user_signs_in_and_suppresses_a_finding(airflow_local):
    url = airflow_local["url"]
    browser = Chromium()
    try:
        browser.viewport(1000)
        browser.goto(f"{url}/auth/login?next={url}/claims-audit/findings")
        browser.wait_for("document.querySelector('input[name=username]')")
        browser.evaluate("document.querySelector('input[name=username]').focus()")
        browser.type_text("billing")
        browser.evaluate("document.querySelector('input[name=password]').focus()")
        browser.type_text(airflow_local["passwords"]["billing"])
        browser.wait_for("!document.querySelector('button[type=submit]').disabled")
        browser.evaluate("document.querySelector('button[type=submit]').click()")
        browser.wait_for("location.pathname === '/claims-audit/findings' && document.readyState === 'complete'")
        assert "Signed in as billing" in browser.evaluate("document.body.innerText")
        rows = browser.evaluate("document.querySelectorAll('table.findings tbody tr').length")
        assert rows > 0
        browser.screenshot(SCREENSHOTS / "plugin-findings-1000.png")
        browser.viewport(390, 844, mobile=True)
        browser.screenshot(SCREENSHOTS / "plugin-findings-390.png", full_page=False)  # a phone's first screen

        # Inside Airflow's own UI: the "Claims audit" navigation entry embeds the list.
        browser.viewport(1000)
        browser.goto(f"{url}/plugin/claims-audit")
        browser.wait_for("document.querySelector('iframe') && document.querySelector('iframe').src.endsWith("
                         "'/claims-audit/findings')")
        time.sleep(2)
        browser.screenshot(SCREENSHOTS / "plugin-in-airflow-1000.png", full_page=False)

        # An open error finding: open it, suppress it as a payer exception.
        browser.goto(f"{url}/claims-audit/findings?severity=error&status=open&sort=rule_id&order=asc")
        href = browser.evaluate("document.querySelector('table.findings a.claim').getAttribute('href')")
        fid = href.rsplit("/", 1)[1]
        browser.goto(url + href)
        assert browser.evaluate("document.getElementById('status').innerText") == "open"
        text = browser.evaluate("document.body.innerText")
        for section in ("Claim as stored", "Diagnoses", "History", "First seen", "Fix", "Source file"):
            assert section in text, section
        browser.screenshot(SCREENSHOTS / "plugin-finding-1000.png")
        browser.viewport(390, 844, mobile=True)
        browser.screenshot(SCREENSHOTS / "plugin-finding-390.png", full_page=False)
        browser.evaluate("document.getElementById('action').value = 'suppress';"
                         "document.getElementById('reason').value = 'payer_exception';")
        browser.evaluate("document.getElementById('note').focus()")
        browser.type_text("Payer contract allows this; checked with Ana")
        browser.evaluate("document.getElementById('submit-review').click()")
        browser.wait_for("document.getElementById('status') && "
                         "document.getElementById('status').innerText === 'suppressed'")
        browser.wait_for("document.readyState === 'complete'")
        assert "Payer exception · Payer contract allows this; checked with Ana" in browser.evaluate(
            "document.body.innerText")
        browser.evaluate("document.getElementById('history').scrollIntoView()")
        browser.screenshot(SCREENSHOTS / "plugin-finding-suppressed-390.png", full_page=False)
        browser.viewport(1000)
        browser.evaluate("document.getElementById('history').scrollIntoView()")
        browser.screenshot(SCREENSHOTS / "plugin-finding-suppressed-1000.png", full_page=False)

        # The DAG run's "Claims audit day" tab opens the day that run audited.
        run_id = _run_id_of(airflow_local["db_url"], date(2025, 6, 5))
        browser.goto(f"{url}/dags/claims_audit_nightly/runs/{urllib.parse.quote(run_id, safe='')}"
                     "/plugin/claims-audit-run")
        browser.wait_for("document.querySelector('iframe') && document.querySelector('iframe').src.includes("
                         "'/claims-audit/runs/by-dag-run/')")
        time.sleep(3)
        browser.screenshot(SCREENSHOTS / "plugin-dag-run-tab-1000.png", full_page=False)
    finally:
        browser.close()
    rows = review_rows(airflow_local["db_url"], fid)
    assert [(r.actor, r.action, r.status, r.reason, r.note) for r in rows] == [
        ("billing", "suppress", "suppressed", "payer_exception", "Payer contract allows this; checked with Ana")]
    assert rows[0].acted_at is not None
