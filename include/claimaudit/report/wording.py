"""Words shared by the subject, the plain-text and the HTML digest."""

from __future__ import annotations

from datetime import date


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"


def money(value: float | None) -> str:
    return "charge unknown" if value is None else f"${value:,.2f}"


def day_label(day: date) -> str:
    return f"{day:%a} {day.isoformat()}"


def dos_label(first: date | None, last: date | None) -> str:
    if first is None:
        return "no date of service"
    return f"DOS {first.isoformat()}" + (f"..{last.isoformat()}" if last and last != first else "")


def code_with_modifiers(code: str, modifiers: str) -> str:
    mods = "-".join(m for m in modifiers.split(",") if m)
    return f"{code}-{mods}" if mods else code


def line_label(line_number: int | None) -> str:
    return "whole claim" if line_number is None else f"line {line_number}"


def days_open_label(days: int) -> str:
    return "new today" if days == 0 else f"open {plural(days, 'day')}"


def rule_text(rule_id: str, message: str, catalogue: dict | None) -> tuple[str, str]:
    """(title, how to fix) of a rule: the suites' metadata when given, else the finding's message."""
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
