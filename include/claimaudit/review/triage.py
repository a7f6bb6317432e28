"""Triage of findings: review statuses, the allowed actions, and the append-only audit trail.

Statuses: ``open`` (never reviewed) -> ``acknowledged`` or ``suppressed`` (with a reason) ->
``reopened`` -> acknowledged / suppressed again. Each action is one finding_review row (who, when,
why); finding_review_state keeps only the latest status, written in the same transaction.

A finding's id is hash(rule_id, claim_key, line), so a review holds across reruns and backfills
while the claim line and rule are unchanged; a replacement claim has a new claim_key, so its
findings are new ids and are reviewed again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Connection, Engine, Select, select

from claimaudit.store import schema as t
from claimaudit.store.db import write_transaction

OPEN, ACKNOWLEDGED, SUPPRESSED, REOPENED = "open", "acknowledged", "suppressed", "reopened"
REVIEW_STATUSES = (OPEN, ACKNOWLEDGED, SUPPRESSED, REOPENED)

# Why a finding may be suppressed (value -> what the billing office reads).
SUPPRESS_REASONS = {
    "false_positive": "False positive",
    "payer_exception": "Payer exception",
    "corrected_outside_claim": "Corrected outside the claim",
}

# action -> (statuses it may start from, status it leads to)
ACTIONS = {
    "acknowledge": ((OPEN, REOPENED), ACKNOWLEDGED),
    "suppress": ((OPEN, ACKNOWLEDGED, REOPENED), SUPPRESSED),
    "reopen": ((ACKNOWLEDGED, SUPPRESSED), REOPENED),
}
NOTE_MAX = 2000
_IN_CHUNK = 500


class TriageError(ValueError):
    """An action that is not allowed (unknown finding, wrong status, missing reason)."""


@dataclass(frozen=True)
class ReviewAction:
    review_id: int
    finding_id: str
    action: str
    status: str
    reason: str | None
    note: str
    actor: str
    acted_at: datetime

    @property
    def reason_label(self) -> str:
        return SUPPRESS_REASONS.get(self.reason or "", "")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def allowed_actions(status: str) -> list[str]:
    """Actions a reviewer may take on a finding whose review status is ``status``."""
    return [a for a, (sources, _) in ACTIONS.items() if status in sources]


def review_status(conn: Connection, finding_id: str) -> str:
    s = t.finding_review_state.c
    return conn.scalar(select(s.status).where(s.finding_id == finding_id)) or OPEN


def record_action(engine: Engine, finding_id: str, action: str, *, actor: str, reason: str | None = None,
                  note: str = "", now: datetime | None = None) -> ReviewAction:
    """Store one review action and move the finding's review status; raises TriageError when the
    action is not allowed. Serialised with other reviewers of the same DB, so two people acting
    on one finding at once cannot both start from the same status."""
    if action not in ACTIONS:
        raise TriageError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    actor = (actor or "").strip()
    if not actor:
        raise TriageError("a review action needs the signed-in user's name")
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise TriageError(f"the note is longer than {NOTE_MAX} characters")
    if action == "suppress":
        if reason not in SUPPRESS_REASONS:
            raise TriageError("suppressing needs a reason: " + ", ".join(SUPPRESS_REASONS))
    else:
        reason = None
    acted_at = _utc(now or datetime.now(timezone.utc))
    f = t.audit_finding.c
    with write_transaction(engine, "review") as conn:
        found = conn.execute(select(f.rule_id, f.claim_key).where(f.finding_id == finding_id).limit(1)).first()
        if found is None:
            raise TriageError(f"no finding {finding_id!r}")
        current = review_status(conn, finding_id)
        sources, target = ACTIONS[action]
        if current not in sources:
            raise TriageError(f"cannot {action} a finding that is {current}")
        review_id = conn.execute(t.finding_review.insert().returning(t.finding_review.c.review_id), dict(
            finding_id=finding_id, rule_id=found.rule_id, claim_key=found.claim_key, action=action,
            status=target, reason=reason, note=note, actor=actor, acted_at=acted_at)).scalar_one()
        state = dict(status=target, review_id=review_id, updated_at=acted_at)
        done = conn.execute(t.finding_review_state.update()
                            .where(t.finding_review_state.c.finding_id == finding_id).values(**state))
        if done.rowcount == 0:
            conn.execute(t.finding_review_state.insert(), dict(finding_id=finding_id, **state))
    return ReviewAction(review_id, finding_id, action, target, reason, note, actor, acted_at)


def review_history(conn: Connection, finding_id: str) -> list[ReviewAction]:
    """Every review action on the finding, oldest first."""
    r = t.finding_review.c
    rows = conn.execute(select(t.finding_review).where(r.finding_id == finding_id).order_by(r.review_id)).all()
    return [ReviewAction(x.review_id, x.finding_id, x.action, x.status, x.reason, x.note, x.actor,
                         _utc(x.acted_at)) for x in rows]


def suppressed_ids_query() -> Select:
    """``SELECT finding_id`` of every suppressed finding: for ``column.not_in(...)`` in a query."""
    s = t.finding_review_state.c
    return select(s.finding_id).where(s.status == SUPPRESSED)


def suppressed_finding_ids(conn: Connection, finding_ids: Iterable[str]) -> set[str]:
    """Which of ``finding_ids`` are suppressed now: the digest leaves these out of its worklist."""
    ids = sorted(set(finding_ids))
    s = t.finding_review_state.c
    out: set[str] = set()
    for i in range(0, len(ids), _IN_CHUNK):
        out.update(conn.scalars(select(s.finding_id)
                                .where(s.status == SUPPRESSED, s.finding_id.in_(ids[i:i + _IN_CHUNK]))))
    return out
