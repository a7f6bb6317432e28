"""Per rule id (and per further case of a rule: date boundaries, exemptions, payer- and claim-type-
specific fixes): the trigger extract yields exactly the expected finding(s) and no other rule fires,
each finding's message is the rule's message followed by the fix for that claim (``FIX`` when the
case names one); the corrected twin yields no finding at all."""

from __future__ import annotations

import re

import pytest

from claimaudit.rules.catalogue import rule_catalogue
from claimaudit.settings import EXPECTATIONS_DIR
from support.paths import RULE_CATALOGUE_MD
from support.rule_fixtures import audit, fixture_cases, fixture_ids, keyed, load_extract, load_spec, sqlite_engine

RULE_IDS = sorted(rule_catalogue(EXPECTATIONS_DIR))


def test_every_catalogued_rule_has_a_fixture():
    assert fixture_ids() == RULE_IDS


@pytest.mark.skipif(not RULE_CATALOGUE_MD.exists(), reason="shared rule catalogue not mounted")
def test_suites_cover_the_shared_catalogue_exactly():
    text = RULE_CATALOGUE_MD.read_text()
    rows = dict(re.findall(r"^\| ((?:R77|DQ-)[A-Z0-9-]+) \| (error|warning) \|", text, re.M))
    catalogue = rule_catalogue(EXPECTATIONS_DIR)
    # NCCI-* rules check the CMS edit sets imported into the report DB (issue 13), not catalogue rows.
    assert {k: v["severity"] for k, v in catalogue.items() if not k.startswith("NCCI-")} == rows


@pytest.mark.parametrize("case", fixture_cases())
def test_trigger_yields_exactly_its_findings(case, tmp_path):
    rule_id = case.split("/")[0]
    spec = load_spec(case)
    engine = sqlite_engine(tmp_path)
    load_extract(engine, rule_id, "trigger", spec.trigger())
    result = audit(engine, spec.AUDIT_DAY)
    expected = {(rule_id, claim_id, line) for claim_id, line in spec.EXPECTED}
    assert keyed(result.findings) == expected
    catalogue = rule_catalogue(EXPECTATIONS_DIR)[rule_id]
    fixes = [catalogue["fix"]] + [v["fix"] for v in catalogue["fix_variants"]]
    for f in result.findings:
        assert f.severity == catalogue["severity"]
        message, _, fix = f.message.partition(" Fix: ")
        assert message == catalogue["message"] or (  # NCCI-*: the message names the pair or limit
            rule_id.startswith("NCCI-") and message.startswith(catalogue["message"] + " "))
        assert fix in fixes
        if hasattr(spec, "FIX"):
            assert spec.FIX in fix, (spec.FIX, fix)


@pytest.mark.parametrize("case", fixture_cases())
def test_clean_twin_yields_no_finding(case, tmp_path):
    spec = load_spec(case)
    engine = sqlite_engine(tmp_path)
    load_extract(engine, case.split("/")[0], "clean", spec.clean())
    result = audit(engine, spec.AUDIT_DAY)
    assert keyed(result.findings) == set()
    assert result.lines_audited > 0
