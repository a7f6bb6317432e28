"""``claimaudit``: the package's command line (no Airflow needed).

    claimaudit generate --from 2025-06-02 --to 2025-06-13     sample extracts into the inbox
    claimaudit migrate                                       create/upgrade the report DB
    claimaudit audit --from D1 --to D2 [--reprocess]         audit days without Airflow; days already
                                                             audited with the current ruleset are skipped
                                                             unless --reprocess; prints what a re-audit
                                                             changed (new, resolved findings)
    claimaudit summary --from D1 --to D2                     print what was found
    claimaudit catalogue [--check]                           write docs/rule-catalogue.md
    claimaudit rekey-patients                                re-key the history's patient keys with the
                                                             secret in force (after rotating it)
    claimaudit reference import-ncci PATH... [--quarter 2025Q2] [--table practitioner|hospital]
                                                             import CMS NCCI PTP/MUE files (zips or folders)
    claimaudit reference ncci-sets                           list the imported NCCI edit-set versions

Running the audit through Airflow (what the nightly schedule does) is ``make audit``.
A problem the user can fix (any ``claimaudit.errors.ClaimAuditError``: a setting, a reference file,
a stale staged file) prints one line on stderr and exits with status 2; a bug keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date

from claimaudit.errors import ClaimAuditError
from claimaudit.settings import PROJECT_ROOT, Settings


def _range(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--from", dest="start", required=True, type=date.fromisoformat)
    ap.add_argument("--to", dest="end", required=True, type=date.fromisoformat)


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except ClaimAuditError as exc:  # something the user can fix: what, in one line, no traceback
        print(f"claimaudit: {one_line(exc)}", file=sys.stderr)
        return 2


def one_line(exc: BaseException) -> str:
    """The error's message with its line breaks (a multi-line cause, a file's text) folded into one."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    return _COMMANDS[args.command](args, settings)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="claimaudit", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="write deterministic sample 837 extracts into the inbox")
    _range(g)
    g.add_argument("--seed", type=int, default=7)
    g.add_argument("--patients-per-day", type=int, default=None)
    g.add_argument("--radonc-share", type=float, default=None,
                   help="most radiation-oncology claims per file; the rest are other departments' claims "
                        "(default $AUDIT_SAMPLE_RADONC_SHARE or 0.3; 1 = radiation oncology only)")
    g.add_argument("--no-plant", action="store_true", help="clean claims only")
    sub.add_parser("migrate", help="create or upgrade the report DB schema (AUDIT_DB_URL)")
    a = sub.add_parser("audit", help="audit days in date order without Airflow")
    _range(a)
    a.add_argument("--reprocess", action="store_true", help="re-audit days already audited with this ruleset")
    s = sub.add_parser("summary", help="print the findings of a range of days")
    _range(s)
    c = sub.add_parser("catalogue", help="write the rule catalogue page from the suites' metadata")
    c.add_argument("--check", action="store_true", help="fail if docs/rule-catalogue.md is out of date")
    sub.add_parser("rekey-patients", help="re-key the history with the patient-key secret in force (rotation)")
    _add_reference(sub)
    return ap


def _add_reference(sub) -> None:
    """Reference data kept in the report DB (issue 13: CMS NCCI edit sets)."""
    ref = sub.add_parser("reference", help="reference data in the report DB (CMS NCCI edit sets)")
    ref_sub = ref.add_subparsers(dest="reference_command", required=True)
    imp = ref_sub.add_parser("import-ncci", help="import CMS NCCI PTP/MUE files: zip archives, folders or table files")
    imp.add_argument("paths", nargs="+", help="zip archives as CMS ships them, folders, or .txt/.csv/.xlsx tables")
    imp.add_argument("--quarter", help="the quarter (2025Q2) when the file names do not say it")
    imp.add_argument("--table", choices=("practitioner", "hospital"),
                     help="practitioner (837P) or hospital outpatient (837I) when the files do not say it")
    ref_sub.add_parser("ncci-sets", help="list the imported NCCI edit-set versions")


def _engine(settings: Settings):
    """The report DB at the latest schema (every command but generate and catalogue uses it): the
    process's engine, which the pipeline steps a command runs use too."""
    from claimaudit.store.db import shared_engine

    return shared_engine(settings.db_url)


def _generate(args, settings: Settings) -> int:
    from claimaudit.samples.generator import generate

    manifest = generate(settings.inbox, args.start, args.end, seed=args.seed,
                        patients_per_day=args.patients_per_day, plant=not args.no_plant,
                        radonc_share=args.radonc_share)
    files = sum(len(v) for v in manifest.files.values())
    print(f"wrote {files} file(s) for {args.start}..{args.end} into {settings.inbox}")
    return 0


def _catalogue(args, settings: Settings) -> int:
    from claimaudit.rules.catalogue import render_catalogue_markdown

    target = PROJECT_ROOT / "docs" / "rule-catalogue.md"
    text = render_catalogue_markdown(settings.expectations_dir)
    if args.check:
        if not target.exists() or target.read_text() != text:
            print(f"{target} is out of date: run `claimaudit catalogue`", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    print(f"wrote {target}")
    return 0


def _migrate(args, settings: Settings) -> int:
    _engine(settings)
    print(f"report DB is at the latest schema: {settings.db_url}")
    return 0


def _rekey_patients(args, settings: Settings) -> int:
    from claimaudit.store.db import write_transaction
    from claimaudit.store.patient_keys import rekey_history

    with write_transaction(_engine(settings), "history") as conn:
        report = rekey_history(conn, settings.inbox)
    print(f"re-keyed {report.claims_relinked} claim(s) from {report.files_read} source file(s); "
          f"{report.claims_keyed_only} claim(s) whose file is missing or changed ({report.files_missing} "
          "file(s)) keep their links among themselves only")
    return 0


def _audit(args, settings: Settings) -> int:
    from claimaudit import pipeline
    from claimaudit.changes import ChangeLog, changes_csv_path
    from claimaudit.console import print_range_summary
    from claimaudit.rangerun import completed_days, days_between, run_range
    from claimaudit.rules.suites import ruleset_version

    engine = _engine(settings)
    days = days_between(args.start, args.end)
    skip = set() if args.reprocess else completed_days(
        engine, ruleset_version(settings.expectations_dir), args.start, args.end)
    changes = ChangeLog(engine, changes_csv_path(settings.var_dir))
    daily = settings.range_daily_digests  # a range keeps one summary, not a digest per day
    run_day = changes.track(lambda d: pipeline.audit_day(d, settings, digest=daily)["summary"]["findings"])
    report = run_range(days, run_day, skip=skip, note=changes.note)
    print_range_summary(engine, settings, args.start, args.end, seconds=report.seconds)
    changes.print_report()
    if not daily:  # one summary for the range, written (again) by every run of the command
        message = pipeline.range_summary_message(args.start, args.end, changes.changes, audited=report.audited,
                                                 skipped=report.skipped, settings=settings)
        path = pipeline.write_outbox(message, args.end, settings, name=pipeline.range_eml_name(message))
        print(f"Range summary: {path}")
    return 0


def _summary(args, settings: Settings) -> int:
    from claimaudit.console import print_range_summary

    print_range_summary(_engine(settings), settings, args.start, args.end)
    return 0


def _reference(args, settings: Settings) -> int:
    engine = _engine(settings)
    if args.reference_command == "ncci-sets":
        return _ncci_sets(engine)
    from claimaudit.ncci.importer import import_ncci
    from claimaudit.ncci.layouts import LayoutError

    try:
        report = import_ncci(engine, args.paths, quarter=args.quarter, table_kind=args.table)
    except LayoutError as exc:  # main prints it in one line, exit status 2
        raise LayoutError(f"refused, nothing imported (the edit sets already loaded stay in force): {exc}") from exc
    for line in report.lines():
        print(line)
    return 0


def _ncci_sets(engine) -> int:
    from sqlalchemy import select

    from claimaudit.ncci.tables import ncci_edit_set as es

    with engine.connect() as conn:
        rows = conn.execute(select(es.c.edit_set_id, es.c.label, es.c.row_count, es.c.imported_at)
                            .order_by(es.c.quarter, es.c.kind, es.c.table_kind, es.c.edit_set_id)).all()
    for r in rows:
        print(f"#{r.edit_set_id:<4} {r.label:<48} {r.row_count:>10,} rows  imported {r.imported_at}")
    if not rows:
        print("no NCCI edit sets imported: NCCI-PTP and NCCI-MUE lines are reported as unchecked")
    return 0


_COMMANDS = {"generate": _generate, "catalogue": _catalogue, "migrate": _migrate, "rekey-patients": _rekey_patients,
             "audit": _audit, "summary": _summary, "reference": _reference}


if __name__ == "__main__":
    sys.exit(main())
