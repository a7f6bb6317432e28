"""The 837 claim reader: one transaction set's ST..SE segments in, claim / line / diagnosis rows out.

One pass, no tree, one state machine whose states are the 837 loops (``Loop``). The loop a segment
belongs to is known from what came before it: HL 20/22/23 open the billing provider, subscriber and
patient loops (2000A/B/C, 2000C optional); CLM opens the claim (2300); an SBR after CLM opens the
other-payer loops (2320/2330x), whose NM1/DTP/REF reuse the ids of the subscriber, payer and
service-date segments and are ignored; LX opens a service line (2400); SVD opens its adjudication
(2430), whose DTP is not a service date.

Each loop has one function that consumes segments while they belong to it and returns the one that
ends it; ``_next_loop`` takes the next state from that segment, so the transitions are in one place.
A segment is acted on only by its exact id (the text before the first element separator); a loop
skips, unsplit, every segment whose first three characters start no id it acts on.

A service line's row is made when the line closes. Two line problems (an LX01 that is not a number,
a procedure not split by ISA16) are reported when the claim closes, so an error in a later segment of
the same claim is the one reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice
from typing import NamedTuple

from claimaudit.model import Claim, Diagnosis, Envelope, ServiceLine
from claimaudit.x12 import dates
from claimaudit.x12.cursor import ENVELOPE_IDS, SegmentCursor, element
from claimaudit.x12.delimiters import Delimiters
from claimaudit.x12.errors import TRANSACTION_NAMES, StructuralError
from claimaudit.x12.keys import PatientKeyer, claim_key

# HI qualifiers that carry diagnoses (ICD-10: AB*, ICD-9: B*; principal, other, admitting,
# patient reason for visit, external cause). Occurrence, value, condition and procedure codes
# share the HI segment on 837I and are not diagnoses.
DIAGNOSIS_QUALIFIERS = frozenset({"ABK", "ABF", "ABJ", "APR", "ABN", "BK", "BF", "BJ", "PR", "BN"})
# Segments that close the open claim (and its open line), in whatever loop they come.
_CLAIM_CLOSERS = frozenset({"CLM", "HL", "SE"}) | ENVELOPE_IDS
_PAD = [""] * 8
_MISS = object()
_CACHE_LIMIT = 20_000  # distinct SV1/SV2/DTP texts remembered per transaction context
_IS_PROFESSIONAL = {"B": True, "A": False}  # CLM05-2 facility code qualifier: B 837P, A 837I


class Loop:
    """The states of the reader: the 837 loop the segments being read belong to.

    Plain int constants, not an Enum: an Enum member lookup costs more than a dict lookup, and the
    state changes three times per claim."""

    HIERARCHY = 2000  # 2000A/B/C and their 2010 names: billing provider, subscriber, patient; no claim open
    CLAIM = 2300  # the claim and its 2310 providers
    OTHER_PAYER = 2320  # 2320/2330x other payers: ignored up to the first service line
    SERVICE_LINE = 2400  # service lines with their 2410/2420/2430 loops


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


def skip_transaction(cur: SegmentCursor, element_separator: str, first: str | None = None) -> None:
    """Resume after a rejected transaction set: after its SE, or at (pushed back) the next envelope segment.

    ``first``, when given, is the segment just read (it is examined first, as it may be the SE).
    """
    seg = first if first is not None else cur.next()
    while seg is not None:
        sid = seg.split(element_separator, 1)[0]
        if sid == "SE":
            return
        if sid in ENVELOPE_IDS:
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
    st01, st02 = element(st, 1), element(st, 2)
    if st01 != "837":
        name = TRANSACTION_NAMES.get(st01, "")
        what = f"transaction set {st01 or '(blank)'}" + (f" ({name})" if name else "")
        skip_transaction(cur, el)
        return TransactionRejected(start, "ST", st02, f"{what} is not an 837 health care claim (ST01)")
    try:
        return _read_837(cur, start, st02, ctx)
    except StructuralError as e:
        if e.segment_id != "SE":
            # The segments between the error and the one read last hold no SE or envelope segment
            # (the first of those closes the claim), so the scan resumes at the one read last.
            current = cur.last
            sid = current.split(el, 1)[0]
            if sid in ENVELOPE_IDS and cur.k - 1 == e.index and e.segment_id not in ENVELOPE_IDS:
                pass  # consumed: the offending segment itself is skipped
            else:
                skip_transaction(cur, el, current)
        return TransactionRejected(e.index, e.segment_id, st02, e.reason)


class _Prefixes(NamedTuple):
    """Per loop, the first three characters of every segment the loop acts on."""

    hierarchy: frozenset
    claim: frozenset
    other_payer: frozenset
    line: frozenset  # besides DTP, SV1, SV2 and LX with elements, which the line loop tests first


@lru_cache(maxsize=64)
def _prefixes(el: str) -> _Prefixes:
    def of(*ids: str) -> frozenset:
        # A two-letter id starts a segment as itself (no elements) or followed by the separator.
        return frozenset(p for i in (*ids, *_CLAIM_CLOSERS) for p in ((i,) if len(i) == 3 else (i, i + el)))

    return _Prefixes(hierarchy=of("NM1", "DMG", "SBR", "LX", "SV1", "SV2"),
                     claim=of("DTP", "HI", "REF", "NM1", "SBR", "LX", "SV1", "SV2"),
                     other_payer=of("LX", "SV1", "SV2"), line=of("LX", "NM1", "SVD"))


class _Hierarchy:
    """What the 2000A/B/C loops said so far: the billing provider, subscriber, payer and patient."""

    __slots__ = ("billing_hl", "billing_npi", "dmg_owner", "have_patient", "have_payer", "have_sub", "level",
                 "member_id", "pat_dob", "pat_last", "payer_class", "payer_id", "sub_dob", "sub_last")

    def __init__(self):
        self.level = self.billing_hl = ""
        self.billing_npi = None  # None: no NM1*85 yet in this 2000A
        self.payer_class = None  # None: no SBR yet in this 2000B
        self.member_id = self.sub_last = self.sub_dob = self.payer_id = ""
        self.pat_last = self.pat_dob = ""
        self.have_sub = self.have_payer = self.have_patient = False
        self.dmg_owner = ""  # "IL" or "QC": whose birth date a DMG gives


class _OpenClaim:
    """The claim being read: its CLM, what its 2300 loop said, and where its line rows start."""

    __slots__ = ("billing_npi", "claim_dos", "claim_id", "f", "facility", "first_line", "frequency", "hi",
                 "is_p", "key", "original_ref", "patient_key", "payer_class", "payer_id", "problem", "qualifier",
                 "rendering", "saw_sv2", "statement")

    def __init__(self, f: list[str], key: str, composite: list[str], hier: _Hierarchy, pkey: str, first_line: int):
        self.f = f
        self.key = key
        self.claim_id = f[1]
        self.facility = composite[0]
        self.qualifier = composite[1] if len(composite) > 1 else ""
        self.frequency = composite[2] if len(composite) > 2 else ""
        # CLM05-2 gives the type; without it the lines decide when the claim closes (made as P meanwhile).
        self.is_p = _IS_PROFESSIONAL.get(self.qualifier)
        self.patient_key = pkey
        self.payer_id = hier.payer_id
        self.payer_class = hier.payer_class or ""
        self.billing_npi = hier.billing_npi
        self.claim_dos = None  # DTP*472 text at claim level
        self.statement = None  # DTP*434 text
        self.original_ref = self.rendering = ""
        self.hi: list[tuple[str, str]] = []
        self.first_line = first_line  # index of its first row in the transaction's lines
        self.saw_sv2 = False
        self.problem: StructuralError | None = None  # a line problem, reported when the claim closes


class _SetReader:
    """The state of one transaction set's reading, shared by the loop functions."""

    __slots__ = ("claim", "claims", "co", "ctx", "diagnoses", "el", "first_kind", "hier", "line_numbers",
                 "lines", "names", "ordinal", "patient_key", "prefixes", "st02", "stopped_at")

    def __init__(self, ctx: TransactionContext, st02: str):
        self.ctx = ctx
        self.st02 = st02
        self.el = ctx.delimiters.element
        self.co = ctx.delimiters.component
        self.prefixes = _prefixes(self.el)
        self.hier = _Hierarchy()
        self.claim: _OpenClaim | None = None
        self.claims: list[Claim] = []
        self.lines: list[ServiceLine] = []
        self.diagnoses: list[Diagnosis] = []
        self.first_kind = ""  # the first claim's type: the envelope's
        self.ordinal = 0
        self.patient_key = PatientKeyer()
        self.line_numbers: dict[str, int] = {}  # LX segment text -> line number
        self.names: dict[str, list[str]] = {}  # NM1 segment text -> its elements, for NM1s that repeat
        self.stopped_at: tuple[int, str] | None = None  # (index, segment) a loop function raised at


def _read_837(cur: SegmentCursor, start: int, st02: str, ctx: TransactionContext) -> TransactionRows:
    """The state machine: run the current loop's function, then take the next loop from the segment
    that ended it. Raises StructuralError with ``cur`` left after the segment read last."""
    tx = _SetReader(ctx, st02)
    it = enumerate(cur.it, start + 1)
    k, seg, f = start, cur.last, None  # the ST, should the interchange end right after it
    loop = Loop.HIERARCHY
    try:
        while True:
            k, seg, f = _LOOP_READERS[loop](tx, it, k, seg, f)
            if f is None:
                break
            loop = _next_loop(tx, k, f)
            if loop is None:
                cur.k, cur.last = k + 1, seg
                return _close(tx, start, k, f)
    except StructuralError:
        if tx.stopped_at is not None:
            k, seg = tx.stopped_at
        cur.k, cur.last = k + 1, seg
        raise
    cur.k, cur.last = k + 1, seg
    raise StructuralError(k, seg.split(tx.el, 1)[0] if seg else "ST",
                          f"the interchange ends inside transaction set {st02} (no SE)")


def _next_loop(tx: _SetReader, k: int, f: list[str]) -> int | None:
    """The loop that segment ``f`` (index ``k``), which ended the current one, opens; None for the SE."""
    sid = f[0]
    if sid == "LX":  # from the claim or other-payer loop
        return Loop.SERVICE_LINE
    if sid == "SBR":  # from the claim loop
        return Loop.OTHER_PAYER
    # CLM, HL, SE or an envelope segment: the open claim ends.
    if tx.claim is not None:
        _finish_claim(tx)
    if sid == "SE":
        return None
    if sid in ENVELOPE_IDS:
        raise StructuralError(k, sid, f"transaction set {tx.st02} has no SE before this {sid} segment")
    if sid == "HL":
        _enter_level(tx.hier, k, f)
        return Loop.HIERARCHY
    _open_claim(tx, k, f)
    return Loop.CLAIM


def _read_hierarchy(tx: _SetReader, it, k0: int, seg0: str, f) -> tuple[int, str, list[str] | None]:
    """2000A/B/C: levels, names, birth dates and the payer class, up to CLM, SE or an envelope segment
    (an HL after a claim comes back here through ``_next_loop``, as it closes the claim)."""
    hier, el, acts_on = tx.hier, tx.el, tx.prefixes.hierarchy
    k, seg = k0, seg0  # where the loop starts: reported as the position if no segment follows
    names = tx.names
    try:
        for k, seg in it:
            h = seg[:3]
            if h not in acts_on:
                continue
            f = names.get(seg) if h == "NM1" else None
            if f is None:
                f = seg.split(el)
            sid = f[0]
            if sid == "NM1":
                # Billing provider (85), subscriber (IL), payer (PR) or patient (QC). Element access is
                # inlined here and below: these run for most segments of the hierarchy.
                n = len(f)
                q = f[1] if n > 1 else ""
                level = hier.level
                if q == "85" and level == "20":
                    hier.billing_npi = f[9] if n > 9 else ""
                    _remember_name(names, seg, f)
                elif q == "IL" and level == "22":
                    hier.member_id, hier.sub_last = f[9] if n > 9 else "", f[3] if n > 3 else ""
                    hier.have_sub = True
                    hier.dmg_owner = "IL"
                elif q == "PR" and level == "22":
                    hier.payer_id = f[9] if n > 9 else ""
                    hier.have_payer = True
                    hier.dmg_owner = ""
                    _remember_name(names, seg, f)
                elif q == "QC" and level == "23":
                    hier.pat_last = f[3] if n > 3 else ""
                    hier.dmg_owner = "QC"
                else:
                    hier.dmg_owner = ""
            elif sid == "HL":
                _enter_level(hier, k, f)
            elif sid == "DMG":
                if hier.dmg_owner == "IL":
                    hier.sub_dob = f[2] if len(f) > 2 else ""
                elif hier.dmg_owner == "QC":
                    hier.pat_dob = f[2] if len(f) > 2 else ""
            elif sid == "SBR":
                if hier.level == "22" and hier.payer_class is None:
                    hier.payer_class = f[9] if len(f) > 9 else ""
            elif sid in _CLAIM_CLOSERS:
                return k, seg, f
            elif sid == "LX" or sid == "SV1" or sid == "SV2":
                raise StructuralError(k, sid, f"{sid} outside a claim (no CLM before it)")
    except StructuralError:
        tx.stopped_at = k, seg
        raise
    return k, seg, None


def _remember_name(names: dict, seg: str, f: list[str]) -> None:
    """Billing provider, payer and rendering provider NM1s repeat from claim to claim: a dict lookup
    costs less than a split. (Subscribers and patients do not repeat, and are not remembered.)"""
    if len(names) < 1_000:
        names[seg] = f


def _enter_level(hier: _Hierarchy, k: int, f: list[str]) -> None:
    """HL: a billing provider (20), subscriber (22) or patient (23) level begins."""
    hier.level = level = f[3] if len(f) > 3 else ""
    if level == "20":
        hier.billing_hl = f[1] if len(f) > 1 else ""
        hier.billing_npi = None
        hier.have_sub = hier.have_payer = hier.have_patient = False
        hier.payer_class = None
    elif level == "22":
        if not hier.billing_hl:
            raise StructuralError(k, "HL", "subscriber HL (22) before any billing provider HL (20)")
        hier.have_sub = hier.have_payer = hier.have_patient = False
        hier.member_id = hier.sub_last = hier.sub_dob = hier.payer_id = ""
        hier.payer_class = None
    elif level == "23":
        if hier.payer_class is None and not hier.have_sub:
            raise StructuralError(k, "HL", "patient HL (23) before any subscriber HL (22)")
        hier.have_patient = True
        hier.pat_last = hier.pat_dob = ""
    else:
        raise StructuralError(k, "HL", f"HL03 {level!r} is not a billing provider (20), "
                                       "subscriber (22) or patient (23) level")
    hier.dmg_owner = ""


def _open_claim(tx: _SetReader, k: int, f: list[str]) -> None:
    """CLM: check that the hierarchy names everyone the claim needs, then open the claim."""
    hier, co = tx.hier, tx.co
    if hier.level not in ("22", "23"):
        raise StructuralError(k, "CLM", "CLM before any subscriber HL (22)")
    if hier.billing_npi is None:
        raise StructuralError(k, "CLM", f"billing provider (2010AA NM1*85) missing under HL {hier.billing_hl}")
    if not hier.have_sub:
        raise StructuralError(k, "CLM", "subscriber (2010BA NM1*IL) missing before the claim")
    if not hier.have_payer:
        raise StructuralError(k, "CLM", "payer (2010BB NM1*PR) missing before the claim")
    claim_id = f[1] if len(f) > 1 else ""
    if not claim_id:
        raise StructuralError(k, "CLM", "CLM01 (claim id) is empty")
    composite = f[5] if len(f) > 5 else ""
    if composite and co not in composite and len(composite) > 2:
        raise StructuralError(k, "CLM", _component_problem("CLM05", composite, co))
    if hier.have_patient:
        pkey = tx.patient_key(hier.member_id, hier.pat_last, hier.pat_dob)
    else:
        pkey = tx.patient_key(hier.member_id, hier.sub_last, hier.sub_dob)
    tx.ordinal += 1
    ctx = tx.ctx
    key = claim_key(ctx.sender_id, ctx.interchange_control, ctx.group_control, tx.st02, claim_id, tx.ordinal)
    tx.claim = _OpenClaim(f, key, composite.split(co), hier, pkey, len(tx.lines))


def _read_claim(tx: _SetReader, it, k0: int, seg0: str, f) -> tuple[int, str, list[str] | None]:
    """2300/2310: dates, diagnoses, original reference and rendering provider, up to SBR, LX or a
    segment that closes the claim."""
    claim, el, co, acts_on = tx.claim, tx.el, tx.co, tx.prefixes.claim
    k, seg = k0, seg0  # where the loop starts: reported as the position if no segment follows
    names = tx.names
    try:
        for k, seg in it:
            h = seg[:3]
            if h not in acts_on:
                continue
            f = names.get(seg) if h == "NM1" else None
            if f is None:
                f = seg.split(el)
            sid = f[0]
            if sid == "DTP":
                q = f[1] if len(f) > 1 else ""
                if q == "472" and claim.claim_dos is None:
                    claim.claim_dos = f[3] if len(f) > 3 else ""
                elif q == "434" and claim.statement is None:
                    claim.statement = f[3] if len(f) > 3 else ""
            elif sid == "HI":
                for comp in f[1:]:
                    if not comp:
                        continue
                    parts = comp.split(co)
                    if len(parts) < 2:
                        raise StructuralError(k, "HI", f"HI element {comp!r} is not a qualifier{co}code composite "
                                                       f"(component separator {co!r} from ISA16)")
                    if parts[0] in DIAGNOSIS_QUALIFIERS and parts[1]:
                        claim.hi.append((parts[0], parts[1]))
            elif sid == "REF":
                if len(f) > 1 and f[1] == "F8":
                    claim.original_ref = f[2] if len(f) > 2 else ""
            elif sid == "NM1":
                if len(f) > 1 and f[1] == "82":
                    claim.rendering = f[9] if len(f) > 9 else ""
                    _remember_name(names, seg, f)
            elif sid == "SBR" or sid == "LX" or sid in _CLAIM_CLOSERS:
                return k, seg, f
            elif sid == "SV1" or sid == "SV2":
                raise StructuralError(k, sid, f"{sid} outside a service line (no LX before it)")
    except StructuralError:
        tx.stopped_at = k, seg
        raise
    return k, seg, None


def _read_other_payer(tx: _SetReader, it, k0: int, seg0: str, f) -> tuple[int, str, list[str] | None]:
    """2320/2330x: nothing is read, up to LX or a segment that closes the claim."""
    el, acts_on = tx.el, tx.prefixes.other_payer
    k, seg = k0, seg0  # where the loop starts: reported as the position if no segment follows
    try:
        for k, seg in it:
            if seg[:3] not in acts_on:
                continue
            f = seg.split(el)
            sid = f[0]
            if sid == "LX" or sid in _CLAIM_CLOSERS:
                return k, seg, f
            if sid == "SV1" or sid == "SV2":
                raise StructuralError(k, sid, f"{sid} outside a service line (no LX before it)")
    except StructuralError:
        tx.stopped_at = k, seg
        raise
    return k, seg, None


def _read_lines(tx: _SetReader, it, k0: int, seg0: str, f: list[str]) -> tuple[int, str, list[str] | None]:
    """2400: service lines, the first opened by the LX ``seg0`` (index ``k0``), each closed by the next
    LX or by the segment that closes the claim, which ends the loop. The hot loop: locals only."""
    claim, el, co = tx.claim, tx.el, tx.co
    lx_ = "LX" + el
    acts_on = tx.prefixes.line
    ctx = tx.ctx
    sv_cache, dtp_cache = ctx.service_cache, ctx.date_cache
    sv_get, dtp_get = sv_cache.get, dtp_cache.get
    numbers = tx.line_numbers
    number_of = numbers.get
    add_line = tx.lines.append
    make_line, miss = ServiceLine, _MISS
    key, claim_id, facility = claim.key, claim.claim_id, claim.facility
    # The claim's 2300 dates are complete at its first LX: the date of lines without their own.
    text = claim.claim_dos if claim.claim_dos is not None else (claim.statement or "")
    fallback = (text, dates.first_day(text) if text else None)
    claim_rendering = claim.rendering
    is_p = claim.is_p is not False
    k, seg = k0, seg0
    ln_index, ln_seg = k, seg  # the open line's LX
    sv = dos = None
    rendering = ""
    adjudicated = False  # inside 2430 (after SVD): its DTP is no service date, its NM1 no rendering provider
    sv_k = -1
    try:
        for k, seg in it:
            if seg[0] == "D":  # segments are never empty; of the ids the line acts on only DTP starts with D
                if dos is None and not adjudicated and seg[:3] == "DTP":
                    v = dtp_get(seg, miss)
                    if v is miss:
                        v = _line_date(seg, el, dtp_cache)
                    if v is not None:
                        dos = v
                continue
            h = seg[:3]
            if h == "SV1" or h == "SV2":
                v = sv_get(seg, miss)
                if v is miss:
                    v = _service(seg, el, co, sv_cache)
                if v is not None:
                    if sv is not None:
                        raise StructuralError(k, v[0], f"second {v[0]} in service line LX*{_lx01(ln_seg, el)}")
                    sv, sv_k = v, k
                continue
            if h == lx_:
                f = None
            elif h in acts_on:
                f = seg.split(el)
                sid = f[0]
                if sid == "NM1":
                    if not adjudicated and len(f) > 1 and f[1] == "82":
                        rendering = f[9] if len(f) > 9 else ""
                    continue
                if sid == "SVD":
                    adjudicated = True
                    continue
                if sid != "LX" and sid not in _CLAIM_CLOSERS:
                    continue
            else:
                continue
            # An LX or a segment that closes the claim: the open line ends.
            if sv is None:
                raise StructuralError(ln_index, "LX", f"service line LX*{_lx01(ln_seg, el)} has no SV1 or SV2")
            line_number = number_of(ln_seg)
            if line_number is None:
                line_number = _line_number(numbers, ln_seg, el)
            sid, code, modifiers, charge, units, basis, pos, revenue, pointers, problem = sv
            if line_number is None or problem:
                if claim.problem is None:
                    claim.problem = _line_problem(ln_index, ln_seg, el, line_number, sv_k, sid, problem)
            else:
                if is_p and sid == "SV1":
                    if not pos:
                        pos = facility
                else:
                    pos = pointers = ""
                    if sid == "SV2":
                        claim.saw_sv2 = True
                raw, day = fallback if dos is None else dos
                # Positional arguments: this constructor runs once per service line.
                add_line(make_line(key, claim_id, line_number, code, modifiers, charge, units, basis, pos,
                                   revenue, pointers, day, raw, rendering or claim_rendering))
            if f is not None and f[0] != "LX":
                return k, seg, f
            ln_index = k
            ln_seg = seg
            sv = dos = None
            rendering = ""
            adjudicated = False
    except StructuralError:
        tx.stopped_at = k, seg
        raise
    return k, seg, None


def _lx01(lx: str, el: str) -> str:
    """LX01 of an LX segment's text ("" when the segment is a bare LX)."""
    return lx[3:].split(el, 1)[0]


def _line_number(numbers: dict[str, int], lx: str, el: str) -> int | None:
    """LX01 as a number, remembered by LX text (line numbers repeat from claim to claim); None when
    it is none."""
    try:
        value = int(_lx01(lx, el))
    except ValueError:
        return None
    if len(numbers) < 1_000:
        numbers[lx] = value
    return value


def _line_problem(ln_index: int, lx: str, el: str, line_number, sv_k: int, sid: str, problem: str) -> StructuralError:
    """Why the line cannot be read: its LX01 first, then its procedure composite."""
    if line_number is None:
        return StructuralError(ln_index, "LX", f"LX01 {_lx01(lx, el)!r} is not a line number")
    return StructuralError(sv_k, sid, problem)


_LOOP_READERS = {Loop.HIERARCHY: _read_hierarchy, Loop.CLAIM: _read_claim, Loop.OTHER_PAYER: _read_other_payer,
                 Loop.SERVICE_LINE: _read_lines}


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


def _component_problem(where: str, value: str, co: str) -> str:
    guess = next((c for c in value if not c.isalnum() and c not in " .-"), "")
    hint = f"; the body seems to use {guess!r}" if guess else ""
    return (f"{where} {value!r} is not split by the component separator {co!r} declared in ISA16{hint}")


def _finish_claim(tx: _SetReader) -> None:
    """The claim closes: report its line problem, settle its type, add its diagnosis and claim rows."""
    claim, tx.claim = tx.claim, None
    if claim.problem is not None:
        raise claim.problem
    lines = tx.lines
    line_count = len(lines) - claim.first_line
    # The type comes from the content: CLM05-2, else the service segments, else GS08.
    if claim.is_p is not None:
        kind = "P" if claim.is_p else "I"
    elif claim.saw_sv2:
        kind = "I"
        for line in islice(lines, claim.first_line, None):  # made as P: an 837I line has neither
            line.place_of_service = line.dx_pointers = ""
    elif line_count:
        kind = "P"
    else:
        kind = _kind_from_version(tx.ctx.version)
    if not tx.first_kind:
        tx.first_kind = kind
    key, claim_id = claim.key, claim.claim_id
    for position, (q, code) in enumerate(claim.hi, start=1):
        tx.diagnoses.append(Diagnosis(key, claim_id, position, q, code))
    ctx = tx.ctx
    stmt_from, stmt_to = dates.period(claim.statement) if claim.statement else (None, None)
    claim_day = dates.first_day(claim.claim_dos) if claim.claim_dos else None
    # Positional arguments in Claim's field order: this runs once per claim.
    tx.claims.append(Claim(claim.key, claim.claim_id, ctx.source_file, ctx.file_sha256, ctx.interchange_control,
                           ctx.sender_id, ctx.group_control, tx.st02, kind, claim.patient_key, claim.payer_id,
                           claim.payer_class, claim.billing_npi, claim.rendering, dates.number(element(claim.f, 2)),
                           claim.facility, claim.qualifier, claim.frequency, claim.original_ref, stmt_from, stmt_to,
                           claim_day, line_count))


def _close(tx: _SetReader, start: int, k: int, f: list[str]) -> TransactionRows:
    """SE: check its count and control number, then the set's rows."""
    st02, ctx = tx.st02, tx.ctx
    count = k - start + 1
    se01, se02 = element(f, 1), element(f, 2)
    if se02 != st02:
        raise StructuralError(k, "SE", f"SE02 control number {se02!r} does not match ST02 {st02!r}")
    if se01 != str(count) and not (se01.isdecimal() and se01.isascii() and int(se01) == count):
        raise StructuralError(k, "SE", f"SE01 says {se01 or '(blank)'} segments but transaction set {st02} has {count}"
                                       " (segments lost or added)")
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
        transaction_type=tx.first_kind or _kind_from_version(ctx.version),
    )
    return TransactionRows(env, tx.claims, tx.lines, tx.diagnoses)


def _kind_from_version(version: str) -> str:
    return "I" if "X223" in version else "P"
