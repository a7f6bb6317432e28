"""The digest as received by a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import csv
import io
import smtplib
from datetime import date, datetime, timezone

import pytest

from claimaudit.model import Finding
from claimaudit.report.digest import build_digest
from claimaudit.store.findings import replace_day
from claimaudit.store.history import load_results
from support.parse_results import build_parse_result

DAY = date(2025, 6, 3)
XSS = "<script>alert(1)</script>"


def test_digest_received_over_smtp(sqlite_engine, smtp_server):
    result = build_parse_result("day.837", [{"claim_id": XSS, "lines": [("77386", "26", DAY)]},
                                            {"claim_id": "C2", "lines": [("77386", "TC", DAY)], "patient": "P2"}])
    load_results(sqlite_engine, [result], DAY)
    c1, c2 = result.claims
    findings = [Finding(rule_id=r, severity="error", claim_key=c.claim_key, claim_id=c.claim_id, line_number=1,
                        date_of_service=DAY, procedure_code="77386", modifiers=m, message=f"Remove modifier {m}.",
                        source_file="day.837", interchange_control=c.interchange_control, billing_npi=c.billing_npi,
                        payer_class="CI") for c, r, m in ((c1, "R77386-MOD-26", "26"), (c2, "R77386-MOD-TC", "TC"))]
    replace_day(sqlite_engine, audit_date=DAY, run_id="manual__1", ruleset_version="v", findings=findings,
                stats={"files": 1, "claims": 2, "lines": 2}, started_at=datetime(2025, 6, 4, tzinfo=timezone.utc))
    msg = build_digest(sqlite_engine, DAY, email_from="claims-audit@example.org", email_to=["billing@example.org"])

    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as smtp:
        smtp.send_message(msg)
    (got,) = smtp_server.wait_for(1)

    assert smtp_server.envelopes == [("claims-audit@example.org", ["billing@example.org"])]
    assert got["Subject"].strip() == "77386 audit 2025-06-03: 2 new, 0 resolved, 2 open (2 errors)"
    assert got["Message-ID"] == msg["Message-ID"] and got["Date"] is not None
    assert [p.get_content_type() for p in got.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "multipart/related", "text/html", "image/png",
        "text/csv"]
    html = got.get_body(("html",)).get_content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html.lower()
    png = next(p for p in got.walk() if p.get_content_type() == "image/png")
    assert png["Content-ID"] == "<trend-2025-06-03@claimaudit.local>" and 'src="cid:trend-2025-06-03@' in html
    assert png.get_content()[:8] == b"\x89PNG\r\n\x1a\n"
    (att,) = list(got.iter_attachments())
    rows = list(csv.DictReader(io.StringIO(att.get_content())))
    assert sorted((r["claim_id"], r["rule_id"], r["modifiers"]) for r in rows) == [
        ("<script>alert(1)</script>", "R77386-MOD-26", "26"), ("C2", "R77386-MOD-TC", "TC")]
