"""Local backfill of a range of days (``claimaudit audit``), across a month boundary.

The inbox holds three weekly batches (06-27, 07-03, 07-11), as hospitals bill series of
treatments; the IMRT plans dated 06-20 come with the first. The courses start in June and end in
July, so course rules must read June's claims when July is audited. Days 06-20..07-15 are audited.

  ANN  bone metastases (C79.51, ceiling 10 sessions), a plan, 14 sessions 06-23..07-11:
       sessions 11-14 (07-08..07-11, received 07-11) are R77386-FX-OUTLIER
  BEA  prostate, no IMRT plan, 5 sessions 06-26..07-02: the first (06-26, received 06-27) is
       R77386-PLAN-PRECEDES
  CAT  prostate (ceiling 45), a plan, 14 sessions 06-23..07-11: clean

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
import threading
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

# Columns that record which run wrote a row and when: they differ between two runs by design.
# Everything else must be identical after a rerun of the same days.
PER_RUN = {"audit_run": {"run_id", "started_at", "finished_at", "duration_s", "email_sent_at", "delivered_at",
                         "delivered_to"},  # a path under the var dir the run used
           "audit_finding": {"run_id"}}
# Comparing two databases that audited the same inbox: times of first sight differ too.
ACROSS_DATABASES = {"audit_finding": {"first_seen_at", "resolved_at"}, "ingested_file": {"loaded_at"}}
TABLES = ("audit_finding", "audit_run", "claim", "service_line", "diagnosis", "rejection", "interchange",
          "ingested_file")


def sessions(first: date, last: date) -> list[date]:
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    return [d for d in days if d.weekday() < 5 and d != HOLIDAY]


def billing_weeks(courses: dict[str, list[date]]) -> dict[date, list[date]]:
    """Sessions are billed once a week: inbox day (the week's last session of any patient) ->
    that week's session days."""
    weeks: dict[tuple, set[date]] = {}
    for dates in courses.values():
        for d in dates:
            weeks.setdefault(d.isocalendar()[:2], set()).add(d)
    return {max(days): sorted(days) for days in weeks.values()}


def batches(dates: list[date], weeks: dict[date, list[date]]) -> dict[date, list[date]]:
    """One patient's sessions by the inbox day that bills them."""
    out = {}
    for received, week in weeks.items():
        mine = [d for d in dates if d in week]
        if mine:
            out[received] = mine
    return dict(sorted(out.items()))


def courses() -> dict[str, list[date]]:
    return {"ANN": sessions(date(2025, 6, 23), date(2025, 7, 11)),
            "BEA": sessions(date(2025, 6, 26), date(2025, 7, 2)),
            "CAT": sessions(date(2025, 6, 23), date(2025, 7, 11))}


def build_inbox(inbox: Path) -> None:
    """Three weekly batches (06-27, 07-03, 07-11); the plans of 06-20 come with the first."""
    course = courses()
    weeks = billing_weeks(course)
    first_batch = min(weeks)
    dx = {"ANN": ("Z510", "C7951"), "BEA": ("Z510", "C61"), "CAT": ("Z510", "C61")}
    who = {"ANN": ANN, "BEA": BEA, "CAT": CAT}
    by_day: dict[date, list[Claim]] = {}
    for name in ("ANN", "CAT"):
        by_day.setdefault(first_batch, []).append(
            Claim(f"{name}-PLAN", who[name], [Line("77301", date(2025, 6, 20), charge=2500.0, dx_pointers=(1, 2))],
                  diagnoses=dx[name]))
    for name, dates in course.items():
        for received, billed in batches(dates, weeks).items():
            lines = [Line("77386", d, charge=900.0, dx_pointers=(1, 2)) for d in billed]
            by_day.setdefault(received, []).append(Claim(f"{name}-{received:%m%d}", who[name], lines,
                                                         diagnoses=dx[name]))
    for n, (day, claims) in enumerate(sorted(by_day.items()), start=1):
        folder = inbox / day.isoformat()
        folder.mkdir(parents=True)
        ic = Interchange("P", claims, control=700 + n, created=datetime.combine(day, dtime(21, 30)))
        (folder / f"RADONC_837P_{day:%Y%m%d}.x12").write_bytes(render_837(ic))


def expected_findings(bone_ceiling: int = 10, prostate_ceiling: int = 45) -> set:
    """(audit_date, rule_id, claim_id, line_number) the audit must write, derived from the courses."""
    course = courses()
    weeks = billing_weeks(course)
    out = set()
    for name, ceiling in (("ANN", bone_ceiling), ("CAT", prostate_ceiling), ("BEA", prostate_ceiling)):
        for received, billed in batches(course[name], weeks).items():
            for n, d in enumerate(billed, start=1):
                if course[name].index(d) + 1 > ceiling:
                    out.add((received, "R77386-FX-OUTLIER", f"{name}-{received:%m%d}", n))
    received = min(batches(course["BEA"], weeks))
    out.add((received, "R77386-PLAN-PRECEDES", f"BEA-{received:%m%d}", 1))
    return out


def _use(mp: pytest.MonkeyPatch, work: Path, db: str = "report.db") -> None:
    mp.setenv("AUDIT_INBOX", str(work / "inbox"))
    mp.setenv("AUDIT_VAR_DIR", str(work / "var"))
    mp.setenv("AUDIT_DB_URL", f"sqlite:///{work / db}")
    mp.delenv("AUDIT_EXPECTATIONS_DIR", raising=False)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """The fixture range audited once, uninterrupted: (folder, printed output, table dump).
    Tests start from a copy of it, so the slow part (about 4 s per day with claims) runs once."""
    work = tmp_path_factory.mktemp("baseline")
    build_inbox(work / "inbox")
    with pytest.MonkeyPatch.context() as mp:
        _use(mp, work)
        out = backfill()
        return work, out, dump(), runs()


@pytest.fixture
def env(baseline, tmp_path, monkeypatch):
    """A copy of the baseline (inbox, var dir, report DB) as the current environment."""
    work = tmp_path / "work"
    shutil.copytree(baseline[0], work)
    _use(monkeypatch, work)
    return work


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


def dump(*, across_databases: bool = False) -> dict[str, list[tuple]]:
    """Every row of the report tables in a stable order, without the columns that record which
    run wrote a row and when (and, comparing two databases, when a row was first written)."""
    from claimaudit.store import schema

    skip = dict(PER_RUN)
    if across_databases:
        skip = {t: skip.get(t, set()) | ACROSS_DATABASES.get(t, set()) for t in TABLES}
    out = {}
    with engine().connect() as conn:
        for name in TABLES:
            table = getattr(schema, name)
            cols = [c for c in table.c if c.name not in skip.get(name, set())]
            out[name] = sorted((tuple(r) for r in conn.execute(select(*cols))), key=repr)
    return out


def audited_days(output: str) -> list[date]:
    """The days a range run printed progress for, in order."""
    return [date.fromisoformat(d) for d in re.findall(r"\] day \d+ of \d+  (\d{4}-\d\d-\d\d)", output)]


def runs():
    from claimaudit.store.schema import audit_run

    with engine().connect() as conn:
        return conn.execute(select(audit_run).order_by(audit_run.c.audit_date)).all()


# ------------------------------------------------------------------------------------------ tests

def test_backfill_across_month_boundary_gives_exactly_the_expected_findings(baseline, env):
    from claimaudit.rules.suites import ruleset_version
    from claimaudit.settings import Settings

    _, out, _, rows = baseline
    assert audited_days(out) == DAYS  # every day, oldest first
    assert sorted(p.name for p in (env / "inbox").iterdir()) == ["2025-06-27", "2025-07-03", "2025-07-11"]
    want = expected_findings()
    assert want == {
        (date(2025, 6, 27), "R77386-PLAN-PRECEDES", "BEA-0627", 1),
        # ANN's sessions 11..14 (07-08..07-11) are lines 2..5 of the claim of 07-11; 1..10 span June and July.
        *((date(2025, 7, 11), "R77386-FX-OUTLIER", "ANN-0711", n) for n in (2, 3, 4, 5)),
    }
    assert findings_now() == want
    version = ruleset_version(Settings.from_env().expectations_dir)
    assert [(r.audit_date, r.status, r.ruleset_version) for r in rows] == [(d, "complete", version) for d in DAYS]
    assert all(a.finished_at <= b.started_at for a, b in zip(rows, rows[1:]))  # one after the other, in order
    by_day = {r.audit_date: r for r in rows}
    assert (by_day[date(2025, 6, 27)].claims, by_day[date(2025, 6, 27)].warnings) == (5, 1)
    assert (by_day[date(2025, 7, 3)].claims, by_day[date(2025, 7, 3)].findings) == (3, 0)
    assert (by_day[date(2025, 7, 11)].claims, by_day[date(2025, 7, 11)].warnings) == (2, 4)
    assert by_day[date(2025, 7, 12)].files == 0
    assert "first audit" in out and "Changes versus" not in out  # nothing re-audited, nothing to compare


def test_backfill_twice_skips_done_days_and_a_reprocess_leaves_identical_tables(baseline, env):
    first = dump()
    assert first == baseline[2]
    assert sum(len(v) for v in first.values()) > 60

    again = backfill()
    assert audited_days(again) == []
    assert f"skipping {len(DAYS)} day(s) already audited with the current ruleset" in again
    assert dump() == first

    redo = backfill("--reprocess")
    assert audited_days(redo) == DAYS
    assert dump() == first
    assert f"Changes versus the previous results of {len(DAYS)} re-audited day(s) (same ruleset)" in redo
    assert re.search(r"new findings +0\n +resolved findings +0\n", redo)


def test_interrupted_backfill_resumes_with_the_remaining_days(baseline, env, monkeypatch):
    reference = dump(across_databases=True)
    monkeypatch.setenv("AUDIT_DB_URL", f"sqlite:///{env / 'interrupted.db'}")
    shutil.rmtree(env / "var")

    # A real process, killed with SIGKILL (as a crash or the OOM killer would) after the first batch.
    proc = subprocess.Popen([sys.executable, "-m", "claimaudit.cli", "audit", "--from", START.isoformat(),
                             "--to", END.isoformat()], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=dict(os.environ), start_new_session=True)
    seen = []
    watchdog = threading.Timer(300, lambda: os.killpg(proc.pid, signal.SIGKILL))  # never hang the suite
    watchdog.start()
    try:
        for line in proc.stdout:
            seen.append(line)
            if "] day " in line and " 2025-06-28 " in line:  # printed once 06-28 is written
                os.killpg(proc.pid, signal.SIGKILL)
                break
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)

    done = [r.audit_date for r in runs()]
    assert done[:9] == DAYS[:9] and done == DAYS[:len(done)] and len(done) < len(DAYS)
    resumed = backfill()
    assert f"skipping {len(done)} day(s) already audited" in resumed
    assert audited_days(resumed) == DAYS[len(done):]
    assert dump(across_databases=True) == reference


def test_ruleset_change_reaudits_every_day_and_reports_new_and_resolved(env, tmp_path, monkeypatch):
    from claimaudit.changes import changes_csv_path
    from claimaudit.rules.suites import ruleset_version
    from claimaudit.settings import Settings

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
    want = expected_findings(bone_ceiling=12, prostate_ceiling=8)
    assert findings_now() == want

    # CAT's sessions 9..14 are new (9 on 07-03, 10..14 on 07-11); ANN's 11 and 12 are resolved.
    old = expected_findings()
    assert want - old == {(date(2025, 7, 3), "R77386-FX-OUTLIER", "CAT-0703", 4),
                          *((date(2025, 7, 11), "R77386-FX-OUTLIER", "CAT-0711", n) for n in range(1, 6))}
    assert old - want == {(date(2025, 7, 11), "R77386-FX-OUTLIER", "ANN-0711", n) for n in (2, 3)}
    arrow = f"ruleset {old_version}->{new_version}"
    assert re.search(rf"\] day \d+ of 26  2025-07-03 .*{arrow}: \+1 new, -0 resolved", out)
    assert re.search(rf"\] day \d+ of 26  2025-07-11 .*{arrow}: \+5 new, -2 resolved", out)
    assert re.search(rf"\] day \d+ of 26  2025-06-27 .*{arrow}: unchanged", out)
    assert f"Changes versus the previous results of {len(DAYS)} re-audited day(s) ({arrow})" in out
    assert re.search(r"new findings +6\n +resolved findings +2\n", out)
    assert re.search(r"R77386-FX-OUTLIER +\+6 +-2\n", out)
    assert re.search(r"2025-07-11  resolved +R77386-FX-OUTLIER +claim ANN-0711 line 2\n", out)

    # The CSV log holds each change with both ruleset versions, and no patient data.
    log = changes_csv_path(env / "var")
    text = log.read_text()
    rows = [line.split(",") for line in text.splitlines()[1:]]
    assert sorted((r[1], r[2], r[5], r[6]) for r in rows) == sorted(
        [("2025-07-03", "new", "CAT-0703", "4")] + [("2025-07-11", "new", "CAT-0711", str(n)) for n in range(1, 6)]
        + [("2025-07-11", "resolved", "ANN-0711", n) for n in ("2", "3")])
    assert all(r[8] == old_version and r[9] == new_version for r in rows)
    for secret in ("ALPHA", "CHARLIE", "BF0001", "BF0003", "19500102"):
        assert secret not in text and secret not in out


def test_change_comparison_reads_the_stored_results(env):
    from claimaudit.changes import ChangeLog, DaySnapshot, compare, snapshot_day

    day = date(2025, 7, 11)
    stored = snapshot_day(engine(), day)
    assert stored.ruleset_version == runs()[-5].ruleset_version
    assert sorted((f.rule_id, f.claim_id, f.line_number) for f in stored.findings.values()) == [
        ("R77386-FX-OUTLIER", "ANN-0711", n) for n in (2, 3, 4, 5)]
    outside = snapshot_day(engine(), date(2025, 8, 1))
    assert outside.ruleset_version is None and outside.findings == {}
    never = DaySnapshot(day, None, {})  # what the day looked like before its first audit
    assert compare(never, stored).first_audit and compare(never, stored).new == ()
    assert compare(never, stored).describe() == "first audit"
    assert compare(stored, stored).describe() == "same ruleset: unchanged"
    fewer = DaySnapshot(day, "0ld", {k: v for k, v in stored.findings.items() if v.line_number != 5})
    change = compare(fewer, stored)
    assert [f.line_number for f in change.new] == [5] and change.resolved == ()
    assert change.describe() == f"ruleset 0ld->{stored.ruleset_version}: +1 new, -0 resolved"
    with pytest.raises(ValueError):
        compare(stored, outside)
    # A tracked run that fails leaves no change behind (the day was not replaced).
    log = ChangeLog(engine())
    with pytest.raises(RuntimeError):
        log.track(lambda d: (_ for _ in ()).throw(RuntimeError("disk full")))(day)
    assert log.changes == [] and log.note(day) == ""
