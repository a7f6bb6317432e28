"""The digest's CSV attachment: one row per finding of the day."""

from __future__ import annotations

import csv
import io

from claimaudit.store.findings import FindingView

CSV_COLUMNS = ("claim_id", "line_number", "rule_id", "severity", "date_of_service", "procedure_code", "modifiers",
               "message", "status", "new", "source_file")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    text = "" if value is None else str(value)
    # Spreadsheets run cells starting with = + - @ as formulas; values from files must stay text.
    return "'" + text if text.startswith(_FORMULA_START) else text


def findings_csv(findings: list[FindingView]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for f in findings:
        writer.writerow([_cell(v) for v in (
            f.claim_id, f.line_number, f.rule_id, f.severity,
            f.date_of_service.isoformat() if f.date_of_service else "", f.procedure_code, f.modifiers, f.message,
            f.status, "yes" if f.is_new else "no", f.source_file)])
    return out.getvalue()
