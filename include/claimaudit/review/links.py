"""Links into the Claims audit view (served by the Airflow plugin at /claims-audit), for the
digest and anything else that wants to point a reader at a finding, a rule or an audited day."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

PREFIX = "/claims-audit"


def finding_url(airflow_base_url: str, finding_id: str) -> str:
    """``<base>/claims-audit/findings/<finding_id>``; "" when the Airflow URL is unknown."""
    return f"{airflow_base_url.rstrip('/')}{PREFIX}/findings/{quote(finding_id, safe='')}" if airflow_base_url else ""


def rule_url(airflow_base_url: str, rule_id: str) -> str:
    return f"{airflow_base_url.rstrip('/')}{PREFIX}/rules/{quote(rule_id, safe='')}" if airflow_base_url else ""


def day_url(airflow_base_url: str, audit_date: date) -> str:
    return f"{airflow_base_url.rstrip('/')}{PREFIX}/runs/{audit_date.isoformat()}" if airflow_base_url else ""
