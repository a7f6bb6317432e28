"""run_rules end to end on real databases (SQLite and PostgreSQL): precision on replacements and
voids, findings in the architecture's format, course findings reported once, Data Docs kept."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

from claimaudit.model import Finding, columns
from claimaudit.rules.runner import run_rules
from claimaudit.settings import EXPECTATIONS_DIR
from claimaudit.store.db import engine_for, ensure_schema
from claimaudit.store.findings import replace_day
from support.rule_fixtures import keyed, load_extract, load_spec, sqlite_engine
from support.rule_scenario import START, deliveries, extract, planning, weekdays

FINDING_KEYS = {"rule_id", "severity", "claim_key", "claim_id", "line_number", "date_of_service", "procedure_code",
                "modifiers", "message", "source_file", "interchange_control", "billing_npi", "payer_class"}


def test_findings_on_postgresql_and_sqlite_match_the_contract(db_url, tmp_path):
    engine = engine_for(db_url)
    ensure_schema(engine)
    spec = load_spec("R77386-FX-OUTLIER")
    load_extract(engine, "fx", "trigger", spec.trigger())
    result = run_rules(engine, spec.AUDIT_DAY, EXPECTATIONS_DIR, data_docs_dir=tmp_path / "docs")
    assert keyed(result.findings) == {("R77386-FX-OUTLIER", "D2", 1), ("R77386-FX-OUTLIER", "D2", 2)}
    f = result.findings[0]
    assert isinstance(f, Finding) and set(columns(Finding)) == FINDING_KEYS | {"ncci_edit_set"}
    assert f.severity == "warning" and f.procedure_code == "77386" and f.payer_class == "CI"
    assert isinstance(f.line_number, int) and isinstance(f.date_of_service, date) and f.ncci_edit_set is None
    assert f.source_file == "fx.trigger.2.x12" and f.interchange_control == "000000002"
    assert result.lines_audited == 2
    assert len(result.ruleset_version) == 16
    assert {s.suite for s in result.suites} == {"line_rules", "day_rules", "course_rules", "data_integrity_lines",
                                               "data_integrity_claims", "data_integrity_diagnoses", "ncci_rules"}
    saved = json.loads((tmp_path / "docs" / "validation_results.json").read_text())
    assert any(not r["success"] for r in saved)
    assert list((tmp_path / "docs").glob("*.html"))
    engine.dispose()


def test_a_void_withdraws_the_claim_and_its_findings(tmp_path):
    """A duplicate original voided the next day: the audit of that day sees no duplicate."""
    engine = sqlite_engine(tmp_path)
    day2, day3 = START + timedelta(days=1), START + timedelta(days=2)
    load_extract(engine, "void", "x", extract(
        (START, "I", [planning("P1", START - timedelta(days=7)), deliveries("D1", [START])]),
        (day2, "I", [deliveries("D1B", [START])]),
        (day3, "I", [deliveries("D1B", [START], frequency_code="8", original_claim_ref="D1B")])))
    assert keyed(run_rules(engine, day2, EXPECTATIONS_DIR).findings) == {("R77386-DUPLICATE", "D1B", 1)}
    # A rerun of day 2 after the void arrived gives the same answer: views are as of the day.
    assert keyed(run_rules(engine, day2, EXPECTATIONS_DIR).findings) == {("R77386-DUPLICATE", "D1B", 1)}
    day3_result = run_rules(engine, day3, EXPECTATIONS_DIR)
    assert day3_result.findings == [] and day3_result.lines_audited == 0


def test_course_findings_are_reported_once_across_days(tmp_path):
    """An FX-OUTLIER reported on day N is not repeated when the course receives more deliveries."""
    engine = engine_for(f"sqlite:///{tmp_path / 'r.db'}")
    ensure_schema(engine)
    dx = ("Z510", "C7951")
    dates = weekdays(START, 13)
    days = extract((dates[10], "I", [planning("P1", START - timedelta(days=7)),
                                     deliveries("D1", dates[:11], diagnoses=dx)]),
                   (dates[12], "I", [deliveries("D2", dates[11:], diagnoses=dx)]))
    load_extract(engine, "once", "x", days[:1])
    first = run_rules(engine, dates[10], EXPECTATIONS_DIR)
    assert keyed(first.findings) == {("R77386-FX-OUTLIER", "D1", 11)}
    replace_day(engine, audit_date=dates[10], run_id="t1", ruleset_version=first.ruleset_version,
                findings=first.findings, stats={"files": 1, "claims": 2, "lines": 14, "rejections": 0},
                started_at=datetime.now(timezone.utc))
    load_extract(engine, "once", "y", days[1:])
    second = run_rules(engine, dates[12], EXPECTATIONS_DIR)
    assert keyed(second.findings) == {("R77386-FX-OUTLIER", "D2", 1), ("R77386-FX-OUTLIER", "D2", 2)}


def test_clean_claims_across_patients_and_claim_types_give_no_finding(tmp_path):
    """Z51.0 first with the cancer second, 77387-26 beside 77386 on the physician's 837P,
    a second session with 76, weekly physics and a replacement superseding its original."""
    from support.rule_scenario import PATIENT, Claim, line

    engine = sqlite_engine(tmp_path)
    dates = weekdays(START, 5)
    pro = [Claim(f"G{i}", PATIENT, [line("77387", d, "26"), line("77427", d, "26")], diagnoses=("Z510", "C61"),
                 facility_code="22", rendering_npi="1234567893") for i, d in enumerate(dates)]
    load_extract(engine, "clean", "x", extract(
        (START, "I", [planning("P1", START - timedelta(days=7)), deliveries("D1", dates[:2])]),
        (START, "P", pro[:2]),
        (dates[4], "I", [deliveries("D2", dates[2:4], extra=[line("77386", dates[3], "76"), line("77336", dates[3])]),
                         deliveries("D1", dates[:2], frequency_code="7", original_claim_ref="D1")]),
        (dates[4], "P", pro[2:4])))
    result = run_rules(engine, dates[4], EXPECTATIONS_DIR)
    assert result.findings == []
    assert result.lines_audited == 10
