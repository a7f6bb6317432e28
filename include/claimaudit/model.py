"""The rows the parser produces and the report store keeps.

One module, so that parser, store, rules and report agree on names. Rows are plain
dataclasses with ``slots``: the parser makes hundreds of thousands of them per file.
No patient names, member ids or birth dates are kept: ``patient_key`` is a keyed one-way hash
of (member id, last name, birth date), enough to link a patient's claims across payers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date
from operator import attrgetter


@dataclass(slots=True)
class Envelope:
    """Facts of one ST/SE transaction set inside its GS and ISA envelopes."""

    source_file: str
    file_sha256: str
    interchange_control: str  # ISA13
    sender_id: str  # ISA06, trimmed
    receiver_id: str  # ISA08, trimmed
    interchange_date: date | None  # ISA09
    group_control: str  # GS06
    version: str  # GS08, as written (may be wrong; see transaction_type)
    transaction_control: str  # ST02
    transaction_type: str  # "P" (837P) or "I" (837I), read from the content


@dataclass(slots=True)
class Claim:
    claim_key: str  # stable id: same interchange loaded twice gives the same key
    claim_id: str  # CLM01
    source_file: str
    file_sha256: str
    interchange_control: str
    sender_id: str
    group_control: str
    transaction_control: str
    transaction_type: str  # "P" | "I"
    patient_key: str
    payer_id: str  # 2010BB NM109
    payer_class: str  # SBR09 of the 2000B subscriber loop (MB, MA, MC, CI, ...)
    billing_npi: str  # 2010AA NM109 (NM1*85)
    rendering_npi: str  # 2310B NM109, "" when absent
    total_charge: float | None  # CLM02
    facility_code: str  # CLM05-1: place of service (837P) or facility type (837I)
    facility_qualifier: str  # CLM05-2: B (837P) or A (837I)
    frequency_code: str  # CLM05-3: 1 original, 7 replacement, 8 void
    original_claim_ref: str  # REF*F8, "" when absent
    statement_from: date | None  # DTP*434 (837I) start
    statement_to: date | None
    claim_service_date: date | None  # claim-level DTP*472 (837P), when present
    line_count: int = 0


@dataclass(slots=True)
class ServiceLine:
    claim_key: str
    claim_id: str
    line_number: int  # LX01
    procedure_code: str
    modifiers: str  # comma-joined, in order written: "26,76"; "" when none
    charge: float | None
    units: float | None
    unit_basis: str  # UN, MJ, DA, ...
    place_of_service: str  # SV1-05, else claim CLM05-1 (837P); "" on 837I
    revenue_code: str  # SV2-01 (837I); "" on 837P
    dx_pointers: str  # SV1-07 as "1,2"; "" on 837I
    date_of_service: date | None  # DTP*472 of the line, else claim-level date
    dos_raw: str  # the date text as written, for DQ-DOS-VALID ("" when missing)
    rendering_npi: str  # 2420A, else the claim's 2310B


@dataclass(slots=True)
class Diagnosis:
    claim_key: str
    claim_id: str
    position: int  # 1-based order on the claim (SV1-07 pointers refer to it)
    qualifier: str  # ABK, ABF, BK, BF, ...
    code: str


@dataclass(slots=True)
class Rejection:
    """A file or transaction set that could not be read. The rest of the day's files is still audited."""

    source_file: str
    file_sha256: str
    unit: str  # "file" | "interchange" | "transaction"
    interchange_control: str  # "" when unknown
    transaction_control: str  # "" when unknown
    segment_position: int | None  # 1-based segment number in the file
    segment_id: str  # e.g. "ISA", "SE"; "" when none applies
    reason: str  # plain language: what is wrong

    def message(self) -> str:
        where = f"segment {self.segment_position} ({self.segment_id})" if self.segment_position else "file"
        return f"{self.source_file}: {where}: {self.reason}"


@dataclass(slots=True)
class ParseResult:
    source_file: str
    file_sha256: str
    envelopes: list[Envelope] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    lines: list[ServiceLine] = field(default_factory=list)
    diagnoses: list[Diagnosis] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


@dataclass(slots=True, frozen=True)
class Finding:
    """One failing row of one rule: what the rules runner yields and ``store.findings`` writes
    (columns of ``audit_finding``, whose names are a public contract)."""

    rule_id: str
    severity: str  # "error" | "warning"
    claim_key: str
    claim_id: str
    line_number: int | None  # None for a claim-, day- or course-level rule
    date_of_service: date | None
    procedure_code: str
    modifiers: str
    message: str  # what is wrong, then " Fix: " and what to do
    source_file: str
    interchange_control: str
    billing_npi: str
    payer_class: str
    ncci_edit_set: str | None = None  # NCCI rules (issue 13): the edit set the finding used

    @property
    def key(self) -> tuple[str, str, int | None]:
        """(rule, claim, line): one finding per key, whatever number of expectations flag it."""
        return self.rule_id, self.claim_key, self.line_number


def columns(row_type: type) -> tuple[str, ...]:
    """Column names of a row dataclass, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(row_type))


def as_tuples(rows: list, names: tuple[str, ...]) -> list[tuple]:
    """Rows as tuples of ``names`` (the bulk paths take tuples); rows that already are tuples in
    that order (read back from staging) pass through."""
    if not rows or isinstance(rows[0], tuple):
        return rows
    get = attrgetter(*names)  # several names: returns tuples
    return [get(row) for row in rows]
