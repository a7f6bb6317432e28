"""Audit views: the frames the expectation suites validate.

Columns are generic and derived from the reference data, so a new rule is a new expectation
over existing columns (or a new code list), not new Python:

line view, one row per current service line of the day's patients:
  ``in_<list>``                 line belongs to the code list at its date of service
  ``day_n_<list>``              lines of the list on the patient's same date of service (any claim)
  ``day_today_n_<list>``        of those, the lines received on the audit day
  ``day_seq_<list>``            1, 2, ... among those lines: first received first, lines carrying a
                                repeat or distinct-session modifier (lists ``modifier_repeat_session``,
                                ``modifier_distinct_session``) last
  ``day_prior_n_<list>``        lines of the list before this one in that order (so "the second line")
  ``dup_claim_seq``             1 for the first claim with this patient, billing and rendering NPI,
                                code, modifiers and date; 2.. for later claims
  ``course_*``                  the treatment course (deliveries at most ``course_gap_days`` apart,
                                planning lines up to ``plan_lookback_days`` before): first/last date,
                                ``course_delivery_seq``, ``course_fx_ceiling``, ``course_inside``, and
                                per list ``course_n_``, ``course_units_``, ``course_n_<list>_by_start``
                                (lines on or before the first delivery), ``course_cumunits_`` (running),
                                and per component (26 vs technical/global) ``course_comp_units_``,
                                ``course_comp_cumunits_``
  ``claim_radiation_oncology``  the line's claim carries a code of list ``radiation_oncology`` (all
                                views): suites audit only those claims
  ``received_today``, ``touched_day``, ``touched_course``: which rows each suite audits
claim view, one row per current claim received that day (charges, NPI check digits)
diagnosis view, one row per diagnosis of those claims, with ``in_<list>`` for the qualifier lists
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from claimaudit.rules.history import HistorySlice
from claimaudit.rules.reference import Reference, ceiling_at, membership, threshold_at

REPEAT_MODIFIER_LIST = "modifier_repeat_session"
# Lines with any of these modifiers sort after the plain lines of their day: they are "the second".
SESSION_MODIFIER_LISTS = (REPEAT_MODIFIER_LIST, "modifier_distinct_session")
PROFESSIONAL_MODIFIER_LIST = "modifier_professional"
NEOPLASM_LIST = "neoplasm_dx"
# A claim is audited only when it carries a code of this list (other departments' claims in the
# same extract are read, counted and left alone).
RADONC_LIST = "radiation_oncology"
RADONC_COLUMN = "claim_radiation_oncology"
FINDING_COLUMNS = ("claim_key", "claim_id", "date_of_service", "procedure_code", "modifiers", "source_file",
                   "interchange_control", "billing_npi", "payer_class")
LINE_ORDER = ["received_date", "claim_id", "claim_key", "line_number"]
# Sorting and grouping run on integer ranks of the string keys (same order): pandas would hash
# the strings again for every sort and groupby over a slice of hundreds of thousands of rows.
_RANKED = {"patient_key": "_pk", "claim_id": "_cid", "claim_key": "_ck", "procedure_code": "_pc",
           "modifiers": "_mod", "billing_npi": "_bnpi", "rendering_npi": "_rnpi"}
_LINE_ORDER = ["received_date", "_cid", "_ck", "line_number"]  # LINE_ORDER on the ranks


@dataclass
class AuditViews:
    lines: pd.DataFrame
    claims: pd.DataFrame
    diagnoses: pd.DataFrame

    def get(self, name: str) -> pd.DataFrame:
        if name not in ("lines", "claims", "diagnoses"):
            raise KeyError(f"unknown audit view {name!r}")
        return getattr(self, name)


def build_views(history: HistorySlice, ref: Reference, day: date) -> AuditViews:
    lines = build_line_view(history.lines, history.diagnoses, ref, day)
    return AuditViews(lines=lines, claims=build_claim_view(history.claims, lines),
                      diagnoses=build_diagnosis_view(history.claims, history.diagnoses, lines, ref))


# ---------------------------------------------------------------------------------------------- lines

def _line_diagnoses(lines: pd.DataFrame, dx: pd.DataFrame) -> pd.DataFrame:
    """(_row, dx_order, code) per diagnosis of a line: 837P through SV1-07 pointers, 837I every claim
    code. ``_row`` is the line's position in ``lines``; claims join on their rank ``_ck`` (integers
    join faster than the string keys), and each distinct pointer string is split once."""
    claims = lines.drop_duplicates("_ck")
    dx_ck = pd.Index(claims["claim_key"]).get_indexer(dx["claim_key"])
    known = dx_ck >= 0  # an inner join: diagnoses of claims without a line in the slice drop out
    dx = pd.DataFrame({"_ck": claims["_ck"].to_numpy()[dx_ck[known]],
                       "position": dx["position"].to_numpy()[known], "code": dx["code"][known].reset_index(drop=True)})
    rows = pd.DataFrame({"_row": np.arange(len(lines)), "_ck": lines["_ck"].to_numpy()})
    is_prof = (lines["transaction_type"] == "P").to_numpy(dtype=bool)
    prof = rows[is_prof]
    codes, uniques = pd.factorize(lines["dx_pointers"][is_prof])
    prof = prof.assign(_ptr=codes)
    ptr = _pointer_positions(pd.Series(uniques, dtype=lines["dx_pointers"].dtype))
    prof_dx = prof.merge(ptr, on="_ptr", how="inner").merge(dx, on=["_ck", "position"], how="inner")
    inst_dx = rows[~is_prof].merge(dx, on="_ck", how="inner")
    inst_dx["dx_order"] = inst_dx["position"]
    cols = ["_row", "dx_order", "code"]
    return pd.concat([prof_dx[cols], inst_dx[cols]], ignore_index=True)


def _pointer_positions(pointers: pd.Series) -> pd.DataFrame:
    """(_ptr, position, dx_order) for each distinct SV1-07 string: "1,3" -> positions 1 and 3 in that
    order; empty or non-numeric pointers are dropped."""
    ptr = pd.DataFrame({"_ptr": np.arange(len(pointers)), "position": pointers.str.split(",")}).explode("position")
    ptr = ptr[ptr["position"].notna() & (ptr["position"] != "")]
    ptr["position"] = pd.to_numeric(ptr["position"], errors="coerce")
    ptr = ptr.dropna(subset=["position"])
    ptr["position"] = ptr["position"].astype("int64")
    ptr["dx_order"] = ptr.groupby("_ptr").cumcount()
    return ptr


class _DistinctPairs:
    """A column and the dates of service, reduced to their distinct (value, date) pairs.

    Membership of a code list depends only on the value and the date, and a day's slice has a few
    thousand distinct pairs for hundreds of thousands of rows: each list is checked once per pair
    and the answer spread back to the rows."""

    def __init__(self, values: pd.Series, dos: pd.Series):
        v_codes, v_uniques = pd.factorize(values, use_na_sentinel=False)
        d_codes, d_uniques = pd.factorize(dos, use_na_sentinel=False)
        combined = v_codes.astype("int64") * max(len(d_uniques), 1) + d_codes
        pair_codes, self._inverse = np.unique(combined, return_inverse=True)
        width = max(len(d_uniques), 1)
        self._values = pd.Series(np.asarray(v_uniques, dtype=object)[pair_codes // width], dtype=values.dtype)
        self._dos = pd.Series(d_uniques.take(pair_codes % width)) if len(d_uniques) else pd.Series(dos.iloc[:0])

    def membership(self, code_list) -> np.ndarray:
        return membership(self._values, self._dos, code_list)[self._inverse.reshape(-1)]


def _rank(values: pd.Series) -> np.ndarray:
    """Dense ranks in sort order; a missing value ranks last, as sort_values puts it."""
    codes, uniques = pd.factorize(values, sort=True)
    return np.where(codes < 0, len(uniques), codes)


def _left_join(df: pd.DataFrame, right: pd.DataFrame, on: list[str], columns: list[str]) -> pd.DataFrame:
    """``df.merge(right[on + columns], on=on, how="left")`` for a right side with unique keys, without
    copying the wide line view: each new column is gathered by position and appended (same dtypes,
    NaN/NaT where nothing matches). Duplicate right keys raise instead of multiplying rows."""
    if len(on) == 1:
        left_key, right_key = pd.Index(df[on[0]]), pd.Index(right[on[0]])
    else:
        left_key, right_key = pd.MultiIndex.from_frame(df[on]), pd.MultiIndex.from_frame(right[on])
    pos = right_key.get_indexer(left_key)
    for name in columns:
        df[name] = right[name].reset_index(drop=True).reindex(pos).set_axis(df.index)
    return df


def _put_rows(df: pd.DataFrame, rows, right: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Columns of ``right`` set on the lines at positions ``rows`` (one right row per line at most),
    NaN/NaT elsewhere: a left join on the line whose key is its position."""
    pos = np.full(len(df), -1, dtype=np.intp)
    pos[np.asarray(rows, dtype=np.intp)] = np.arange(len(right))
    for name in columns:
        df[name] = right[name].reset_index(drop=True).reindex(pos).set_axis(df.index)
    return df


def build_line_view(lines: pd.DataFrame, dx: pd.DataFrame, ref: Reference, day: date) -> pd.DataFrame:
    df = lines.copy()
    df["date_of_service"] = pd.to_datetime(df["date_of_service"])
    df["received_date"] = pd.to_datetime(df["received_date"])
    df["interchange_date"] = pd.to_datetime(df["interchange_date"])
    df["units"] = pd.to_numeric(df["units"]).astype("float64")
    df["line_number"] = df["line_number"].astype("int64")
    for column, rank in _RANKED.items():
        df[rank] = _rank(df[column])
    df = df.sort_values(["_pk", "date_of_service"] + _LINE_ORDER, kind="stable").reset_index(drop=True)
    dos = df["date_of_service"]
    df["received_today"] = (df["received_date"] == pd.Timestamp(day)).to_numpy()
    df["dos_days_after_interchange"] = (dos - df["interchange_date"]).dt.days

    # Membership flags per code list at the line's date of service.
    line_dx = _line_diagnoses(df, dx)
    line_dx["date_of_service"] = dos.take(line_dx["_row"].to_numpy()).reset_index(drop=True)
    pairs = {"diagnosis": _DistinctPairs(line_dx["code"], line_dx["date_of_service"])}
    proc_lists, flags = [], {}
    for name, cl in ref.code_lists.items():
        if cl.field == "qualifier":
            continue  # diagnosis view only
        if cl.field == "diagnosis":
            hit = pairs["diagnosis"].membership(cl)
            flag = np.zeros(len(df), dtype=bool)
            flag[line_dx["_row"].to_numpy()[hit]] = True
            flags[f"in_{name}"] = flag
        else:
            if cl.field not in pairs:
                pairs[cl.field] = _DistinctPairs(df[cl.field], dos)
            flags[f"in_{name}"] = pairs[cl.field].membership(cl)
            if cl.field == "procedure_code":
                proc_lists.append(name)
    if f"in_{RADONC_LIST}" in flags:
        radonc = pd.Series(flags[f"in_{RADONC_LIST}"], index=df.index)
        flags[RADONC_COLUMN] = radonc.groupby(df["_ck"]).transform("any").to_numpy(dtype=bool)
    else:
        flags[RADONC_COLUMN] = np.ones(len(df), dtype=bool)  # no scope list: every claim is audited
    df = pd.concat([df, pd.DataFrame(flags, index=df.index)], axis=1)

    # First-listed neoplasm code of each line (for the course's fraction ceiling).
    if NEOPLASM_LIST in ref.code_lists:
        neo = line_dx[pairs["diagnosis"].membership(ref.code_lists[NEOPLASM_LIST])]
        neo = neo.sort_values("dx_order", kind="stable").drop_duplicates("_row")
        df = _put_rows(df, neo["_row"], neo.rename(columns={"code": "first_neoplasm_dx"}), ["first_neoplasm_dx"])
    else:
        df["first_neoplasm_dx"] = pd.NA

    df = _add_day_columns(df, proc_lists)
    _add_duplicate_column(df)
    df = _add_course_columns(df, ref, proc_lists)
    return df.drop(columns=list(_RANKED.values()))


def _sorted_positions(df: pd.DataFrame, keys: list[str], extra: dict | None = None) -> np.ndarray:
    """Row positions of ``df`` (a RangeIndex frame) in a stable sort on ``keys``: only those columns
    are sorted, not the wide line view."""
    narrow = pd.DataFrame({k: (extra[k] if extra and k in extra else df[k].to_numpy()) for k in keys})
    return narrow.sort_values(keys, kind="stable").index.to_numpy()


def _runs(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An ordered sequence's runs of equal keys: (start position, length) of each run."""
    n = len(keys[0])
    if n == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for k in keys:
        change[1:] |= k[1:] != k[:-1]
    starts = np.flatnonzero(change)
    return starts, np.diff(np.append(starts, n))


def _run_sum(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Each row's run total (integers: exact)."""
    if len(values) == 0:
        return values.copy()
    return np.repeat(np.add.reduceat(values, starts), lengths)


def _run_cumsum(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Running total within each run (integers: exact)."""
    total = np.cumsum(values)
    if len(values) == 0:
        return total
    return total - np.repeat((total - values)[starts], lengths)


def _in_order(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Values computed in ``order`` put back at their rows."""
    out = np.empty(len(values), dtype=values.dtype)
    out[order] = values
    return out


def _add_day_columns(df: pd.DataFrame, proc_lists: list[str]) -> pd.DataFrame:
    has_dos = df["date_of_service"].notna()
    repeat = np.zeros(len(df), dtype=bool)
    for name in SESSION_MODIFIER_LISTS:
        if f"in_{name}" in df:
            repeat |= df[f"in_{name}"].to_numpy(dtype=bool)
    # One run per (patient, date of service), missing dates included, in day order.
    order = _sorted_positions(df, ["_pk", "date_of_service", "_repeat"] + _LINE_ORDER, {"_repeat": repeat})
    dos_key = df["date_of_service"].to_numpy().view("int64")  # NaT is one value: missing dates group together
    starts, lengths = _runs(df["_pk"].to_numpy()[order], dos_key[order])
    today = df["received_today"].to_numpy(dtype=bool)
    new = {}
    for name in proc_lists:
        in_list = df[f"in_{name}"].to_numpy(dtype=bool)
        flag = in_list[order].astype("int64")
        cum = _in_order(_run_cumsum(flag, starts, lengths), order)
        new[f"day_n_{name}"] = _in_order(_run_sum(flag, starts, lengths), order)
        new[f"day_today_n_{name}"] = _in_order(_run_sum((in_list & today)[order].astype("int64"), starts, lengths),
                                               order)
        new[f"day_seq_{name}"] = pd.Series(cum, index=df.index).where(in_list)
        new[f"day_prior_n_{name}"] = cum - in_list.astype("int64")
    df = pd.concat([df, pd.DataFrame(new, index=df.index)], axis=1)
    touched = _in_order(_run_sum(today[order].astype("int64"), starts, lengths) > 0, order)
    df["touched_day"] = pd.Series(touched, index=df.index) & has_dos | df["received_today"]
    return df


def _add_duplicate_column(df: pd.DataFrame) -> None:
    # patient, billing and rendering NPI, code, modifiers, date of service: two providers billing
    # the same code for the patient on one day are not a duplicate.
    keys = ["_pk", "_bnpi", "_rnpi", "_pc", "_mod", "date_of_service"]
    order = df[keys + ["received_date", "_cid", "_ck"]].sort_values(keys + ["received_date", "_cid", "_ck"],
                                                                   kind="stable")
    group = order.groupby(keys, dropna=False, sort=False).ngroup()
    new_claim = (group != group.shift()) | (order["_ck"] != order["_ck"].shift())
    df["dup_claim_seq"] = new_claim.astype("int64").groupby(group).cumsum().reindex(df.index)


def _courses(df: pd.DataFrame, ref: Reference, is_delivery: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The patients' courses (deliveries at most the gap apart) and each delivery's course number."""
    gap_ref = ref.threshold("course_gap_days")
    deliveries = df.loc[is_delivery, ["_row", "_pk", "patient_key", "date_of_service"] + _LINE_ORDER]
    deliveries = deliveries.sort_values(["_pk", "date_of_service"] + _LINE_ORDER, kind="stable")
    prev = deliveries.groupby("_pk")["date_of_service"].shift()
    gap_days = threshold_at(gap_ref, deliveries["date_of_service"])
    starts = prev.isna() | ((deliveries["date_of_service"] - prev).dt.days > gap_days)
    course_no = starts.astype("int64").groupby(deliveries["_pk"]).cumsum()
    deliveries = deliveries.assign(_course_no=course_no)
    courses = deliveries.groupby(["_pk", "_course_no"], as_index=False).agg(
        patient_key=("patient_key", "first"), course_first_dos=("date_of_service", "min"),
        course_last_dos=("date_of_service", "max"))
    courses["course_id"] = courses["patient_key"] + "|" + courses["course_first_dos"].dt.strftime("%Y-%m-%d")
    courses["_lookback"] = threshold_at(ref.threshold("plan_lookback_days"), courses["course_first_dos"])
    return courses, deliveries


def _add_course_columns(df: pd.DataFrame, ref: Reference, proc_lists: list[str]) -> pd.DataFrame:
    delivery_list = ref.threshold("course_gap_days").extra.get("delivery_list", "imrt_delivery")
    is_delivery = df[f"in_{delivery_list}"].to_numpy()
    course_cols = ["course_id", "course_first_dos", "course_last_dos"]
    df["_row"] = np.arange(len(df))
    courses, deliveries = _courses(df, ref, is_delivery)

    # Deliveries carry their course; other dated lines join the course they fall in, else the next
    # course starting within the look-back window.
    del_course = deliveries[["_row", "_pk", "_course_no"]].merge(
        courses, on=["_pk", "_course_no"])[["_row"] + course_cols]
    others = df.loc[~is_delivery & df["date_of_service"].notna().to_numpy(), ["_row", "_pk", "date_of_service"]]
    others = others.sort_values("date_of_service", kind="stable")
    by_start = courses.sort_values("course_first_dos", kind="stable")
    cols = ["_pk", "course_first_dos", "course_last_dos", "course_id", "_lookback"]
    back = pd.merge_asof(others, by_start[cols], left_on="date_of_service", right_on="course_first_dos",
                         by="_pk", direction="backward")
    inside = back["date_of_service"] <= back["course_last_dos"]
    fwd = pd.merge_asof(others, by_start[cols], left_on="date_of_service", right_on="course_first_dos",
                        by="_pk", direction="forward")
    near = (fwd["course_first_dos"] - fwd["date_of_service"]).dt.days <= fwd["_lookback"]
    pick_back = inside.fillna(False).to_numpy(dtype=bool)
    pick_fwd = ~pick_back & near.fillna(False).to_numpy(dtype=bool)
    attached = pd.concat([back[pick_back], fwd[pick_fwd]], ignore_index=True)
    assigned = pd.concat([del_course, attached[["_row"] + course_cols]], ignore_index=True)
    df = _put_rows(df.drop(columns="_row"), assigned["_row"], assigned, course_cols)

    in_course = df["course_id"].notna().to_numpy()
    dos = df["date_of_service"]
    df["course_inside"] = ((dos > df["course_first_dos"]) & (dos < df["course_last_dos"])).fillna(False).astype(bool)
    df = pd.concat([df, pd.DataFrame(_course_sums(df, delivery_list, proc_lists, in_course), index=df.index)],
                   axis=1)

    # Fraction ceiling from the first-listed neoplasm of the course's first delivery.
    first = df.loc[df["course_delivery_seq"] == 1, ["course_id", "first_neoplasm_dx", "course_first_dos"]]
    first = first.drop_duplicates("course_id")
    first = first.assign(course_fx_ceiling=ceiling_at(first["first_neoplasm_dx"], first["course_first_dos"],
                                                      ref.ceilings).to_numpy())
    df = _left_join(df, first, ["course_id"], ["course_fx_ceiling"])
    df.loc[~in_course, "course_fx_ceiling"] = np.nan
    df["touched_course"] = df.pop("_touched_course")
    return df


def _outside_nan(values, rows: np.ndarray, n: int) -> np.ndarray:
    """A column of ``n`` rows: ``values`` at ``rows`` (the lines in a course), NaN at the others. As
    a groupby leaves the rows of no group: float, unless every row has a group."""
    values = np.asarray(values)
    out = np.empty(n, dtype=values.dtype) if len(rows) == n else np.full(n, np.nan)
    out[rows] = values
    return out


def _course_sums(df: pd.DataFrame, delivery_list: str, proc_lists: list[str], in_course: np.ndarray) -> dict:
    """Per-course counts and units of each list, running and whole-course, on the lines in course
    order (the lines outside a course get NaN); the whole course's and each component's."""
    n = len(df)
    course_rank = _rank(df["course_id"])  # sorts as course_id, missing last: the courses' lines come first
    order = _sorted_positions(df, ["_course_order", "date_of_service"] + _LINE_ORDER, {"_course_order": course_rank})
    rows = order[: int(in_course.sum())]  # the lines in a course, in course order
    course = course_rank[rows]
    # Component of a line: professional (modifier 26) or technical/global. Per-component counts let a
    # facility's 77338 and the physician's 77338-26 for one plan count as one plan's worth.
    prof = (df[f"in_{PROFESSIONAL_MODIFIER_LIST}"].to_numpy(dtype=bool)[rows] if f"in_{PROFESSIONAL_MODIFIER_LIST}" in df
            else np.zeros(len(rows), dtype=bool))
    component = course * 2 + prof
    units_all = df["units"].fillna(0).to_numpy(dtype="float64")[rows]
    dos, first_dos = df["date_of_service"].to_numpy()[rows], df["course_first_dos"].to_numpy()[rows]
    counts, units = {}, {}
    for name in proc_lists:
        flag = df[f"in_{name}"].to_numpy(dtype=bool)[rows]
        counts[f"n|{name}"] = flag.astype("int64")
        counts[f"b|{name}"] = (flag & (dos <= first_dos)).astype("int64")
        units[name] = np.where(flag, units_all, 0.0)
    counts = pd.DataFrame(counts)
    units = pd.DataFrame(units)
    # pandas' grouped sums (compensated for floats) on the same rows in the same order as before.
    count_sums = counts.groupby(course, sort=False).transform("sum")
    unit_sums = units.groupby(course, sort=False).transform("sum")
    unit_cums = units.groupby(course, sort=False).cumsum()
    comp_sums = units.groupby(component, sort=False).transform("sum")
    comp_cums = units.groupby(component, sort=False).cumsum()
    in_delivery = df[f"in_{delivery_list}"].to_numpy(dtype=bool)
    seq = pd.Series(in_delivery[rows].astype("int64")).groupby(course, sort=False).cumsum()
    new = {"course_delivery_seq": pd.Series(_outside_nan(seq, rows, n), index=df.index).where(in_delivery)}
    for name in proc_lists:
        new[f"course_n_{name}"] = _outside_nan(count_sums[f"n|{name}"], rows, n)
        new[f"course_units_{name}"] = _outside_nan(unit_sums[name], rows, n)
        new[f"course_n_{name}_by_start"] = _outside_nan(count_sums[f"b|{name}"], rows, n)
        new[f"course_cumunits_{name}"] = _outside_nan(unit_cums[name], rows, n)
        new[f"course_comp_units_{name}"] = _outside_nan(comp_sums[name], rows, n)
        new[f"course_comp_cumunits_{name}"] = _outside_nan(comp_cums[name], rows, n)
    touched = np.zeros(n, dtype=bool)
    received_today = df["received_today"].to_numpy(dtype=bool)[rows]
    touched[rows] = (np.bincount(course, weights=received_today, minlength=course.max(initial=-1) + 1) > 0)[course]
    new["_touched_course"] = touched
    return new


# ---------------------------------------------------------------------------------------------- claims

def npi_check_digit_ok(npi: str) -> bool:
    """NPI check digit: Luhn over the 80840 card-issuer prefix plus the ten digits."""
    if len(npi) != 10 or not npi.isdigit():
        return False
    digits = [int(ch) for ch in "80840" + npi]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return total % 10 == 0


def _npi_valid(values: pd.Series) -> pd.Series:
    # A few hundred distinct NPIs per day: check each once, map the result.
    uniq = {v: npi_check_digit_ok(v) for v in values.dropna().unique()}
    return values.map(uniq)


def build_claim_view(claims: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    df = claims.copy()
    today = lines.loc[lines["received_today"].to_numpy(dtype=bool),
                      ["claim_key", "charge", "date_of_service", "rendering_npi"]]
    # Missing charges count as 0 (a cython sum, not a Python function per claim).
    per_claim = today.assign(_charge=today["charge"].fillna(0)).groupby("claim_key").agg(
        line_charge=("_charge", "sum"), date_of_service=("date_of_service", "min"))
    df = df.merge(per_claim, left_on="claim_key", right_index=True, how="left")
    df["total_charge_cents"] = (pd.to_numeric(df["total_charge"]) * 100).round().astype("Float64")
    df["line_charge_cents"] = (df["line_charge"].fillna(0) * 100).round().astype("Float64")
    df["billing_npi_valid"] = _npi_valid(df["billing_npi"]).astype(bool)
    # Rendering NPIs: the claim's 2310B and every line's 2420A; empty means not given.
    rendering = pd.concat([df[["claim_key", "rendering_npi"]], today[["claim_key", "rendering_npi"]]])
    rendering = rendering[rendering["rendering_npi"].fillna("") != ""]
    bad = rendering.loc[~_npi_valid(rendering["rendering_npi"]).astype(bool), "claim_key"]
    df["rendering_npi_valid"] = ~df["claim_key"].isin(bad)
    df["procedure_code"] = ""
    df["modifiers"] = ""
    df["date_of_service"] = pd.to_datetime(df["date_of_service"])
    df[RADONC_COLUMN] = _claims_in_scope(df["claim_key"], lines)
    return df


def _claims_in_scope(claim_keys: pd.Series, lines: pd.DataFrame) -> np.ndarray:
    """Per claim key: does that claim carry a radiation-oncology code (see ``RADONC_COLUMN``)?"""
    in_scope = lines.loc[lines[RADONC_COLUMN].to_numpy(dtype=bool), "claim_key"].unique()
    return claim_keys.isin(in_scope).to_numpy(dtype=bool)


def build_diagnosis_view(claims: pd.DataFrame, dx: pd.DataFrame, lines: pd.DataFrame,
                         ref: Reference | None = None) -> pd.DataFrame:
    claim_view_cols = ["claim_key", "claim_id", "billing_npi", "payer_class", "source_file", "interchange_control"]
    df = dx.merge(claims[claim_view_cols], on="claim_key", how="inner")
    first_dos = lines[lines["received_today"]].groupby("claim_key")["date_of_service"].min()
    df["date_of_service"] = pd.to_datetime(df["claim_key"].map(first_dos).astype("datetime64[ns]"))
    df["procedure_code"] = ""
    df["modifiers"] = ""
    # HI qualifier lists (which code set a diagnosis is in), at the claim's first date of service.
    for name, cl in (ref.code_lists.items() if ref is not None else ()):
        if cl.field == "qualifier":
            df[f"in_{name}"] = membership(df["qualifier"], df["date_of_service"], cl)
    df[RADONC_COLUMN] = _claims_in_scope(df["claim_key"], lines)
    return df
