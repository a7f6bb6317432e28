"""Feed health: did the day's claims arrive as expected?

An expected delivery day (``AUDIT_DELIVERY_DAYS`` minus ``AUDIT_HOLIDAYS``, dates in
``AUDIT_TIMEZONE``: the audited day already is one) with no file, or with far fewer claims than
the median of recent delivery days, is an alert: a broken feed must never read as a clean day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from statistics import median

from sqlalchemy import Engine, select

from claimaudit.store import schema as t

MIN_HISTORY = 5  # delivery days needed before "far fewer claims than usual" can be judged


@dataclass(frozen=True)
class FeedHealth:
    expected: bool  # a delivery was due on the day
    files: int
    claims: int
    rejected_files: int
    usual_claims: float | None  # median claims of recent delivery days with files, None if too few
    history_days: int  # how many days that median is over
    alert: str  # "" when healthy; else one sentence for the banner
    short: str = ""  # the alert in a few words, for the subject line

    @property
    def ok(self) -> bool:
        return not self.alert


def is_delivery_day(day: date, delivery_days: frozenset[int], holidays: frozenset[date]) -> bool:
    return day.weekday() in delivery_days and day not in holidays


def feed_health(engine: Engine, audit_date: date, *, files: int, claims: int, rejected_files: int,
                delivery_days: frozenset[int], holidays: frozenset[date], low_volume_ratio: float = 0.5,
                window: int = 20) -> FeedHealth:
    expected = is_delivery_day(audit_date, delivery_days, holidays)
    r = t.audit_run.c
    with engine.connect() as conn:  # recent days that received files (a silent day is not "usual")
        recent = conn.execute(select(r.audit_date, r.claims).where(r.audit_date < audit_date, r.files > 0)
                              .order_by(r.audit_date.desc()).limit(window * 3)).all()
    usual_days = [c for d, c in recent if is_delivery_day(d, delivery_days, holidays)][:window]
    usual = float(median(usual_days)) if len(usual_days) >= MIN_HISTORY else None
    alert = short = ""
    if expected and files == 0:
        alert = f"no file received on {audit_date:%a %Y-%m-%d}, an expected delivery day"
        short = "no file received"
    elif expected and usual and claims < low_volume_ratio * usual:
        alert = (f"only {claims} claim{'s' if claims != 1 else ''} received, usually about {usual:g} "
                 f"(median of the last {len(usual_days)} delivery days)")
        short = f"only {claims} claim{'s' if claims != 1 else ''} (usually {usual:g})"
    elif files and claims == 0:
        alert = f"{files} file{'s' if files != 1 else ''} received but not one claim could be read"
        short = "no claim readable"
    return FeedHealth(expected, files, claims, rejected_files, usual, len(usual_days), alert, short)
