"""Writing a day's findings and audit_run row, and reading back what the digest shows.

A day is rewritten whole in one transaction, so a rerun or backfill replaces and never duplicates.
The findings come from the rules runner as ``model.Finding`` rows, already one per (rule, claim,
line); ``reported_before`` answers the runner's "report once" question from the same table.
Writers of findings queue on one lock (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL):
resolving findings touches earlier days' rows, so two days written at once must not interleave.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    delete,
    inspect,
    select,
    update,
)
from sqlalchemy.orm import aliased

from claimaudit.model import Finding
from claimaudit.review.triage import suppressed_finding_ids
from claimaudit.store import schema as t
from claimaudit.store.chunks import chunks
from claimaudit.store.db import write_transaction

_IN_CHUNK = 500
_BATCH = 5_000
TREND_DAYS = 30
SEVERITY_ORDER = {"error": 0, "warning": 1}


def finding_id(rule_id: str, claim_key: str, line_number: int | None) -> str:
    """Stable id of a finding (docs/architecture.md): same rule, claim and line => same id."""
    line = "" if line_number is None else str(int(line_number))
    return hashlib.sha256(f"{rule_id}|{claim_key}|{line}".encode()).hexdigest()[:32]


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything here is written in UTC.
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _finding_rows(findings: Sequence[Finding], audit_date: date, run_id: str,
                  ruleset_version: str) -> dict[str, dict]:
    rows = {finding_id(f.rule_id, f.claim_key, f.line_number): f for f in findings}
    if len(rows) != len(findings):  # the runner's unique_findings makes them unique; two would be one row
        raise ValueError("findings repeat a (rule, claim, line); pass them through rules.runner.unique_findings")
    return {fid: dict(
        finding_id=fid, run_id=run_id, audit_date=audit_date, rule_id=f.rule_id, severity=f.severity,
        claim_id=f.claim_id, line_number=f.line_number, date_of_service=f.date_of_service,
        procedure_code=f.procedure_code, modifiers=f.modifiers, message=f.message, source_file=f.source_file,
        interchange_control=f.interchange_control, billing_npi=f.billing_npi, payer_class=f.payer_class,
        ruleset_version=ruleset_version, claim_key=f.claim_key, status="open", resolved_at=None,
        ncci_edit_set=f.ncci_edit_set,  # NCCI edit-set version the finding used (issue 13)
    ) for fid, f in rows.items()}


def reported_before(engine: Engine, day: date, findings: Sequence[Finding]) -> set[tuple[str, str, int | None]]:
    """Keys (rule, claim, line) of ``findings`` already reported on an audit day before ``day``: a
    "report once" suite's finding is not raised again."""
    if not findings or not inspect(engine).has_table("audit_finding"):
        return set()
    f = t.audit_finding.c
    rule_ids = sorted({x.rule_id for x in findings})
    seen: set[tuple] = set()
    with engine.connect() as conn:
        for keys in chunks(sorted({x.claim_key for x in findings}), _IN_CHUNK):
            stmt = select(f.rule_id, f.claim_key, f.line_number).where(
                f.audit_date < day, f.claim_key.in_(keys), f.rule_id.in_(rule_ids))
            seen.update((r, k, n) for r, k, n in conn.execute(stmt))
    return seen


def _seen_before(conn: Connection, ids: list[str], audit_date: date) -> tuple[dict[str, datetime], set[str]]:
    """(earliest first_seen_at of each id on any day, ids that have a row on an earlier day)."""
    first_seen: dict[str, datetime] = {}
    earlier: set[str] = set()
    f = t.audit_finding.c
    for chunk in chunks(sorted(ids), _IN_CHUNK):
        for fid, seen, day in conn.execute(select(f.finding_id, f.first_seen_at, f.audit_date)
                                           .where(f.finding_id.in_(chunk))):
            seen = _utc(seen)
            if fid not in first_seen or seen < first_seen[fid]:
                first_seen[fid] = seen
            if day < audit_date:
                earlier.add(fid)
    return first_seen, earlier


def replace_day(engine: Engine, *, audit_date: date, run_id: str, ruleset_version: str, findings: Sequence[Finding],
                stats: dict, started_at: datetime) -> dict:
    """Replace the day's findings and audit_run row in one transaction.

    Keeps ``first_seen_at`` of findings seen before; marks findings ``resolved`` whose claim was
    voided, or replaced by a version that was audited without the same rule failing (on any day).
    Returns {new, still_open, resolved, errors, warnings, findings}.
    """
    started_at = _utc(started_at)
    rows = _finding_rows(findings, audit_date, run_id, ruleset_version)
    with write_transaction(engine, "findings") as conn:
        first_seen, earlier = _seen_before(conn, list(rows), audit_date)
        conn.execute(delete(t.audit_finding).where(t.audit_finding.c.audit_date == audit_date))
        conn.execute(delete(t.audit_run).where(t.audit_run.c.audit_date == audit_date))
        for fid, row in rows.items():
            row["first_seen_at"] = first_seen.get(fid, started_at)
        for chunk in chunks(list(rows.values()), _BATCH):
            conn.execute(t.audit_finding.insert(), list(chunk))
        resolved = _apply_resolution(conn, audit_date, started_at)
        errors = sum(r["severity"] == "error" for r in rows.values())
        warnings = sum(r["severity"] == "warning" for r in rows.values())
        new = len(rows.keys() - earlier)
        still_open = len(_open_ids(conn, audit_date, earlier=True) | _open_ids(conn, audit_date) & earlier)
        finished = datetime.now(timezone.utc)
        conn.execute(t.audit_run.insert(), dict(
            audit_date=audit_date, run_id=run_id, ruleset_version=ruleset_version, status="complete",
            files=int(stats.get("files", 0)), claims=int(stats.get("claims", 0)),
            lines=int(stats.get("lines", 0)), rejections=int(stats.get("rejections", 0)),
            ignored=int(stats.get("ignored", 0)),
            # issue 18: read counts default to the audited ones (a caller that keeps every claim).
            claims_read=int(stats.get("claims_read", stats.get("claims", 0))),
            lines_read=int(stats.get("lines_read", stats.get("lines", 0))),
            findings=len(rows), errors=errors, warnings=warnings, new_findings=new, resolved=resolved,
            started_at=started_at, finished_at=finished,
            duration_s=round((finished - started_at).total_seconds(), 3) if started_at else None,
            # NCCI (issue 13): edit sets used and lines no edit set covered.
            ncci_edit_sets=stats.get("ncci_edit_sets"), ncci_unchecked_lines=stats.get("ncci_unchecked_lines"),
            ncci_unchecked=stats.get("ncci_unchecked"),
        ))
    return {"new": new, "still_open": still_open, "resolved": resolved, "errors": errors,
            "warnings": warnings, "findings": len(rows)}


def _superseded_findings(conn: Connection):
    """Findings whose claim has a later version, with that current version's facts."""
    f = t.audit_finding.c
    old = aliased(t.claim, name="old")
    cur = aliased(t.claim, name="cur")
    return conn.execute(
        select(f.audit_date, f.finding_id, f.rule_id, f.status, f.resolved_at,
               cur.c.claim_key.label("cur_key"), cur.c.frequency_code.label("cur_freq"),
               cur.c.received_date.label("cur_day"))
        .join(old, old.c.claim_key == f.claim_key)
        .join(cur, cur.c.claim_key == old.c.superseded_by)
    ).all()


def _apply_resolution(conn: Connection, audit_date: date, now: datetime) -> int:
    """Set status from the current version of each finding's claim; returns how many findings
    were resolved by claims received on ``audit_date`` (the same number on a rerun)."""
    rows = _superseded_findings(conn)
    if not rows:
        return 0
    audited = set(conn.scalars(select(t.audit_run.c.audit_date))) | {audit_date}
    f = t.audit_finding.c
    cur_keys = sorted({r.cur_key for r in rows})
    failing: set[tuple[str, str]] = set()  # (rule_id, claim_key) still failing on the current version
    for chunk in chunks(cur_keys, _IN_CHUNK):
        failing.update(tuple(x) for x in conn.execute(
            select(f.rule_id, f.claim_key).where(f.claim_key.in_(chunk)).distinct()))
    changes, resolved_today = [], set()
    for r in rows:
        if r.cur_freq == "8":
            want = "resolved"
        elif r.cur_day in audited:
            want = "open" if (r.rule_id, r.cur_key) in failing else "resolved"
        else:
            continue  # the replacement has not been audited yet
        if want == "resolved" and r.cur_day == audit_date:
            resolved_today.add(r.finding_id)
        if want != r.status:
            changes.append({"d": r.audit_date, "i": r.finding_id, "s": want,
                            "r": now if want == "resolved" else None})
    if changes:
        stmt = (update(t.audit_finding)
                .where(and_(f.audit_date == bindparam("d"), f.finding_id == bindparam("i")))
                .values(status=bindparam("s"), resolved_at=bindparam("r")))
        for chunk in chunks(changes, _BATCH):
            conn.execute(stmt, list(chunk))
    return len(resolved_today)


def _open_ids(conn: Connection, audit_date: date, *, earlier: bool = False) -> set[str]:
    """Open finding ids of the day, or (earlier=True) of earlier days on claims still current."""
    f = t.audit_finding.c
    q = select(f.finding_id).where(f.status == "open")
    if earlier:
        q = (q.outerjoin(t.claim, t.claim.c.claim_key == f.claim_key)
             .where(f.audit_date < audit_date, t.claim.c.superseded_by.is_(None)))
    else:
        q = q.where(f.audit_date == audit_date)
    return set(conn.scalars(q))


def mark_email_sent(engine: Engine, audit_date: date, when: datetime | None = None) -> None:
    """Record that the day's digest went out (a resend updates the time)."""
    with write_transaction(engine, "findings") as conn:
        conn.execute(update(t.audit_run).where(t.audit_run.c.audit_date == audit_date)
                     .values(email_sent_at=_utc(when) or datetime.now(timezone.utc)))


# ---------------------------------------------------------------- reading back for the digest

@dataclass(frozen=True)
class RunInfo:
    run_id: str
    ruleset_version: str
    status: str
    files: int
    claims: int
    lines: int
    findings: int
    errors: int
    warnings: int
    rejections: int
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    email_sent_at: datetime | None
    ignored: int = 0  # inbox entries not audited (listed in ignored_entry)
    # NCCI (issue 13): audited lines no edit set covered, and by quarter (JSON); edit sets used.
    ncci_unchecked_lines: int | None = None
    ncci_unchecked: str | None = None
    ncci_edit_sets: str | None = None
    claims_read: int = 0  # issue 18: the day's claims and lines as read; claims/lines were audited
    lines_read: int = 0


@dataclass(frozen=True)
class FindingView:
    audit_date: date
    finding_id: str
    rule_id: str
    severity: str
    claim_id: str
    line_number: int | None
    date_of_service: date | None
    procedure_code: str
    modifiers: str
    message: str
    source_file: str
    billing_npi: str
    payer_class: str
    status: str
    first_seen_at: datetime | None
    resolved_at: datetime | None
    is_new: bool


@dataclass(frozen=True)
class RuleCount:
    rule_id: str
    severity: str
    total: int
    new: int
    message: str  # one finding's message: the plain-language reason and fix


@dataclass(frozen=True)
class RejectedFile:
    source_file: str
    file_sha256: str
    quarantine_path: str
    reasons: tuple[str, ...]  # "segment 12 (CLM): what is wrong", in file order


@dataclass(frozen=True)
class TrendPoint:
    audit_date: date
    errors: int
    warnings: int
    rejections: int


@dataclass(frozen=True)
class DaySummary:
    audit_date: date
    run: RunInfo | None
    findings: list[FindingView] = field(default_factory=list)  # the day's, errors first
    by_rule: list[RuleCount] = field(default_factory=list)
    still_open: list[FindingView] = field(default_factory=list)  # open from earlier days, oldest first
    resolved: list[FindingView] = field(default_factory=list)  # resolved by this day's claims
    rejected_files: list[RejectedFile] = field(default_factory=list)
    trend: list[TrendPoint] = field(default_factory=list)  # last audited days up to this one, oldest first
    # Findings a reviewer suppressed (claimaudit.review): left out of findings/still_open, counted here.
    suppressed: int = 0

    @property
    def errors(self) -> int:
        return sum(f.severity == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity == "warning" for f in self.findings)

    @property
    def new_count(self) -> int:
        return sum(f.is_new for f in self.findings)

    @property
    def repeat_count(self) -> int:
        return sum(not f.is_new for f in self.findings)

    @property
    def all_clear(self) -> bool:
        return not self.findings and not self.rejected_files


def _sort_key(v: FindingView):
    return (SEVERITY_ORDER.get(v.severity, 9), v.rule_id, v.claim_id, v.line_number or 0)


def _view(row, is_new: bool) -> FindingView:
    return FindingView(
        audit_date=row.audit_date, finding_id=row.finding_id, rule_id=row.rule_id, severity=row.severity,
        claim_id=row.claim_id, line_number=row.line_number, date_of_service=row.date_of_service,
        procedure_code=row.procedure_code, modifiers=row.modifiers, message=row.message,
        source_file=row.source_file, billing_npi=row.billing_npi, payer_class=row.payer_class,
        status=row.status, first_seen_at=_utc(row.first_seen_at), resolved_at=_utc(row.resolved_at),
        is_new=is_new)


def day_summary(engine: Engine, audit_date: date) -> DaySummary:
    """Everything the digest shows for one audited day, read in one snapshot."""
    f = t.audit_finding.c
    with engine.connect() as conn, conn.begin():
        run_row = conn.execute(select(t.audit_run).where(t.audit_run.c.audit_date == audit_date)).first()
        run = None if run_row is None else RunInfo(
            **{k: getattr(run_row, k) for k in RunInfo.__dataclass_fields__ if k not in
               ("started_at", "finished_at", "email_sent_at")},
            started_at=_utc(run_row.started_at), finished_at=_utc(run_row.finished_at),
            email_sent_at=_utc(run_row.email_sent_at))
        today = conn.execute(select(t.audit_finding).where(f.audit_date == audit_date)).all()
        hidden = suppressed_finding_ids(conn, [r.finding_id for r in today])
        today = [r for r in today if r.finding_id not in hidden]
        _, earlier = _seen_before(conn, [r.finding_id for r in today], audit_date)
        findings = sorted((_view(r, r.finding_id not in earlier) for r in today), key=_sort_key)
        today_ids = {r.finding_id for r in today}

        backlog = conn.execute(
            select(t.audit_finding).outerjoin(t.claim, t.claim.c.claim_key == f.claim_key)
            .where(f.status == "open", f.audit_date < audit_date, t.claim.c.superseded_by.is_(None))
            .order_by(f.audit_date, f.finding_id)).all()
        hidden_backlog = suppressed_finding_ids(conn, [r.finding_id for r in backlog]) - today_ids
        backlog = [r for r in backlog if r.finding_id not in hidden_backlog]
        latest: dict[str, FindingView] = {}
        for r in backlog:  # one entry per finding: its latest earlier day
            if r.finding_id not in today_ids:
                latest[r.finding_id] = _view(r, False)
        still_open = sorted(latest.values(), key=lambda v: (v.first_seen_at or datetime.min.replace(
            tzinfo=timezone.utc), _sort_key(v)))

        old = aliased(t.claim, name="old")
        cur = aliased(t.claim, name="cur")
        resolved_rows = conn.execute(
            select(t.audit_finding).join(old, old.c.claim_key == f.claim_key)
            .join(cur, cur.c.claim_key == old.c.superseded_by)
            .where(f.status == "resolved", cur.c.received_date == audit_date)
            .order_by(f.audit_date, f.finding_id)).all()
        resolved_by_id = {r.finding_id: _view(r, False) for r in resolved_rows}
        resolved = sorted(resolved_by_id.values(), key=_sort_key)

        rej = conn.execute(select(t.rejection).where(t.rejection.c.audit_date == audit_date)
                           .order_by(t.rejection.c.source_file, t.rejection.c.file_sha256,
                                     t.rejection.c.seq)).all()
        trend_rows = conn.execute(
            select(t.audit_run.c.audit_date, t.audit_run.c.errors, t.audit_run.c.warnings,
                   t.audit_run.c.rejections)
            .where(t.audit_run.c.audit_date <= audit_date)
            .order_by(t.audit_run.c.audit_date.desc()).limit(TREND_DAYS)).all()[::-1]

    by_rule: dict[str, dict] = {}
    for v in findings:
        c = by_rule.setdefault(v.rule_id, {"severity": v.severity, "total": 0, "new": 0, "message": v.message})
        c["total"] += 1
        c["new"] += v.is_new
    rule_counts = sorted((RuleCount(rule_id=k, **c) for k, c in by_rule.items()),
                         key=lambda c: (SEVERITY_ORDER.get(c.severity, 9), -c.total, c.rule_id))

    files: dict[str, dict] = {}
    for r in rej:
        entry = files.setdefault(r.file_sha256, {"source_file": r.source_file, "quarantine_path": r.quarantine_path,
                                                 "reasons": []})
        where = f"segment {r.segment_position} ({r.segment_id})" if r.segment_position else "file"
        entry["reasons"].append(f"{where}: {r.reason}")
    rejected = [RejectedFile(source_file=e["source_file"], file_sha256=sha, quarantine_path=e["quarantine_path"],
                             reasons=tuple(e["reasons"])) for sha, e in files.items()]
    trend = [TrendPoint(r.audit_date, r.errors, r.warnings, r.rejections) for r in trend_rows]
    return DaySummary(audit_date=audit_date, run=run, findings=findings, by_rule=rule_counts,
                      still_open=still_open, resolved=resolved, rejected_files=rejected, trend=trend,
                      suppressed=len(hidden | hidden_backlog))
