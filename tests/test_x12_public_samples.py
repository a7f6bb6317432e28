"""Every public 837 sample gives its decided outcome, and rows equal pyx12's where pyx12 can read the file.

Outcomes (claims, lines) come from ../shared/x12-samples/public/SOURCES.md. For the malformed files
the decision is written next to the file: what is wrong, which unit is rejected and why.
BSD/Apache files are in tests/fixtures/public; the CDDL oopfactory files are read from the
shared folder when it exists (skipped otherwise).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from claimaudit.x12.parser import parse_bytes
from support.paths import SHARED as SHARED_ROOT
from support.pyx12_reader import reference_rows

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures" / "public"
SHARED = SHARED_ROOT / "x12-samples" / "public"

# file -> (claims, lines, transaction type) for files that must parse with no rejection.
ACCEPTED = {
    "stupidedi__commercial-health-insurance.edi": (1, 4, "P"),
    "stupidedi__encounter.edi": (1, 4, "P"),
    "stupidedi__ambulance.edi": (1, 4, "P"),
    "stupidedi__anesthesia.edi": (1, 1, "P"),
    "stupidedi__chiropractic.edi": (1, 1, "P"),
    "stupidedi__drug-administered-in-the-physician-office.edi": (1, 2, "P"),
    "stupidedi__home-infusion-therapy-pharmacy-adjudicated-with-HCPCS-in-loop-2400-or-NDC-in-loop-2410.edi": (1, 6, "P"),
    "stupidedi__medicare-secondary-payer-COB.edi": (1, 1, "P"),
    "stupidedi__COB-claim-from-billing-provider-to-payer-a.edi": (1, 3, "P"),
    "stupidedi__COB-claim-from-payer-a-to-payer-b-in-payer-to-payer.edi": (1, 3, "P"),
    "stupidedi__oxygen.edi": (1, 2, "P"),
    "stupidedi__wheelchair.edi": (1, 1, "P"),
    "stupidedi__837-institutional-claim.edi": (1, 2, "I"),
    "stupidedi__automobile-accident.edi": (1, 4, "I"),
    "stupidedi__out-of-network-repriced-claim.edi": (1, 1, "I"),
    "stupidedi__ppo-repriced-claim.edi": (1, 2, "I"),
    "stupidedi__two-claims-for-the-same-provider.edi": (2, 3, "I"),
    # Prose before the ISA is a banner (skipped); '.' for spaces inside the ISA keeps it fixed
    # width, so the delimiters read correctly. Accepted; sender id is kept as written.
    "stupidedi__X222-case-1.edi": (1, 4, "P"),
    "lfh-x12__demo.example1.837": (1, 4, "P"),
    "lfh-x12__demo.autoaccident.837": (1, 2, "P"),
    "lfh-x12__demo.cob.example3.C.837": (1, 3, "P"),
    "lfh-x12__institutional-claim.837i": (1, 2, "I"),
    "lfh-x12__two-claims-single-provider.837i": (2, 3, "I"),
    # CDDL (shared folder only). BOM, indentation, '>' component and '|' repetition separators.
    "oopfactory-x12parser__MedicaidExample.txt": (5, 10, "P"),
    # Segment terminator is CR (ISA byte 106), then LF; BOM and indentation.
    "oopfactory-x12parser__ST1309-XX.txt": (1, 2, "P"),
    # GS08/ST03 say 005010X222 (professional) but CLM05-2=A, CL1 and SV2 say institutional.
    "oopfactory-x12parser__Spec_3.1.2_TwoClaimsForTheSameProvider.txt": (2, 3, "I"),
}

# file -> [(unit, segment position, segment id, words the reason must contain)]: the decided rejection.
REJECTED = {
    # ISA02 is 9 characters: the fixed-width header cannot be trusted, so nothing in it is read.
    "imsweb-x12-parser__x12_bad_first_line.txt": [("interchange", 1, "ISA", "ISA02 must be exactly 10 characters")],
    "imsweb-x12-parser__x12_no_isa_line.txt": [("file", None, "", "file starts with a GS segment")],
    # imsweb fixtures were written for a lenient parser: HI written 'HI*BK*8901*...' (qualifier and
    # code as separate elements) and SE01/GE01/IEA01 counts that do not match. Each is rejected at
    # the first unit whose control data or structure is wrong (a 999 would reject them too).
    "imsweb-x12-parser__x12_valid.txt": [("transaction", 23, "HI", "HI element 'BK' is not a qualifier:code")],
    "imsweb-x12-parser__x12_valid_different_separators.txt": [("transaction", 23, "HI", "qualifier^code")],
    "imsweb-x12-parser__x12_segments_out_of_order.txt": [("transaction", 23, "HI", "qualifier:code")],
    "imsweb-x12-parser__x12_many_claims.txt": [("transaction", 23, "HI", "qualifier:code")],
    "imsweb-x12-parser__x12_multiple_isa.txt": [("transaction", 23, "HI", "qualifier:code"),
                                                ("transaction", 61, "HI", "qualifier:code")],
    "imsweb-x12-parser__x12_complex.txt": [("group", 297, "GE", "GE01 says 1 transaction sets but the group has 2")],
    "imsweb-x12-parser__x12_multiple_gs.txt": [("interchange", 110, "IEA", "IEA01 says 1 functional groups but the interchange has 3")],
    "imsweb-x12-parser__x223-test.txt": [("transaction", 50, "SE", "SE01 says 25 segments but transaction set 987654 has 48")],
    "imsweb-x12-parser__x12_loop_errors3_missing_loops.txt": [("transaction", 16, "CLM", "billing provider (2010AA NM1*85) missing")],
    # ISA16 declares ':' but the body writes composites with '>': codes would be misread.
    "lfh-x12__demo.example6.837": [("transaction", 21, "CLM", "CLM05 '11>B>1' is not split by the component separator ':'")],
    "lfh-x12__demo.example12.837": [("transaction", 26, "CLM", "the body seems to use '>'")],
    "oopfactory-x12parser__UnicodeExample.txt": [("file", None, "", "UTF-16")],
}

# After repairing only the faults named above, the imsweb files give SOURCES.md's counts.
REPAIRED = {
    "imsweb-x12-parser__x12_valid.txt": (2, 2),
    "imsweb-x12-parser__x12_valid_different_separators.txt": (2, 2),
    "imsweb-x12-parser__x12_segments_out_of_order.txt": (2, 2),
    "imsweb-x12-parser__x12_many_claims.txt": (820, 820),
    "imsweb-x12-parser__x12_multiple_isa.txt": (4, 4),
    "imsweb-x12-parser__x12_complex.txt": (6, 10),
    "imsweb-x12-parser__x12_multiple_gs.txt": (6, 6),
    "imsweb-x12-parser__x223-test.txt": (1, 1),
}

# pyx12 cannot be the reference here: it stops on the BOM/BHT of this file and drops SV1 lines
# whose procedure qualifier is XX (SOURCES.md).
NO_PYX12 = {"oopfactory-x12parser__MedicaidExample.txt"}


def sample(name: str) -> bytes:
    for folder in (FIXTURES, SHARED):
        if (folder / name).exists():
            return (folder / name).read_bytes()
    pytest.skip(f"{name} is not in the repository (CDDL) and {SHARED} is absent")


def test_every_shared_sample_has_a_decided_outcome():
    if not SHARED.exists():
        pytest.skip("shared samples absent")
    names = {p.name for p in SHARED.iterdir() if p.name != "SOURCES.md"}
    assert names == set(ACCEPTED) | set(REJECTED)
    assert len(names) == 40


def test_repository_copies_are_byte_identical_and_not_cddl():
    copies = {p.name for p in FIXTURES.iterdir() if p.name != "LICENSES.md"}
    assert copies and not any(n.startswith("oopfactory") for n in copies)
    if SHARED.exists():
        for name in copies:
            assert (FIXTURES / name).read_bytes() == (SHARED / name).read_bytes(), name


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_accepted_sample(name):
    data = sample(name)
    result = parse_bytes(data, name)
    claims, lines, kind = ACCEPTED[name]
    assert result.rejections == []
    assert (len(result.claims), len(result.lines)) == (claims, lines)
    assert {c.transaction_type for c in result.claims} == {kind}
    assert [e.transaction_type for e in result.envelopes] == [kind]
    assert sum(c.line_count for c in result.claims) == lines
    assert all(c.file_sha256 == result.file_sha256 for c in result.claims)


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_rejected_sample(name):
    result = parse_bytes(sample(name), name)
    got = [(r.unit, r.segment_position, r.segment_id, r.reason) for r in result.rejections]
    assert len(got) == len(REJECTED[name]), got
    for (unit, pos, seg, words), (g_unit, g_pos, g_seg, g_reason) in zip(REJECTED[name], got):
        assert (g_unit, g_pos, g_seg) == (unit, pos, seg)
        assert words in g_reason, g_reason
    assert result.claims == [] and result.lines == [] and result.diagnoses == []
    for r in result.rejections:
        assert r.message().startswith(f"{name}: ")


def repair(data: bytes) -> bytes:
    """Fix exactly the faults the imsweb fixtures carry: HI split into elements, wrong counts, short ISA02."""
    text = data.decode("latin-1")
    if text[17] != "*" and text[16] == "*":  # x12_bad_first_line: ISA02 one character short
        text = text.replace("*         *", "*          *", 1)
    el, co, term = text[3], text[104], text[105]
    segs = text.split(term)
    out, st_at, st_count, gs_count = [], 0, 0, 0
    for seg in segs:
        f = seg.strip().split(el)
        sid = f[0]
        if sid == "HI":
            elems, i = f[1:], 0
            fixed = []
            while i < len(elems):
                if co not in elems[i] and i + 1 < len(elems) and elems[i] in ("BK", "BF", "ABK", "ABF"):
                    fixed.append(elems[i] + co + elems[i + 1])
                    i += 2
                else:
                    fixed.append(elems[i])
                    i += 1
            seg = seg[: len(seg) - len(seg.lstrip())] + el.join(["HI", *fixed])
        elif sid == "ST":
            st_at, st_count = len(out), st_count + 1
        elif sid == "SE":
            f[1] = str(len(out) - st_at + 1)
            seg = seg[: len(seg) - len(seg.lstrip())] + el.join(f)
        elif sid == "GS":
            gs_count, st_count = gs_count + 1, 0
        elif sid == "GE":
            f[1] = str(st_count)
            seg = seg[: len(seg) - len(seg.lstrip())] + el.join(f)
        elif sid == "ISA":
            gs_count = 0
        elif sid == "IEA":
            f[1] = str(gs_count)
            seg = seg[: len(seg) - len(seg.lstrip())] + el.join(f)
        out.append(seg)
    return term.join(out).encode("latin-1")


@pytest.mark.parametrize("name", sorted(REPAIRED))
def test_imsweb_sample_parses_once_its_faults_are_repaired(name):
    result = parse_bytes(repair(sample(name)), name)
    assert result.rejections == []
    assert (len(result.claims), len(result.lines)) == REPAIRED[name]


def test_bad_first_line_parses_once_isa02_is_padded():
    name = "imsweb-x12-parser__x12_bad_first_line.txt"
    result = parse_bytes(repair(sample(name)), name)
    assert result.rejections == [] and (len(result.claims), len(result.lines)) == (2, 2)


def pyx12_text(data: bytes, kind: str) -> str:
    """What pyx12 can read: no BOM, no banner before the ISA, GS08/ST03 naming a map it ships."""
    text = data.decode("latin-1").removeprefix("\xef\xbb\xbf")
    text = text[text.index("ISA"):]
    version = {"P": "005010X222A1", "I": "005010X223A2"}[kind]
    return re.sub(r"005010X22[23][A0-9]*", version, text)


def _without_file(rows):
    return [dataclasses.replace(r, source_file="", file_sha256="") if hasattr(r, "file_sha256") else r
            for r in rows]


@pytest.mark.parametrize("name", sorted(set(ACCEPTED) - NO_PYX12))
def test_rows_equal_pyx12(name):
    data = sample(name)
    ours = parse_bytes(data, name)
    claims, lines, diagnoses = reference_rows(pyx12_text(data, ours.envelopes[0].transaction_type),
                                              name, ours.file_sha256)
    assert ours.claims == claims
    assert ours.lines == lines
    assert ours.diagnoses == diagnoses


# pyx12 cannot place this file's CL1 (EngineError "Invalid Reference Designator: DTP01, seg_id: CL1").
PYX12_CANNOT_PLACE = {"imsweb-x12-parser__x223-test.txt"}


@pytest.mark.parametrize("name", sorted(set(REPAIRED) - PYX12_CANNOT_PLACE))
def test_repaired_rows_equal_pyx12(name):
    data = repair(sample(name))
    ours = parse_bytes(data, name)
    claims, lines, diagnoses = reference_rows(pyx12_text(data, ours.envelopes[0].transaction_type),
                                              name, ours.file_sha256)
    assert (ours.claims, ours.lines, ours.diagnoses) == (claims, lines, diagnoses)


def test_spec_3_1_2_is_read_as_institutional_despite_its_label():
    name = "oopfactory-x12parser__Spec_3.1.2_TwoClaimsForTheSameProvider.txt"
    result = parse_bytes(sample(name), name)
    assert result.envelopes[0].version == "005010X222"
    assert [c.facility_qualifier for c in result.claims] == ["A", "A"]
    assert all(line.revenue_code and line.place_of_service == "" for line in result.lines)
