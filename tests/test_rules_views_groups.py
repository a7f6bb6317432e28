"""The line view's per-day and per-course columns are computed on row positions and runs of a
sorted order (issue 18's speed work), not with a pandas groupby per column. These tests hold the
helpers to what the groupby gave: the same sums, running totals and dtypes, on edge cases (NaN
groups, one-row runs, empty frames) and for the SV1-07 pointers split once per distinct string.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from claimaudit.rules.views import (_line_diagnoses, _outside_nan, _pointer_positions, _run_cumsum, _run_sum,
                                    _runs)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_run_sums_match_a_groupby_over_the_same_order(seed):
    rng = np.random.default_rng(seed)
    keys = np.sort(rng.integers(0, 40, size=500))  # runs of equal keys, some of length one
    values = rng.integers(0, 3, size=500).astype("int64")
    starts, lengths = _runs(keys)
    by_key = pd.Series(values).groupby(keys)
    assert (_run_sum(values, starts, lengths) == by_key.transform("sum").to_numpy()).all()
    assert (_run_cumsum(values, starts, lengths) == by_key.cumsum().to_numpy()).all()


def test_runs_split_on_any_key_and_treat_missing_dates_as_one_value():
    patient = np.array([0, 0, 0, 1, 1, 1])
    dos = pd.to_datetime(pd.Series(["2025-01-01", "2025-01-01", None, "2025-01-01", None, None]))
    starts, lengths = _runs(patient, dos.to_numpy().view("int64"))
    assert starts.tolist() == [0, 2, 3, 4]
    assert lengths.tolist() == [2, 1, 1, 2]


def test_runs_of_nothing():
    starts, lengths = _runs(np.zeros(0, dtype="int64"))
    empty = np.zeros(0, dtype="int64")
    assert len(starts) == len(lengths) == 0
    assert len(_run_sum(empty, starts, lengths)) == len(_run_cumsum(empty, starts, lengths)) == 0


def test_lines_outside_a_course_get_nan_as_a_groupby_on_nan_keys_gave():
    course = pd.Series([0.0, np.nan, 0.0, 1.0])
    counts = pd.Series([1, 5, 1, 1], dtype="int64")
    expected = counts.groupby(course).transform("sum")
    in_course = np.flatnonzero(course.notna().to_numpy())
    got = _outside_nan(counts[in_course].groupby(course[in_course].to_numpy()).transform("sum"), in_course, 4)
    pd.testing.assert_series_equal(pd.Series(got), expected.rename(None))
    # Every line in a course: the groupby kept integers, and so does the column.
    every = _outside_nan(np.array([2, 2], dtype="int64"), np.array([0, 1]), 2)
    assert every.dtype == np.int64 and every.tolist() == [2, 2]


def test_pointer_strings_split_once_keep_order_and_drop_what_is_not_a_number():
    ptr = _pointer_positions(pd.Series(["1,3", "", "2,,x,1", "4"], dtype="str"))
    got = {k: list(zip(g["position"], g["dx_order"])) for k, g in ptr.groupby("_ptr")}
    assert got == {0: [(1, 0), (3, 1)], 2: [(2, 0), (1, 1)], 3: [(4, 0)]}


def test_line_diagnoses_follow_pointers_on_837p_and_every_code_on_837i():
    lines = pd.DataFrame({
        "claim_key": ["P1", "P1", "I1", "P2"], "_ck": [0, 0, 1, 2], "line_number": [1, 2, 1, 1],
        "transaction_type": ["P", "P", "I", "P"], "dx_pointers": ["2,1", "", "", "9"]})
    dx = pd.DataFrame({"claim_key": ["P1", "P1", "I1", "I1", "ZZ"], "position": [1, 2, 1, 2, 1],
                       "code": ["C61", "Z51", "C50", "C34", "C00"]})
    got = _line_diagnoses(lines, dx).sort_values(["_row", "dx_order"])
    assert list(got.itertuples(index=False, name=None)) == [
        (0, 0, "Z51"), (0, 1, "C61"),  # P1 line 1 points at 2 then 1; line 2 points at nothing
        (2, 1, "C50"), (2, 2, "C34"),  # the 837I line: every code of its claim, in claim order
    ]  # P2 points at a diagnosis its claim does not have; ZZ has no line in the slice
