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
import signal
import sys
import threading
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]


def send_airflow_logs_to(path: Path):
    """Airflow's own log lines (its API client, dag.test's scheduler loop, deprecation warnings)
    go to ``path``; the console keeps our progress, results and real problems. Called after
    Airflow is imported (its import configures logging to the console)."""
    from airflow._shared.logging import configure_logging

    path.parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "a", buffering=1, encoding="utf-8", errors="backslashreplace")
    configure_logging(log_level="INFO", output=stream, colors=False)
    logging.captureWarnings(True)
    # Our own warnings (a rejected file, a refused link) are real problems: also on the console.
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logging.getLogger("claimaudit").addHandler(console)
    return stream


def stop_on_signals() -> None:
    """SIGTERM and Ctrl-C end the range at once (exit 143/130).

    dag.test() runs tasks in this process, and Airflow's task runner installs its own SIGTERM
    handler (which only calls the operator's on_kill) without restoring ours: a range run then
    ignored SIGTERM and Ctrl-C. So the signals are blocked in every thread and taken by a thread
    of ours with sigwait, whatever handlers are installed later. Stopping mid-day is safe: the
    day's writes are transactions and the next run starts the day again."""
    signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)  # before Airflow starts any thread

    def wait_for_signal():
        signum = signal.sigwait(signals)
        print(f"\nstopped by {signal.Signals(signum).name}: the day in progress was not finished; "
              "run the same command again to resume", file=sys.stderr, flush=True)
        os._exit(128 + signum)

    threading.Thread(target=wait_for_signal, name="stop-on-signal", daemon=True).start()


def load_dag_module():
    path = Path(os.environ.get("AIRFLOW__CORE__DAGS_FOLDER", ROOT / "dags")) / "claims_audit_nightly.py"
    spec = importlib.util.spec_from_file_location("claims_audit_nightly", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_dag(module=None):
    dag = (module or load_dag_module()).claims_audit_nightly()  # the @dag factory returns a fresh DAG object
    # Here someone is waiting: a failing task stops the range at once, not after the nightly
    # schedule's retry delays (the run is rerun as a whole, from the failed day).
    for task in dag.tasks:
        task.retries = 0
    return dag


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="start", required=True, type=date.fromisoformat)
    ap.add_argument("--to", dest="end", required=True, type=date.fromisoformat)
    ap.add_argument("--reprocess", action="store_true", help="re-audit days already audited with this ruleset")
    ap.add_argument("--generate-if-empty", action="store_true",
                    help="write deterministic sample extracts for the range when the inbox is empty")
    ap.add_argument("--airflow-log", type=Path, default=None,
                    help="where Airflow's own log lines go (default: <AUDIT_VAR_DIR>/logs/airflow-range.log)")
    ap.add_argument("--daily-digests", action="store_true",
                    help="mail each day's digest as the nightly schedule does (and no range summary)")
    args = ap.parse_args(argv)
    stop_on_signals()

    from claimaudit import pipeline
    from claimaudit.changes import ChangeLog, changes_csv_path
    from claimaudit.console import print_range_summary
    from claimaudit.rangerun import completed_days, days_between, run_range
    from claimaudit.rules.suites import ruleset_version
    from claimaudit.settings import Settings
    from claimaudit.store.db import shared_engine
    from claimaudit.store.findings import day_summary

    settings = Settings.current()
    if args.generate_if_empty and not any(settings.inbox.glob("*/*")):
        from claimaudit.samples.generator import generate

        manifest = generate(settings.inbox, args.start, args.end)
        print(f"inbox was empty: wrote sample extracts to {settings.inbox} "
              f"({sum(len(f) for f in manifest.files.values())} files)")

    engine = shared_engine(settings.db_url)  # the one the DAG's tasks use in this process (dag.test)
    days = days_between(args.start, args.end)
    skip = set() if args.reprocess else completed_days(engine, ruleset_version(settings.expectations_dir),
                                                        args.start, args.end)
    print(f"auditing {len(days)} day(s) {args.start}..{args.end} through the DAG claims_audit_nightly")
    print(f"  inbox  {settings.inbox}\n  report {settings.db_url}")
    dag_module = load_dag_module()
    dag = load_dag(dag_module)
    airflow_log = args.airflow_log or settings.var_dir / "logs" / "airflow-range.log"
    send_airflow_logs_to(airflow_log)
    print(f"  Airflow's log: {airflow_log}")
    tz = ZoneInfo(settings.timezone)
    daily = args.daily_digests or settings.range_daily_digests

    def run_day(day: date) -> int:
        # The 02:00 run of the next day audits this day; audit_date makes it explicit.
        logical = datetime.combine(day + timedelta(days=1), time(2, 0), tzinfo=tz)
        dag_run = dag.test(logical_date=logical, run_conf={"audit_date": day.isoformat(), "range_run": not daily})
        state = str(getattr(dag_run, "state", "")).lower()
        if "success" not in state:
            raise SystemExit(f"the DAG run for {day} ended in state {state!r}; later days were not audited")
        return len(day_summary(engine, day).findings)

    changes = ChangeLog(engine, changes_csv_path(settings.var_dir))
    report = run_range(days, changes.track(run_day), skip=skip, note=changes.note)
    print_range_summary(engine, settings, args.start, args.end, seconds=report.seconds)
    changes.print_report()
    if not daily:  # one email for the whole range
        message = pipeline.range_summary_message(args.start, args.end, changes.changes, audited=report.audited,
                                                 skipped=report.skipped, settings=settings)
        print(f"Range summary: {dag_module.deliver(message, args.end.isoformat(), pipeline.range_eml_name(message))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
