"""The CMS NCCI file layouts: read one published table file (text or xlsx) into validated rows.

PTP (procedure-to-procedure) files, practitioner and hospital outpatient, are split by code range
(``...-f1`` .. ``-f4``); each starts with notice lines, then a heading (possibly spread over two
rows) with seven columns, then the rows:

    Column 1 | Column 2 | *=in existence prior to 1996 | Effective Date | Deletion Date *=no data |
    Modifier 0=not allowed 1=allowed 9=not applicable | PTP Edit Rationale

    dates YYYYMMDD, "*" in the deletion date when there is none, "*" in the third column for a
    pair in existence before 1996.

MUE (medically unlikely edit) files, practitioner and outpatient hospital, have notice lines,
then a four-column heading and the rows:

    HCPCS/CPT Code | Practitioner Services MUE Values (or Outpatient Hospital Services ...) |
    MUE Adjudication Indicator ("1 Line Edit", "2 Date of Service Edit: Policy",
    "3 Date of Service Edit: Clinical") | MUE Rationale

Headings are matched by keywords, not by exact text, so the small wording changes CMS makes
between years still read; anything else (another layout, a row that does not parse, a file with
a heading and no rows) is refused with the file, the line and what is wrong.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from claimaudit.errors import ConfigurationError, ReferenceDataError

HEADER_SCAN_ROWS = 80  # notice lines before the heading: a handful in the published files
CODE_RE = re.compile(r"^[0-9A-Z]{5}$")
TEXT_SUFFIXES = (".txt", ".csv", ".tsv")
SHEET_SUFFIXES = (".xlsx", ".xlsm")

# Keywords each heading cell must contain (lower case), per column.
PTP_HEADINGS = (("column 1", "column1", "column one"), ("column 2", "column2", "column two"), ("1996",),
                ("effective",), ("deletion",), ("modifier",), ("rationale",))
MUE_HEADINGS = (("hcpcs", "cpt"), ("mue value",), ("adjudication", "mai"), ("rationale",))


class LayoutError(ReferenceDataError):
    """A file is not in a published NCCI layout: names the file, the line and what is wrong."""


@dataclass
class TableFile:
    name: str  # member path as given ("ccipra-v312r0-f1.zip:ccipra-v312r0-f1.txt")
    sha256: str
    kind: str  # ptp | mue
    table_kind: str | None  # practitioner | hospital, when the file or its name says
    quarter: str | None  # 2025Q2, when the name or the notice lines say
    part: int | None  # PTP code-range part (f1 = 1), when the name says
    rows: list[tuple] = field(default_factory=list)
    notice: str = ""  # the lines before the heading (copyright, effective date)


def _norm(cell) -> str:
    return " ".join(str(cell).replace("\n", " ").split()).lower() if cell is not None else ""


def _cell_text(value) -> str:
    """A cell as the text file would show it (xlsx hands back ints, floats and datetimes)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# ------------------------------------------------------------------------------------ raw rows

def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _text_rows(name: str, data: bytes) -> list[list[str]]:
    text = _decode(data)
    delimiter = "\t" if "\t" in text[:200_000] else ","
    return [[c.strip() for c in row] for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]


def _sheet_rows(name: str, data: bytes) -> list[list[str]]:
    try:
        from openpyxl import load_workbook
    except ImportError as exc:  # pinned in requirements.txt; a broken environment, not bad input
        raise ConfigurationError("reading .xlsx NCCI files needs openpyxl (pip install -r requirements.txt)") from exc
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException ...
        raise LayoutError(f"{name}: not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from exc
    try:
        ws = wb.worksheets[0]
        return [[_cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
    finally:
        wb.close()


def raw_rows(name: str, data: bytes) -> list[list[str]]:
    lower = name.lower()
    if lower.endswith(SHEET_SUFFIXES):
        return _sheet_rows(name, data)
    return _text_rows(name, data)


# --------------------------------------------------------------------------------- headings

def _is_blank(row: list[str]) -> bool:
    return not any(c.strip() for c in row)


def _looks_like_data(row: list[str]) -> bool:
    return len(row) >= 2 and bool(CODE_RE.match(row[0].strip().upper()))


def _matches(cells: list[str], headings) -> bool:
    return len(cells) >= len(headings) and all(any(k in cells[i] for k in keys) for i, keys in enumerate(headings))


def find_heading(name: str, rows: list[list[str]]) -> tuple[str, int, list[str]]:
    """(kind, index of the first row after the heading, heading cells joined over its rows)."""
    for i, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        cells = [_norm(c) for c in row]
        first = cells[0] if cells else ""
        if any(first.startswith(k) for k in PTP_HEADINGS[0]) and len(cells) > 1 and \
                any(cells[1].startswith(k) for k in PTP_HEADINGS[1]):
            kind, headings = "ptp", PTP_HEADINGS
        elif any(k in first for k in MUE_HEADINGS[0]) and len(cells) > 1 and "mue" in cells[1]:
            kind, headings = "mue", MUE_HEADINGS
        else:
            continue
        # A heading may run over several rows (the published files wrap "Deletion Date / *=no data").
        joined = list(cells)
        j = i + 1
        while j < len(rows) and not _looks_like_data(rows[j]) and not _is_blank(rows[j]) and j < i + 4:
            more = [_norm(c) for c in rows[j]]
            joined = [(a + " " + (more[k] if k < len(more) else "")).strip()
                      for k, a in enumerate(joined + [""] * max(0, len(more) - len(joined)))]
            j += 1
        if not _matches(joined, headings):
            want = " | ".join(keys[0] for keys in headings)
            raise LayoutError(f"{name}: line {i + 1}: the heading {' | '.join(joined)!r} is not the CMS "
                              f"{kind.upper()} layout (expected columns like: {want})")
        return kind, j, joined
    raise LayoutError(f"{name}: not a CMS NCCI PTP or MUE table: no heading row ('Column 1', 'Column 2', ... or "
                      f"'HCPCS/CPT Code', '... MUE Values', ...) in its first {HEADER_SCAN_ROWS} lines")


# ------------------------------------------------------------------------------- data rows

_DATE_CACHE: dict[str, date] = {}


def _date(text: str) -> date:
    d = _DATE_CACHE.get(text)
    if d is None:
        if re.fullmatch(r"\d{8}", text):
            d = date(int(text[:4]), int(text[4:6]), int(text[6:]))
        elif re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", text):
            m, dd, y = (int(x) for x in text.split("/"))
            d = date(y, m, dd)
        else:
            raise ValueError(text)
        _DATE_CACHE[text] = d
    return d


def _ptp_rows(name: str, rows: list[list[str]], start: int) -> list[tuple]:
    out = []
    append = out.append
    code_ok = CODE_RE.match
    for n in range(start, len(rows)):
        row = rows[n]
        if _is_blank(row):
            continue
        where = f"{name}: line {n + 1}"
        if len(row) < 6:
            raise LayoutError(f"{where}: {len(row)} column(s), the PTP layout has 7")
        c1, c2 = row[0].upper(), row[1].upper()
        if not code_ok(c1) or not code_ok(c2):
            raise LayoutError(f"{where}: column 1 {row[0]!r} / column 2 {row[1]!r} is not a pair of "
                              f"5-character HCPCS/CPT codes")
        prior = row[2]
        if prior not in ("", "*"):
            raise LayoutError(f"{where}: 'in existence prior to 1996' is {prior!r}, expected '*' or empty")
        try:
            effective = _date(row[3])
        except ValueError:
            raise LayoutError(f"{where}: effective date {row[3]!r} is not YYYYMMDD") from None
        deletion = None
        if row[4] not in ("*", ""):
            try:
                deletion = _date(row[4])
            except ValueError:
                raise LayoutError(f"{where}: deletion date {row[4]!r} is not YYYYMMDD or '*'") from None
        indicator = row[5]
        if indicator not in ("0", "1", "9"):
            raise LayoutError(f"{where}: modifier indicator {indicator!r} is not 0, 1 or 9")
        rationale = row[6] if len(row) > 6 else ""
        append((c1, c2, prior == "*", effective, deletion, int(indicator), rationale))
    return out


_MAI_RE = re.compile(r"^\s*([123])\b\s*(.*)$")


def _mue_rows(name: str, rows: list[list[str]], start: int) -> list[tuple]:
    out = []
    for n in range(start, len(rows)):
        row = rows[n]
        if _is_blank(row):
            continue
        where = f"{name}: line {n + 1}"
        if len(row) < 3:
            raise LayoutError(f"{where}: {len(row)} column(s), the MUE layout has 4")
        code = row[0].upper()
        if not CODE_RE.match(code):
            raise LayoutError(f"{where}: HCPCS/CPT code {row[0]!r} is not a 5-character code")
        try:
            value = int(float(row[1]))
            if value < 0 or float(row[1]) != value:
                raise ValueError
        except ValueError:
            raise LayoutError(f"{where}: MUE value {row[1]!r} is not a whole number of units") from None
        m = _MAI_RE.match(row[2])
        if not m:
            raise LayoutError(f"{where}: MUE adjudication indicator {row[2]!r} does not start with 1, 2 or 3")
        rationale = row[3] if len(row) > 3 else ""
        out.append((code, value, int(m.group(1)), row[2].strip()[:60], rationale))
    return out


# ----------------------------------------------------------------- names: quarter, table, part

def quarter_from_text(text: str) -> str | None:
    """2025Q2 from a CMS file name or notice: the NCCI version in PTP names (v312r0: version 31.2,
    NCCI version NN.M is year 1994+NN, quarter M+1, so 2025Q3), 2025Q2 / 2025-Q2, Q2-2025, or an
    effective date at a quarter start (04-01-2025, 2025-04-01, April 1, 2025)."""
    t = text.lower()
    m = re.search(r"v(\d{2})(\d)r\d", t)
    if m and int(m.group(2)) <= 3:
        return f"{1994 + int(m.group(1))}Q{int(m.group(2)) + 1}"
    m = re.search(r"(20\d\d)[ _-]?q([1-4])(?!\d)", t)
    if m:
        return f"{m.group(1)}Q{m.group(2)}"
    m = re.search(r"(?<![0-9a-z])q([1-4])[ _-]?(20\d\d)", t)
    if m:
        return f"{m.group(2)}Q{m.group(1)}"
    m = re.search(r"(?<!\d)(0?1|0?4|0?7|10)[-_/.](0?1)[-_/.](20\d\d)(?!\d)", t)
    if m:
        return f"{m.group(3)}Q{(int(m.group(1)) - 1) // 3 + 1}"
    m = re.search(r"(20\d\d)[-_.](01|04|07|10)[-_.]01(?!\d)", t)
    if m:
        return f"{m.group(1)}Q{(int(m.group(2)) - 1) // 3 + 1}"
    m = re.search(r"(january|april|july|october)\s+1,?\s+(20\d\d)", t)
    if m:
        month = ("january", "april", "july", "october").index(m.group(1))
        return f"{m.group(2)}Q{month + 1}"
    return None


def table_from_text(text: str) -> str | None:
    t = text.lower()
    # CMS PTP file names: ccipra-... (practitioner), ccioph-... (outpatient hospital).
    if re.search(r"hosp|outpatient|(?<![a-z])(?:cci)?oph(?![a-z])|facility", t):
        return "hospital"
    if re.search(r"practitioner|(?<![a-z])(?:cci)?pra(?![a-z])|physician", t):
        return "practitioner"
    return None


def part_from_name(name: str) -> int | None:
    m = re.search(r"[-_ ]f(\d{1,2})(?:\.|$|[-_ ])", name.lower().rsplit("/", 1)[-1].rsplit(":", 1)[-1])
    return int(m.group(1)) if m else None


def read_table(name: str, data: bytes, sha256: str, context: str = "") -> TableFile:
    """One published file -> TableFile. ``context``: the names around it (its zip), which often
    carry the quarter and the table the file itself does not."""
    rows = raw_rows(name, data)
    kind, start, heading = find_heading(name, rows)
    notice = "\n".join(" ".join(c for c in r if c) for r in rows[:max(0, start - 1)])
    if kind == "ptp":
        parsed = _ptp_rows(name, rows, start)
        table = table_from_text(name) or table_from_text(context) or table_from_text(notice)
    else:
        parsed = _mue_rows(name, rows, start)
        value_heading = heading[1]
        if "dme" in value_heading or "durable" in value_heading:
            raise LayoutError(f"{name}: the DME supplier MUE table is not used by this audit "
                              f"(practitioner and outpatient hospital tables only)")
        table = table_from_text(value_heading) or table_from_text(name) or table_from_text(context)
    if not parsed:
        raise LayoutError(f"{name}: the {kind.upper()} heading is there but no data rows follow "
                          f"(a header-only or cut-off file)")
    quarter = quarter_from_text(name) or quarter_from_text(context) or quarter_from_text(notice)
    return TableFile(name=name, sha256=sha256, kind=kind, table_kind=table, quarter=quarter,
                     part=part_from_name(name) if kind == "ptp" else None, rows=parsed, notice=notice)
