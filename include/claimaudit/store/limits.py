"""Every value read from a file must fit the column that stores it.

An 837 may carry a 45-character CLM01 or a 12-digit NPI. SQLite stores it, PostgreSQL refuses
the whole load (StringDataRightTruncation), so one bad value stopped the day on one database
only. Here the unit that carries such a value is rejected before anything is written, with a
reason naming the file, the segment and what is wrong; the same on every database.

The limits are read from the table definitions in ``store.schema`` (one source of truth):
widening a column there widens what is accepted. The smallest unit is the claim for a claim,
line or diagnosis value, and the transaction set for an envelope value (ISA13, GS06, ST02).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import BigInteger, Integer, String

from claimaudit.model import Claim, Diagnosis, Envelope, Rejection, ServiceLine, as_tuples, columns
from claimaudit.store import schema as t

INT4 = (-2**31, 2**31 - 1)  # PostgreSQL integer; SQLite would take anything
INT8 = (-2**63, 2**63 - 1)

# Where each stored value comes from in the 837, for the reason a billing clerk reads.
_SOURCE = {
    "claim_id": ("CLM", "CLM01 claim id"),
    "payer_id": ("NM1", "payer id (NM109 of loop 2010BB)"),
    "payer_class": ("SBR", "SBR09 claim filing indicator"),
    "billing_npi": ("NM1", "billing provider NPI (NM109 of loop 2010AA)"),
    "rendering_npi": ("NM1", "rendering provider NPI (NM109 of loop 2310B/2420A)"),
    "facility_code": ("CLM", "CLM05-1 place of service / facility type"),
    "facility_qualifier": ("CLM", "CLM05-2 facility code qualifier"),
    "frequency_code": ("CLM", "CLM05-3 claim frequency code"),
    "original_claim_ref": ("REF", "REF*F8 original claim reference"),
    "transaction_type": ("ST", "transaction type"),
    "line_number": ("LX", "LX01 line number"),
    "procedure_code": ("SV1", "procedure code (SV1-01/SV2-02)"),
    "modifiers": ("SV1", "procedure modifiers"),
    "unit_basis": ("SV1", "unit basis (SV1-03/SV2-04)"),
    "place_of_service": ("SV1", "SV1-05 place of service"),
    "revenue_code": ("SV2", "SV2-01 revenue code"),
    "dx_pointers": ("SV1", "SV1-07 diagnosis pointers"),
    "dos_raw": ("DTP", "DTP*472 date of service"),
    "qualifier": ("HI", "diagnosis code qualifier"),
    "code": ("HI", "diagnosis code"),
    "position": ("HI", "diagnosis position"),
    "interchange_control": ("ISA", "ISA13 interchange control number"),
    "sender_id": ("ISA", "ISA06 sender id"),
    "group_control": ("GS", "GS06 group control number"),
    "transaction_control": ("ST", "ST02 transaction set control number"),
}


@dataclass(frozen=True)
class Limit:
    index: int  # position in the row tuple
    name: str
    length: int | None  # characters, for strings
    bounds: tuple[int, int] | None  # for integers


# Made by the parser, not read from the file (hashes, the escaped file name, P/I), or checked
# once on the claim although lines and diagnoses repeat it: not looked at again.
_DERIVED = {"claim_key", "patient_key", "file_sha256", "source_file", "transaction_type"}
_REPEATED = {"service_line": {"claim_id"}, "diagnosis": {"claim_id"}}


@lru_cache(maxsize=None)
def limits_for(table_name: str, names: tuple[str, ...]) -> tuple[Limit, ...]:
    """The limits of the columns of ``table_name`` among ``names`` (a row layout)."""
    table = t.metadata.tables[table_name]
    out = []
    skip = _DERIVED | _REPEATED.get(table_name, set()) if table_name != "rejection" else set()
    for i, name in enumerate(names):
        if name not in table.c or name in skip:
            continue
        kind = table.c[name].type
        if isinstance(kind, String) and kind.length:
            out.append(Limit(i, name, kind.length, None))
        elif isinstance(kind, String):  # Text: no length, but NUL still cannot be stored
            out.append(Limit(i, name, None, None))
        elif isinstance(kind, BigInteger):
            out.append(Limit(i, name, None, INT8))
        elif isinstance(kind, Integer):
            out.append(Limit(i, name, None, INT4))
    return tuple(out)


def _problem(value, limit: Limit) -> str:
    """What is wrong with one value, or "" when it fits."""
    if value is None:
        return ""
    if limit.bounds is not None:
        if isinstance(value, int) and not limit.bounds[0] <= value <= limit.bounds[1]:
            return f"is out of range (at most {limit.bounds[1]})"
        return ""
    if not isinstance(value, str):
        return ""
    if "\x00" in value:
        return "contains a NUL character"
    if limit.length is not None and len(value) > limit.length:
        return f"is {len(value)} characters long, at most {limit.length} are allowed"
    return ""


def _bad_rows(rows: Sequence[tuple], limits: tuple[Limit, ...]) -> dict[int, tuple[Limit, str]]:
    """Row index -> (first limit it breaks, problem). A column whose longest value fits is not
    looked at row by row: on a sound file this is a max() per column."""
    bad: dict[int, tuple[Limit, str]] = {}
    if not rows:
        return bad
    columns_ = list(zip(*rows))  # one transposition in C instead of a pass per column
    for limit in limits:
        values = columns_[limit.index]
        if limit.bounds is None:
            longest = max(map(len, filter(None, values)), default=0)  # str or None; "" and None fit
            if (limit.length is None or longest <= limit.length) and "\x00" not in "".join(filter(None, values)):
                continue
        else:
            numbers = [v for v in filter(None, values) if isinstance(v, int)]
            if not numbers or (limit.bounds[0] <= min(numbers) and max(numbers) <= limit.bounds[1]):
                continue
        for n, value in enumerate(values):
            if n not in bad:
                problem = _problem(value, limit)
                if problem:
                    bad[n] = (limit, problem)
    return bad


def shown(value, width: int = 40) -> str:
    """A value as a reason quotes it: control characters escaped, long values cut."""
    from claimaudit.safe_text import escape

    text = escape(str(value))
    return text if len(text) <= width else text[:width] + "…"


def _reason(what: str, limit: Limit, value, problem: str) -> tuple[str, str]:
    segment, label = _SOURCE.get(limit.name, ("", limit.name))
    return segment, f"{what} rejected: {label} '{shown(value)}' {problem}"


_CLAIM_FIELDS = columns(Claim)
_LINE_FIELDS = columns(ServiceLine)
_DX_FIELDS = columns(Diagnosis)
_ENV_FIELDS = columns(Envelope)
_CK = _CLAIM_FIELDS.index("claim_key")
_CID = _CLAIM_FIELDS.index("claim_id")
_C_ENV = tuple(_CLAIM_FIELDS.index(n) for n in ("sender_id", "interchange_control", "group_control",
                                                "transaction_control"))
_E_ENV = tuple(_ENV_FIELDS.index(n) for n in ("sender_id", "interchange_control", "group_control",
                                              "transaction_control"))


def fit_to_store(result, *, keep_tuples: bool = False):
    """Drop from ``result`` (a ParseResult, or staged rows with tuples) every transaction set and
    claim holding a value the store cannot keep, adding a Rejection for each; the rest is kept
    as it was. Rejections themselves are made to fit when they are recorded (``fit_rejection``).
    ``keep_tuples``: leave claims, lines and diagnoses as the tuples the check made (the staging
    writer takes them as they are; saves converting twice). Returns the number of units rejected."""
    src, sha = result.source_file, result.file_sha256
    rejected = 0
    claim_rows = as_tuples(result.claims, _CLAIM_FIELDS)

    # Envelope values: the whole transaction set goes.
    env_rows = as_tuples(result.envelopes, _ENV_FIELDS)
    bad_env = _bad_rows(env_rows, limits_for("claim", _ENV_FIELDS))
    bad_sets: set[tuple] = set()
    if bad_env:
        for n, (limit, problem) in sorted(bad_env.items()):
            env = env_rows[n]
            bad_sets.add(tuple(env[i] for i in _E_ENV))
            isa, st = env[_ENV_FIELDS.index("interchange_control")], env[_ENV_FIELDS.index("transaction_control")]
            segment, reason = _reason(f"transaction set {shown(st, 12)}", limit, env[limit.index], problem)
            result.rejections.append(Rejection(src, sha, "transaction", isa, st, None, segment, reason))
            rejected += 1
        result.envelopes = [e for e, row in zip(result.envelopes, env_rows)
                            if tuple(row[i] for i in _E_ENV) not in bad_sets]

    # Claim, line and diagnosis values: the claim goes.
    bad_claims: dict[str, tuple[Limit, str, object]] = {}
    for n, (limit, problem) in _bad_rows(claim_rows, limits_for("claim", _CLAIM_FIELDS)).items():
        bad_claims.setdefault(claim_rows[n][_CK], (limit, problem, claim_rows[n][limit.index]))
    line_rows = as_tuples(result.lines, _LINE_FIELDS)
    for n, (limit, problem) in sorted(_bad_rows(line_rows, limits_for("service_line", _LINE_FIELDS)).items()):
        bad_claims.setdefault(line_rows[n][0], (limit, problem, line_rows[n][limit.index]))
    dx_rows = as_tuples(result.diagnoses, _DX_FIELDS)
    for n, (limit, problem) in sorted(_bad_rows(dx_rows, limits_for("diagnosis", _DX_FIELDS)).items()):
        bad_claims.setdefault(dx_rows[n][0], (limit, problem, dx_rows[n][limit.index]))
    if keep_tuples:
        result.claims, result.lines, result.diagnoses = claim_rows, line_rows, dx_rows
    if not bad_claims and not bad_sets:
        return 0

    keep = []
    for claim, row in zip(result.claims, claim_rows):
        key = row[_CK]
        if tuple(row[i] for i in _C_ENV) in bad_sets:
            continue  # already rejected with its transaction set
        if key in bad_claims:
            limit, problem, value = bad_claims[key]
            segment, reason = _reason(f"claim '{shown(row[_CID], 20)}'", limit, value, problem)
            result.rejections.append(Rejection(src, sha, "claim", row[_C_ENV[1]], row[_C_ENV[3]], None, segment,
                                               reason))
            rejected += 1
            continue
        keep.append((claim, key))
    kept = {key for _, key in keep}
    result.claims = [c for c, _ in keep]
    result.lines = [ln for ln, row in zip(result.lines, line_rows) if row[0] in kept]
    result.diagnoses = [d for d, row in zip(result.diagnoses, dx_rows) if row[0] in kept]
    return rejected


_REJECTION_FIELDS = ("unit", "interchange_control", "transaction_control", "segment_id")


def fit_rejection(row: dict) -> dict:
    """A rejection row whose identifiers (from the bad file itself: a six-letter segment id, a
    long ISA13) fit their columns: cut to the column, the full value kept in the reason."""
    notes = []
    for limit in limits_for("rejection", tuple(row)):
        value = row[limit.name]
        if isinstance(value, str) and limit.name in _REJECTION_FIELDS and _problem(value, limit):
            cut = value.replace("\x00", "")[: limit.length]
            notes.append(f"{limit.name.replace('_', ' ')} '{shown(value)}'")
            row[limit.name] = cut
    if notes:
        row["reason"] = f"{row['reason']} ({'; '.join(notes)})"
    for name in ("reason", "source_file", "quarantine_path"):
        if isinstance(row.get(name), str) and "\x00" in row[name]:
            row[name] = row[name].replace("\x00", "\\x00")
    return row
