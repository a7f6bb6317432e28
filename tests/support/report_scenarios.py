"""Report-store scenarios the digest tests render: real rows written through load_results and
replace_day, as the pipeline writes them (no hand-made digest models)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from claimaudit.model import Finding
from claimaudit.store.findings import replace_day
from claimaudit.store.history import load_results
from support.parse_results import build_parse_result

D1, D2 = date(2025, 6, 2), date(2025, 6, 3)  # a Monday and a Tuesday
XSS = "<script>alert(1)</script>"
BAD_FILE = "<img src=x onerror=alert(2)>.837"
CATALOGUE = {
    "R77386-MOD-26": {"title": "Modifier 26 on 77385/77386: the delivery codes have no professional component",
                      "severity": "error", "fix": "Remove modifier 26; bill the physician's guidance as 77387-26."},
    "R77386-UNITS-PER-LINE": {"title": "More than one unit on a 77385/77386 line", "severity": "error",
                              "fix": "One session per line; a second session the same day gets its own line with 76."},
    "R77386-MOD-TC": {"title": "Modifier TC on IMRT delivery", "severity": "error",
                      "fix": "Remove TC: 77386 is technical-only by definition."},
}
RUN_URL = "https://airflow.example.org/dags/claims_audit_nightly/runs/scheduled__2025-06-04?tab=graph&x=<1>"


def run_time(day: date) -> datetime:
    """The nightly run that audits ``day`` starts at 02:00 UTC the next morning."""
    return datetime.combine(day + timedelta(days=1), time(2, 0), tzinfo=timezone.utc)


def finding(claim, rule, severity, message, line=1, mods="", code="77386", dos=D1):
    return Finding(rule_id=rule, severity=severity, claim_key=claim.claim_key, claim_id=claim.claim_id,
                   line_number=line, date_of_service=dos, procedure_code=code, modifiers=mods, message=message,
                   source_file=claim.source_file, interchange_control=claim.interchange_control,
                   billing_npi=claim.billing_npi, payer_class=claim.payer_class)


def two_days(engine):
    """Day 1: three findings. Day 2: C1 replaced and fixed, C2 found again, a new one, a bad file."""
    day1 = build_parse_result("clinic_20250602.837", [
        {"claim_id": "C1", "lines": [("77386", "26", D1)]},
        {"claim_id": "C2", "lines": [("77386", "", D1, 2.0)], "patient": "P2", "payer_class": "MB"},
        {"claim_id": XSS, "lines": [("77386", "", D1)], "patient": "P3", "dx": ["C6I"]}])
    load_results(engine, [day1], D1)
    c1, c2, c3 = day1.claims
    replace_day(engine, audit_date=D1, run_id="scheduled__2025-06-03", ruleset_version="2025.06",
                started_at=run_time(D1), stats={"files": 1, "claims": 3, "lines": 3, "rejections": 0}, findings=[
                    finding(c1, "R77386-MOD-26", "error", "Modifier 26 on 77386. Remove it.", mods="26"),
                    finding(c2, "R77386-UNITS-PER-LINE", "error", "2 units on one line."),
                    finding(c3, "DQ-DX-FORMAT", "warning", f"Diagnosis 'C6I' is not ICD-10-CM shaped {XSS}.",
                            line=None)])
    day2 = build_parse_result("clinic_20250603.837", [
        {"claim_id": "C1", "freq": "7", "ref": "C1", "lines": [("77386", "", D1)]},
        {"claim_id": "C4", "lines": [("77386", "TC", D2)], "patient": "P4", "payer_class": "MC"}], isa="000000102")
    bad = build_parse_result(BAD_FILE, [], rejections=[
        {"reason": "ISA16 is missing: the segment is 105 characters, expected 106", "segment": "ISA", "position": 1}])
    load_results(engine, [day2, bad], D2, quarantine_paths={bad.file_sha256: "var/quarantine/2025-06-03/bad.837"})
    c4 = day2.claims[1]
    replace_day(engine, audit_date=D2, run_id="scheduled__2025-06-04", ruleset_version="2025.06",
                started_at=run_time(D2), stats={"files": 2, "claims": 2, "lines": 2, "rejections": 1}, findings=[
                    finding(c2, "R77386-UNITS-PER-LINE", "error", "2 units on one line."),
                    finding(c4, "R77386-MOD-TC", "error", "Modifier TC on 77386. Remove it.", mods="TC", dos=D2)])


def empty_day(engine, day: date, *, files: int = 0, claims: int = 0) -> None:
    """A day audited with nothing (or ``claims`` claims without findings) received."""
    results = []
    if files:
        results = [build_parse_result(f"feed_{day:%Y%m%d}.837", [
            {"claim_id": f"Q{day:%m%d}{n:03d}", "lines": [("77386", "", day)], "patient": f"Q{n}"}
            for n in range(claims)])]
        load_results(engine, results, day)
    replace_day(engine, audit_date=day, run_id=f"scheduled__{day + timedelta(days=1)}", ruleset_version="2025.06",
                started_at=run_time(day), stats={"files": files, "claims": claims, "lines": claims}, findings=[])


BUSY_RULES = [  # (rule, severity, message) spread over the busy month
    ("R77386-MOD-26", "error", "Modifier 26 on 77386: the delivery code has no professional component."),
    ("R77386-UNITS-PER-LINE", "error", "77386 billed with 2 units on one line; IMRT delivery is one session."),
    ("R77386-DX-NEOPLASM", "error", "No neoplasm diagnosis (C00-D49, Z51.0) on the claim of this IMRT delivery."),
    ("R77386-BID-76", "warning", "A second IMRT session the same day without modifier 76 on the second line."),
    ("R77386-PLAN-PRECEDES", "warning", "IMRT course with no IMRT plan (77301) on or before its first session."),
    ("DQ-CLAIM-CHARGE-SUM", "error", "CLM02 total charge 1234.00 differs from the sum of its lines 1134.00."),
]


def busy_month(engine, last_day: date, open_target: int = 200, payer_classes=("MB", "MC", "CI", "BL", "HM")):
    """Weekdays of the month before ``last_day`` (included), each delivering a file of claims with
    findings until ``open_target`` findings are open on ``last_day``; a few are resolved by
    replacement claims on the way. Returns the number of open findings written."""
    days = [last_day - timedelta(days=n) for n in range(29, -1, -1)]
    days = [d for d in days if d.weekday() < 5]
    per_day = -(-open_target // len(days))  # claims with findings a day, at most; three clean claims besides
    written = 0
    for i, day in enumerate(days):
        want = per_day + 3  # the same volume every day: findings stop at the target, claims do not
        specs = [{"claim_id": f"CLM{day:%m%d}{n:03d}-RADONC-SITE-A", "patient": f"B{i}-{n}",
                  "payer_class": payer_classes[(i + n) % len(payer_classes)],
                  "lines": [("77386", "26" if n % 3 == 0 else "", day - timedelta(days=1)),
                            ("77386", "", day)]} for n in range(max(want, 0))]
        # Monday replacements fix the first two claims of the day before: they resolve findings.
        replaced = []
        if i and day.weekday() == 0:
            prev = days[i - 1]
            replaced = [{"claim_id": f"CLM{prev:%m%d}{n:03d}-RADONC-SITE-A", "freq": "7",
                         "ref": f"CLM{prev:%m%d}{n:03d}-RADONC-SITE-A", "patient": f"B{i - 1}-{n}",
                         "lines": [("77386", "", prev)]} for n in range(2)]
        result = build_parse_result(f"RADONC_837P_{day:%Y%m%d}_0001.x12", specs + replaced, isa=f"{i + 1:09d}")
        load_results(engine, [result], day)
        findings = []
        for n, claim in enumerate(result.claims[:len(specs)]):
            if written >= open_target:
                break
            rule, severity, message = BUSY_RULES[(i + n) % len(BUSY_RULES)]
            if n >= (i + 1) * open_target // len(days) - i * open_target // len(days):  # spread evenly
                break
            findings.append(finding(claim, rule, severity, message, line=1 if rule.startswith("R") else None,
                                    mods="26" if rule == "R77386-MOD-26" else "", dos=day - timedelta(days=1)))
            written += 1
        replace_day(engine, audit_date=day, run_id=f"scheduled__{day + timedelta(days=1)}", ruleset_version="2025.06",
                    started_at=run_time(day), stats={"files": 1, "claims": len(result.claims),
                                                     "lines": len(result.lines)}, findings=findings)
    return written
