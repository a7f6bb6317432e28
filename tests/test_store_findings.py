"""Writing a day's findings on SQLite and PostgreSQL: idempotent, first_seen_at kept, resolution."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from claimaudit.model import Finding
from claimaudit.rules.runner import unique_findings
from claimaudit.store import schema as t
from claimaudit.store.findings import day_summary, finding_id, mark_email_sent, replace_day
from claimaudit.store.history import load_results
from support.parse_results import build_parse_result

D1, D2, D3 = date(2025, 6, 2), date(2025, 6, 3), date(2025, 6, 4)
T0 = datetime(2025, 6, 3, 2, 0, tzinfo=timezone.utc)


def finding(claim, line=1, rule="R77386-MOD-26", severity="error", message="Remove modifier 26."):
    return Finding(rule_id=rule, severity=severity, claim_key=claim.claim_key, claim_id=claim.claim_id,
                   line_number=line, date_of_service=D1, procedure_code="77386", modifiers="26", message=message,
                   source_file=claim.source_file, interchange_control=claim.interchange_control,
                   billing_npi=claim.billing_npi, payer_class=claim.payer_class)


def write(engine, day, findings, started=T0, run_id="run-1"):
    return replace_day(engine, audit_date=day, run_id=run_id, ruleset_version="2025.06", findings=findings,
                       stats={"files": 1, "claims": 2, "lines": 3, "rejections": 0}, started_at=started)


def rows(engine, table=t.audit_finding, drop=()):
    with engine.connect() as conn:
        cols = [c for c in table.c if c.name not in drop]
        return sorted(conn.execute(sa.select(*cols)).all(), key=repr)


@pytest.fixture
def day1(engine):
    result = build_parse_result("day1.837", [
        {"claim_id": "C1", "lines": [("77386", "26", D1)]},
        {"claim_id": "C2", "lines": [("77386", "", D1, 2.0)], "patient": "P2"}])
    load_results(engine, [result], D1)
    return result


def test_rows_follow_the_contract(engine, day1):
    c1, c2 = day1.claims
    out = write(engine, D1, [finding(c1), finding(c2, rule="R77386-UNITS-PER-LINE", message="One session per line.")])
    assert out == {"new": 2, "still_open": 0, "resolved": 0, "errors": 2, "warnings": 0, "findings": 2}
    with engine.connect() as conn:
        r = conn.execute(sa.select(t.audit_finding).where(t.audit_finding.c.claim_id == "C1")).one()
        run = conn.execute(sa.select(t.audit_run)).one()
    assert r.finding_id == finding_id("R77386-MOD-26", c1.claim_key, 1)
    assert (r.run_id, r.audit_date, r.rule_id, r.severity, r.line_number, r.modifiers, r.status, r.ruleset_version) \
        == ("run-1", D1, "R77386-MOD-26", "error", 1, "26", "open", "2025.06")
    assert (r.interchange_control, r.billing_npi, r.payer_class, r.source_file) == ("000000101", "1234567893", "CI",
                                                                                   "day1.837")
    assert r.first_seen_at.replace(tzinfo=timezone.utc) == T0
    assert (run.files, run.claims, run.lines, run.findings, run.errors, run.warnings, run.status) == \
        (1, 2, 3, 2, 2, 0, "complete")


def test_rerun_of_a_day_gives_identical_tables(engine, day1):
    c1, c2 = day1.claims
    findings = [finding(c1), finding(c2, rule="R77386-UNITS-PER-LINE", severity="warning")]
    first = write(engine, D1, findings)
    before = rows(engine), rows(engine, t.audit_run, drop=("finished_at", "duration_s"))
    second = write(engine, D1, findings)
    assert second == first
    assert (rows(engine), rows(engine, t.audit_run, drop=("finished_at", "duration_s"))) == before


def test_first_seen_kept_and_new_vs_still_open(engine, day1):
    c1, c2 = day1.claims
    write(engine, D1, [finding(c1)])
    # a rerun a day later keeps first_seen_at; the finding is still "new" for its own day
    out = write(engine, D1, [finding(c1), finding(c2)], started=T0 + timedelta(days=1))
    assert out["new"] == 2
    by_claim = {r.claim_id: r.first_seen_at.replace(tzinfo=timezone.utc) for r in rows(engine)}
    assert by_claim == {"C1": T0, "C2": T0 + timedelta(days=1)}
    # the next day finds C1 again (same finding id): not new, still open; C2 stays open from day 1
    out = write(engine, D2, [finding(c1)], started=T0 + timedelta(days=2))
    assert (out["new"], out["still_open"]) == (0, 2)
    summary = day_summary(engine, D2)
    assert [f.is_new for f in summary.findings] == [False]
    assert [f.claim_id for f in summary.still_open] == ["C2"]
    assert summary.findings[0].first_seen_at == T0


def test_duplicate_findings_are_made_one_by_the_runner_and_refused_by_the_store(engine, day1):
    c1 = day1.claims[0]
    first, again = finding(c1), finding(c1, message="Another expectation of the rule flagged the line.")
    assert unique_findings([first, again]) == [first]  # de-duplicated once, where findings are made
    with pytest.raises(ValueError, match="repeat"):  # never silently one row of two
        write(engine, D1, [first, again])
    assert rows(engine) == []
    assert write(engine, D1, [first])["findings"] == 1


def _replacement(claim_id="C1", isa="000000102", freq="7", mods="", name="repl.837"):
    return build_parse_result(name, [{"claim_id": claim_id, "freq": freq, "ref": "C1",
                                      "lines": [("77386", mods, D1)]}], isa=isa)


def test_replacement_that_no_longer_fails_resolves_the_finding(engine, day1):
    write(engine, D1, [finding(day1.claims[0])])
    load_results(engine, [_replacement()], D2)
    out = write(engine, D2, [])
    assert out["resolved"] == 1
    (r,) = rows(engine)
    assert (r.audit_date, r.status) == (D1, "resolved") and r.resolved_at is not None
    again = write(engine, D2, [])  # rerun: same answer, resolved_at kept
    assert again == out and rows(engine) == [r]
    summary = day_summary(engine, D2)
    assert [f.claim_id for f in summary.resolved] == ["C1"] and summary.still_open == []


def test_replacement_that_still_fails_keeps_it_open(engine, day1):
    write(engine, D1, [finding(day1.claims[0])])
    repl = _replacement(mods="26")
    load_results(engine, [repl], D2)
    out = write(engine, D2, [finding(repl.claims[0])])
    assert (out["resolved"], out["new"]) == (0, 1)
    assert {(r.audit_date, r.status) for r in rows(engine)} == {(D1, "open"), (D2, "open")}
    # the superseded claim's finding is represented by the replacement's: not listed twice
    assert day_summary(engine, D2).still_open == []


def test_rule_change_rerun_reopens(engine, day1):
    """Backfill after a rule change: the replacement's day now fails, so the old finding reopens."""
    write(engine, D1, [finding(day1.claims[0])])
    repl = _replacement()
    load_results(engine, [repl], D2)
    write(engine, D2, [])
    write(engine, D2, [finding(repl.claims[0])])
    d1_row = [r for r in rows(engine) if r.audit_date == D1][0]
    assert (d1_row.status, d1_row.resolved_at) == ("open", None)


def test_void_resolves_and_unaudited_replacement_waits(engine, day1):
    c1, c2 = day1.claims
    write(engine, D1, [finding(c1), finding(c2, rule="R77386-UNITS-PER-LINE")])
    load_results(engine, [_replacement(claim_id="C1-V", freq="8", isa="000000103", name="void.837")], D3)
    repl2 = build_parse_result("r2.837", [{"claim_id": "C2", "freq": "7", "ref": "C2", "patient": "P2",
                                           "lines": [("77386", "", D1)]}], isa="000000104")
    load_results(engine, [repl2], D3)
    write(engine, D2, [])  # D3's replacement is not audited yet: C2 stays open; the void resolves C1
    status = {r.claim_id: r.status for r in rows(engine)}
    assert status == {"C1": "resolved", "C2": "open"}
    assert write(engine, D3, [])["resolved"] == 2


def test_day_summary_counts_rejections_and_trend(engine, day1):
    bad = build_parse_result("bad.837", [], rejections=[{"reason": "no ISA segment", "segment": "", "position": None}])
    load_results(engine, [bad], D2, quarantine_paths={"bad.837": "/q/bad.837"})
    c1, c2 = day1.claims
    write(engine, D1, [finding(c1), finding(c2, rule="DQ-DX-FORMAT", severity="warning", message="Dx shape.")])
    write(engine, D2, [])
    s = day_summary(engine, D2)
    assert s.findings == [] and not s.all_clear
    assert [(r.source_file, r.quarantine_path, r.reasons) for r in s.rejected_files] == [
        ("bad.837", "/q/bad.837", ("file: no ISA segment",))]
    assert [(p.audit_date, p.errors, p.warnings) for p in s.trend] == [(D1, 1, 1), (D2, 0, 0)]
    s1 = day_summary(engine, D1)
    assert [(c.rule_id, c.severity, c.total, c.new) for c in s1.by_rule] == [
        ("R77386-MOD-26", "error", 1, 1), ("DQ-DX-FORMAT", "warning", 1, 1)]
    assert (s1.errors, s1.warnings, s1.run.run_id) == (1, 1, "run-1")
    assert day_summary(engine, D3).run is None


def test_mark_email_sent(engine, day1):
    write(engine, D1, [])
    mark_email_sent(engine, D1, T0)
    assert day_summary(engine, D1).run.email_sent_at == T0
