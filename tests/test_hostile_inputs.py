"""Issue 16: hostile inputs never stop a day, leak or get lost.

Each test ran against the code before the fix and failed there (see the issue's items); the
database tests run on SQLite and on PostgreSQL (``db_url``)."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from claimaudit import pipeline
from claimaudit.settings import Settings
from claimaudit.store import schema as t
from hostile import DAY, extract, imrt_claim, out_of_spec_files, write_day


def settings_for(tmp_path: Path, db_url: str, **kw) -> Settings:
    return dataclasses.replace(Settings.from_env({}), inbox=tmp_path / "inbox", var_dir=tmp_path / "var",
                               db_url=db_url, **kw)


def day_state(db_url: str, day: date = DAY) -> dict:
    """What the store holds for a day, in a form that compares across databases."""
    from claimaudit.store.db import engine_for

    engine = engine_for(db_url)
    with engine.connect() as conn:
        claims = sorted(conn.execute(sa.select(t.claim.c.claim_id, t.claim.c.source_file, t.claim.c.received_date)
                                     .where(t.claim.c.received_date == day)).all())
        rejections = sorted(conn.execute(
            sa.select(t.rejection.c.source_file, t.rejection.c.unit, t.rejection.c.segment_id,
                      t.rejection.c.reason).where(t.rejection.c.audit_date == day)).all())
        run = conn.execute(sa.select(t.audit_run.c.files, t.audit_run.c.claims, t.audit_run.c.lines,
                                     t.audit_run.c.rejections, t.audit_run.c.findings, t.audit_run.c.status)
                           .where(t.audit_run.c.audit_date == day)).first()
        findings = sorted(conn.execute(sa.select(t.audit_finding.c.rule_id, t.audit_finding.c.claim_id,
                                                 t.audit_finding.c.line_number)
                                       .where(t.audit_finding.c.audit_date == day)).all())
    engine.dispose()
    return {"claims": [tuple(r) for r in claims], "rejections": [tuple(r) for r in rejections],
            "run": tuple(run) if run else None, "findings": [tuple(f) for f in findings]}


# ---------------------------------------------------------------- 1. values that do not fit

def test_out_of_spec_values_reject_their_claim_not_the_day(tmp_path, db_url):
    """A 45-character CLM01, a 10-digit GS06, a 12-digit NPI, a six-letter junk segment id, a long
    procedure code, diagnosis and payer id, a huge LX01 and a NUL byte: PostgreSQL refused the
    whole day (StringDataRightTruncation). Now each rejects its claim or transaction set with a
    reason naming the file, the segment and the problem; every sound claim is audited."""
    s = settings_for(tmp_path, db_url)
    write_day(s.inbox, out_of_spec_files())
    pipeline.audit_day(DAY, s)
    state = day_state(db_url)
    loaded = {c[0] for c in state["claims"]}
    assert {"CLEAN-1", "CLEAN-2", "OK-CLM01", "OK-NPI", "OK-JUNK", "OK-CODES", "OK-PAYER", "OK-LX",
            "OK-NUL", "LONG-MODS"} <= loaded
    assert not loaded & {"X" * 45, "LONG-NPI", "JUNK-SEG", "OK-GS06", "LONG-PROC", "LONG-DX", "LONG-PAYER",
                         "HUGE-LX", "NUL\x00CLM"}
    by_file = {}
    for source_file, unit, segment_id, reason in state["rejections"]:
        by_file.setdefault(source_file, []).append((unit, segment_id, reason))
    assert set(by_file) == {"01_long_clm01.x12", "02_long_gs06.x12", "03_long_npi.x12", "04_junk_segment.x12",
                            "05_long_codes.x12", "06_long_payer.x12", "07_huge_lx.x12", "08_nul_byte.x12"}
    assert by_file["01_long_clm01.x12"] == [("claim", "CLM", "claim 'XXXXXXXXXXXXXXXXXXXX…' rejected: CLM01 claim "
                                             "id '" + "X" * 40 + "…' is 45 characters long, at most 38 are "
                                             "allowed")]
    (unit, seg, reason), = by_file["02_long_gs06.x12"]
    assert (unit, seg) == ("transaction", "GS") and "GS06" in reason and "1234567890" in reason
    (unit, seg, reason), = by_file["03_long_npi.x12"]
    assert (unit, seg) == ("claim", "NM1") and "billing provider NPI" in reason and "123456789301" in reason
    (unit, seg, reason), = by_file["04_junk_segment.x12"]
    assert (unit, seg) == ("interchange", "ZZZ") and "segment id 'ZZZZZZ'" in reason
    assert sorted(r[2].split(" rejected")[0] for r in by_file["05_long_codes.x12"]) == [
        "claim 'LONG-DX'", "claim 'LONG-PROC'"]
    assert "payer id" in by_file["06_long_payer.x12"][0][2]
    assert "LX01" in by_file["07_huge_lx.x12"][0][2]
    assert "NUL" in by_file["08_nul_byte.x12"][0][2] and "\x00" not in by_file["08_nul_byte.x12"][0][2]
    assert state["run"][-1] == "complete"
    assert state["run"][3] == sum(len(v) for v in by_file.values())


def test_out_of_spec_values_give_the_same_result_on_sqlite_and_postgresql(tmp_path):
    """The hostile fixtures on both databases, compared row for row."""
    from conftest import scratch_pg_database

    states = {}
    lite = f"sqlite:///{tmp_path / 'lite.db'}"
    with scratch_pg_database("claimaudit_hostile") as pg:
        for name, url in (("sqlite", lite), ("postgresql", pg)):
            s = settings_for(tmp_path / name, url)
            write_day(s.inbox, out_of_spec_files())
            pipeline.audit_day(DAY, s)
            states[name] = day_state(url)
    assert states["sqlite"]["claims"] and states["sqlite"]["rejections"]
    strip = {k: v for k, v in states["sqlite"].items()}
    assert states["postgresql"] == strip


def test_a_direct_load_of_an_out_of_spec_result_rejects_the_claim(engine, parse_result):
    """The loader itself checks: a caller that skips the pipeline cannot stop the day either."""
    from claimaudit.store.history import load_results

    r = parse_result("direct.837", [{"claim_id": "Y" * 50, "lines": [("77386", "", DAY)]},
                                    {"claim_id": "FITS", "lines": [("77386", "", DAY)], "patient": "P2"}])
    counts = load_results(engine, [r], DAY)
    assert counts["claims"] == 1 and counts["rejections"] == 1
