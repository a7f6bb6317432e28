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


def test_dag_sends_the_digest_unchanged_and_logs_in(sqlite_engine, monkeypatch):
    """The DAG's sender (the smtp_default connection's host, port, TLS flags and login, read
    through the SMTP provider's hook) delivers the digest as built: inline chart and CSV kept."""
    import importlib.util
    import json
    import socket
    from email import message_from_bytes, policy
    from pathlib import Path

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    received = []

    class Collect:
        async def handle_DATA(self, _server, session, envelope):
            received.append((session.authenticated, message_from_bytes(envelope.content, policy=policy.default)))
            return "250 OK"

    def authenticate(_server, _session, _envelope, _mechanism, data):
        login = (data.login, data.password) if isinstance(data, LoginPassword) else None
        return AuthResult(success=login == (b"audit", b"s3cret"))

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = Controller(Collect(), hostname="127.0.0.1", port=port, authenticator=authenticate,
                        auth_require_tls=False)
    server.start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": port, "login": "audit", "password": "s3cret",
            "extra": {"disable_ssl": True, "disable_tls": True}}))
        dag_file = Path(__file__).resolve().parents[1] / "dags" / "claims_audit_nightly.py"
        spec = importlib.util.spec_from_file_location("claims_audit_nightly_smtp", dag_file)
        dag_module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(dag_module)
        result = build_parse_result("day.837", [{"claim_id": "C1", "lines": [("77386", "TC", DAY)]}])
        load_results(sqlite_engine, [result], DAY)
        replace_day(sqlite_engine, audit_date=DAY, run_id="manual__2", ruleset_version="v", findings=[],
                    stats={"files": 1, "claims": 1, "lines": 1}, started_at=datetime(2025, 6, 4, tzinfo=timezone.utc))
        msg = build_digest(sqlite_engine, DAY, email_from="claims-audit@example.org", email_to=["billing@example.org"])
        assert dag_module.send_with_airflow_smtp(msg) is True
    finally:
        server.stop()
    ((authenticated, got),) = received
    assert authenticated and got["Message-ID"] == msg["Message-ID"]
    assert [p.get_content_type() for p in got.walk()] == [p.get_content_type() for p in msg.walk()]
    assert any(p.get_content_type() == "image/png" and p["Content-ID"] for p in got.walk())
