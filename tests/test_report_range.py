"""A range run (make audit / make backfill / claimaudit audit / native backfill) mails one summary
of the range instead of a digest per day; the nightly schedule keeps its daily digest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from claimaudit import pipeline
from claimaudit.changes import ChangeLog, DayChange, FindingRef
from claimaudit.report.range_summary import (archive_pending, collect_range, pending_changes_path, range_message,
                                             read_pending, record_change, render_text)
from claimaudit.settings import Settings
from claimaudit.store.findings import replace_day
from support.parse_results import build_parse_result
from support.report_scenarios import D1, D2, finding, run_time, two_days

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"range summary changed; see {path}"


def test_digest_wanted_by_run_type():
    s = Settings.from_env({})
    assert pipeline.digest_wanted("scheduled", settings=s) and pipeline.digest_wanted("manual", settings=s)
    assert not pipeline.digest_wanted("backfill", settings=s)
    from airflow.utils.types import DagRunType  # what the task context's dag_run.run_type holds

    assert not pipeline.digest_wanted(DagRunType.BACKFILL_JOB, settings=s)
    assert pipeline.digest_wanted(DagRunType.SCHEDULED, settings=s)
    assert not pipeline.digest_wanted("manual", range_run=True, settings=s)
    assert pipeline.digest_wanted("backfill", settings=Settings.from_env({"AUDIT_RANGE_DAILY_DIGESTS": "true"}))


def test_range_summary_per_rule_against_the_earlier_ruleset(sqlite_engine):
    """Re-audit day 2 with a new ruleset that no longer finds R77386-UNITS-PER-LINE but finds a
    new rule: the summary counts +1/-1 per rule against the results it replaced."""
    two_days(sqlite_engine)
    log = ChangeLog(sqlite_engine)

    def reaudit(day: date) -> int:
        from sqlalchemy import select

        from claimaudit.store.schema import claim

        with sqlite_engine.connect() as conn:
            c4 = conn.execute(select(claim).where(claim.c.claim_id == "C4")).one()
        replace_day(sqlite_engine, audit_date=day, run_id="backfill__2025-06-04", ruleset_version="2025.07",
                    started_at=run_time(day), stats={"files": 2, "claims": 2, "lines": 2, "rejections": 1},
                    findings=[finding(c4, "R77386-MOD-TC", "error", "Modifier TC on 77386.", mods="TC", dos=D2),
                              finding(c4, "R77386-DX-NEOPLASM", "error", "No neoplasm diagnosis.", dos=D2)])
        return 2

    log.track(reaudit)(D2)
    rs = collect_range(sqlite_engine, D1, D2, log.changes, audited=[D2], skipped=[D1])
    assert (rs.new, rs.resolved, rs.rulesets) == (1, 1, ["2025.06->2025.07"])
    by_rule = {r.rule_id: (r.new, r.resolved, r.open_at_end) for r in rs.rules}
    assert by_rule["R77386-DX-NEOPLASM"] == (1, 0, 1) and by_rule["R77386-UNITS-PER-LINE"] == (0, 1, 1)
    text = render_text(rs, "var/reports/finding-changes.csv")
    _golden("range_2025-06-02_2025-06-03.txt", text)
    msg = range_message(rs, email_from="claims-audit@example.org", email_to=["billing@example.org"])
    assert msg["Subject"] == ("77386 re-audit 2025-06-02..2025-06-03: 1 day audited, +1 new, -1 resolved vs "
                              "earlier results, 1 file(s) rejected - 4 open")
    body = msg.get_body(("plain",)).get_content() + msg.get_body(("html",)).get_content()
    for claim_id in ("C1", "C2", "C4", "alert(1)"):  # counts and rules only, never a claim id
        assert f"claim {claim_id}" not in body.lower() and f"Claim {claim_id}" not in body
    assert "alert(1)</script>" not in body and msg["Message-ID"]


def test_pending_changes_of_a_native_backfill(tmp_path):
    path = pending_changes_path(tmp_path)
    ref = FindingRef("R1", "C9", 1, "error", "f1")
    record_change(path, DayChange(D1, "v1", "v2", (ref,), ()))
    record_change(path, DayChange(D2, "v1", "v2", (), (ref,)))
    record_change(path, DayChange(D1, "v2", "v2", (), ()))  # a retried day: the first record counts
    changes = read_pending(path)
    assert [(c.audit_date, c.previous_ruleset, len(c.new), len(c.resolved)) for c in changes] == [
        (D1, "v1", 1, 0), (D2, "v1", 0, 1)]
    done = archive_pending(path)
    assert not path.exists() and done.exists() and read_pending(path) == []


def _range_env(tmp_path: Path, smtp_server) -> dict[str, str]:
    from test_e2e_dag import fixture_inbox

    fixture_inbox(tmp_path / "inbox")
    env = dict(os.environ)
    env.update({
        "AUDIT_INBOX": str(tmp_path / "inbox"), "AUDIT_VAR_DIR": str(tmp_path / "var"),
        "AUDIT_DB_URL": f"sqlite:///{tmp_path / 'report.db'}", "AUDIT_EMAIL_TO": "billing@example.org",
        "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps({
            "conn_type": "smtp", "host": smtp_server.host, "port": smtp_server.port,
            "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "claims-audit@example.org"}}),
    })
    return env


def _audit_range(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "audit_range.py"), *args], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def test_make_audit_sends_one_range_summary_not_a_digest_per_day(tmp_path, smtp_server):
    """`make audit` / `make backfill` (scripts/audit_range.py through the DAG): three days, one email."""
    env = _range_env(tmp_path, smtp_server)
    out = _audit_range(env, "--from", "2025-06-02", "--to", "2025-06-04")
    assert "Range summary: sent to billing@example.org" in out
    (msg,) = smtp_server.wait_for(1, timeout=20)
    assert msg["Subject"].strip() == ("77386 re-audit 2025-06-02..2025-06-04: 3 days audited, 2 findings "
                                      "(first audit), 1 file(s) rejected - 2 open")
    text = msg.get_body(("plain",)).get_content()
    assert "R77386-MOD-TC" in text and "RADONC_837P_20250603_0003.x12: " in text
    assert "E2E-TC" not in msg.as_string()  # counts and rules only
    assert not (tmp_path / "var" / "outbox").exists()

    # Re-audited with the same ruleset: still one email, nothing changed.
    _audit_range(env, "--from", "2025-06-02", "--to", "2025-06-04", "--reprocess")
    msgs = smtp_server.wait_for(2, timeout=20)
    assert len(msgs) == 2
    assert msgs[1]["Subject"].strip() == ("77386 re-audit 2025-06-02..2025-06-04: 3 days audited, +0 new, -0 resolved "
                                          "vs earlier results, 1 file(s) rejected - 2 open")

    # The demo replays nights: --daily-digests mails each day's digest, as the schedule does.
    _audit_range(env, "--from", "2025-06-03", "--to", "2025-06-04", "--reprocess", "--daily-digests")
    msgs = smtp_server.wait_for(4, timeout=20)
    assert [m["Subject"].strip()[:23] for m in msgs[2:]] == ["77386 audit 2025-06-03:", "77386 audit 2025-06-04:"]


def test_cli_range_writes_one_summary(tmp_path):
    """`claimaudit audit` (no Airflow): the outbox gets the range summary, no per-day digest."""
    from test_e2e_dag import fixture_inbox

    fixture_inbox(tmp_path / "inbox")
    env = dict(os.environ, AUDIT_INBOX=str(tmp_path / "inbox"), AUDIT_VAR_DIR=str(tmp_path / "var"),
               AUDIT_DB_URL=f"sqlite:///{tmp_path / 'report.db'}")
    out = subprocess.run([sys.executable, "-m", "claimaudit.cli", "audit", "--from", "2025-06-03", "--to",
                          "2025-06-04"], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    emls = sorted(p.name for p in (tmp_path / "var" / "outbox").glob("*.eml"))
    assert emls == ["77386-reaudit-2025-06-03_2025-06-04.eml"]
    msg = BytesParser(policy=policy.default).parsebytes((tmp_path / "var" / "outbox" / emls[0]).read_bytes())
    assert msg["Subject"].strip().startswith("77386 re-audit 2025-06-03..2025-06-04: 2 days audited")
