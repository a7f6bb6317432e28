"""The digest's delivery, tracked apart from the findings.

The findings of a day are committed before its digest is built; if writing or sending the
digest then fails (a read-only outbox, SMTP down), the day is audited but its digest is still
owed. ``audit_run.delivered_at`` is set only once it went out, so a plain rerun (which skips
days that are done) sees the debt and delivers it.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import Engine, select, update

from claimaudit.store import schema as t
from claimaudit.store.db import write_transaction


def mark_delivered(engine: Engine, audit_date: date, delivered_to: str, when: datetime | None = None) -> None:
    with write_transaction(engine, "findings") as conn:
        conn.execute(update(t.audit_run).where(t.audit_run.c.audit_date == audit_date)
                     .values(delivered_at=when or datetime.now(timezone.utc), delivered_to=delivered_to))


def owed_days(engine: Engine, start: date, end: date) -> list[date]:
    """Days in the range audited completely whose digest has not been delivered."""
    r = t.audit_run.c
    with engine.connect() as conn:
        days = conn.scalars(select(r.audit_date).where(r.audit_date.between(start, end), r.status == "complete",
                                                       r.delivered_at.is_(None)).order_by(r.audit_date)).all()
    return [d if isinstance(d, date) else date.fromisoformat(str(d)) for d in days]
