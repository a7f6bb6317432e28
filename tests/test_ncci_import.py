"""Importing CMS NCCI edit files (issue 13) into real report DBs (SQLite and PostgreSQL).

Every file here is TEST DATA in the published layouts (claimaudit.ncci.testfiles), not CMS
values: the pairs, limits and rationales are made up.
"""

from __future__ import annotations

import zipfile
from datetime import date

import pytest
from sqlalchemy import func, select

from claimaudit.ncci.importer import import_ncci, quarter_bounds, read_files
from claimaudit.ncci.layouts import LayoutError, quarter_from_text
from claimaudit.ncci.tables import ncci_edit_set, ncci_mue, ncci_ptp
from claimaudit.ncci.testfiles import as_text, as_xlsx, mue_lines, ptp_lines, write_zip

R = "TEST rationale (not CMS)"
PTP_F1 = [("77386", "77014", False, date(2015, 1, 1), None, 0, R),
          ("77386", "77387", False, date(2015, 1, 1), None, 1, R),
          ("77386", "77280", True, date(1996, 1, 1), date(2016, 1, 1), 9, R)]
PTP_F2 = [("G6015", "77417", False, date(2015, 1, 1), None, 1, R),
          ("G6015", "77014", False, date(2015, 1, 1), date(2025, 4, 1), 0, R)]
MUE = [("77386", 1, 2, R), ("77338", 2, 1, R), ("77300", 10, 3, R)]


def ptp_zips(folder, version="v311r0", table="pra", rows=(PTP_F1, PTP_F2)):
    """One zip per code-range part, named as CMS names them (ccipra-v311r0-f1.zip holding a .txt)."""
    out = []
    for n, part in enumerate(rows, start=1):
        stem = f"cci{table}-{version}-f{n}"
        out.append(write_zip(folder / f"{stem}.zip", {f"{stem}.txt": as_text(ptp_lines(part))}))
    return out


def mue_zip(folder, table="practitioner", eff="04-01-2025", rows=MUE, xlsx=False):
    stem = f"MCR_MUE_{'PractitionerServices' if table == 'practitioner' else 'OutpatientHospitalServices'}_Eff_{eff}"
    data = as_xlsx(mue_lines(rows, table)) if xlsx else as_text(mue_lines(rows, table))
    return write_zip(folder / f"{stem}.zip", {f"{stem}.{'xlsx' if xlsx else 'txt'}": data})


def counts(engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()
                     for t in (ncci_edit_set, ncci_ptp, ncci_mue))


def test_a_quarter_imports_once_and_a_new_quarter_adds_a_version(engine, tmp_path):
    paths = ptp_zips(tmp_path) + [mue_zip(tmp_path)]
    report = import_ncci(engine, paths)
    assert [a["label"].split(" (")[0] for a in report.added] == ["MUE practitioner 2025-Q2",
                                                                 "PTP practitioner 2025-Q2"]
    assert counts(engine) == (2, 5, 3)
    with engine.connect() as conn:
        row = conn.execute(select(ncci_ptp).where(ncci_ptp.c.column2 == "77280")).one()
        es = conn.execute(select(ncci_edit_set).where(ncci_edit_set.c.kind == "ptp")).one()
        mue = conn.execute(select(ncci_mue).where(ncci_mue.c.code == "77300")).one()
    assert row.prior_1996 is True and row.deletion_date == date(2016, 1, 1) and row.modifier_indicator == 9
    assert (es.valid_from, es.valid_to, es.row_count) == (date(2025, 4, 1), date(2025, 6, 30), 5)
    assert mue.mai == 3 and mue.mai_text == "3 Date of Service Edit: Clinical" and mue.mue_value == 10

    again = import_ncci(engine, list(reversed(paths)))  # same bytes, other order: nothing changes
    assert again.added == [] and len(again.unchanged) == 2
    assert counts(engine) == (2, 5, 3)

    # The loaded files again beside a new quarter's (31.2 = 2025 Q3): only the new quarter is added.
    mixed = import_ncci(engine, paths + ptp_zips(tmp_path / "q3", version="v312r0"))
    assert [a["label"][:24] for a in mixed.added] == ["PTP practitioner 2025-Q3"] and len(mixed.unchanged) == 2
    assert counts(engine) == (3, 10, 3)
    with engine.connect() as conn:
        quarters = sorted(conn.execute(select(ncci_edit_set.c.quarter)).scalars())
    assert quarters == ["2025Q2", "2025Q2", "2025Q3"]


def test_spreadsheets_and_folders_read_like_the_text_files(sqlite_engine, tmp_path):
    folder = tmp_path / "unzipped"
    folder.mkdir()
    (folder / "ccioph-v311r0-f1.xlsx").write_bytes(as_xlsx(ptp_lines(PTP_F1), split_heading=True))
    (folder / "ccioph-v311r0-f2.xlsx").write_bytes(as_xlsx(ptp_lines(PTP_F2)))
    (folder / "readme.txt").write_text("not a table")
    plans = read_files([folder, mue_zip(tmp_path, table="hospital", xlsx=True)])
    by_kind = {p.kind: p for p in plans}
    assert by_kind["ptp"].table_kind == "hospital" and by_kind["mue"].table_kind == "hospital"
    assert [r for f in by_kind["ptp"].files for r in f.rows] == PTP_F1 + PTP_F2
    assert [(c, v, m, r) for f in by_kind["mue"].files for c, v, m, _t, r in f.rows] == MUE
    import_ncci(sqlite_engine, [folder])
    assert counts(sqlite_engine) == (1, 5, 0)


def _header_only(tmp_path):
    return write_zip(tmp_path / "ccipra-v311r0-f1.zip", {"ccipra-v311r0-f1.txt": as_text(ptp_lines([]))})


def _truncated(tmp_path):
    good = ptp_zips(tmp_path / "src")[0].read_bytes()
    path = tmp_path / "ccipra-v311r0-f1.zip"
    path.write_bytes(good[: len(good) // 2])
    return path


def _wrong_layout(tmp_path):
    lines = ptp_lines(PTP_F1)
    lines[3] = ["Column 1", "Column 2", "Effective Date", "Deletion Date", "Modifier", "Rationale", "Extra"]
    return write_zip(tmp_path / "ccipra-v311r0-f1.zip", {"ccipra-v311r0-f1.txt": as_text(lines)})


def _not_ncci(tmp_path):
    return write_zip(tmp_path / "ccipra-v311r0-f1.zip", {"claims.csv": b"id,amount\n1,2\n"})


def _bad_indicator(tmp_path):
    rows = [PTP_F1[0][:5] + (2, R)]
    return write_zip(tmp_path / "ccipra-v311r0-f1.zip", {"ccipra-v311r0-f1.txt": as_text(ptp_lines(rows))})


def _missing_part(tmp_path):
    return ptp_zips(tmp_path / "parts")[1]  # f2 without f1


@pytest.mark.parametrize("make, says", [
    (_header_only, "no data rows follow"),
    (_truncated, "not a readable zip archive"),
    (_wrong_layout, "is not the CMS PTP layout"),
    (_not_ncci, "not a CMS NCCI PTP or MUE table"),
    (_bad_indicator, "modifier indicator '2' is not 0, 1 or 9"),
    (_missing_part, "part(s) f1 missing"),
])
def test_bad_input_is_refused_and_the_loaded_edit_sets_stay(engine, tmp_path, make, says):
    import_ncci(engine, ptp_zips(tmp_path / "good") + [mue_zip(tmp_path / "good")])
    before = counts(engine)
    bad = make(tmp_path)
    with pytest.raises(LayoutError, match=r"(?s).*" + __import__("re").escape(says)) as exc:
        import_ncci(engine, [mue_zip(tmp_path / "q3", eff="07-01-2025"), bad])  # a good file beside it
    assert bad.name.split(".")[0] in str(exc.value) or "zip" in str(exc.value)
    assert counts(engine) == before  # nothing of the refused import was written


def test_the_quarter_comes_from_names_or_the_command(sqlite_engine, tmp_path):
    assert quarter_from_text("ccipra-v320r0-f1.zip") == "2026Q1"
    assert quarter_from_text("ccioph-v313r1-f4.txt") == "2025Q4"
    assert quarter_from_text("MCR_MUE_PractitionerServices_Eff_07-01-2025.zip") == "2025Q3"
    assert quarter_from_text("ncci 2025-Q2 mue.xlsx") == "2025Q2"
    assert quarter_from_text("Effective April 1, 2024") == "2024Q2"
    assert quarter_from_text("edits.txt") is None
    assert quarter_bounds("2024Q4") == (date(2024, 10, 1), date(2024, 12, 31))
    plain = tmp_path / "practitioner_ptp.txt"
    plain.write_bytes(as_text(ptp_lines(PTP_F1)))
    with pytest.raises(LayoutError, match="pass --quarter"):
        read_files([plain])
    with pytest.raises(LayoutError, match="not 2025-Q1 as --quarter says"):
        read_files(ptp_zips(tmp_path), quarter="2025Q1")
    [plan] = read_files([plain], quarter="2025-Q1")
    assert (plan.quarter, plan.table_kind) == ("2025Q1", "practitioner")


def test_cli_imports_and_refuses_with_a_message(tmp_path, monkeypatch, capsys):
    from claimaudit.cli import main

    monkeypatch.setenv("AUDIT_DB_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    paths = [str(p) for p in ptp_zips(tmp_path) + [mue_zip(tmp_path)]]
    assert main(["reference", "import-ncci", *paths]) == 0
    assert "imported PTP practitioner 2025-Q2" in capsys.readouterr().out
    assert main(["reference", "import-ncci", *paths]) == 0
    assert "already imported, unchanged" in capsys.readouterr().out
    assert main(["reference", "import-ncci", str(_header_only(tmp_path / "bad"))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("claimaudit: refused, nothing imported") and err.count("\n") == 1 and "ccipra-v311r0-f1" in err
    assert main(["reference", "ncci-sets"]) == 0
    assert capsys.readouterr().out.count("2025-Q2") == 2


def test_zip_members_that_are_not_tables_are_skipped(tmp_path):
    path = tmp_path / "ccipra-v311r0-f1.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ccipra-v311r0-f1.txt", as_text(ptp_lines(PTP_F1)))
        z.writestr("Read_Me.txt", "read me first")
        z.writestr("policy.pdf", b"%PDF-1.4")
    [plan] = read_files([path])
    assert len(plan.files) == 1 and plan.rows == 3
