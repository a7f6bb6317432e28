"""Native backfill through a real Airflow: api-server, dag-processor and scheduler on 127.0.0.1
(LocalExecutor, parallelism 2), ``airflow backfill create`` over three days, runs in date order.

Which days a backfill audits: the DAG triggers at 02:00 and each run audits the day its data
interval starts (the day before the trigger). ``--from-date 2025-06-03 --to-date
2025-06-05T02:00:00+00:00`` covers the triggers of 06-03, 06-04 and 06-05 02:00, so it audits
2025-06-02, 06-03 and 06-04 (see docs/backfill.md). Airflow's metadata DB is PostgreSQL, as in
production; the report DB is the default SQLite file.
"""

from __future__ import annotations

import time
from datetime import date, datetime, time as dtime
from pathlib import Path

import pytest
from sqlalchemy import select

from support.airflow_services import airflow, dag_runs, processes_using, running_airflow, wait_dag_registered
from claimaudit.samples.x12_writer import Claim, Interchange, Line, Patient, render_837

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DAG_ID = "claims_audit_nightly"
DAYS = [date(2025, 6, 2), date(2025, 6, 3), date(2025, 6, 4)]
RUNS_TIMEOUT_S = 360

DORA = Patient("NB0001", "DELTA", "DORA", date(1952, 8, 9))
EVE = Patient("NB0002", "ECHO", "EVE", date(1957, 10, 11))

# (audit day, rule, claim, line) the three runs must write, and nothing else.
EXPECTED = [
    (DAYS[0], "R77386-MOD-TC", "NB-DORA-0602", 2),
    (DAYS[0], "R77386-PLAN-PRECEDES", "NB-EVE-0602", 1),
    (DAYS[1], "R77386-UNITS-PER-LINE", "NB-DORA-0603", 1),
    (DAYS[2], "R77386-DX-NEOPLASM", "NB-EVE-0604", 1),
]


def build_inbox(inbox: Path) -> None:
    plan = Line("77301", date(2025, 5, 28), charge=2500.0, dx_pointers=(1, 2))
    claims = {
        DAYS[0]: [Claim("NB-DORA-0602", DORA, [plan, Line("77386", DAYS[0], modifiers=("TC",), charge=900.0,
                                                          dx_pointers=(1, 2))], diagnoses=("Z510", "C61")),
                  Claim("NB-EVE-0602", EVE, [Line("77386", DAYS[0], charge=900.0, dx_pointers=(1, 2))],
                        diagnoses=("Z510", "C509"))],
        DAYS[1]: [Claim("NB-DORA-0603", DORA, [Line("77386", DAYS[1], units=2, charge=1800.0, dx_pointers=(1, 2))],
                        diagnoses=("Z510", "C61")),
                  Claim("NB-EVE-0603", EVE, [Line("77386", DAYS[1], charge=900.0, dx_pointers=(1, 2))],
                        diagnoses=("Z510", "C509"))],
        # EVE's line points at Z51.0 only: no neoplasm among the line's diagnoses.
        DAYS[2]: [Claim("NB-DORA-0604", DORA, [Line("77386", DAYS[2], charge=900.0, dx_pointers=(1, 2))],
                        diagnoses=("Z510", "C61")),
                  Claim("NB-EVE-0604", EVE, [Line("77386", DAYS[2], charge=900.0, dx_pointers=(1,))],
                        diagnoses=("Z510", "C509"))],
    }
    for n, (day, day_claims) in enumerate(claims.items(), start=1):
        folder = inbox / day.isoformat()
        folder.mkdir(parents=True)
        ic = Interchange("P", day_claims, control=900 + n, created=datetime.combine(day, dtime(20, 0)))
        (folder / f"RADONC_837P_{day:%Y%m%d}.x12").write_bytes(render_837(ic))


def retry_locked(call, *args, attempts: int = 5):
    """Run an ``airflow`` CLI call again when the metadata DB was locked at that moment (only
    seen with SQLite metadata; cheap insurance)."""
    for attempt in range(attempts):
        try:
            return call(*args)
        except RuntimeError as exc:
            if "database is locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(3)


def wait_backfill_runs(env: dict[str, str], count: int, timeout: float) -> list[dict]:
    """Poll until ``count`` backfill runs succeeded; fail at once when one fails."""
    deadline = time.monotonic() + timeout
    runs: list[dict] = []
    while time.monotonic() < deadline:
        runs = [r for r in retry_locked(dag_runs, env, DAG_ID)
                if str(r.get("run_id", "")).startswith("backfill__")]
        failed = [r for r in runs if r.get("state") == "failed"]
        assert not failed, f"backfill run(s) failed: {failed}"
        if len(runs) == count and all(r.get("state") == "success" for r in runs):
            return runs
        time.sleep(3)
    raise AssertionError(f"backfill runs not all successful after {timeout} s: {runs}")


@pytest.fixture
def airflow_metadata_url():
    """A fresh PostgreSQL database for Airflow's metadata, as in production. On SQLite the
    scheduler and ``backfill create`` lock each other out ("database is locked"; once the
    scheduler died on a half-created run)."""
    from support.databases import scratch_pg_database

    with scratch_pg_database("airflow_backfill_test") as url:
        yield url


def test_native_backfill_audits_three_days_in_date_order(tmp_path, airflow_metadata_url):
    from claimaudit.store.db import engine_for
    from claimaudit.store.schema import audit_finding, audit_run

    build_inbox(tmp_path / "inbox")
    db_url = f"sqlite:///{tmp_path / 'report.db'}"
    home = tmp_path / "airflow"
    extra = {"AUDIT_INBOX": str(tmp_path / "inbox"), "AUDIT_VAR_DIR": str(tmp_path / "var"),
             "AUDIT_DB_URL": db_url, "AUDIT_TIMEZONE": "UTC",
             "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_metadata_url,
             # psycopg 3 is async too; Airflow would otherwise ask for asyncpg, which is not pinned.
             "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": airflow_metadata_url}
    try:
        with running_airflow(home, extra) as env:
            wait_dag_registered(env, DAG_ID)
            retry_locked(airflow, env, "dags", "unpause", DAG_ID)
            # Triggers 06-03, 06-04 and 06-05 02:00: they audit 06-02, 06-03 and 06-04.
            retry_locked(airflow, env, "backfill", "create", "--dag-id", DAG_ID, "--from-date", "2025-06-03",
                         "--to-date", "2025-06-05T02:00:00+00:00", "--max-active-runs", "1")
            runs = wait_backfill_runs(env, 3, RUNS_TIMEOUT_S)
    finally:
        time.sleep(1)
        leftovers = processes_using(home)
    assert leftovers == [], f"Airflow processes left running: {leftovers}"

    # Logical date = start of the data interval = the audited day, 02:00.
    logical = sorted(datetime.fromisoformat(r["logical_date"]) for r in runs)
    assert [(d.date(), d.hour) for d in logical] == [(d, 2) for d in DAYS]

    engine = engine_for(db_url)
    with engine.connect() as conn:
        audited = conn.execute(select(audit_run).where(audit_run.c.audit_date.in_(DAYS))
                               .order_by(audit_run.c.started_at)).all()
        findings = conn.execute(select(audit_finding.c.audit_date, audit_finding.c.rule_id,
                                       audit_finding.c.claim_id, audit_finding.c.line_number)
                                .where(audit_finding.c.audit_date.in_(DAYS))).all()
    # One row per day, each started after the previous finished: date order, never two at once.
    assert [r.audit_date for r in audited] == DAYS
    assert all(a.finished_at <= b.started_at for a, b in zip(audited, audited[1:]))
    assert all(r.status == "complete" and r.run_id.startswith("backfill__") for r in audited)
    assert [(r.claims, r.files) for r in audited] == [(2, 1), (2, 1), (2, 1)]
    assert sorted(tuple(f) for f in findings) == EXPECTED

    # No digest per backfilled day: the backfill's last run kept one range summary (no SMTP here).
    # (Unpausing also let the schedule run for yesterday: that nightly run keeps its own digest.)
    outbox = tmp_path / "var" / "outbox"
    emls = sorted(p.name for p in outbox.glob("*.eml"))
    assert [n for n in emls if n.startswith("77386-audit-2025-")] == []
    assert "77386-reaudit-2025-06-02_2025-06-04.eml" in emls
    summary = (outbox / "77386-reaudit-2025-06-02_2025-06-04.eml").read_text()
    assert "3 days audited" in summary
