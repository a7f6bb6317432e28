"""The plumbing between the pipeline's steps: one engine and one schema check per process, and
typed step results that survive the trip through XCom (JSON) unchanged."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.engine import Engine

from claimaudit import pipeline
from claimaudit.rules.history import PatientPart
from claimaudit.store import db
from tests.test_scale_out import DAY, _settings, mixed_inbox


def test_an_audited_day_makes_one_engine_and_checks_the_schema_once(tmp_path, monkeypatch):
    made: list[Engine] = []
    checked: list[Engine] = []
    engine_init, schema_is_current = Engine.__init__, db.schema_is_current

    def counted_init(self, *args, **kwargs):
        made.append(self)
        engine_init(self, *args, **kwargs)

    monkeypatch.setattr(Engine, "__init__", counted_init)
    monkeypatch.setattr(db, "schema_is_current", lambda engine: checked.append(engine) or schema_is_current(engine))
    mixed_inbox(tmp_path / "inbox")
    settings = _settings(tmp_path, "var", f"sqlite:///{tmp_path / 'report.db'}")

    out = pipeline.audit_day(DAY, settings)
    assert out["summary"]["findings"] == 1 and out["outbox"].endswith(".eml")
    assert (len(made), len(checked)) == (1, 1)
    pipeline.audit_day(DAY, settings)  # a rerun in the same process reuses both
    assert (len(made), len(checked)) == (1, 1)

    db.dispose_shared_engines()  # as at exit: the next use starts afresh
    pipeline.audit_day(DAY, settings)
    assert (len(made), len(checked)) == (2, 2)


def test_step_results_survive_xcom_as_json():
    part = PatientPart("0a", "9f", 3, 120)
    results = [
        pipeline.ParsedFile("2025-06-03", "A.x12", "/staging/a.stage", 10, "", 2, 4, ["cut off"], 0.1),
        pipeline.LoadedDay(*range(18)),
        pipeline.RulesShare(number=1, shares=2, parts=[part], patients=3, slice_lines=120),
        pipeline.ShareResult("/staging/f.stage", 1, 2, 1, 5, "v1", 40, 120, {"suites": 1.5}, {"unchecked": {}}),
    ]
    for result in results:
        carried = json.loads(json.dumps(result.as_xcom()))
        assert type(result).of(carried) == result and type(result).of(result) is result
    with pytest.raises(TypeError):  # a result from another shape is refused, not read half
        pipeline.RulesShare.of({"batch": 1, "batches": 1, "parts": []})


def test_the_step_order_is_the_dags_and_each_step_has_its_runner():
    assert pipeline.STEP_NAMES == ("resolve_day", "find_files", "parse_file", "load_history", "plan_rules",
                                   "run_rules", "write_findings", "send_summary")
    assert [s.task_id for s in pipeline.STEPS if s.mapped] == ["parse_file", "run_rules"]
