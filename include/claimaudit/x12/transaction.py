"""The 837 transaction-set state machine: ST..SE segments in, claim / line / diagnosis rows out.

One pass, no tree. The loop a segment belongs to is known from what came before it:
HL 20/22/23 open the billing provider, subscriber and patient loops (2000A/B/C, 2000C optional);
CLM opens the claim (2300); an SBR after CLM opens the other-payer loops (2320/2330x), whose
NM1/DTP/REF reuse the ids of the subscriber, payer and service-date segments and are ignored;
LX opens a service line (2400); SVD opens its adjudication (2430), whose DTP is not a service date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain, islice

from claimaudit.model import Claim, Diagnosis, Envelope, ServiceLine
from claimaudit.x12 import dates, fast_reader  # fast_reader uses this module's helpers at call time
from claimaudit.x12.delimiters import Delimiters
from claimaudit.x12.errors import TRANSACTION_NAMES, StructuralError
from claimaudit.x12.segments import segment_blocks
from claimaudit.x12.keys import PatientKeyer, claim_key

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
    # Parsed SV1/SV2 and DTP texts by segment text (valid for these delimiters).
    service_cache: dict = field(default_factory=dict)
    date_cache: dict = field(default_factory=dict)


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


class SegmentCursor:
    """Reads an interchange's segments one by one, with one segment of push-back.

    ``k`` is the index of the next segment (0 = the ISA); ``last`` the last segment read.
    The transaction readers iterate ``it`` directly in their hot loops and update ``k``/``last``.
    A cursor made by ``over`` can ``rewind``: the fast reader gives a transaction set back to the
    careful one by rewinding to its ST, re-splitting from the start of the block that holds it.
    """

    __slots__ = ("it", "k", "back", "last", "_source", "_marks")

    def __init__(self, segments):
        self.it = iter(segments)
        self.k = 0
        self.back: str | None = None
        self.last = ""
        self._source = None  # (text, stop, delimiters) when the cursor can rewind
        self._marks: list[tuple[int, int]] = []  # (index of a block's first segment, its text offset)

    @classmethod
    def over(cls, text: str, start: int, stop: int, d: Delimiters) -> SegmentCursor:
        """A rewindable cursor over the segments of ``text[start:stop]``."""
        cur = cls(())
        cur._source = (text, stop, d)
        cur.it = chain.from_iterable(cur._blocks(start, 0))
        return cur

    @property
    def can_rewind(self) -> bool:
        return self._source is not None

    def _blocks(self, pos: int, k0: int):
        text, stop, d = self._source
        marks = self._marks
        for pos, segs in segment_blocks(text, pos, stop, d):
            marks.append((k0, pos))
            yield segs
            k0 += len(segs)

    def rewind(self, k: int, last: str) -> None:
        """Go back to segment index ``k`` (already read once); ``last`` is the segment before it."""
        marks = self._marks
        i = len(marks) - 1
        while marks[i][0] > k:
            i -= 1
        k0, pos = marks[i]
        del marks[i:]  # the new walk logs this block and the ones after it again
        it = chain.from_iterable(self._blocks(pos, k0))
        if k > k0:
            next(islice(it, k - k0 - 1, None))  # skip the block's segments before index k
        self.it, self.k, self.back, self.last = it, k, None, last

    def next(self) -> str | None:
        seg = self.back
        if seg is not None:
            self.back = None
        else:
            seg = next(self.it, None)
            if seg is None:
                return None
        self.k += 1
        self.last = seg
        return seg

    def push_back(self, seg: str) -> None:
        self.back = seg
        self.k -= 1

    def drain(self) -> int:
        """Read to the end; returns the interchange's segment count."""
        if self.back is not None:
            self.next()
        k = self.k
        last = None
        for last in self.it:
            k += 1
        if last is not None:
            self.last = last
        self.k = k
        return k


def skip_transaction(cur: SegmentCursor, element: str, first: str | None = None) -> None:
    """Resume after a rejected transaction set: after its SE, or at (pushed back) the next envelope segment.

    ``first``, when given, is the segment just read (it is examined first, as it may be the SE).
    """
    seg = first if first is not None else cur.next()
    while seg is not None:
        sid = seg.split(element, 1)[0]
        if sid == "SE":
            return
        if sid in _ENVELOPE_IDS:
            cur.push_back(seg)
            return
        seg = cur.next()


def read_transaction(st_seg: str, cur: SegmentCursor, ctx: TransactionContext):
    """Read the transaction set whose ST ``st_seg`` was just read from ``cur``.

    Returns TransactionRows | TransactionRejected, ``cur`` left after the set. Never raises on bad input.
    """
    start = cur.k - 1
    el = ctx.delimiters.element
    st = st_seg.split(el)
    st01, st02 = _el(st, 1), _el(st, 2)
    if st01 != "837":
        name = TRANSACTION_NAMES.get(st01, "")
        what = f"transaction set {st01 or '(blank)'}" + (f" ({name})" if name else "")
        skip_transaction(cur, el)
        return TransactionRejected(start, "ST", st02, f"{what} is not an 837 health care claim (ST01)")
    if cur.can_rewind and cur.back is None:
        # Sound sets are read by the fast reader; anything it does not expect sends the set back
        # here, so that rows and rejection messages come from one careful state machine.
        rows = fast_reader.read_837_fast(cur, start, st02, ctx)
        if rows is not None:
            return rows
        cur.rewind(start + 1, st_seg)
    try:
        return _read_837(cur, start, st02, ctx)
    except StructuralError as e:
        if e.segment_id != "SE":
            # The segments between the error and the one read last hold no SE or envelope segment
            # (the first of those closes the claim), so the scan resumes at the one read last.
            current = cur.last
            sid = current.split(el, 1)[0]
            if sid in _ENVELOPE_IDS and cur.k - 1 == e.index and e.segment_id not in _ENVELOPE_IDS:
                pass  # consumed: the offending segment itself is skipped
            else:
                skip_transaction(cur, el, current)
        return TransactionRejected(e.index, e.segment_id, st02, e.reason)


_MISS = object()
_CACHE_LIMIT = 20_000  # distinct SV1/SV2/DTP texts remembered per transaction context


def _service(seg: str, el: str, co: str, cache: dict):
    """SV1/SV2 text -> (id, code, modifiers, charge, units, basis, SV1-05, revenue, pointers, problem);
    None when the segment id is not exactly SV1 or SV2. Cached: the same text repeats across lines."""
    f = seg.split(el)
    sid = f[0]
    if sid != "SV1" and sid != "SV2":
        value = None
    else:
        if len(f) < 8:
            f = f + _PAD
        if sid == "SV1":
            _, proc, charge, basis, units, pos, _, pointers = f[:8]
            revenue = ""
            if co in pointers:
                pointers = ",".join(p for p in pointers.split(co) if p)
        else:
            _, revenue, proc, charge, basis, units = f[:6]
            pos = pointers = ""
        parts = proc.split(co)
        problem = ""
        if len(parts) == 1 and len(proc) > 2:
            problem = _component_problem(f"{sid} procedure", proc, co)
        value = (sid, parts[1] if len(parts) > 1 else "",
                 ",".join(m for m in parts[2:6] if m) if len(parts) > 2 else "",
                 dates.number(charge), dates.number(units), basis, pos, revenue, pointers, problem)
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[seg] = value
    return value


def _line_date(seg: str, el: str, cache: dict):
    """DTP text -> (date text, date) when it is a DTP*472 with a value, else None. Cached."""
    f = seg.split(el)
    value = (f[3], dates.first_day(f[3])) if f[0] == "DTP" and len(f) > 3 and f[1] == "472" else None
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[seg] = value
    return value


def _read_837(cur: SegmentCursor, start: int, st02: str, ctx: TransactionContext):
    d = ctx.delimiters
    el = d.element
    co = d.component

    claims: list[Claim] = []
    lines: list[ServiceLine] = []
    diagnoses: list[Diagnosis] = []
    types: list[str] = []
    patient_key = PatientKeyer()

    hl_level = ""
    billing_hl = ""
    billing_npi = None  # None: no NM1*85 yet in this 2000A
    payer_class = None  # None: no SBR yet in this 2000B
    member_id = sub_last = sub_dob = ""
    payer_id = ""
    have_sub = have_payer = False
    pat_last = pat_dob = ""
    have_patient = False
    dmg_owner = ""  # "IL" or "QC": whose birth date a DMG gives
    ordinal = 0

    draft: _ClaimDraft | None = None
    draft_lines_append = None
    state = 0  # 0: no claim, 1: 2300/2310 claim, 2: 2320/2330 other payer, 3: 2400 line
    # The open service line, as locals: hot path.
    ln_index = -1
    ln_no = ""
    ln_sv = None
    ln_dos = None
    ln_rend = ""
    ln_adj = False
    ln_sv_k = -1

    # Hot path: dispatch on the first three characters; segments are split only when read.
    # Prefixes that may start a segment the line loop (state 3) acts on besides DTP/LX/SV1/SV2,
    # and those any other state acts on; everything else (N3, N4, PRV, REF, ...) is skipped unsplit.
    lx_ = "LX" + el
    closers = {"CLM", "IEA", "ISA", "HL", "SE", "ST", "GE", "GS", "LX", "NM1", "SVD"}
    closers.update(i + el for i in ("HL", "SE", "ST", "GE", "GS"))
    relevant = closers | {"DMG", "SBR", "SV1", "SV2", "DTP", "HI", "HI" + el, "REF", lx_}
    sv_cache = ctx.service_cache
    sv_get = sv_cache.get
    dtp_cache = ctx.date_cache
    dtp_get = dtp_cache.get

    k = start
    seg = cur.last  # the ST, should the interchange end right after it
    it = cur.it
    try:
        for k, seg in enumerate(it, start + 1):
            h = seg[:3]
            if state == 3:
                if h == "DTP":
                    if ln_dos is None and not ln_adj:
                        v = dtp_get(seg, _MISS)
                        if v is _MISS:
                            v = _line_date(seg, el, dtp_cache)
                        if v is not None:
                            ln_dos = v
                    continue
                if h == lx_:
                    if ln_sv is None:
                        raise StructuralError(ln_index, "LX", f"service line LX*{ln_no} has no SV1 or SV2")
                    draft_lines_append((ln_index, ln_no, ln_sv, ln_dos, ln_rend, ln_sv_k))
                    ln_no = seg[3:]
                    if el in ln_no:
                        ln_no = ln_no.split(el, 1)[0]
                    ln_index, ln_sv, ln_dos, ln_rend, ln_adj = k, None, None, "", False
                    continue
                if h == "SV1" or h == "SV2":
                    v = sv_get(seg, _MISS)
                    if v is _MISS:
                        v = _service(seg, el, co, sv_cache)
                    if v is not None:
                        if ln_sv is not None:
                            raise StructuralError(k, v[0], f"second {v[0]} in service line LX*{ln_no}")
                        ln_sv, ln_sv_k = v, k
                    continue
                if h not in closers:
                    continue
                f = seg.split(el)
                sid = f[0]
                if sid == "LX":
                    if ln_sv is None:
                        raise StructuralError(ln_index, "LX", f"service line LX*{ln_no} has no SV1 or SV2")
                    draft_lines_append((ln_index, ln_no, ln_sv, ln_dos, ln_rend, ln_sv_k))
                    ln_index, ln_no, ln_sv, ln_dos, ln_rend, ln_adj = k, _el(f, 1), None, None, "", False
                    continue
                if sid == "NM1":
                    if not ln_adj and len(f) > 1 and f[1] == "82":
                        ln_rend = _el(f, 9)
                    continue
                if sid == "SVD":
                    ln_adj = True
                    continue
                if sid == "CLM" or sid == "HL" or sid == "SE" or sid in _ENVELOPE_IDS:
                    if ln_sv is None:
                        raise StructuralError(ln_index, "LX", f"service line LX*{ln_no} has no SV1 or SV2")
                    draft_lines_append((ln_index, ln_no, ln_sv, ln_dos, ln_rend, ln_sv_k))
                    # fall through to the claim-closing code below
                else:
                    continue
            else:
                if h not in relevant:
                    continue
                f = seg.split(el)
                sid = f[0]

            if sid == "CLM" or sid == "HL" or sid == "SE" or sid in _ENVELOPE_IDS:
                if draft is not None:
                    _finish_claim(draft, st02, ctx, claims, lines, diagnoses, types)
                    draft = None
                    state = 0
                if sid == "SE":
                    cur.k, cur.last = k + 1, seg
                    return _close(start, k, f, st02, ctx, claims, lines, diagnoses, types)
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
                        member_id = sub_last = sub_dob = payer_id = ""
                        payer_class = None
                    elif hl_level == "23":
                        if payer_class is None and not have_sub:
                            raise StructuralError(k, "HL", "patient HL (23) before any subscriber HL (22)")
                        have_patient = True
                        pat_last = pat_dob = ""
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
                        pkey = patient_key(member_id, pat_last, pat_dob)
                    else:
                        pkey = patient_key(member_id, sub_last, sub_dob)
                    ordinal += 1
                    draft = _ClaimDraft(k, ordinal, f, composite.split(co), pkey, payer_id, payer_class or "",
                                        billing_npi)
                    draft_lines_append = draft.lines.append
                    state = 1
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
                        member_id, sub_last = _el(f, 9), _el(f, 3)
                        have_sub = True
                        dmg_owner = "IL"
                    elif q == "PR" and hl_level == "22":
                        payer_id = _el(f, 9)
                        have_payer = True
                        dmg_owner = ""
                    elif q == "QC" and hl_level == "23":
                        pat_last = _el(f, 3)
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
    except StructuralError:
        cur.k, cur.last = k + 1, seg
        raise
    cur.k, cur.last = k + 1, seg
    raise StructuralError(k, seg.split(el, 1)[0] if seg else "ST",
                          f"the interchange ends inside transaction set {st02} (no SE)")


def _component_problem(where: str, value: str, co: str) -> str:
    guess = next((c for c in value if not c.isalnum() and c not in " .-"), "")
    hint = f"; the body seems to use {guess!r}" if guess else ""
    return (f"{where} {value!r} is not split by the component separator {co!r} declared in ISA16{hint}")


def _close(start, k, f, st02, ctx, claims, lines, diagnoses, types):
    count = k - start + 1
    se01, se02 = _el(f, 1), _el(f, 2)
    if se02 != st02:
        raise StructuralError(k, "SE", f"SE02 control number {se02!r} does not match ST02 {st02!r}")
    if se01 != str(count) and not (se01.isdecimal() and se01.isascii() and int(se01) == count):
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
    return TransactionRows(env, claims, lines, diagnoses)


def _kind_from_version(version: str) -> str:
    return "I" if "X223" in version else "P"


def _finish_claim(dr: _ClaimDraft, st02, ctx: TransactionContext, claims, lines, diagnoses, types) -> None:
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
    first_line = len(lines)
    append = lines.append
    for index, ln_no, sv, dos, rendering, sv_index in dr.lines:
        try:
            line_number = int(ln_no)
        except ValueError:
            raise StructuralError(index, "LX", f"LX01 {ln_no!r} is not a line number") from None
        sid, code, modifiers, charge, units, basis, pos, revenue, pointers, problem = sv
        if problem:
            raise StructuralError(sv_index, sid, problem)
        if sid != "SV1" or not is_p:
            pos = pointers = ""
        elif not pos:
            pos = facility
        if dos is None:
            raw, day = fallback_text, fallback_day
        else:
            raw, day = dos
        # Positional arguments: this constructor runs once per service line.
        append(ServiceLine(key, claim_id, line_number, code, modifiers, charge, units, basis, pos, revenue,
                           pointers, day, raw, rendering or claim_rendering))
    for position, (q, code) in enumerate(dr.hi, start=1):
        diagnoses.append(Diagnosis(claim_key=key, claim_id=claim_id, position=position, qualifier=q, code=code))
    claim_day = dates.first_day(claim_dos_text) if claim_dos_text else None
    claims.append(Claim(
        claim_key=key,
        claim_id=claim_id,
        source_file=ctx.source_file,
        file_sha256=ctx.file_sha256,
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

