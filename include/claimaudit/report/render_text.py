"""The plain-text part of the digest: the same content as the HTML, for text-only clients."""

from __future__ import annotations

from claimaudit.report.digest_content import Digest
from claimaudit.report.render_html import chart_caption, not_listed
from claimaudit.report.wording import claims_read, code_with_modifiers, day_label, days_open_label, dos_label, line_label, money, \
    one_line, plural


# Claims listed in the plain-text part: text-only readers get the newest; how to fix each rule is
# under BY RULE, and the CSV has every open finding.
TEXT_CLAIMS = 10


def _section(title: str) -> list[str]:
    return ["", title, "-" * len(title)]


def _headline(d: Digest) -> str:
    if d.status == "alert":
        text = f"ALERT: {d.feed.alert}. Check the feed before trusting this day's numbers."
        return text + (f" {plural(d.open, 'finding')} are still open." if d.open else "")
    if d.status == "work" and not d.open:  # only rejected files
        return (f"Nothing open, but {plural(len(d.summary.rejected_files), 'file')} rejected: what they held was "
                "not audited until they are fixed and resent.")
    if d.status == "work":
        text = (f"{plural(d.open, 'open finding')} on {plural(len(d.groups), 'claim')} ({d.open_errors} errors): "
                f"{d.new} new, {d.resolved} resolved since yesterday.")
        return text + (f" {plural(len(d.summary.rejected_files), 'file')} rejected." if d.summary.rejected_files else "")
    return "All clear: nothing open, every expected file arrived and was read."


def render_text(d: Digest) -> str:
    run, f = d.summary.run, d.feed
    out = [d.subject, "=" * min(len(d.subject), 78), "", _headline(d), ""]
    usual = f" (usually about {f.usual_claims:g})" if f.usual_claims is not None else ""
    out.append(f"Received {day_label(d.audit_date)} ({'a delivery day' if f.expected else 'no delivery expected'}): "
               f"{plural(f.files, 'file')}, {claims_read(run)}{usual}, "
               f"{plural(run.lines, 'service line')}. Ruleset {one_line(run.ruleset_version)}."
               + not_listed(d))
    out.append(f"New {d.new}  Resolved {d.resolved}  Open {d.open}  Files rejected {len(d.summary.rejected_files)}")
    for label, url in d.links:
        out.append(f"{label}: {url}")

    if d.worklist_mode and d.groups:
        out += _section(f"WORKLIST: {plural(d.open, 'open finding')} on {plural(len(d.groups), 'claim')}, newest first")
        for g in d.shown_groups[:TEXT_CLAIMS]:
            out.append(f"* Claim {one_line(g.claim_id)}  {one_line(g.payer_class or 'payer ?')}  {money(g.charge)}  "
                       f"{dos_label(g.first_service, g.last_service)}  "
                       f"{'new' if g.days_open == 0 else days_open_label(g.days_open)}")
            for i in g.items:
                out.append(f"    {i.severity.upper():<7} {one_line(i.rule_id)}  {line_label(i.line_number)}  "
                           f"{one_line(code_with_modifiers(i.procedure_code, i.modifiers))}"
                           + ("  NEW" if i.days_open == 0 else f"  {days_open_label(i.days_open)}"))
                out.append(f"            {one_line(i.message)}")
                if i.fix:
                    out.append(f"            Fix: {one_line(i.fix)}")
                url = d.finding_url(i.finding_id)
                if url:
                    out.append(f"            Review: {url}")
        rest = d.groups[len(d.shown_groups[:TEXT_CLAIMS]):]
        if rest:
            out.append(f"... and {len(rest)} more claim{'s' if len(rest) != 1 else ''} "
                       f"({sum(len(g.items) for g in rest)} open findings): see the attached CSV. How to fix each rule: BY RULE.")
    elif d.open:
        out.append(f"{plural(d.open, 'open finding')} on {plural(len(d.groups), 'claim')}: the claims are listed in "
                   "the findings view, not in this summary edition.")

    if d.rules:
        out += _section("BY RULE")
        for r in d.rules:
            out.append(f"  {r.severity.upper():<7} {one_line(r.rule_id)}: {r.open} open, {r.new} new, "
                       f"{r.resolved} resolved")
            out.append(f"          {one_line(r.title)}")
            if r.fix:
                out.append(f"          Fix: {one_line(r.fix)}")
    if d.summary.rejected_files:
        out += _section(f"REJECTED FILES ({len(d.summary.rejected_files)})")
        for r in d.summary.rejected_files:
            if d.worklist_mode:
                where = f" (quarantined: {one_line(r.quarantine_path)})" if r.quarantine_path else ""
                out.append(f"  {one_line(r.source_file)}{where}")
                out += [f"    - {one_line(reason)}" for reason in r.reasons]
            else:
                out.append(f"  {one_line(r.source_file)}: {plural(len(r.reasons), 'problem')}")
        out.append("  Fix the file at the source and resend it; the rest of the day was audited.")
    if d.series:
        out += _section("LAST 30 DAYS") + [f"  {chart_caption(d)}", "  day         open   new  files  claims"]
        shown = [p for p in d.series if p.audited or p.new or p.open]  # silent, unaudited days: left out
        out += [f"  {p.day:%m-%d %a}  {p.open:>5} {p.new:>5} " + (f"{p.files:>6} {p.claims:>7}" if p.audited
                                                                 else "  (not audited)") for p in shown]
        if len(shown) < len(d.series):
            out.append(f"  ({len(d.series) - len(shown)} earlier days without an audit run or findings not listed)")
    out.append("")
    if d.worklist_mode:
        out.append("Worklist edition: claim ids (CLM01, the patient control number), dates of service and charges, "
                   "and every open finding in the attached CSV. Together they are protected health information: keep "
                   "this email inside the organisation's mail. No names, member ids or birth dates are included.")
    else:
        out.append("Summary edition: counts, rules and links only; no claim ids and no attachment. The worklist is "
                   "in the findings view and the report table audit_finding.")
    out.append(f"Run {one_line(run.run_id)}.")
    return "\n".join(out) + "\n"
