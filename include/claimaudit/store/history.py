"""Loading parsed 837 rows into the claim history.

Each call is one write transaction. The same file (by sha256) or the same interchange
(sender, ISA13) is stored once: a redelivery is counted as a duplicate, never an error. A
replacement (frequency 7) or void (8) supersedes the earlier versions of its lineage.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timezone

from sqlalchemy import Connection, Date, Engine, and_, bindparam, delete, func, select, tuple_, update

from claimaudit.model import Claim, Diagnosis, ParseResult, ServiceLine, as_tuples, columns
from claimaudit.staging import StagedRows
from claimaudit.store import schema as t
from claimaudit.store.chunks import chunks as _chunks
from claimaudit.store.db import write_transaction
from claimaudit.store.patient_keys import check_secret
from claimaudit.store.limits import fit_rejection, fit_to_store

ANALYZE_AFTER_LINES = 20_000  # a load this large refreshes the planner's statistics (PostgreSQL)
BATCH_ROWS = 5_000  # rows per executemany: bounds memory and statement size
_IN_CHUNK = 500  # keys per IN (...) lookup


def _insert_many(conn: Connection, table, rows: list[dict]) -> None:
    for chunk in _chunks(rows, BATCH_ROWS):
        conn.execute(table.insert(), list(chunk))


def _bulk_insert(conn: Connection, table, columns: Sequence[str], rows: list[tuple]) -> None:
    """Insert many rows through the driver's bulk path: COPY on PostgreSQL, one executemany per
    batch on SQLite. SQLAlchemy's per-row parameter processing cost as much as the inserts; the
    values here are already plain str/int/float/date/None."""
    if not rows:
        return
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    dbapi = conn.connection.dbapi_connection
    if conn.dialect.name == "postgresql":
        with dbapi.cursor() as cur, cur.copy(f"COPY {quote(table.name)} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    if conn.dialect.name != "sqlite":  # any other backend: SQLAlchemy's executemany
        _insert_many(conn, table, [dict(zip(columns, row)) for row in rows])
        return
    # SQLite stores dates as ISO text (as SQLAlchemy's Date type writes them).
    date_at = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, Date)]
    if date_at:
        rows = [_iso_dates(row, date_at) for row in rows]
    sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({', '.join('?' * len(columns))})"
    cur = dbapi.cursor()
    try:
        for chunk in _chunks(rows, BATCH_ROWS):
            cur.executemany(sql, chunk)
    finally:
        cur.close()


# SQLite page cache while loading (KiB). A large day inserts a million rows into indexes keyed
# by hashes (claim_key, patient_key), so every insert lands on a random page; with SQLite's
# default 2 MiB cache a month's load spent a third of its time re-reading pages.
SQLITE_LOAD_CACHE_KIB = 128 * 1024


@contextlib.contextmanager
def _bulk_cache(conn: Connection):
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_LOAD_CACHE_KIB}")
    try:
        yield
    finally:  # the pooled connection goes back with the default cache
        conn.exec_driver_sql(f"PRAGMA cache_size={int(before)}")


def _iso_dates(row: tuple, positions: list[int]) -> tuple:
    out = list(row)
    for i in positions:
        if out[i] is not None:
            out[i] = out[i].isoformat()
    return tuple(out)


# Row layouts: the model's fields, then the columns the store adds.
_CLAIM_FIELDS = columns(Claim)
_CLAIM_COLUMNS = _CLAIM_FIELDS + ("received_date", "lineage_ref", "interchange_date", "load_seq", "superseded_by")
_LINE_FIELDS = columns(ServiceLine)
_LINE_COLUMNS = _LINE_FIELDS + ("patient_key", "received_date")
_DX_FIELDS = columns(Diagnosis)


# Positions in a claim tuple (the model's field order); lines and diagnoses start with claim_key.
_C_KEY, _C_ID, _C_SENDER, _C_ICN, _C_PATIENT, _C_REF = (
    _CLAIM_FIELDS.index(n) for n in ("claim_key", "claim_id", "sender_id", "interchange_control", "patient_key",
                                     "original_claim_ref"))
assert _LINE_FIELDS[0] == _DX_FIELDS[0] == "claim_key"


def _existing_interchanges(conn: Connection, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    found: set = set()
    cols = tuple_(t.interchange.c.sender_id, t.interchange.c.interchange_control)
    for chunk in _chunks(sorted(keys), _IN_CHUNK):
        found.update(tuple(r) for r in conn.execute(
            select(t.interchange.c.sender_id, t.interchange.c.interchange_control).where(cols.in_(chunk))))
    return found


def lineage_ref(original_claim_ref: str, claim_id: str) -> str:
    """The claim a version belongs to: REF*F8 when present, else its own CLM01."""
    return original_claim_ref or claim_id


def load_results(engine: Engine, results: Sequence[ParseResult | StagedRows], received_date: date,
                 quarantine_paths: dict[str, str] | None = None, *,
                 file_sizes: dict[str, int] | None = None, whole_day: bool = False,
                 ignored: Sequence[tuple[str, str, str]] | None = None,
                 read_counts: dict[str, tuple[int, int]] | None = None) -> dict:
    """Add one inbox day's parse results to the claim history.

    ``results`` are ParseResults, or the same read from staging with rows as tuples.

    ``quarantine_paths`` maps a file's sha256 (or its source_file name) to where the bad file
    was copied; it is stored with the file's rejections. ``file_sizes`` (sha256 -> bytes) fills
    ingested_file.size_bytes when the caller knows it (0 otherwise). Returns counts: files (new files
    stored), duplicates (files and interchanges skipped as already loaded), claims, lines,
    diagnoses, rejections, superseded (claims newly superseded), and day_files/day_claims/
    day_lines/day_claims_read/day_lines_read: the history's totals for ``received_date`` after this
    load (each file once, as stored and as read), the same on a rerun.

    ``whole_day``: ``results`` are everything the day's folder holds now, so rejections recorded
    for the day's files that are no longer there (a cut file replaced by the full one) go.
    ``ignored``: (name, kind, reason) of the folder's entries that were not audited; they replace
    the day's earlier list (counted as ``ignored``).

    A value that the store's columns cannot hold rejects its claim or transaction set
    (``limits.fit_to_store``) before anything is written, the same on SQLite and PostgreSQL.

    ``read_counts`` (sha256 -> (claims, lines) as read, before the audit scope kept some) fills
    ingested_file.claims_read/lines_read; without it they equal what was stored.
    """
    read_counts = read_counts or {}
    for r in results:
        if not isinstance(r, StagedRows):  # staged rows were fitted when they were parsed
            fit_to_store(r)
    quarantine_paths = quarantine_paths or {}
    file_sizes = file_sizes or {}
    now = datetime.now(timezone.utc)
    counts = dict(files=0, moved_files=0, duplicates=0, duplicate_files=0, duplicate_interchanges=0, claims=0, lines=0,
                  diagnoses=0, rejections=0, superseded=0)
    with write_transaction(engine, "history") as conn, _bulk_cache(conn):
        # The rows were keyed by the parser with the secret in force: it must be the history's.
        check_secret(conn)
        known_files = {
            r.file_sha256: r.received_date for r in conn.execute(
                select(t.ingested_file.c.file_sha256, t.ingested_file.c.received_date).where(
                    t.ingested_file.c.file_sha256.in_(sorted({r.file_sha256 for r in results}))))
        }
        # Loading does not depend on the order days are loaded in: a file already stored as
        # received on a later day (that day was audited first: two ranges at once, or a backfill
        # of an earlier month) was in fact first received today, so it moves here.
        later = sorted(sha for sha, seen in known_files.items() if _as_date(seen) > received_date)
        if later:
            counts["moved_files"] = _move_files(conn, later, received_date)
            known_files.update({sha: received_date for sha in later})
        # Rejections belong to the day a file first arrived; a rerun of that day rewrites them.
        _record_rejections(conn, results, received_date, known_files, quarantine_paths, counts, whole_day)
        if ignored is not None:
            _record_ignored(conn, received_date, ignored)
        counts["ignored"] = conn.scalar(select(func.count()).select_from(t.ignored_entry)
                                        .where(t.ignored_entry.c.audit_date == received_date)) or 0

        new_results: list[ParseResult] = []
        seen_in_batch: set[str] = set()
        for r in results:
            if r.file_sha256 in known_files or r.file_sha256 in seen_in_batch:
                counts["duplicate_files"] += 1
                continue
            seen_in_batch.add(r.file_sha256)
            new_results.append(r)

        envelope_keys = {(e.sender_id, e.interchange_control) for r in new_results for e in r.envelopes}
        taken = _existing_interchanges(conn, envelope_keys) if envelope_keys else set()
        next_seq = (conn.scalar(select(func.max(t.claim.c.load_seq))) or 0) + 1
        loaded_files: list[str] = []
        for r in new_results:
            next_seq = _load_file(conn, r, received_date, now, taken, next_seq, counts,
                                  file_sizes.get(r.file_sha256, 0), read_counts.get(r.file_sha256))
            loaded_files.append(r.file_sha256)
        counts["files"] = len(new_results)
        counts["duplicates"] = counts["duplicate_files"] + counts["duplicate_interchanges"]
        if loaded_files or later:
            counts["superseded"] = apply_supersession(conn, loaded_files + later)
        if conn.dialect.name == "postgresql" and counts["lines"] >= ANALYZE_AFTER_LINES:
            # Fresh statistics for the rules' queries right after: with none yet (a new table,
            # autovacuum not come round) the planner guessed 6 patients for 31,000 and read a
            # month's batch by nested loops, 50 times slower. ANALYZE samples; about a second.
            for table in (t.claim, t.service_line, t.diagnosis):
                conn.exec_driver_sql(f"ANALYZE {table.name}")
        counts.update(_day_totals(conn, received_date))
    return counts


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _move_files(conn: Connection, shas: list[str], day: date) -> int:
    """Make ``day`` the received date of these stored files, their interchanges, claims and lines;
    their rejections recorded on the later day go (this load records them on ``day``)."""
    for chunk in _chunks(shas, _IN_CHUNK):
        conn.execute(update(t.ingested_file).where(t.ingested_file.c.file_sha256.in_(chunk)).values(received_date=day))
        conn.execute(update(t.interchange).where(t.interchange.c.file_sha256.in_(chunk)).values(received_date=day))
        keys = select(t.claim.c.claim_key).where(t.claim.c.file_sha256.in_(chunk)).scalar_subquery()
        conn.execute(update(t.service_line).where(t.service_line.c.claim_key.in_(keys)).values(received_date=day))
        conn.execute(update(t.claim).where(t.claim.c.file_sha256.in_(chunk)).values(received_date=day))
        conn.execute(delete(t.rejection).where(and_(t.rejection.c.file_sha256.in_(chunk),
                                                    t.rejection.c.audit_date > day)))
    return len(shas)


def _record_ignored(conn: Connection, day: date, ignored: Sequence[tuple[str, str, str]]) -> None:
    conn.execute(delete(t.ignored_entry).where(t.ignored_entry.c.audit_date == day))
    rows = {name: dict(audit_date=day, name=name, kind=kind, reason=reason) for name, kind, reason in ignored}
    _insert_many(conn, t.ignored_entry, [fit_rejection(row) for row in rows.values()])


def known_lineages(engine: Engine, lineages: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (billing NPI, lineage ref) pairs the claim history holds (issue 18's audit scope)."""
    found: set = set()
    cols = tuple_(t.claim.c.billing_npi, t.claim.c.lineage_ref)
    with engine.connect() as conn:
        for chunk in _chunks(sorted(lineages), _IN_CHUNK):
            found.update(tuple(r) for r in conn.execute(
                select(t.claim.c.billing_npi, t.claim.c.lineage_ref).where(cols.in_(chunk)).distinct()))
    return found


def _record_rejections(conn: Connection, results: list[ParseResult], day: date, known_files: dict,
                       quarantine_paths: dict[str, str], counts: dict, whole_day: bool = False) -> None:
    # A byte-identical redelivery on a later day was already recorded on its first day.
    mine = [r for r in results if known_files.get(r.file_sha256, day) == day]
    if whole_day:
        conn.execute(delete(t.rejection).where(t.rejection.c.audit_date == day))
    shas = [] if whole_day else sorted({r.file_sha256 for r in mine})
    for chunk in _chunks(shas, _IN_CHUNK):
        conn.execute(delete(t.rejection).where(and_(t.rejection.c.audit_date == day,
                                                    t.rejection.c.file_sha256.in_(chunk))))
    rows, done = [], set()
    for r in mine:
        if r.file_sha256 in done:
            continue
        done.add(r.file_sha256)
        where = quarantine_paths.get(r.file_sha256) or quarantine_paths.get(r.source_file, "")
        for seq, rej in enumerate(r.rejections, start=1):
            rows.append(fit_rejection(dict(
                audit_date=day, file_sha256=r.file_sha256, seq=seq, source_file=rej.source_file, unit=rej.unit,
                interchange_control=rej.interchange_control, transaction_control=rej.transaction_control,
                segment_position=rej.segment_position, segment_id=rej.segment_id, reason=rej.reason,
                quarantine_path=where)))
    _insert_many(conn, t.rejection, rows)
    counts["rejections"] = len(rows)


def _load_file(conn: Connection, r: ParseResult | StagedRows, day: date, now: datetime, taken: set, next_seq: int,
               counts: dict, size_bytes: int, read: tuple[int, int] | None = None) -> int:
    """Store one new file's claims (skipping interchanges already stored); returns the next load_seq."""
    isa_dates: dict[tuple[str, str], date | None] = {}
    for e in r.envelopes:
        isa_dates.setdefault((e.sender_id, e.interchange_control), e.interchange_date)
    new_isas = [k for k in isa_dates if k not in taken]
    counts["duplicate_interchanges"] += len(isa_dates) - len(new_isas)
    taken.update(new_isas)  # a second copy later in the same batch is a duplicate too
    keep = set(new_isas)

    claims = [c for c in as_tuples(r.claims, _CLAIM_FIELDS) if (c[_C_SENDER], c[_C_ICN]) in keep]
    patient_of = {c[_C_KEY]: c[_C_PATIENT] for c in claims}
    claim_rows = [
        c + (day, lineage_ref(c[_C_REF], c[_C_ID]), isa_dates.get((c[_C_SENDER], c[_C_ICN])), seq, None)
        for seq, c in enumerate(claims, start=next_seq)]
    line_rows = [ln + (patient_of[ln[0]], day) for ln in as_tuples(r.lines, _LINE_FIELDS) if ln[0] in patient_of]
    dx_rows = [d for d in as_tuples(r.diagnoses, _DX_FIELDS) if d[0] in patient_of]

    if isa_dates and not new_isas:
        status = "duplicate"
    elif r.rejections:
        status = "partial" if claims else "rejected"
    else:
        status = "loaded"
    conn.execute(t.ingested_file.insert(), dict(
        file_sha256=r.file_sha256, source_file=r.source_file, received_date=day,
        size_bytes=size_bytes, status=status, claims=len(claim_rows), lines=len(line_rows), loaded_at=now,
        claims_read=read[0] if read else len(r.claims), lines_read=read[1] if read else len(r.lines)))
    if new_isas:
        conn.execute(t.interchange.insert(), [
            dict(sender_id=s, interchange_control=c, file_sha256=r.file_sha256, source_file=r.source_file,
                 received_date=day, interchange_date=isa_dates[(s, c)]) for s, c in new_isas])
    _bulk_insert(conn, t.claim, _CLAIM_COLUMNS, claim_rows)
    _bulk_insert(conn, t.service_line, _LINE_COLUMNS, line_rows)
    _bulk_insert(conn, t.diagnosis, _DX_FIELDS, dx_rows)
    counts["claims"] += len(claim_rows)
    counts["lines"] += len(line_rows)
    counts["diagnoses"] += len(dx_rows)
    return next_seq + len(claim_rows)


def apply_supersession(conn: Connection, file_shas: list[str]) -> int:
    """Recompute the current version of every lineage touched by these files.

    Versions are ordered by received_date, interchange date, load order; every earlier version
    points at the current one through ``superseded_by``. Returns how many claims changed to
    superseded. Recomputing (not just marking) keeps late-arriving originals in order too.
    """
    c = t.claim.c
    touched = (select(c.billing_npi, c.lineage_ref).where(c.file_sha256.in_(file_shas)).distinct().subquery())
    multi = (select(c.billing_npi, c.lineage_ref)
             .join(touched, and_(c.billing_npi == touched.c.billing_npi, c.lineage_ref == touched.c.lineage_ref))
             .group_by(c.billing_npi, c.lineage_ref).having(func.count() > 1).subquery())
    rows = conn.execute(
        select(c.claim_key, c.billing_npi, c.lineage_ref, c.received_date, c.interchange_date, c.load_seq,
               c.superseded_by)
        .join(multi, and_(c.billing_npi == multi.c.billing_npi, c.lineage_ref == multi.c.lineage_ref))
    ).all()
    lineages: dict[tuple[str, str], list] = defaultdict(list)
    for row in rows:
        lineages[(row.billing_npi, row.lineage_ref)].append(row)
    changes: list[dict] = []
    newly = 0
    for versions in lineages.values():
        versions.sort(key=lambda v: (v.received_date, v.interchange_date or date.min, v.load_seq))
        current = versions[-1].claim_key
        for v in versions:
            want = None if v.claim_key == current else current
            if v.superseded_by != want:
                changes.append({"k": v.claim_key, "s": want})
                newly += v.superseded_by is None and want is not None
    if changes:
        stmt = update(t.claim).where(c.claim_key == bindparam("k")).values(superseded_by=bindparam("s"))
        for chunk in _chunks(changes, BATCH_ROWS):
            conn.execute(stmt, list(chunk))
    return newly


def _day_totals(conn: Connection, day: date) -> dict:
    files = conn.scalar(select(func.count()).select_from(t.ingested_file)
                        .where(t.ingested_file.c.received_date == day))
    claims = conn.scalar(select(func.count()).select_from(t.claim).where(t.claim.c.received_date == day))
    lines = conn.scalar(select(func.count()).select_from(t.service_line)
                        .where(t.service_line.c.received_date == day))
    # As read (every claim of the day's files, before the audit scope kept some), each file once.
    read_claims, read_lines = conn.execute(
        select(func.coalesce(func.sum(t.ingested_file.c.claims_read), 0),
               func.coalesce(func.sum(t.ingested_file.c.lines_read), 0))
        .where(t.ingested_file.c.received_date == day)).one()
    return {"day_files": files or 0, "day_claims": claims or 0, "day_lines": lines or 0,
            "day_claims_read": int(read_claims), "day_lines_read": int(read_lines)}
