"""What the findings browser reads: a filtered, sorted, paginated findings list, one finding in
context, a rule's counts and an audited day's run. All reads; triage writes live in triage.py.

A finding can be written on several audited days (found again): the list shows each finding once,
as of its latest day within the day filter. Review status comes from finding_review_state; a
finding the audit has resolved (its claim was voided or replaced and corrected) shows "resolved".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from sqlalchemy import Connection, case, exists, func, select

from claimaudit.rules.fix_text import split_fix
from claimaudit.review.triage import OPEN, REVIEW_STATUSES, ReviewAction, review_history
from claimaudit.store import schema as t

RESOLVED = "resolved"
LIST_STATUSES = REVIEW_STATUSES + (RESOLVED,)
SEVERITIES = ("error", "warning")
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class FindingFilter:
    day_from: date | None = None
    day_to: date | None = None
    rule_id: str = ""
    severity: str = ""
    status: str = ""
    payer_class: str = ""
    claim_id: str = ""  # exact claim id (CLM01)

    def as_query(self) -> dict[str, str]:
        """The filter as URL query parameters (for links that keep it)."""
        out = {"day_from": self.day_from.isoformat() if self.day_from else "",
               "day_to": self.day_to.isoformat() if self.day_to else "",
               "rule_id": self.rule_id, "severity": self.severity, "status": self.status,
               "payer_class": self.payer_class, "claim_id": self.claim_id}
        return {k: v for k, v in out.items() if v}


@dataclass(frozen=True)
class FindingRow:
    finding_id: str
    audit_date: date
    rule_id: str
    severity: str
    claim_id: str
    line_number: int | None
    date_of_service: date | None
    procedure_code: str
    modifiers: str
    payer_class: str
    message: str
    first_seen_at: datetime | None
    status: str


@dataclass(frozen=True)
class FindingPage:
    rows: list[FindingRow]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


# sort key -> columns (of the latest row and the status expression), most significant first
SORTS = ("audit_date", "severity", "rule_id", "claim_id", "first_seen_at", "status")


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _status_expr(f, s):
    return case((f.status == RESOLVED, RESOLVED), else_=func.coalesce(s.status, OPEN))


def _status_conditions(f, s, status: str) -> list:
    """The status filter as plain column conditions (usable with indexes, unlike the CASE)."""
    if status == RESOLVED:
        return [f.status == RESOLVED]
    if status == OPEN:
        return [f.status != RESOLVED, s.status.is_(None)]
    return [f.status != RESOLVED, s.status == status]


def _conditions(f, flt: FindingFilter, *, on=None) -> list:
    """The row filters (all but status) on table columns ``f``."""
    conds = []
    if flt.day_from:
        conds.append(f.audit_date >= flt.day_from)
    if flt.day_to:
        conds.append(f.audit_date <= flt.day_to)
    if flt.rule_id:
        conds.append(f.rule_id == flt.rule_id)
    if flt.severity:
        conds.append(f.severity == flt.severity)
    if flt.payer_class:
        conds.append(f.payer_class == flt.payer_class)
    if flt.claim_id:
        conds.append(f.claim_id == flt.claim_id)
    return conds


def list_findings(conn: Connection, flt: FindingFilter, *, sort: str = "audit_date", descending: bool = True,
                  page: int = 1, page_size: int = PAGE_SIZE) -> FindingPage:
    """One page of findings, each once: the row of its latest audited day within the day filter
    (no later row of the same finding in range: an index probe on (finding_id, audit_date))."""
    fa = t.audit_finding.alias("f")
    later = t.audit_finding.alias("later")
    f, s = fa.c, t.finding_review_state.c
    later_in_range = [later.c.finding_id == f.finding_id, later.c.audit_date > f.audit_date]
    if flt.day_to:
        later_in_range.append(later.c.audit_date <= flt.day_to)
    conds = _conditions(f, flt) + [~exists().where(*later_in_range)]
    if flt.status:
        conds += _status_conditions(f, s, flt.status)
    status = _status_expr(f, s).label("review_status")
    base = (select(f.finding_id, f.audit_date, f.rule_id, f.severity, f.claim_id, f.line_number, f.date_of_service,
                   f.procedure_code, f.modifiers, f.payer_class, f.message, f.first_seen_at, status)
            .select_from(fa).outerjoin(t.finding_review_state, s.finding_id == f.finding_id).where(*conds))
    total = conn.scalar(select(func.count()).select_from(base.with_only_columns(f.finding_id).subquery()))
    keys = {"audit_date": [f.audit_date], "severity": [case((f.severity == "error", 0), else_=1)],
            "rule_id": [f.rule_id], "claim_id": [f.claim_id, f.line_number], "first_seen_at": [f.first_seen_at],
            "status": [_status_expr(f, s)]}[sort if sort in SORTS else "audit_date"]
    order = [k.desc() if descending else k.asc() for k in keys]
    page_size = max(1, min(int(page_size), MAX_PAGE_SIZE))
    pages = max(1, -(-total // page_size))
    page = min(max(1, int(page)), pages)
    tiebreak = f.finding_id.desc() if descending else f.finding_id.asc()
    rows = conn.execute(base.order_by(*order, tiebreak).limit(page_size).offset((page - 1) * page_size)).all()
    return FindingPage([FindingRow(r.finding_id, r.audit_date, r.rule_id, r.severity, r.claim_id, r.line_number,
                                   r.date_of_service, r.procedure_code, r.modifiers, r.payer_class, r.message,
                                   _utc(r.first_seen_at), r.review_status) for r in rows],
                       total=total, page=page, page_size=page_size)


def filter_choices(conn: Connection) -> dict[str, list[str]]:
    """Values the list's drop-downs offer: rules and payer classes that have findings."""
    f = t.audit_finding.c
    return {"rule_id": list(conn.scalars(select(f.rule_id).distinct().order_by(f.rule_id))),
            "payer_class": list(conn.scalars(select(f.payer_class).distinct().order_by(f.payer_class)))}


# ---------------------------------------------------------------- one finding in context

@dataclass(frozen=True)
class Occurrence:
    audit_date: date
    run_id: str
    ruleset_version: str
    status: str
    message: str
    resolved_at: datetime | None


@dataclass
class FindingDetail:
    finding_id: str
    rule_id: str
    severity: str
    claim_id: str
    claim_key: str
    line_number: int | None
    message: str  # what is wrong
    fix: str  # the fix chosen for this claim ("" when the stored message has none)
    source_file: str
    interchange_control: str
    payer_class: str
    billing_npi: str
    first_seen_at: datetime | None
    audit_status: str  # open | resolved, as the latest audit left it
    review_status: str
    occurrences: list[Occurrence]
    claim: dict | None  # the claim row as stored, without the patient key
    lines: list[dict]
    diagnoses: list[dict]
    interchange: dict | None
    replaced_by: dict | None  # the claim version that superseded this one, if any
    history: list[ReviewAction] = field(default_factory=list)

    @property
    def status(self) -> str:
        return RESOLVED if self.audit_status == RESOLVED else self.review_status


# Never shown: the patient key is a keyed hash, but the UI has no use for it.
_CLAIM_HIDDEN = {"patient_key"}


def finding_detail(conn: Connection, finding_id: str) -> FindingDetail | None:
    f = t.audit_finding.c
    rows = conn.execute(select(t.audit_finding).where(f.finding_id == finding_id).order_by(f.audit_date)).all()
    if not rows:
        return None
    last = rows[-1]
    claim_row = conn.execute(select(t.claim).where(t.claim.c.claim_key == last.claim_key)).first()
    claim = None if claim_row is None else {k: v for k, v in claim_row._mapping.items() if k not in _CLAIM_HIDDEN}
    sl = t.service_line.c
    lines = [dict(r._mapping) for r in conn.execute(
        select(sl.line_number, sl.procedure_code, sl.modifiers, sl.units, sl.unit_basis, sl.charge,
               sl.date_of_service, sl.dos_raw, sl.place_of_service, sl.revenue_code, sl.dx_pointers,
               sl.rendering_npi).where(sl.claim_key == last.claim_key).order_by(sl.line_number))]
    dg = t.diagnosis.c
    diagnoses = [dict(r._mapping) for r in conn.execute(
        select(dg.position, dg.qualifier, dg.code).where(dg.claim_key == last.claim_key).order_by(dg.position))]
    interchange = None
    if claim is not None:
        ic = t.interchange.c
        row = conn.execute(select(t.interchange).where(ic.sender_id == claim["sender_id"],
                                                       ic.interchange_control == claim["interchange_control"])).first()
        interchange = None if row is None else dict(row._mapping)
    replaced_by = None
    if claim is not None and claim.get("superseded_by"):
        c = t.claim.c
        row = conn.execute(select(c.claim_key, c.claim_id, c.frequency_code, c.received_date, c.source_file)
                           .where(c.claim_key == claim["superseded_by"])).first()
        replaced_by = None if row is None else dict(row._mapping)
    first_seen = min((_utc(r.first_seen_at) for r in rows if r.first_seen_at), default=None)
    what, fix = split_fix(last.message)
    return FindingDetail(
        finding_id=finding_id, rule_id=last.rule_id, severity=last.severity, claim_id=last.claim_id,
        claim_key=last.claim_key, line_number=last.line_number, message=what, fix=fix, source_file=last.source_file,
        interchange_control=last.interchange_control, payer_class=last.payer_class, billing_npi=last.billing_npi,
        first_seen_at=first_seen, audit_status=last.status,
        review_status=conn.scalar(select(t.finding_review_state.c.status)
                                  .where(t.finding_review_state.c.finding_id == finding_id)) or OPEN,
        occurrences=[Occurrence(r.audit_date, r.run_id, r.ruleset_version, r.status, r.message,
                                _utc(r.resolved_at)) for r in rows],
        claim=claim, lines=lines, diagnoses=diagnoses, interchange=interchange, replaced_by=replaced_by,
        history=review_history(conn, finding_id))


# ---------------------------------------------------------------- a rule, an audited day

def _latest_rows(rule_id: str | None = None, audit_date: date | None = None):
    """(alias, conditions) selecting each finding once: its latest row (on ``audit_date``, if given)."""
    fa = t.audit_finding.alias("f")
    later = t.audit_finding.alias("later")
    f = fa.c
    conds = []
    if rule_id is not None:
        conds.append(f.rule_id == rule_id)
    if audit_date is not None:
        conds.append(f.audit_date == audit_date)
    else:
        conds.append(~exists().where(later.c.finding_id == f.finding_id, later.c.audit_date > f.audit_date))
    return fa, conds


def status_counts_by_rule(conn: Connection, *, rule_id: str | None = None,
                          audit_date: date | None = None) -> dict[str, dict[str, int]]:
    """rule_id -> how many distinct findings are in each status (as of their latest day, or on
    ``audit_date``)."""
    fa, conds = _latest_rows(rule_id, audit_date)
    f, s = fa.c, t.finding_review_state.c
    status = _status_expr(f, s)
    rows = conn.execute(select(f.rule_id, status, func.count()).select_from(fa)
                        .outerjoin(t.finding_review_state, s.finding_id == f.finding_id)
                        .where(*conds).group_by(f.rule_id, status)).all()
    out: dict[str, dict[str, int]] = {}
    for rule, st, n in rows:
        out.setdefault(rule, {k: 0 for k in LIST_STATUSES})[st] = int(n)
    return out


def status_counts(conn: Connection, *, rule_id: str | None = None, audit_date: date | None = None) -> dict[str, int]:
    """How many distinct findings are in each status (of one rule, or on one audited day)."""
    counts = {k: 0 for k in LIST_STATUSES}
    for per_rule in status_counts_by_rule(conn, rule_id=rule_id, audit_date=audit_date).values():
        for k, n in per_rule.items():
            counts[k] += n
    return counts


@dataclass
class RunDetail:
    audit_date: date
    run: dict | None
    files: list[dict]
    rejections: list[dict]
    by_rule: list[dict]  # rule_id, severity, findings
    statuses: dict[str, int]


def run_detail(conn: Connection, audit_date: date) -> RunDetail:
    run = conn.execute(select(t.audit_run).where(t.audit_run.c.audit_date == audit_date)).first()
    i = t.ingested_file.c
    files = [dict(r._mapping) for r in conn.execute(
        select(i.source_file, i.file_sha256, i.status, i.claims, i.lines, i.size_bytes, i.loaded_at)
        .where(i.received_date == audit_date).order_by(i.source_file))]
    rj = t.rejection.c
    rejections = [dict(r._mapping) for r in conn.execute(
        select(rj.source_file, rj.unit, rj.interchange_control, rj.transaction_control, rj.segment_position,
               rj.segment_id, rj.reason, rj.quarantine_path)
        .where(rj.audit_date == audit_date).order_by(rj.source_file, rj.file_sha256, rj.seq))]
    f = t.audit_finding.c
    by_rule = [dict(rule_id=r, severity=s, findings=n) for r, s, n in conn.execute(
        select(f.rule_id, f.severity, func.count()).where(f.audit_date == audit_date)
        .group_by(f.rule_id, f.severity).order_by(func.count().desc(), f.rule_id))]
    return RunDetail(audit_date, None if run is None else dict(run._mapping), files, rejections, by_rule,
                     status_counts(conn, audit_date=audit_date))


def audit_day_of_run(conn: Connection, run_id: str) -> date | None:
    """The audited day an Airflow DAG run wrote (its latest, if it wrote several)."""
    a = t.audit_run.c
    return conn.scalar(select(a.audit_date).where(a.run_id == run_id).order_by(a.audit_date.desc()).limit(1))


def audited_days(conn: Connection, limit: int = 60) -> list[dict]:
    a = t.audit_run.c
    return [dict(r._mapping) for r in conn.execute(
        select(a.audit_date, a.files, a.claims, a.findings, a.errors, a.warnings, a.rejections)
        .order_by(a.audit_date.desc()).limit(limit))]
