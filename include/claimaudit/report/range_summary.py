"""One email for a range run (backfill, ``make audit``): what re-auditing the days changed.

A range re-audits history (usually after a rule change); mailing each day's digest would send
billing staff hundreds of emails about the past. Instead the range sends this summary when it
ends: the days audited and skipped, findings new and resolved per rule against the results (and
ruleset) they replaced, the files rejected in the range, and the open backlog at its end.

Counts, rule ids and file names only, whatever ``AUDIT_EMAIL_DETAIL`` says: every change, with
its claim, is in ``var/reports/finding-changes.csv`` and the report table.

The native ``airflow backfill create`` runs each day in its own process, so its days record their
change in a pending file (``pending_changes_path``) that the range's last run turns into this email.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from html import escape
from pathlib import Path

from sqlalchemy import Engine, func, select

from claimaudit.changes import DayChange, FindingRef
from claimaudit.report.wording import one_line, plural
from claimaudit.report.worklist import open_worklist
from claimaudit.store import schema as t


@dataclass(frozen=True)
class RuleChange:
    rule_id: str
    severity: str
    new: int
    resolved: int
    open_at_end: int


@dataclass
class RangeSummary:
    start: date
    end: date
    audited: list[date]
    skipped: list[date]
    changes: list[DayChange]
    rules: list[RuleChange] = field(default_factory=list)
    rejected: list[tuple[date, str, int]] = field(default_factory=list)  # (day, file, problems)
    files: int = 0
    claims: int = 0
    findings_in_range: int = 0
    open_at_end: int = 0
    rulesets: list[str] = field(default_factory=list)  # "old->new" transitions seen

    @property
    def new(self) -> int:
        return sum(len(c.new) for c in self.changes)

    @property
    def resolved(self) -> int:
        return sum(len(c.resolved) for c in self.changes)

    @property
    def first_audits(self) -> int:
        return sum(c.first_audit for c in self.changes)


def collect_range(engine: Engine, start: date, end: date, changes: list[DayChange], *,
                  audited: list[date] | None = None, skipped: list[date] | None = None) -> RangeSummary:
    changes = [c for c in changes if start <= c.audit_date <= end]
    rs = RangeSummary(start, end, sorted(audited if audited is not None else {c.audit_date for c in changes}),
                      sorted(skipped or []), changes)
    r, f, rej = t.audit_run.c, t.audit_finding.c, t.rejection.c
    with engine.connect() as conn:
        totals = conn.execute(select(func.coalesce(func.sum(r.files), 0), func.coalesce(func.sum(r.claims), 0),
                                     func.coalesce(func.sum(r.findings), 0)).where(r.audit_date.between(start, end))
                              ).one()
        rs.files, rs.claims, rs.findings_in_range = (int(x) for x in totals)
        rs.rejected = [(row.audit_date, row.source_file, int(row.n)) for row in conn.execute(
            select(rej.audit_date, rej.source_file, func.count().label("n")).where(rej.audit_date.between(start, end))
            .group_by(rej.audit_date, rej.source_file).order_by(rej.audit_date, rej.source_file))]
        severities = dict(conn.execute(select(f.rule_id, func.min(f.severity)).group_by(f.rule_id)).all())
    open_items = open_worklist(engine, end)
    rs.open_at_end = len(open_items)
    new, resolved = Counter(), Counter()
    for c in changes:
        for ref in c.new:
            new[ref.rule_id] += 1
            severities.setdefault(ref.rule_id, ref.severity)
        for ref in c.resolved:
            resolved[ref.rule_id] += 1
            severities.setdefault(ref.rule_id, ref.severity)
    open_by_rule = Counter(i.rule_id for i in open_items)
    rules = set(new) | set(resolved) | set(open_by_rule)
    rs.rules = sorted((RuleChange(rid, severities.get(rid, ""), new[rid], resolved[rid], open_by_rule[rid])
                       for rid in rules), key=lambda x: (-(x.new + x.resolved), x.rule_id))
    rs.rulesets = sorted({f"{c.previous_ruleset}->{c.ruleset}" for c in changes if c.ruleset_changed})
    return rs


def subject_line(rs: RangeSummary) -> str:
    what = f"+{rs.new} new, -{rs.resolved} resolved vs earlier results" if rs.changes else "nothing re-audited"
    if rs.first_audits == len(rs.changes) and rs.changes:
        what = f"{rs.findings_in_range} findings (first audit)"
    rej = f", {len(rs.rejected)} file(s) rejected" if rs.rejected else ""
    return (f"77386 re-audit {rs.start.isoformat()}..{rs.end.isoformat()}: {plural(len(rs.audited), 'day')} audited, "
            f"{what}{rej} - {rs.open_at_end} open")  # no ";": Python would fold the whole subject


def render_text(rs: RangeSummary, changes_csv: str = "") -> str:
    out = [subject_line(rs), ""]
    out.append(f"Range {rs.start}..{rs.end}: {plural(len(rs.audited), 'day')} audited, "
               f"{plural(len(rs.skipped), 'day')} skipped (already audited with the current ruleset); "
               f"{plural(rs.files, 'file')}, {plural(rs.claims, 'claim')} received in the range.")
    if rs.rulesets:
        out.append(f"Ruleset change: {', '.join(rs.rulesets)}.")
    out.append(f"Versus the results they replaced: {plural(rs.new, 'new finding')}, {rs.resolved} resolved"
               + (f" ({rs.first_audits} day(s) audited for the first time are not compared)" if rs.first_audits else "")
               + f". Open backlog at {rs.end}: {rs.open_at_end}.")
    out += ["", "BY RULE (new / resolved vs earlier results, open at the end)"]
    for r in rs.rules:
        out.append(f"  {r.severity.upper():<7} {one_line(r.rule_id):<34} +{r.new:<5} -{r.resolved:<5} open {r.open_at_end}")
    if not rs.rules:
        out.append("  none")
    if rs.rejected:
        out += ["", f"REJECTED FILES IN THE RANGE ({len(rs.rejected)})"]
        out += [f"  {d}  {one_line(name)}: {plural(n, 'problem')}" for d, name, n in rs.rejected]
    out += ["", "No digest was mailed for the single days of this range; the next nightly digest lists the open "
            "worklist as usual."]
    if changes_csv:
        out.append(f"Every change, with its claim: {changes_csv}")
    out.append("This summary carries counts, rule ids and file names only: no claim ids, no patient data.")
    return "\n".join(out) + "\n"


def render_html(rs: RangeSummary, changes_csv: str = "") -> str:
    from claimaudit.report.render_html import STYLE

    def e(v) -> str:
        return escape(one_line(v), quote=True)

    rows = "".join(f'<div class="r"><code>{e(r.rule_id)}</code> {e(r.severity)}: <b>+{r.new}</b> new, '
                   f"<b>-{r.resolved}</b> resolved, {r.open_at_end} open at the end</div>" for r in rs.rules) \
        or '<p class="m">No findings in the range.</p>'
    rej = "".join(f'<div class="r">{e(d)} <b>{e(name)}</b>: {e(plural(n, "problem"))}</div>'
                  for d, name, n in rs.rejected)
    body = [f"<h1>77386 re-audit {e(rs.start)}..{e(rs.end)}</h1>",
            f'<div class="b work" style="background:#fff4d6;padding:10px"><b>{e(plural(len(rs.audited), "day"))} '
            f"re-audited: {rs.new} new, {rs.resolved} resolved</b> versus the results they replaced; "
            f"{rs.open_at_end} open at {e(rs.end)}.</div>",
            f'<p class="m">{e(plural(len(rs.skipped), "day"))} skipped (already audited with the current ruleset). '
            f"{e(plural(rs.files, 'file'))}, {e(plural(rs.claims, 'claim'))} received in the range."
            + (f" Ruleset change: <code>{e(', '.join(rs.rulesets))}</code>." if rs.rulesets else "")
            + (f" {rs.first_audits} day(s) were audited for the first time: nothing to compare them with."
               if rs.first_audits else "") + "</p>",
            "<h2>By rule</h2>", rows]
    if rej:
        body += [f"<h2>Rejected files in the range ({len(rs.rejected)})</h2>", rej]
    body.append('<p class="ft">No digest was mailed for the single days of this range. Counts, rule ids and file '
                "names only: no claim ids, no patient data."
                + (f" Every change, with its claim: <code>{e(changes_csv)}</code>." if changes_csv else "") + "</p>")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{e(subject_line(rs))}</title><style>{STYLE.strip()}</style></head>\n"
            '<body><div class="w" style="max-width:640px;margin:0 auto;padding:12px;'
            'font-family:Arial,Helvetica,sans-serif;overflow-wrap:anywhere">\n' + "\n".join(body)
            + "\n</div></body></html>\n")


def range_message(rs: RangeSummary, *, email_from: str, email_to: list[str], changes_csv: str = "",
                  now: datetime | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject_line(rs)
    msg["From"] = email_from
    msg["To"] = ", ".join(email_to)
    msg["Date"] = format_datetime(now or datetime.now(timezone.utc))
    domain = parseaddr(email_from)[1].rpartition("@")[2] or "claimaudit.local"
    msg["Message-ID"] = make_msgid(idstring=f"77386-reaudit.{rs.start}.{rs.end}", domain=domain)
    msg["X-Claims-Audit-Range"] = f"{rs.start.isoformat()}..{rs.end.isoformat()}"
    msg.set_content(render_text(rs, changes_csv))
    msg.add_alternative(render_html(rs, changes_csv), subtype="html")
    return msg


def eml_name(rs: RangeSummary) -> str:
    return f"77386-reaudit-{rs.start.isoformat()}_{rs.end.isoformat()}.eml"


# ------------------------------------------------ changes of a native backfill, kept between its runs

def pending_changes_path(var_dir: Path) -> Path:
    return Path(var_dir) / "reports" / "range-pending.jsonl"


def record_change(path: Path, change: DayChange) -> None:
    """Append one day's change (a line of JSON; appends of one line do not interleave)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"audit_date": change.audit_date.isoformat(), "previous_ruleset": change.previous_ruleset,
           "ruleset": change.ruleset, "new": [asdict(f) for f in change.new],
           "resolved": [asdict(f) for f in change.resolved]}
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(doc) + "\n")


def read_pending(path: Path) -> list[DayChange]:
    """The recorded changes, the first per day (a retried day would compare with itself)."""
    path = Path(path)
    if not path.exists():
        return []
    by_day: dict[date, DayChange] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        doc = json.loads(line)
        day = date.fromisoformat(doc["audit_date"])
        by_day.setdefault(day, DayChange(day, doc["previous_ruleset"], doc["ruleset"],
                                         tuple(FindingRef(**f) for f in doc["new"]),
                                         tuple(FindingRef(**f) for f in doc["resolved"])))
    return [by_day[d] for d in sorted(by_day)]


def archive_pending(path: Path) -> Path | None:
    """Move the record aside once its summary is delivered: the next range starts empty."""
    path = Path(path)
    if not path.exists():
        return None
    done = path.with_name(f"range-sent-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{os.getpid()}.jsonl")
    os.replace(path, done)
    return done
