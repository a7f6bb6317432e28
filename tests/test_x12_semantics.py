"""What each row field means, on writer-made 837s; and pyx12 accepts what the writer writes."""

from __future__ import annotations

import io
from datetime import date

import pytest

from claimaudit.samples.x12_writer import Claim, Interchange, Line, Patient, render_837
from claimaudit.x12.keys import patient_key
from claimaudit.x12.parser import parse_bytes
from support.pyx12_reader import reference_rows

SUB = Patient("W123456789", "RIVERA", "ANA", date(1951, 3, 4), payer_class="MB", payer_id="MEDICARE01")
CHILD = Patient("", "RIVERA", "LUZ", date(2011, 7, 8), subscriber=SUB)


def _spec(kind: str) -> Interchange:
    return Interchange(kind, [
        Claim("RO-1", SUB, [
            Line("77386", date(2025, 6, 2), ("26", "76"), units=2, charge=410.5, place_of_service="22",
                 dx_pointers=(1, 3)),
            Line("77427", date(2025, 6, 6), rendering_npi="1497758544"),
        ], diagnoses=("C50.911", "Z51.0", "C77.3"), rendering_npi="1234567893", frequency_code="7",
            original_claim_ref="RO-0"),
        Claim("RO-2", CHILD, [Line("77386", date(2025, 6, 3))]),
    ], control=41)


@pytest.mark.parametrize("kind", ["P", "I"])
def test_pyx12_accepts_writer_output_and_reads_the_same_rows(kind):
    import pyx12.params
    import pyx12.x12n_document

    data = render_837(_spec(kind))
    ack = io.StringIO()
    assert pyx12.x12n_document.x12n_document(pyx12.params.params(), io.StringIO(data.decode("latin-1")), ack, None), \
        ack.getvalue()
    ours = parse_bytes(data, "w.x12")
    assert ours.rejections == []
    assert (ours.claims, ours.lines, ours.diagnoses) == reference_rows(data.decode("latin-1"), "w.x12", ours.file_sha256)


def test_professional_fields():
    r = parse_bytes(render_837(_spec("P")), "p.x12")
    c1, c2 = r.claims
    assert (c1.transaction_type, c1.payer_class, c1.payer_id, c1.billing_npi, c1.rendering_npi) == \
        ("P", "MB", "MEDICARE01", "1234567893", "1234567893")
    assert (c1.facility_code, c1.facility_qualifier, c1.frequency_code, c1.original_claim_ref) == ("11", "B", "7", "RO-0")
    assert (c1.total_charge, c1.line_count) == (510.5, 2)
    l1, l2, l3 = r.lines
    assert (l1.line_number, l1.procedure_code, l1.modifiers, l1.units, l1.charge, l1.unit_basis) == \
        (1, "77386", "26,76", 2.0, 410.5, "UN")
    assert (l1.place_of_service, l2.place_of_service) == ("22", "11")  # SV1-05 else CLM05-1
    assert (l1.dx_pointers, l1.date_of_service, l1.dos_raw) == ("1,3", date(2025, 6, 2), "20250602")
    assert (l1.rendering_npi, l2.rendering_npi) == ("1234567893", "1497758544")  # 2420A overrides 2310B
    assert l1.revenue_code == "" and l3.claim_key == c2.claim_key
    assert [(d.position, d.qualifier, d.code) for d in r.diagnoses[:3]] == \
        [(1, "ABK", "C50.911"), (2, "ABF", "Z51.0"), (3, "ABF", "C77.3")]
    # 2000C present: the patient's own name and birth date with the subscriber's member id.
    assert c2.patient_key == patient_key("W123456789", "RIVERA", "20110708")
    assert c1.patient_key == patient_key("W123456789", "RIVERA", "19510304")
    assert c1.claim_key != c2.claim_key and len(c1.claim_key) == 32


def test_institutional_fields():
    r = parse_bytes(render_837(_spec("I")), "i.x12")
    c1 = r.claims[0]
    assert (c1.transaction_type, c1.facility_code, c1.facility_qualifier) == ("I", "13", "A")
    assert (c1.statement_from, c1.statement_to) == (date(2025, 6, 2), date(2025, 6, 6))
    l1 = r.lines[0]
    assert (l1.revenue_code, l1.procedure_code, l1.place_of_service, l1.dx_pointers) == ("0333", "77386", "", "")
    assert r.envelopes[0].transaction_type == "I"


def test_no_names_member_ids_or_birth_dates_in_rows():
    r = parse_bytes(render_837(_spec("P")), "p.x12")
    text = repr((r.envelopes, r.claims, r.lines, r.diagnoses))
    for secret in ("RIVERA", "ANA", "LUZ", "W123456789", "19510304", "20110708", "1951-03-04"):
        assert secret not in text


def _recount(data: str) -> bytes:
    """Set SE01 to the real segment count after an edit added or removed segments."""
    segs = data.split("~\n")
    st = next(i for i, s in enumerate(segs) if s.startswith("ST*"))
    se = next(i for i, s in enumerate(segs) if s.startswith("SE*"))
    segs[se] = f"SE*{se - st + 1}*0001"
    return "~\n".join(segs).encode("latin-1")


def _edit(kind, old, new):
    data = render_837(_spec(kind)).decode("latin-1")
    assert old in data
    return parse_bytes(_recount(data.replace(old, new, 1)), "e.x12")


def test_dates_fall_back_and_bad_dates_are_kept_raw():
    r = _edit("P", "DTP*472*D8*20250602", "DTP*472*D8*20250231")
    assert (r.lines[0].date_of_service, r.lines[0].dos_raw, r.rejections) == (None, "20250231", [])
    r = _edit("P", "DTP*472*D8*20250602", "DTP*472*RD8*20250602-20250606")
    assert (r.lines[0].date_of_service, r.lines[0].dos_raw) == (date(2025, 6, 2), "20250602-20250606")
    # No line date: the claim-level DTP*472 (837P) is used.
    r = _edit("P", "LX*1~\nSV1*HC:77386:26:76*410.5*UN*2*22**1:3~\nDTP*472*D8*20250602~",
              "DTP*472*D8*20250601~\nLX*1~\nSV1*HC:77386:26:76*410.5*UN*2*22**1:3~")
    assert (r.lines[0].date_of_service, r.claims[0].claim_service_date) == (date(2025, 6, 1), date(2025, 6, 1))
    # 837I: DTP*434 statement-from when the line has no DTP*472.
    r = _edit("I", "DTP*472*D8*20250602~\n", "")
    assert (r.lines[0].date_of_service, r.lines[0].dos_raw) == (date(2025, 6, 2), "20250602-20250606")


def test_cob_and_adjudication_loops_are_not_mistaken_for_subscriber_payer_or_dates():
    data = render_837(_spec("P")).decode("latin-1")
    cob = ("SBR*S*01**OTHER PLAN*****CI~\nNM1*IL*1*OTHER*PERSON****MI*OTHER999~\n"
           "NM1*PR*2*OTHER PLAN*****PI*OTHERPAYER~\nNM1*82*1~\nDTP*472*D8*19990101~\n")
    data = data.replace("LX*1~", cob + "LX*1~", 1)
    data = data.replace("DTP*472*D8*20250602~\n",
                        "DTP*472*D8*20250602~\nSVD*OTHERPAYER*0*HC:77386**2~\nDTP*472*D8*19990101~\n"
                        "DTP*573*D8*20250701~\nNM1*82*1*X****XX*0000000000~\n", 1)
    r = parse_bytes(_recount(data), "cob.x12")
    assert r.rejections == []
    c1 = r.claims[0]
    assert (c1.payer_id, c1.payer_class, c1.rendering_npi) == ("MEDICARE01", "MB", "1234567893")
    assert c1.patient_key == patient_key("W123456789", "RIVERA", "19510304")
    assert (r.lines[0].date_of_service, r.lines[0].rendering_npi) == (date(2025, 6, 2), "1234567893")


def test_mislabelled_group_is_read_from_content():
    spec = _spec("I")
    spec.version_label = "005010X222A1"
    r = parse_bytes(render_837(spec), "mis.x12")
    assert r.envelopes[0].version == "005010X222A1"
    assert {c.transaction_type for c in r.claims} == {"I"} and r.envelopes[0].transaction_type == "I"


def test_bom_latin1_and_u_repetition():
    data = render_837(_spec("P")).replace(b"RIVERA", "RIVÉRA".encode("latin-1"))
    data = b"\xef\xbb\xbf" + data.replace(b"*^*00501", b"*U*00501", 1)
    r = parse_bytes(data, "bom.x12")
    assert r.rejections == [] and len(r.lines) == 3
    assert r.claims[0].patient_key == patient_key("W123456789", "RIVÉRA", "19510304")
