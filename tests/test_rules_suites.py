"""Suites and reference data: loading refuses what GX would drop, metadata is complete, the
catalogue page is generated from the suites and committed up to date, dates of service decide."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from claimaudit.rules.catalogue import render_catalogue_markdown, rule_catalogue
from claimaudit.rules.reference import ReferenceDataError, load_reference, membership, threshold_at
from claimaudit.rules.runner import needed_columns
from claimaudit.rules.suites import SuiteError, load_suite, load_suites, ruleset_version
from claimaudit.rules.views import npi_check_digit_ok
from claimaudit.settings import EXPECTATIONS_DIR, PROJECT_ROOT
from support.rule_fixtures import audit, keyed, load_extract, load_spec, sqlite_engine


def test_catalogue_page_is_up_to_date():
    committed = (PROJECT_ROOT / "docs" / "rule-catalogue.md").read_text(encoding="utf-8")
    assert committed == render_catalogue_markdown(EXPECTATIONS_DIR), (
        "docs/rule-catalogue.md is stale: regenerate it with render_catalogue_markdown(expectations/)")


def test_every_expectation_carries_complete_rule_metadata():
    suites = load_suites(EXPECTATIONS_DIR)
    assert sum(len(s.expectations) for s in suites) >= 23
    for rid, meta in rule_catalogue(EXPECTATIONS_DIR).items():
        assert all(meta[k] for k in ("title", "severity", "scope", "citation", "message", "fix")), rid


def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS_DIR, dst)
    return dst


def test_unknown_expectation_type_is_refused_not_dropped(tmp_path):
    d = _copy(tmp_path)
    path = d / "line_rules.json"
    doc = json.loads(path.read_text())
    doc["expectations"][0]["type"] = "expect_column_values_to_be_in_the_set_typo"
    path.write_text(json.dumps(doc))
    with pytest.raises(SuiteError, match="line_rules.json"):
        load_suite(path)


def test_missing_rule_metadata_is_refused(tmp_path):
    d = _copy(tmp_path)
    path = d / "day_rules.json"
    doc = json.loads(path.read_text())
    del doc["expectations"][1]["meta"]["effective_to"]
    path.write_text(json.dumps(doc))
    with pytest.raises(SuiteError, match="effective_to"):
        load_suite(path)


def test_ruleset_version_changes_with_reference_data(tmp_path):
    d = _copy(tmp_path)
    before = ruleset_version(d)
    assert before == ruleset_version(EXPECTATIONS_DIR)
    path = d / "reference" / "lookback_days.json"
    doc = json.loads(path.read_text())
    doc["entries"][0]["value"] = 30
    path.write_text(json.dumps(doc))
    assert ruleset_version(d) != before


def test_reference_entry_without_dates_is_refused(tmp_path):
    d = _copy(tmp_path)
    path = d / "reference" / "code_lists.json"
    doc = json.loads(path.read_text())
    del doc["lists"]["sbrt"]["entries"][0]["effective_from"]
    path.write_text(json.dumps(doc))
    with pytest.raises(ReferenceDataError, match="sbrt"):
        load_reference(d)


def test_code_list_membership_follows_the_date_of_service():
    ref = load_reference(EXPECTATIONS_DIR)
    codes = pd.Series(["77386", "77386", "77386", "77407", "C61", "1859"])
    dos = pd.to_datetime(pd.Series(["2014-12-31", "2015-01-01", "2026-01-01", "2025-06-01", "2015-10-01",
                                    "2015-09-30"]))
    assert list(membership(codes[:4], dos[:4], ref.code_lists["imrt_delivery"])) == [False, True, False, False]
    assert list(membership(codes[4:], dos[4:], ref.code_lists["neoplasm_dx"])) == [True, True]
    mods = pd.Series(["26", "TC,76", "", "XE", "126"])
    hit = membership(mods, pd.to_datetime(pd.Series(["2025-01-01"] * 5)), ref.code_lists["modifier_repeat_session"])
    assert list(hit) == [False, True, False, True, False]
    gap = threshold_at(ref.threshold("course_gap_days"), dos)
    assert set(gap) == {14}


def test_npi_check_digit():
    assert npi_check_digit_ok("1234567893")
    assert not npi_check_digit_ok("1234567890")
    assert not npi_check_digit_ok("123456789")


def test_needed_columns_walks_row_conditions():
    suite = load_suite(EXPECTATIONS_DIR / "course_rules.json")
    cols = needed_columns(list(suite.expectations), ["claim_key", "line_number"])
    assert {"course_fx_ceiling", "course_delivery_seq", "in_mlc_device", "course_id", "in_simulation"} <= set(cols)


def test_a_threshold_change_is_data_only(tmp_path):
    """Lowering the look-back window in reference data (no Python) turns the clean plan fixture
    (plan 30 days before the course) into a PLAN-PRECEDES finding."""
    d = _copy(tmp_path)
    path = d / "reference" / "lookback_days.json"
    doc = json.loads(path.read_text())
    doc["entries"] = [{"value": 45, "effective_from": None, "effective_to": "2024-12-31"},
                      {"value": 20, "effective_from": "2025-01-01", "effective_to": None}]
    path.write_text(json.dumps(doc))
    spec = load_spec("R77386-PLAN-PRECEDES")
    engine = sqlite_engine(tmp_path)
    load_extract(engine, "plan", "clean", spec.clean())
    assert keyed(audit(engine, spec.AUDIT_DAY).findings) == set()
    assert keyed(audit(engine, spec.AUDIT_DAY, d).findings) == {("R77386-PLAN-PRECEDES", "D1", 1)}


def test_effective_dates_follow_the_service_not_the_audit_day(tmp_path):
    """A 2025 service received and audited in 2026 is judged by the 2015-2025 rules (here
    DX-NEOPLASM fires) and not by R77386-DELETED-2026."""
    from support.rule_scenario import deliveries, extract, planning

    dos, received = date(2025, 12, 30), date(2026, 1, 5)
    engine = sqlite_engine(tmp_path)
    load_extract(engine, "eff", "x", extract((received, "I", [planning("P1", date(2025, 12, 22)),
                                                              deliveries("D1", [dos], diagnoses=("Z510",))])))
    assert keyed(audit(engine, received).findings) == {("R77386-DX-NEOPLASM", "D1", 1)}
