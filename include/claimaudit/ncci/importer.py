"""Import a quarter's NCCI files into the report DB as edit-set versions, in one transaction.

Files are grouped into edit sets by (kind, table, quarter). An edit set whose files (by content
hash) were imported before changes nothing; other bytes for the same quarter add a new version,
which is then the one in force. Any bad file refuses the whole import: nothing is written and the
edit sets already loaded stay in force.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from sqlalchemy import Engine, insert, select

from claimaudit.ncci.layouts import LayoutError, TableFile, read_table
from claimaudit.ncci.sources import table_sources
from claimaudit.ncci.tables import ncci_edit_set, ncci_mue, ncci_ptp
from claimaudit.store.db import write_transaction

QUARTER_RE = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)
_CHUNK = 50_000


def normalise_quarter(text: str) -> str:
    m = QUARTER_RE.match(text.strip())
    if not m:
        raise LayoutError(f"quarter {text!r} is not like 2025Q2 or 2025-Q2")
    return f"{m.group(1)}Q{m.group(2)}"


def quarter_bounds(quarter: str) -> tuple[date, date]:
    year, q = int(quarter[:4]), int(quarter[5])
    start = date(year, 3 * (q - 1) + 1, 1)
    end = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
    return start, date.fromordinal(end.toordinal() - 1)


def quarter_of(day: date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def display_quarter(quarter: str) -> str:
    return f"{quarter[:4]}-{quarter[4:]}"


@dataclass
class EditSetPlan:
    kind: str
    table_kind: str
    quarter: str
    files: list[TableFile]

    @property
    def checksum(self) -> str:
        # Content only (sorted file hashes): the same files from a zip or a folder are the same set.
        return hashlib.sha256("\n".join(sorted(f.sha256 for f in self.files)).encode()).hexdigest()

    @property
    def rows(self) -> int:
        return sum(len(f.rows) for f in self.files)

    @property
    def label(self) -> str:
        return f"{self.kind.upper()} {self.table_kind} {display_quarter(self.quarter)} ({self.checksum[:8]})"


@dataclass
class ImportReport:
    added: list[dict] = field(default_factory=list)  # {label, rows, files}
    unchanged: list[str] = field(default_factory=list)  # labels already imported

    def lines(self) -> list[str]:
        out = [f"imported {a['label']}: {a['rows']:,} rows from {a['files']} file(s)" for a in self.added]
        out += [f"already imported, unchanged: {label}" for label in self.unchanged]
        return out


def read_files(paths: list, quarter: str | None = None, table_kind: str | None = None) -> list[EditSetPlan]:
    """Read and validate every file; group them into edit sets. Raises LayoutError on the first
    problem, before anything is written."""
    members = [(name, data, context, hashlib.sha256(data).hexdigest()) for name, data, context in table_sources(paths)]
    return _plans(members, paths, quarter, table_kind)


def _plans(members: list[tuple[str, bytes, str, str]], paths: list, quarter: str | None,
           table_kind: str | None) -> list[EditSetPlan]:
    forced_quarter = normalise_quarter(quarter) if quarter else None
    groups: dict[tuple[str, str, str], list[TableFile]] = {}
    seen_files = 0
    for name, data, context, sha in members:
        seen_files += 1
        tf = read_table(name, data, sha, context)
        q = tf.quarter
        if forced_quarter and q and q != forced_quarter:
            raise LayoutError(f"{name}: the file is for {display_quarter(q)}, not {display_quarter(forced_quarter)} "
                              f"as --quarter says")
        q = forced_quarter or q
        if not q:
            raise LayoutError(f"{name}: cannot tell the quarter from the file or its name; pass --quarter 2025Q2")
        table = table_kind or tf.table_kind
        if not table:
            raise LayoutError(f"{name}: cannot tell practitioner from hospital outpatient; pass --table")
        groups.setdefault((tf.kind, table, q), []).append(tf)
    if not seen_files:
        raise LayoutError(f"no NCCI table files in {', '.join(str(p) for p in paths)}")
    plans = []
    for (kind, table, q), files in sorted(groups.items()):
        plan = EditSetPlan(kind, table, q, files)
        _check_parts(plan)
        if kind == "mue":
            _check_unique_codes(plan)
        plans.append(plan)
    return plans


def _check_parts(plan: EditSetPlan) -> None:
    """A PTP quarter comes split by code range (f1..fN): every part must be in the same import, or
    the version would hold only some of the pairs."""
    parts = [f.part for f in plan.files]
    if plan.kind != "ptp" or all(p is None for p in parts):
        return
    numbered = sorted(p for p in parts if p is not None)
    if len(numbered) != len(set(numbered)):
        raise LayoutError(f"{plan.label}: the same code-range part is given twice: "
                          f"{', '.join(f.name for f in plan.files)}")
    if numbered != list(range(1, len(numbered) + 1)):
        missing = sorted(set(range(1, max(numbered) + 1)) - set(numbered))
        raise LayoutError(f"{plan.label}: code-range part(s) f{', f'.join(map(str, missing))} missing beside "
                          f"{', '.join(f.name for f in plan.files)}: import every part of the quarter's table "
                          f"in one command")


def _check_unique_codes(plan: EditSetPlan) -> None:
    seen: dict[str, str] = {}
    for f in plan.files:
        for row in f.rows:
            if row[0] in seen:
                raise LayoutError(f"{f.name}: code {row[0]} has two MUE rows in {plan.label} (also in {seen[row[0]]})")
            seen[row[0]] = f.name


def _existing(conn, plan: EditSetPlan) -> bool:
    c = ncci_edit_set.c
    return conn.execute(select(c.edit_set_id).where(
        c.kind == plan.kind, c.table_kind == plan.table_kind, c.quarter == plan.quarter,
        c.checksum == plan.checksum)).first() is not None


def _copy_rows(conn, table, columns: list[str], rows) -> None:
    """Bulk insert: COPY on PostgreSQL, executemany of tuples on SQLite (no per-row dicts)."""
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= _CHUNK:
            conn.exec_driver_sql(sql, batch)
            batch = []
    if batch:
        conn.exec_driver_sql(sql, batch)


def _ptp_values(set_id: int, files: list[TableFile], sqlite: bool):
    for f in files:
        for c1, c2, prior, eff, dele, mi, rationale in f.rows:
            if sqlite:  # SQLAlchemy's SQLite Date is ISO text, Boolean is 0/1
                yield (set_id, c1, c2, int(prior), eff.isoformat(), dele.isoformat() if dele else None, mi, rationale)
            else:
                yield (set_id, c1, c2, prior, eff, dele, mi, rationale)


def _mue_values(set_id: int, files: list[TableFile]):
    for f in files:
        for code, value, mai, mai_text, rationale in f.rows:
            yield (set_id, code, value, mai, mai_text, rationale)


def write_plans(engine: Engine, plans: list[EditSetPlan]) -> ImportReport:
    report = ImportReport()
    now = datetime.now(timezone.utc)
    with write_transaction(engine, "ncci") as conn:
        sqlite = conn.dialect.name == "sqlite"
        for plan in plans:
            if _existing(conn, plan):
                report.unchanged.append(plan.label)
                continue
            files = [{"name": f.name, "sha256": f.sha256, "rows": len(f.rows)} for f in plan.files]
            set_id = conn.execute(insert(ncci_edit_set).values(
                kind=plan.kind, table_kind=plan.table_kind, quarter=plan.quarter,
                valid_from=quarter_bounds(plan.quarter)[0], valid_to=quarter_bounds(plan.quarter)[1],
                checksum=plan.checksum, files=json.dumps(files), row_count=plan.rows, label=plan.label,
                imported_at=now).returning(ncci_edit_set.c.edit_set_id)).scalar_one()
            if plan.kind == "ptp":
                _copy_rows(conn, ncci_ptp, ["edit_set_id", "column1", "column2", "prior_1996", "effective_date",
                                            "deletion_date", "modifier_indicator", "rationale"],
                           _ptp_values(set_id, plan.files, sqlite))
            else:
                _copy_rows(conn, ncci_mue, ["edit_set_id", "code", "mue_value", "mai", "mai_text", "rationale"],
                           _mue_values(set_id, plan.files))
            report.added.append({"label": plan.label, "rows": plan.rows, "files": len(plan.files)})
    return report


def _imported_before(engine: Engine, members: list[tuple[str, bytes, str, str]]) -> list[str] | None:
    """Labels of the edit sets made of exactly these files for the quarters their names say, when
    every file belongs to one imported before: the usual re-run of a quarter's import, answered
    without parsing anything. None when that cannot be told from names and hashes alone."""
    from claimaudit.ncci.layouts import quarter_from_text
    from claimaudit.ncci.lookup import has_tables

    given = set()
    for name, _data, context, sha in members:
        quarter = quarter_from_text(name) or quarter_from_text(context)
        if quarter is None:  # the quarter is in the notice lines, or comes from --quarter: parse
            return None
        given.add((sha, quarter))
    with engine.connect() as conn:
        if not has_tables(conn):
            return None
        rows = conn.execute(select(ncci_edit_set.c.label, ncci_edit_set.c.quarter, ncci_edit_set.c.files)).all()
    covered, labels = set(), set()
    for label, quarter, files in rows:
        own = {(f["sha256"], quarter) for f in json.loads(files)}
        if own <= given:
            covered |= own
            labels.add(label)
    return sorted(labels) if given and covered == given else None


def import_ncci(engine: Engine, paths: list, *, quarter: str | None = None,
                table_kind: str | None = None) -> ImportReport:
    """Read every file first (nothing is written if one is bad), then write in one transaction."""
    members = [(name, data, context, hashlib.sha256(data).hexdigest()) for name, data, context in table_sources(paths)]
    if not quarter and not table_kind:  # with options the same bytes may be meant as another edit set
        known = _imported_before(engine, members)
        if known is not None:
            return ImportReport(unchanged=known)
    return write_plans(engine, _plans(members, paths, quarter, table_kind))
