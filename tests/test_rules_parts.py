"""A day audited in parts of patients gives exactly the findings of the day audited at once.

The demo fortnight (planted problems included) is onboarded as one inbox day, on SQLite and
PostgreSQL, and audited whole and in key ranges of the day's patients."""

from __future__ import annotations

import json
import os
from datetime import date

import pytest
from sqlalchemy import func, select

from claimaudit import pipeline
from claimaudit.errors import PipelineStateError
from claimaudit.rules.history import PatientPart, plan_parts
from claimaudit.rules.runner import run_rules, unique_findings
from claimaudit.samples.generator import generate
from claimaudit.settings import EXPECTATIONS_DIR, Settings
from claimaudit.store.db import engine_for
from claimaudit.store.schema import audit_finding, service_line

ONBOARDED = date(2025, 7, 1)


@pytest.fixture
def onboarded(db_url, tmp_path):
    """The demo fortnight's files in one inbox day, parsed and loaded."""
    generated = tmp_path / "generated"
    generate(generated, date(2025, 6, 2), date(2025, 6, 13), patients_per_day=30)
    day_dir = tmp_path / "inbox" / ONBOARDED.isoformat()
    day_dir.mkdir(parents=True)
    for path in sorted(generated.glob("*/*")):
        target = day_dir / path.name
        if path.is_file() and not target.exists():  # a redelivery keeps its name on a later day
            os.link(path, target)
    settings = Settings.from_env({"AUDIT_INBOX": str(tmp_path / "inbox"), "AUDIT_VAR_DIR": str(tmp_path / "var"),
                                  "AUDIT_DB_URL": db_url})
    for path in pipeline.begin_day(ONBOARDED, settings):
        pipeline.parse_file(path, ONBOARDED, settings)
    loaded = pipeline.load_history(ONBOARDED, settings)
    engine = engine_for(db_url)
    yield engine, settings, loaded
    engine.dispose()


def test_parts_cover_each_patient_once_and_give_the_same_findings(onboarded):
    engine, _, _ = onboarded
    whole = run_rules(engine, ONBOARDED, EXPECTATIONS_DIR)
    assert len(whole.findings) >= 20  # the planted problems

    parts = plan_parts(engine, ONBOARDED, max_lines=whole.history_rows // 6)
    assert len(parts) >= 6
    with engine.connect() as conn:
        patients = conn.scalar(select(func.count(service_line.c.patient_key.distinct()))
                               .where(service_line.c.received_date == ONBOARDED))
    assert sum(p.patients for p in parts) == patients
    for earlier, later in zip(parts, parts[1:]):  # ordered, disjoint key ranges
        assert earlier.first_patient <= earlier.last_patient < later.first_patient <= later.last_patient
    assert sum(p.slice_lines for p in parts) >= whole.history_rows  # superseded versions count too

    runs = [run_rules(engine, ONBOARDED, EXPECTATIONS_DIR, part=p) for p in parts]
    assert sum(r.history_rows for r in runs) == whole.history_rows
    assert sum(r.lines_audited for r in runs) == whole.lines_audited
    assert unique_findings(f for r in runs for f in r.findings) == whole.findings


def test_a_patient_is_never_split_and_a_large_one_gets_a_part_of_their_own(onboarded):
    engine, _, _ = onboarded
    parts = plan_parts(engine, ONBOARDED, max_lines=1)
    with engine.connect() as conn:
        patients = conn.scalar(select(func.count(service_line.c.patient_key.distinct()))
                               .where(service_line.c.received_date == ONBOARDED))
    assert len(parts) == patients
    assert all(p.patients == 1 and p.first_patient == p.last_patient and p.slice_lines >= 1 for p in parts)
    assert plan_parts(engine, date(2025, 7, 2), max_lines=1) == []  # nothing received that day


def test_pipeline_writes_the_same_rows_from_shares_as_from_one_run(onboarded):
    engine, settings, loaded = onboarded

    def audited(plan):
        runs = [pipeline.run_rules(ONBOARDED, share, settings) for share in plan]
        pipeline.write_findings(ONBOARDED, f"t{len(plan)}", runs, loaded, "2025-07-02T02:00:00+00:00", settings)
        with engine.connect() as conn:
            return conn.execute(select(audit_finding.c.rule_id, audit_finding.c.claim_id, audit_finding.c.line_number,
                                       audit_finding.c.finding_id)
                                .where(audit_finding.c.audit_date == ONBOARDED)
                                .order_by(audit_finding.c.finding_id)).all()

    whole = pipeline.plan_rules(ONBOARDED, settings)
    assert len(whole) == 1 and len(whole[0].parts) == 1
    one = audited(whole)

    def planned(part_lines: str, tasks: str, lines_name: str = "AUDIT_RULE_PART_LINES"):
        small = Settings.from_env({"AUDIT_INBOX": str(settings.inbox), "AUDIT_VAR_DIR": str(settings.var_dir),
                                   "AUDIT_DB_URL": settings.db_url, lines_name: part_lines, "AUDIT_RULE_TASKS": tasks})
        return small, pipeline.plan_rules(ONBOARDED, small)

    part_lines = str(whole[0].slice_lines // 8)
    small, plan = planned(part_lines, "3")
    assert len(plan) == 3 and [s.number for s in plan] == [1, 2, 3] and {s.shares for s in plan} == {3}
    assert sum(len(s.parts) for s in plan) >= 5  # several parts per task, audited one after the other
    assert audited(plan) == one and len(one) >= 20
    # As XCom carries them between tasks (JSON), and under the setting's old name (sites set it).
    _, single = planned(part_lines, "1", lines_name="AUDIT_RULE_BATCH_LINES")
    assert len(single) == 1 and len(single[0].parts) >= 5
    assert audited([json.loads(json.dumps(s.as_xcom())) for s in single]) == one

    runs = [pipeline.run_rules(ONBOARDED, share, small) for share in plan[:-1]]
    with pytest.raises(PipelineStateError, match="do not make up"):  # a lost share is an error, not fewer findings
        pipeline.write_findings(ONBOARDED, "lost", runs, loaded, "2025-07-02T02:00:00+00:00", small)


@pytest.mark.parametrize(("lines", "tasks", "groups"), [
    ([200, 200, 200, 200, 200, 26], 2, [[200, 200, 200], [200, 200, 26]]),  # a month: two tasks of three
    ([200, 200, 174], 2, [[200], [200, 174]]),
    ([5], 2, [[5]]),  # an ordinary day: one task
    ([1, 1, 1], 5, [[1], [1], [1]]),  # never more tasks than parts
    ([1, 1, 1, 10], 2, [[1, 1, 1], [10]]),  # balanced by lines, not by count
    ([], 2, [[]]),  # nothing received: one task, no part
])
def test_parts_are_shared_out_in_order_and_by_lines(lines, tasks, groups):
    from claimaudit.pipeline import _share_out

    shared = _share_out([PatientPart(f"{i:04d}", f"{i:04d}", 1, n) for i, n in enumerate(lines)], tasks)
    assert [[p.slice_lines for p in group] for group in shared] == groups
