"""Keeping a digest as an .eml file: the demo's mailbox, and the fallback without SMTP."""

from __future__ import annotations

import os
from datetime import date
from email import policy
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path


def eml_name(audit_date: date) -> str:
    return f"77386-audit-{audit_date.isoformat()}.eml"


def write_eml(message: EmailMessage, outbox_dir: Path, audit_date: date, name: str = "") -> Path:
    """Write the message (CRLF, as sent over SMTP) to ``outbox_dir``; a rerun overwrites the day's
    file atomically, so a reader never sees half a message."""
    outbox_dir = Path(outbox_dir)
    outbox_dir.mkdir(parents=True, exist_ok=True)
    if message["Date"] is None:
        message["Date"] = formatdate(localtime=False, usegmt=True)
    path = outbox_dir / (name or eml_name(audit_date))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(message.as_bytes(policy=policy.SMTP))
    os.replace(tmp, path)
    return path
