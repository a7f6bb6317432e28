"""The morning digest rendered from a real report DB (SQLite and PostgreSQL give the same email)."""

from __future__ import annotations

import csv
import io
import zipfile
import os
import re
import struct
import zlib
from dataclasses import replace
from datetime import date, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import sqlalchemy as sa

from claimaudit.errors import PipelineStateError
from claimaudit.report import chart
from claimaudit.report.csv_export import CSV_COLUMNS
from claimaudit.report.digest import DigestOptions, build_digest, collect
from claimaudit.report.outbox import write_eml
from claimaudit.report.worklist import BacklogPoint, open_worklist
from claimaudit.rules.catalogue import rule_catalogue
from claimaudit.settings import EXPECTATIONS_DIR
from claimaudit.store import schema as t
from claimaudit.store.findings import replace_day
from support.report_scenarios import CATALOGUE, D1, D2, RUN_URL, XSS, busy_month, empty_day, run_time, two_days

GOLDEN = Path(__file__).parent / "golden"
LINKED = DigestOptions(airflow_base_url="https://airflow.example.org",
                       rule_catalogue_url="https://wiki.example.org/claims-audit/rule-catalogue",
                       data_docs_url="https://audit.example.org/data-docs")


def _digest(engine, day=D2, options: DigestOptions | None = None, **kw):
    kw.setdefault("airflow_run_url", RUN_URL)
    return build_digest(engine, day, email_from="claims-audit@example.org",
                        email_to=["billing@example.org", "compliance@example.org"], rule_catalogue=CATALOGUE,
                        options=options or LINKED, **kw)


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"digest rendering changed; see {path}"


def _decoded(msg) -> str:
    return "".join(p.get_content() for p in msg.walk() if p.get_content_maintype() == "text")


def test_worklist_digest_matches_golden_files(engine):
    two_days(engine)
    msg = _digest(engine)
    assert msg["Subject"] == "77386 audit 2025-06-03: 1 new, 1 resolved, 3 open (2 errors), 1 file rejected"
    assert [p.get_content_type() for p in msg.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "multipart/related", "text/html", "image/png",
        "text/csv"]
    _golden("digest_2025-06-03.txt", msg.get_body(("plain",)).get_content())
    _golden("digest_2025-06-03.html", msg.get_body(("html",)).get_content())
    raw = msg.as_string()
    for boundary in {p.get_boundary() for p in msg.walk() if p.is_multipart()}:
        raw = raw.replace(boundary, "BOUNDARY")
    raw = re.sub(r"(?m)^Date: .*$", "Date: NORMALISED", raw)  # the run's finish time
    raw = re.sub(r"(?m)^Message-ID: .*$", "Message-ID: NORMALISED", raw)  # hashes the finish time
    _golden("digest_2025-06-03.eml", raw)


def test_summary_edition_matches_golden_and_carries_no_claim_id(engine):
    two_days(engine)
    msg = _digest(engine, options=replace(LINKED, detail="summary"))
    _golden("digest_2025-06-03_summary.html", msg.get_body(("html",)).get_content())
    _golden("digest_2025-06-03_summary.txt", msg.get_body(("plain",)).get_content())
    assert list(msg.iter_attachments()) == []
    with engine.connect() as conn:
        claim_ids = set(conn.execute(sa.select(t.claim.c.claim_id)).scalars())
        finding_ids = set(conn.execute(sa.select(t.audit_finding.c.finding_id)).scalars())
    # Headers and every text part, decoded (base64 of the PNG may spell "C2" by chance).
    everything = "\n".join(f"{k}: {v}" for k, v in msg.items()) + _decoded(msg)
    assert claim_ids == {"C1", "C2", "C4", XSS}
    for claim_id in claim_ids:  # C1, C2 ... would match inside other words: look for them as tokens
        assert not re.search(rf"(?<![\w-]){re.escape(claim_id)}(?![\w-])", everything), claim_id
    assert "ISA16" not in everything  # a rejection's reason may quote claim data: left out too
    assert not any(fid in everything for fid in finding_ids)
    assert "summary</b> edition" in msg.get_body(("html",)).get_content()
    assert msg["X-Claims-Audit-Detail"] == "summary"


def test_no_files_on_a_delivery_day_is_an_alert_never_all_clear(sqlite_engine):
    empty_day(sqlite_engine, D2)  # a Tuesday: files are due
    msg = _digest(sqlite_engine)
    assert msg["Subject"] == "77386 audit 2025-06-03: ALERT no file received - 0 new, 0 resolved, 0 open"
    html = msg.get_body(("html",)).get_content()
    _golden("digest_no_files_2025-06-03.html", html)
    banner = html.split('<div class="b ', 1)[1]
    assert banner.startswith("alert") and "All clear" not in html
    assert msg.get_body(("plain",)).get_content().splitlines()[3].startswith("ALERT: no file received")


def test_weekend_and_holiday_without_files_are_all_clear(sqlite_engine):
    sunday, holiday = date(2025, 6, 8), date(2025, 7, 4)
    empty_day(sqlite_engine, sunday)
    empty_day(sqlite_engine, holiday)
    assert _digest(sqlite_engine, day=sunday)["Subject"] == "77386 audit 2025-06-08: all clear, nothing open"
    assert "ALERT" in _digest(sqlite_engine, day=holiday)["Subject"]
    with_holiday = replace(LINKED, holidays=frozenset({holiday}))
    assert _digest(sqlite_engine, day=holiday, options=with_holiday)["Subject"].endswith("all clear, nothing open")
    saturdays = replace(LINKED, delivery_days=frozenset({5, 6}))  # a feed that delivers on weekends only
    assert "ALERT no file received" in _digest(sqlite_engine, day=sunday, options=saturdays)["Subject"]
    assert _digest(sqlite_engine, day=sunday, send_all_clear=False) is None


def test_far_fewer_claims_than_usual_is_an_alert(sqlite_engine):
    days = [date(2025, 6, 2) + timedelta(days=n) for n in range(14)]
    weekdays = [d for d in days if d.weekday() < 5]
    for d in weekdays[:-1]:
        empty_day(sqlite_engine, d, files=1, claims=20)
    empty_day(sqlite_engine, weekdays[-1], files=1, claims=3)
    msg = _digest(sqlite_engine, day=weekdays[-1])
    assert msg["Subject"] == "77386 audit 2025-06-13: ALERT only 3 claims (usually 20) - 0 new, 0 resolved, 0 open"
    assert "only 3 claims received, usually about 20 (median of the last 9 delivery days)" in _decoded(msg)
    # The threshold is a setting: at 10 % of usual, 3 of 20 is not an alert.
    assert "ALERT" not in _digest(sqlite_engine, day=weekdays[-1],
                                  options=replace(LINKED, low_volume_ratio=0.1))["Subject"]


def test_all_clear_only_when_nothing_is_open(sqlite_engine):
    two_days(sqlite_engine)
    empty_day(sqlite_engine, date(2025, 6, 4), files=1, claims=2)  # no new findings, but three still open
    msg = _digest(sqlite_engine, day=date(2025, 6, 4))
    assert msg["Subject"] == "77386 audit 2025-06-04: 0 new, 0 resolved, 3 open (2 errors)"
    assert "All clear" not in _decoded(msg)


def test_rejected_only_day_is_not_all_clear_and_still_sends(sqlite_engine):
    from claimaudit.store.history import load_results
    from support.parse_results import build_parse_result

    bad = build_parse_result("junk.bin", [], rejections=[{"reason": "not an X12 file: no ISA segment"}])
    load_results(sqlite_engine, [bad], D2)
    replace_day(sqlite_engine, audit_date=D2, run_id="r", ruleset_version="v", findings=[],
                stats={"files": 1, "rejections": 1}, started_at=run_time(D2))
    msg = _digest(sqlite_engine, send_all_clear=False)
    # One file arrived and none of it could be read: the feed alert says so first.
    assert msg["Subject"] == "77386 audit 2025-06-03: ALERT no claim readable - 0 new, 0 resolved, 0 open, " \
                             "1 file rejected"
    assert "junk.bin" in msg.get_body(("html",)).get_content()
    # With readable claims beside it, the day is "work": nothing open, a file to fix.
    empty_day(sqlite_engine, date(2025, 6, 4), files=1, claims=3)
    bad2 = build_parse_result("junk2.bin", [], rejections=[{"reason": "not an X12 file: no ISA segment"}])
    load_results(sqlite_engine, [bad2], date(2025, 6, 4))
    msg = _digest(sqlite_engine, day=date(2025, 6, 4), send_all_clear=False)
    assert msg["Subject"] == "77386 audit 2025-06-04: 0 new, 0 resolved, 0 open, 1 file rejected"
    assert msg.get_body(("plain",)).get_content().splitlines()[3].startswith("Nothing open, but 1 file rejected")


def test_file_derived_values_are_escaped(sqlite_engine):
    two_days(sqlite_engine)
    html = _digest(sqlite_engine).get_body(("html",)).get_content()
    assert XSS not in html and "<script" not in html.lower()
    assert "Claim &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;.837" in html and "<img src=x" not in html
    assert 'href="https://airflow.example.org/dags/claims_audit_nightly/runs/scheduled__2025-06-04?tab=graph' \
           '&amp;x=&lt;1&gt;"' in html


def test_links_to_run_findings_catalogue_and_data_docs(sqlite_engine):
    two_days(sqlite_engine)
    html = _digest(sqlite_engine).get_body(("html",)).get_content()
    fid = open_worklist(sqlite_engine, D2)[0].finding_id
    assert f'href="https://airflow.example.org/claims-audit/findings/{fid}"' in html
    assert 'href="https://wiki.example.org/claims-audit/rule-catalogue"' in html
    assert 'href="https://audit.example.org/data-docs/2025-06-03/index.html"' in html
    # No Airflow base URL: no finding links (the view lives under it); a local Data Docs path is shown.
    bare = DigestOptions(data_docs_path="/srv/audit/var/data_docs/2025-06-03/index.html")
    html = _digest(sqlite_engine, options=bare, airflow_run_url="").get_body(("html",)).get_content()
    assert "claims-audit/findings" not in html and "Airflow" not in html
    assert "<code>/srv/audit/var/data_docs/2025-06-03/index.html</code>" in html


def test_worklist_groups_by_claim_newest_first_with_age_payer_charge(sqlite_engine):
    two_days(sqlite_engine)
    d = collect(sqlite_engine, D2, options=LINKED, catalogue=CATALOGUE)
    assert [(g.claim_id, g.payer_class, g.charge, g.days_open) for g in d.groups] == [
        ("C4", "MC", 100.0, 0), ("C2", "MB", 100.0, 1), (XSS, "CI", 100.0, 1)]
    assert d.open == 3 and d.new == 1 and d.resolved == 1 and d.status == "work"
    text = _digest(sqlite_engine).get_body(("plain",)).get_content()
    assert "* Claim C4  MC  $100.00  DOS 2025-06-03  new" in text
    assert "Fix: One session per line" in text


def test_csv_is_the_full_open_worklist_with_stable_columns(sqlite_engine):
    two_days(sqlite_engine)
    (att,) = list(_digest(sqlite_engine).iter_attachments())
    assert att.get_filename() == "77386-audit-2025-06-03-open-worklist.csv"
    text = att.get_content()
    assert text.splitlines()[0] == ",".join(CSV_COLUMNS) == (
        "finding_id,status,first_seen,days_open,claim_id,line,date_of_service,code,modifiers,payer_class,charge,"
        "rule_id,title,severity,message,fix")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["claim_id"], r["line"], r["rule_id"], r["first_seen"], r["days_open"], r["payer_class"], r["charge"])
            for r in rows] == [
        ("C4", "1", "R77386-MOD-TC", "2025-06-03", "0", "MC", "100.00"),
        ("C2", "1", "R77386-UNITS-PER-LINE", "2025-06-02", "1", "MB", "100.00"),
        (XSS, "", "DQ-DX-FORMAT", "2025-06-02", "1", "CI", "100.00")]
    assert rows[1]["fix"].startswith("One session per line") and rows[1]["title"].startswith("More than one unit")


def test_all_clear_day_attaches_the_empty_worklist(sqlite_engine):
    empty_day(sqlite_engine, date(2025, 6, 8))
    msg = _digest(sqlite_engine, day=date(2025, 6, 8))
    (att,) = list(msg.iter_attachments())
    assert att.get_content().splitlines() == [",".join(CSV_COLUMNS)]
    assert "All clear" in _decoded(msg)


def test_csv_cells_cannot_become_spreadsheet_formulas():
    from claimaudit.report.csv_export import worklist_csv
    from claimaudit.report.worklist import WorkItem

    item = WorkItem("f", "k", '=HYPERLINK("http://evil")', 1, "R", "error", "-2+3", D1, "@SUM(A1)", "", "CI",
                    -5.0, -5.0, D1, D1, 0)
    row = next(csv.reader(io.StringIO(worklist_csv([item], {"R": {"title": "+cmd", "fix": "|x"}}).splitlines()[1])))
    assert row[4] == "'=HYPERLINK(\"http://evil\")" and row[7] == "'@SUM(A1)" and row[14] == "'-2+3"
    assert row[12] == "'+cmd" and row[15] == "'|x" and row[10] == "-5.00"  # our own numbers stay numbers


def test_headers_message_id_date_and_day_in_subject(sqlite_engine):
    two_days(sqlite_engine)
    msg = _digest(sqlite_engine)
    with sqlite_engine.connect() as conn:
        finished = conn.scalar(sa.select(t.audit_run.c.finished_at).where(t.audit_run.c.audit_date == D2))
    assert msg["Date"].datetime.replace(tzinfo=None) == finished.replace(microsecond=0, tzinfo=None)
    assert re.fullmatch(r"<77386-audit\.2025-06-03\.[0-9a-f]{20}@example\.org>", msg["Message-ID"])
    assert _digest(sqlite_engine)["Message-ID"] == msg["Message-ID"]  # a resend is the same message
    assert "2025-06-03" in msg["Subject"]


def test_no_patient_identifiers_in_the_email(sqlite_engine):
    """The store keeps only a one-way patient_key; not even that reaches the email."""
    two_days(sqlite_engine)
    msg = _digest(sqlite_engine)
    with sqlite_engine.connect() as conn:
        keys = set(conn.execute(sa.select(t.claim.c.patient_key)).scalars())
    decoded = _decoded(msg)
    assert keys and not any(k in decoded for k in keys) and "patient_key" not in decoded


def test_size_under_100_kb_with_200_open_findings(sqlite_engine):
    last = date(2025, 6, 30)
    busy_month(sqlite_engine, last, open_target=215)
    catalogue = rule_catalogue(EXPECTATIONS_DIR)  # the real rule texts: realistic lengths
    msg = build_digest(sqlite_engine, last, email_from="claims-audit@example.org", email_to=["b@example.org"],
                       airflow_run_url=RUN_URL, rule_catalogue=catalogue, options=LINKED)
    d = collect(sqlite_engine, last, options=LINKED, catalogue=catalogue)
    assert d.open >= 200
    size = len(msg.as_bytes(policy=policy.SMTP))
    html = msg.get_body(("html",)).get_content()
    assert size < 100 * 1024, f"{size} bytes"
    assert len(html.encode()) < 60 * 1024  # Gmail clips HTML past ~102 KB: far from it
    (att,) = list(msg.iter_attachments())
    # With revision 2's rule texts (a fix per claim, Medicare alternatives) 207 rows are past the
    # plain-CSV budget: the worklist goes zipped, whole, and the email stays under 100 KB.
    assert att.get_content_type() == "application/zip"
    with zipfile.ZipFile(io.BytesIO(att.get_content())) as z:
        (name,) = z.namelist()
        text = z.read(name).decode("utf-8")
    assert name.endswith(".csv") and len(text.splitlines()) == d.open + 1  # the CSV holds every open finding
    rest = len(d.groups) - LINKED.max_claims
    assert f"&#8230; and {rest} more claims" in html
    out = Path(os.environ.get("AUDIT_SCREENSHOT_DIR", Path(__file__).resolve().parents[1] / "var" / "screenshots"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "digest-200-open.eml").write_bytes(msg.as_bytes(policy=policy.SMTP))
    print(f"\n200+ open findings ({d.open}): email {size} bytes, HTML {len(html.encode())} bytes")


def test_never_audited_day_is_an_error_not_all_clear(sqlite_engine):
    with pytest.raises(PipelineStateError, match="no audit run recorded"):
        _digest(sqlite_engine, day=D1)


def test_backlog_series_matches_the_worklist(sqlite_engine):
    busy_month(sqlite_engine, date(2025, 6, 30), open_target=60)
    d = collect(sqlite_engine, date(2025, 6, 30), options=LINKED)
    assert len(d.series) == 30 and d.series[-1].day == date(2025, 6, 30)
    assert d.series[-1].open == d.open
    # Every finding was new on some day of the month, and Monday replacement claims closed some.
    assert sum(p.new for p in d.series) > d.open
    assert all(b.open - a.open <= b.new for a, b in zip(d.series, d.series[1:]))


def _decode_png(data: bytes):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0] == zlib.crc32(tag + body)
        chunks[tag] = chunks.get(tag, b"") + body
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = width * 3 + 1
    return width, height, lambda x, y: tuple(raw[y * stride + 1 + x * 3:y * stride + 4 + x * 3])


def test_trend_chart_draws_backlog_new_and_date_axis():
    series = [BacklogPoint(date(2025, 6, 1) + timedelta(days=n), open=n, new=2 if n == 10 else 0, audited=n != 3,
                           files=1, claims=1) for n in range(30)]
    width, height, px = _decode_png(chart.trend_png(series))
    assert (width, height) == (chart.WIDTH, chart.HEIGHT)
    bottom = chart.HEIGHT - chart.BOTTOM
    top = chart.nice_top(29)
    assert top == 40

    def mid(i):
        x0, x1 = chart.slot_bounds(i, 30)
        return (x0 + x1) // 2

    assert px(mid(20), bottom - 2) == chart.BACKLOG_FILL_RGB  # 20 open: area under the line
    assert px(mid(20), bottom - round(20 * (bottom - chart.TOP) / top)) == chart.BACKLOG_RGB  # the line at 20
    assert px(mid(10), bottom - 2) == chart.NEW_RGB  # the 2 new findings of day 10
    assert px(mid(3), bottom + 6) == chart.UNAUDITED_RGB  # no audit run on day 3
    # Date labels: glyph pixels under the axis below the last day's slot (06-30).
    label_rows = range(bottom + 22, bottom + 22 + 5 * chart.LABEL_SCALE)
    assert any(px(x, y) == chart.AXIS_RGB for x in range(chart.slot_bounds(29, 30)[0] - 40, chart.WIDTH)
               for y in label_rows)


def test_write_eml_roundtrip(sqlite_engine, tmp_path):
    two_days(sqlite_engine)
    msg = _digest(sqlite_engine)
    path = write_eml(msg, tmp_path / "outbox", D2)
    assert path.name == "77386-audit-2025-06-03.eml"
    again = message_from_bytes(path.read_bytes(), policy=policy.default)
    # A subject over 78 characters is folded onto a continuation line; unfolded it is the same.
    assert again["Subject"].strip() == msg["Subject"] and again["Message-ID"] == msg["Message-ID"]
    assert b"\r\n" in path.read_bytes()
    assert write_eml(msg, tmp_path / "outbox", D2) == path and len(list((tmp_path / "outbox").iterdir())) == 1
    assert re.search(rb"Content-ID: <trend-2025-06-03@claimaudit.local>", path.read_bytes())
