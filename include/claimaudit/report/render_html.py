"""The HTML part of the digest. Inline styles only (mail clients drop <style> blocks), and
every value passes through ``esc``: claim ids, file names and messages come from files."""

from __future__ import annotations

from html import escape

from claimaudit.report.wording import claims_read as _claims_read  # issue 18
from claimaudit.report.wording import LIST_LIMIT, code_with_modifiers, line_label, one_line, plural, rule_text
from claimaudit.store.findings import DaySummary, FindingView

SEVERITY_STYLE = {"error": "background:#c0392b;color:#fff", "warning": "background:#e69f00;color:#000"}
CELL = "padding:4px 8px;border-bottom:1px solid #e5e5e5;text-align:left;vertical-align:top"
HEAD = "padding:4px 8px;border-bottom:2px solid #999;text-align:left;font-weight:600"


def esc(value) -> str:
    return escape(one_line(value), quote=True)


def _badge(severity: str) -> str:
    style = SEVERITY_STYLE.get(severity, "background:#777;color:#fff")
    return f'<span style="{style};padding:1px 6px;border-radius:3px;font-size:12px">{esc(severity)}</span>'


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f'<th style="{HEAD}">{h}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f'<td style="{CELL}">{c}</td>' for c in r) + "</tr>" for r in rows)
    return (f'<table style="border-collapse:collapse;width:100%;font-size:13px;margin:4px 0 16px">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _findings_table(rows: list[FindingView], show_day: bool = False) -> str:
    headers = ["Severity", "Rule", "Claim", "Line", "Code", "Date of service", "What is wrong"]
    if show_day:
        headers.append("Found")
    body = []
    for f in rows[:LIST_LIMIT]:
        cells = [_badge(f.severity), f"<code>{esc(f.rule_id)}</code>", f"<b>{esc(f.claim_id)}</b>",
                 esc(line_label(f)), esc(code_with_modifiers(f)),
                 esc(f.date_of_service.isoformat() if f.date_of_service else "none"),
                 esc(f.message) + (' <i style="color:#1e7b34">(resolved)</i>' if f.status == "resolved" else "")]
        if show_day:
            cells.append(esc(f.audit_date.isoformat()))
        body.append(cells)
    more = (f'<p style="color:#555">… and {len(rows) - LIST_LIMIT} more: see the attached CSV.</p>'
            if len(rows) > LIST_LIMIT else "")
    return _table(headers, body) + more


def _tile(label: str, value: int, color: str) -> str:
    return (f'<td style="padding:8px 14px;border:1px solid #ddd;text-align:center">'
            f'<div style="font-size:22px;font-weight:700;color:{color}">{value}</div>'
            f'<div style="font-size:12px;color:#555">{esc(label)}</div></td>')


def render_html(summary: DaySummary, subject: str, *, catalogue: dict | None, run_url: str, chart_cid: str) -> str:
    s, run = summary, summary.run
    parts = [f'<h2 style="margin:0 0 4px">{esc(subject)}</h2>']
    if run is not None:
        parts.append(f'<p style="margin:0 0 12px;color:#555">Audited {esc(s.audit_date.isoformat())}: '
                     f"{esc(plural(run.files, 'file'))}, {esc(_claims_read(run))}, "
                     f"{esc(plural(run.lines, 'service line'))}. Ruleset <code>{esc(run.ruleset_version)}</code>, "
                     f"run <code>{esc(run.run_id)}</code>.</p>")
    if run_url:
        parts.append(f'<p style="margin:0 0 12px"><a href="{escape(run_url, quote=True)}">Open this run in '
                     f"Airflow</a></p>")
    parts.append('<table style="border-collapse:collapse;margin:0 0 16px"><tr>'
                 + _tile("errors", s.errors, "#c0392b") + _tile("warnings", s.warnings, "#b57a00")
                 + _tile("files rejected", len(s.rejected_files), "#333") + _tile("new today", s.new_count, "#333")
                 + _tile("still open", s.repeat_count + len(s.still_open), "#333")
                 + _tile("resolved today", len(s.resolved), "#1e7b34") + "</tr></table>")
    if s.all_clear:
        parts.append('<p style="font-size:15px;color:#1e7b34"><b>All clear:</b> no findings and no rejected '
                     "files for this day.</p>")

    if s.by_rule:
        rows = []
        for c in s.by_rule:
            title, fix = rule_text(c.rule_id, c.message, catalogue)
            rows.append([_badge(c.severity), f"<code>{esc(c.rule_id)}</code>", f"<b>{c.total}</b> ({c.new} new)",
                         esc(title), esc(fix)])
        parts += ['<h3 style="margin:8px 0 4px">Findings by rule</h3>',
                  _table(["Severity", "Rule", "Count", "What it means", "How to fix"], rows)]
    new = [f for f in s.findings if f.is_new]
    again = [f for f in s.findings if not f.is_new]
    if new:
        parts += [f'<h3 style="margin:8px 0 4px">New findings ({len(new)})</h3>', _findings_table(new)]
    if again:
        parts += [f'<h3 style="margin:8px 0 4px">Found again, still open ({len(again)})</h3>', _findings_table(again)]
    if s.still_open:
        parts += [f'<h3 style="margin:8px 0 4px">Still open from earlier days ({len(s.still_open)})</h3>',
                  _findings_table(s.still_open, show_day=True)]
    if s.resolved:
        parts += [f'<h3 style="margin:8px 0 4px">Resolved by today\'s claims ({len(s.resolved)})</h3>',
                  _findings_table(s.resolved, show_day=True)]
    if s.rejected_files:
        rows = []
        for r in s.rejected_files:
            reasons = "<br>".join(esc(x) for x in r.reasons)
            rows.append([f"<b>{esc(r.source_file)}</b>", reasons, esc(r.quarantine_path or "not kept")])
        parts += [f'<h3 style="margin:8px 0 4px">Rejected files ({len(s.rejected_files)})</h3>',
                  _table(["File", "Why", "Quarantined at"], rows),
                  '<p style="color:#555;margin-top:-8px">Fix the file at the source and resend it; the rest of '
                  "the day was audited.</p>"]
    if s.trend:
        first, last = s.trend[0].audit_date.isoformat(), s.trend[-1].audit_date.isoformat()
        parts += [f'<h3 style="margin:8px 0 4px">Last {len(s.trend)} audited days</h3>',
                  f'<img src="cid:{chart_cid}" width="600" height="150" alt="Errors (red) and warnings (amber) '
                  f'per audited day from {first} to {last}; a dark square marks a day with rejected files">',
                  f'<p style="font-size:12px;color:#555;margin:2px 0 16px">{first} … {last} · '
                  f'<span style="color:#c0392b">■</span> errors <span style="color:#e69f00">■</span> warnings '
                  "■ file rejected · shaded: this day</p>"]
    footer = ("Every finding of the day is in the attached CSV. " if s.findings else "")
    parts.append(f'<p style="font-size:12px;color:#777">{footer}This summary carries claim ids and counts only: '
                 "no patient names, member ids or birth dates.</p>")
    body = "\n".join(parts)
    return ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>' + esc(subject) + "</title></head>\n"
            '<body style="font-family:Arial,Helvetica,sans-serif;color:#222;max-width:980px">\n'
            + body + "\n</body></html>\n")
