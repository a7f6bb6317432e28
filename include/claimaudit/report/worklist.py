"""The open worklist and the backlog over time, read from the report store.

A finding is *open on day D* when it was first found on or before D and its claim was not
superseded (replaced or voided) by a claim received on or before D. That one definition gives
both the worklist (open on the audited day) and the backlog trend (open on each of the last 30
days), so the chart's last point always equals the worklist's length.

``open_worklist`` is the single place the digest asks "what is open": a findings-review UI that
suppresses findings filters them here (see ``_exclude_suppressed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import aliased

from claimaudit.review.triage import suppressed_finding_ids
from claimaudit.rules.fix_text import split_fix
from claimaudit.store import schema as t
from claimaudit.store.findings import SEVERITY_ORDER

TREND_DAYS = 30


@dataclass(frozen=True)
class WorkItem:
    """One open finding with what a biller needs to work it."""
    finding_id: str
    claim_key: str
    claim_id: str
    line_number: int | None
    rule_id: str
    severity: str
    message: str  # what is wrong
    date_of_service: date | None
    procedure_code: str
    modifiers: str
    payer_class: str
    claim_charge: float | None  # CLM02, the claim's billed total
    line_charge: float | None  # SV102 / SV203 of the line; None for claim-scope findings
    first_seen: date  # the first audited day that found it
    last_seen: date  # the latest audited day (<= the digest's day) that found it
    days_open: int
    fix: str = ""  # the fix chosen for this claim ("" for findings stored before fixes were per claim)

    @property
    def charge(self) -> float | None:
        return self.line_charge if self.line_number is not None else self.claim_charge


@dataclass(frozen=True)
class ClaimGroup:
    """The open findings of one claim version, worst first."""
    claim_key: str
    claim_id: str
    payer_class: str
    charge: float | None
    first_service: date | None
    last_service: date | None
    newest_seen: date
    days_open: int  # of its oldest open finding
    items: tuple[WorkItem, ...]

    @property
    def errors(self) -> int:
        return sum(i.severity == "error" for i in self.items)


@dataclass(frozen=True)
class BacklogPoint:
    day: date
    open: int  # findings open at the end of the day
    new: int  # findings first found that day
    audited: bool  # an audit_run exists for the day
    files: int
    claims: int


def _superseded_on():
    """(claim_key -> received day of the version that superseded it) as a selectable."""
    old = aliased(t.claim, name="old")
    cur = aliased(t.claim, name="cur")
    return (select(old.c.claim_key.label("claim_key"), cur.c.received_date.label("closed_on"))
            .join(cur, cur.c.claim_key == old.c.superseded_by).subquery("superseded"))


def _exclude_suppressed(items: list[WorkItem], engine: Engine, audit_date: date) -> list[WorkItem]:
    """Drop findings a reviewer suppressed in the Claims audit view (claimaudit.review): the
    digest counts them (DaySummary.suppressed) but does not list them. Every filter of the open
    worklist stays in this one place."""
    with engine.connect() as conn:
        hidden = suppressed_finding_ids(conn, [i.finding_id for i in items])
    return [i for i in items if i.finding_id not in hidden]


def open_worklist(engine: Engine, audit_date: date) -> list[WorkItem]:
    """Every finding open on ``audit_date``, newest first (by first sight), errors before warnings."""
    f = t.audit_finding.c
    sup = _superseded_on()
    span = (select(f.finding_id, func.min(f.audit_date).label("first_seen"), func.max(f.audit_date).label("last_seen"))
            .where(f.audit_date <= audit_date).group_by(f.finding_id).subquery("span"))
    latest = aliased(t.audit_finding, name="latest")
    line = t.service_line.c
    q = (select(latest.c.finding_id, latest.c.claim_key, latest.c.claim_id, latest.c.line_number, latest.c.rule_id,
                latest.c.severity, latest.c.message, latest.c.date_of_service, latest.c.procedure_code,
                latest.c.modifiers, latest.c.payer_class, span.c.first_seen, span.c.last_seen,
                t.claim.c.total_charge, line.charge)
         .join(span, (span.c.finding_id == latest.c.finding_id) & (span.c.last_seen == latest.c.audit_date))
         .outerjoin(t.claim, t.claim.c.claim_key == latest.c.claim_key)
         .outerjoin(t.service_line, (line.claim_key == latest.c.claim_key)
                    & (line.line_number == latest.c.line_number))
         .outerjoin(sup, sup.c.claim_key == latest.c.claim_key)
         .where((sup.c.closed_on.is_(None)) | (sup.c.closed_on > audit_date)))
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    items = [WorkItem(
        finding_id=r.finding_id, claim_key=r.claim_key, claim_id=r.claim_id, line_number=r.line_number,
        rule_id=r.rule_id, severity=r.severity, message=what, fix=fix, date_of_service=r.date_of_service,
        procedure_code=r.procedure_code, modifiers=r.modifiers, payer_class=r.payer_class,
        claim_charge=r.total_charge, line_charge=r.charge, first_seen=r.first_seen, last_seen=r.last_seen,
        days_open=(audit_date - r.first_seen).days) for r in rows for what, fix in [split_fix(r.message)]]
    items.sort(key=lambda i: (-i.first_seen.toordinal(), SEVERITY_ORDER.get(i.severity, 9), i.claim_id,
                              i.line_number is not None, i.line_number or 0, i.rule_id))
    return _exclude_suppressed(items, engine, audit_date)


def group_by_claim(items: list[WorkItem]) -> list[ClaimGroup]:
    """Claims with open findings, newest first: the claim whose latest finding appeared most
    recently leads; among equals, claims with more errors, then by claim id."""
    by_claim: dict[str, list[WorkItem]] = {}
    for i in items:
        by_claim.setdefault(i.claim_key, []).append(i)
    groups = []
    for key, its in by_claim.items():
        its.sort(key=lambda i: (SEVERITY_ORDER.get(i.severity, 9), i.line_number is not None, i.line_number or 0,
                                i.rule_id))
        services = [i.date_of_service for i in its if i.date_of_service]
        groups.append(ClaimGroup(
            claim_key=key, claim_id=its[0].claim_id, payer_class=its[0].payer_class, charge=its[0].claim_charge,
            first_service=min(services, default=None), last_service=max(services, default=None),
            newest_seen=max(i.first_seen for i in its), days_open=max(i.days_open for i in its), items=tuple(its)))
    groups.sort(key=lambda g: (-g.newest_seen.toordinal(), -g.errors, g.claim_id, g.claim_key))
    return groups


def backlog_series(engine: Engine, audit_date: date, days: int = TREND_DAYS) -> list[BacklogPoint]:
    """Open backlog and new findings for each calendar day of the ``days`` ending on ``audit_date``."""
    start = audit_date - timedelta(days=days - 1)
    f = t.audit_finding.c
    sup = _superseded_on()
    q = (select(f.finding_id, func.min(f.audit_date).label("first_seen"), func.min(sup.c.closed_on).label("closed_on"))
         .outerjoin(sup, sup.c.claim_key == f.claim_key)
         .where(f.audit_date <= audit_date).group_by(f.finding_id)
         .having((func.min(sup.c.closed_on).is_(None)) | (func.min(sup.c.closed_on) >= start)))
    r = t.audit_run.c
    with engine.connect() as conn:
        spans = conn.execute(q).all()
        runs = {row.audit_date: row for row in conn.execute(
            select(r.audit_date, r.files, r.claims).where(r.audit_date.between(start, audit_date)))}
    out = []
    for n in range(days):
        day = start + timedelta(days=n)
        open_ = sum(1 for s in spans if s.first_seen <= day and (s.closed_on is None or s.closed_on > day))
        new = sum(1 for s in spans if s.first_seen == day)
        run = runs.get(day)
        out.append(BacklogPoint(day, open_, new, run is not None, run.files if run else 0, run.claims if run else 0))
    return out
