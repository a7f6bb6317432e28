"""The findings browser as a FastAPI app: server-rendered pages (Jinja2, autoescaped) and a small
JSON API. Who may read and who may act is decided by the two dependencies the caller passes in:
the Airflow plugin passes Airflow's auth manager checks (plugins/claims_audit_review.py).

Paths (relative to where the app is mounted, /claims-audit in Airflow):
  /findings                       list with filters, sorting, pages
  /findings/{finding_id}          one finding in context, its history and the triage form
  /rules, /rules/{rule_id}        what a rule checks, its dates, its findings by status
  /runs, /runs/{YYYY-MM-DD}       an audited day: files, rejections, counts
  /runs/by-dag-run/{run_id}       the audited day an Airflow DAG run wrote (linked from the run)
  /api/findings[/{finding_id}[/review]]   the same as JSON; POST .../review takes an action
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel
from sqlalchemy import Engine

from claimaudit.review import queries as q
from claimaudit.review.triage import SUPPRESS_REASONS, TriageError, allowed_actions, record_action
from claimaudit.settings import Settings

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Reviewer:
    """The signed-in user as the pages need them: a name for the audit trail, and whether they may act."""
    name: str
    can_edit: bool


class ReviewBody(BaseModel):
    action: str
    reason: str | None = None
    note: str = ""


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["dt"] = lambda v: "" if v is None else v.strftime("%Y-%m-%d %H:%M UTC")
    env.filters["d"] = lambda v: "" if v is None else v.isoformat()
    env.filters["money"] = lambda v: "" if v is None else f"{v:,.2f}"
    env.globals["reasons"] = SUPPRESS_REASONS
    return env


class _Store:
    """The app's report DB: the process's engine for it (store.db.shared_engine), taken (and the DB
    migrated) on first use, not at import."""

    def __init__(self, settings_factory: Callable[[], Settings]):
        self._settings_factory = settings_factory
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._catalogue: dict[str, dict] | None = None

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                from claimaudit.store.db import shared_engine

                self._engine = shared_engine(self._settings_factory().db_url)
            return self._engine

    @property
    def catalogue(self) -> dict[str, dict]:
        with self._lock:
            if self._catalogue is None:
                from claimaudit.rules.catalogue import rule_catalogue

                self._catalogue = rule_catalogue(self._settings_factory().expectations_dir)
            return self._catalogue


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"not a date (YYYY-MM-DD): {value!r}") from None


def _filter(request: Request) -> q.FindingFilter:
    p = request.query_params
    severity = p.get("severity", "")
    status = p.get("status", "")
    if severity and severity not in q.SEVERITIES:
        raise HTTPException(422, f"unknown severity {severity!r}")
    if status and status not in q.LIST_STATUSES:
        raise HTTPException(422, f"unknown status {status!r}")
    day = _day(p.get("day"))
    return q.FindingFilter(day_from=day or _day(p.get("day_from")), day_to=day or _day(p.get("day_to")),
                           rule_id=p.get("rule_id", "").strip(), severity=severity, status=status,
                           payer_class=p.get("payer_class", "").strip(), claim_id=p.get("claim_id", "").strip())


def _same_origin(request: Request) -> None:
    """Form posts must come from our own pages: the auth cookie is SameSite=Lax already; an
    Origin header from another site is refused as well."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, "cross-site form post refused")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def create_app(reader: Callable[..., Reviewer], editor: Callable[..., Reviewer], *,
               settings_factory: Callable[[], Settings] = Settings.from_env,
               login_url: Callable[[str], str] = lambda next_url: "") -> FastAPI:
    """The browser app. ``reader``/``editor`` are FastAPI dependencies returning the Reviewer or
    raising 401 (not signed in) / 403 (not allowed); ``login_url(next)`` is where to sign in."""
    app = FastAPI(title="Claims audit review", docs_url=None, redoc_url=None, openapi_url=None)
    store = _Store(settings_factory)
    page = _page_renderer(_env())

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException):
        wants_html = "text/html" in request.headers.get("accept", "") and "/api/" not in request.url.path
        if not wants_html:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return page(request, "error.html", status_code=exc.status_code, code=exc.status_code, detail=exc.detail,
                    login=login_url(str(request.url)) if exc.status_code == 401 else "")

    # Registered in this order: Starlette matches routes first come, first served.
    _add_finding_pages(app, store, page, reader, editor)
    _add_rule_and_run_pages(app, store, page, reader)
    _add_json_api(app, store, reader, editor)
    return app


def _page_renderer(env: Environment) -> Callable[..., HTMLResponse]:
    def page(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
        base = request.scope.get("root_path", "")
        html = env.get_template(template).render(base=base, request=request, **context)
        return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})

    return page


def _finding_detail(store: _Store, finding_id: str) -> q.FindingDetail:
    with store.engine.connect() as conn:
        detail = q.finding_detail(conn, finding_id)
    if detail is None:
        raise HTTPException(404, f"no finding {finding_id}")
    return detail


def _add_finding_pages(app: FastAPI, store: _Store, page: Callable[..., HTMLResponse],
                       reader: Callable[..., Reviewer], editor: Callable[..., Reviewer]) -> None:
    @app.get("/", include_in_schema=False)
    def home(request: Request, user: Reviewer = Depends(reader)):
        return RedirectResponse(request.scope.get("root_path", "") + "/findings", status_code=303)

    @app.get("/findings", response_class=HTMLResponse)
    def findings(request: Request, sort: str = "audit_date", order: str = "desc", page_no: int = 1,
                 user: Reviewer = Depends(reader)):
        flt = _filter(request)
        with store.engine.connect() as conn:
            result = q.list_findings(conn, flt, sort=sort, descending=order != "asc", page=page_no)
            choices = q.filter_choices(conn)
        day = request.query_params.get("day", "")
        return page(request, "findings.html", user=user, result=result, flt=flt, sort=sort, order=order,
                    choices=choices, statuses=q.LIST_STATUSES, severities=q.SEVERITIES, day=day,
                    query=flt.as_query(), sorts=q.SORTS, urlencode=urlencode)

    @app.get("/findings/{finding_id}", response_class=HTMLResponse)
    def finding(request: Request, finding_id: str, user: Reviewer = Depends(reader)):
        detail = _finding_detail(store, finding_id)
        return page(request, "finding.html", user=user, f=detail, rule=store.catalogue.get(detail.rule_id),
                    actions=allowed_actions(detail.review_status), error="")

    @app.post("/findings/{finding_id}/review", response_class=HTMLResponse)
    def review_form(request: Request, finding_id: str, action: str = Form(...), reason: str = Form(""),
                    note: str = Form(""), user: Reviewer = Depends(editor)):
        _same_origin(request)
        try:
            record_action(store.engine, finding_id, action, actor=user.name, reason=reason or None, note=note)
        except TriageError as exc:
            detail = _finding_detail(store, finding_id)
            return page(request, "finding.html", status_code=409, user=user, f=detail,
                        rule=store.catalogue.get(detail.rule_id), actions=allowed_actions(detail.review_status),
                        error=str(exc))
        return RedirectResponse(f"{request.scope.get('root_path', '')}/findings/{finding_id}#history",
                                status_code=303)


def _add_rule_and_run_pages(app: FastAPI, store: _Store, page: Callable[..., HTMLResponse],
                            reader: Callable[..., Reviewer]) -> None:
    @app.get("/rules", response_class=HTMLResponse)
    def rules(request: Request, user: Reviewer = Depends(reader)):
        with store.engine.connect() as conn:
            found = q.status_counts_by_rule(conn)
        empty = {k: 0 for k in q.LIST_STATUSES}
        counts = {rid: found.get(rid, empty) for rid in store.catalogue}
        return page(request, "rules.html", user=user, catalogue=store.catalogue, counts=counts)

    @app.get("/rules/{rule_id}", response_class=HTMLResponse)
    def rule(request: Request, rule_id: str, user: Reviewer = Depends(reader)):
        meta = store.catalogue.get(rule_id)
        with store.engine.connect() as conn:
            counts = q.status_counts(conn, rule_id=rule_id)
        if meta is None and not any(counts.values()):
            raise HTTPException(404, f"no rule {rule_id}")
        return page(request, "rule.html", user=user, rule_id=rule_id, rule=meta, counts=counts)

    @app.get("/runs", response_class=HTMLResponse)
    def runs(request: Request, user: Reviewer = Depends(reader)):
        with store.engine.connect() as conn:
            days = q.audited_days(conn, limit=366)
        return page(request, "runs.html", user=user, days=days)

    @app.get("/runs/by-dag-run/{run_id:path}")
    def run_of_dag_run(request: Request, run_id: str, user: Reviewer = Depends(reader)):
        with store.engine.connect() as conn:
            day = q.audit_day_of_run(conn, run_id)
        if day is None:
            raise HTTPException(404, f"DAG run {run_id} has not written an audited day (yet)")
        return RedirectResponse(f"{request.scope.get('root_path', '')}/runs/{day.isoformat()}", status_code=303)

    @app.get("/runs/{day}", response_class=HTMLResponse)
    def run(request: Request, day: str, user: Reviewer = Depends(reader)):
        audit_date = _day(day)
        with store.engine.connect() as conn:
            detail = q.run_detail(conn, audit_date)
        if detail.run is None and not detail.files and not detail.rejections:
            raise HTTPException(404, f"{day} has not been audited")
        return page(request, "run.html", user=user, r=detail)


def _add_json_api(app: FastAPI, store: _Store, reader: Callable[..., Reviewer],
                  editor: Callable[..., Reviewer]) -> None:
    @app.get("/api/findings")
    def api_findings(request: Request, sort: str = "audit_date", order: str = "desc", page_no: int = 1,
                     page_size: int = q.PAGE_SIZE, user: Reviewer = Depends(reader)):
        with store.engine.connect() as conn:
            result = q.list_findings(conn, _filter(request), sort=sort, descending=order != "asc", page=page_no,
                                     page_size=page_size)
        return {"total": result.total, "page": result.page, "pages": result.pages, "page_size": result.page_size,
                "findings": [_jsonable(asdict(r)) for r in result.rows]}

    @app.get("/api/findings/{finding_id}")
    def api_finding(finding_id: str, user: Reviewer = Depends(reader)):
        detail = _finding_detail(store, finding_id)
        out = _jsonable(asdict(detail))
        out["status"] = detail.status
        out["actions"] = allowed_actions(detail.review_status)
        return out

    @app.post("/api/findings/{finding_id}/review", status_code=201)
    def api_review(finding_id: str, body: ReviewBody, user: Reviewer = Depends(editor)):
        try:
            done = record_action(store.engine, finding_id, body.action, actor=user.name, reason=body.reason,
                                 note=body.note)
        except TriageError as exc:
            code = 404 if str(exc).startswith("no finding") else 409
            raise HTTPException(code, str(exc)) from None
        return _jsonable(asdict(done))
