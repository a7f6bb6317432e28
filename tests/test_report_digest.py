"""The morning digest rendered from a real report DB (SQLite and PostgreSQL give the same email)."""

from __future__ import annotations

import csv
import io
import os
import re
import struct
import zlib
from datetime import date, datetime, timezone
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import sqlalchemy as sa

from claimaudit.report import chart
from claimaudit.report.digest import build_digest
from claimaudit.report.outbox import write_eml
from claimaudit.store import schema as t
from claimaudit.store.findings import TrendPoint, replace_day
from claimaudit.store.history import load_results
from conftest import build_parse_result

GOLDEN = Path(__file__).parent / "golden"
D1, D2 = date(2025, 6, 2), date(2025, 6, 3)
T1 = datetime(2025, 6, 3, 2, 0, tzinfo=timezone.utc)
T2 = datetime(2025, 6, 4, 2, 0, tzinfo=timezone.utc)
XSS = "<script>alert(1)</script>"
CATALOGUE = {
    "R77386-MOD-26": {"title": "Modifier 26 on 77385/77386: the delivery codes have no professional component",
                      "severity": "error", "fix": "Remove modifier 26; bill the physician's guidance as 77387-26."},
    "R77386-UNITS-PER-LINE": {"title": "More than one unit on a 77385/77386 line", "severity": "error",
                              "fix": "One session per line; a second session the same day gets its own line with 76."},
}
RUN_URL = "https://airflow.example.org/dags/claims_audit_nightly/runs/scheduled__2025-06-04?tab=graph&x=<1>"


def _finding(claim, rule, severity, message, line=1, mods="", code="77386"):
    return dict(rule_id=rule, severity=severity, claim_key=claim.claim_key, claim_id=claim.claim_id,
                line_number=line, date_of_service=D1, procedure_code=code, modifiers=mods, message=message,
                source_file=claim.source_file, interchange_control=claim.interchange_control,
                billing_npi=claim.billing_npi, payer_class=claim.payer_class)


def two_days(engine):
    """Day 1: three findings. Day 2: C1 replaced and fixed, C2 found again, a new one, a bad file."""
    day1 = build_parse_result("clinic_20250602.837", [
        {"claim_id": "C1", "lines": [("77386", "26", D1)]},
        {"claim_id": "C2", "lines": [("77386", "", D1, 2.0)], "patient": "P2"},
        {"claim_id": XSS, "lines": [("77386", "", D1)], "patient": "P3", "dx": ["C6I"]}])
    load_results(engine, [day1], D1)
    c1, c2, c3 = day1.claims
    replace_day(engine, audit_date=D1, run_id="scheduled__2025-06-03", ruleset_version="2025.06", started_at=T1,
                stats={"files": 1, "claims": 3, "lines": 3, "rejections": 0}, findings=[
                    _finding(c1, "R77386-MOD-26", "error", "Modifier 26 on 77386. Remove it.", mods="26"),
                    _finding(c2, "R77386-UNITS-PER-LINE", "error", "2 units on one line."),
                    _finding(c3, "DQ-DX-FORMAT", "warning", f"Diagnosis 'C6I' is not ICD-10-CM shaped {XSS}.",
                             line=None)])
    day2 = build_parse_result("clinic_20250603.837", [
        {"claim_id": "C1", "freq": "7", "ref": "C1", "lines": [("77386", "", D1)]},
        {"claim_id": "C4", "lines": [("77386", "TC", D2)], "patient": "P4"}], isa="000000102")
    bad = build_parse_result(f"{XSS}.837", [], rejections=[
        {"reason": "ISA16 is missing: the segment is 105 characters, expected 106", "segment": "ISA", "position": 1}])
    load_results(engine, [day2, bad], D2, quarantine_paths={bad.file_sha256: "var/quarantine/2025-06-03/bad.837"})
    c4 = day2.claims[1]
    replace_day(engine, audit_date=D2, run_id="scheduled__2025-06-04", ruleset_version="2025.06", started_at=T2,
                stats={"files": 2, "claims": 2, "lines": 2, "rejections": 1}, findings=[
                    _finding(c2, "R77386-UNITS-PER-LINE", "error", "2 units on one line."),
                    _finding(c4, "R77386-MOD-TC", "error", "Modifier TC on 77386. Remove it.", mods="TC")])


def _digest(engine, day=D2, **kw):
    kw.setdefault("airflow_run_url", RUN_URL)
    return build_digest(engine, day, email_from="claims-audit@example.org",
                        email_to=["billing@example.org", "compliance@example.org"], rule_catalogue=CATALOGUE, **kw)


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"digest rendering changed; see {path}"


def test_digest_matches_golden_files(engine):
    two_days(engine)
    msg = _digest(engine)
    assert msg["Subject"] == "77386 audit 2025-06-03: 2 errors, 0 warnings, 1 file rejected"
    assert [p.get_content_type() for p in msg.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "multipart/related", "text/html", "image/png",
        "text/csv"]
    _golden("digest_2025-06-03.txt", msg.get_body(("plain",)).get_content())
    _golden("digest_2025-06-03.html", msg.get_body(("html",)).get_content())
    # the whole message, with MIME boundaries (random) normalised
    raw = msg.as_string()
    for boundary in {p.get_boundary() for p in msg.walk() if p.is_multipart()}:
        raw = raw.replace(boundary, "BOUNDARY")
    raw = re.sub(r"(?m)^Date: .*$", "Date: NORMALISED", raw)  # the run's finish time
    _golden("digest_2025-06-03.eml", raw)


def test_file_derived_values_are_escaped(sqlite_engine):
    two_days(sqlite_engine)
    html = _digest(sqlite_engine, day=D1).get_body(("html",)).get_content()
    assert XSS not in html and "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    html2 = _digest(sqlite_engine).get_body(("html",)).get_content()
    assert "<script" not in html2.lower() and "&lt;script&gt;alert(1)&lt;/script&gt;.837" in html2
    assert 'href="https://airflow.example.org/dags/claims_audit_nightly/runs/scheduled__2025-06-04?tab=graph' \
           '&amp;x=&lt;1&gt;"' in html2


def test_sections_new_still_open_resolved_rejected(sqlite_engine):
    two_days(sqlite_engine)
    text = _digest(sqlite_engine).get_body(("plain",)).get_content()
    assert "New today: 1. Found again: 1. Still open from earlier days: 1. Resolved by today's claims: 1." in text
    resolved = text.split("RESOLVED BY TODAY'S CLAIMS (1)")[1].split("REJECTED FILES")[0]
    assert "claim C1 line 1" in resolved
    still = text.split("STILL OPEN FROM EARLIER DAYS (1)")[1].split("RESOLVED")[0]
    assert XSS in still  # plain text shows the claim id as it is (no markup there)
    assert "How to fix: Remove modifier 26" not in text  # only rules seen today are explained
    assert "How to fix: One session per line" in text
    assert "ISA16 is missing" in text and "var/quarantine/2025-06-03/bad.837" in text
    assert f"Airflow run: {RUN_URL}" in text


def test_no_patient_identifiers_in_the_email(sqlite_engine):
    """The store keeps only a one-way patient_key; not even that reaches the email."""
    two_days(sqlite_engine)
    msg = _digest(sqlite_engine)
    with sqlite_engine.connect() as conn:
        keys = set(conn.execute(sa.select(t.claim.c.patient_key)).scalars())
    assert keys
    decoded = "".join(p.get_content() for p in msg.walk() if p.get_content_maintype() == "text")
    assert not any(k in decoded for k in keys)
    assert "patient_key" not in decoded


def test_csv_attachment_has_every_finding_of_the_day(sqlite_engine):
    two_days(sqlite_engine)
    msg = _digest(sqlite_engine)
    (att,) = list(msg.iter_attachments())
    assert att.get_filename() == "77386-audit-2025-06-03-findings.csv"
    rows = list(csv.DictReader(io.StringIO(att.get_content())))
    assert [(r["claim_id"], r["line_number"], r["rule_id"], r["severity"], r["date_of_service"],
             r["procedure_code"], r["modifiers"], r["new"]) for r in rows] == [
        ("C4", "1", "R77386-MOD-TC", "error", "2025-06-02", "77386", "TC", "yes"),
        ("C2", "1", "R77386-UNITS-PER-LINE", "error", "2025-06-02", "77386", "", "no")]
    assert rows[0]["message"] == "Modifier TC on 77386. Remove it."


def test_csv_cells_cannot_become_spreadsheet_formulas():
    from claimaudit.report.csv_export import findings_csv
    from claimaudit.store.findings import FindingView

    f = FindingView(D1, "x", "R", "error", "=HYPERLINK(\"http://evil\")", 1, D1, "77386", "", "-2+3", "f", "n", "CI",
                    "open", None, None, True)
    row = next(csv.reader(io.StringIO(findings_csv([f]).splitlines()[1])))
    assert row[0] == "'=HYPERLINK(\"http://evil\")" and row[7] == "'-2+3"


def test_all_clear_day(sqlite_engine):
    load_results(sqlite_engine, [build_parse_result("ok.837", [{"claim_id": "OK1", "lines": [("77386", "", D1)]}])], D1)
    replace_day(sqlite_engine, audit_date=D1, run_id="r", ruleset_version="v", findings=[], stats={"files": 1},
                started_at=T1)
    msg = _digest(sqlite_engine, day=D1, airflow_run_url="")
    assert msg["Subject"] == "77386 audit 2025-06-02: all clear"
    assert "All clear" in msg.get_body(("plain",)).get_content()
    assert list(msg.iter_attachments()) == [] and "Airflow" not in msg.as_string()
    assert _digest(sqlite_engine, day=D1, send_all_clear=False) is None


def test_rejected_only_day_still_sends(sqlite_engine):
    bad = build_parse_result("junk.bin", [], rejections=[{"reason": "not an X12 file: no ISA segment"}])
    load_results(sqlite_engine, [bad], D1)
    replace_day(sqlite_engine, audit_date=D1, run_id="r", ruleset_version="v", findings=[],
                stats={"files": 1, "rejections": 1}, started_at=T1)
    msg = _digest(sqlite_engine, day=D1, send_all_clear=False)
    assert msg is not None and msg["Subject"] == "77386 audit 2025-06-02: 1 file rejected"
    assert "junk.bin" in msg.get_body(("html",)).get_content()


def test_never_audited_day_is_an_error_not_all_clear(sqlite_engine):
    with pytest.raises(LookupError):
        _digest(sqlite_engine, day=D1)


def _decode_png(data: bytes):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0] == zlib.crc32(tag + body)
        chunks.setdefault(tag, b"")
        chunks[tag] += body
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, color) == (8, 2)
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = width * 3 + 1
    return width, height, lambda x, y: tuple(raw[y * stride + 1 + x * 3:y * stride + 4 + x * 3])


def test_trend_chart_draws_one_bar_per_audited_day():
    points = [TrendPoint(date(2025, 6, d), errors=e, warnings=w, rejections=r)
              for d, e, w, r in ((1, 4, 0, 0), (2, 0, 0, 1), (3, 2, 2, 0))]
    width, height, px = _decode_png(chart.trend_png(points, date(2025, 6, 3)))
    assert (width, height) == (chart.WIDTH, chart.HEIGHT)
    base = chart.HEIGHT - chart.BOTTOM - 1
    slots = [chart.slot_bounds(chart.TREND_DAYS - 3 + i) for i in range(3)]
    mid = [(x0 + x1) // 2 for x0, x1 in slots]
    assert px(mid[0], base) == chart.ERROR_RGB and px(mid[0], chart.TOP + 1) == chart.ERROR_RGB  # 4 = full scale
    assert px(mid[1], base) != chart.ERROR_RGB  # no findings that day...
    assert px(mid[1], base + 9) == chart.REJECT_RGB  # ...but a rejected file
    top_of_errors = base - round(2 * (base + 1 - chart.TOP) / 4) + 3
    assert px(mid[2], base) == chart.ERROR_RGB and px(mid[2], top_of_errors - 8) == chart.WARNING_RGB
    assert px(chart.slot_bounds(0)[0] + 1, base) == (255, 255, 255)  # no audit in the oldest slot


def test_write_eml_roundtrip(sqlite_engine, tmp_path):
    two_days(sqlite_engine)
    msg = _digest(sqlite_engine)
    path = write_eml(msg, tmp_path / "outbox", D2)
    assert path.name == "77386-audit-2025-06-03.eml"
    again = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert again["Subject"] == msg["Subject"] and again["Date"] is not None
    assert b"\r\n" in path.read_bytes()
    assert write_eml(msg, tmp_path / "outbox", D2) == path and len(list((tmp_path / "outbox").iterdir())) == 1
    assert re.search(rb"Content-ID: <trend-2025-06-03@claimaudit.local>", path.read_bytes())
