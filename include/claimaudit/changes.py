"""What a re-audit changed: findings that are new, and findings that are resolved (no longer
found), versus the results it replaced.

``replace_day`` rewrites a day's findings whole, so the previous results exist only until the
re-audit commits. The range runners therefore take a snapshot of the day's stored findings and
the ruleset version that made them just before auditing the day, compare it with what the store
holds afterwards, print the difference and append it to a CSV log (``var/reports/``) as the day
finishes, so an interrupted backfill keeps the changes of the days it completed.

Claim ids, rule ids and line numbers only: no patient data reaches the terminal or the log.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TextIO

from sqlalchemy import Engine, select

from claimaudit.store.schema import audit_finding, audit_run

CSV_COLUMNS = ("recorded_at", "audit_date", "change", "rule_id", "severity", "claim_id", "line_number",
               "finding_id", "previous_ruleset", "ruleset")
LISTED_CHANGES = 20  # printed one by one at the end of a range; the CSV log has all of them


@dataclass(frozen=True)
class FindingRef:
    rule_id: str
    claim_id: str
    line_number: int | None  # None for claim-scope findings
    severity: str
    finding_id: str

    def sort_key(self) -> tuple:
        return (self.rule_id, self.claim_id, self.line_number is not None, self.line_number or 0, self.finding_id)


@dataclass(frozen=True)
class DaySnapshot:
    audit_date: date
    ruleset_version: str | None  # None: the day has no audit_run row (never audited)
    findings: dict[str, FindingRef]  # by finding_id


@dataclass(frozen=True)
class DayChange:
    audit_date: date
    previous_ruleset: str | None
    ruleset: str | None
    new: tuple[FindingRef, ...]
    resolved: tuple[FindingRef, ...]

    @property
    def first_audit(self) -> bool:
        return self.previous_ruleset is None

    @property
    def ruleset_changed(self) -> bool:
        return not self.first_audit and self.previous_ruleset != self.ruleset

    def describe(self) -> str:
        """Short text for the day's progress line."""
        if self.first_audit:
            return "first audit"
        rules = f"ruleset {self.previous_ruleset}->{self.ruleset}" if self.ruleset_changed else "same ruleset"
        if not (self.new or self.resolved):
            return f"{rules}: unchanged"
        return f"{rules}: +{len(self.new)} new, -{len(self.resolved)} resolved"


def snapshot_day(engine: Engine, day: date) -> DaySnapshot:
    """The day's stored audit results: its ruleset version and its findings."""
    f = audit_finding.c
    with engine.connect() as conn, conn.begin():  # one snapshot: run row and findings agree
        version = conn.scalar(select(audit_run.c.ruleset_version).where(audit_run.c.audit_date == day))
        rows = conn.execute(select(f.finding_id, f.rule_id, f.claim_id, f.line_number, f.severity)
                            .where(f.audit_date == day)).all()
    return DaySnapshot(day, version, {r.finding_id: FindingRef(r.rule_id, r.claim_id, r.line_number, r.severity,
                                                               r.finding_id) for r in rows})


def compare(before: DaySnapshot, after: DaySnapshot) -> DayChange:
    if before.audit_date != after.audit_date:
        raise ValueError(f"snapshots of different days: {before.audit_date} and {after.audit_date}")
    if before.ruleset_version is None:  # nothing to compare with: every finding is simply found
        new, resolved = (), ()
    else:
        new = tuple(sorted((after.findings[k] for k in after.findings.keys() - before.findings.keys()),
                           key=FindingRef.sort_key))
        resolved = tuple(sorted((before.findings[k] for k in before.findings.keys() - after.findings.keys()),
                                key=FindingRef.sort_key))
    return DayChange(after.audit_date, before.ruleset_version, after.ruleset_version, new, resolved)


@dataclass
class ChangeLog:
    """Records what each re-audited day changed; ``track`` wraps a range runner's ``run_day``."""

    engine: Engine
    csv_path: Path | None = None
    changes: list[DayChange] = field(default_factory=list)

    def track(self, run_day: Callable[[date], int]) -> Callable[[date], int]:
        def tracked(day: date) -> int:
            before = snapshot_day(self.engine, day)
            result = run_day(day)
            change = compare(before, snapshot_day(self.engine, day))
            self.changes.append(change)
            if self.csv_path is not None:
                append_csv(self.csv_path, change)
            return result

        return tracked

    def note(self, day: date) -> str:
        """The latest change of ``day`` as text (for the progress line), "" if not tracked."""
        for change in reversed(self.changes):
            if change.audit_date == day:
                return change.describe()
        return ""

    @property
    def reaudited(self) -> list[DayChange]:
        return [c for c in self.changes if not c.first_audit]

    @property
    def new(self) -> list[tuple[date, FindingRef]]:
        return [(c.audit_date, f) for c in self.changes for f in c.new]

    @property
    def resolved(self) -> list[tuple[date, FindingRef]]:
        return [(c.audit_date, f) for c in self.changes for f in c.resolved]

    def print_report(self, out: TextIO | None = None) -> None:
        """Totals versus the previous results: days re-audited, new and resolved by rule."""
        out = sys.stdout if out is None else out  # read at call time, not bound at import
        again = self.reaudited
        if not again:
            return
        versions = sorted({f"{c.previous_ruleset}->{c.ruleset}" for c in again if c.ruleset_changed})
        print(f"\nChanges versus the previous results of {len(again)} re-audited day(s)"
              + (f" (ruleset {', '.join(versions)})" if versions else " (same ruleset)") + ":", file=out)
        print(f"  new findings      {len(self.new):>6}\n  resolved findings {len(self.resolved):>6}", file=out)
        counts: Counter = Counter()
        for _, f in self.new:
            counts[(f.rule_id, "new")] += 1
        for _, f in self.resolved:
            counts[(f.rule_id, "resolved")] += 1
        for rule in sorted({r for r, _ in counts}):
            print(f"  {rule:<34}+{counts[(rule, 'new')]:<5} -{counts[(rule, 'resolved')]}", file=out)
        listed = [("new", d, f) for d, f in self.new] + [("resolved", d, f) for d, f in self.resolved]
        listed.sort(key=lambda x: (x[1], x[0], x[2].sort_key()))
        for kind, day, f in listed[:LISTED_CHANGES]:
            line = "" if f.line_number is None else f" line {f.line_number}"
            print(f"  {day}  {kind:<9}{f.rule_id:<34}claim {f.claim_id}{line}", file=out)
        if len(listed) > LISTED_CHANGES:
            print(f"  ... {len(listed) - LISTED_CHANGES} more", file=out)
        if self.csv_path is not None and listed:
            print(f"  every change: {self.csv_path}", file=out)


def append_csv(path: Path, change: DayChange) -> None:
    """Append a day's changes to the CSV log (header on a new file). First audits add nothing."""
    if not (change.new or change.resolved):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = not path.exists() or path.stat().st_size == 0
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with open(path, "a", newline="") as fh:
        w = csv.writer(fh)
        if fresh:
            w.writerow(CSV_COLUMNS)
        for kind, refs in (("new", change.new), ("resolved", change.resolved)):
            for f in refs:
                w.writerow([now, change.audit_date.isoformat(), kind, f.rule_id, f.severity, f.claim_id,
                            "" if f.line_number is None else f.line_number, f.finding_id,
                            change.previous_ruleset or "", change.ruleset or ""])


def changes_csv_path(var_dir: Path) -> Path:
    """The append-only log of finding changes made by re-audits."""
    return Path(var_dir) / "reports" / "finding-changes.csv"
