"""Read, for one audit day, the slice of the claim history the rules need.

Only the patients seen that day are read (their lines through ``ix_line_patient_dos``), and
only claim versions current *as of that day*: received on or before it, not a void, and not
superseded by a version received on or before it. So a rerun or backfill of a day gives the
same answer however much later data has been loaded since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Engine

from claimaudit.store.schema import claim, diagnosis, interchange, service_line

VOID = "8"


@dataclass
class HistorySlice:
    lines: pd.DataFrame  # every current line of the day's patients, received on or before the day
    diagnoses: pd.DataFrame  # diagnoses of those lines' claims
    claims: pd.DataFrame  # the current claims received on the day


def _current_as_of(day: date):
    """Filter on ``claim`` (joined to its successor ``later``) for versions current on ``day``."""
    later = claim.alias("later")
    cond = and_(
        claim.c.received_date <= day,
        claim.c.frequency_code != VOID,
        or_(claim.c.superseded_by.is_(None), later.c.received_date > day),
    )
    return later, cond


def _frame(conn, stmt) -> pd.DataFrame:
    result = conn.execute(stmt)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def read_history(engine: Engine, day: date) -> HistorySlice:
    later, current = _current_as_of(day)
    seen_today = select(service_line.c.patient_key).where(service_line.c.received_date == day).distinct()
    claim_cols = [
        claim.c.transaction_type, claim.c.payer_class, claim.c.frequency_code, claim.c.billing_npi,
        claim.c.source_file, claim.c.interchange_control, claim.c.sender_id,
    ]
    lines_stmt = (
        select(*[c for c in service_line.c], *claim_cols, interchange.c.interchange_date)
        .select_from(
            service_line.join(claim, claim.c.claim_key == service_line.c.claim_key)
            .outerjoin(later, later.c.claim_key == claim.c.superseded_by)
            .outerjoin(interchange, and_(interchange.c.sender_id == claim.c.sender_id,
                                         interchange.c.interchange_control == claim.c.interchange_control))
        )
        .where(service_line.c.patient_key.in_(seen_today), current)
    )
    dx_stmt = (
        select(diagnosis.c.claim_key, diagnosis.c.position, diagnosis.c.code)
        .select_from(diagnosis.join(claim, claim.c.claim_key == diagnosis.c.claim_key)
                     .outerjoin(later, later.c.claim_key == claim.c.superseded_by))
        .where(claim.c.patient_key.in_(seen_today), current)
    )
    claims_stmt = (
        select(claim.c.claim_key, claim.c.claim_id, claim.c.total_charge, claim.c.billing_npi,
               claim.c.rendering_npi, claim.c.payer_class, claim.c.source_file, claim.c.interchange_control)
        .select_from(claim.outerjoin(later, later.c.claim_key == claim.c.superseded_by))
        .where(claim.c.received_date == day, current)
    )
    with engine.connect() as conn:
        lines = _frame(conn, lines_stmt)
        dx = _frame(conn, dx_stmt)
        claims = _frame(conn, claims_stmt)
    return HistorySlice(lines=lines, diagnoses=dx, claims=claims)
