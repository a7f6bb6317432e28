"""Audit a range of days in date order, with progress, resumable after an interruption.

Course and same-day rules read earlier days, so days always run oldest first. A day counts as
done when its ``audit_run`` row is complete, was made with the current ruleset version and its
digest was delivered (a day whose digest could not be written still owes it); such
days are skipped unless ``reprocess`` is asked for, so an interrupted backfill resumes where it
stopped and a rule change re-audits everything.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Callable, TextIO

from sqlalchemy import select

from claimaudit.errors import ConfigurationError
from claimaudit.store.schema import audit_run


def days_between(start: date, end: date) -> list[date]:
    if end < start:
        raise ConfigurationError(f"range ends ({end}) before it starts ({start})")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def completed_days(engine, ruleset_version: str, start: date, end: date) -> set[date]:
    """Days in the range already audited completely with this ruleset version."""
    q = select(audit_run.c.audit_date).where(
        audit_run.c.audit_date.between(start, end),
        audit_run.c.status == "complete",
        audit_run.c.ruleset_version == ruleset_version,
        audit_run.c.delivered_at.is_not(None),  # a digest still owed: the rerun delivers it
    )
    with engine.connect() as conn:
        return {r[0] if isinstance(r[0], date) else date.fromisoformat(str(r[0])) for r in conn.execute(q)}


@dataclass
class RangeReport:
    audited: list[date] = field(default_factory=list)
    skipped: list[date] = field(default_factory=list)
    findings: int = 0
    seconds: float = 0.0


def run_range(days: list[date], run_day: Callable[[date], int], *, skip: set[date] = frozenset(),
              out: TextIO | None = None, note: Callable[[date], str] | None = None) -> RangeReport:
    """Call ``run_day(day) -> findings`` for each day not in ``skip``, printing progress:
    day n of m, findings so far, rate, and ``note(day)`` when given (what the re-audit changed).
    Stops at the first failing day (later days depend on it)."""
    out = sys.stdout if out is None else out  # read at call time, not bound at import
    report = RangeReport()
    todo = [d for d in days if d not in skip]
    report.skipped = [d for d in days if d in skip]
    if report.skipped:
        print(f"skipping {len(report.skipped)} day(s) already audited with the current ruleset "
              f"(--reprocess to redo them)", file=out)
    t0 = time.perf_counter()
    for n, day in enumerate(todo, start=1):
        t_day = time.perf_counter()
        report.findings += run_day(day)
        report.audited.append(day)
        elapsed = time.perf_counter() - t0
        width = 30
        filled = int(width * n / len(todo))
        bar = "#" * filled + "-" * (width - filled)
        extra = note(day) if note else ""
        print(f"[{bar}] day {n} of {len(todo)}  {day}  {time.perf_counter() - t_day:5.1f}s  "
              f"findings so far {report.findings}  {n / elapsed * 60:5.1f} days/min"
              + (f"  {extra}" if extra else ""), file=out, flush=True)
    report.seconds = time.perf_counter() - t0
    return report
