"""NCCI-PTP and NCCI-MUE (issue 13) over real claims: 837s written, parsed and loaded into a real
report DB, TEST edit sets (not CMS values) imported in the published layout, the real runner.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from claimaudit.model import Finding
from claimaudit.ncci.importer import import_ncci
from claimaudit.ncci.runinfo import run_columns
from claimaudit.ncci.testfiles import as_text, mue_lines, ptp_lines, write_zip
from claimaudit.report.digest import build_digest
from claimaudit.rules.runner import run_rules
from claimaudit.settings import EXPECTATIONS_DIR
from claimaudit.store.findings import replace_day
from claimaudit.store.schema import audit_finding, audit_run
from claimaudit.samples.x12_writer import Claim
from support.rule_fixtures import load_extract
from support.rule_scenario import DX, PATIENT, extract, line

R = "TEST rationale (not CMS)"
DAY = date(2025, 4, 7)  # received; dates of service in 2025-Q2
DOS = date(2025, 4, 4)
OTHER_NPI = "1245319599"  # a valid NPI check digit, another provider



def import_sets(engine, tmp_path, *, hospital_ptp=(), practitioner_ptp=(), hospital_mue=(), practitioner_mue=(),
                version="v311r0", eff="04-01-2025"):
    paths = []
    for prefix, rows in (("ccioph", hospital_ptp), ("ccipra", practitioner_ptp)):
        if rows:
            stem = f"{prefix}-{version}-f1"
            paths.append(write_zip(tmp_path / f"{stem}.zip", {f"{stem}.txt": as_text(ptp_lines(rows))}))
    for table, name, rows in (("hospital", "OutpatientHospitalServices", hospital_mue),
                              ("practitioner", "PractitionerServices", practitioner_mue)):
        if rows:
            stem = f"MCR_MUE_{name}_Eff_{eff}"
            paths.append(write_zip(tmp_path / f"{stem}.zip", {f"{stem}.txt": as_text(mue_lines(rows, table))}))
    import_ncci(engine, paths)


def ncci(findings) -> dict[tuple, Finding]:
    return {(f.rule_id, f.claim_id, f.line_number): f for f in findings if f.rule_id.startswith("NCCI-")}


PTP_ROWS = [("77386", "77014", False, date(2015, 1, 1), None, 0, R),          # never with a modifier
            ("77386", "77387", False, date(2015, 1, 1), None, 1, R),          # modifier may bypass
            ("77386", "77280", False, date(2015, 1, 1), None, 9, R),          # not applicable
            ("77386", "77300", False, date(2015, 1, 1), date(2025, 4, 1), 0, R)]  # deleted before the DOS


def test_ptp_pairs_by_indicator_modifier_provider_and_deletion(engine, tmp_path):
    import_sets(engine, tmp_path, hospital_ptp=PTP_ROWS, hospital_mue=[("99999", 1, 1, R)])
    claims = [
        Claim("H1", PATIENT, [line("77386", DOS), line("77014", DOS), line("77387", DOS), line("77280", DOS),
                              line("77300", DOS)], diagnoses=DX),
        Claim("H2", PATIENT, [line("77387", DOS, "XS")], diagnoses=DX),  # bypassed by XS
        # Another provider's pair on the same day is not this provider's pair.
        Claim("H3", PATIENT, [line("77014", DOS)], diagnoses=DX, billing_npi=OTHER_NPI),
    ]
    load_extract(engine, "ncci", "ptp", extract((DAY, "I", claims)))
    result = run_rules(engine, DAY, EXPECTATIONS_DIR)
    found = ncci(result.findings)
    assert set(found) == {("NCCI-PTP", "H1", 2), ("NCCI-PTP", "H1", 3)}
    mod0, mod1 = found[("NCCI-PTP", "H1", 2)], found[("NCCI-PTP", "H1", 3)]
    assert "Pair 77386 (column one) / 77014 (column two), modifier indicator 0" in mod0.message
    assert "modifier indicator 1 (no NCCI-associated modifier on this line)" in mod1.message
    assert mod0.ncci_edit_set.startswith("PTP hospital 2025-Q2 (") and mod0.ncci_edit_set in mod0.message
    assert result.ncci["unchecked"] == {}
    assert any(s.startswith("PTP hospital 2025-Q2") for s in result.ncci["edit_sets"])


def test_a_pair_completed_by_a_later_claim_is_found_on_its_day(sqlite_engine, tmp_path):
    import_sets(sqlite_engine, tmp_path, hospital_ptp=PTP_ROWS, hospital_mue=[("99999", 1, 1, R)])
    load_extract(sqlite_engine, "ncci", "late", extract(
        (DAY, "I", [Claim("E1", PATIENT, [line("77386", DOS)], diagnoses=DX)]),
        (date(2025, 4, 8), "I", [Claim("L1", PATIENT, [line("77014", DOS)], diagnoses=DX)])))
    assert ncci(run_rules(sqlite_engine, DAY, EXPECTATIONS_DIR).findings) == {}
    assert set(ncci(run_rules(sqlite_engine, date(2025, 4, 8), EXPECTATIONS_DIR).findings)) == {
        ("NCCI-PTP", "L1", 1)}


def test_practitioner_tables_for_837p_and_hospital_tables_for_837i(sqlite_engine, tmp_path):
    pair = [("77386", "77014", False, date(2015, 1, 1), None, 0, R)]
    import_sets(sqlite_engine, tmp_path, practitioner_ptp=pair, practitioner_mue=[("77014", 1, 1, R)],
                hospital_ptp=[("G6015", "77014", False, date(2015, 1, 1), None, 0, R)],
                hospital_mue=[("77014", 1, 1, R)])
    lines = [line("77386", DOS), line("77014", DOS)]
    load_extract(sqlite_engine, "ncci", "tables", extract(
        (DAY, "P", [Claim("P1", PATIENT, lines, diagnoses=DX)]),
        (DAY, "I", [Claim("I1", PATIENT, lines, diagnoses=DX, billing_npi=OTHER_NPI)])))
    found = ncci(run_rules(sqlite_engine, DAY, EXPECTATIONS_DIR).findings)
    assert set(found) == {("NCCI-PTP", "P1", 2)}
    assert found[("NCCI-PTP", "P1", 2)].ncci_edit_set.startswith("PTP practitioner 2025-Q2")


def test_mue_per_line_and_per_day(engine, tmp_path):
    mue = [("77338", 2, 1, R), ("77386", 1, 2, R), ("77300", 3, 3, R), ("77014", 2, 1, R)]
    import_sets(engine, tmp_path, hospital_mue=mue, hospital_ptp=[("99998", "99999", False, date(2015, 1, 1),
                                                                   None, 0, R)])
    claims = [
        Claim("M1", PATIENT, [line("77338", DOS, units=3),            # MAI 1: 3 > 2 on one line
                              line("77014", DOS), line("77014", DOS, "76"),  # MAI 1: 1 + 1 on two lines is fine
                              line("77386", DOS), line("77300", DOS, units=2)], diagnoses=DX),
        Claim("M2", PATIENT, [line("77386", DOS, "76"), line("77300", DOS, units=1)], diagnoses=DX),
    ]
    load_extract(engine, "ncci", "mue", extract((DAY, "I", claims)))
    found = ncci(run_rules(engine, DAY, EXPECTATIONS_DIR).findings)
    assert set(found) == {("NCCI-MUE", "M1", 1), ("NCCI-MUE", "M1", 4), ("NCCI-MUE", "M2", 1)}
    assert "3 units of 77338 on one line; the MUE is 2 per line (1 Line Edit)" in found[("NCCI-MUE", "M1", 1)].message
    assert ("2 units of 77386 for this patient, provider and date of service; the MUE is 1 per day "
            "(2 Date of Service Edit: Policy)") in found[("NCCI-MUE", "M2", 1)].message


def test_lines_no_edit_set_covers_are_unchecked_on_the_run_and_in_the_digest(engine, tmp_path):
    import_sets(engine, tmp_path, hospital_ptp=PTP_ROWS, hospital_mue=[("77386", 1, 2, R)])  # 2025-Q2 only
    q1 = date(2025, 3, 31)
    load_extract(engine, "ncci", "unchecked", extract((DAY, "I", [
        Claim("U1", PATIENT, [line("77386", q1), line("77014", q1), line("77386", DOS)], diagnoses=DX)])))
    result = run_rules(engine, DAY, EXPECTATIONS_DIR)
    assert ncci(result.findings) == {}  # the Q1 pair is not passed: it is unchecked
    assert result.ncci["unchecked"] == {"2025-Q1": 2}
    # Only one table of a quarter loaded: the line is unchecked, and the run says which table is missing.
    import_sets(engine, tmp_path / "q1", hospital_ptp=PTP_ROWS, version="v310r0")
    assert run_rules(engine, DAY, EXPECTATIONS_DIR).ncci["unchecked"] == {"2025-Q1 MUE hospital": 2}
    # The digest below reports the run written before that import.
    stats = {"files": 1, "claims": 1, "lines": 3, "rejections": 0, **run_columns(result.ncci)}
    replace_day(engine, audit_date=DAY, run_id="r1", ruleset_version=result.ruleset_version,
                findings=result.findings, stats=stats, started_at=datetime.now(timezone.utc))
    with engine.connect() as conn:
        run = conn.execute(select(audit_run).where(audit_run.c.audit_date == DAY)).one()
    assert run.ncci_unchecked_lines == 2 and json.loads(run.ncci_unchecked) == {"2025-Q1": 2}
    assert run.ncci_edit_sets.startswith("MUE hospital 2025-Q2")
    msg = build_digest(engine, DAY, email_from="a@example.org", email_to=["b@example.org"])
    text = msg.get_body(("plain",)).get_content()
    assert "NCCI edits not loaded for 2025-Q1: 2 lines unchecked" in text
    html = msg.get_body(("html",)).get_content()
    assert "NCCI edits not loaded for 2025-Q1: 2 lines unchecked" in html


def test_the_edit_set_is_stored_on_each_ncci_finding(sqlite_engine, tmp_path):
    import_sets(sqlite_engine, tmp_path, hospital_ptp=PTP_ROWS, hospital_mue=[("77386", 1, 2, R)])
    load_extract(sqlite_engine, "ncci", "stored", extract((DAY, "I", [
        Claim("S1", PATIENT, [line("77386", DOS), line("77014", DOS), line("77386", DOS, "76")], diagnoses=DX)])))
    result = run_rules(sqlite_engine, DAY, EXPECTATIONS_DIR)
    replace_day(sqlite_engine, audit_date=DAY, run_id="r1", ruleset_version=result.ruleset_version,
                findings=result.findings, stats={**run_columns(result.ncci)}, started_at=datetime.now(timezone.utc))
    with sqlite_engine.connect() as conn:
        rows = conn.execute(select(audit_finding.c.rule_id, audit_finding.c.line_number,
                                   audit_finding.c.ncci_edit_set)).all()
    by_rule = {(r.rule_id, r.line_number): r.ncci_edit_set for r in rows}
    assert by_rule[("NCCI-PTP", 2)].startswith("PTP hospital 2025-Q2")
    assert by_rule[("NCCI-MUE", 1)].startswith("MUE hospital 2025-Q2")
    assert all(v is None for (rule, _), v in by_rule.items() if not rule.startswith("NCCI-"))


@pytest.mark.parametrize("quarter_files", ["v311r0"])
def test_a_new_version_of_the_quarter_is_the_one_in_force(sqlite_engine, tmp_path, quarter_files):
    import_sets(sqlite_engine, tmp_path / "a", hospital_ptp=PTP_ROWS, hospital_mue=[("99999", 1, 1, R)])
    # A corrected file for the same quarter drops the 77386/77014 pair.
    import_sets(sqlite_engine, tmp_path / "b", hospital_ptp=PTP_ROWS[1:], hospital_mue=[("99999", 1, 1, R)])
    load_extract(sqlite_engine, "ncci", "corrected", extract((DAY, "I", [
        Claim("C1", PATIENT, [line("77386", DOS), line("77014", DOS)], diagnoses=DX)])))
    assert ncci(run_rules(sqlite_engine, DAY, EXPECTATIONS_DIR).findings) == {}
