"""The 837 transaction-set state machine: ST..SE segments in, claim / line / diagnosis rows out.

One pass, no tree. The loop a segment belongs to is known from what came before it:
HL 20/22/23 open the billing provider, subscriber and patient loops (2000A/B/C, 2000C optional);
CLM opens the claim (2300); an SBR after CLM opens the other-payer loops (2320/2330x), whose
NM1/DTP/REF reuse the ids of the subscriber, payer and service-date segments and are ignored;
LX opens a service line (2400); SVD opens its adjudication (2430), whose DTP is not a service date.
"""

from __future__ import annotations

from dataclasses import dataclass

from claimaudit.model import Claim, Diagnosis, Envelope, ServiceLine
from claimaudit.x12 import dates
from claimaudit.x12.delimiters import Delimiters
from claimaudit.x12.errors import TRANSACTION_NAMES, StructuralError
from claimaudit.x12.keys import claim_key, patient_key

# HI qualifiers that carry diagnoses (ICD-10: AB*, ICD-9: B*; principal, other, admitting,
# patient reason for visit, external cause). Occurrence, value, condition and procedure codes
# share the HI segment on 837I and are not diagnoses.
DIAGNOSIS_QUALIFIERS = frozenset({"ABK", "ABF", "ABJ", "APR", "ABN", "BK", "BF", "BJ", "PR", "BN"})
_ENVELOPE_IDS = frozenset({"ST", "GE", "GS", "IEA", "ISA"})
_PAD = [""] * 8


@dataclass(slots=True)
class TransactionContext:
    """Envelope facts every row of the transaction set repeats."""

    source_file: str
    file_sha256: str
    interchange_control: str
    sender_id: str
    receiver_id: str
    interchange_date: object
    group_control: str
    version: str  # GS08
    delimiters: Delimiters


@dataclass(slots=True)
class TransactionRows:
    envelope: Envelope
    claims: list[Claim]
    lines: list[ServiceLine]
    diagnoses: list[Diagnosis]


@dataclass(slots=True)
class TransactionRejected:
    index: int  # index of the offending segment in the interchange's segment list
    segment_id: str
    transaction_control: str
    reason: str


class _ClaimDraft:
    """What the 2300 loop and its 2400 lines said, kept as text until the claim is complete."""

    __slots__ = ("index", "ordinal", "f", "composite", "claim_dos", "statement", "original_ref", "hi",
                 "rendering", "lines", "patient_key", "payer_id", "payer_class", "billing_npi")

    def __init__(self, index, ordinal, f, composite, pkey, payer_id, payer_class, billing_npi):
        self.index = index
        self.ordinal = ordinal
        self.f = f
        self.composite = composite
        self.claim_dos = None  # DTP*472 text at claim level
        self.statement = None  # DTP*434 text
        self.original_ref = ""
        self.hi: list[tuple[str, str]] = []
        self.rendering = ""
        self.lines: list[tuple] = []
        self.patient_key = pkey
        self.payer_id = payer_id
        self.payer_class = payer_class
        self.billing_npi = billing_npi


def _el(f: list[str], i: int) -> str:
    return f[i] if len(f) > i else ""


def skip_transaction(segs: list[str], k: int, element: str) -> int:
    """Index to resume at after a rejected transaction set: after its SE, or at the next envelope segment."""
    n = len(segs)
    while k < n:
        sid = segs[k].split(element, 1)[0]
        if sid == "SE":
            return k + 1
        if sid in _ENVELOPE_IDS:
            return k
        k += 1
    return n


def read_transaction(segs: list[str], start: int, ctx: TransactionContext):
    """Read the transaction set whose ST is ``segs[start]``.

    Returns (index after it, TransactionRows | TransactionRejected). Never raises on bad input.
    """
    el = ctx.delimiters.element
    st = segs[start].split(el)
    st01, st02 = _el(st, 1), _el(st, 2)
    if st01 != "837":
        name = TRANSACTION_NAMES.get(st01, "")
        what = f"transaction set {st01 or '(blank)'}" + (f" ({name})" if name else "")
        end = skip_transaction(segs, start + 1, el)
        return end, TransactionRejected(start, "ST", st02, f"{what} is not an 837 health care claim (ST01)")
    try:
        end, rows = _read_837(segs, start, st02, ctx)
    except StructuralError as e:
        if e.segment_id == "SE":
            end = e.index + 1
        else:
            end = skip_transaction(segs, e.index, el)
            if end == e.index and e.segment_id not in _ENVELOPE_IDS:
                end = e.index + 1
        return end, TransactionRejected(e.index, e.segment_id, st02, e.reason)
    return end, rows


def _read_837(segs: list[str], start: int, st02: str, ctx: TransactionContext):
    d = ctx.delimiters
    el = d.element
    co = d.component
    n = len(segs)

    claims: list[Claim] = []
    lines: list[ServiceLine] = []
    diagnoses: list[Diagnosis] = []
    types: list[str] = []

    hl_level = ""
    billing_hl = ""
    billing_npi = None  # None: no NM1*85 yet in this 2000A
    payer_class = None  # None: no SBR yet in this 2000B
    member_id = sub_last = sub_first = sub_dob = ""
    payer_id = ""
    have_sub = have_payer = False
    pat_last = pat_first = pat_dob = ""
    have_patient = False
    dmg_owner = ""  # "IL" or "QC": whose birth date a DMG gives
    ordinal = 0

    draft: _ClaimDraft | None = None
    state = 0  # 0: no claim, 1: 2300/2310 claim, 2: 2320/2330 other payer, 3: 2400 line
    # The open service line, as locals: hot path.
    ln_index = -1
    ln_no = ""
    ln_sv = None
    ln_dos = None
    ln_rend = ""
    ln_adj = False
    ln_sv_k = -1

    k = start + 1
    while k < n:
        f = segs[k].split(el)
        sid = f[0]
        if state == 3:
            if sid == "DTP":
                if ln_dos is None and not ln_adj and len(f) > 3 and f[1] == "472":
                    ln_dos = f[3]
                k += 1
                continue
            if sid == "LX" or sid == "SV1" or sid == "SV2":
                if sid == "LX":
                    if ln_sv is None:
                        raise StructuralError(ln_index, "LX", f"service line LX*{ln_no} has no SV1 or SV2")
                    draft.lines.append((ln_index, ln_no, ln_sv, ln_dos, ln_rend, ln_sv_k))
                    ln_index, ln_no, ln_sv, ln_dos, ln_rend, ln_adj = k, _el(f, 1), None, None, "", False
                elif ln_sv is not None:
                    raise StructuralError(k, sid, f"second {sid} in service line LX*{ln_no}")
                else:
                    ln_sv, ln_sv_k = f, k
                k += 1
                continue
            if sid == "NM1":
                if not ln_adj and len(f) > 1 and f[1] == "82":
                    ln_rend = _el(f, 9)
                k += 1
                continue
            if sid == "SVD":
                ln_adj = True
                k += 1
                continue
            if sid == "CLM" or sid == "HL" or sid == "SE" or sid in _ENVELOPE_IDS:
                if ln_sv is None:
                    raise StructuralError(ln_index, "LX", f"service line LX*{ln_no} has no SV1 or SV2")
                draft.lines.append((ln_index, ln_no, ln_sv, ln_dos, ln_rend, ln_sv_k))
                # fall through to the claim-closing code below
            else:
                k += 1
                continue

        if sid == "CLM" or sid == "HL" or sid == "SE" or sid in _ENVELOPE_IDS:
            if draft is not None:
                _finish_claim(draft, segs, st02, ctx, claims, lines, diagnoses, types)
                draft = None
                state = 0
            if sid == "SE":
                return _close(segs, start, k, f, st02, ctx, claims, lines, diagnoses, types)
            if sid in _ENVELOPE_IDS:
                raise StructuralError(k, sid, f"transaction set {st02} has no SE before this {sid} segment")
            if sid == "HL":
                hl_level = _el(f, 3)
                if hl_level == "20":
                    billing_hl = _el(f, 1)
                    billing_npi = None
                    have_sub = have_payer = have_patient = False
                    payer_class = None
                elif hl_level == "22":
                    if not billing_hl:
                        raise StructuralError(k, "HL", "subscriber HL (22) before any billing provider HL (20)")
                    have_sub = have_payer = have_patient = False
                    member_id = sub_last = sub_first = sub_dob = payer_id = ""
                    payer_class = None
                elif hl_level == "23":
                    if payer_class is None and not have_sub:
                        raise StructuralError(k, "HL", "patient HL (23) before any subscriber HL (22)")
                    have_patient = True
                    pat_last = pat_first = pat_dob = ""
                else:
                    raise StructuralError(k, "HL", f"HL03 {hl_level!r} is not a billing provider (20), "
                                                   "subscriber (22) or patient (23) level")
                dmg_owner = ""
            else:  # CLM
                if hl_level not in ("22", "23"):
                    raise StructuralError(k, "CLM", "CLM before any subscriber HL (22)")
                if billing_npi is None:
                    raise StructuralError(k, "CLM", f"billing provider (2010AA NM1*85) missing under HL {billing_hl}")
                if not have_sub:
                    raise StructuralError(k, "CLM", "subscriber (2010BA NM1*IL) missing before the claim")
                if not have_payer:
                    raise StructuralError(k, "CLM", "payer (2010BB NM1*PR) missing before the claim")
                claim_id = _el(f, 1)
                if not claim_id:
                    raise StructuralError(k, "CLM", "CLM01 (claim id) is empty")
                composite = _el(f, 5)
                if composite and co not in composite and len(composite) > 2:
                    raise StructuralError(k, "CLM", _component_problem("CLM05", composite, co))
                if have_patient:
                    pkey = patient_key(payer_id, member_id, pat_last, pat_first, pat_dob)
                else:
                    pkey = patient_key(payer_id, member_id, sub_last, sub_first, sub_dob)
                ordinal += 1
                draft = _ClaimDraft(k, ordinal, f, composite.split(co), pkey, payer_id, payer_class or "",
                                    billing_npi)
                state = 1
            k += 1
            continue

        if state == 1:
            if sid == "DTP":
                q = _el(f, 1)
                if q == "472" and draft.claim_dos is None:
                    draft.claim_dos = _el(f, 3)
                elif q == "434" and draft.statement is None:
                    draft.statement = _el(f, 3)
            elif sid == "HI":
                for comp in f[1:]:
                    if not comp:
                        continue
                    parts = comp.split(co)
                    if len(parts) < 2:
                        raise StructuralError(k, "HI", f"HI element {comp!r} is not a qualifier{co}code composite "
                                                             f"(component separator {co!r} from ISA16)")
                    if parts[0] in DIAGNOSIS_QUALIFIERS and parts[1]:
                        draft.hi.append((parts[0], parts[1]))
            elif sid == "REF":
                if _el(f, 1) == "F8":
                    draft.original_ref = _el(f, 2)
            elif sid == "NM1":
                if _el(f, 1) == "82":
                    draft.rendering = _el(f, 9)
            elif sid == "SBR":
                state = 2
            elif sid == "LX":
                state = 3
                ln_index, ln_no, ln_sv, ln_dos, ln_rend, ln_adj = k, _el(f, 1), None, None, "", False
            elif sid == "SV1" or sid == "SV2":
                raise StructuralError(k, sid, f"{sid} outside a service line (no LX before it)")
        elif state == 2:
            if sid == "LX":
                state = 3
                ln_index, ln_no, ln_sv, ln_dos, ln_rend, ln_adj = k, _el(f, 1), None, None, "", False
            elif sid == "SV1" or sid == "SV2":
                raise StructuralError(k, sid, f"{sid} outside a service line (no LX before it)")
        else:  # state 0: header, 2000A/B/C
            if sid == "NM1":
                q = _el(f, 1)
                if q == "85" and hl_level == "20":
                    billing_npi = _el(f, 9)
                elif q == "IL" and hl_level == "22":
                    member_id, sub_last, sub_first = _el(f, 9), _el(f, 3), _el(f, 4)
                    have_sub = True
                    dmg_owner = "IL"
                elif q == "PR" and hl_level == "22":
                    payer_id = _el(f, 9)
                    have_payer = True
                    dmg_owner = ""
                elif q == "QC" and hl_level == "23":
                    pat_last, pat_first = _el(f, 3), _el(f, 4)
                    dmg_owner = "QC"
                else:
                    dmg_owner = ""
            elif sid == "DMG":
                if dmg_owner == "IL":
                    sub_dob = _el(f, 2)
                elif dmg_owner == "QC":
                    pat_dob = _el(f, 2)
            elif sid == "SBR":
                if hl_level == "22" and payer_class is None:
                    payer_class = _el(f, 9)
            elif sid in ("LX", "SV1", "SV2"):
                raise StructuralError(k, sid, f"{sid} outside a claim (no CLM before it)")
        k += 1

    last = n - 1
    raise StructuralError(last, segs[last].split(el, 1)[0],
                          f"the interchange ends inside transaction set {st02} (no SE)")


def _component_problem(where: str, value: str, co: str) -> str:
    guess = next((c for c in value if not c.isalnum() and c not in " .-"), "")
    hint = f"; the body seems to use {guess!r}" if guess else ""
    return (f"{where} {value!r} is not split by the component separator {co!r} declared in ISA16{hint}")


def _close(segs, start, k, f, st02, ctx, claims, lines, diagnoses, types):
    count = k - start + 1
    se01, se02 = _el(f, 1), _el(f, 2)
    if se02 != st02:
        raise StructuralError(k, "SE", f"SE02 control number {se02!r} does not match ST02 {st02!r}")
    if se01 != str(count) and not (se01.isdigit() and int(se01) == count):
        raise StructuralError(k, "SE", f"SE01 says {se01 or '(blank)'} segments but transaction set {st02} has {count}"
                                       " (segments lost or added)")
    kind = types[0] if types else _kind_from_version(ctx.version)
    env = Envelope(
        source_file=ctx.source_file,
        file_sha256=ctx.file_sha256,
        interchange_control=ctx.interchange_control,
        sender_id=ctx.sender_id,
        receiver_id=ctx.receiver_id,
        interchange_date=ctx.interchange_date,
        group_control=ctx.group_control,
        version=ctx.version,
        transaction_control=st02,
        transaction_type=kind,
    )
    return k + 1, TransactionRows(env, claims, lines, diagnoses)


def _kind_from_version(version: str) -> str:
    return "I" if "X223" in version else "P"


def _finish_claim(dr: _ClaimDraft, segs, st02, ctx: TransactionContext, claims, lines, diagnoses, types) -> None:
    co = ctx.delimiters.component
    f = dr.f
    comp = dr.composite
    facility = comp[0] if comp else ""
    qualifier = comp[1] if len(comp) > 1 else ""
    frequency = comp[2] if len(comp) > 2 else ""
    # The type comes from the content: CLM05-2, else the service segments, else GS08.
    if qualifier == "A":
        kind = "I"
    elif qualifier == "B":
        kind = "P"
    elif any(ln[2][0] == "SV2" for ln in dr.lines):
        kind = "I"
    elif dr.lines:
        kind = "P"
    else:
        kind = _kind_from_version(ctx.version)
    types.append(kind)
    claim_id = f[1]
    key = claim_key(ctx.sender_id, ctx.interchange_control, ctx.group_control, st02, claim_id, dr.ordinal)
    stmt_from, stmt_to = dates.period(dr.statement) if dr.statement else (None, None)
    claim_dos_text = dr.claim_dos
    fallback_text = claim_dos_text if claim_dos_text is not None else (dr.statement or "")
    fallback_day = dates.first_day(fallback_text) if fallback_text else None
    claim_rendering = dr.rendering
    is_p = kind == "P"
    source_file, sha = ctx.source_file, ctx.file_sha256
    first_line = len(lines)
    number = dates.cached_number
    first_day = dates.cached_first_day
    for index, ln_no, sv, dos_text, rendering, sv_index in dr.lines:
        try:
            line_number = int(ln_no)
        except ValueError:
            raise StructuralError(index, "LX", f"LX01 {ln_no!r} is not a line number") from None
        if len(sv) < 8:
            sv = sv + _PAD
        if sv[0] == "SV1":
            _, proc, charge, basis, units, pos, _, pointers = sv[:8]
            revenue = ""
            if is_p:
                pos = pos or facility
                if co in pointers:
                    pointers = ",".join(p for p in pointers.split(co) if p)
            else:
                pos = pointers = ""
        else:
            _, revenue, proc, charge, basis, units = sv[:6]
            pos = pointers = ""
        parts = proc.split(co)
        if len(parts) == 1 and len(proc) > 2:
            raise StructuralError(sv_index, sv[0], _component_problem(f"{sv[0]} procedure", proc, co))
        if dos_text is None:
            day, raw = fallback_day, fallback_text
        else:
            day, raw = first_day(dos_text), dos_text
        # Positional arguments: this constructor runs once per service line.
        lines.append(ServiceLine(
            key, claim_id, line_number, parts[1] if len(parts) > 1 else "",
            ",".join(m for m in parts[2:6] if m) if len(parts) > 2 else "",
            number(charge), number(units), basis, pos, revenue, pointers, day, raw, rendering or claim_rendering,
        ))
    for position, (q, code) in enumerate(dr.hi, start=1):
        diagnoses.append(Diagnosis(claim_key=key, claim_id=claim_id, position=position, qualifier=q, code=code))
    claim_day = dates.first_day(claim_dos_text) if claim_dos_text else None
    claims.append(Claim(
        claim_key=key,
        claim_id=claim_id,
        source_file=source_file,
        file_sha256=sha,
        interchange_control=ctx.interchange_control,
        sender_id=ctx.sender_id,
        group_control=ctx.group_control,
        transaction_control=st02,
        transaction_type=kind,
        patient_key=dr.patient_key,
        payer_id=dr.payer_id,
        payer_class=dr.payer_class,
        billing_npi=dr.billing_npi,
        rendering_npi=claim_rendering,
        total_charge=dates.number(_el(f, 2)),
        facility_code=facility,
        facility_qualifier=qualifier,
        frequency_code=frequency,
        original_claim_ref=dr.original_ref,
        statement_from=stmt_from,
        statement_to=stmt_to,
        claim_service_date=claim_day,
        line_count=len(lines) - first_line,
    ))
