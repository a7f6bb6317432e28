"""The DAG file parses cleanly and cheaply: no I/O, no connection lookups, no heavy imports at
parse time, and the scheduling contract (daily 02:00, catchup off, one run at a time, retries)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DAG_FILE = ROOT / "dags" / "claims_audit_nightly.py"

# Runs in a fresh interpreter so that nothing imported by other tests hides a parse-time import.
PROBE = textwrap.dedent(
    """
    import json, sys, importlib.util
    events = []
    def hook(event, args):
        if event == "open" and isinstance(args[0], str):
            events.append(["open", args[0]])
        elif event in ("socket.connect", "socket.getaddrinfo"):
            events.append([event, repr(args[1] if len(args) > 1 else args)])
    import airflow.sdk  # the framework's own start-up I/O and imports are not ours
    before = set(sys.modules)
    spec = importlib.util.spec_from_file_location("claims_audit_nightly", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    sys.addaudithook(hook)
    spec.loader.exec_module(module)
    dag = module.claims_audit_nightly()
    heavy = [m for m in ("claimaudit", "pandas", "great_expectations", "sqlalchemy", "pyx12")
             if m in sys.modules and m not in before]
    print(json.dumps({"events": events, "heavy": heavy}))
    """
)


@pytest.fixture(scope="module")
def dag():
    from airflow.sdk.definitions.dag import DAG  # noqa: F401  (import check)
    import importlib.util

    spec = importlib.util.spec_from_file_location("claims_audit_nightly_under_test", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.claims_audit_nightly()


def test_parse_time_does_no_io_and_no_heavy_imports(tmp_path):
    env = dict(os.environ)
    env.update({
        "AUDIT_INBOX": str(tmp_path / "no-such-inbox"),
        "AUDIT_DB_URL": "postgresql://nobody@192.0.2.1:1/none",  # would hang or fail if touched
        "AUDIT_VAR_DIR": str(tmp_path / "var"),
    })
    env.pop("AIRFLOW_CONN_SMTP_DEFAULT", None)
    out = subprocess.run([sys.executable, "-c", PROBE, str(DAG_FILE)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["heavy"] == [], f"heavy modules imported at parse time: {report['heavy']}"
    ours = [e for e in report["events"] if e[0] != "open" or str(tmp_path) in e[1] or "/var/" in e[1]
            and str(ROOT) in e[1]]
    assert ours == [], f"I/O at parse time: {ours}"
    assert not (tmp_path / "var").exists()


def test_schedule_and_defaults(dag):
    assert dag.dag_id == "claims_audit_nightly"
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert set(dag.tags) >= {"claims-audit", "cpt-77386"}
    assert dag.doc_md and "audit" in dag.doc_md.lower()
    assert "audit_date" in dag.params
    timetable = dag.timetable
    assert type(timetable).__name__ == "CronTriggerTimetable"
    assert timetable.expression == "0 2 * * *"
    assert timetable.interval == timedelta(days=1)  # the data interval is the day before the run
    for t in dag.tasks:
        assert t.retries >= 2, f"{t.task_id} has no retries"
        assert t.retry_delay >= timedelta(minutes=1)


def test_task_graph_follows_the_pipeline_steps(dag):
    """The DAG runs pipeline.STEPS in their order (audit_day and the benchmark iterate the same)."""
    from claimaudit.pipeline import STEPS

    order = [step.task_id for step in STEPS]
    assert {t.task_id for t in dag.tasks} == set(order)
    assert [t.task_id for t in dag.topological_sort()] == order
    for up, down in zip(order, order[1:]):
        assert down in dag.get_task(up).downstream_task_ids, f"{up} -> {down} missing"
    mapped = {t.task_id for t in dag.tasks if t.is_mapped}
    assert mapped == {step.task_id for step in STEPS if step.mapped} == {"parse_file", "run_rules"}
    # An empty inbox day skips the mapped parse task; the day must still be audited.
    assert dag.get_task("load_history").trigger_rule == "none_failed"


def test_audit_date_resolution():
    from claimaudit.pipeline import resolve_audit_date

    run = datetime(2025, 6, 4, 2, 0, tzinfo=timezone.utc)
    # The scheduled 02:00 run's interval starts the day before: that is the audited day.
    assert resolve_audit_date(None, run - timedelta(days=1), run).isoformat() == "2025-06-03"
    assert resolve_audit_date("2025-05-01", run - timedelta(days=1), run).isoformat() == "2025-05-01"
    # Manual runs in Airflow 3 may have no data interval: yesterday relative to run_after.
    assert resolve_audit_date(None, None, run).isoformat() == "2025-06-03"
    # The audit timezone decides the calendar day.
    late = datetime(2025, 6, 4, 3, 30, tzinfo=timezone.utc)  # 23:30 on 06-03 in New York
    assert resolve_audit_date(None, late, late, "America/New_York").isoformat() == "2025-06-03"
