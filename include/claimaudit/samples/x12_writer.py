"""Write 837P / 837I (5010) interchanges from small claim specs.

Used by the sample generator, the rule fixtures and the parser's property tests. The
output follows the TR3 loop order (1000A/B, 2000A/2010AA, 2000B/2010BA/BB, 2000C when the
patient is not the subscriber, 2300, 2310B, 2400/2420A) so that pyx12 accepts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache

VERSION = {"P": "005010X222A1", "I": "005010X223A2"}


@dataclass
class Delimiters:
    element: str = "*"
    component: str = ":"
    repetition: str = "^"
    segment: str = "~"
    newline: str = "\n"  # written after each terminator; "" for one long line


@dataclass
class Patient:
    member_id: str
    last: str
    first: str
    birth_date: date
    sex: str = "F"
    payer_class: str = "CI"  # SBR09
    payer_id: str = "PAYER01"
    payer_name: str = "EXAMPLE HEALTH PLAN"
    # When set, the patient is a dependant: a 2000C loop follows the subscriber.
    subscriber: "Patient | None" = None


@dataclass
class Line:
    procedure_code: str
    date_of_service: date | None
    modifiers: tuple[str, ...] = ()
    units: float = 1
    charge: float = 100.0
    place_of_service: str = ""  # SV1-05 (837P); "" = same as the claim
    dx_pointers: tuple[int, ...] = (1,)
    revenue_code: str = "0333"  # SV2-01 (837I)
    rendering_npi: str = ""  # 2420A
    dos_text: str | None = None  # write this DTP*472 text verbatim (for bad-date fixtures)


@dataclass
class Claim:
    claim_id: str
    patient: Patient
    lines: list[Line]
    diagnoses: tuple[str, ...] = ("C61",)
    billing_npi: str = "1234567893"
    rendering_npi: str = ""  # 2310B (837P)
    facility_code: str = ""  # CLM05-1; default 11 (837P office) or 13 (837I outpatient)
    frequency_code: str = "1"
    original_claim_ref: str = ""  # REF*F8
    total_charge: float | None = None  # default: sum of the lines
    claim_dos: date | None = None  # claim-level DTP*472 (837P)
    billing_name: str = "EXAMPLE RADIATION ONCOLOGY"  # 2010AA NM103
    # HI qualifiers (principal, other): ICD-10-CM ABK/ABF; ("BK", "BF") writes ICD-9-CM codes.
    dx_qualifiers: tuple[str, str] = ("ABK", "ABF")


@dataclass
class Interchange:
    kind: str  # "P" or "I"
    claims: list[Claim]
    control: int = 1  # ISA13
    sender: str = "CLEARINGHOUSE"
    receiver: str = "AUDITRECEIVER"
    created: datetime = field(default_factory=lambda: datetime(2025, 6, 4, 1, 30))
    delimiters: Delimiters = field(default_factory=Delimiters)
    # Write these GS08/ST03 instead of the kind's (mislabelled files occur in the wild).
    version_label: str | None = None


# The formatters are cached: a benchmark file repeats the same few charges, units and dates
# hundreds of thousands of times, and strftime alone was a tenth of the render time.
@lru_cache(maxsize=8192)
def _money(x: float) -> str:
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return s or "0"


@lru_cache(maxsize=1024)
def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


@lru_cache(maxsize=65536)
def _d8(d: date) -> str:
    return d.strftime("%Y%m%d")


class _Out:
    def __init__(self, d: Delimiters):
        self.d = d
        self.segments: list[str] = []
        # id(Line) -> its rendered segments after LX; valid while the rendered claims are alive.
        self.lines: dict[int, list[str]] = {}

    def seg(self, *elements: str) -> None:
        # Trailing empty elements are dropped, as X12 requires.
        if elements[-1] != "":
            self.segments.append(self.d.element.join(elements))
            return
        parts = list(elements)
        while parts and parts[-1] == "":
            parts.pop()
        self.segments.append(self.d.element.join(parts))

    def comp(self, *parts: str) -> str:
        if parts and parts[-1] != "":
            return self.d.component.join(parts)
        parts_ = list(parts)
        while parts_ and parts_[-1] == "":
            parts_.pop()
        return self.d.component.join(parts_)


def _isa(ic: Interchange) -> str:
    d = ic.delimiters
    f = [
        "ISA", "00", " " * 10, "00", " " * 10,
        "ZZ", ic.sender.ljust(15)[:15], "ZZ", ic.receiver.ljust(15)[:15],
        ic.created.strftime("%y%m%d"), ic.created.strftime("%H%M"),
        d.repetition, "00501", f"{ic.control:09d}", "0", "P", d.component,
    ]
    return d.element.join(f)


def render_837(ic: Interchange) -> bytes:
    """One ISA/GS/ST interchange holding ``ic.claims`` under one billing provider per claim."""
    d = ic.delimiters
    out = _Out(d)
    version = ic.version_label or VERSION[ic.kind]
    st_control = "0001"
    out.seg("ST", "837", st_control, version)
    out.seg("BHT", "0019", "00", f"B{ic.control}", _d8(ic.created.date()), ic.created.strftime("%H%M"), "CH")
    out.seg("NM1", "41", "2", "EXAMPLE CLEARINGHOUSE", "", "", "", "", "46", ic.sender)
    out.seg("PER", "IC", "EDI DESK", "TE", "5555550100")
    out.seg("NM1", "40", "2", "AUDIT RECEIVER", "", "", "", "", "46", ic.receiver)
    hl = 0
    # The provider and subscriber blocks repeat for every claim of the same provider or patient:
    # written once per render and reused (large benchmark files hold thousands of claims each).
    provider_blocks: dict[tuple[str, str], list[str]] = {}
    subscriber_blocks: dict[tuple[int, bool], list[str]] = {}
    for claim in ic.claims:
        hl += 1
        provider_hl = hl
        out.seg("HL", str(provider_hl), "", "20", "1")
        block = provider_blocks.get((claim.billing_name, claim.billing_npi))
        if block is None:
            mark = len(out.segments)
            out.seg("NM1", "85", "2", claim.billing_name, "", "", "", "", "XX", claim.billing_npi)
            out.seg("N3", "100 MAIN ST")
            out.seg("N4", "SPRINGFIELD", "IL", "627010001")
            out.seg("REF", "EI", "371234567")
            provider_blocks[(claim.billing_name, claim.billing_npi)] = out.segments[mark:]
        else:
            out.segments.extend(block)
        p = claim.patient
        sub = p.subscriber or p
        hl += 1
        sub_hl = hl
        has_child = p.subscriber is not None
        out.seg("HL", str(sub_hl), str(provider_hl), "22", "1" if has_child else "0")
        # Keyed by object identity: the claims (and so their patients) live until the render ends.
        block = subscriber_blocks.get((id(sub), has_child))
        if block is None:
            mark = len(out.segments)
            out.seg("SBR", "P", "" if has_child else "18", "GRP100", "", "", "", "", "", sub.payer_class)
            out.seg("NM1", "IL", "1", sub.last, sub.first, "", "", "", "MI", sub.member_id)
            out.seg("N3", "1 ELM ST")
            out.seg("N4", "SPRINGFIELD", "IL", "627010002")
            out.seg("DMG", "D8", _d8(sub.birth_date), sub.sex)
            out.seg("NM1", "PR", "2", sub.payer_name, "", "", "", "", "PI", sub.payer_id)
            subscriber_blocks[(id(sub), has_child)] = out.segments[mark:]
        else:
            out.segments.extend(block)
        if has_child:
            hl += 1
            out.seg("HL", str(hl), str(sub_hl), "23", "0")
            out.seg("PAT", "19")
            out.seg("NM1", "QC", "1", p.last, p.first)
            out.seg("N3", "1 ELM ST")
            out.seg("N4", "SPRINGFIELD", "IL", "627010002")
            out.seg("DMG", "D8", _d8(p.birth_date), p.sex)
        _claim_loop(out, ic.kind, claim)
    out.seg("SE", str(len(out.segments) + 1), st_control)
    body = out.segments
    envelope_head = [_isa(ic), d.element.join(["GS", "HC", ic.sender, ic.receiver, _d8(ic.created.date()),
                                               ic.created.strftime("%H%M"), str(ic.control), "X", version])]
    envelope_tail = [d.element.join(["GE", "1", str(ic.control)]), d.element.join(["IEA", "1", f"{ic.control:09d}"])]
    text = (d.segment + d.newline).join(envelope_head + body + envelope_tail) + d.segment + d.newline
    return text.encode("latin-1")


def _claim_loop(out: _Out, kind: str, c: Claim) -> None:
    total = c.total_charge if c.total_charge is not None else sum(line.charge for line in c.lines)
    facility = c.facility_code or ("11" if kind == "P" else "13")
    qualifier = "B" if kind == "P" else "A"
    if kind == "P":
        out.seg("CLM", c.claim_id, _money(total), "", "", out.comp(facility, qualifier, c.frequency_code),
                "Y", "A", "Y", "Y")
    else:
        out.seg("CLM", c.claim_id, _money(total), "", "", out.comp(facility, qualifier, c.frequency_code),
                "", "A", "Y", "Y")
        dates = [line.date_of_service for line in c.lines if line.date_of_service]
        if dates:
            out.seg("DTP", "434", "RD8", f"{_d8(min(dates))}-{_d8(max(dates))}")
        out.seg("CL1", "1", "1", "01")
    if c.claim_dos and kind == "P":
        out.seg("DTP", "472", "D8", _d8(c.claim_dos))
    if c.original_claim_ref:
        out.seg("REF", "F8", c.original_claim_ref)
    if c.diagnoses:
        principal, other = c.dx_qualifiers
        hi = [out.comp(principal, c.diagnoses[0])] + [out.comp(other, code) for code in c.diagnoses[1:]]
        if kind == "I":
            # 837I: the principal diagnosis HI holds only HI01; other diagnoses get their own HI.
            out.seg("HI", hi[0])
            if len(hi) > 1:
                out.seg("HI", *hi[1:])
        else:
            out.seg("HI", *hi)
    if kind == "I":
        out.seg("NM1", "71", "1", "ATTENDING", "ALEX", "", "", "", "XX", c.rendering_npi or c.billing_npi)
    elif c.rendering_npi:
        out.seg("NM1", "82", "1", "RENDERING", "ROBIN", "", "", "", "XX", c.rendering_npi)
        out.seg("PRV", "PE", "PXC", "2085R0001X")
    for n, line in enumerate(c.lines, start=1):
        out.seg("LX", str(n))
        # A Line object shared by many claims (the generator reuses them) is rendered once.
        cached = out.lines.get(id(line))
        if cached is not None:
            out.segments.extend(cached)
            continue
        mark = len(out.segments)
        proc = out.comp("HC", line.procedure_code, *line.modifiers)
        if kind == "P":
            pointers = out.comp(*[str(x) for x in line.dx_pointers])
            out.seg("SV1", proc, _money(line.charge), "UN", _num(line.units), line.place_of_service, "", pointers)
        else:
            out.seg("SV2", line.revenue_code, proc, _money(line.charge), "UN", _num(line.units))
        if line.dos_text is not None:
            if line.dos_text:
                out.seg("DTP", "472", "D8", line.dos_text)
        elif line.date_of_service:
            out.seg("DTP", "472", "D8", _d8(line.date_of_service))
        if line.rendering_npi and kind == "P":
            out.seg("NM1", "82", "1", "RENDERING", "LEE", "", "", "", "XX", line.rendering_npi)
        out.lines[id(line)] = out.segments[mark:]
