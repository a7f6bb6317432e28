"""Through the DAG: without AUDIT_AIRFLOW_BASE_URL the digest links the run and each finding
under Airflow's own ``[api] base_url``; a native backfill's run type is what stops the daily digest."""

from __future__ import annotations

from test_e2e_dag import DAY, audit_env, load_dag, run_day  # noqa: F401 - audit_env is a fixture


def test_links_default_to_airflows_base_url(audit_env, smtp_server, monkeypatch):  # noqa: F811
    monkeypatch.delenv("AUDIT_AIRFLOW_BASE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.hospital.example/")
    dag_run = run_day(load_dag(), DAY)
    (msg,) = smtp_server.wait_for(1, timeout=20)
    text = msg.get_body(("plain",)).get_content()
    assert f"This run in Airflow: https://airflow.hospital.example/dags/claims_audit_nightly/runs/" \
           f"{dag_run.run_id.replace(':', '%3A').replace('+', '%2B')}" in text
    assert "Review: https://airflow.hospital.example/claims-audit/findings/" in text
    html = msg.get_body(("html",)).get_content()
    assert 'href="https://airflow.hospital.example/claims-audit/findings/' in html
