"""Local backfill of a range of days (``claimaudit audit``), across a month boundary.

The inbox holds weekly batches, as hospitals bill series of treatments: IMRT courses that start
in June and end in July, so course rules must read June's claims when July is audited.

  ANN  bone metastases (C79.51, ceiling 10 sessions), plan 06-20, 14 sessions 06-23..07-11:
       sessions 11-14 (07-08..07-11, received 07-11) are R77386-FX-OUTLIER
  BEA  prostate, no IMRT plan, 5 sessions 06-26..07-02: the first (06-26, received 06-27) is
       R77386-PLAN-PRECEDES
  CAT  prostate (ceiling 45), plan 06-20, 14 sessions: clean

Checks: exactly those findings on exactly those days; a second backfill skips every day and a
reprocessed one leaves every table identical; a backfill killed part-way resumes with the days
that were not finished and ends in the same state; a changed reference threshold makes every
day count as not done, and the re-audit reports what is new and what is resolved.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import redirect_stdout
from datetime import date, datetime, time as dtime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from claimaudit.samples.x12_writer import Claim, Interchange, Line, Patient, render_837

ROOT = Path(__file__).resolve().parents[1]
START, END = date(2025, 6, 20), date(2025, 7, 15)
DAYS = [START + timedelta(days=i) for i in range((END - START).days + 1)]
HOLIDAY = date(2025, 7, 4)  # no treatment on Independence Day

ANN = Patient("BF0001", "ALPHA", "ANN", date(1950, 1, 2))
BEA = Patient("BF0002", "BRAVO", "BEA", date(1955, 3, 4))
CAT = Patient("BF0003", "CHARLIE", "CAT", date(1948, 5, 6))

# Columns that record when or by which run a row was written: they differ between two runs by
# design. Everything else must be identical.
VOLATILE = {"audit_run": {"run_id", "started_at", "finished_at", "duration_s", "email_sent_at"},
            "audit_finding": {"run_id"}}
TABLES = ("audit_finding", "audit_run", "claim", "service_line", "diagnosis", "rejection", "interchange")


def sessions(first: date, last: date) -> list[date]:
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [d for d in days if d.weekday() < 5 and d != HOLIDAY]


def weekly_batches(dates: list[date]) -> dict[date, list[date]]:
    """Sessions billed once a week: inbox day (the week's last session) -> the week's sessions."""
    weeks: dict[tuple, list[date]] = {}
    for d in dates:
        weeks.setdefault(d.isocalendar()[:2], []).append(d)
    return {w[-1]: w for w in weeks.values()}


def build_inbox(inbox: Path) -> dict[str, list[date]]:
    """Write the fixture inbox; return each patient's session dates."""
    plan_day = date(2025, 6, 20)
    course = {"ANN": sessions(date(2025, 6, 23), date(2025, 7, 11)),
              "BEA": sessions(date(2025, 6, 26), date(2025, 7, 2)),
              "CAT": sessions(date(2025, 6, 23), date(2025, 7, 11))}
    dx = {"ANN": ("Z510", "C7951"), "BEA": ("Z510", "C61"), "CAT": ("Z510", "C61")}
    who = {"ANN": ANN, "BEA": BEA, "CAT": CAT}
    by_day: dict[date, list[Claim]] = {}
    for name in ("ANN", "CAT"):
        by_day.setdefault(plan_day, []).append(
            Claim(f"{name}-PLAN", who[name], [Line("77301", plan_day, charge=2500.0, dx_pointers=(1, 2))],
                  diagnoses=dx[name]))
    for name, dates in course.items():
        for received, week in weekly_batches(dates).items():
            lines = [Line("77386", d, charge=900.0, dx_pointers=(1, 2)) for d in week]
            by_day.setdefault(received, []).append(Claim(f"{name}-{received:%m%d}", who[name], lines,
                                                         diagnoses=dx[name]))
    for n, (day, claims) in enumerate(sorted(by_day.items()), start=1):
        folder = inbox / day.isoformat()
        folder.mkdir(parents=True)
        ic = Interchange("P", claims, control=700 + n, created=datetime.combine(day, dtime(21, 30)))
        (folder / f"RADONC_837P_{day:%Y%m%d}.x12").write_bytes(render_837(ic))
    return course


def expected_findings(course: dict[str, list[date]], bone_ceiling: int = 10, prostate_ceiling: int = 45) -> set:
    """(audit_date, rule_id, claim_id, line_number) the audit must write, derived from the inbox."""
    out = set()
    for name, ceiling in (("ANN", bone_ceiling), ("CAT", prostate_ceiling), ("BEA", prostate_ceiling)):
        for received, week in weekly_batches(course[name]).items():
            for n, d in enumerate(week, start=1):
                if course[name].index(d) + 1 > ceiling:
                    out.add((received, "R77386-FX-OUTLIER", f"{name}-{received:%m%d}", n))
    first_bea = weekly_batches(course["BEA"])
    received = min(first_bea)
    out.add((received, "R77386-PLAN-PRECEDES", f"BEA-{received:%m%d}", 1))
    return out


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A fixture inbox, var dir and report DB; returns (settings, course dates)."""
    inbox = tmp_path / "inbox"
    course = build_inbox(inbox)
    monkeypatch.setenv("AUDIT_INBOX", str(inbox))
    monkeypatch.setenv("AUDIT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("AUDIT_DB_URL", f"sqlite:///{tmp_path / 'report.db'}")
    monkeypatch.delenv("AUDIT_EXPECTATIONS_DIR", raising=False)
    return tmp_path, course


def cli(*args: str) -> str:
    """Run ``claimaudit`` in this process; return what it printed."""
    from claimaudit.cli import main

    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(list(args)) == 0
    return buf.getvalue()


def backfill(*extra: str) -> str:
    return cli("audit", "--from", START.isoformat(), "--to", END.isoformat(), *extra)


def engine():
    from claimaudit.store.db import engine_for

    return engine_for(os.environ["AUDIT_DB_URL"])


def findings_now() -> set:
    from claimaudit.store.schema import audit_finding as f

    with engine().connect() as conn:
        rows = conn.execute(select(f.c.audit_date, f.c.rule_id, f.c.claim_id, f.c.line_number)).all()
    return {tuple(r) for r in rows}


def dump(url: str | None = None) -> dict[str, list[tuple]]:
    """Every row of the report tables, without the per-run columns, in a stable order."""
    from claimaudit.store import schema
    from claimaudit.store.db import engine_for

    eng = engine_for(url or os.environ["AUDIT_DB_URL"])
    out = {}
    with eng.connect() as conn:
        for name in TABLES:
            table = getattr(schema, name)
            cols = [c for c in table.c if c.name not in VOLATILE.get(name, set())]
            rows = conn.execute(select(*cols)).all()
            out[name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def audited_days(output: str) -> list[date]:
    """The days a range run printed progress for, in order."""
    return [date.fromisoformat(d) for d in re.findall(r"\] day \d+ of \d+  (\d{4}-\d\d-\d\d)", output)]


def runs():
    from claimaudit.store.schema import audit_run

    with engine().connect() as conn:
        return conn.execute(select(audit_run).order_by(audit_run.c.audit_date)).all()


# ------------------------------------------------------------------------------------------ tests

def test_backfill_across_month_boundary_gives_exactly_the_expected_findings(env):
    from claimaudit.rules.suites import ruleset_version
    from claimaudit.settings import Settings

    _, course = env
    out = backfill()
    assert audited_days(out) == DAYS  # every day, oldest first
    assert len(course["ANN"]) == 14 and course["ANN"][10:] == [date(2025, 7, d) for d in (8, 9, 10, 11)]
    want = expected_findings(course)
    assert want == {
        (date(2025, 6, 27), "R77386-PLAN-PRECEDES", "BEA-0627", 1),
        *((date(2025, 7, 11), "R77386-FX-OUTLIER", "ANN-0711", n) for n in (2, 3, 4, 5)),
    }
    assert findings_now() == want
    version = ruleset_version(Settings.from_env().expectations_dir)
    assert [(r.audit_date, r.status, r.ruleset_version) for r in runs()] == [(d, "complete", version) for d in DAYS]
    # Days ran in date order: each started after the previous one finished.
    rows = runs()
    assert all(a.finished_at <= b.started_at for a, b in zip(rows, rows[1:]))
    by_day = {r.audit_date: r for r in rows}
    assert by_day[date(2025, 7, 11)].warnings == 4 and by_day[date(2025, 6, 27)].warnings == 1
    assert by_day[date(2025, 7, 11)].claims == 2 and by_day[date(2025, 7, 12)].files == 0
    assert "first audit" in out and "Changes versus" not in out  # nothing re-audited, nothing to compare


def test_backfill_twice_skips_done_days_and_a_reprocess_leaves_identical_tables(env):
    backfill()
    first = dump()
    assert sum(len(v) for v in first.values()) > 60

    again = backfill()
    assert audited_days(again) == []
    assert f"skipping {len(DAYS)} day(s) already audited with the current ruleset" in again
    assert dump() == first

    redo = backfill("--reprocess")
    assert audited_days(redo) == DAYS
    assert dump() == first
    assert f"Changes versus the previous results of {len(DAYS)} re-audited day(s) (same ruleset)" in redo
    assert "new findings           0" in redo and "resolved findings      0" in redo


def test_interrupted_backfill_resumes_with_the_remaining_days(env, tmp_path, monkeypatch):
    # The reference: the same inbox audited without interruption into another DB.
    monkeypatch.setenv("AUDIT_DB_URL", f"sqlite:///{tmp_path / 'reference.db'}")
    backfill()
    reference = dump()
    monkeypatch.setenv("AUDIT_DB_URL", f"sqlite:///{tmp_path / 'report.db'}")

    # A real process, killed (SIGKILL, as a crash or an OOM kill would) once the first week is done.
    proc = subprocess.Popen([sys.executable, "-m", "claimaudit.cli", "audit", "--from", START.isoformat(),
                             "--to", END.isoformat()], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=dict(os.environ), start_new_session=True)
    seen = []
    try:
        deadline = time.monotonic() + 120
        for line in proc.stdout:
            seen.append(line)
            if " 2025-06-28 " in line and "] day " in line:  # after the 06-27 batch was written
                os.killpg(proc.pid, signal.SIGKILL)
                break
            assert time.monotonic() < deadline, "the backfill did not reach 2025-06-28 in time"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)

    done = [r.audit_date for r in runs()]
    assert done[:9] == DAYS[:9] and done == DAYS[:len(done)] and len(done) < len(DAYS)
    resumed = backfill()
    assert f"skipping {len(done)} day(s)" in resumed
    assert audited_days(resumed) == DAYS[len(done):]
    assert dump() == reference


def test_ruleset_change_reaudits_every_day_and_reports_new_and_resolved(env, tmp_path, monkeypatch):
    from claimaudit.changes import changes_csv_path
    from claimaudit.rules.suites import ruleset_version
    from claimaudit.settings import Settings

    work, course = env
    backfill()
    old_version = ruleset_version(Settings.from_env().expectations_dir)

    # A compliance analyst raises the bone-metastases ceiling to 12 and lowers prostate to 8.
    rules = tmp_path / "expectations"
    shutil.copytree(ROOT / "expectations", rules)
    path = rules / "reference" / "fraction_ceilings.json"
    doc = json.loads(path.read_text())
    ceilings = {e["site"]: e for e in doc["entries"]}
    ceilings["bone metastases"]["ceiling"] = 12
    ceilings["prostate"]["ceiling"] = 8
    path.write_text(json.dumps(doc, indent=1))
    monkeypatch.setenv("AUDIT_EXPECTATIONS_DIR", str(rules))
    new_version = ruleset_version(rules)
    assert new_version != old_version

    out = backfill()  # no --reprocess: the days count as not done because the ruleset changed
    assert "skipping" not in out and audited_days(out) == DAYS
    assert {r.ruleset_version for r in runs()} == {new_version}
    want = expected_findings(course, bone_ceiling=12, prostate_ceiling=8)
    assert findings_now() == want

    # What changed, day by day: CAT's sessions 9..14 are new (9 on 07-03, 10..14 on 07-11), ANN's
    # sessions 11 and 12 are resolved (both on 07-11); BEA has only 5 sessions.
    old = expected_findings(course)
    assert want - old == {(date(2025, 7, 3), "R77386-FX-OUTLIER", "CAT-0703", 4),
                          *((date(2025, 7, 11), "R77386-FX-OUTLIER", "CAT-0711", n) for n in range(1, 6))}
    assert old - want == {(date(2025, 7, 11), "R77386-FX-OUTLIER", "ANN-0711", n) for n in (2, 3)}
    arrow = f"ruleset {old_version}->{new_version}"
    assert re.search(rf"2025-07-03 .*{arrow}: \+1 new, -0 resolved", out)
    assert re.search(rf"2025-07-11 .*{arrow}: \+5 new, -2 resolved", out)
    assert re.search(rf"2025-06-27 .*{arrow}: unchanged", out)
    assert f"Changes versus the previous results of {len(DAYS)} re-audited day(s) (ruleset {arrow})" in out
    assert "new findings           6" in out and "resolved findings      2" in out
    assert "R77386-FX-OUTLIER                 +6     -2" in out
    assert "2025-07-11  resolved R77386-FX-OUTLIER                 claim ANN-0711 line 2" in out

    # The CSV log holds each change with both ruleset versions; patient data never appears.
    log = changes_csv_path(work / "var")
    text = log.read_text()
    rows = [line.split(",") for line in text.splitlines()[1:]]
    assert sorted((r[1], r[2], r[5], r[6]) for r in rows) == sorted(
        [("2025-07-03", "new", "CAT-0703", "4")] + [("2025-07-11", "new", "CAT-0711", str(n)) for n in range(1, 6)]
        + [("2025-07-11", "resolved", "ANN-0711", n) for n in ("2", "3")])
    assert all(r[8] == old_version and r[9] == new_version for r in rows)
    for secret in ("ALPHA", "CHARLIE", "BF0001", "BF0003", "1950"):
        assert secret not in text and secret not in out


def test_change_report_compares_snapshots_of_a_day(env):
    """The comparison itself, on stored data: a day re-audited with its findings replaced."""
    from claimaudit.changes import compare, snapshot_day
    from claimaudit.store.db import ensure_schema

    ensure_schema(engine())
    day = date(2025, 7, 11)
    never = snapshot_day(engine(), day)
    assert never.ruleset_version is None and never.findings == {}
    cli("audit", "--from", "2025-06-20", "--to", "2025-07-11")
    before = snapshot_day(engine(), day)
    assert len(before.findings) == 4
    first = compare(never, before)
    assert first.first_audit and first.new == () and first.describe() == "first audit"
    same = compare(before, snapshot_day(engine(), day))
    assert same.describe() == "same ruleset: unchanged"
    with pytest.raises(ValueError):
        compare(before, snapshot_day(engine(), date(2025, 7, 10)))
