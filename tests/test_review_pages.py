"""The findings browser's queries and pages, in process on a real report DB (SQLite and
PostgreSQL). Who is signed in comes from a test header here; the real Airflow sign-in and
permission checks are tested against a running Airflow in test_plugin_airflow.py."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from fastapi import Header, HTTPException
from fastapi.testclient import TestClient

from claimaudit.model import Finding
from claimaudit.review import queries as q
from claimaudit.review.triage import record_action
from claimaudit.review.web import Reviewer, create_app
from claimaudit.settings import Settings
from claimaudit.store.findings import finding_id, replace_day
from claimaudit.store.history import load_results
from support.parse_results import build_parse_result

D1, D2 = date(2025, 6, 2), date(2025, 6, 3)
T0 = datetime(2025, 6, 3, 2, 0, tzinfo=timezone.utc)


def finding(claim, rule, severity="error", line=1, message="Remove modifier 26."):
    return Finding(rule_id=rule, severity=severity, claim_key=claim.claim_key, claim_id=claim.claim_id,
                   line_number=line, date_of_service=D1, procedure_code="77386", modifiers="26", message=message,
                   source_file=claim.source_file, interchange_control=claim.interchange_control,
                   billing_npi=claim.billing_npi, payer_class=claim.payer_class)


@pytest.fixture
def seeded(engine):
    r1 = build_parse_result("RADONC_837P_20250602.x12", [
        {"claim_id": "C1", "lines": [("77301", "", D1), ("77386", "26", D1)], "dx": ["Z510", "C61"]},
        {"claim_id": "C2", "lines": [("77386", "", D1, 2.0)], "patient": "P2", "payer_class": "MB"},
        {"claim_id": "C3", "lines": [("77386", "<script>", D1)], "patient": "P3"}],
        rejections=[{"reason": "ISA16 is not a valid separator", "segment": "ISA", "position": 1}])
    load_results(engine, [r1], D1)
    c1, c2, c3 = r1.claims
    replace_day(engine, audit_date=D1, run_id="scheduled__2025-06-03T02:00:00+00:00", ruleset_version="2025.06",
                findings=[finding(c1, "R77386-MOD-26", line=2), finding(c2, "R77386-UNITS-PER-LINE"),
                          finding(c3, "R77386-MOD-26", severity="warning", message="<b>bold</b> & co")],
                stats={"files": 1, "claims": 3, "lines": 4, "rejections": 1}, started_at=T0)
    # Day 2 finds C2's line again.
    replace_day(engine, audit_date=D2, run_id="scheduled__2025-06-04T02:00:00+00:00", ruleset_version="2025.06",
                findings=[finding(c2, "R77386-UNITS-PER-LINE")],
                stats={"files": 0, "claims": 0, "lines": 0, "rejections": 0}, started_at=T0 + timedelta(days=1))
    return engine, (c1, c2, c3)


def test_list_shows_each_finding_once_and_filters_sorts_pages(seeded):
    engine, (c1, c2, c3) = seeded
    with engine.connect() as conn:
        everything = q.list_findings(conn, q.FindingFilter())
        assert everything.total == 3  # C2's finding twice in the table, once in the list
        assert [r.audit_date for r in everything.rows] == [D2, D1, D1]
        assert q.list_findings(conn, q.FindingFilter(day_from=D1, day_to=D1)).total == 3
        assert q.list_findings(conn, q.FindingFilter(day_from=D2)).total == 1
        assert [r.claim_id for r in q.list_findings(conn, q.FindingFilter(rule_id="R77386-MOD-26"), sort="claim_id",
                                                      descending=False).rows] == ["C1", "C3"]
        assert [r.claim_id for r in q.list_findings(conn, q.FindingFilter(severity="warning")).rows] == ["C3"]
        assert [r.claim_id for r in q.list_findings(conn, q.FindingFilter(payer_class="MB")).rows] == ["C2"]
        assert [r.claim_id for r in q.list_findings(conn, q.FindingFilter(claim_id="C1")).rows] == ["C1"]
        pages = [q.list_findings(conn, q.FindingFilter(), sort="claim_id", descending=False, page=n, page_size=2)
                 for n in (1, 2)]
        assert [[r.claim_id for r in p.rows] for p in pages] == [["C1", "C2"], ["C3"]]
        assert pages[0].pages == 2
    record_action(engine, finding_id("R77386-MOD-26", c1.claim_key, 2), "acknowledge", actor="ana")
    with engine.connect() as conn:
        assert [r.claim_id for r in q.list_findings(conn, q.FindingFilter(status="acknowledged")).rows] == ["C1"]
        assert q.list_findings(conn, q.FindingFilter(status="open")).total == 2
        assert q.status_counts(conn, rule_id="R77386-MOD-26")["acknowledged"] == 1


def _header_auth():
    def reader(x_test_user: str | None = Header(default=None)) -> Reviewer:
        if not x_test_user:
            raise HTTPException(401, "Not authenticated")
        name, role = x_test_user.split(":")
        return Reviewer(name, can_edit=role != "viewer")

    def editor(x_test_user: str | None = Header(default=None)) -> Reviewer:
        user = reader(x_test_user)
        if not user.can_edit:
            raise HTTPException(403, "Forbidden")
        return user
    return reader, editor


@pytest.fixture
def client(seeded, db_url):
    settings = Settings.from_env({"AUDIT_DB_URL": db_url})
    reader, editor = _header_auth()
    app = create_app(reader, editor, settings_factory=lambda: settings, login_url=lambda n: "/auth/login?next=" + n)
    with TestClient(app) as c:
        yield c, seeded[1]


ANA = {"X-Test-User": "ana:user", "Accept": "text/html"}


def test_pages_render_escaped_with_the_claim_in_context(client):
    c, (c1, c2, c3) = client
    page = c.get("/findings", headers=ANA)
    assert page.status_code == 200
    assert "<b>bold</b>" not in page.text and "&lt;b&gt;bold&lt;/b&gt; &amp; co" in page.text
    c3_page = c.get(f"/findings/{finding_id('R77386-MOD-26', c3.claim_key, 1)}", headers=ANA).text
    assert "&lt;script&gt;" in c3_page and "<script>" not in c3_page  # the line's modifiers as stored
    fid = finding_id("R77386-MOD-26", c1.claim_key, 2)
    detail = c.get(f"/findings/{fid}", headers=ANA)
    assert detail.status_code == 200
    text = detail.text
    for expected in ("77301", "C61", "Z510", "RADONC_837P_20250602.x12", "ISA13 000000101", "First seen",
                     'class="hl"', "Modifier 26"):
        assert expected in text, expected
    assert c1.patient_key not in text
    again = c.get(f"/findings/{finding_id('R77386-UNITS-PER-LINE', c2.claim_key, 1)}", headers=ANA).text
    assert "First seen in the audit of" in again and "Found again in the audit of" in again
    rule = c.get("/rules/R77386-MOD-26", headers=ANA)
    assert rule.status_code == 200 and "Effective" in rule.text
    run = c.get(f"/runs/{D1.isoformat()}", headers=ANA)
    assert run.status_code == 200 and "ISA16 is not a valid separator" in run.text
    by_run = c.get("/runs/by-dag-run/scheduler__missing", headers=ANA)
    assert by_run.status_code == 404
    hop = c.get("/runs/by-dag-run/scheduled__2025-06-04T02:00:00+00:00", headers=ANA, follow_redirects=False)
    assert hop.status_code == 303 and hop.headers["location"].endswith("/runs/2025-06-03")
    assert c.get("/findings/" + "0" * 32, headers=ANA).status_code == 404


def test_form_actions_write_the_trail_and_refuse_bad_ones(client):
    c, (c1, _, _) = client
    fid = finding_id("R77386-MOD-26", c1.claim_key, 2)
    refused = c.post(f"/findings/{fid}/review", data={"action": "suppress", "reason": ""}, headers=ANA)
    assert refused.status_code == 409 and "needs a reason" in refused.text
    done = c.post(f"/findings/{fid}/review", data={"action": "suppress", "reason": "payer_exception",
                                                    "note": "Contract §4 <allows>"}, headers=ANA,
                  follow_redirects=False)
    assert done.status_code == 303
    page = c.get(f"/findings/{fid}", headers=ANA).text
    assert "Payer exception · Contract §4 &lt;allows&gt;" in page and ">ana<" in page
    cross = c.post(f"/findings/{fid}/review", data={"action": "reopen"},
                   headers={**ANA, "Origin": "https://evil.example"})
    assert cross.status_code == 403
    api = c.get(f"/api/findings/{fid}", headers={"X-Test-User": "vic:viewer"}).json()
    assert api["status"] == "suppressed" and api["actions"] == ["reopen"]
    assert [h["reason"] for h in api["history"]] == ["payer_exception"]


def test_not_signed_in_and_read_only_users(client):
    c, (c1, _, _) = client
    fid = finding_id("R77386-MOD-26", c1.claim_key, 2)
    assert c.get("/api/findings").status_code == 401
    page = c.get("/findings", headers={"Accept": "text/html"})
    assert page.status_code == 401 and "/auth/login?next=" in page.text
    viewer = {"X-Test-User": "vic:viewer", "Accept": "text/html"}
    assert "read only" in c.get(f"/findings/{fid}", headers=viewer).text
    assert 'id="triage"' not in c.get(f"/findings/{fid}", headers=viewer).text
    assert c.post(f"/api/findings/{fid}/review", json={"action": "acknowledge"},
                  headers={"X-Test-User": "vic:viewer"}).status_code == 403
    ok = c.post(f"/api/findings/{fid}/review", json={"action": "acknowledge", "note": "on it"},
                headers={"X-Test-User": "ana:user"})
    assert ok.status_code == 201 and ok.json()["actor"] == "ana"
