"""The plain-text part of the digest (what a phone or a text-only client shows)."""

from __future__ import annotations

from claimaudit.report.wording import claims_read as _claims_read  # issue 18
from claimaudit.report.wording import LIST_LIMIT, code_with_modifiers, one_line, plural, rule_text
from claimaudit.store.findings import DaySummary, FindingView


def _section(title: str) -> list[str]:
    return [title, "-" * len(title)]


def _finding_lines(rows: list[FindingView], show_day: bool = False) -> list[str]:
    out = []
    for f in rows[:LIST_LIMIT]:
        dos = f.date_of_service.isoformat() if f.date_of_service else "no date"
        seen = f"  found {f.audit_date.isoformat()}" if show_day else ""
        if f.status == "resolved":
            seen += "  [resolved]"
        where = "whole claim" if f.line_number is None else f"line {f.line_number}"
        out.append(f"  {f.severity.upper():<7} {one_line(f.rule_id)}  claim {one_line(f.claim_id)} {where}  "
                   f"{one_line(code_with_modifiers(f))}  DOS {dos}{seen}")
        out.append(f"          {one_line(f.message)}")
    if len(rows) > LIST_LIMIT:
        out.append(f"  ... and {len(rows) - LIST_LIMIT} more (see the attached CSV or the audit_finding table)")
    return out


def render_text(summary: DaySummary, subject: str, *, catalogue: dict | None, run_url: str) -> str:
    s, run = summary, summary.run
    out = [subject, "=" * len(subject), ""]
    if run is not None:
        out.append(f"Audited {s.audit_date.isoformat()}: {plural(run.files, 'file')}, {_claims_read(run)}, "
                   f"{plural(run.lines, 'service line')}. Ruleset {one_line(run.ruleset_version)}, "
                   f"run {one_line(run.run_id)}.")
    out.append(f"New today: {s.new_count}. Found again: {s.repeat_count}. "
               f"Still open from earlier days: {len(s.still_open)}. Resolved by today's claims: {len(s.resolved)}.")
    if run_url:
        out.append(f"Airflow run: {run_url}")
    out.append("")
    if s.all_clear:
        out += ["All clear: no findings and no rejected files for this day.", ""]

    if s.by_rule:
        out += _section("FINDINGS BY RULE")
        for c in s.by_rule:
            title, fix = rule_text(c.rule_id, c.message, catalogue)
            out.append(f"  {c.severity.upper():<7} {one_line(c.rule_id)}: {c.total} ({c.new} new)")
            out.append(f"          What it means: {one_line(title)}")
            if fix:
                out.append(f"          How to fix: {one_line(fix)}")
        out.append("")
    new = [f for f in s.findings if f.is_new]
    again = [f for f in s.findings if not f.is_new]
    if new:
        out += _section(f"NEW FINDINGS ({len(new)})") + _finding_lines(new) + [""]
    if again:
        out += _section(f"FOUND AGAIN, STILL OPEN ({len(again)})") + _finding_lines(again) + [""]
    if s.still_open:
        out += _section(f"STILL OPEN FROM EARLIER DAYS ({len(s.still_open)})")
        out += _finding_lines(s.still_open, show_day=True) + [""]
    if s.resolved:
        out += _section(f"RESOLVED BY TODAY'S CLAIMS ({len(s.resolved)})")
        out += _finding_lines(s.resolved, show_day=True) + [""]
    if s.rejected_files:
        out += _section(f"REJECTED FILES ({len(s.rejected_files)})")
        for r in s.rejected_files:
            where = f" (quarantined: {one_line(r.quarantine_path)})" if r.quarantine_path else ""
            out.append(f"  {one_line(r.source_file)}{where}")
            out += [f"    - {one_line(reason)}" for reason in r.reasons]
        out += ["  Fix the file at the source and resend it; the rest of the day was audited.", ""]
    if s.trend:
        out += _section(f"LAST {len(s.trend)} AUDITED DAYS") + ["  day          errors  warnings  rejected"]
        out += [f"  {p.audit_date.isoformat()}  {p.errors:>6}  {p.warnings:>8}  {p.rejections:>8}" for p in s.trend]
        out.append("")
    if s.findings:
        out.append("Every finding of the day is in the attached CSV.")
    out.append("This summary carries claim ids and counts only: no patient names, member ids or birth dates.")
    return "\n".join(out) + "\n"
