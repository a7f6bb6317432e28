"""Read the edit sets in force for a day's dates of service, and only the rows for its codes."""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import Connection, func, inspect, select

from claimaudit.ncci.tables import ncci_edit_set, ncci_mue, ncci_ptp

_IN_CHUNK = 500


def has_tables(conn: Connection) -> bool:
    return inspect(conn).has_table("ncci_edit_set")


def edit_sets_in_force(conn: Connection, first: date, last: date) -> pd.DataFrame:
    """The latest version of each (kind, table_kind, quarter) whose quarter overlaps first..last."""
    c = ncci_edit_set.c
    latest = (select(c.kind, c.table_kind, c.quarter, func.max(c.edit_set_id).label("edit_set_id"))
              .where(c.valid_from <= last, c.valid_to >= first)
              .group_by(c.kind, c.table_kind, c.quarter).subquery())
    stmt = (select(c.edit_set_id, c.kind, c.table_kind, c.quarter, c.label)
            .join(latest, latest.c.edit_set_id == c.edit_set_id))
    return pd.DataFrame(conn.execute(stmt).all(), columns=["edit_set_id", "kind", "table_kind", "quarter", "label"])


def ptp_pairs(conn: Connection, set_ids: list[int], codes: list[str]) -> pd.DataFrame:
    """PTP rows of those edit sets whose column one and column two are both among ``codes``."""
    c = ncci_ptp.c
    cols = [c.edit_set_id, c.column1, c.column2, c.effective_date, c.deletion_date, c.modifier_indicator]
    rows = []
    code_set = set(codes)
    for i in range(0, len(codes), _IN_CHUNK):
        stmt = select(*cols).where(c.edit_set_id.in_(set_ids), c.column1.in_(codes[i:i + _IN_CHUNK]),
                                   c.column2.in_(codes) if len(codes) <= _IN_CHUNK else c.column2.isnot(None))
        rows += [r for r in conn.execute(stmt).all() if r[2] in code_set]
    frame = pd.DataFrame(rows, columns=["edit_set_id", "column1", "column2", "effective_date", "deletion_date",
                                        "modifier_indicator"])
    for col in ("effective_date", "deletion_date"):
        frame[col] = pd.to_datetime(frame[col])
    return frame


def mue_limits(conn: Connection, set_ids: list[int], codes: list[str]) -> pd.DataFrame:
    c = ncci_mue.c
    rows = []
    for i in range(0, len(codes), _IN_CHUNK):
        rows += conn.execute(select(c.edit_set_id, c.code, c.mue_value, c.mai, c.mai_text).where(
            c.edit_set_id.in_(set_ids), c.code.in_(codes[i:i + _IN_CHUNK]))).all()
    return pd.DataFrame(rows, columns=["edit_set_id", "code", "mue_value", "mai", "mai_text"])
