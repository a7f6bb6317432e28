"""Run every expectation suite over the day's audit views; each failing row is one finding.

Every view row and every expectation concerns one patient (their line, their day, their
course, their claim), which is what lets a large day be audited in parts (key ranges of patients).

Great Expectations 1.x is called directly: an ephemeral context, a pandas dataframe asset, one
validation per (suite, effective-date window) over the rows whose date of service lies in the
window, ``result_format=COMPLETE`` with ``unexpected_index_column_names`` so that a failing row
names its claim and line. A failing rule is a finding, never an exception; a suite that cannot
be evaluated (bad column, bad kwargs) is broken infrastructure and raises.

Findings are built here as ``model.Finding`` rows and made unique and ordered here only
(``unique_findings``): the pipeline merges a day's shares with it, the store writes them as given.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from claimaudit.errors import RuleEvaluationError
from claimaudit.model import Finding
from claimaudit.rules.history import PatientPart, read_history
from claimaudit.rules.ncci_views import add_ncci_columns
from claimaudit.rules.reference import in_effect, load_reference
from claimaudit.rules.suites import Suite, finding_message, fix_columns, load_suites, ruleset_version, to_gx_suite
from claimaudit.rules.views import FINDING_COLUMNS, AuditViews, build_views
from claimaudit.store.findings import reported_before

log = logging.getLogger(__name__)


@dataclass
class SuiteRun:
    suite: str
    rows: int  # rows of the view the suite audited (all windows)
    validations: int  # GX validations run (one per effective-date window with rows)
    expectations: int
    failed_expectations: int
    findings: int
    seconds: float


@dataclass
class RuleRunResult:
    findings: list[Finding]  # unique per (rule, claim, line), in report order
    ruleset_version: str
    suites: list[SuiteRun] = field(default_factory=list)
    lines_audited: int = 0
    seconds: float = 0.0
    validation_results: list[dict] = field(default_factory=list)  # GX results as JSON dicts
    # Seconds per phase (load_rules, read_history, views, gx_context, suites, data_docs) and the
    # history rows read: the benchmark's breakdown, also handy in logs.
    stages: dict[str, float] = field(default_factory=dict)
    history_rows: int = 0
    # NCCI edit sets (issue 13): {"edit_sets": [labels used], "unchecked": {quarter: lines}}
    ncci: dict = field(default_factory=dict)


class _GX:
    """One ephemeral GX context with a pandas dataframe asset per audit view.

    Built once per process (``_gx()``): creating a context costs seconds, and it holds no state
    between validations (batches come in as parameters, results are not stored)."""

    def __init__(self) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = self.context.data_sources.add_pandas("audit_views")
        self.batch_definitions = {
            view: source.add_dataframe_asset(view).add_batch_definition_whole_dataframe(f"{view}_whole")
            for view in ("lines", "claims", "diagnoses")
        }

    def validate(self, view: str, frame: pd.DataFrame, suite, index_columns: list[str]):
        batch = self.batch_definitions[view].get_batch(batch_parameters={"dataframe": frame})
        return batch.validate(suite, result_format={"result_format": "COMPLETE",
                                                    "unexpected_index_column_names": index_columns})


def _condition_columns(cond) -> set[str]:
    if not isinstance(cond, dict):
        return set()
    cols = {cond["column"]["name"]} if "column" in cond else set()
    for sub in cond.get("conditions", ()):
        cols |= _condition_columns(sub)
    return cols


def needed_columns(expectations: list[dict], index_columns: list[str]) -> list[str]:
    """Columns the expectations read. GX filters rows with DataFrame.query, whose cost grows with the
    frame's width, so each validation gets only these (the views have a hundred-odd columns)."""
    cols = list(index_columns)
    for exp in expectations:
        kw = exp["kwargs"]
        cols += [kw[k] for k in ("column", "column_A", "column_B") if k in kw]
        cols += list(kw.get("column_list", ()))
        cols += sorted(_condition_columns(kw.get("row_condition")))
    return list(dict.fromkeys(cols))


_GX_INSTANCE: _GX | None = None


def _gx() -> _GX:
    global _GX_INSTANCE
    if _GX_INSTANCE is None:
        _GX_INSTANCE = _GX()
    return _GX_INSTANCE


def _rows_for(suite: Suite, frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    keep = np.ones(len(frame), dtype=bool)
    for column in ((suite.rows,) if suite.rows != "all" else ()) + suite.only_where:
        keep &= frame[column].to_numpy(dtype=bool)
    return frame if keep.all() else frame[keep]


def _window(frame: pd.DataFrame, start: date | None, end: date | None) -> pd.DataFrame:
    if start is None and end is None:
        return frame  # rules for every date, including lines whose date is missing
    return frame[in_effect(frame["date_of_service"], start, end)]


def _py(value):
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def _text(value) -> str:
    return _py(value) or ""


def _findings_from(result, frame: pd.DataFrame, index_columns: list[str]) -> list[Finding]:
    meta = result.expectation_config.meta
    unexpected = result.result.get("unexpected_index_list") or []
    if not unexpected:
        return []
    keys = pd.DataFrame(unexpected)[index_columns].drop_duplicates()
    for col in index_columns:
        keys[col] = keys[col].astype(frame[col].dtype)
    # NCCI rules (issue 13): the row's own detail (pair or limit, edit set) completes the message.
    detail, edit_set = meta.get("detail_column"), meta.get("edit_set_column")
    cols = list(dict.fromkeys(index_columns + list(FINDING_COLUMNS) + fix_columns(meta)
                              + [c for c in (detail, edit_set) if c]))
    rows = keys.merge(frame[cols].drop_duplicates(index_columns), on=index_columns, how="left")
    return [_finding(meta, rec, "line_number" in index_columns, detail, edit_set)
            for rec in rows.to_dict("records")]


def _finding(meta: dict, rec: dict, per_line: bool, detail: str | None, edit_set: str | None) -> Finding:
    line = _py(rec.get("line_number")) if per_line else None
    return Finding(
        rule_id=meta["rule_id"],
        severity=meta["severity"],
        claim_key=rec["claim_key"],
        claim_id=_text(rec["claim_id"]),
        line_number=None if line is None else int(line),
        date_of_service=_py(rec["date_of_service"]),
        procedure_code=_text(rec["procedure_code"]),
        modifiers=_text(rec["modifiers"]),
        # NCCI rules: the row's own detail (the pair or limit, the edit set) completes the message.
        message=_text(finding_message(meta, rec, detail=rec.get(detail) if detail else "")),
        source_file=_text(rec["source_file"]),
        interchange_control=_text(rec["interchange_control"]),
        billing_npi=_text(rec["billing_npi"]),
        payer_class=_text(rec["payer_class"]),
        ncci_edit_set=(_py(rec.get(edit_set)) or None) if edit_set else None,
    )


def _report_order(f: Finding) -> tuple:
    return f.claim_id, f.claim_key, f.line_number or 0, f.rule_id


def unique_findings(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per (rule, claim, line), the first seen (several expectations of one rule may flag
    the same row), in report order: claim id, claim key, line, rule. Also merges a day's shares."""
    unique: dict[tuple, Finding] = {}
    for f in findings:
        unique.setdefault(f.key, f)
    return sorted(unique.values(), key=_report_order)


def _write_data_docs(gx: _GX, results: list, data_docs_dir: Path, day: date) -> None:
    """Keep the run's GX validation results (JSON) and, when GX can build them, its Data Docs (HTML)."""
    data_docs_dir.mkdir(parents=True, exist_ok=True)
    payload = [r.to_json_dict() for r in results]
    (data_docs_dir / "validation_results.json").write_text(json.dumps(payload, indent=1, default=str))
    try:
        from great_expectations.render.renderer import ValidationResultsPageRenderer
        from great_expectations.render.view import DefaultJinjaPageView

        for i, r in enumerate(results):
            doc = ValidationResultsPageRenderer().render(r)
            html = DefaultJinjaPageView().render(doc)
            suite = r.suite_name or f"suite{i}"
            (data_docs_dir / f"{i:02d}_{suite}.html").write_text(html, encoding="utf-8")
    except Exception as exc:  # the JSON above is the record; HTML is a convenience
        log.warning("data docs HTML for %s not rendered: %s", day, exc)


def run_rules(engine: Engine, audit_date: date, expectations_dir: Path, *,
              data_docs_dir: Path | None = None, part: PatientPart | None = None) -> RuleRunResult:
    """Audit the day, or with ``part`` one key range of the day's patients (see
    ``rules.history.plan_parts``): the parts of a day together give the day's findings."""
    started = time.perf_counter()
    expectations_dir = Path(expectations_dir)
    suites = load_suites(expectations_dir)
    reference = load_reference(expectations_dir)
    version = ruleset_version(expectations_dir)
    stages = {"load_rules": round(time.perf_counter() - started, 3)}  # the first GX import is most of it
    t_read = time.perf_counter()
    history = read_history(engine, audit_date, part)
    stages["read_history"] = round(time.perf_counter() - t_read, 3)
    history_rows = len(history.lines)
    received = pd.to_datetime(history.lines["received_date"]) == pd.Timestamp(audit_date)
    if not received.any():  # nothing current arrived (no files, or only voids): nothing to audit
        return RuleRunResult(findings=[], ruleset_version=version, lines_audited=0,
                             seconds=round(time.perf_counter() - started, 3), stages=stages,
                             history_rows=history_rows)
    t_views = time.perf_counter()
    views: AuditViews = build_views(history, reference, audit_date)
    del history  # the views hold what the suites need; free the raw slice before validating
    stages["views"] = round(time.perf_counter() - t_views, 3)
    t_ncci = time.perf_counter()
    views.lines, ncci = add_ncci_columns(engine, views.lines, audit_date)  # NCCI edit sets (issue 13)
    stages["ncci"] = round(time.perf_counter() - t_ncci, 3)
    lines_audited = int(views.lines["received_today"].sum())
    t_gx = time.perf_counter()
    gx = _gx()  # seconds on the first call in a process, then reused
    stages["gx_context"] = round(time.perf_counter() - t_gx, 3)
    t_suites = time.perf_counter()

    findings: list[Finding] = []
    runs: list[SuiteRun] = []
    gx_results = []
    for suite in suites:
        t0 = time.perf_counter()
        frame = _rows_for(suite, views.get(suite.view))
        index_columns = list(suite.index_columns)
        suite_findings: list[Finding] = []
        n_rows = n_val = n_failed = 0
        for (start, end), expectations in suite.windows().items():
            rows = _window(frame, start, end)
            if rows.empty:
                continue
            n_rows = max(n_rows, len(rows))
            n_val += 1
            label = f"{suite.name}[{start or '-'}..{end or '-'}]"
            gx_suite = to_gx_suite(label, expectations)
            narrow = rows[needed_columns(expectations, index_columns)].reset_index(drop=True)
            result = gx.validate(suite.view, narrow, gx_suite, index_columns)
            gx_results.append(result)
            for r in result.results:
                if r.exception_info and r.exception_info.get("raised_exception"):
                    raise RuleEvaluationError(
                        f"{suite.path.name}: {r.expectation_config.meta.get('rule_id')} "
                        f"({r.expectation_config.type}) could not be evaluated: "
                        f"{r.exception_info.get('exception_message')}")
                if not r.success:
                    n_failed += 1
                    suite_findings.extend(_findings_from(r, rows, index_columns))
        if suite.report_once:
            before = reported_before(engine, audit_date, suite_findings)
            suite_findings = [f for f in suite_findings if f.key not in before]
        findings.extend(suite_findings)
        runs.append(SuiteRun(suite.name, n_rows, n_val, len(suite.expectations), n_failed, len(suite_findings),
                             round(time.perf_counter() - t0, 3)))

    ordered = unique_findings(findings)
    stages["suites"] = round(time.perf_counter() - t_suites, 3)
    result = RuleRunResult(findings=ordered, ruleset_version=version, suites=runs, lines_audited=lines_audited,
                           stages=stages, history_rows=history_rows, ncci=ncci)
    if data_docs_dir is not None:
        t_docs = time.perf_counter()
        _write_data_docs(gx, gx_results, Path(data_docs_dir), audit_date)
        stages["data_docs"] = round(time.perf_counter() - t_docs, 3)
    result.seconds = round(time.perf_counter() - started, 3)
    return result
