"""The digest's CSV attachment: the whole open worklist, one row per open finding.

The columns are a contract (billing staff sort and filter them in spreadsheets): add at the end,
never rename or reorder.
"""

from __future__ import annotations

import csv
import io

from claimaudit.report.worklist import WorkItem

CSV_COLUMNS = ("finding_id", "status", "first_seen", "days_open", "claim_id", "line", "date_of_service", "code",
               "modifiers", "payer_class", "charge", "rule_id", "title", "severity", "message", "fix")
# Spreadsheets run cells starting with these as formulas; values from files must stay text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _money(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def worklist_csv(items: list[WorkItem], catalogue: dict[str, dict] | None) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for i in items:
        rule = (catalogue or {}).get(i.rule_id) or {}
        # Numbers we format ourselves stay numbers; every text cell passes through _cell.
        writer.writerow([
            i.finding_id, "open", i.first_seen.isoformat(), i.days_open, _cell(i.claim_id),
            "" if i.line_number is None else i.line_number,
            i.date_of_service.isoformat() if i.date_of_service else "", _cell(i.procedure_code),
            _cell(i.modifiers), _cell(i.payer_class), _money(i.charge), _cell(i.rule_id),
            _cell(rule.get("title", "")), _cell(i.severity), _cell(i.message), _cell(i.fix or rule.get("fix", ""))])
    return out.getvalue()
