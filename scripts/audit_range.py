"""Audit a range of days through the Airflow DAG, without a scheduler (``dag.test()``).

    python scripts/audit_range.py --from 2025-06-01 --to 2025-06-30 [--reprocess] [--generate-if-empty]
                                  [--daily-digests]

Runs ``claims_audit_nightly`` once per day, oldest first, in this process (the first run pays
Airflow's start-up; later days are fast). Honours AUDIT_INBOX and AUDIT_DB_URL. Days already
audited with the current ruleset are skipped unless --reprocess (so an interrupted backfill
resumes); a re-audited day prints the findings that are new or resolved versus its previous
results and appends them to var/reports/finding-changes.csv. Needs AIRFLOW_HOME with a
migrated metadata DB: ``scripts/bootstrap.sh`` makes one.

A range mails no digest per day: when it ends it sends one summary (days, findings new and
resolved per rule against the earlier results, rejected files) through ``smtp_default``, or keeps
it in var/outbox/. ``--daily-digests`` (the demo: a fortnight of nights replayed) mails each day's
digest as the nightly schedule would, and no summary.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]


def load_dag_module():
    path = Path(os.environ.get("AIRFLOW__CORE__DAGS_FOLDER", ROOT / "dags")) / "claims_audit_nightly.py"
    spec = importlib.util.spec_from_file_location("claims_audit_nightly", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_dag():
    return load_dag_module().claims_audit_nightly()  # the @dag factory returns a fresh DAG object


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="start", required=True, type=date.fromisoformat)
    ap.add_argument("--to", dest="end", required=True, type=date.fromisoformat)
    ap.add_argument("--reprocess", action="store_true", help="re-audit days already audited with this ruleset")
    ap.add_argument("--generate-if-empty", action="store_true",
                    help="write deterministic sample extracts for the range when the inbox is empty")
    ap.add_argument("--daily-digests", action="store_true",
                    help="mail each day's digest as the nightly schedule does (and no range summary)")
    ap.add_argument("--quiet-airflow", action="store_true", default=True)
    args = ap.parse_args(argv)

    from claimaudit.changes import ChangeLog, changes_csv_path
    from claimaudit.console import print_range_summary
    from claimaudit.rangerun import completed_days, days_between, run_range
    from claimaudit.rules.suites import ruleset_version
    from claimaudit.settings import Settings
    from claimaudit.store.db import engine_for, ensure_schema

    settings = Settings.from_env()
    if args.generate_if_empty and not any(settings.inbox.glob("*/*")):
        from claimaudit.samples.generator import generate

        manifest = generate(settings.inbox, args.start, args.end)
        print(f"inbox was empty: wrote sample extracts to {settings.inbox} "
              f"({sum(len(f) for f in manifest.files.values())} files)")

    engine = engine_for(settings.db_url)
    ensure_schema(engine)
    days = days_between(args.start, args.end)
    skip = set() if args.reprocess else completed_days(engine, ruleset_version(settings.expectations_dir),
                                                        args.start, args.end)
    print(f"auditing {len(days)} day(s) {args.start}..{args.end} through the DAG claims_audit_nightly")
    print(f"  inbox  {settings.inbox}\n  report {settings.db_url}")
    if args.quiet_airflow:
        logging.getLogger("airflow").setLevel(logging.WARNING)
    dag_module = load_dag_module()
    dag = dag_module.claims_audit_nightly()
    tz = ZoneInfo(settings.timezone)
    daily = args.daily_digests or settings.range_daily_digests

    def run_day(day: date) -> int:
        # The 02:00 run of the next day audits this day; audit_date makes it explicit.
        logical = datetime.combine(day + timedelta(days=1), time(2, 0), tzinfo=tz)
        dag_run = dag.test(logical_date=logical, run_conf={"audit_date": day.isoformat(), "range_run": not daily})
        state = str(getattr(dag_run, "state", "")).lower()
        if "success" not in state:
            raise SystemExit(f"the DAG run for {day} ended in state {state!r}; later days were not audited")
        from claimaudit.store.findings import day_summary

        return len(day_summary(engine, day).findings)

    changes = ChangeLog(engine, changes_csv_path(settings.var_dir))
    report = run_range(days, changes.track(run_day), skip=skip, note=changes.note)
    print_range_summary(engine, settings, args.start, args.end, seconds=report.seconds)
    changes.print_report()
    if not args.daily_digests:  # one email for the whole range
        from claimaudit import pipeline

        message = pipeline.range_summary_message(args.start, args.end, changes.changes, audited=report.audited,
                                                 skipped=report.skipped, settings=settings)
        print(f"Range summary: {dag_module.deliver(message, args.end.isoformat(), pipeline.range_eml_name(message))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
