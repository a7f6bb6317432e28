"""Read, for one audit day, the slice of the claim history the rules need.

Only the patients seen that day are read (their lines through ``ix_line_patient_dos``), and
only claim versions current *as of that day*: received on or before it, not a void, and no
other version of the same lineage received on or before it that ranks later in the store's
order (received_date, interchange date, load order; see store/history.py). So a rerun or
backfill of a day gives the same answer however much later data has been loaded since.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import Date, and_, exists, func, literal, or_, select, true
from sqlalchemy.engine import Engine

from claimaudit.store.schema import claim, diagnosis, service_line

VOID = "8"
_NO_DATE = date.min  # a missing interchange date sorts first, as in store.history.apply_supersession


@dataclass
class HistorySlice:
    lines: pd.DataFrame  # every current line of the day's patients, received on or before the day
    diagnoses: pd.DataFrame  # diagnoses of those lines' claims
    claims: pd.DataFrame  # the current claims received on the day


def _ranks_after(later, version):
    """``later`` comes after ``version`` in the lineage order the store uses."""
    no_date = literal(_NO_DATE, Date)
    later_isa = func.coalesce(later.c.interchange_date, no_date)
    version_isa = func.coalesce(version.c.interchange_date, no_date)
    return or_(
        later.c.received_date > version.c.received_date,
        and_(later.c.received_date == version.c.received_date,
             or_(later_isa > version_isa,
                 and_(later_isa == version_isa, later.c.load_seq > version.c.load_seq))),
    )


def current_as_of(day: date):
    """Filter on ``claim``: versions current on ``day``.

    superseded_by is NULL only for a lineage's latest version overall, which is then also the
    latest as of any day: those skip the NOT EXISTS probe (most claims have one version). The
    probe itself reads the lineage through ix_claim_lineage (billing_npi, lineage_ref).
    """
    later = claim.alias("later")
    newer_by_day = exists().where(
        later.c.billing_npi == claim.c.billing_npi,
        later.c.lineage_ref == claim.c.lineage_ref,
        later.c.received_date <= day,
        _ranks_after(later, claim),
    )
    return and_(
        claim.c.received_date <= day,
        claim.c.frequency_code != VOID,
        or_(claim.c.superseded_by.is_(None), ~newer_by_day),
    )


# Columns returned as datetime64[s] (what pd.to_datetime makes of date objects), whichever way
# the driver delivers dates (ISO text from SQLite, date objects from psycopg).
DATE_COLUMNS = ("received_date", "date_of_service", "interchange_date")


_FETCH_ROWS = 20_000  # rows per fetch: bounds the driver's tuples held at once (100k cost 75 MiB more)


def _shared_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Make equal strings of a text column one object. The driver returns a new string per value;
    a slice repeats file names, codes and keys hundreds of thousands of times."""
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.StringDtype):
            codes, uniques = pd.factorize(column)
            frame[name] = pd.Series(uniques.take(codes, allow_fill=True), index=frame.index, dtype=column.dtype)
    return frame


def _frame(conn, stmt) -> pd.DataFrame:
    """Run a SELECT on the driver's own cursor and build the frame column by column.

    A slice is hundreds of thousands of rows: SQLAlchemy's Row objects and per-value type
    processing cost more than the query itself. The statements carry only dates and constants,
    rendered as SQL literals."""
    sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cur = conn.connection.dbapi_connection.cursor()
    parts = []
    try:
        cur.execute(sql)
        names = [d[0] for d in cur.description]
        while rows := cur.fetchmany(_FETCH_ROWS):
            parts.append(_shared_strings(pd.DataFrame.from_records(rows, columns=names, coerce_float=False)))
            del rows
    finally:
        cur.close()
    if not parts:
        frame = pd.DataFrame({n: pd.Series(dtype=object) for n in names})
    elif len(parts) == 1:
        frame = parts[0]
    else:
        # A part whose column was all NULL came out as object: infer again over the whole column.
        # (Strings stay shared within each part: at most one copy of a value per part.)
        frame = pd.concat(parts, ignore_index=True).infer_objects()
    del parts
    for name in DATE_COLUMNS:
        if name in frame:
            frame[name] = pd.to_datetime(frame[name], format="ISO8601").astype("datetime64[s]")
    return frame


@dataclass(frozen=True)
class PatientPart:
    """The day's patients whose keys lie in [first_patient, last_patient] (inclusive)."""

    first_patient: str
    last_patient: str
    patients: int
    slice_lines: int  # their lines received on or before the day (what the rules will read, about)


def plan_parts(engine: Engine, day: date, max_lines: int) -> list[PatientPart]:
    """Cut the patients seen on ``day`` into key ranges of at most ``max_lines`` history lines.

    Every view and rule works within one patient (their day, their course, their claims), so
    auditing the ranges one by one gives the same findings as auditing all at once, with memory
    bounded by the part and parts that can run side by side. A patient is never split; one
    with more lines than ``max_lines`` gets a part of their own. An ordinary day is one part.
    Counts come from ``ix_line_patient_dos`` and ``ix_line_received``; no line is read.
    """
    seen_today = select(service_line.c.patient_key).where(service_line.c.received_date == day).distinct()
    stmt = (select(service_line.c.patient_key, func.count())
            .where(service_line.c.patient_key.in_(seen_today), service_line.c.received_date <= day)
            .group_by(service_line.c.patient_key).order_by(service_line.c.patient_key))
    with engine.connect() as conn:
        counts = conn.execute(stmt).all()
    # As few parts as max_lines allows, of about equal size (so that tasks sharing them out
    # finish together): 1.08M lines at 200k are six parts of 180k, not five of 200k and one of 81k.
    weights = [n for _, n in counts]
    parts = []
    for run in split_in_order(weights, math.ceil(sum(weights) / max_lines), cap=max_lines):
        keys = [counts[i][0] for i in run]
        parts.append(PatientPart(keys[0], keys[-1], len(run), sum(weights[i] for i in run)))
    return parts


def split_in_order(weights: list[int], runs: int, cap: float = math.inf) -> list[range]:
    """Cut a sequence into at most ``runs`` consecutive runs of about equal weight, more only where
    a run would exceed ``cap``. An item whose middle lies past the next multiple of the equal share
    starts a new run; no run is empty. Also shares rule parts out over tasks (pipeline.plan_rules)."""
    if not weights:
        return []
    share = sum(weights) / max(1, runs)
    starts, run_weight, done = [0], 0, 0
    for i, w in enumerate(weights):
        if i > starts[-1] and (run_weight + w > cap or (len(starts) < runs and done + w / 2 > share * len(starts))):
            starts.append(i)
            run_weight = 0
        run_weight += w
        done += w
    return [range(a, b) for a, b in zip(starts, starts[1:] + [len(weights)])]


def read_history(engine: Engine, day: date, part: PatientPart | None = None) -> HistorySlice:
    """The day's slice, or with ``part`` only that key range of the day's patients."""
    current = current_as_of(day)
    seen_today = select(service_line.c.patient_key).where(service_line.c.received_date == day).distinct()
    in_part = lines_in_part = true()
    if part is not None:
        # The range on each table (not only on the day's patients) lets the planner read the
        # part's rows of claim and service_line through their patient indexes.
        lines_in_part = service_line.c.patient_key.between(part.first_patient, part.last_patient)
        in_part = claim.c.patient_key.between(part.first_patient, part.last_patient)
        seen_today = seen_today.where(lines_in_part)
    claim_cols = [
        claim.c.transaction_type, claim.c.payer_class, claim.c.frequency_code, claim.c.billing_npi,
        claim.c.source_file, claim.c.interchange_control, claim.c.sender_id,
    ]
    # claim.interchange_date is the ISA09 of the claim's interchange (the loader copies it), so
    # no join to ``interchange`` per line.
    lines_stmt = (
        select(*[c for c in service_line.c], *claim_cols, claim.c.interchange_date)
        .select_from(service_line.join(claim, claim.c.claim_key == service_line.c.claim_key))
        .where(service_line.c.patient_key.in_(seen_today), lines_in_part, in_part, current)
    )
    dx_stmt = (
        select(diagnosis.c.claim_key, diagnosis.c.position, diagnosis.c.qualifier, diagnosis.c.code)
        .select_from(diagnosis.join(claim, claim.c.claim_key == diagnosis.c.claim_key))
        .where(claim.c.patient_key.in_(seen_today), in_part, current)
    )
    claims_stmt = (
        select(claim.c.claim_key, claim.c.claim_id, claim.c.total_charge, claim.c.billing_npi,
               claim.c.rendering_npi, claim.c.payer_class, claim.c.source_file, claim.c.interchange_control)
        .where(claim.c.received_date == day, in_part, current)
    )
    with engine.connect() as conn:
        lines = _frame(conn, lines_stmt)
        dx = _frame(conn, dx_stmt)
        claims = _frame(conn, claims_stmt)
    return HistorySlice(lines=lines, diagnoses=dx, claims=claims)
