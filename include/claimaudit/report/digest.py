"""The morning digest: a pure function of the report DB -> one EmailMessage.

What it says, in order: feed health and the headline (new, resolved, open backlog), the worklist
(open findings grouped by claim), the rules behind them, rejected files, the 30-day backlog
trend, links onward. ``AUDIT_EMAIL_DETAIL=summary`` leaves out every claim id and the CSV.

Layout: multipart/mixed [ multipart/alternative [ text/plain, multipart/related [ text/html,
image/png (cid) ] ], text/csv attachment (worklist mode) ]. Sending is the caller's job.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from sqlalchemy import Engine

from claimaudit.errors import PipelineStateError
from claimaudit.report.chart import trend_png
from claimaudit.report.csv_export import worklist_csv
from claimaudit.report.digest_content import Digest, DigestOptions, RuleLine
from claimaudit.report.feed import feed_health
from claimaudit.report.render_html import render_html
from claimaudit.report.render_text import render_text
from claimaudit.report.worklist import WorkItem, backlog_series, group_by_claim, open_worklist
from claimaudit.store.findings import SEVERITY_ORDER, DaySummary, day_summary

DETAILS = ("worklist", "summary")
# The worklist CSV goes as plain text up to this size (about 210 open findings), zipped beyond:
# the whole email must stay under 100 KB (Gmail clips messages past about 102 KB).
CSV_PLAIN_LIMIT = 68_000


def chart_cid(audit_date: date) -> str:
    # Deterministic (no make_msgid randomness): the same DB renders the same message.
    return f"trend-{audit_date.isoformat()}@claimaudit.local"


def csv_filename(audit_date: date) -> str:
    return f"77386-audit-{audit_date.isoformat()}-open-worklist.csv"


def message_id(audit_date: date, run_id: str, finished_at: datetime | None, sender: str, detail: str) -> str:
    """Stable for one run's digest (a resend is the same message), new for a rerun of the day."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "claimaudit.local"
    token = hashlib.sha256(f"{audit_date}|{run_id}|{finished_at}|{detail}".encode()).hexdigest()[:20]
    return f"<77386-audit.{audit_date.isoformat()}.{token}@{domain}>"


def subject_line(d: Digest) -> str:
    head = f"77386 audit {d.audit_date.isoformat()}: "
    if d.status == "clear":
        tail = "all clear, nothing open"
        if d.resolved:
            tail += f" ({d.resolved} resolved)"
        return head + tail
    # The alert first: a phone shows the subject's first 40 or so characters. No ";" (Python's
    # header folding would then move the whole subject to a continuation line).
    text = f"ALERT {d.feed.short} - " if d.feed.alert else ""
    text += f"{d.new} new, {d.resolved} resolved, {d.open} open"
    if d.open:
        text += f" ({d.open_errors} error{'s' if d.open_errors != 1 else ''})"
    if d.summary.rejected_files:
        n = len(d.summary.rejected_files)
        text += f", {n} file{'s' if n != 1 else ''} rejected"
    return head + text


def _rule_lines(d_worklist: list[WorkItem], summary: DaySummary, catalogue: dict,
                quote_findings: bool = True) -> list[RuleLine]:
    from claimaudit.report.wording import rule_text

    open_, new, resolved, sev, msg = Counter(), Counter(), Counter(), {}, {}
    for i in d_worklist:
        open_[i.rule_id] += 1
        sev.setdefault(i.rule_id, i.severity)
        msg.setdefault(i.rule_id, i.message)
    for f in summary.findings:
        if f.is_new:
            new[f.rule_id] += 1
        sev.setdefault(f.rule_id, f.severity)
        msg.setdefault(f.rule_id, f.message)
    for f in summary.resolved:
        resolved[f.rule_id] += 1
        sev.setdefault(f.rule_id, f.severity)
        msg.setdefault(f.rule_id, f.message)
    out = []
    for rule_id in sev:
        if quote_findings:
            title, fix = rule_text(rule_id, msg[rule_id], catalogue)
        else:  # a finding's message may quote claim data: only the suites' own words
            entry = catalogue.get(rule_id) or {}
            title, fix = str(entry.get("title") or "see the rule catalogue"), str(entry.get("fix") or "")
        out.append(RuleLine(rule_id, sev[rule_id], title, fix, open_[rule_id], new[rule_id], resolved[rule_id]))
    out.sort(key=lambda r: (SEVERITY_ORDER.get(r.severity, 9), -r.open, -r.new, r.rule_id))
    return out


def collect(engine: Engine, audit_date: date, *, options: DigestOptions, catalogue: dict | None = None,
            run_url: str = "") -> Digest:
    """Read everything the day's digest says. Raises PipelineStateError for a day never audited."""
    summary = day_summary(engine, audit_date)
    if summary.run is None:
        raise PipelineStateError(f"no audit run recorded for {audit_date.isoformat()}: audit the day first")
    run = summary.run
    feed = feed_health(engine, audit_date, files=run.files, claims=run.claims,
                       rejected_files=len(summary.rejected_files), delivery_days=options.delivery_days,
                       holidays=options.holidays, low_volume_ratio=options.low_volume_ratio,
                       window=options.volume_window)
    worklist = open_worklist(engine, audit_date)
    catalogue = catalogue or {}
    d = Digest(audit_date=audit_date, summary=summary, feed=feed, worklist=worklist,
               groups=group_by_claim(worklist), series=backlog_series(engine, audit_date),
               rules=_rule_lines(worklist, summary, catalogue, quote_findings=options.detail == "worklist"), catalogue=catalogue, options=options,
               run_url=run_url, new=summary.new_count, resolved=len(summary.resolved))
    d.status = "alert" if feed.alert else ("work" if worklist or summary.rejected_files else "clear")
    d.subject = subject_line(d)
    if run_url:
        d.links.append(("This run in Airflow", run_url))
    if options.data_docs_url:
        d.links.append(("Data Docs of the day", f"{options.data_docs_url}/{audit_date.isoformat()}/index.html"))
    elif options.data_docs_path:
        d.links.append(("Data Docs of the day (on the audit server)", options.data_docs_path))
    if options.rule_catalogue_url:
        d.links.append(("Rule catalogue", options.rule_catalogue_url))
    return d


def build_digest(engine: Engine, audit_date: date, *, email_from: str, email_to: list[str],
                 airflow_run_url: str = "", send_all_clear: bool = True,
                 rule_catalogue: dict[str, dict] | None = None,
                 options: DigestOptions | None = None) -> EmailMessage | None:
    """The day's digest, or None on an all-clear day when ``send_all_clear`` is off.

    Raises LookupError when the day has no audit_run row (never audited: not "all clear").
    """
    d = collect(engine, audit_date, options=options or DigestOptions(), catalogue=rule_catalogue,
                run_url=airflow_run_url)
    if d.status == "clear" and not send_all_clear:
        return None
    return digest_message(d, email_from=email_from, email_to=email_to)


def zipped_csv(text: str, name: str) -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # fixed: same DB, same bytes
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, text.encode("utf-8"))
    return out.getvalue()


def _cte(text: str) -> str | None:
    """7bit for ASCII text whose lines fit SMTP's 998-octet limit; else None (Python picks the
    shorter of quoted-printable and base64). Python's own choice would use quoted-printable for any
    line over 78 characters, adding =3D to every HTML attribute and soft breaks to every CSV row:
    a fifth more on the largest parts, which must fit the 100 KB budget of a 200-finding day."""
    if text.isascii() and max(map(len, text.splitlines() or [""])) <= 998:
        return "7bit"
    return None


def digest_message(d: Digest, *, email_from: str, email_to: list[str]) -> EmailMessage:
    run = d.summary.run
    cid = chart_cid(d.audit_date)
    msg = EmailMessage()
    msg["Subject"] = d.subject
    msg["From"] = email_from
    msg["To"] = ", ".join(email_to)
    if run is not None and run.finished_at is not None:
        msg["Date"] = format_datetime(run.finished_at)  # when the audit ran; the day is in the subject
    msg["Message-ID"] = message_id(d.audit_date, run.run_id if run else "", run.finished_at if run else None,
                                   email_from, d.options.detail)
    msg["X-Claims-Audit-Date"] = d.audit_date.isoformat()
    msg["X-Claims-Audit-Detail"] = d.options.detail
    text = render_text(d)
    msg.set_content(text, cte=_cte(text))
    html = render_html(d, chart_cid=cid)
    msg.add_alternative(html, subtype="html", cte=_cte(html))
    msg.get_payload()[1].add_related(trend_png(d.series), maintype="image", subtype="png", cid=f"<{cid}>",
                                     filename="backlog-trend.png", disposition="inline")
    if d.worklist_mode:  # every day, even with nothing open: an empty worklist is an answer too
        text = worklist_csv(d.worklist, d.catalogue)
        if len(text) <= CSV_PLAIN_LIMIT:
            msg.add_attachment(text, subtype="csv", charset="utf-8", cte=_cte(text),
                               filename=csv_filename(d.audit_date))
        else:  # a long backlog: zipped (CSV shrinks about tenfold), so the email stays under 100 KB
            msg.add_attachment(zipped_csv(text, csv_filename(d.audit_date)), maintype="application", subtype="zip",
                               filename=csv_filename(d.audit_date) + ".zip")
    return msg
