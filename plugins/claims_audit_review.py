"""Airflow plugin: the "Claims audit" findings browser inside Airflow's UI.

Thin on purpose: the pages, queries and triage live in ``claimaudit.review`` (no Airflow there).
This file only mounts that FastAPI app in the api-server at /claims-audit, adds the navigation
entry and a tab on each DAG run, and supplies Airflow's own auth checks:

- signed in: Airflow's ``get_user`` dependency (the JWT from the ``_token`` cookie the Airflow
  UI sets, or an ``Authorization: Bearer`` token); no token -> 401, bad token -> 403;
- may read: the auth manager allows GET on the claims audit DAG (SimpleAuthManager: viewer and up);
- may act (acknowledge, suppress, reopen): the auth manager allows PUT on that DAG, the
  permission to edit it (SimpleAuthManager: user, op, admin; a viewer gets 403).
"""

from __future__ import annotations

from fastapi import Depends, HTTPException

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
from airflow.api_fastapi.core_api.security import get_user
from airflow.plugins_manager import AirflowPlugin

from claimaudit.review.web import Reviewer, create_app

DAG_ID = "claims_audit_nightly"
URL_PREFIX = "/claims-audit"


def _may(method: str, user) -> bool:
    return get_auth_manager().is_authorized_dag(method=method, details=DagDetails(id=DAG_ID), user=user)


def reader(user=Depends(get_user)) -> Reviewer:
    if not _may("GET", user):
        raise HTTPException(403, f"your Airflow role may not read the {DAG_ID} DAG")
    return Reviewer(name=user.get_name(), can_edit=_may("PUT", user))


def editor(user=Depends(get_user)) -> Reviewer:
    if not _may("PUT", user):
        raise HTTPException(403, f"changing a finding's status needs permission to edit the {DAG_ID} DAG")
    return Reviewer(name=user.get_name(), can_edit=True)


def login_url(next_url: str) -> str:
    return get_auth_manager().get_url_login(next_url=next_url)


class ClaimsAuditReviewPlugin(AirflowPlugin):
    name = "claims_audit_review"
    fastapi_apps = [{
        "app": create_app(reader, editor, login_url=login_url),
        "url_prefix": URL_PREFIX,
        "name": "Claims audit findings",
    }]
    external_views = [
        {
            "name": "Claims audit",
            "href": f"{URL_PREFIX}/findings",
            "destination": "nav",
            "url_route": "claims-audit",
        },
        {
            # A tab on every DAG run: the audited day that run wrote.
            "name": "Claims audit day",
            "href": f"{URL_PREFIX}/runs/by-dag-run/{{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "claims-audit-run",
        },
    ]
