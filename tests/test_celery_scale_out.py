"""The nightly DAG on CeleryExecutor with two workers that share no folder (issue 18).

Real services on 127.0.0.1, each on a free port: Redis as the broker, moto's S3-compatible server
for staging (``AUDIT_STAGING_URL=s3://…``), PostgreSQL for Airflow's metadata and for the report
DB, an api-server, dag-processor and scheduler, and two ``airflow celery worker`` processes with
their own AIRFLOW_HOME-independent ``AUDIT_VAR_DIR`` and host name. The findings must equal a
``dag.test()`` run of the same inbox with local staging, and the mapped parse_file and run_rules
tasks must have run on both workers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date, datetime, time as dtime
from pathlib import Path

import pytest
from sqlalchemy import select

from claimaudit.samples.x12_writer import Claim, Interchange, Line, Patient, render_837
from support.airflow_services import ROOT, airflow, json_out, running_airflow, wait_dag_registered
from support.network import free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DAG_ID = "claims_audit_nightly"
DAY = date(2025, 6, 3)
WORKERS = ("audit-worker-a", "audit-worker-b")
RUN_TIMEOUT_S = 480
PATIENTS = [Patient(f"CEL{i:04d}", f"CELERY{i}", "PAT", date(1950 + i, 1, 2)) for i in range(1, 5)]


def build_inbox(inbox: Path) -> None:
    """Four files (four mapped parse_file tasks), each with radiation-oncology claims of its own
    patient among other departments' claims; two of them carry findings."""
    folder = inbox / DAY.isoformat()
    folder.mkdir(parents=True)
    plan = Line("77301", date(2025, 5, 26), charge=2500.0, dx_pointers=(1, 2))
    deliveries = [Line("77386", DAY, modifiers=("TC",), charge=900.0, dx_pointers=(1, 2)),
                  Line("77386", DAY, charge=900.0, dx_pointers=(1, 2)),
                  Line("77386", DAY, units=2, charge=1800.0, dx_pointers=(1, 2)),
                  Line("77386", DAY, charge=900.0, dx_pointers=(1, 2))]
    for n, (patient, delivery) in enumerate(zip(PATIENTS, deliveries), start=1):
        claims = [Claim(f"CEL-RO-{n}", patient, [plan, delivery], diagnoses=("Z510", "C61")),
                  Claim(f"CEL-CARD-{n}", patient, [Line("99213", DAY), Line("93000", DAY)], diagnoses=("I10",))]
        ic = Interchange("P", claims, control=950 + n, created=datetime.combine(DAY, dtime(21, n)))
        (folder / f"HOSPITAL_837P_{n:04d}.x12").write_bytes(render_837(ic))


class Services:
    """Processes started by this test, stopped in reverse order."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.procs: list[tuple[subprocess.Popen, object]] = []

    def start(self, name: str, args: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "wb")
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((proc, log))
        return proc

    def stop(self) -> None:
        for proc, _ in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc, log in reversed(self.procs):
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            log.close()


def wait_for(check, what: str, timeout: float):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready within {timeout} s ({last})")


def start_redis(services: Services) -> str:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run installs it)")
    port = free_port()
    services.start("redis", [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"])

    def ping():
        import redis

        return redis.Redis(host="127.0.0.1", port=port).ping()

    wait_for(ping, "redis-server", 30)
    return f"redis://127.0.0.1:{port}/0"


def start_s3(services: Services) -> dict:
    exe = Path(sys.executable).with_name("moto_server")
    port = free_port()
    services.start("moto", [str(exe), "-H", "127.0.0.1", "-p", str(port)])
    options = {"key": "testing", "secret": "testing",
               "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "eu-west-1"}}

    def bucket():
        import s3fs

        s3fs.S3FileSystem(**options, skip_instance_cache=True).mkdir("audit-staging")
        return True

    wait_for(bucket, "moto S3 server", 60)
    return options


def task_instances(meta_url: str, run_id: str) -> list[dict]:
    """Every task instance of the run with its host name, from Airflow's metadata DB."""
    from sqlalchemy import create_engine, text

    engine = create_engine(meta_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT task_id, map_index, hostname, state FROM task_instance "
                                     "WHERE dag_id = :dag AND run_id = :run"), {"dag": DAG_ID, "run": run_id})
            return [dict(r._mapping) for r in rows]
    finally:
        engine.dispose()


def findings_of(db_url: str) -> tuple[list[tuple], tuple]:
    from claimaudit.store.db import engine_for
    from claimaudit.store.schema import audit_finding, audit_run

    with engine_for(db_url).connect() as conn:
        rows = conn.execute(select(audit_finding.c.rule_id, audit_finding.c.severity, audit_finding.c.claim_id,
                                   audit_finding.c.line_number, audit_finding.c.procedure_code,
                                   audit_finding.c.modifiers, audit_finding.c.source_file)
                            .where(audit_finding.c.audit_date == DAY)
                            .order_by(audit_finding.c.rule_id, audit_finding.c.claim_id)).all()
        run = conn.execute(select(audit_run.c.files, audit_run.c.claims, audit_run.c.lines, audit_run.c.claims_read,
                                  audit_run.c.lines_read).where(audit_run.c.audit_date == DAY)).one()
    return [tuple(r) for r in rows], tuple(run)


def local_reference_run(tmp_path: Path, monkeypatch) -> tuple[list[tuple], tuple]:
    """The same inbox through dag.test() (one process, local staging) into its own SQLite DB."""
    from test_e2e_dag import load_dag, run_day

    db_url = f"sqlite:///{tmp_path / 'local-report.db'}"
    for name, value in {"AUDIT_INBOX": str(tmp_path / "inbox"), "AUDIT_VAR_DIR": str(tmp_path / "local-var"),
                        "AUDIT_DB_URL": db_url, "AUDIT_RULE_TASKS": "2", "AUDIT_RULE_BATCH_LINES": "4"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AUDIT_STAGING_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_SMTP_DEFAULT", raising=False)
    run_day(load_dag(), DAY)
    return findings_of(db_url)


@pytest.fixture
def metadata_and_report_dbs():
    from support.databases import scratch_pg_database

    with scratch_pg_database("airflow_celery_test") as meta, scratch_pg_database("audit_celery_test") as report:
        yield meta, report


def test_dag_on_celery_with_two_workers_sharing_no_folder(tmp_path, monkeypatch, metadata_and_report_dbs):
    meta_url, report_url = metadata_and_report_dbs
    build_inbox(tmp_path / "inbox")
    expected = local_reference_run(tmp_path, monkeypatch)
    assert expected[0], "the fixture inbox must produce findings"

    services = Services(tmp_path)
    try:
        broker = start_redis(services)
        s3_options = start_s3(services)
        celery = {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": broker,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + meta_url,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta_url,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": meta_url,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "support.celery_worker_host.worker_hostname",
            "AUDIT_TEST_WORKER_HOST": "audit-scheduler",
            "AUDIT_INBOX": str(tmp_path / "inbox"),
            "AUDIT_VAR_DIR": str(tmp_path / "scheduler-var"),
            "AUDIT_DB_URL": report_url,
            "AUDIT_STAGING_URL": "s3://audit-staging/nightly",
            "AUDIT_STAGING_OPTIONS": json.dumps(s3_options),
            # Two rule tasks over two parts or more: run_rules is mapped over both workers.
            "AUDIT_RULE_TASKS": "2",
            "AUDIT_RULE_BATCH_LINES": "4",
            "PYTHONPATH": f"{ROOT / 'include'}:{ROOT / 'tests'}",
        }
        with running_airflow(tmp_path / "airflow", celery) as env:
            for name in WORKERS:
                worker_env = dict(env, AUDIT_TEST_WORKER_HOST=name, AUDIT_VAR_DIR=str(tmp_path / f"{name}-var"))
                services.start(name, [sys.executable, "-m", "airflow", "celery", "worker", "--celery-hostname",
                                      f"{name}@127.0.0.1", "--concurrency", "1", "--skip-serve-logs",
                                      "--without-mingle", "--without-gossip"], env=worker_env)
            wait_dag_registered(env, DAG_ID)

            def both_workers_up():
                out = subprocess.run([sys.executable, "-m", "celery", "--app",
                                      "airflow.providers.celery.executors.celery_executor.app", "inspect", "ping",
                                      "--timeout", "5"], env=env, capture_output=True, text=True, timeout=60)
                return all(f"{name}@127.0.0.1" in out.stdout for name in WORKERS)

            wait_for(both_workers_up, "both Celery workers", 180)
            airflow(env, "dags", "unpause", DAG_ID)
            run_id = "celery__" + DAY.isoformat()
            airflow(env, "dags", "trigger", DAG_ID, "--run-id", run_id, "--conf",
                    json.dumps({"audit_date": DAY.isoformat()}))

            def run_finished():
                runs = [r for r in json_out(airflow(env, "dags", "list-runs", DAG_ID, "-o", "json"))
                        if r.get("run_id") == run_id]
                return runs and runs[0]["state"] in ("success", "failed") and runs[0]["state"]

            state = wait_for(run_finished, "the Celery DAG run", RUN_TIMEOUT_S)
            tis = task_instances(meta_url, run_id)
        assert state == "success", f"run ended {state}: {[(t['task_id'], t['state']) for t in tis]}"
    finally:
        services.stop()

    hosts = {}
    for ti in tis:
        hosts.setdefault(ti["task_id"], set()).add(ti["hostname"])
    assert len([t for t in tis if t["task_id"] == "parse_file"]) == 4
    assert len([t for t in tis if t["task_id"] == "run_rules"]) == 2
    assert hosts["parse_file"] == set(WORKERS), hosts
    assert hosts["run_rules"] == set(WORKERS), hosts
    assert set().union(*hosts.values()) <= set(WORKERS)  # every task ran on a worker

    # Neither worker staged anything on its own disk: staging went through the S3 server.
    for name in WORKERS:
        assert not (tmp_path / f"{name}-var" / "staging").exists()
    assert findings_of(report_url) == expected
    assert expected[1][3] > expected[1][1]  # other departments' claims were read, not audited
