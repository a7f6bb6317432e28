"""One function per step of the nightly audit. The DAG calls each as one task; the CLI calls
them in the same order without Airflow. Each step is a transaction: it either finishes its
writes or leaves the previous state, so a retry or a rerun of the day is always safe.

Large intermediate results (parsed rows, findings) are staged as files under
``var/staging/<day>/`` and only their paths and counts travel between steps (XCom stays small).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from datetime import date, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

from claimaudit.settings import Settings

log = logging.getLogger(__name__)

# Files whose names start with these are never claim extracts (editor swap files, transfer markers).
_IGNORED_PREFIXES = (".", "~", "_")


def resolve_audit_date(requested: str | None, interval_start: datetime | None, run_after: datetime | None,
                       tz_name: str = "UTC") -> date:
    """The day a run audits: the ``audit_date`` param when given, else the day the data interval
    starts in the audit timezone, else (manual runs may have no interval) the day before run_after."""
    if requested:
        return date.fromisoformat(str(requested))
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(tz_name)
    if interval_start is not None:
        return interval_start.astimezone(tz).date()
    base = (run_after or datetime.now(timezone.utc)).astimezone(tz)
    return base.date() - timedelta(days=1)


def _day(audit_date: date | str) -> date:
    return audit_date if isinstance(audit_date, date) else date.fromisoformat(audit_date)


def _settings(settings: Settings | None) -> Settings:
    return settings or Settings.from_env()


def _engine(settings: Settings):
    from claimaudit.store.db import engine_for, ensure_schema

    engine = engine_for(settings.db_url)
    ensure_schema(engine)
    return engine


def discover_files(audit_date: date | str, settings: Settings | None = None) -> list[str]:
    """Every regular file in ``<inbox>/<YYYY-MM-DD>/``, sorted by name. A missing folder is an
    empty day (nothing was sent), not an error."""
    s = _settings(settings)
    folder = s.inbox / _day(audit_date).isoformat()
    if not folder.is_dir():
        log.info("no inbox folder for %s (%s): auditing an empty day", audit_date, folder)
        return []
    files = sorted(str(p) for p in folder.iterdir() if p.is_file() and not p.name.startswith(_IGNORED_PREFIXES))
    log.info("found %d file(s) in %s", len(files), folder)
    return files


def begin_day(audit_date: date | str, settings: Settings | None = None) -> list[str]:
    """Start a day's audit: drop what an interrupted earlier run staged, then list the files."""
    from claimaudit import staging_store

    s = _settings(settings)
    staging_store.remove_tree(staging_store.join(s.staging_url, _day(audit_date).isoformat()))  # issue 18
    return discover_files(audit_date, s)


def parse_file(path: str, audit_date: date | str, settings: Settings | None = None) -> dict:
    """Parse one received file into rows and stage them. A file with rejected parts is copied to
    quarantine; its sound transaction sets are still staged and audited."""
    from claimaudit import staging_store
    from claimaudit.staging import write_json, write_parse_result
    from claimaudit.x12.parser import parse_bytes

    s = _settings(settings)
    day = _day(audit_date)
    src = Path(path)
    t0 = time.perf_counter()
    data = src.read_bytes()
    try:
        result = parse_bytes(data, src.name)
    except Exception as exc:  # a parser bug must not cost the rest of the batch: quarantine the file
        log.exception("parser failed on %s", src.name)
        result = _unreadable(src.name, data, f"internal parser error ({type(exc).__name__}: {exc})")
    quarantine_path = ""
    if result.rejections:
        qdir = s.quarantine_dir / day.isoformat()
        qdir.mkdir(parents=True, exist_ok=True)
        quarantine_path = str(qdir / src.name)
        shutil.copy2(src, quarantine_path)
        for r in result.rejections:
            log.warning("rejected: %s (copied to %s)", r.message(), quarantine_path)
    # Keyed by file name (unique in the day's folder): the same bytes may arrive under two names.
    files_url = staging_store.join(s.staging_url, day.isoformat(), "files")  # issue 18: local or object store
    staged = staging_store.join(files_url, f"{src.name}.pkl")
    write_parse_result(result, staged)
    summary = {
        "audit_date": day.isoformat(),
        "source_file": src.name,
        "staged": staged,
        "size_bytes": len(data),
        "quarantine_path": quarantine_path,
        "claims": len(result.claims),
        "lines": len(result.lines),
        "rejections": [r.message() for r in result.rejections],
        "seconds": round(time.perf_counter() - t0, 3),
    }
    write_json(summary, staging_store.join(files_url, f"{src.name}.json"))  # the manifest load_history reads
    log.info("parsed %s: %d claims, %d lines, %d rejection(s)", src.name, summary["claims"], summary["lines"],
             len(summary["rejections"]))
    return summary


def staged_files(audit_date: date | str, settings: Settings | None = None) -> list[dict]:
    """The parse summaries staged for a day, in file-name order."""
    import json

    from claimaudit import staging_store

    # issue 18: listed through staging_store (a local folder or an object-store prefix).
    folder = staging_store.join(_settings(settings).staging_url, _day(audit_date).isoformat(), "files")
    items = [json.loads(staging_store.read_bytes(u)) for u in staging_store.list_names(folder, ".json")]
    return sorted(items, key=lambda item: item["source_file"])


def _unreadable(name: str, data: bytes, reason: str):
    import hashlib

    from claimaudit.model import ParseResult, Rejection

    sha = hashlib.sha256(data).hexdigest()
    return ParseResult(source_file=name, file_sha256=sha, rejections=[
        Rejection(source_file=name, file_sha256=sha, unit="file", interchange_control="", transaction_control="",
                  segment_position=None, segment_id="", reason=reason)])


def load_history(audit_date: date | str, settings: Settings | None = None) -> dict:
    """Add the day's staged rows to the claim history (duplicates skipped, replacements applied)."""
    from claimaudit.staging import read_staged_rows
    from claimaudit.store.history import load_results

    s = _settings(settings)
    day = _day(audit_date)
    parsed = staged_files(day, s)
    results, quarantine, sizes = [], {}, {}
    for item in parsed:
        result = read_staged_rows(item["staged"])
        results.append(result)
        if item.get("quarantine_path"):
            quarantine[result.file_sha256] = item["quarantine_path"]
        sizes[result.file_sha256] = item.get("size_bytes", 0)
    engine = _engine(s)
    # issue 18: count everything read, keep only the radiation-oncology claims (unless AUDIT_KEEP_ALL_CLAIMS).
    read_counts = {r.file_sha256: (len(r.claims), len(r.lines)) for r in results}
    claims_read, lines_read = sum(len(r.claims) for r in results), sum(len(r.lines) for r in results)
    if not s.keep_all_claims:
        results = _keep_in_scope(engine, results, day, s)
    counts = load_results(engine, results, day, quarantine_paths=quarantine, file_sizes=sizes,
                          read_counts=read_counts)
    counts["files_received"] = len(parsed)
    counts["rejected_parts"] = sum(len(p["rejections"]) for p in parsed)
    counts["claims_read"], counts["lines_read"] = claims_read, lines_read
    log.info("history for %s: %s", day, counts)
    return counts


def _keep_in_scope(engine, results: list, day: date, s: Settings) -> list:
    """issue 18: each file's rows cut to the claims with a radiation-oncology code (reference data),
    plus replacements and voids of lineages the history already holds."""
    from claimaudit.audit_scope import (correction_lineages, keep_claims, lineage_of, load_scope_codes,
                                        scope_keys)
    from claimaudit.store.history import known_lineages

    codes = load_scope_codes(s.expectations_dir)
    keys = [scope_keys(r.claims, r.lines, codes, day) for r in results]
    wanted = set().union(*(correction_lineages(r.claims, k) for r, k in zip(results, keys)))
    known = known_lineages(engine, wanted) if wanted else set()
    # ...or of an in-scope version received the same day.
    known |= wanted & {lineage_of(c) for r, k in zip(results, keys) for c in r.claims if c[0] in k}
    return [keep_claims(r, k, known) for r, k in zip(results, keys)]


def plan_rules(audit_date: date | str, settings: Settings | None = None) -> list[dict]:
    """Plan the day's run_rules tasks: the day's patients cut into parts of at most
    ``AUDIT_RULE_BATCH_LINES`` history lines (bounds a task's memory), the parts shared out over
    at most ``AUDIT_RULE_TASKS`` tasks (one per worker that can run them side by side).

    An ordinary day is one part in one task; a month onboarded at once (a million lines) is six
    parts in two tasks of three, each task importing Great Expectations once. A day with nothing
    received still gets one task with no part, so the day is still reported."""
    from claimaudit.rules.history import plan_batches

    s = _settings(settings)
    day = _day(audit_date)
    parts = [dataclasses.asdict(b) for b in plan_batches(_engine(s), day, s.rule_batch_lines)]
    groups = _share_out(parts, max(1, s.rule_tasks))
    plan = [{"batch": i, "batches": len(groups), "parts": group, "patients": sum(p["patients"] for p in group),
             "slice_lines": sum(p["slice_lines"] for p in group)} for i, group in enumerate(groups, start=1)]
    log.info("rules for %s: %d part(s) in %d task(s) over %d patients, %d history lines", day, len(parts), len(plan),
             sum(p["patients"] for p in parts), sum(p["slice_lines"] for p in parts))
    return plan


def _share_out(parts: list[dict], tasks: int) -> list[list[dict]]:
    """Consecutive parts grouped into at most ``tasks`` groups of about equal history lines."""
    from claimaudit.rules.history import split_in_order

    runs = split_in_order([p["slice_lines"] for p in parts], min(tasks, len(parts)))
    return [[parts[i] for i in run] for run in runs] or [[]]


def run_rules(audit_date: date | str, batch: dict | None = None, settings: Settings | None = None) -> dict:
    """Run every expectation suite over the audit views of one planned task's patients (all of the
    day's patients without ``batch``), part by part; stage the findings for write_findings."""
    from claimaudit.rules.history import PatientBatch
    from claimaudit import staging_store
    from claimaudit.rules.runner import run_rules as _run
    from claimaudit.staging import write_object

    s = _settings(settings)
    day = _day(audit_date)
    engine = _engine(s)
    number, of = (batch["batch"], batch["batches"]) if batch else (1, 1)
    parts = [PatientBatch(**p) for p in (batch or {}).get("parts", ())] or [None]
    docs_dir = s.data_docs_dir / day.isoformat()
    if of > 1:
        docs_dir = docs_dir / f"batch-{number:03d}"
    findings: list[dict] = []
    stages: dict[str, float] = {}
    version, lines_audited, history_rows = "", 0, 0
    for i, part in enumerate(parts, start=1):
        # One part's views at a time: memory is bounded by the part, GX is imported once per task.
        result = _run(engine, day, s.expectations_dir, batch=part,
                      data_docs_dir=docs_dir / f"part-{i:02d}" if len(parts) > 1 else docs_dir)
        findings += result.findings
        version = result.ruleset_version
        lines_audited += result.lines_audited
        history_rows += result.history_rows
        for name, seconds in result.stages.items():
            stages[name] = round(stages.get(name, 0.0) + seconds, 3)
        del result
    staged = staging_store.join(s.staging_url, day.isoformat(), "findings",  # issue 18: local or object store
                                f"batch-{number:03d}-of-{of:03d}.pkl")
    write_object(findings, staged)
    log.info("rules for %s batch %d/%d (%d part(s)): %d finding(s) over %d history lines, ruleset %s", day, number,
             of, len(parts), len(findings), history_rows, version)
    return {
        "staged": staged,
        "batch": number,
        "batches": of,
        "parts": len(parts),
        "findings": len(findings),
        "ruleset_version": version,
        "lines_audited": lines_audited,
        "history_rows": history_rows,
        "stages": stages,
    }


def _gather_rules(rules: dict | list[dict]) -> tuple[list[dict], str, int]:
    """Findings, ruleset version and lines audited of a day's rule batches (all of them, or raise)."""
    from claimaudit.staging import read_object

    runs = [rules] if isinstance(rules, dict) else list(rules)
    if not runs:
        raise ValueError("no rule batch results to write")
    expected = runs[0]["batches"]
    numbers = sorted(r["batch"] for r in runs)
    if numbers != list(range(1, expected + 1)):
        raise ValueError(f"rule batches {numbers} do not make up the day's {expected} batch(es)")
    versions = {r["ruleset_version"] for r in runs}
    if len(versions) != 1:  # the expectations changed between batches: the day must be rerun
        raise ValueError(f"rule batches ran different rulesets {sorted(versions)}; rerun the day")
    findings: list[dict] = []
    for run in sorted(runs, key=lambda r: r["batch"]):
        findings.extend(read_object(run["staged"]))
    # Batches hold disjoint patients: keep the runner's order over the whole day.
    findings.sort(key=lambda f: (f["claim_id"], f["claim_key"], f["line_number"] or 0, f["rule_id"]))
    return findings, versions.pop(), sum(int(r.get("lines_audited", 0)) for r in runs)


def write_findings(audit_date: date | str, run_id: str, rules: dict | list[dict], loaded: dict,
                   started_at: datetime | str, settings: Settings | None = None) -> dict:
    """Replace the day's findings and audit_run row in one transaction, then drop the staging.
    ``rules`` is what run_rules returned: one dict, or one per batch of the day."""
    from claimaudit.store.findings import replace_day

    s = _settings(settings)
    day = _day(audit_date)
    findings, ruleset_version, lines_audited = _gather_rules(rules)
    if isinstance(started_at, str):
        started_at = datetime.fromisoformat(started_at)
    stats = {
        "files": int(loaded.get("files_received", 0)),
        # day_* count the day's own claims even when a rerun finds them already loaded.
        "claims": int(loaded.get("day_claims", loaded.get("claims", 0))),
        "lines": int(loaded.get("day_lines", lines_audited)),
        "rejections": int(loaded.get("rejections", loaded.get("rejected_parts", 0))),
    }
    for name in ("claims_read", "lines_read"):  # issue 18: the whole extract as read
        if name in loaded:
            stats[name] = int(loaded[name])
    engine = _engine(s)
    summary = replace_day(engine, audit_date=day, run_id=run_id, ruleset_version=ruleset_version,
                          findings=findings, stats=stats, started_at=started_at)
    from claimaudit import staging_store

    staging_store.remove_tree(staging_store.join(s.staging_url, day.isoformat()))  # issue 18
    log.info("findings for %s written: %s", day, summary)
    return summary


def build_digest(audit_date: date | str, settings: Settings | None = None, run_url: str = "") -> EmailMessage | None:
    """The day's audit digest as an email message (None for an all-clear day when those are off)."""
    from claimaudit.report.digest import build_digest as _build
    from claimaudit.rules.catalogue import rule_catalogue

    s = _settings(settings)
    engine = _engine(s)
    return _build(engine, _day(audit_date), email_from=s.email_from, email_to=list(s.email_to),
                  airflow_run_url=run_url, send_all_clear=s.send_all_clear,
                  rule_catalogue=rule_catalogue(s.expectations_dir))


def airflow_run_url(dag_id: str, run_id: str | None, settings: Settings | None = None) -> str:
    """Link to the run in the Airflow UI, or "" when the base URL is not configured."""
    s = _settings(settings)
    if not (s.airflow_base_url and run_id):
        return ""
    from urllib.parse import quote

    return f"{s.airflow_base_url}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}"


def write_outbox(message: EmailMessage, audit_date: date | str, settings: Settings | None = None) -> Path:
    """Keep the digest as an .eml file (the demo, or a site without SMTP)."""
    from claimaudit.report.outbox import write_eml

    s = _settings(settings)
    path = write_eml(message, s.outbox_dir, _day(audit_date))
    log.info("digest for %s written to %s", audit_date, path)
    return path


def mark_email_sent(audit_date: date | str, settings: Settings | None = None) -> None:
    from claimaudit.store.findings import mark_email_sent as _mark

    _mark(_engine(_settings(settings)), _day(audit_date))


def audit_day(audit_date: date | str, settings: Settings | None = None, run_id: str | None = None) -> dict:
    """The whole audit of one day without Airflow, step by step as the DAG runs it."""
    s = _settings(settings)
    day = _day(audit_date)
    started = datetime.now(timezone.utc)
    run_id = run_id or f"local__{started.strftime('%Y%m%dT%H%M%S')}__{day.isoformat()}"
    files = begin_day(day, s)
    for path in files:
        parse_file(path, day, s)
    loaded = load_history(day, s)
    rules = [run_rules(day, batch, s) for batch in plan_rules(day, s)]
    summary = write_findings(day, run_id, rules, loaded, started, s)
    message = build_digest(day, s)
    outbox = str(write_outbox(message, day, s)) if message is not None else ""
    return {"audit_date": day.isoformat(), "run_id": run_id, "files": len(files), "loaded": loaded,
            "rules": [{k: v for k, v in r.items() if k != "staged"} for r in rules], "summary": summary,
            "outbox": outbox}
