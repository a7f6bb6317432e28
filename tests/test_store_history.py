"""Claim history loading on SQLite and PostgreSQL: bulk, deduplicated, rejections, supersession."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from claimaudit.store import schema as t
from claimaudit.store.history import load_results
from support.parse_results import build_parse_result

D1, D2, D3 = date(2025, 6, 2), date(2025, 6, 3), date(2025, 6, 4)


def snapshot(engine) -> dict[str, list[tuple]]:
    """Every table's rows, sorted, minus load timestamps: to compare a rerun with the first run."""
    out = {}
    with engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            cols = [c for c in table.c if c.name != "loaded_at"]
            out[table.name] = sorted(conn.execute(sa.select(*cols)).all(), key=repr)
    return out


def _claims(engine):
    with engine.connect() as conn:
        return {r.claim_id + "@" + r.received_date.isoformat(): r for r in conn.execute(sa.select(t.claim))}


def day_file(name="day1.837", isa="000000101", **kw):
    return build_parse_result(name, [
        {"claim_id": "C1", "lines": [("77386", "", D1), ("77387", "26", D1)], "dx": ["Z510", "C61"]},
        {"claim_id": "C2", "lines": [("77386", "TC", D1)], "patient": "P2"},
    ], isa=isa, **kw)


def test_load_counts_and_rows(engine):
    result = day_file()
    counts = load_results(engine, [result], D1, file_sizes={result.file_sha256: 1234})
    assert {k: counts[k] for k in ("files", "duplicates", "claims", "lines", "diagnoses", "rejections",
                                   "superseded")} == dict(files=1, duplicates=0, claims=2, lines=3, diagnoses=3,
                                                          rejections=0, superseded=0)
    assert (counts["day_files"], counts["day_claims"], counts["day_lines"]) == (1, 2, 3)
    with engine.connect() as conn:
        lines = conn.execute(sa.select(t.service_line).order_by(t.service_line.c.claim_id,
                                                                t.service_line.c.line_number)).all()
        claim_by_key = {c.claim_key: c for c in result.claims}
        for line in lines:  # patient_key and received_date copied from the claim
            assert line.patient_key == claim_by_key[line.claim_key].patient_key
            assert line.received_date == D1
        assert [(x.claim_id, x.line_number, x.procedure_code, x.modifiers) for x in lines] == [
            ("C1", 1, "77386", ""), ("C1", 2, "77387", "26"), ("C2", 1, "77386", "TC")]
        f = conn.execute(sa.select(t.ingested_file)).one()
        assert (f.status, f.claims, f.lines, f.size_bytes, f.received_date) == ("loaded", 2, 3, 1234, D1)
        ic = conn.execute(sa.select(t.interchange)).one()
        assert (ic.sender_id, ic.interchange_control, ic.interchange_date) == ("CLINIC01", "000000101",
                                                                                date(2025, 6, 1))


def test_same_file_twice_is_a_duplicate_and_changes_nothing(engine):
    load_results(engine, [day_file()], D1)
    before = snapshot(engine)
    again = load_results(engine, [day_file()], D1)
    assert (again["files"], again["duplicates"], again["claims"], again["lines"]) == (0, 1, 0, 0)
    assert (again["day_claims"], again["day_lines"]) == (2, 3)  # the day's totals are the same on a rerun
    assert snapshot(engine) == before
    later = load_results(engine, [day_file()], D2)  # redelivered on a later day
    assert later["duplicates"] == 1 and later["claims"] == 0
    assert snapshot(engine) == before


def test_same_interchange_in_another_file_is_a_duplicate(engine):
    load_results(engine, [day_file()], D1)
    copy = day_file(name="renamed-and-rewrapped.837", content_salt="different bytes")
    assert copy.file_sha256 != day_file().file_sha256
    counts = load_results(engine, [copy], D2)
    assert (counts["files"], counts["duplicates"], counts["duplicate_interchanges"], counts["claims"]) == (1, 1, 1, 0)
    with engine.connect() as conn:
        status = conn.execute(sa.select(t.ingested_file.c.status).where(
            t.ingested_file.c.file_sha256 == copy.file_sha256)).scalar_one()
        assert status == "duplicate"
        assert conn.execute(sa.select(sa.func.count()).select_from(t.claim)).scalar() == 2


def test_duplicate_interchange_within_one_batch(engine):
    a, b = day_file(name="a.837"), day_file(name="b.837", content_salt="x")
    counts = load_results(engine, [a, b], D1)
    assert (counts["claims"], counts["duplicate_interchanges"]) == (2, 1)


def test_rejections_recorded_once_per_day_with_quarantine_path(engine):
    bad = build_parse_result("broken.837", [], rejections=[
        {"reason": "ISA segment is 90 characters, expected 106", "segment": "ISA", "position": 1},
        {"reason": "SE01 says 12 segments, counted 11", "segment": "SE", "position": 14, "unit": "transaction"}])
    good = day_file()
    q = {bad.file_sha256: "/var/quarantine/2025-06-02/broken.837"}
    first = load_results(engine, [good, bad], D1, quarantine_paths=q)
    assert first["rejections"] == 2
    before = snapshot(engine)
    rerun = load_results(engine, [good, bad], D1, quarantine_paths=q)
    assert rerun["rejections"] == 2
    assert snapshot(engine) == before  # replaced, not duplicated
    rows = before["rejection"]
    assert len(rows) == 2
    with engine.connect() as conn:
        rej = conn.execute(sa.select(t.rejection).order_by(t.rejection.c.seq)).all()
        assert [(r.seq, r.segment_id, r.quarantine_path, r.audit_date) for r in rej] == [
            (1, "ISA", q[bad.file_sha256], D1), (2, "SE", q[bad.file_sha256], D1)]
        assert conn.execute(sa.select(t.ingested_file.c.status).where(
            t.ingested_file.c.file_sha256 == bad.file_sha256)).scalar_one() == "rejected"


def test_replacement_and_void_supersede_the_lineage(engine):
    load_results(engine, [day_file()], D1)
    repl = build_parse_result("repl.837", [{"claim_id": "C1", "freq": "7", "ref": "C1",
                                            "lines": [("77386", "", D1)]}], isa="000000102")
    assert load_results(engine, [repl], D2)["superseded"] == 1
    claims = _claims(engine)
    assert claims["C1@2025-06-02"].superseded_by == claims["C1@2025-06-03"].claim_key
    assert claims["C1@2025-06-03"].superseded_by is None
    assert claims["C2@2025-06-02"].superseded_by is None  # other lineages untouched
    void = build_parse_result("void.837", [{"claim_id": "C1-VOID", "freq": "8", "ref": "C1",
                                            "lines": [("77386", "", D1)]}], isa="000000103")
    assert load_results(engine, [void], D3)["superseded"] == 1
    claims = _claims(engine)
    void_key = claims["C1-VOID@2025-06-04"].claim_key
    assert claims["C1@2025-06-02"].superseded_by == void_key
    assert claims["C1@2025-06-03"].superseded_by == void_key
    assert claims["C1-VOID@2025-06-04"].superseded_by is None


def test_late_loaded_original_is_ordered_by_received_date(engine):
    """A backfill loads an older day after a newer one: the replacement still wins."""
    repl = build_parse_result("repl.837", [{"claim_id": "C1", "freq": "7", "ref": "C1",
                                            "lines": [("77386", "", D1)]}], isa="000000102")
    load_results(engine, [repl], D2)
    counts = load_results(engine, [day_file()], D1)
    assert counts["superseded"] == 1
    claims = _claims(engine)
    assert claims["C1@2025-06-02"].superseded_by == claims["C1@2025-06-03"].claim_key
    assert claims["C1@2025-06-03"].superseded_by is None


def test_other_billing_npi_is_another_lineage(engine):
    load_results(engine, [day_file()], D1)
    other = build_parse_result("o.837", [{"claim_id": "C1", "freq": "7", "ref": "C1", "npi": "1497758544",
                                          "lines": [("77386", "", D1)]}], isa="000000109")
    assert load_results(engine, [other], D2)["superseded"] == 0


def test_bulk_load_uses_executemany_not_one_insert_per_row(engine):
    specs = [{"claim_id": f"C{i:05d}", "patient": f"P{i % 97}",
              "lines": [("77386", "", D1), ("77387", "26", D1), ("77427", "", D1)]} for i in range(3000)]
    result = build_parse_result("big.837", specs)
    inserts: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT"):
            inserts.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        counts = load_results(engine, [result], D1)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert (counts["claims"], counts["lines"], counts["diagnoses"]) == (3000, 9000, 3000)
    # 15,000 rows: a per-row loader would issue 15,000 INSERTs; batches need a few dozen at most.
    assert len(inserts) < 200, len(inserts)


def test_every_stored_line_and_diagnosis_has_its_claim(engine):
    """The loader's guarantee that replaced the row-by-row foreign keys (migration 0002): lines and
    diagnoses of skipped duplicates are not stored, and nothing is stored without its claim."""
    a, copy = day_file(name="a.837"), day_file(name="b.837", content_salt="x")  # the same interchange twice
    load_results(engine, [a, copy], D1)
    replacement = build_parse_result("r.837", [{"claim_id": "C1", "freq": "7", "ref": "C1",
                                                "lines": [("77386", "", D1)], "dx": ["Z510", "C7951"]}],
                                     isa="000000102")
    load_results(engine, [replacement, day_file()], D2)
    with engine.connect() as conn:
        for child in (t.service_line, t.diagnosis):
            joined = child.outerjoin(t.claim, t.claim.c.claim_key == child.c.claim_key)
            orphans = conn.scalar(sa.select(sa.func.count()).select_from(joined).where(t.claim.c.claim_key.is_(None)))
            assert orphans == 0, child.name
        assert conn.scalar(sa.select(sa.func.count()).select_from(t.service_line)) == 4
        assert conn.scalar(sa.select(sa.func.count()).select_from(t.diagnosis)) == 5
