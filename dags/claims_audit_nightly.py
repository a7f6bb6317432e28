"""
### Nightly 77386 claims audit

Audits one day of X12 837 claim extracts (837P professional and 837I institutional, 5010)
against the CPT 77386 billing rules and mails the billing office a digest in the morning.

**Which day.** A scheduled run at 02:00 (`AUDIT_TIMEZONE`, default UTC) audits the day before:
the folder `<AUDIT_INBOX>/<YYYY-MM-DD>/`. A manual run audits the `audit_date` param instead.

**Steps** (in the order `claimaudit.pipeline.STEPS` writes down; `make audit` runs the same
without Airflow): resolve the day → find the day's files → parse each file (one mapped task
per file; a bad file is quarantined and recorded, the others go on) → add the claims to the
claim history → plan the rules: the day's patients in parts of at most
`AUDIT_RULE_PART_LINES` history lines, the parts shared out over at most `AUDIT_RULE_TASKS`
shares → run the Great Expectations rule suites in `expectations/` (one mapped task per share;
one on an ordinary day) → replace the day's findings in the report DB (`AUDIT_DB_URL`) → send
the digest through the `smtp_default` connection (or write it to `var/outbox/` when no SMTP
connection is configured).

**Reruns and backfills** replace the day's findings; they never duplicate them. A failing rule is
a finding, not a failed task: only broken infrastructure (DB, disk, SMTP) fails a task.

Code: every task is one call into the `claimaudit` package (`include/claimaudit`).
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, dag, task

AUDIT_TIMEZONE = os.environ.get("AUDIT_TIMEZONE", "UTC")
SMTP_CONN_ID = "smtp_default"


def send_with_airflow_smtp(message) -> bool:
    """Send a ready MIME message unchanged (text, HTML with its inline chart, CSV) over the
    smtp_default connection. Returns False when no SMTP connection is configured (the caller
    then keeps the message as an .eml file).

    The SMTP provider's public sending method, ``SmtpHook.send_email_smtp``, builds a message of
    its own (HTML only, files as plain attachments): it cannot carry the digest. So the session
    is opened here, from the settings the hook reads off the connection (its public properties:
    host, port, disable_ssl, disable_tls, ssl_context, timeout, login, auth_type)."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.providers.smtp.hooks.smtp import SmtpHook
    from airflow.sdk import BaseHook

    try:
        connection = BaseHook.get_connection(SMTP_CONN_ID)
    except AirflowNotFoundException:
        return False
    hook = SmtpHook(smtp_conn_id=SMTP_CONN_ID)
    hook.smtp_connection = connection  # what the hook's properties read their settings from
    with smtp_session(hook) as client:
        client.send_message(message)
    return True


def smtp_session(hook):
    """An SMTP session, logged in, as the provider's hook would open it for its connection."""
    import smtplib
    import ssl

    from airflow.providers.smtp.hooks.smtp import build_xoauth2_string

    context = None if hook.ssl_context == "none" else ssl.create_default_context()
    if hook.use_ssl:
        client = smtplib.SMTP_SSL(hook.host, hook.port or 0, timeout=hook.timeout, context=context)
    else:
        client = smtplib.SMTP(hook.host, hook.port or 0, timeout=hook.timeout)
    try:
        if not hook.use_ssl and hook.smtp_starttls:
            client.starttls(context=context)
            client.ehlo()
        if hook.auth_type == "oauth2":
            user, token = hook.smtp_user or hook.from_email, hook.access_token
            if not (user and token):
                raise ValueError(f"{SMTP_CONN_ID}: auth_type oauth2 needs a login (or from_email) and an "
                                 "access_token in the connection's extra")
            client.auth("XOAUTH2", lambda _=None: build_xoauth2_string(user, token))
        elif hook.smtp_user and hook.smtp_password:
            client.login(hook.smtp_user, hook.smtp_password)
    except BaseException:
        client.close()
        raise
    return client


def airflow_base_url() -> str:
    """Airflow's own UI address (``[api] base_url``), the default for the digest's links."""
    from airflow.configuration import conf

    return (conf.get("api", "base_url", fallback="") or "").rstrip("/")


def deliver(message, audit_date: str, outbox_name: str = "") -> str:
    """Send through smtp_default, or keep the message in var/outbox/ when no SMTP connection is set."""
    from claimaudit import pipeline

    if send_with_airflow_smtp(message):
        return f"sent to {message['To']}"
    return f"no SMTP connection: written to {pipeline.write_outbox(message, audit_date, name=outbox_name)}"


@dag(
    dag_id="claims_audit_nightly",
    schedule=CronTriggerTimetable("0 2 * * *", timezone=AUDIT_TIMEZONE, interval=timedelta(days=1)),
    start_date=pendulum.datetime(2025, 1, 1, tz=AUDIT_TIMEZONE),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "billing-compliance", "retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["claims-audit", "cpt-77386", "x12-837", "great-expectations"],
    params={
        "audit_date": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Day to audit (YYYY-MM-DD). Empty: the day before the scheduled run.",
        ),
        "range_run": Param(
            False,
            type="boolean",
            description="Set by make audit / make backfill: this day is part of a range, which mails one "
                        "summary at its end instead of a digest per day.",
        ),
    },
    doc_md=__doc__,
)
def claims_audit_nightly():
    @task
    def resolve_day(params=None, data_interval_start=None, dag_run=None) -> dict:
        from claimaudit import pipeline

        day = pipeline.resolve_audit_date((params or {}).get("audit_date"), data_interval_start,
                                          getattr(dag_run, "run_after", None), AUDIT_TIMEZONE)
        started = pendulum.now("UTC").isoformat()
        return {"audit_date": day.isoformat(), "started_at": started}

    @task
    def find_files(day: dict) -> list[str]:
        from claimaudit import pipeline

        return pipeline.begin_day(day["audit_date"])

    @task(map_index_template="{{ path.rsplit('/', 1)[-1] }}")
    def parse_file(path: str, day: dict) -> list[dict]:
        from claimaudit import pipeline

        return [staged.as_xcom() for staged in pipeline.parse_file(path, day["audit_date"])]

    # Reads what parse_file staged rather than its XCom: an empty inbox day expands parse_file over
    # nothing (skipped), and with none_failed that day is still audited and reported.
    @task(trigger_rule="none_failed")
    def load_history(day: dict) -> dict:
        from claimaudit import pipeline

        return pipeline.load_history(day["audit_date"]).as_xcom()

    @task
    def plan_rules(day: dict, loaded: dict) -> list[dict]:
        from claimaudit import pipeline

        return [share.as_xcom() for share in pipeline.plan_rules(day["audit_date"])]

    # A task per share of the day's patients: one on an ordinary day, several for a month
    # onboarded at once, audited side by side by the workers.
    @task(map_index_template="share {{ share['number'] }} of {{ share['shares'] }}")
    def run_rules(share: dict, day: dict) -> dict:
        from claimaudit import pipeline

        return pipeline.run_rules(day["audit_date"], share).as_xcom()

    @task
    def write_findings(day: dict, rules: list[dict], loaded: dict, run_id=None, dag_run=None) -> dict:
        from claimaudit import pipeline

        # One slice read: iterating the mapped results reads item by item until one is missing,
        # which Airflow logs as an error ("XCom not found ... offset=N") on every run.
        # A native backfill's day keeps what it changed, for the one summary its last run mails.
        return pipeline.write_findings(day["audit_date"], run_id, list(rules[:]), loaded, day["started_at"],
                                       record_change=pipeline.is_backfill(getattr(dag_run, "run_type", None)))

    @task(retries=3, retry_delay=timedelta(minutes=10))
    def send_summary(day: dict, written: dict, run_id=None, dag_run=None, params=None, ti=None) -> str:
        from claimaudit import pipeline

        run_type = getattr(dag_run, "run_type", None)
        base_url = airflow_base_url()
        # A day of a range run (native backfill, or make audit/backfill) mails no digest of its own;
        # its delivery is still recorded, so a rerun knows nothing is owed.
        done = [pipeline.deliver_digest(
            day["audit_date"], send=send_with_airflow_smtp, airflow_base_url=base_url,
            wanted=pipeline.digest_wanted(run_type, bool((params or {}).get("range_run"))),
            run_url=pipeline.airflow_run_url("claims_audit_nightly", run_id, airflow_base_url=base_url))]
        # A native backfill's days recorded their changes; the run that ends last (no other run of
        # this DAG queued or running: backfills run with --max-active-runs 1, and a nightly run
        # overlapping its end sends it instead) mails the backfill's one summary.
        if pipeline.range_pending() and ti.get_dr_count(dag_id=ti.dag_id, states=["queued", "running"]) <= 1:
            summary = pipeline.pending_range_summary()
            if summary is not None:
                done.append("range summary " + deliver(summary, day["audit_date"], pipeline.range_eml_name(summary)))
                pipeline.pending_range_sent()
        return "; ".join(done)

    day = resolve_day()
    files = find_files(day)
    parsed = parse_file.partial(day=day).expand(path=files)
    loaded = load_history(day)
    parsed >> loaded
    rules = run_rules.partial(day=day).expand(share=plan_rules(day, loaded))
    written = write_findings(day, rules, loaded)
    send_summary(day, written)


claims_audit_nightly()
