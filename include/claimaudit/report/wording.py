"""Words shared by the subject, the plain-text and the HTML digest."""

from __future__ import annotations

from claimaudit.store.findings import DaySummary, FindingView

LIST_LIMIT = 200  # rows per section in the body; the CSV attachment has every finding of the day


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def subject(summary: DaySummary) -> str:
    """``77386 audit 2025-06-03: 4 errors, 2 warnings, 1 file rejected`` or ``...: all clear``."""
    parts = []
    if summary.findings:
        parts += [plural(summary.errors, "error"), plural(summary.warnings, "warning")]
    if summary.rejected_files:
        parts.append(f"{plural(len(summary.rejected_files), 'file')} rejected")
    return f"77386 audit {summary.audit_date.isoformat()}: {', '.join(parts) if parts else 'all clear'}"


def code_with_modifiers(f: FindingView) -> str:
    mods = "-".join(m for m in f.modifiers.split(",") if m)
    return f"{f.procedure_code}-{mods}" if mods else f.procedure_code


def line_label(f: FindingView) -> str:
    return "claim" if f.line_number is None else str(f.line_number)


def rule_text(rule_id: str, message: str, catalogue: dict | None) -> tuple[str, str]:
    """(title, how to fix) of a rule: the catalogue's words when given, else the finding's message."""
    entry = (catalogue or {}).get(rule_id) or {}
    title = str(entry.get("title") or entry.get("description") or message or rule_id)
    fix = str(entry.get("fix") or (message if title != message else ""))
    return title, fix


def one_line(value) -> str:
    """File-derived text on one line: CR/LF or tabs from a file must not break the layout."""
    return " ".join(str("" if value is None else value).split())


def claims_read(run) -> str:
    """Claims of a run: '12,480 claims read, 311 audited' when the audit kept only some (issue 18)."""
    read = getattr(run, "claims_read", None) or 0
    if read > run.claims:
        return f"{read:,} claims read, {run.claims:,} audited"
    return plural(run.claims, "claim")
