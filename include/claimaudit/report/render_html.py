"""The HTML part of the digest: one column that reads on a 390 px phone and a 1000 px desktop.

Styling is a few classes in one <style> block (one copy, not per row: a busy day stays small);
the handful of inline styles are the fallback for clients that strip <style>: the column's width
and font, the banner's colour, the chart's max-width. Every value passes through ``esc``:
claim ids, file names and messages come from received files.
"""

from __future__ import annotations

from html import escape

from claimaudit.ncci.runinfo import digest_line as ncci_digest_line
from claimaudit.report.digest_content import Digest
from claimaudit.report.wording import claims_read, code_with_modifiers, day_label, days_open_label, dos_label, line_label, \
    money, one_line, plural

STYLE = """
body{margin:0;padding:0;background:#f4f5f7}
.w{max-width:640px;margin:0 auto;padding:12px;font:15px/1.45 Arial,Helvetica,sans-serif;color:#1f2328;
background:#fff;overflow-wrap:anywhere;word-break:break-word}
h1{font-size:18px;margin:4px 0 8px}h2{font-size:16px;margin:22px 0 8px;padding-top:10px;border-top:1px solid #ddd}
.b{padding:10px 12px;border-radius:6px;font-size:16px;margin:0 0 10px}
.alert{background:#fde7e9;border-left:6px solid #c0392b}.work{background:#fff4d6;border-left:6px solid #b57a00}
.clear{background:#e3f4e6;border-left:6px solid #1e7b34}
.t{width:100%;border-collapse:collapse;table-layout:fixed;margin:0 0 8px}
.t td{border:1px solid #ddd;text-align:center;padding:6px 2px}
.n{font-size:22px;font-weight:700;display:block}.l{font-size:12px;color:#555}
.m{color:#555;font-size:13px;margin:4px 0}
.c{border:1px solid #ddd;border-radius:6px;margin:0 0 10px;padding:8px 10px}
.ch{font-weight:700}.cm{color:#555;font-size:13px}
.f{border-top:1px dashed #e3e3e3;margin-top:6px;padding-top:6px;font-size:14px}
.s{display:inline-block;padding:0 6px;border-radius:3px;font-size:12px;font-weight:700}
.se{background:#c0392b;color:#fff}.sw{background:#e69f00;color:#000}
.fix{color:#1e5b2a}.new{color:#b00;font-weight:700;font-size:12px}
.r{margin:0 0 8px;font-size:14px}
code{font-size:13px}img{max-width:100%;height:auto}
a{color:#0b57d0}.ft{color:#666;font-size:12px;margin-top:20px;border-top:1px solid #ddd;padding-top:8px}
"""
BANNER_FALLBACK = {"alert": "background:#fde7e9", "work": "background:#fff4d6", "clear": "background:#e3f4e6"}


def esc(value) -> str:
    return escape(one_line(value), quote=True)


def _a(url: str, label: str) -> str:
    if url.startswith(("http://", "https://")):
        return f'<a href="{escape(url, quote=True)}">{esc(label)}</a>'
    return f"{esc(label)}: <code>{esc(url)}</code>"  # a local path: shown, not linked


def _sev(severity: str) -> str:
    cls = {"error": "se", "warning": "sw"}.get(severity, "sw")
    return f'<span class="s {cls}">{esc(severity)}</span>'


def _tile(value, label: str) -> str:
    return f'<td><span class="n">{esc(value)}</span><span class="l">{esc(label)}</span></td>'


def headline(d: Digest) -> str:
    """The banner: the first thing read, on a phone the only thing above the fold."""
    if d.status == "alert":
        text = f"<b>Alert: {esc(d.feed.alert)}.</b> Check the feed before trusting this day's numbers."
        if d.open:
            text += f" {esc(plural(d.open, 'finding'))} are still open."
    elif d.status == "work" and not d.open:  # only rejected files
        text = (f"<b>Nothing open, but {esc(plural(len(d.summary.rejected_files), 'file'))} rejected:</b> "
                "what they held was not audited until they are fixed and resent.")
    elif d.status == "work":
        text = (f"<b>{esc(plural(d.open, 'open finding'))} on {esc(plural(len(d.groups), 'claim'))}</b>"
                f" ({esc(d.open_errors)} errors): {esc(d.new)} new, {esc(d.resolved)} resolved since yesterday.")
        if d.summary.rejected_files:
            text += f" {esc(plural(len(d.summary.rejected_files), 'file'))} rejected."
    else:
        text = "<b>All clear:</b> nothing open, every expected file arrived and was read."
    return f'<div class="b {d.status}" style="{BANNER_FALLBACK[d.status]};padding:10px">{text}</div>'


def _feed(d: Digest) -> str:
    run, f = d.summary.run, d.feed
    usual = f" (usually about {f.usual_claims:g})" if f.usual_claims is not None else ""
    due = "a delivery day" if f.expected else "no delivery expected"
    rej = f", {len(d.summary.rejected_files)} rejected" if d.summary.rejected_files else ""
    return (f'<p class="m">Received {esc(day_label(d.audit_date))} ({due}): {esc(plural(f.files, "file"))}{rej}, '
            f'{esc(claims_read(run))}{escape(usual)}, {esc(plural(run.lines, "service line"))}. '
            f"Ruleset <code>{esc(run.ruleset_version)}</code>.{escape(not_listed(d))}</p>")


def not_listed(d: Digest) -> str:
    """What the day holds that the worklist does not show: entries of the inbox that were not
    audited (recorded with their reasons), findings a reviewer suppressed, and lines no NCCI edit
    set covered ("unchecked" is not "passed")."""
    out, run = "", d.summary.run
    if run.ignored:
        n = run.ignored
        out += f" Not audited: {n} inbox {'entry' if n == 1 else 'entries'} (hidden or temporary files, sub-folders)."
    if d.summary.suppressed:
        out += f" Suppressed by reviewers (not listed): {d.summary.suppressed}."
    ncci = ncci_digest_line(run.ncci_unchecked_lines, run.ncci_unchecked)  # never a silent pass
    if ncci:
        out += f" {ncci}."
    return out


def _claim(d: Digest, g) -> str:
    newest = "new" if g.days_open == 0 else days_open_label(g.days_open)
    head = (f'<div class="ch">Claim {esc(g.claim_id)}</div>'
            f'<div class="cm">{esc(g.payer_class or "payer ?")} · {esc(money(g.charge))} · '
            f'{esc(dos_label(g.first_service, g.last_service))} · {esc(newest)}</div>')
    rows = []
    for i in g.items:
        rule = d.catalogue.get(i.rule_id) or {}
        title, fix = rule.get("title", ""), i.fix or rule.get("fix", "")  # the fix chosen for this claim
        link = d.finding_url(i.finding_id)
        new = ' <span class="new">NEW</span>' if i.days_open == 0 else ""
        rows.append(
            f'<div class="f">{_sev(i.severity)} <code>{esc(i.rule_id)}</code>{new} · {esc(line_label(i.line_number))}'
            f" · {esc(code_with_modifiers(i.procedure_code, i.modifiers))}"
            + (f" · {esc(days_open_label(i.days_open))}" if i.days_open != g.days_open else "")
            + f"<br>{esc(i.message or title)}"
            + (f'<br><span class="fix">Fix: {esc(fix)}</span>' if fix else "")
            + (f' <a href="{escape(link, quote=True)}">Review</a>' if link else "") + "</div>")
    return f'<div class="c">{head}\n' + "\n".join(rows) + "</div>"  # short lines: the part can go as 7bit


def _worklist(d: Digest) -> list[str]:
    if not d.groups:
        return []
    shown = d.shown_groups
    out = [f"<h2>Worklist: {esc(plural(d.open, 'open finding'))} on {esc(plural(len(d.groups), 'claim'))}</h2>",
           '<p class="m">Newest first. Work each claim in the billing system, then correct or void it: the '
           "finding closes when the corrected claim is audited.</p>"]
    out += [_claim(d, g) for g in shown]
    rest = d.groups[len(shown):]
    if rest:
        out.append(f'<p class="m"><b>… and {len(rest)} more claim{"s" if len(rest) != 1 else ""}</b> '
                   f"({sum(len(g.items) for g in rest)} open findings): every open finding is in the attached CSV.</p>")
    return out


def _rules(d: Digest) -> list[str]:
    if not d.rules:
        return []
    out = ["<h2>By rule</h2>"]
    for r in d.rules:
        out.append(f'<div class="r">{_sev(r.severity)} <code>{esc(r.rule_id)}</code>: <b>{r.open} open</b>, '
                   f"{r.new} new, {r.resolved} resolved<br>{esc(r.title)}"
                   + (f'<br><span class="fix">Fix: {esc(r.fix)}</span>' if r.fix else "") + "</div>")
    return out


def _rejected(d: Digest) -> list[str]:
    files = d.summary.rejected_files
    if not files:
        return []
    out = [f"<h2>Rejected files ({len(files)})</h2>"]
    for r in files:
        if d.worklist_mode:
            reasons = "<br>".join(esc(x) for x in r.reasons)
            where = f"<br>Quarantined: <code>{esc(r.quarantine_path)}</code>" if r.quarantine_path else ""
            out.append(f'<div class="c"><b>{esc(r.source_file)}</b><br><span class="cm">{reasons}</span>{where}</div>')
        else:  # reasons can quote claim data: in summary mode only the file and how many problems
            out.append(f'<div class="c"><b>{esc(r.source_file)}</b>: {esc(plural(len(r.reasons), "problem"))}</div>')
    out.append('<p class="m">Fix the file at the source and resend it; the rest of the day was audited.</p>')
    return out


def chart_caption(d: Digest) -> str:
    s = d.series
    if not s:
        return ""
    first, last = s[0], s[-1]
    new_total = sum(p.new for p in s)
    peak = max(s, key=lambda p: (p.open, p.day))
    unaudited = sum(not p.audited for p in s)
    return (f"Open backlog {last.open} on {last.day:%m-%d}, {first.open} on {first.day:%m-%d} "
            f"(peak {peak.open} on {peak.day:%m-%d}); {new_total} new findings in {len(s)} days"
            + (f"; {unaudited} days without an audit run (grey ticks)" if unaudited else "") + ".")


def _chart(d: Digest, chart_cid: str) -> list[str]:
    caption = chart_caption(d)
    return ["<h2>Last 30 days</h2>",
            f'<img src="cid:{chart_cid}" width="600" alt="{esc(caption)}" '
            f'style="display:block;width:100%;max-width:600px;height:auto">',
            '<p class="m"><span style="color:#3465a4">■</span> open backlog '
            '<span style="color:#e69f00">■</span> new findings · shaded: this day</p>',
            f'<p class="m">{esc(caption)}</p>']


def _footer(d: Digest) -> str:
    if d.worklist_mode:
        what = ("This is the <b>worklist</b> edition: it carries claim ids (CLM01, the patient control number), "
                "dates of service and charges, and the attached CSV lists every open finding. Together they are "
                "protected health information: keep this email inside the organisation's mail. No names, member "
                "ids or birth dates are included.")
    else:
        what = ("This is the <b>summary</b> edition: counts, rules and links only; no claim ids and no "
                "attachment. The worklist is in the findings view and the report table "
                "<code>audit_finding</code>.")
    run = d.summary.run
    return f'<p class="ft">{what} Run <code>{esc(run.run_id)}</code>.</p>'


def render_html(d: Digest, *, chart_cid: str) -> str:
    parts = [f"<h1>77386 audit · {esc(day_label(d.audit_date))}</h1>", headline(d), '<table class="t" role="presentation"><tr>'
             + _tile(d.new, "new") + _tile(d.resolved, "resolved") + _tile(d.open, "open")
             + _tile(len(d.summary.rejected_files), "files rejected") + "</tr></table>", _feed(d)]
    if d.links:
        parts.append('<p class="m">' + " · ".join(_a(url, label) for label, url in d.links) + "</p>")
    if d.worklist_mode:
        parts += _worklist(d)
    elif d.open:
        parts.append(f'<p class="m">{esc(plural(d.open, "open finding"))} on {esc(plural(len(d.groups), "claim"))}: '
                     "the claims are listed in the findings view, not in this summary edition.</p>")
    parts += _rules(d) + _rejected(d) + _chart(d, chart_cid) + [_footer(d)]
    body = "\n".join(parts)
    # Non-ASCII (ours and the files') as character references: the part is then ASCII, sent as
    # 7bit without quoted-printable's =3D in every attribute.
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{esc(d.subject)}</title><style>{STYLE.strip()}</style></head>\n"
            '<body><div class="w" style="max-width:640px;margin:0 auto;padding:12px;'
            'font-family:Arial,Helvetica,sans-serif;overflow-wrap:anywhere">\n' + body + "\n</div></body></html>\n"
            ).encode("ascii", "xmlcharrefreplace").decode("ascii")
