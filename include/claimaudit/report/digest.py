"""The morning digest: a pure function of the report DB -> one EmailMessage.

Layout: multipart/mixed [ multipart/alternative [ text/plain, multipart/related [ text/html,
image/png (cid) ] ], text/csv attachment ]. Sending is the caller's job (Airflow SMTP or outbox).
"""

from __future__ import annotations

from datetime import date
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import Engine

from claimaudit.report.chart import trend_png
from claimaudit.report.csv_export import findings_csv
from claimaudit.report.render_html import render_html
from claimaudit.report.render_text import render_text
from claimaudit.report.wording import subject
from claimaudit.store.findings import DaySummary, day_summary


def chart_cid(audit_date: date) -> str:
    # Deterministic (no make_msgid randomness): the same DB renders the same message.
    return f"trend-{audit_date.isoformat()}@claimaudit.local"


def csv_filename(audit_date: date) -> str:
    return f"77386-audit-{audit_date.isoformat()}-findings.csv"


def build_digest(engine: Engine, audit_date: date, *, email_from: str, email_to: list[str],
                 airflow_run_url: str = "", send_all_clear: bool = True,
                 rule_catalogue: dict[str, dict] | None = None) -> EmailMessage | None:
    """The day's digest, or None for an all-clear day when ``send_all_clear`` is off.

    Raises LookupError when the day has no audit_run row (never audited: not "all clear").
    """
    summary = day_summary(engine, audit_date)
    if summary.run is None:
        raise LookupError(f"no audit run recorded for {audit_date.isoformat()}")
    if summary.all_clear and not send_all_clear:
        return None
    return digest_message(summary, email_from=email_from, email_to=email_to, airflow_run_url=airflow_run_url,
                          rule_catalogue=rule_catalogue)


def digest_message(summary: DaySummary, *, email_from: str, email_to: list[str], airflow_run_url: str = "",
                   rule_catalogue: dict[str, dict] | None = None) -> EmailMessage:
    title = subject(summary)
    cid = chart_cid(summary.audit_date)
    msg = EmailMessage()
    msg["Subject"] = title
    msg["From"] = email_from
    msg["To"] = ", ".join(email_to)
    if summary.run is not None and summary.run.finished_at is not None:
        msg["Date"] = format_datetime(summary.run.finished_at)
    msg.set_content(render_text(summary, title, catalogue=rule_catalogue, run_url=airflow_run_url))
    html = render_html(summary, title, catalogue=rule_catalogue, run_url=airflow_run_url,
                       chart_cid=cid if summary.trend else "")
    msg.add_alternative(html, subtype="html")
    if summary.trend:
        html_part = msg.get_payload()[1]
        html_part.add_related(trend_png(summary.trend, summary.audit_date), maintype="image", subtype="png",
                              cid=f"<{cid}>", filename="trend.png", disposition="inline")
    if summary.findings:
        msg.add_attachment(findings_csv(summary.findings).encode("utf-8"), maintype="text", subtype="csv",
                           filename=csv_filename(summary.audit_date))
    return msg
