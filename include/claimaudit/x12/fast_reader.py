"""The fast reader for sound 837P/837I transaction sets; anything unusual goes to the careful one.

It runs the same state machine as ``transaction._read_837`` (which documents the loops), in one
function with local names, dispatching on the segment's first character so that the segments it
ignores (N3, N4, PRV, PER, ...) are neither sliced nor split, and building each service line's row
when the line closes. It handles only what a sound file holds: on any error, on a claim without
CLM05-2 (whose type then depends on its lines) or on a segment it does not expect where it is, it
returns None, and ``read_transaction`` re-reads the set with the careful reader from its ST. So
the careful reader alone decides every rejection, and the rows do not depend on which reader ran.

The rule it keeps from the careful reader: a segment is acted on only by its exact id (the text
before the first element separator); a first character that starts no id the readers act on
(anything but C, D, G, H, I, L, N, R, S) marks a segment both readers skip.
"""

from __future__ import annotations

from hashlib import sha256

from claimaudit.model import Claim, Diagnosis, Envelope, ServiceLine
from claimaudit.x12 import dates
from claimaudit.x12 import transaction as careful
from claimaudit.x12.keys import PatientKeyer


class _Unusual(Exception):
    """The set holds something the fast reader leaves to the careful one."""


_ENVELOPE = frozenset({"ST", "GE", "GS", "IEA", "ISA"})


def read_837_fast(cur, start: int, st02: str, ctx):
    """Read the set whose ST is segment ``start`` from ``cur``: TransactionRows, or None (cursor
    position then undefined: the caller rewinds) when the careful reader must read it."""
    try:
        return _read(cur, start, st02, ctx)
    except Exception:  # noqa: BLE001 - _Unusual, or odd text (IndexError, ValueError): the careful reader decides
        return None


def _read(cur, start, st02, ctx):
    el = ctx.delimiters.element
    co = ctx.delimiters.component
    MISS = careful._MISS
    service = careful._service
    line_date = careful._line_date
    dx_qualifiers = careful.DIAGNOSIS_QUALIFIERS
    sv_cache = ctx.service_cache
    sv_get = sv_cache.get
    patient_key = PatientKeyer()
    dtp_cache = ctx.date_cache
    dtp_get = dtp_cache.get
    number = dates.number
    first_day = dates.first_day
    SL = ServiceLine
    # LX text -> line number, and the elements of NM1 segments that repeat from claim to claim
    # (NM1*85, NM1*PR, NM1*82): a dict lookup costs less than a split.
    lx_numbers: dict = {}
    lx_get = lx_numbers.get
    split_cache: dict = {}
    split_get = split_cache.get
    sender, icn, gcn = ctx.sender_id, ctx.interchange_control, ctx.group_control
    key_prefix = f"{sender}|{icn}|{gcn}|{st02}|"

    claims: list[Claim] = []
    lines: list[ServiceLine] = []
    diagnoses: list[Diagnosis] = []
    add_line = lines.append
    kind0 = ""  # the first claim's type: the envelope's

    hl_level = billing_hl = ""
    billing_npi = None
    payer_class = None
    member_id = sub_last = sub_dob = payer_id = ""
    pat_last = pat_dob = ""
    have_sub = have_payer = have_patient = False
    dmg_owner = ""
    ordinal = 0

    state = 0  # 0: no claim, 1: 2300/2310 claim, 2: 2320/2330 other payer, 3: 2400 line
    # The open claim.
    clm = None  # CLM elements
    key = claim_id = facility = qualifier = frequency = ""
    pkey = ""
    claim_dos = statement = None
    original_ref = claim_rend = ""
    hi: list = []
    is_p = True
    fallback = None  # (date text, date) for lines without DTP*472
    first_line = 0
    # The open service line.
    ln_num = 0
    ln_sv = ln_dos = None
    ln_rend = ""
    ln_adj = False

    k = start
    seg = ""
    for k, seg in enumerate(cur.it, start + 1):
        c = seg[0]
        if state == 3:
            if c == "D":
                if ln_dos is None and not ln_adj and seg[1] == "T":
                    v = dtp_get(seg, MISS)
                    if v is MISS:
                        v = line_date(seg, el, dtp_cache)
                    if v is not None:
                        ln_dos = v
                continue
            if c == "L":
                if seg[1] != "X":
                    continue
                if seg[2] != el or ln_sv is None:
                    raise _Unusual
                sid, code, mods, charge, units, basis, pos, revenue, pointers, _ = ln_sv
                if is_p and sid == "SV1":
                    if not pos:
                        pos = facility
                else:
                    pos = pointers = ""
                raw, day = fallback if ln_dos is None else ln_dos
                add_line(SL(key, claim_id, ln_num, code, mods, charge, units, basis, pos, revenue, pointers,
                            day, raw, ln_rend or claim_rend))
                ln_num = lx_get(seg)
                if ln_num is None:
                    ln_no = seg[3:]
                    if el in ln_no:
                        ln_no = ln_no.split(el, 1)[0]
                    ln_num = lx_numbers[seg] = int(ln_no)
                ln_sv = ln_dos = None
                ln_rend = ""
                ln_adj = False
                continue
            if c == "S":
                c = seg[1]
                if c == "V":
                    c = seg[2]
                    if c == "1" or c == "2":
                        v = sv_get(seg, MISS)
                        if v is MISS:
                            v = service(seg, el, co, sv_cache)
                        if v is not None:
                            if ln_sv is not None or v[9]:
                                raise _Unusual  # second SV1/SV2 in the line, or a bad procedure composite
                            ln_sv = v
                    elif c == "D" and seg.split(el, 1)[0] == "SVD":
                        ln_adj = True  # 2430: its DTP is no service date, its NM1 no rendering provider
                    continue
                if c != "E" and c != "T":
                    continue
                f = seg.split(el)
                if f[0] != "SE":
                    if f[0] == "ST":
                        raise _Unusual
                    continue
            elif c == "N":
                if seg[1] == "M":
                    f = seg.split(el)
                    if f[0] == "NM1" and not ln_adj and len(f) > 1 and f[1] == "82":
                        ln_rend = f[9] if len(f) > 9 else ""
                continue
            elif c == "H" or c == "C":
                f = seg.split(el)
                if f[0] != "HL" and f[0] != "CLM":
                    continue
            elif c == "G" or c == "I":
                if seg.split(el, 1)[0] in _ENVELOPE:
                    raise _Unusual
                continue
            else:
                continue
            # CLM, HL or SE closes the line (and the claim, below).
            if ln_sv is None:
                raise _Unusual
            sid, code, mods, charge, units, basis, pos, revenue, pointers, _ = ln_sv
            if is_p and sid == "SV1":
                if not pos:
                    pos = facility
            else:
                pos = pointers = ""
            raw, day = fallback if ln_dos is None else ln_dos
            add_line(SL(key, claim_id, ln_num, code, mods, charge, units, basis, pos, revenue, pointers,
                        day, raw, ln_rend or claim_rend))
        else:
            if c == "N":
                if seg[1] != "M":
                    continue
                f = split_get(seg)
                if f is None:
                    f = seg.split(el)
                    if f[0] != "NM1":
                        continue
                    q = f[1] if len(f) > 1 else ""
                    # Billing provider, payer and rendering provider repeat; subscribers and patients do not.
                    if q != "IL" and q != "QC" and len(split_cache) < 1_000:
                        split_cache[seg] = f
                elif f[0] != "NM1":
                    continue
                q = f[1] if len(f) > 1 else ""
                if state == 0:
                    if q == "85" and hl_level == "20":
                        billing_npi = f[9] if len(f) > 9 else ""
                    elif q == "IL" and hl_level == "22":
                        if len(f) < 10:
                            raise _Unusual
                        member_id, sub_last = f[9], f[3]
                        have_sub = True
                        dmg_owner = "IL"
                    elif q == "PR" and hl_level == "22":
                        payer_id = f[9] if len(f) > 9 else ""
                        have_payer = True
                        dmg_owner = ""
                    elif q == "QC" and hl_level == "23":
                        if len(f) < 5:
                            raise _Unusual
                        pat_last = f[3]
                        dmg_owner = "QC"
                    else:
                        dmg_owner = ""
                elif state == 1 and q == "82":
                    claim_rend = f[9] if len(f) > 9 else ""
                continue
            if c == "D":
                if state == 2:
                    continue
                f = seg.split(el)
                if state == 0:
                    if f[0] == "DMG":
                        if dmg_owner == "IL":
                            sub_dob = f[2] if len(f) > 2 else ""
                        elif dmg_owner == "QC":
                            pat_dob = f[2] if len(f) > 2 else ""
                elif f[0] == "DTP":  # state 1
                    q = f[1] if len(f) > 1 else ""
                    if q == "472":
                        if claim_dos is None:
                            claim_dos = f[3] if len(f) > 3 else ""
                    elif q == "434" and statement is None:
                        statement = f[3] if len(f) > 3 else ""
                continue
            if c == "H":
                f = seg.split(el)
                sid = f[0]
                if sid != "HL":
                    if sid == "HI" and state == 1:
                        for comp in f[1:]:
                            if comp:
                                parts = comp.split(co)
                                if len(parts) < 2:
                                    raise _Unusual
                                if parts[0] in dx_qualifiers and parts[1]:
                                    hi.append((parts[0], parts[1]))
                    continue
            elif c == "C":
                f = seg.split(el)
                if f[0] != "CLM":
                    continue
            elif c == "S":
                f = seg.split(el)
                sid = f[0]
                if sid == "SBR":
                    if state == 1:
                        state = 2
                    elif state == 0 and hl_level == "22" and payer_class is None:
                        payer_class = f[9] if len(f) > 9 else ""
                    continue
                if sid == "SV1" or sid == "SV2" or sid == "ST":
                    raise _Unusual
                if sid != "SE":
                    continue
            elif c == "L":
                if seg[1] != "X":
                    continue
                f = seg.split(el)
                if f[0] != "LX":
                    continue
                if state == 0:
                    raise _Unusual
                if claim_dos is not None:
                    fallback = (claim_dos, first_day(claim_dos) if claim_dos else None)
                else:
                    text = statement or ""
                    fallback = (text, first_day(text) if text else None)
                state = 3
                ln_num = int(f[1] if len(f) > 1 else "")
                ln_sv = ln_dos = None
                ln_rend = ""
                ln_adj = False
                continue
            elif c == "R":
                if state == 1:
                    f = seg.split(el)
                    if f[0] == "REF" and len(f) > 1 and f[1] == "F8":
                        original_ref = f[2] if len(f) > 2 else ""
                continue
            elif c == "G" or c == "I":
                if seg.split(el, 1)[0] in _ENVELOPE:
                    raise _Unusual
                continue
            else:
                continue

        # CLM, HL or SE (f: its elements): close the open claim.
        if clm is not None:
            stmt_from, stmt_to = dates.period(statement) if statement else (None, None)
            claim_day = first_day(claim_dos) if claim_dos else None
            for position, (q, code) in enumerate(hi, start=1):
                diagnoses.append(Diagnosis(key, claim_id, position, q, code))
            claims.append(Claim(
                key, claim_id, ctx.source_file, ctx.file_sha256, icn, sender, gcn, st02, "P" if is_p else "I",
                pkey, payer_id, payer_class or "", billing_npi, claim_rend, number(clm[2] if len(clm) > 2 else ""),
                facility, qualifier, frequency, original_ref, stmt_from, stmt_to, claim_day, len(lines) - first_line,
            ))
            clm = None
            state = 0
        sid = f[0]
        if sid == "SE":
            count = k - start + 1
            se01 = f[1] if len(f) > 1 else ""
            if (f[2] if len(f) > 2 else "") != st02 or not (se01 == str(count) or se01.isdecimal() and se01.isascii() and int(se01) == count):
                raise _Unusual
            cur.k, cur.last = k + 1, seg
            env = Envelope(ctx.source_file, ctx.file_sha256, icn, sender, ctx.receiver_id, ctx.interchange_date,
                           gcn, ctx.version, st02, kind0 or careful._kind_from_version(ctx.version))
            return careful.TransactionRows(env, claims, lines, diagnoses)
        if sid == "HL":
            hl_level = f[3] if len(f) > 3 else ""
            if hl_level == "20":
                billing_hl = f[1] if len(f) > 1 else ""
                billing_npi = None
                have_sub = have_payer = have_patient = False
                payer_class = None
            elif hl_level == "22":
                if not billing_hl:
                    raise _Unusual
                have_sub = have_payer = have_patient = False
                member_id = sub_last = sub_dob = payer_id = ""
                payer_class = None
            elif hl_level == "23":
                if payer_class is None and not have_sub:
                    raise _Unusual
                have_patient = True
                pat_last = pat_dob = ""
            else:
                raise _Unusual
            dmg_owner = ""
            continue
        # CLM
        if hl_level != "22" and hl_level != "23" or billing_npi is None or not have_sub or not have_payer:
            raise _Unusual
        claim_id = f[1] if len(f) > 1 else ""
        composite = f[5] if len(f) > 5 else ""
        if not claim_id or co not in composite:
            raise _Unusual  # also a CLM05 without components: its claim type comes from the lines
        comp = composite.split(co)
        facility, qualifier = comp[0], comp[1]
        frequency = comp[2] if len(comp) > 2 else ""
        if qualifier == "B":
            is_p = True
        elif qualifier == "A":
            is_p = False
        else:
            raise _Unusual
        if not kind0:
            kind0 = "P" if is_p else "I"
        if have_patient:
            pkey = patient_key(member_id, pat_last, pat_dob)
        else:
            pkey = patient_key(member_id, sub_last, sub_dob)
        ordinal += 1
        key = sha256(f"{key_prefix}{claim_id}|{ordinal}".encode()).hexdigest()[:32]  # keys.claim_key, inlined
        clm = f
        claim_dos = statement = None
        original_ref = claim_rend = ""
        hi = []
        first_line = len(lines)
        state = 1
    raise _Unusual  # the interchange ends inside the set
