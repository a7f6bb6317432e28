"""One function per step of the nightly audit. The DAG calls each as one task; ``audit_day`` calls
them in the same order without Airflow. The order is written once, in ``STEPS``: the DAG's tasks,
``audit_day`` and scripts/bench_audit.py follow it. Each step is a transaction: it either finishes
its writes or leaves the previous state, so a retry or a rerun of the day is always safe.

Large intermediate results (parsed rows, findings) are staged as files under
``var/staging/<day>/`` and only their paths and counts travel between steps, as the typed
results below (``ParsedFile``, ``LoadedDay``, ``RulesShare``, ``ShareResult``). Between Airflow
tasks they travel as plain dicts (``as_xcom()``: XCom is JSON); every step takes either.

All steps of a process share one report-DB engine (``store.db.shared_engine``) and, unless one
is passed, one ``Settings`` (``Settings.current()``).
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import gc
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from claimaudit import staging_store
from claimaudit.archives import is_archive, unpack
from claimaudit.audit_scope import correction_lineages, keep_claims, lineage_of, load_scope_codes, scope_keys
from claimaudit.changes import append_csv, changes_csv_path, compare, snapshot_day
from claimaudit.errors import PipelineStateError
from claimaudit.inbox import InboxDay, check_regular, scan
from claimaudit.model import Finding, ParseResult, Rejection
from claimaudit.ncci.runinfo import merge as ncci_merge, run_columns as ncci_run_columns
from claimaudit.report import range_summary
from claimaudit.report.data_docs import write_index
from claimaudit.report.digest import DigestOptions, build_digest as build_digest_message
from claimaudit.report.outbox import write_eml
from claimaudit.rules import runner
from claimaudit.rules.catalogue import rule_catalogue
from claimaudit.rules.history import PatientPart, plan_parts, split_in_order
from claimaudit.safe_text import escape, file_name, token_path
from claimaudit.settings import Settings
from claimaudit.staging import read_object, read_staged_rows, write_json, write_object, write_parse_result
from claimaudit.store.db import shared_engine
from claimaudit.store.delivery import mark_delivered
from claimaudit.store.findings import mark_email_sent, replace_day
from claimaudit.store.history import known_lineages, load_results
from claimaudit.store.limits import fit_to_store
from claimaudit.x12.parser import parse_bytes

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------ step results

class _Xcom:
    """A step's result as Airflow carries it between tasks (JSON), and back."""

    def as_xcom(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def of(cls, value):
        """The result itself, or what ``as_xcom`` made of it."""
        return value if isinstance(value, cls) else cls(**value)


@dataclass(frozen=True)
class ParsedFile(_Xcom):
    """One received file (or archive member) as parse_file staged it. Its JSON next to the staged
    rows is the day's manifest: load_history reads these, whatever reached it by XCom."""

    audit_date: str
    source_file: str  # escaped name (archive!member for a member)
    staged: str  # the staged rows (a path or an object-store URL)
    size_bytes: int
    quarantine_path: str  # "" unless the file had rejected parts
    claims: int
    lines: int
    rejections: list[str]  # escaped messages
    seconds: float


@dataclass(frozen=True)
class LoadedDay(_Xcom):
    """What load_history added to the claim history, and the day's totals after it."""

    files: int  # new files stored
    moved_files: int  # files first stored under a later day, moved to this one
    duplicates: int  # duplicate_files + duplicate_interchanges
    duplicate_files: int
    duplicate_interchanges: int
    claims: int
    lines: int
    diagnoses: int
    rejections: int  # the day's rejection rows
    superseded: int
    ignored: int  # inbox entries not audited (folders, hidden files)
    day_files: int  # the history's totals for the day, the same on a rerun
    day_claims: int
    day_lines: int
    files_received: int  # what the folder held: staged files and refused entries
    rejected_parts: int  # rejected claims, transaction sets and files of the day's files
    claims_read: int  # the day's files as read, before the audit scope kept some (each file once)
    lines_read: int

    @classmethod
    def from_counts(cls, counts: dict[str, int], **extra: int) -> LoadedDay:
        """From store.history.load_results' counts (read by name: the loader may count more)."""
        read = {"claims_read": counts["day_claims_read"], "lines_read": counts["day_lines_read"]}
        names = [f.name for f in dataclasses.fields(cls) if f.name not in extra and f.name not in read]
        return cls(**{name: int(counts[name]) for name in names}, **read, **extra)


@dataclass(frozen=True)
class RulesShare(_Xcom):
    """One run_rules task's share of the day: consecutive parts (key ranges of patients)."""

    number: int  # 1-based
    shares: int  # the day's run_rules tasks
    parts: list[PatientPart]  # none on a day with nothing received
    patients: int
    slice_lines: int

    @classmethod
    def of(cls, value) -> RulesShare:
        if isinstance(value, cls):
            return value
        return cls(**{**value, "parts": [PatientPart(**p) for p in value["parts"]]})


@dataclass(frozen=True)
class ShareResult(_Xcom):
    """What run_rules did for one share: its findings staged for write_findings, and counts."""

    staged: str
    number: int
    shares: int
    parts: int
    findings: int
    ruleset_version: str
    lines_audited: int
    history_rows: int
    stages: dict[str, float]  # seconds per runner phase, summed over the parts
    ncci: dict[str, Any]  # NCCI edit sets used, lines left unchecked (issue 13)


# ------------------------------------------------------------------------------------ helpers

def resolve_audit_date(requested: str | None, interval_start: datetime | None, run_after: datetime | None,
                       tz_name: str = "UTC") -> date:
    """The day a run audits: the ``audit_date`` param when given, else the day the data interval
    starts in the audit timezone, else (manual runs may have no interval) the day before run_after."""
    if requested:
        return date.fromisoformat(str(requested))
    tz = ZoneInfo(tz_name)
    if interval_start is not None:
        return interval_start.astimezone(tz).date()
    base = (run_after or datetime.now(timezone.utc)).astimezone(tz)
    return base.date() - timedelta(days=1)


def _day(audit_date: date | str) -> date:
    return audit_date if isinstance(audit_date, date) else date.fromisoformat(audit_date)


def _settings(settings: Settings | None) -> Settings:
    return settings or Settings.current()


def _engine(settings: Settings):
    return shared_engine(settings.db_url)


# ------------------------------------------------------------------------------------ find and parse

def discover_files(audit_date: date | str, settings: Settings | None = None) -> list[str]:
    """The files to audit in ``<inbox>/<YYYY-MM-DD>/``, by name, as path tokens (JSON-safe even
    when a name is not UTF-8: ``safe_text.token_path`` turns one back). A missing folder is an
    empty day (nothing was sent), not an error. What is not audited (sub-folders, hidden and
    temporary files, links out of the inbox, FIFOs) is listed in the day's staging manifest and
    recorded by load_history: nothing is skipped silently."""
    s = _settings(settings)
    day = _day(audit_date)
    folder = s.inbox / day.isoformat()
    if not folder.is_dir():
        log.info("no inbox folder for %s (%s): auditing an empty day", day, escape(str(folder)))
    found = scan(folder, s.inbox)
    write_json(found.as_json(), staging_store.join(s.staging_url, day.isoformat(), "inbox.json"))
    for e in found.ignored:
        log.info("ignored %s: %s", e.name, e.reason)
    for e in found.refused:
        log.warning("refused %s: %s", e.name, e.reason)
    log.info("found %d file(s) in %s (%d ignored, %d refused)", len(found.files), escape(str(folder)),
             len(found.ignored), len(found.refused))
    return found.files


def begin_day(audit_date: date | str, settings: Settings | None = None) -> list[str]:
    """Start a day's audit: drop what an interrupted earlier run staged, then list the files."""
    s = _settings(settings)
    staging_store.remove_tree(staging_store.join(s.staging_url, _day(audit_date).isoformat()))  # issue 18
    return discover_files(audit_date, s)


def _stage_name(name: str) -> str:
    """A staged file's name for a received file: ASCII, unique per name (names may hold any byte)."""
    return hashlib.sha256(os.fsencode(name)).hexdigest()[:24]


def parse_file(path: str, audit_date: date | str, settings: Settings | None = None) -> list[ParsedFile]:
    """Parse one received file into rows and stage them. A file with rejected parts is copied to
    quarantine; its sound transaction sets are still staged and audited. A ``.zip`` or ``.gz`` is
    unpacked (with limits) and each member staged as a file of its own, ``archive!member``.
    ``path`` is what discover_files listed (a path token). Returns what was staged: one
    ParsedFile, or one per archive member."""
    s = _settings(settings)
    day = _day(audit_date)
    src = Path(token_path(path))
    name = file_name(src)
    t0 = time.perf_counter()
    # Checked again here: the folder may have changed since it was listed.
    problem = check_regular(src, s.inbox)
    data = b"" if problem else src.read_bytes()
    if problem:
        log.warning("refused %s: %s", name, problem)
        return [_stage(_refused(name, problem, day), b"", name, src.name, day, s, t0, quarantine=False)]
    if not is_archive(data):
        return [_stage(_parse(data, name), data, name, src.name, day, s, t0)]
    members = unpack(name, data)
    staged = []
    for m in members:
        result = _parse(m.data, m.name) if m.data is not None else _unreadable(m.name, data, m.problem)
        if m.data is None:  # a refused member: the rejection belongs to the archive's bytes
            result.file_sha256 = result.rejections[0].file_sha256 = hashlib.sha256(
                data + b"!" + m.name.encode()).hexdigest()
        # A refused member quarantines the archive itself (once, under its own name).
        staged.append(_stage(result, m.data if m.data is not None else data, m.name, f"{src.name}!{m.name}", day,
                             s, t0, quarantine_name=name if m.data is None else m.name))
    log.info("unpacked %s: %d member(s)", name, len(members))
    return staged


def _parse(data: bytes, name: str):
    try:
        result = parse_bytes(data, name)
    except Exception as exc:  # a parser bug must not cost the day's other files: quarantine this one
        log.exception("parser failed on %s", name)
        result = _unreadable(name, data, f"internal parser error ({type(exc).__name__}: {escape(str(exc))})")
    # Values the report DB cannot store reject their claim or transaction set here, on every database.
    fit_to_store(result, keep_tuples=True)  # rows become tuples: what staging writes anyway
    return result


def _refused(name: str, reason: str, day: date):
    """A rejection for an inbox entry that was not read: keyed by its name and day, not content."""
    sha = hashlib.sha256(f"refused|{day.isoformat()}|{name}".encode()).hexdigest()
    return _file_rejected(name, sha, reason)


def _unreadable(name: str, data: bytes, reason: str):
    return _file_rejected(name, hashlib.sha256(data).hexdigest(), reason)


def _file_rejected(name: str, sha: str, reason: str) -> ParseResult:
    return ParseResult(source_file=name, file_sha256=sha, rejections=[
        Rejection(source_file=name, file_sha256=sha, unit="file", interchange_control="", transaction_control="",
                  segment_position=None, segment_id="", reason=reason)])


def _stage(result, data: bytes, name: str, key: str, day: date, s: Settings, t0: float, quarantine: bool = True,
           quarantine_name: str = "") -> ParsedFile:
    quarantine_path = ""
    if result.rejections and quarantine:
        quarantine_path = _quarantine(data, quarantine_name or name, day, s)
        for r in result.rejections:
            log.warning("rejected: %s (copied to %s)", escape(r.message()), escape(quarantine_path))
    # Keyed by file name (unique in the day's folder): the same bytes may arrive under two names.
    files_url = staging_store.join(s.staging_url, day.isoformat(), "files")  # a folder or object storage
    staged = staging_store.join(files_url, f"{_stage_name(key)}.stage")
    write_parse_result(result, staged)
    parsed = ParsedFile(audit_date=day.isoformat(), source_file=name, staged=staged, size_bytes=len(data),
                        quarantine_path=quarantine_path, claims=len(result.claims), lines=len(result.lines),
                        rejections=[escape(r.message()) for r in result.rejections],
                        seconds=round(time.perf_counter() - t0, 3))
    write_json(parsed.as_xcom(), staging_store.join(files_url, f"{_stage_name(key)}.json"))  # the day's manifest
    log.info("parsed %s: %d claims, %d lines, %d rejection(s)", name, parsed.claims, parsed.lines,
             len(parsed.rejections))
    return parsed


def _quarantine(data: bytes, name: str, day: date, s: Settings) -> str:
    qdir = s.quarantine_dir / day.isoformat()
    qdir.mkdir(parents=True, exist_ok=True)
    # Under the escaped name, from the bytes read: never a copy that follows a link.
    qpath = qdir / name.replace("/", "_")
    tmp = qpath.with_name(qpath.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, qpath)
    return str(qpath)


def staged_files(audit_date: date | str, settings: Settings | None = None) -> list[ParsedFile]:
    """The files staged for a day, in file-name order."""
    # issue 18: listed through staging_store (a local folder or an object-store prefix).
    folder = staging_store.join(_settings(settings).staging_url, _day(audit_date).isoformat(), "files")
    items = [ParsedFile.of(json.loads(staging_store.read_bytes(u))) for u in staging_store.list_names(folder, ".json")]
    return sorted(items, key=lambda item: item.source_file)


def _inbox_manifest(day: date, s: Settings) -> InboxDay:
    location = staging_store.join(s.staging_url, day.isoformat(), "inbox.json")
    names = staging_store.list_names(staging_store.join(s.staging_url, day.isoformat()), "inbox.json")
    return InboxDay.from_json(json.loads(staging_store.read_bytes(location))) if names else InboxDay([], [], [])


# ------------------------------------------------------------------------------------ history

def load_history(audit_date: date | str, settings: Settings | None = None) -> LoadedDay:
    """Add the day's staged rows to the claim history (duplicates skipped, replacements applied)."""
    s = _settings(settings)
    day = _day(audit_date)
    parsed = staged_files(day, s)
    inbox = _inbox_manifest(day, s)
    results, quarantine, sizes = [], {}, {}
    for item in parsed:
        result = read_staged_rows(item.staged)
        results.append(result)
        if item.quarantine_path:
            quarantine[result.file_sha256] = item.quarantine_path
        sizes[result.file_sha256] = item.size_bytes
    results += [_refused(e.name, e.reason, day) for e in inbox.refused]  # links, FIFOs: rejected, not read
    engine = _engine(s)
    # Count everything read, keep only the radiation-oncology claims (unless AUDIT_KEEP_ALL_CLAIMS).
    read_counts = {r.file_sha256: (len(r.claims), len(r.lines)) for r in results}
    if not s.keep_all_claims:
        results = _keep_in_scope(engine, results, day, s)
    # The staged files are the whole day: rejections of files no longer in the folder are dropped.
    counts = load_results(engine, results, day, quarantine_paths=quarantine, file_sizes=sizes, whole_day=True,
                          ignored=[(e.name, e.kind, e.reason) for e in inbox.ignored], read_counts=read_counts)
    # The day's files as read, each once (a redelivered file is not read twice into the count).
    loaded = LoadedDay.from_counts(counts, files_received=len(parsed) + len(inbox.refused),
                                   rejected_parts=sum(len(p.rejections) for p in parsed) + len(inbox.refused))
    log.info("history for %s: %s", day, loaded.as_xcom())
    return loaded


def _keep_in_scope(engine, results: list, day: date, s: Settings) -> list:
    """issue 18: each file's rows cut to the claims with a radiation-oncology code (reference data),
    plus replacements and voids of lineages the history already holds."""
    codes = load_scope_codes(s.expectations_dir)
    keys = [scope_keys(r.claims, r.lines, codes, day) for r in results]
    wanted = set().union(*(correction_lineages(r.claims, k) for r, k in zip(results, keys)))
    known = known_lineages(engine, wanted) if wanted else set()
    # ...or of an in-scope version received the same day.
    known |= wanted & {lineage_of(c) for r, k in zip(results, keys) for c in r.claims if c[0] in k}
    return [keep_claims(r, k, known) for r, k in zip(results, keys)]


# ------------------------------------------------------------------------------------ rules

def plan_rules(audit_date: date | str, settings: Settings | None = None) -> list[RulesShare]:
    """Plan the day's run_rules tasks: the day's patients cut into parts of at most
    ``AUDIT_RULE_PART_LINES`` history lines (bounds a task's memory), the parts shared out over
    at most ``AUDIT_RULE_TASKS`` tasks (one per worker that can run them side by side).

    An ordinary day is one part in one share; a month onboarded at once (a million lines) is six
    parts in two shares of three, each share's task importing Great Expectations once. A day with
    nothing received still gets one share with no part, so the day is still reported."""
    s = _settings(settings)
    day = _day(audit_date)
    parts = plan_parts(_engine(s), day, s.rule_part_lines)
    groups = _share_out(parts, max(1, s.rule_tasks))
    plan = [RulesShare(number=i, shares=len(groups), parts=group, patients=sum(p.patients for p in group),
                       slice_lines=sum(p.slice_lines for p in group)) for i, group in enumerate(groups, start=1)]
    log.info("rules for %s: %d part(s) in %d share(s) over %d patients, %d history lines", day, len(parts),
             len(plan), sum(p.patients for p in parts), sum(p.slice_lines for p in parts))
    return plan


def _share_out(parts: list[PatientPart], tasks: int) -> list[list[PatientPart]]:
    """Consecutive parts grouped into at most ``tasks`` shares of about equal history lines."""
    runs = split_in_order([p.slice_lines for p in parts], min(tasks, len(parts)))
    return [[parts[i] for i in run] for run in runs] or [[]]


def run_rules(audit_date: date | str, share: RulesShare | dict | None = None,
              settings: Settings | None = None) -> ShareResult:
    """Run every expectation suite over the audit views of one share's patients (all of the
    day's patients without ``share``), part by part; stage the findings for write_findings."""
    s = _settings(settings)
    day = _day(audit_date)
    engine = _engine(s)
    share = RulesShare.of(share) if share is not None else RulesShare(1, 1, [], 0, 0)
    parts: list[PatientPart | None] = list(share.parts) or [None]
    docs_dir = s.data_docs_dir / day.isoformat()
    if share.shares > 1:
        docs_dir = docs_dir / f"share-{share.number:03d}"
    findings: list[Finding] = []
    stages: dict[str, float] = {}
    version, lines_audited, history_rows = "", 0, 0
    ncci_parts: list[dict] = []  # NCCI edit sets used, unchecked lines (issue 13)
    for i, part in enumerate(parts, start=1):
        # One part's views at a time: memory is bounded by the part, GX is imported once per task.
        result = runner.run_rules(engine, day, s.expectations_dir, part=part,
                                  data_docs_dir=docs_dir / f"part-{i:02d}" if len(parts) > 1 else docs_dir)
        findings += result.findings
        version = result.ruleset_version
        lines_audited += result.lines_audited
        history_rows += result.history_rows
        ncci_parts.append(result.ncci)
        for name, seconds in result.stages.items():
            stages[name] = round(stages.get(name, 0.0) + seconds, 3)
        del result
        _return_freed_memory()  # the next part's views reuse it instead of growing the process
    staged = staging_store.join(s.staging_url, day.isoformat(), "findings",  # issue 18: local or object store
                                f"share-{share.number:03d}-of-{share.shares:03d}.stage")
    write_object(findings, staged)
    log.info("rules for %s share %d/%d (%d part(s)): %d finding(s) over %d history lines, ruleset %s", day,
             share.number, share.shares, len(parts), len(findings), history_rows, version)
    return ShareResult(staged=staged, number=share.number, shares=share.shares, parts=len(parts),
                       findings=len(findings), ruleset_version=version, lines_audited=lines_audited,
                       history_rows=history_rows, stages=stages, ncci=ncci_merge(ncci_parts))


def _return_freed_memory() -> None:
    """Hand the memory a finished part freed back to the system (glibc keeps freed blocks of a
    fragmented heap otherwise, so a task's resident size only grows part by part)."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    """glibc's malloc_trim from the process's own symbols (None on musl or macOS), looked up when a
    task first needs it: not at import, which every task pays."""
    return getattr(ctypes.CDLL(None), "malloc_trim", None)


def _gather_rules(runs: list[ShareResult]) -> tuple[list[Finding], str, int]:
    """Findings, ruleset version and lines audited of a day's rule shares (all of them, or raise)."""
    if not runs:
        raise PipelineStateError("no rule share results to write")
    expected = runs[0].shares
    numbers = sorted(r.number for r in runs)
    if numbers != list(range(1, expected + 1)):
        raise PipelineStateError(f"rule shares {numbers} do not make up the day's {expected} share(s)")
    versions = {r.ruleset_version for r in runs}
    if len(versions) != 1:  # the expectations changed between shares: the day must be rerun
        raise PipelineStateError(f"rule shares ran different rulesets {sorted(versions)}; rerun the day")
    # Shares hold disjoint patients: the runner's order over the whole day.
    findings = runner.unique_findings(f for run in runs for f in read_object(run.staged))
    return findings, versions.pop(), sum(r.lines_audited for r in runs)


def write_findings(audit_date: date | str, run_id: str, rules: ShareResult | dict | list, loaded: LoadedDay | dict,
                   started_at: datetime | str, settings: Settings | None = None, record_change: bool = False) -> dict:
    """Replace the day's findings and audit_run row in one transaction, then drop the staging.
    ``rules`` is what run_rules returned: one result, or one per share of the day. ``record_change``
    (a day of a native backfill) keeps what the rewrite changed for the range's summary email."""
    s = _settings(settings)
    day = _day(audit_date)
    runs = [ShareResult.of(r) for r in ([rules] if isinstance(rules, (dict, ShareResult)) else rules)]
    loaded = LoadedDay.of(loaded)
    findings, ruleset_version, _lines_audited = _gather_rules(runs)
    if isinstance(started_at, str):
        started_at = datetime.fromisoformat(started_at)
    stats = {
        "files": loaded.files_received,
        # day_* count the day's own claims even when a rerun finds them already loaded.
        "claims": loaded.day_claims,
        "lines": loaded.day_lines,
        "rejections": loaded.rejections,
        "ignored": loaded.ignored,
        "claims_read": loaded.claims_read,  # issue 18: the whole extract as read
        "lines_read": loaded.lines_read,
    }
    stats.update(ncci_run_columns(ncci_merge([r.ncci for r in runs])))  # NCCI (issue 13)
    engine = _engine(s)
    before = snapshot_day(engine, day) if record_change else None
    summary = replace_day(engine, audit_date=day, run_id=run_id, ruleset_version=ruleset_version,
                          findings=findings, stats=stats, started_at=started_at)
    if before is not None:
        change = compare(before, snapshot_day(engine, day))
        range_summary.record_change(range_summary.pending_changes_path(s.var_dir), change)
        append_csv(changes_csv_path(s.var_dir), change)
    staging_store.remove_tree(staging_store.join(s.staging_url, day.isoformat()))
    log.info("findings for %s written: %s", day, summary)
    index_data_docs(day, s)
    return summary


def index_data_docs(audit_date: date | str, settings: Settings | None = None) -> Path | None:
    """The day's Data Docs made readable offline, with an index page (a convenience: never fails the day)."""
    s = _settings(settings)
    day = _day(audit_date)
    try:
        return write_index(s.data_docs_dir / day.isoformat(), day)
    except OSError as exc:
        log.warning("data docs index for %s not written: %s", day, exc)
        return None


# ------------------------------------------------------------------------------------ digest

def build_digest(audit_date: date | str, settings: Settings | None = None, run_url: str = "",
                 airflow_base_url: str = "") -> EmailMessage | None:
    """The day's audit digest as an email message (None for an all-clear day when those are off).
    ``airflow_base_url`` is Airflow's own ``[api] base_url``, used when AUDIT_AIRFLOW_BASE_URL is unset."""
    s = _settings(settings)
    day = _day(audit_date)
    index = s.data_docs_dir / day.isoformat() / "index.html"
    options = DigestOptions.from_settings(s, airflow_base_url=airflow_base_url,
                                          data_docs_path=str(index) if index.is_file() else "")
    return build_digest_message(_engine(s), day, email_from=s.email_from, email_to=list(s.email_to),
                                airflow_run_url=run_url, send_all_clear=s.send_all_clear,
                                rule_catalogue=rule_catalogue(s.expectations_dir), options=options)


RANGE_RUN_TYPES = ("backfill",)  # Airflow DagRunType values of runs that are part of a range


def digest_wanted(run_type: str | None, range_run: bool = False, settings: Settings | None = None) -> bool:
    """Whether a run mails its day's digest: the nightly schedule and manual runs do; a day of a
    range (native ``airflow backfill create``: run_type ``backfill``; ``make audit``/``make
    backfill``: ``range_run``) does not, unless AUDIT_RANGE_DAILY_DIGESTS: the range sends one summary."""
    in_range = range_run or is_backfill(run_type)
    return not in_range or _settings(settings).range_daily_digests


def airflow_run_url(dag_id: str, run_id: str | None, settings: Settings | None = None,
                    airflow_base_url: str = "") -> str:
    """Link to the run in the Airflow UI, or "" when no base URL is known (AUDIT_AIRFLOW_BASE_URL,
    else Airflow's own ``[api] base_url`` passed in by the DAG)."""
    s = _settings(settings)
    base = (s.airflow_base_url or airflow_base_url).rstrip("/")
    if not (base and run_id):
        return ""
    return f"{base}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}"


def range_summary_message(start: date, end: date, changes: list, *, audited: list[date] | None = None,
                          skipped: list[date] | None = None, settings: Settings | None = None) -> EmailMessage:
    """The one email of a range run: days, new/resolved per rule against the earlier results, rejected files."""
    s = _settings(settings)
    rs = range_summary.collect_range(_engine(s), start, end, changes, audited=audited, skipped=skipped)
    csv_path = changes_csv_path(s.var_dir)
    return range_summary.range_message(rs, email_from=s.email_from, email_to=list(s.email_to),
                                       changes_csv=str(csv_path) if csv_path.exists() else "")


def pending_range_summary(settings: Settings | None = None) -> EmailMessage | None:
    """The summary of the native backfill whose days recorded their changes (None if none did).
    Call ``pending_range_sent`` once it is delivered."""
    s = _settings(settings)
    changes = range_summary.read_pending(range_summary.pending_changes_path(s.var_dir))
    if not changes:
        return None
    days = [c.audit_date for c in changes]
    return range_summary_message(min(days), max(days), changes, audited=days, settings=s)


def range_pending(settings: Settings | None = None) -> bool:
    """Whether days of a native backfill recorded changes that no summary has reported yet."""
    return range_summary.pending_changes_path(_settings(settings).var_dir).exists()


def pending_range_sent(settings: Settings | None = None) -> None:
    range_summary.archive_pending(range_summary.pending_changes_path(_settings(settings).var_dir))


def is_backfill(run_type: str | None) -> bool:
    """Airflow's DagRunType of a native ``airflow backfill create`` run (a str enum, or its name)."""
    return str(getattr(run_type, "value", run_type) or "").lower() in RANGE_RUN_TYPES


def range_eml_name(message: EmailMessage) -> str:
    start, _, end = str(message["X-Claims-Audit-Range"]).partition("..")
    return f"77386-reaudit-{start}_{end}.eml"


def write_outbox(message: EmailMessage, audit_date: date | str, settings: Settings | None = None,
                 name: str = "") -> Path:
    """Keep the digest as an .eml file (the demo, or a site without SMTP)."""
    s = _settings(settings)
    path = write_eml(message, s.outbox_dir, _day(audit_date), name=name)
    log.info("digest for %s written to %s", audit_date, path)
    return path


def deliver_digest(audit_date: date | str, settings: Settings | None = None, *, send=None, run_url: str = "",
                   airflow_base_url: str = "", wanted: bool = True) -> str:
    """Build the day's digest and deliver it: through ``send(message) -> bool`` when given (the
    DAG's SMTP connection; False means none is configured), else to the outbox as an .eml file.
    Only then is the day's digest marked delivered: a failure leaves it owed, and the next run
    of the day (a plain rerun too) delivers it. ``wanted`` False (a day of a range run, which
    mails one summary instead) records that nothing is owed. Returns where it went."""
    s = _settings(settings)
    day = _day(audit_date)
    message = build_digest(day, s, run_url=run_url, airflow_base_url=airflow_base_url) if wanted else None
    if not wanted:
        where = "none: part of a range run, which mails one summary"
    elif message is None:
        where = "none: all clear, and all-clear digests are off"
    elif send is not None and send(message):
        mark_email_sent(_engine(s), day)
        where = f"smtp:{message['To']}"
    else:
        where = str(write_outbox(message, day, s))
    mark_delivered(_engine(s), day, where)
    log.info("digest for %s delivered: %s", day, escape(where))
    return where


# ------------------------------------------------------------------------------------ the day, step by step

@dataclass
class DayRun:
    """What one day's audit hands from step to step in ``audit_day`` (in Airflow: the XComs)."""

    day: date
    settings: Settings
    run_id: str = ""
    digest: bool = True
    started: datetime | None = None
    files: list[str] = field(default_factory=list)
    parsed: list[ParsedFile] = field(default_factory=list)
    loaded: LoadedDay | None = None
    plan: list[RulesShare] = field(default_factory=list)
    rules: list[ShareResult] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    outbox: str = ""


def _resolve_day(run: DayRun) -> None:
    run.started = datetime.now(timezone.utc)
    run.run_id = run.run_id or f"local__{run.started.strftime('%Y%m%dT%H%M%S')}__{run.day.isoformat()}"


def _find_files(run: DayRun) -> None:
    run.files = begin_day(run.day, run.settings)


def _parse_files(run: DayRun) -> None:
    run.parsed = [staged for path in run.files for staged in parse_file(path, run.day, run.settings)]


def _load_history(run: DayRun) -> None:
    run.loaded = load_history(run.day, run.settings)


def _plan_rules(run: DayRun) -> None:
    run.plan = plan_rules(run.day, run.settings)


def _run_rules(run: DayRun) -> None:
    run.rules = [run_rules(run.day, share, run.settings) for share in run.plan]


def _write_findings(run: DayRun) -> None:
    run.summary = write_findings(run.day, run.run_id, run.rules, run.loaded, run.started, run.settings)


def _send_summary(run: DayRun) -> None:
    run.outbox = deliver_digest(run.day, run.settings, wanted=run.digest)


@dataclass(frozen=True)
class Step:
    """One step of a day's audit: its DAG task, whether the DAG maps it (a task per file, per
    share), and how ``audit_day`` runs it."""

    task_id: str
    mapped: bool
    run: Callable[[DayRun], None]


# The order of a day's audit, written once: the DAG's tasks (tests/test_dag_integrity.py checks),
# audit_day and scripts/bench_audit.py follow it.
STEPS = (
    Step("resolve_day", False, _resolve_day),
    Step("find_files", False, _find_files),
    Step("parse_file", True, _parse_files),
    Step("load_history", False, _load_history),
    Step("plan_rules", False, _plan_rules),
    Step("run_rules", True, _run_rules),
    Step("write_findings", False, _write_findings),
    Step("send_summary", False, _send_summary),
)
STEP_NAMES = tuple(step.task_id for step in STEPS)


def audit_day(audit_date: date | str, settings: Settings | None = None, run_id: str | None = None,
              digest: bool = True) -> dict:
    """The whole audit of one day without Airflow, step by step as the DAG runs it (``digest``
    off for a day of a range run: the range writes one summary instead)."""
    run = DayRun(_day(audit_date), _settings(settings), run_id or "", digest)
    for step in STEPS:
        step.run(run)
    return {"audit_date": run.day.isoformat(), "run_id": run.run_id, "files": len(run.files),
            "loaded": run.loaded.as_xcom(),
            "rules": [{k: v for k, v in r.as_xcom().items() if k != "staged"} for r in run.rules],
            "summary": run.summary, "outbox": run.outbox}
