"""End to end through Airflow: ``dag.test()`` audits a fixture inbox day, writes the exact
finding rows to the report DB, quarantines a truncated file, audits a re-delivered file once,
and mails the digest to a real SMTP server (aiosmtpd on 127.0.0.1) through Airflow's SMTP
provider. A rerun of the day replaces its rows."""

from __future__ import annotations

import importlib.util
import json
from datetime import date, datetime, time, timedelta, timezone
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from sqlalchemy import select

from claimaudit.samples.x12_writer import Claim, Interchange, Line, Patient, render_837

ROOT = Path(__file__).resolve().parents[1]
DAY = date(2025, 6, 3)

# A clean IMRT patient: plan two weeks before, delivery with its professional guidance 77387-26.
CLEAN = Patient("E2E0001", "CLEANCASE", "ANN", date(1951, 2, 3))
TC = Patient("E2E0002", "TCCASE", "BOB", date(1949, 4, 5))
UNITS = Patient("E2E0003", "UNITSCASE", "CAL", date(1960, 7, 8))


def _imrt_claim(claim_id: str, patient: Patient, delivery: Line) -> Claim:
    plan = Line("77301", date(2025, 5, 20), charge=2500.0, dx_pointers=(1, 2))
    return Claim(claim_id, patient, [plan, delivery], diagnoses=("Z510", "C61"), facility_code="11")


def fixture_inbox(inbox: Path) -> dict[str, bytes]:
    """The inbox folder for DAY: two extracts, one re-delivered copy, one truncated file."""
    day_dir = inbox / DAY.isoformat()
    day_dir.mkdir(parents=True)
    created = datetime(2025, 6, 3, 22, 15)
    good = render_837(Interchange("P", [
        _imrt_claim("E2E-CLEAN", CLEAN, Line("77386", DAY, charge=900.0, dx_pointers=(1, 2))),
        _imrt_claim("E2E-TC", TC, Line("77386", DAY, modifiers=("TC",), charge=900.0, dx_pointers=(1, 2))),
    ], control=501, created=created))
    other = render_837(Interchange("P", [
        _imrt_claim("E2E-UNITS", UNITS, Line("77386", DAY, units=2, charge=1800.0, dx_pointers=(1, 2))),
        Claim("E2E-GUIDE", CLEAN, [Line("77387", DAY, modifiers=("26",), charge=150.0, dx_pointers=(1, 2))],
              diagnoses=("Z510", "C61"), facility_code="11"),
    ], control=502, created=created))
    files = {
        "RADONC_837P_20250603_0001.x12": good,
        "RADONC_837P_20250603_0002.x12": other,
        "RADONC_837P_20250603_0001_resent.x12": good,  # the clearinghouse sent it twice
        "RADONC_837P_20250603_0003.x12": other[: len(other) // 2],  # cut off in transfer
    }
    for name, data in files.items():
        (day_dir / name).write_bytes(data)
    return files


def load_dag():
    spec = importlib.util.spec_from_file_location("claims_audit_nightly_e2e", ROOT / "dags" / "claims_audit_nightly.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.claims_audit_nightly()
    for t in dag.tasks:  # a failure shows at once instead of after the production retry delay
        t.retries = 0
    return dag


@pytest.fixture()
def audit_env(tmp_path, monkeypatch, smtp_server):
    inbox = tmp_path / "inbox"
    fixture_inbox(inbox)
    monkeypatch.setenv("AUDIT_INBOX", str(inbox))
    monkeypatch.setenv("AUDIT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("AUDIT_DB_URL", f"sqlite:///{tmp_path / 'report.db'}")
    monkeypatch.setenv("AUDIT_EMAIL_TO", "billing@example.org")
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
        "conn_type": "smtp", "host": smtp_server.host, "port": smtp_server.port,
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "claims-audit@example.org"},
    }))
    return tmp_path


def run_day(dag, day: date):
    logical = datetime.combine(day + timedelta(days=1), time(2, 0), tzinfo=timezone.utc)
    dag_run = dag.test(logical_date=logical, run_conf={"audit_date": day.isoformat()})
    assert "success" in str(dag_run.state).lower(), f"DAG run ended {dag_run.state}"
    return dag_run


def finding_rows(db_url: str):
    from claimaudit.store.db import engine_for
    from claimaudit.store.schema import audit_finding, audit_run, rejection

    engine = engine_for(db_url)
    with engine.connect() as conn:
        findings = conn.execute(
            select(audit_finding.c.rule_id, audit_finding.c.severity, audit_finding.c.claim_id,
                   audit_finding.c.line_number, audit_finding.c.procedure_code, audit_finding.c.modifiers,
                   audit_finding.c.date_of_service, audit_finding.c.source_file, audit_finding.c.status,
                   audit_finding.c.finding_id, audit_finding.c.first_seen_at)
            .where(audit_finding.c.audit_date == DAY).order_by(audit_finding.c.rule_id, audit_finding.c.claim_id)
        ).all()
        run = conn.execute(select(audit_run).where(audit_run.c.audit_date == DAY)).one()
        rejected = conn.execute(select(rejection.c.source_file, rejection.c.reason)
                                .where(rejection.c.audit_date == DAY)).all()
    return findings, run, rejected


def test_nightly_dag_end_to_end(audit_env, smtp_server):
    import os

    dag = load_dag()
    run_day(dag, DAY)
    findings, run, rejected = finding_rows(os.environ["AUDIT_DB_URL"])

    assert [(f.rule_id, f.severity, f.claim_id, f.line_number, f.procedure_code, f.modifiers) for f in findings] == [
        ("R77386-MOD-TC", "error", "E2E-TC", 2, "77386", "TC"),
        ("R77386-UNITS-PER-LINE", "error", "E2E-UNITS", 2, "77386", ""),
    ]
    assert {f.date_of_service for f in findings} == {DAY}
    assert {f.status for f in findings} == {"open"}
    assert {f.source_file for f in findings} == {"RADONC_837P_20250603_0001.x12", "RADONC_837P_20250603_0002.x12"}

    # The truncated file is rejected with its own reason and quarantined; the rest was audited.
    assert [r.source_file for r in rejected] == ["RADONC_837P_20250603_0003.x12"]
    assert rejected[0].reason
    quarantined = Path(audit_env / "var" / "quarantine" / DAY.isoformat() / "RADONC_837P_20250603_0003.x12")
    assert quarantined.is_file()
    # Four files arrived; the re-delivered copy added nothing: 4 claims, 7 lines.
    assert (run.files, run.claims, run.lines, run.findings, run.rejections) == (4, 4, 7, 2, 1)
    assert run.status == "complete"

    # The digest arrived through Airflow's SMTP provider.
    messages = smtp_server.wait_for(1, timeout=20)
    msg = messages[0]
    assert msg["Subject"].strip() == "77386 audit 2025-06-03: 2 new, 0 resolved, 2 open (2 errors), 1 file rejected"
    assert msg["To"] == "billing@example.org"
    body = msg.get_body(preferencelist=("plain",)).get_content()
    assert "E2E-TC" in body and "R77386-MOD-TC" in body
    for phi in ("TCCASE", "CLEANCASE", "E2E0002", "19490405"):
        assert phi not in msg.as_string(), f"patient data {phi!r} leaked into the email"
    attachments = [p for p in msg.iter_attachments() if p.get_content_type() == "text/csv"]
    assert len(attachments) == 1
    csv_text = attachments[0].get_content()
    if isinstance(csv_text, bytes):
        csv_text = csv_text.decode()
    assert "E2E-UNITS" in csv_text and "R77386-UNITS-PER-LINE" in csv_text
    assert len([line for line in csv_text.strip().splitlines()]) == 3  # header + 2 findings

    # Rerun of the same day: rows replaced, not duplicated; ids and first_seen_at kept.
    run_day(dag, DAY)
    again, run2, rejected2 = finding_rows(os.environ["AUDIT_DB_URL"])
    assert [(f.finding_id, f.first_seen_at) for f in again] == [(f.finding_id, f.first_seen_at) for f in findings]
    assert (run2.files, run2.claims, run2.lines, run2.findings, run2.rejections) == (4, 4, 7, 2, 1)
    assert len(rejected2) == 1
    assert len(smtp_server.wait_for(2, timeout=20)) == 2


def test_empty_day_is_audited_and_written_to_outbox(tmp_path, monkeypatch):
    """No files for the day and no SMTP connection: the run still succeeds, records the day, and
    keeps the (all clear) digest as an .eml file."""
    import os

    monkeypatch.setenv("AUDIT_INBOX", str(tmp_path / "inbox"))
    monkeypatch.setenv("AUDIT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("AUDIT_DB_URL", f"sqlite:///{tmp_path / 'report.db'}")
    monkeypatch.delenv("AIRFLOW_CONN_SMTP_DEFAULT", raising=False)
    run_day(load_dag(), date(2025, 6, 8))
    emls = list((tmp_path / "var" / "outbox").glob("*.eml"))
    assert len(emls) == 1
    msg = BytesParser(policy=policy.default).parsebytes(emls[0].read_bytes())
    assert msg["Subject"].strip() == "77386 audit 2025-06-08: all clear, nothing open"  # a Sunday: no file due
    from claimaudit.store.db import engine_for
    from claimaudit.store.schema import audit_run

    with engine_for(os.environ["AUDIT_DB_URL"]).connect() as conn:
        row = conn.execute(select(audit_run).where(audit_run.c.audit_date == date(2025, 6, 8))).one()
    assert (row.files, row.claims, row.findings) == (0, 0, 0)


def test_smtp_outage_fails_only_the_send_and_resend_delivers(audit_env, smtp_server, monkeypatch):
    """SMTP down: the send task fails (Airflow retries it), the findings stay committed; once the
    server is back, `make resend` (scripts/resend_digest.py) delivers the same digest."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": dead_port,
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "claims-audit@example.org",
                  "retry_limit": 0, "timeout": 5},
    }))
    logical = datetime.combine(DAY + timedelta(days=1), time(2, 0), tzinfo=timezone.utc)
    dag_run = load_dag().test(logical_date=logical, run_conf={"audit_date": DAY.isoformat()})
    assert "failed" in str(dag_run.state).lower()
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    assert "failed" in states["send_summary"].lower()
    assert "success" in states["write_findings"].lower()
    findings, run, _ = finding_rows(os.environ["AUDIT_DB_URL"])
    assert len(findings) == 2 and run.status == "complete" and run.email_sent_at is None

    env = dict(os.environ)
    env["AIRFLOW_CONN_SMTP_DEFAULT"] = json.dumps({
        "conn_type": "smtp", "host": smtp_server.host, "port": smtp_server.port,
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "claims-audit@example.org"},
    })
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "resend_digest.py"), "--date", DAY.isoformat()],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "resent" in out.stdout
    msg = smtp_server.wait_for(1, timeout=20)[0]
    assert msg["Subject"].strip() == "77386 audit 2025-06-03: 2 new, 0 resolved, 2 open (2 errors), 1 file rejected"
    _, run_after, _ = finding_rows(os.environ["AUDIT_DB_URL"])
    assert run_after.email_sent_at is not None


def test_a_day_split_into_rule_shares_gives_the_same_findings(audit_env, smtp_server, monkeypatch):
    """Parts of at most 3 history lines put the day's three patients in three parts, shared out
    over two mapped run_rules tasks; write_findings gathers them into the same rows as one run."""
    import os

    monkeypatch.setenv("AUDIT_RULE_PART_LINES", "3")
    monkeypatch.setenv("AUDIT_RULE_TASKS", "2")
    dag_run = run_day(load_dag(), DAY)
    shares = [ti for ti in dag_run.get_task_instances() if ti.task_id == "run_rules"]
    assert len(shares) == 2 and all("success" in str(ti.state).lower() for ti in shares)
    assert sorted(ti.rendered_map_index for ti in shares) == ["share 1 of 2", "share 2 of 2"]
    findings, run, _ = finding_rows(os.environ["AUDIT_DB_URL"])
    assert [(f.rule_id, f.claim_id, f.line_number) for f in findings] == [
        ("R77386-MOD-TC", "E2E-TC", 2), ("R77386-UNITS-PER-LINE", "E2E-UNITS", 2)]
    assert (run.files, run.claims, run.lines, run.findings, run.rejections) == (4, 4, 7, 2, 1)
    docs = audit_env / "var" / "data_docs" / DAY.isoformat()
    parts = sorted(str(p.relative_to(docs)) for p in docs.glob("share-*/**/validation_results.json"))
    assert parts in (["share-001/part-01/validation_results.json", "share-001/part-02/validation_results.json",
                      "share-002/validation_results.json"],
                     ["share-001/validation_results.json", "share-002/part-01/validation_results.json",
                      "share-002/part-02/validation_results.json"])
