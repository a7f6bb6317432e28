"""NCCI columns of the line view (issue 13): the edit sets in force at each line's date of service,
PTP pairs and MUE limits read for the day's codes only, and which lines no edit set covered.

Columns (rows outside the day's touched patient-days are left clear and unchecked):
  ``ncci_ptp_checked`` / ``ncci_mue_checked``  an edit set of the line's table covers its DOS
  ``ncci_ptp0_clear``   no pair with modifier indicator 0 makes this line the column-two code
  ``ncci_ptp1_clear``   no pair with indicator 1 makes it the column-two code without an
                        NCCI-associated modifier on this line
  ``ncci_mue_line_clear``  MAI 1: the line's units are within the MUE
  ``ncci_mue_day_clear``   MAI 2/3: the provider's units of the code for the patient and day are within it
  ``ncci_*_detail``     the pair or limit and the edit-set version, for the finding's message
  ``ncci_ptp_edit_set`` / ``ncci_mue_edit_set``  the version applied to the line

A pair is "the same patient, same provider, same date of service": provider is the line's
rendering NPI on an 837P (else the billing NPI), the billing NPI on an 837I. Practitioner tables
apply to 837P lines, hospital outpatient tables to 837I lines. A PTP row is in effect when
effective date <= DOS and (no deletion date or DOS < deletion date); indicator 9 never fires.
"""

from __future__ import annotations

import json
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from claimaudit.ncci.importer import display_quarter
from claimaudit.ncci.lookup import edit_sets_in_force, has_tables, mue_limits, ptp_pairs

MODIFIERS_FILE = Path(__file__).resolve().parent.parent / "ncci" / "associated_modifiers.json"
NO_DOS = "no date of service"


@lru_cache(maxsize=1)
def associated_modifiers() -> frozenset[str]:
    doc = json.loads(MODIFIERS_FILE.read_text(encoding="utf-8"))
    return frozenset(m for key in ("anatomic", "global_surgery", "other") for m in doc[key])


def _has_associated(modifiers: pd.Series) -> np.ndarray:
    allowed = associated_modifiers()
    return np.array([bool(allowed.intersection(str(m).split(","))) if isinstance(m, str) and m else False
                     for m in modifiers], dtype=bool)


def _quarters(dos: pd.Series) -> pd.Series:
    q = dos.dt.year.astype("Int64").astype(str) + "Q" + ((dos.dt.month - 1) // 3 + 1).astype("Int64").astype(str)
    return q.where(dos.notna(), None)


def _set_ids(sets: pd.DataFrame, kind: str, table: np.ndarray, quarter: pd.Series) -> pd.Series:
    """Edit-set id per row for ``kind`` (NaN where none covers the row's table and quarter)."""
    s = sets[sets["kind"] == kind]
    key = pd.Series(table, index=quarter.index) + "|" + quarter.fillna("")
    lookup = dict(zip(s["table_kind"] + "|" + s["quarter"], s["edit_set_id"]))
    return key.map(lookup).astype("float64")


def _join_details(index: np.ndarray, details: list[str], n: int) -> np.ndarray:
    out = np.full(n, "", dtype=object)
    if len(index):
        joined = pd.Series(details, index=index).groupby(level=0).agg("; ".join)
        out[joined.index.to_numpy()] = joined.to_numpy()
    return out


def add_ncci_columns(engine: Engine, lines: pd.DataFrame, day: date) -> tuple[pd.DataFrame, dict]:
    """The line view with the NCCI columns, and what the run records: the edit sets used and the
    audited (received today) lines no edit set covered, by quarter."""
    n = len(lines)
    cols: dict[str, np.ndarray] = {
        "ncci_ptp_checked": np.zeros(n, bool), "ncci_mue_checked": np.zeros(n, bool),
        "ncci_ptp0_clear": np.ones(n, bool), "ncci_ptp1_clear": np.ones(n, bool),
        "ncci_mue_line_clear": np.ones(n, bool), "ncci_mue_day_clear": np.ones(n, bool),
        "ncci_ptp0_detail": np.full(n, "", object), "ncci_ptp1_detail": np.full(n, "", object),
        "ncci_mue_line_detail": np.full(n, "", object), "ncci_mue_day_detail": np.full(n, "", object),
        "ncci_ptp_edit_set": np.full(n, "", object), "ncci_mue_edit_set": np.full(n, "", object),
    }
    info = {"edit_sets": [], "unchecked": {}}
    dos = lines["date_of_service"]
    today = lines["received_today"].to_numpy(dtype=bool)
    scope = lines["touched_day"].to_numpy(dtype=bool) & dos.notna().to_numpy()
    quarter = _quarters(dos)
    table = np.where(lines["transaction_type"].to_numpy() == "P", "practitioner", "hospital")

    sets = pd.DataFrame(columns=["edit_set_id", "kind", "table_kind", "quarter", "label"])
    if scope.any():
        with engine.connect() as conn:
            if has_tables(conn):
                sets = edit_sets_in_force(conn, dos[scope].min().date(), dos[scope].max().date())
            ptp_id = _set_ids(sets, "ptp", table, quarter)
            mue_id = _set_ids(sets, "mue", table, quarter)
            labels = dict(zip(sets["edit_set_id"].astype("float64"), sets["label"]))
            cols["ncci_ptp_checked"] = scope & ptp_id.notna().to_numpy()
            cols["ncci_mue_checked"] = scope & mue_id.notna().to_numpy()
            cols["ncci_ptp_edit_set"] = ptp_id.map(labels).fillna("").to_numpy(dtype=object)
            cols["ncci_mue_edit_set"] = mue_id.map(labels).fillna("").to_numpy(dtype=object)
            frame = pd.DataFrame({
                "row": np.arange(n), "patient_key": lines["patient_key"].to_numpy(),
                "provider": _provider(lines), "dos": dos.to_numpy(), "code": lines["procedure_code"].to_numpy(),
                "modifiers": lines["modifiers"].to_numpy(), "units": lines["units"].to_numpy(dtype="float64"),
                "ptp_id": ptp_id.to_numpy(), "mue_id": mue_id.to_numpy()})
            if cols["ncci_ptp_checked"].any():
                _ptp(conn, frame[cols["ncci_ptp_checked"]], labels, cols)
            if cols["ncci_mue_checked"].any():
                _mue(conn, frame[cols["ncci_mue_checked"]], labels, cols)
    used = sorted(set(cols["ncci_ptp_edit_set"][today]) | set(cols["ncci_mue_edit_set"][today]) - {""})
    info["edit_sets"] = [u for u in used if u]
    unchecked = today & ~(cols["ncci_ptp_checked"] & cols["ncci_mue_checked"])
    if unchecked.any():
        # "2025-Q2" when nothing covers the line; "2025-Q2 MUE hospital" when only that table is missing.
        ptp_ok, mue_ok = cols["ncci_ptp_checked"][unchecked], cols["ncci_mue_checked"][unchecked]
        missing = np.where(ptp_ok, " MUE ", np.where(mue_ok, " PTP ", ""))
        tables = np.where(ptp_ok | mue_ok, table[unchecked], "")
        q = [(display_quarter(v) if isinstance(v, str) else NO_DOS) + (m + t if t else "")
             for v, m, t in zip(quarter[unchecked], missing, tables)]
        info["unchecked"] = {k: int(v) for k, v in pd.Series(q).value_counts().sort_index().items()}
    out = pd.concat([lines, pd.DataFrame(cols, index=lines.index)], axis=1)
    return out, info


def _provider(lines: pd.DataFrame) -> np.ndarray:
    rendering = lines["rendering_npi"].fillna("").astype(str)
    billing = lines["billing_npi"].fillna("").astype(str)
    prof = (lines["transaction_type"] == "P") & (rendering != "")
    return np.where(prof.to_numpy(), rendering.to_numpy(dtype=object), billing.to_numpy(dtype=object))


def _ptp(conn, c: pd.DataFrame, labels: dict, cols: dict) -> None:
    codes = sorted(c["code"].dropna().unique().tolist())
    set_ids = sorted(int(x) for x in c["ptp_id"].unique())
    pairs = ptp_pairs(conn, set_ids, codes)
    pairs = pairs[pairs["modifier_indicator"] != 9]
    if pairs.empty:
        return
    pairs = pairs.assign(ptp_id=pairs["edit_set_id"].astype("float64"))
    key = ["patient_key", "provider", "dos", "ptp_id"]
    col1 = c[c["code"].isin(pairs["column1"])][key + ["row", "code"]]
    col2 = c[c["code"].isin(pairs["column2"])][key + ["row", "code", "modifiers"]]
    m = col2.merge(col1, on=key, suffixes=("_2", "_1"))
    m = m[m["row_2"] != m["row_1"]]
    m = m.merge(pairs, left_on=["ptp_id", "code_1", "code_2"], right_on=["ptp_id", "column1", "column2"])
    live = (m["effective_date"] <= m["dos"]) & (m["deletion_date"].isna() | (m["dos"] < m["deletion_date"]))
    m = m[live.to_numpy()].drop_duplicates(["row_2", "code_1", "modifier_indicator"])
    if m.empty:
        return
    n = len(cols["ncci_ptp0_clear"])
    for indicator, clear, detail in ((0, "ncci_ptp0_clear", "ncci_ptp0_detail"),
                                     (1, "ncci_ptp1_clear", "ncci_ptp1_detail")):
        hit = m[m["modifier_indicator"] == indicator]
        if indicator == 1:
            hit = hit[~_has_associated(hit["modifiers"])]
        if hit.empty:
            continue
        rows = hit["row_2"].to_numpy()
        cols[clear][rows] = False
        why = "no modifier bypasses it" if indicator == 0 else "no NCCI-associated modifier on this line"
        text = [f"Pair {a} (column one) / {b} (column two), modifier indicator {indicator} ({why}), "
                f"NCCI {labels.get(s, '')}." for a, b, s in zip(hit["code_1"], hit["code_2"], hit["ptp_id"])]
        cols[detail] = np.where(cols[clear], cols[detail], _join_details(rows, text, n))


def _mue(conn, c: pd.DataFrame, labels: dict, cols: dict) -> None:
    codes = sorted(c["code"].dropna().unique().tolist())
    set_ids = sorted(int(x) for x in c["mue_id"].unique())
    limits = mue_limits(conn, set_ids, codes)
    if limits.empty:
        return
    limits = limits.assign(mue_id=limits["edit_set_id"].astype("float64"))
    m = c.merge(limits, left_on=["mue_id", "code"], right_on=["mue_id", "code"])
    if m.empty:
        return
    units = m["units"].fillna(0.0)
    line = m[(m["mai"] == 1).to_numpy() & (units > m["mue_value"]).to_numpy()]
    if not line.empty:
        rows = line["row"].to_numpy()
        cols["ncci_mue_line_clear"][rows] = False
        cols["ncci_mue_line_detail"][rows] = [
            f"{u:g} units of {code} on one line; the MUE is {v} per line ({t}), NCCI {labels.get(s, '')}."
            for u, code, v, t, s in zip(line["units"].fillna(0), line["code"], line["mue_value"], line["mai_text"],
                                        line["mue_id"])]
    day = m[(m["mai"] != 1).to_numpy()]
    if not day.empty:
        total = day.assign(_u=day["units"].fillna(0.0)).groupby(
            ["patient_key", "provider", "dos", "code", "mue_id"])["_u"].transform("sum")
        over = day[(total > day["mue_value"]).to_numpy()]
        total = total[(total > day["mue_value"]).to_numpy()]
        rows = over["row"].to_numpy()
        cols["ncci_mue_day_clear"][rows] = False
        cols["ncci_mue_day_detail"][rows] = [
            f"{u:g} units of {code} for this patient, provider and date of service; the MUE is {v} per day "
            f"({t}), NCCI {labels.get(s, '')}."
            for u, code, v, t, s in zip(total, over["code"], over["mue_value"], over["mai_text"], over["mue_id"])]
