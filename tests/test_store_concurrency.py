"""Two audit runs writing different days at the same time lose nothing and corrupt nothing."""

from __future__ import annotations

import threading
from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa

from claimaudit.model import Finding
from claimaudit.store import schema as t
from claimaudit.store.db import engine_for, ensure_schema
from claimaudit.store.findings import replace_day
from claimaudit.store.history import load_results
from support.parse_results import build_parse_result

DAYS = [date(2025, 6, 2), date(2025, 6, 3), date(2025, 6, 4)]
CLAIMS_PER_DAY = 300
ROUNDS = 3


def _day_result(day: date):
    specs = [{"claim_id": f"{day:%m%d}-{i:04d}", "patient": f"P{i % 50}",
              "lines": [("77386", "26", day), ("77387", "", day)]} for i in range(CLAIMS_PER_DAY)]
    return build_parse_result(f"{day.isoformat()}.837", specs, isa=f"{day:%y%m%d}001")


def _findings(result):
    return [Finding(rule_id=rule, severity="error", claim_key=c.claim_key, claim_id=c.claim_id, line_number=line,
                    date_of_service=None, procedure_code="77386", modifiers="26", message="m", source_file="f",
                    interchange_control=c.interchange_control, billing_npi=c.billing_npi, payer_class="CI")
            for c in result.claims for rule, line in (("R77386-MOD-26", 1), ("R77387-MOD-26-REQUIRED", 2))]


def _run_all(targets):
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(targets))

    def wrap(fn):
        def run():
            try:
                barrier.wait()
                fn()
            except BaseException as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)
        return run

    threads = [threading.Thread(target=wrap(fn)) for fn in targets]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert errors == [], errors


def test_concurrent_days_load_and_write_without_loss(db_url):
    engine = engine_for(db_url)
    ensure_schema(engine)
    results = {d: _day_result(d) for d in DAYS}
    _run_all([lambda d=d: load_results(engine, [results[d]], d) for d in DAYS])

    def write_day(day):
        for n in range(ROUNDS):  # reruns interleave with the other days' writes
            replace_day(engine, audit_date=day, run_id=f"run-{day}-{n}", ruleset_version="v",
                        findings=_findings(results[day]), stats={"files": 1},
                        started_at=datetime(2025, 6, 5, tzinfo=timezone.utc))

    _run_all([lambda d=d: write_day(d) for d in DAYS])
    with engine.connect() as conn:
        per_day = dict(conn.execute(sa.select(t.audit_finding.c.audit_date, sa.func.count())
                                    .group_by(t.audit_finding.c.audit_date)).all())
        runs = dict(conn.execute(sa.select(t.audit_run.c.audit_date, t.audit_run.c.run_id)).all())
        claims = conn.scalar(sa.select(sa.func.count()).select_from(t.claim))
        lines = conn.scalar(sa.select(sa.func.count()).select_from(t.service_line))
    assert claims == CLAIMS_PER_DAY * len(DAYS) and lines == 2 * claims
    assert per_day == {d: 2 * CLAIMS_PER_DAY for d in DAYS}
    assert runs == {d: f"run-{d}-{ROUNDS - 1}" for d in DAYS}
    engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_same_interchange_loaded_concurrently_is_stored_once(db_url):
    """Two processes picking up the same delivery at once: one stores it, the other skips it."""
    engine = engine_for(db_url)
    ensure_schema(engine)
    a = _day_result(DAYS[0])
    b = build_parse_result("copy.837", [{"claim_id": c.claim_id, "lines": [("77386", "26", DAYS[0])]}
                                        for c in a.claims[:1]], isa=a.claims[0].interchange_control)
    out: list[dict] = []
    _run_all([lambda: out.append(load_results(engine, [a], DAYS[0])),
              lambda: out.append(load_results(engine, [b], DAYS[0]))])
    assert sorted(o["duplicates"] for o in out) == [0, 1]
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(t.interchange)) == 1
    engine.dispose()
