"""The 837 reader on mutated transaction sets, claims typed by their lines, and the segment cutter.

``tests/golden/x12_mutated_sets.json`` holds what the reader gave on 600 mutated files (five delimiter
layouts, 120 mutations each: segments dropped, repeated, swapped, cut, inserted, elements changed) when
two readers, a fast one and a careful one that decided every rejection, were checked against each other
on them. The single reader must give the same rejections (unit, position, segment, reason) and rows.
Re-record only after a deliberate change of behaviour: ``python tests/test_x12_reader.py --record``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from claimaudit.samples.x12_writer import Claim, Delimiters, Interchange, Line, Patient, render_837
from claimaudit.x12 import segments
from claimaudit.x12.parser import parse_bytes
from claimaudit.x12.segments import _find_end, iter_interchanges, segment_blocks, split_segments

GOLDEN = Path(__file__).parent / "golden" / "x12_mutated_sets.json"
LAYOUTS = [("*", ":", "^", "~", "\n"), ("|", ">", "^", "~", ""), ("*", ":", "^", "~", "\r\n"), ("*", ":", "^", "\n", ""),
           ("\x1d", "\x1f", "\x1e", "\x1c", "")]
MUTATIONS = 120


def _file(kind: str, n: int, seed: int, d: Delimiters | None = None) -> bytes:
    r = random.Random(seed)
    claims = []
    for i in range(n):
        sub = Patient(f"S{i}", f"LISA{i}", f"F{i}", date(1950, 1, 1 + i % 28), payer_class=r.choice(["MB", "CI"]))
        pat = Patient(f"P{i}", f"PL{i}", f"PF{i}", date(1980, 2, 1 + i % 28), subscriber=sub) if i % 3 == 0 else sub
        lines = [Line(r.choice(["77386", "77427"]), date(2025, 1, 1) + timedelta(days=r.randrange(60)) if r.random() < .8
                      else None, modifiers=tuple(r.sample(["26", "TC", "59"], r.randrange(3))), units=r.choice([1, 2]),
                      place_of_service=r.choice(["", "22"]), dx_pointers=(1, 2), rendering_npi=r.choice(["", "1111111111"]))
                 for _ in range(r.randrange(1, 5))]
        claims.append(Claim(f"C{i}", pat, lines, diagnoses=("C61", "Z51.0"), rendering_npi=r.choice(["", "1497758544"]),
                            frequency_code=r.choice(["1", "7"]), original_claim_ref=r.choice(["", "ORIG1"]),
                            claim_dos=r.choice([None, date(2025, 3, 3)])))
    return render_837(Interchange(kind, claims, control=seed + 1, delimiters=d or Delimiters()))


def _mutate(text: str, r: random.Random) -> str:
    term, el = text[105], text[3]
    segs = text.split(term)
    extra = ["SVD*P*100*HC:77386**1", "LX*9", "LX*X", "SBR*S*18*******CI", "NM1*82*1*X****XX*9", "DTP*472*D8*20240101",
             "DTP*434*RD8*20240101-20240102", "REF*F8*ZZ", "HI*ABK:C50", "HI*ABK", "SV1*HC:77386*1*UN*1",
             "SV2*0333*HC:77386*1*UN*1", "SV1*77386*1", "CLM*NEW*1***11:B:1", "CLM*NEW*1***11", "HL*99*1*22*0",
             "HL*98*99*23*0", "HL*97**21", "NM1*QC*1*A*B", "DMG*D8*19000101", "SE*5*0001", "ST*837*9", "GE*1*1", "CLMX*1",
             "LX", "DTPX*1", "SV1X*1", "N3*X", "D", "S", "L", "IEA*1*1"]
    for _ in range(r.choice([1, 1, 2])):
        i = r.randrange(1, len(segs) - 1)
        op = r.randrange(6)
        if op == 0:
            del segs[i]
        elif op == 1:
            segs.insert(i, segs[i])
        elif op == 2:
            segs[i], segs[i + 1] = segs[i + 1], segs[i]
        elif op == 3:
            segs[i] = segs[i][: r.randrange(len(segs[i]) + 1)]
        elif op == 4:
            segs.insert(i, "\n" + r.choice(extra).replace("*", el))
        else:
            f = segs[i].split(el)
            f[r.randrange(len(f))] = r.choice(["", "X", "82", "472", "F8", "22", "23", "A", "11:B:1", "13:A:7", "11::1"])
            segs[i] = el.join(f)
    return term.join(segs)


def _mutated_files():
    for n, layout in enumerate(LAYOUTS):
        base = _file("P", 12, seed=5, d=Delimiters(*layout)).decode("latin-1")
        base_i = _file("I", 8, seed=6, d=Delimiters(*layout)).decode("latin-1")
        for m in range(MUTATIONS):
            yield f"{n}/{m}", _mutate(base if m % 3 else base_i, random.Random(m)).encode("latin-1")


def _outcome(data: bytes) -> dict:
    """Rejections in full; rows as counts and a digest (patient keys left out: they depend on the secret)."""
    result = parse_bytes(data, "m.837")
    claims = [dataclasses.replace(c, patient_key="") for c in result.claims]
    rows = repr((result.envelopes, claims, result.lines, result.diagnoses)).encode("utf-8")
    return {"rejections": [[r.unit, r.segment_position, r.segment_id, r.reason] for r in result.rejections],
            "rows": [len(result.envelopes), len(result.claims), len(result.lines), len(result.diagnoses),
                     hashlib.sha256(rows).hexdigest()[:16]]}


def test_mutated_sets_read_as_recorded(monkeypatch):
    # Small blocks, so that sets span several blocks of the segment cutter.
    monkeypatch.setattr(segments, "BLOCK_CHARS", 700)
    golden = json.loads(GOLDEN.read_text())
    assert len(golden) == len(LAYOUTS) * MUTATIONS
    rejected = 0
    for name, data in _mutated_files():
        outcome = _outcome(data)
        assert outcome == golden[name], f"mutation {name}"
        rejected += any(r[0] == "transaction" for r in outcome["rejections"])
    assert rejected > 150  # the mutations do reach the claim reader's rejections


def _untyped(second_line_institutional: bool) -> bytes:
    claim = Claim("U-1", Patient("M1", "LAST", "FIRST", date(1950, 1, 2)),
                  [Line("77386", date(2025, 6, 2), ("26",), dx_pointers=(1, 2)), Line("77427", date(2025, 6, 3))],
                  diagnoses=("C61",), facility_code="11")
    text = render_837(Interchange("P", [claim], control=7)).decode("latin-1")
    text = text.replace("*11:B:1*", "*11*")  # CLM05 without its qualifier (CLM05-2)
    if second_line_institutional:
        text = re.sub(r"SV1\*HC:77427\*[^~]*", "SV2*0333*HC:77427*100*UN*1", text)
    return text.encode("latin-1")


def test_claim_without_facility_qualifier_takes_its_type_from_the_lines():
    professional = parse_bytes(_untyped(False), "u.837")
    assert not professional.rejections
    assert [c.transaction_type for c in professional.claims] == ["P"]
    assert [(ln.place_of_service, ln.dx_pointers) for ln in professional.lines] == [("11", "1,2"), ("11", "1")]
    institutional = parse_bytes(_untyped(True), "u.837")
    assert not institutional.rejections
    assert [c.transaction_type for c in institutional.claims] == ["I"]
    assert institutional.envelopes[0].transaction_type == "I"
    # An 837I line has no place of service or diagnosis pointers, the SV1 line included.
    assert [(ln.place_of_service, ln.dx_pointers, ln.revenue_code) for ln in institutional.lines] == \
        [("", "", ""), ("", "", "0333")]


@pytest.mark.parametrize("layout", ["~", "~\n", "~\r\n", "~ \n  ", "~\n\n"])
def test_block_cuts_do_not_change_segments(layout, monkeypatch):
    text = _file("I", 10, seed=2).decode("latin-1").replace("~\n", layout)
    d = iter_interchanges(text).__next__()[1].header.delimiters
    whole = split_segments(text, d)
    monkeypatch.setattr(segments, "BLOCK_CHARS", 97)
    blocks = list(segment_blocks(text, 0, len(text), d))
    assert len(blocks) > 10
    assert [s for _, b in blocks for s in b] == whole


def test_find_end_matches_the_pattern_it_replaces():
    r = random.Random(1)
    pieces = ["~", "~\n", "~ \r\n ", "\n", " ", "IEA*1", "ISA*00", "LISA*", "ISA", "IEA", "IEAX", "*ISA*", "~IEA",
              "~\nISA\n", "~IEA~", "X", "~ ~IEA*", "\nIEA*"]
    for term in ("~", "\n", "'"):
        pattern = re.compile(re.escape(term) + r"[ \t\r\n]*(IEA|ISA)(?=[^A-Za-z0-9 \t\r\n])")
        for _ in range(400):
            text = "".join(r.choice(pieces) for _ in range(r.randrange(1, 12))).replace("~", term)
            pos = r.randrange(len(text))
            m = pattern.search(text, pos)
            assert _find_end(text, pos, term) == (None if m is None else (m.start(), m.group(1), m.end())), (text, pos)


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    GOLDEN.write_text(json.dumps({name: _outcome(data) for name, data in _mutated_files()}, indent=0) + "\n")
    print(f"wrote {GOLDEN}")
