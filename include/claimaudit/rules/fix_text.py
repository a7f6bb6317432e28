"""A finding's message carries the fix chosen for its claim (payer, claim type, date of service):
``<what is wrong> Fix: <the fix>``. ``audit_finding.message`` is a contract column, so the fix
travels inside it; readers that show the two apart (digest, CSV, findings view) split it here.
"""

from __future__ import annotations

FIX_LABEL = " Fix: "


def with_fix(message: str, fix: str) -> str:
    return f"{message}{FIX_LABEL}{fix}"


def split_fix(message: str) -> tuple[str, str]:
    """(what is wrong, the fix for this claim); the fix is "" for a message without one."""
    what, sep, fix = message.partition(FIX_LABEL)
    return (what, fix) if sep else (message, "")
