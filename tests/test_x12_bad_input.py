"""Bad input never raises: each fault gets its own reason and rejects only the smallest unit holding it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from claimaudit.samples.x12_writer import Claim, Interchange, Line, Patient, render_837
from claimaudit.x12.parser import parse_bytes, parse_path

FIXTURES = Path(__file__).parent / "fixtures" / "x12"


@pytest.mark.parametrize("name, unit, position, segment, words", [
    ("empty.x12", "file", None, "", "the file is empty (0 bytes)"),
    ("random.bin", "file", None, "", "control bytes (binary, compressed or random data)"),
    ("utf16_837.x12", "file", None, "", "UTF-16 encoded"),
    ("remittance_835.x12", "transaction", 3, "ST", "835 (remittance advice) is not an 837"),
    ("eligibility_270.x12", "transaction", 3, "ST", "270 (eligibility inquiry) is not an 837"),
    ("truncated_837.x12", "interchange", 25, "LX", "the file ends before the IEA"),
])
def test_bad_file_has_its_own_reason(name, unit, position, segment, words):
    result = parse_path(FIXTURES / name)
    assert len(result.rejections) == 1
    r = result.rejections[0]
    assert (r.unit, r.segment_position, r.segment_id) == (unit, position, segment)
    assert words in r.reason
    assert r.source_file == name and r.message().startswith(name + ": ")
    assert result.claims == [] and result.lines == []


def _patient(n: int) -> Patient:
    return Patient(f"M{n}", "LAST", "FIRST", date(1950, 1, n % 28 + 1))


def _interchange(control: int, claims: int = 2) -> bytes:
    return render_837(Interchange("P", [
        Claim(f"C{control}-{i}", _patient(i), [Line("77386", date(2025, 6, 2), ("26",))]) for i in range(claims)
    ], control=control))


def _segments(data: bytes) -> list[str]:
    return data.decode("latin-1").split("~\n")


def _join(segs: list[str]) -> bytes:
    return "~\n".join(segs).encode("latin-1")


def test_whitespace_only_and_archives():
    assert "only whitespace" in parse_bytes(b"  \r\n\t ", "w.x12").rejections[0].reason
    assert "gzip archive" in parse_bytes(b"\x1f\x8b\x08\x00rest", "g.x12").rejections[0].reason
    assert "no ISA interchange header found" in parse_bytes(b"hello world\n", "t.x12").rejections[0].reason


def test_one_bad_transaction_set_keeps_the_others():
    # Two ST in one GS; the second has a wrong SE01.
    segs = _segments(_interchange(5, claims=1))
    st = next(i for i, s in enumerate(segs) if s.startswith("ST*"))
    se = next(i for i, s in enumerate(segs) if s.startswith("SE*"))
    body = segs[st:se + 1]
    second = [s.replace("*0001", "*0002") if s.startswith(("ST*", "SE*")) else s for s in body]
    second = [s.replace("C5-0", "C5-X") for s in second]
    second[-1] = "SE*99*0002"
    segs[se + 1:se + 1] = second
    segs = [("GE*2*5" if s.startswith("GE*") else s) for s in segs]
    result = parse_bytes(_join(segs), "two.x12")
    assert [c.claim_id for c in result.claims] == ["C5-0"]
    (r,) = result.rejections
    assert (r.unit, r.transaction_control, r.segment_id) == ("transaction", "0002", "SE")
    assert r.segment_position == se + 1 + len(second)
    assert "SE01 says 99 segments" in r.reason


@pytest.mark.parametrize("edit, unit, segment, words", [
    (lambda s: s + "9" if s.startswith("SE*") else s, "transaction", "SE", "SE02 control number '00019'"),
    (lambda s: "GE*1*999" if s.startswith("GE*") else s, "group", "GE", "GE02 control number '999'"),
    (lambda s: "GE*3*1" if s.startswith("GE*") else s, "group", "GE", "GE01 says 3 transaction sets"),
    (lambda s: "IEA*1*000000002" if s.startswith("IEA*") else s, "interchange", "IEA", "IEA02 control number"),
    (lambda s: "IEA*2*000000001" if s.startswith("IEA*") else s, "interchange", "IEA", "IEA01 says 2"),
    (lambda s: "HL*9*1*99*0" if s.startswith("HL*2*") else s, "transaction", "HL", "HL03 '99'"),
    (lambda s: s.replace(":", ">") if s.startswith("SV1*") else s, "transaction", "SV1", "the body seems to use '>'"),
    (lambda s: s.replace("LX*1", "LX*A") if s.startswith("LX*") else s, "transaction", "LX", "LX01 'A' is not"),
    (lambda s: "REF*X" if s.startswith("SV1*") else s, "transaction", "LX", "has no SV1 or SV2"),
    (lambda s: "CLM**100***11:B:1" if s.startswith("CLM*") else s, "transaction", "CLM", "CLM01 (claim id) is empty"),
    (lambda s: "NM1*XX*2*NOBODY" if s.startswith("NM1*PR") else s, "transaction", "CLM", "payer (2010BB NM1*PR) missing"),
])
def test_structural_fault_names_unit_segment_and_reason(edit, unit, segment, words):
    data = render_837(Interchange("P", [Claim("A1", _patient(1), [Line("77386", date(2025, 6, 2))])], control=1))
    result = parse_bytes(_join([edit(s) for s in _segments(data)]), "bad.x12")
    assert result.claims == [] and result.lines == []
    (r,) = result.rejections
    assert (r.unit, r.segment_id) == (unit, segment), r
    assert words in r.reason, r.reason
    segs = _segments(data)
    assert r.segment_position is not None and 1 <= r.segment_position <= len(segs)


def test_missing_se_rejects_transaction_at_the_ge():
    segs = [s for s in _segments(_interchange(1)) if not s.startswith("SE*")]
    result = parse_bytes(_join(segs), "nose.x12")
    (r,) = result.rejections
    assert (r.unit, r.segment_id) == ("transaction", "GE")
    assert "has no SE before this GE" in r.reason


def test_bad_second_interchange_keeps_the_first():
    first, second = _interchange(1), _interchange(2)
    second = second.replace(b"IEA*1*000000002", b"IEA*1*000000003")
    result = parse_bytes(first + b"\n" + second, "two-isa.x12")
    assert [c.claim_id for c in result.claims] == ["C1-0", "C1-1"]
    (r,) = result.rejections
    assert (r.unit, r.interchange_control) == ("interchange", "000000002")
    assert r.segment_position == len(_segments(first)) - 1 + len(_segments(second)) - 1


def test_interchange_without_iea_before_next_isa():
    first = _interchange(1).replace(b"IEA*1*000000001~\n", b"")
    result = parse_bytes(first + _interchange(2), "cut.x12")
    assert [c.claim_id for c in result.claims] == ["C2-0", "C2-1"]
    (r,) = result.rejections
    assert r.unit == "interchange" and "no IEA before the next ISA" in r.reason


def test_segments_after_the_last_iea_are_reported():
    data = _interchange(1) + b"ST*837*0009~CLM*LOST*1~"
    result = parse_bytes(data, "tail.x12")
    assert len(result.claims) == 2
    assert any("after the last IEA" in r.reason for r in result.rejections)


def test_banner_and_junk_around_the_interchange_are_ignored():
    data = b"*** EXPORT 2025-06-04 ***\r\nbatch 17\r\n" + _interchange(1) + b"\r\n-- end of batch --\r\n\x1a"
    result = parse_bytes(data, "banner.x12")
    assert result.rejections == [] and len(result.claims) == 2


def test_never_raises_on_mangled_input():
    base = _interchange(3)
    for cut in range(0, len(base), 37):
        for data in (base[:cut], base[cut:], base[:cut] + b"\x00\xff" + base[cut + 5:]):
            result = parse_bytes(data, "m.x12")
            assert result.claims or result.rejections
            assert not any("parser bug" in r.reason for r in result.rejections), (cut, result.rejections)


def test_non_ascii_digits_in_control_counts_get_a_clear_reason():
    """Latin-1 superscript digits pass str.isdigit() but not int(): they must be a clear
    rejection naming the segment, not an internal parser error."""
    from datetime import date

    from claimaudit.samples.x12_writer import Claim, Interchange, Line, Patient, render_837
    from claimaudit.x12.parser import parse_bytes

    text = render_837(Interchange("P", [Claim("C1", Patient("M1", "DOE", "JANE", date(1950, 1, 1)),
                                              [Line("77386", date(2025, 6, 2))])])).decode("latin-1")
    bad_ge = parse_bytes(text.replace("GE*1*", "GE*\u00b9*").encode("latin-1"), "ge.x12")
    assert [(r.unit, r.segment_id) for r in bad_ge.rejections] == [("group", "GE")]
    assert "GE01 says \u00b9 transaction sets" in bad_ge.rejections[0].reason
    assert "parser" not in bad_ge.rejections[0].reason
