"""The fast reader gives the careful reader's rows and rejections, and hands over what it does not expect.

Both readers are run on the same transaction sets: with a rewindable cursor ``read_transaction`` tries
the fast reader first, with a plain one it uses the careful reader alone.
"""

from __future__ import annotations

import random
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from claimaudit.samples.x12_writer import Claim, Delimiters, Interchange, Line, Patient, render_837
from claimaudit.x12 import segments
from claimaudit.x12.fast_reader import read_837_fast
from claimaudit.x12.segments import _find_end, iter_interchanges, segment_blocks, split_segments
from claimaudit.x12.transaction import SegmentCursor, TransactionContext, TransactionRows, read_transaction

FIXTURES = Path(__file__).parent / "fixtures" / "public"


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


def _read_sets(text: str, rewindable: bool) -> list:
    """Every transaction set of ``text`` through read_transaction, with the cursor's position after each."""
    out = []
    for _, ic in iter_interchanges(text):
        if ic.header is None:
            continue
        d = ic.header.delimiters
        cur = SegmentCursor.over(ic.text, ic.start, ic.stop, d) if rewindable else SegmentCursor(ic.segments)
        ctx = None
        while (seg := cur.next()) is not None:
            f = seg.split(d.element)
            if f[0] == "GS":
                ctx = TransactionContext("t.837", "0" * 64, ic.header.fields[13], "SENDER", "RECEIVER", None,
                                         f[6] if len(f) > 6 else "", f[8] if len(f) > 8 else "", d)
            elif f[0] == "ST" and ctx is not None:
                out.append((read_transaction(seg, cur, ctx), cur.k, cur.last))
    return out


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


@pytest.mark.parametrize("kind", ["P", "I"])
def test_fast_reader_reads_sound_sets_itself(kind):
    text = _file(kind, 30, seed=3).decode("latin-1")
    (_, ic), = iter_interchanges(text)
    d = ic.header.delimiters
    cur = SegmentCursor.over(ic.text, ic.start, ic.stop, d)
    cur.next(), cur.next()  # ISA, GS
    st = cur.next()
    ctx = TransactionContext("t.837", "0" * 64, "4", "SENDER", "RECEIVER", None, "4", "005010X222A1", d)
    rows = read_837_fast(cur, cur.k - 1, st.split(d.element)[2], ctx)
    assert isinstance(rows, TransactionRows)  # no hand-over on a sound set
    assert len(rows.claims) == 30 and rows.lines and rows.envelope.transaction_type == kind
    assert _read_sets(text, True) == _read_sets(text, False)


@pytest.mark.parametrize("layout", [("*", ":", "^", "~", "\n"), ("|", ">", "^", "~", ""), ("*", ":", "^", "~", "\r\n"),
                                    ("*", ":", "^", "\n", ""), ("\x1d", "\x1f", "\x1e", "\x1c", "")])
def test_fast_and_careful_readers_agree_on_mutated_sets(layout, monkeypatch):
    # Small blocks, so that sets span several blocks and hand-overs rewind across block cuts.
    monkeypatch.setattr(segments, "BLOCK_CHARS", 700)
    base = _file("P", 12, seed=5, d=Delimiters(*layout)).decode("latin-1")
    base_i = _file("I", 8, seed=6, d=Delimiters(*layout)).decode("latin-1")
    handed_over = 0
    for m in range(120):
        r = random.Random(m)
        text = _mutate(base if m % 3 else base_i, r)
        fast, careful = _read_sets(text, True), _read_sets(text, False)
        assert fast == careful, f"mutation {m}"
        handed_over += sum(not isinstance(out, TransactionRows) for out, _, _ in careful)
    assert handed_over > 30  # the mutations do reach the careful reader's rejections


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*")), ids=lambda p: p.name)
def test_fast_and_careful_readers_agree_on_public_samples(path):
    text = path.read_bytes().decode("latin-1").removeprefix("\xef\xbb\xbf")
    assert _read_sets(text, True) == _read_sets(text, False)


def test_rewind_gives_the_same_segments(monkeypatch):
    monkeypatch.setattr(segments, "BLOCK_CHARS", 300)
    text = _file("P", 6, seed=9).decode("latin-1")
    (_, ic), = iter_interchanges(text)
    d = ic.header.delimiters
    every = list(ic.segments)
    assert len(list(segment_blocks(ic.text, ic.start, ic.stop, d))) > 5
    cur = SegmentCursor.over(ic.text, ic.start, ic.stop, d)
    for k in list(range(1, len(every), 7)) + [len(every) - 1, 1]:
        while cur.k <= k + 3 and cur.next() is not None:
            pass
        cur.rewind(k, every[k - 1])
        assert cur.k == k and cur.last == every[k - 1]
        assert [cur.next() for _ in range(len(every) - k)] == every[k:]
        assert cur.next() is None


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
