"""Triage of findings on SQLite and PostgreSQL: statuses, required reasons, an append-only trail,
suppressions that hold across reruns, replacement claims reviewed again, and the digest leaving
suppressed findings out of its worklist."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from claimaudit.model import Finding
from claimaudit.review import queries as q
from claimaudit.review.triage import (TriageError, allowed_actions, record_action, review_history,
                                      suppressed_finding_ids, suppressed_ids_query)
from claimaudit.store import schema as t
from claimaudit.store.findings import day_summary, finding_id, replace_day
from claimaudit.store.history import load_results
from support.parse_results import build_parse_result

D1, D2, D3 = date(2025, 6, 2), date(2025, 6, 3), date(2025, 6, 4)
T0 = datetime(2025, 6, 3, 2, 0, tzinfo=timezone.utc)


def finding(claim, line=1, rule="R77386-MOD-26", severity="error"):
    return Finding(rule_id=rule, severity=severity, claim_key=claim.claim_key, claim_id=claim.claim_id,
                   line_number=line, date_of_service=D1, procedure_code="77386", modifiers="26",
                   message="Remove modifier 26.", source_file=claim.source_file,
                   interchange_control=claim.interchange_control, billing_npi=claim.billing_npi,
                   payer_class=claim.payer_class)


def write(engine, day, findings, run_id="run-1", started=T0):
    return replace_day(engine, audit_date=day, run_id=run_id, ruleset_version="2025.06", findings=findings,
                       stats={"files": 1, "claims": 1, "lines": 1, "rejections": 0}, started_at=started)


@pytest.fixture
def day1(engine):
    result = build_parse_result("day1.837", [
        {"claim_id": "C1", "lines": [("77386", "26", D1)]},
        {"claim_id": "C2", "lines": [("77386", "26", D1)], "patient": "P2"}])
    load_results(engine, [result], D1)
    c1, c2 = result.claims
    write(engine, D1, [finding(c1), finding(c2)])
    return c1, c2


def fid(claim, rule="R77386-MOD-26", line=1):
    return finding_id(rule, claim.claim_key, line)


def test_statuses_move_as_allowed_and_every_action_is_kept(engine, day1):
    c1, _ = day1
    f = fid(c1)
    assert allowed_actions("open") == ["acknowledge", "suppress"]
    a = record_action(engine, f, "acknowledge", actor="ana", note="checking with the physicist")
    assert a.status == "acknowledged"
    with pytest.raises(TriageError, match="cannot acknowledge a finding that is acknowledged"):
        record_action(engine, f, "acknowledge", actor="ana")
    with pytest.raises(TriageError, match="needs a reason"):
        record_action(engine, f, "suppress", actor="ana")
    with pytest.raises(TriageError, match="needs a reason"):
        record_action(engine, f, "suppress", actor="ana", reason="because")
    record_action(engine, f, "suppress", actor="ben", reason="payer_exception", note="Payer allows 26 here")
    record_action(engine, f, "reopen", actor="ana", note="payer policy changed")
    record_action(engine, f, "suppress", actor="ana", reason="false_positive")
    with engine.connect() as conn:
        history = review_history(conn, f)
        state = conn.execute(sa.select(t.finding_review_state)).all()
    assert [(h.action, h.status, h.reason, h.actor) for h in history] == [
        ("acknowledge", "acknowledged", None, "ana"),
        ("suppress", "suppressed", "payer_exception", "ben"),
        ("reopen", "reopened", None, "ana"),
        ("suppress", "suppressed", "false_positive", "ana")]
    assert history[1].note == "Payer allows 26 here" and history[1].reason_label == "Payer exception"
    assert all(h.acted_at.tzinfo is not None for h in history)
    assert [(s.finding_id, s.status, s.review_id) for s in state] == [(f, "suppressed", history[-1].review_id)]


def test_unknown_finding_or_action_and_a_missing_user_are_refused(engine, day1):
    c1, _ = day1
    with pytest.raises(TriageError, match="no finding"):
        record_action(engine, "0" * 32, "acknowledge", actor="ana")
    with pytest.raises(TriageError, match="unknown action"):
        record_action(engine, fid(c1), "delete", actor="ana")
    with pytest.raises(TriageError, match="signed-in user"):
        record_action(engine, fid(c1), "acknowledge", actor=" ")
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(t.finding_review)) == 0


def test_a_suppression_holds_across_reruns_and_a_replacement_claim_is_reviewed_again(engine, day1):
    c1, c2 = day1
    record_action(engine, fid(c1), "suppress", actor="ana", reason="corrected_outside_claim")
    # The nightly rerun / backfill of the same day writes the same finding again.
    write(engine, D1, [finding(c1), finding(c2)], run_id="backfill-1")
    with engine.connect() as conn:
        assert suppressed_finding_ids(conn, [fid(c1), fid(c2)]) == {fid(c1)}
        listed = q.list_findings(conn, q.FindingFilter(status="suppressed"))
    assert [r.finding_id for r in listed.rows] == [fid(c1)]

    # A replacement (frequency 7) of C1 that still carries modifier 26: a new claim_key, a new
    # finding, open again; the suppression of the original stays with the original.
    repl = build_parse_result("day2.837", [{"claim_id": "C1R", "freq": "7", "ref": "C1",
                                            "lines": [("77386", "26", D1)]}], isa="000000102")
    load_results(engine, [repl], D2)
    (c1r,) = repl.claims
    write(engine, D2, [finding(c1r)], run_id="run-2", started=T0 + timedelta(days=1))
    assert fid(c1r) != fid(c1)
    with engine.connect() as conn:
        assert suppressed_finding_ids(conn, [fid(c1r), fid(c1)]) == {fid(c1)}
        row = q.finding_detail(conn, fid(c1r))
    assert (row.review_status, row.status, row.history) == ("open", "open", [])


def test_links_into_the_view():
    from claimaudit.review.links import day_url, finding_url, rule_url

    assert finding_url("http://127.0.0.1:8080/", "ab12") == "http://127.0.0.1:8080/claims-audit/findings/ab12"
    assert rule_url("https://af.example", "R77386-MOD-26") == "https://af.example/claims-audit/rules/R77386-MOD-26"
    assert day_url("https://af.example", D1) == "https://af.example/claims-audit/runs/2025-06-02"
    assert finding_url("", "ab12") == ""


def test_the_digest_lists_no_suppressed_finding_and_counts_them(engine, day1):
    c1, c2 = day1
    before = day_summary(engine, D1)
    assert {v.finding_id for v in before.findings} == {fid(c1), fid(c2)} and before.suppressed == 0
    record_action(engine, fid(c1), "suppress", actor="ana", reason="false_positive")
    after = day_summary(engine, D1)
    assert [v.finding_id for v in after.findings] == [fid(c2)]
    assert after.suppressed == 1
    assert sum(r.total for r in after.by_rule) == 1
    from claimaudit.report.digest import build_digest

    msg = build_digest(engine, D1, email_from="a@example.org", email_to=["b@example.org"])
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Suppressed by reviewers (not listed): 1." in text and "Suppressed by reviewers (not listed): 1." in html
    assert c1.claim_id not in text.replace("Suppressed", "")  # C1's finding is not listed
    # Next day: the still-open backlog from earlier days leaves the suppressed one out too.
    write(engine, D2, [], run_id="run-2", started=T0 + timedelta(days=1))
    later = day_summary(engine, D2)
    assert [v.finding_id for v in later.still_open] == [fid(c2)] and later.suppressed == 1
    # Reopened: listed again.
    record_action(engine, fid(c1), "reopen", actor="ben", note="payer denied after all")
    assert {v.finding_id for v in day_summary(engine, D2).still_open} == {fid(c1), fid(c2)}
    # The SQL helper agrees with the set helper.
    record_action(engine, fid(c2), "suppress", actor="ben", reason="payer_exception")
    with engine.connect() as conn:
        assert set(conn.scalars(suppressed_ids_query())) == {fid(c2)}
