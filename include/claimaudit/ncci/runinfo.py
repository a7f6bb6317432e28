"""What an audit run records about NCCI: the edit-set versions it used and the lines no edit set
covered ("unchecked" is not "passed"), merged over a day's rule parts, and the digest's line."""

from __future__ import annotations

import json


def merge(parts: list[dict | None]) -> dict:
    sets: set[str] = set()
    unchecked: dict[str, int] = {}
    for part in parts:
        if not part:
            continue
        sets.update(part.get("edit_sets", ()))
        for quarter, lines in part.get("unchecked", {}).items():
            unchecked[quarter] = unchecked.get(quarter, 0) + int(lines)
    return {"edit_sets": sorted(sets), "unchecked": dict(sorted(unchecked.items()))}


def run_columns(ncci: dict) -> dict:
    """audit_run columns: ncci_edit_sets, ncci_unchecked_lines, ncci_unchecked (JSON by quarter)."""
    unchecked = ncci.get("unchecked", {})
    return {"ncci_edit_sets": "; ".join(ncci.get("edit_sets", ())) or None,
            "ncci_unchecked_lines": sum(unchecked.values()),
            "ncci_unchecked": json.dumps(unchecked) if unchecked else None}


def digest_line(unchecked_lines: int | None, unchecked_json: str | None) -> str:
    """'NCCI edits not loaded for 2025-Q2: 412 lines unchecked', or '' when every line was checked."""
    if not unchecked_lines:
        return ""
    quarters = list(json.loads(unchecked_json or "{}"))
    where = ", ".join(quarters) or "these dates of service"
    noun = "line" if unchecked_lines == 1 else "lines"
    return f"NCCI edits not loaded for {where}: {unchecked_lines} {noun} unchecked"
