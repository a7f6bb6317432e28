"""What the command line prints after an audit: counts per day, findings per rule, and where
the results went. Claim ids and counts only: no patient data reaches a terminal or a log."""

from __future__ import annotations

import sys
from datetime import date
from typing import TextIO

from sqlalchemy import func, select

from claimaudit.settings import Settings
from claimaudit.store.schema import audit_finding, audit_run


def print_range_summary(engine, settings: Settings, start: date, end: date, *, seconds: float | None = None,
                        out: TextIO | None = None) -> None:
    out = sys.stdout if out is None else out  # read at call time, not bound at import
    with engine.connect() as conn:
        runs = conn.execute(
            select(audit_run.c.audit_date, audit_run.c.files, audit_run.c.claims, audit_run.c.lines,
                   audit_run.c.errors, audit_run.c.warnings, audit_run.c.rejections)
            .where(audit_run.c.audit_date.between(start, end)).order_by(audit_run.c.audit_date)
        ).all()
        by_rule = conn.execute(
            select(audit_finding.c.rule_id, audit_finding.c.severity, audit_finding.c.status,
                   func.count().label("n"))
            .where(audit_finding.c.audit_date.between(start, end))
            .group_by(audit_finding.c.rule_id, audit_finding.c.severity, audit_finding.c.status)
            .order_by(audit_finding.c.severity, audit_finding.c.rule_id)
        ).all()
    print(f"\nAudit {start}..{end}" + (f" ({seconds:.1f} s)" if seconds is not None else ""), file=out)
    print(f"{'day':<12}{'files':>6}{'claims':>8}{'lines':>8}{'errors':>8}{'warnings':>10}{'rejected':>10}", file=out)
    for r in runs:
        print(f"{str(r.audit_date):<12}{r.files:>6}{r.claims:>8}{r.lines:>8}{r.errors:>8}{r.warnings:>10}"
              f"{r.rejections:>10}", file=out)
    if by_rule:
        print("\nFindings by rule:", file=out)
        for r in by_rule:
            print(f"  {r.severity:<8}{r.rule_id:<34}{r.status:<10}{r.n:>5}", file=out)
    else:
        print("\nNo findings.", file=out)
    emails = sorted(settings.outbox_dir.glob("*.eml")) if settings.outbox_dir.is_dir() else []
    print(f"\nReport DB: {settings.db_url}  (table audit_finding)", file=out)
    if emails:
        print(f"Digests:   {len(emails)} .eml file(s) in {settings.outbox_dir}; latest: {emails[-1]}", file=out)
