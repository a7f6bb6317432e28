"""Which claims of a whole-hospital extract the audit keeps, and how much it read (issue 18).

A hospital's 837 files carry every department; radiation oncology is a few percent of the claims.
The history keeps only the claims the rules need: those with at least one service line whose
procedure code is in the reference list ``radiation_oncology`` (expectations/reference/code_lists.json,
effective-dated at the line's date of service, else the day received). Every file, claim and line
is still counted, so the run report can say "12,480 claims read, 311 audited".

A replacement or void (CLM05-3 7/8) outside the list is kept too when its lineage is already in the
history: a corrected claim that no longer bills radiation oncology must still supersede the
version that did, or that version's findings would stay open forever.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from claimaudit.model import Claim, ServiceLine, columns

SCOPE_LIST = "radiation_oncology"  # the same list decides which claims the rules audit (rules/views.py)
CORRECTIONS = ("7", "8")  # CLM05-3 replacement and void

_C = columns(Claim)
_L = columns(ServiceLine)
_C_KEY, _C_ID, _C_NPI, _C_FREQ, _C_REF = (_C.index(n) for n in ("claim_key", "claim_id", "billing_npi",
                                                                 "frequency_code", "original_claim_ref"))
_L_KEY, _L_CODE, _L_DOS = (_L.index(n) for n in ("claim_key", "procedure_code", "date_of_service"))


@dataclass(frozen=True)
class ScopeCodes:
    """The scope list as (low, high, from, to) ranges on the first characters of a code."""

    entries: tuple[tuple[str, str, date | None, date | None], ...]

    def dates_for(self, code: str) -> tuple[tuple[date | None, date | None], ...]:
        """Effective periods in which ``code`` is in scope (empty: never)."""
        out = []
        for lo, hi, start, end in self.entries:
            head = code[:len(lo)]
            if lo <= head <= hi:
                out.append((start, end))
        return tuple(out)


def load_scope_codes(expectations_dir: Path) -> ScopeCodes:
    """The ``radiation_oncology_codes`` list from the reference data (code or range matches)."""
    from claimaudit.rules.reference import ReferenceDataError, load_reference

    ref = load_reference(Path(expectations_dir))
    if SCOPE_LIST not in ref.code_lists:
        raise ReferenceDataError(f"reference code list {SCOPE_LIST!r} is missing: it decides which claims are "
                                 "kept (set AUDIT_KEEP_ALL_CLAIMS=true to keep every claim)")
    cl = ref.code_lists[SCOPE_LIST]
    if cl.field != "procedure_code" or cl.match not in ("code", "range"):
        raise ReferenceDataError(f"{SCOPE_LIST}: must match procedure_code by code or range")
    entries = []
    for e in cl.entries:
        lo, _, hi = e.value.partition("-") if cl.match == "range" else (e.value, "", e.value)
        entries.append((lo, hi or lo, e.effective_from, e.effective_to))
    return ScopeCodes(tuple(entries))


def _in_effect(periods, dos: date) -> bool:
    return any((start is None or dos >= start) and (end is None or dos <= end) for start, end in periods)


def lineage_of(claim: tuple) -> tuple[str, str]:
    """(billing NPI, lineage ref) of a claim tuple, as store.history keys versions."""
    return claim[_C_NPI], claim[_C_REF] or claim[_C_ID]


def scope_keys(claims: list[tuple], lines: list[tuple], codes: ScopeCodes, received: date) -> set[str]:
    """Claim keys with at least one line in scope at its date of service (received date if none)."""
    cache: dict[str, tuple] = {}
    keys: set[str] = set()
    for ln in lines:
        key = ln[_L_KEY]
        if key in keys:
            continue
        code = ln[_L_CODE]
        periods = cache.get(code)
        if periods is None:  # a few hundred distinct codes a day: match each once
            periods = cache[code] = codes.dates_for(code or "")
        if periods and _in_effect(periods, ln[_L_DOS] or received):
            keys.add(key)
    return keys


def correction_lineages(claims: list[tuple], in_scope: set[str]) -> set[tuple[str, str]]:
    """Lineages of out-of-scope replacements and voids: the caller checks which the history holds."""
    return {lineage_of(c) for c in claims if c[_C_FREQ] in CORRECTIONS and c[_C_KEY] not in in_scope}


def keep_claims(rows, keys: set[str], known_lineages: set[tuple[str, str]] = frozenset()):
    """``rows`` (StagedRows or ParseResult with tuple rows) cut to the claims in ``keys`` plus the
    out-of-scope corrections of a known lineage; envelopes and rejections untouched."""
    keep = set(keys)
    if known_lineages:
        keep.update(c[_C_KEY] for c in rows.claims
                    if c[_C_FREQ] in CORRECTIONS and lineage_of(c) in known_lineages)
    return replace(rows, claims=[c for c in rows.claims if c[_C_KEY] in keep],
                   lines=[ln for ln in rows.lines if ln[_L_KEY] in keep],
                   diagnoses=[d for d in rows.diagnoses if d[0] in keep])
