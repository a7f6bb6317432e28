"""Property-style: the rows do not depend on the delimiters or the layout of the file."""

from __future__ import annotations

import dataclasses
import random
from datetime import date
from pathlib import Path

import pytest

from claimaudit.samples.x12_writer import Claim, Delimiters, Interchange, Line, Patient, render_837
from claimaudit.x12.delimiters import read_isa
from claimaudit.x12.parser import parse_bytes
from claimaudit.x12.segments import iter_interchanges

FIXTURES = Path(__file__).parent / "fixtures" / "public"
DELIMITER_SETS = [  # element, component, repetition, terminator, layout after the terminator
    ("*", ":", "^", "~", "\n"), ("|", ">", "^", "~", ""), ("~", "^", "U", "_", "\n"),
    ("*", ":", "^", "\r", ""), ("*", ":", "^", "~", "\r\n"), ("\x1d", "\x1f", "\x1e", "\x1c", ""),
    ("!", "\\", "`", "'", "\r"),
]


def _rows(result):
    strip = lambda r: dataclasses.replace(r, source_file="", file_sha256="") if hasattr(r, "file_sha256") else r  # noqa: E731
    return [strip(r) for r in result.claims], result.lines, result.diagnoses, [strip(e) for e in result.envelopes]


def redelimit(data: bytes, new: tuple[str, str, str, str, str]) -> bytes:
    """Rewrite every interchange with other delimiters and layout, keeping every value."""
    el, co, rep, term, layout = new
    text = data.decode("latin-1").removeprefix("\xef\xbb\xbf")
    out = []
    for _, ic in iter_interchanges(text):
        d = ic.header.delimiters
        for seg in ic.segments:
            if seg.startswith("ISA"):
                f = ic.header.fields[:]
                f[11] = rep if f[11] != "U" and not f[11].isalnum() else f[11]
                f[16] = co
                out.append(el.join(f))
                continue
            elements = seg.split(d.element)
            for value in "".join(elements):
                assert value not in (el, co, rep, term) or value in (d.element, d.component, d.segment), \
                    "new delimiter occurs in the data"
            out.append(el.join(co.join(e.split(d.component)) for e in elements))
    return ((term + layout).join(out) + term + layout).encode("latin-1")


def _indent(data: bytes) -> bytes:
    """Indent every segment and hard-wrap lines at 80 columns, as some exporters do."""
    text = data.decode("latin-1")
    term = text[105]
    segs = text.split(term)
    wrapped = "".join("  " + s.strip("\r\n") + term + "\n" for s in segs if s.strip())
    return "\n".join(wrapped[i:i + 80] for i in range(0, len(wrapped), 80)).encode("latin-1")


def _public():
    names = []
    for p in sorted(FIXTURES.iterdir()):
        if p.name == "LICENSES.md":
            continue
        result = parse_bytes(p.read_bytes(), p.name)
        if not result.rejections:
            names.append(p.name)
    return names


@pytest.mark.parametrize("name", _public())
def test_public_sample_redelimited_gives_identical_rows(name):
    data = (FIXTURES / name).read_bytes()
    want = _rows(parse_bytes(data, name))
    for new in DELIMITER_SETS:
        text = data.decode("latin-1")
        if any(c in text[text.index("ISA") + 106:] for c in new[:4] if c not in text[text.index("ISA") + 3]):
            continue  # that character occurs in the data; it cannot be a delimiter for this file
        again = redelimit(data, new)
        assert read_isa(again.decode("latin-1"), 0).delimiters[:2] == new[:2]
        assert _rows(parse_bytes(again, name)) == want, new
    assert _rows(parse_bytes(_indent(data), name)) == want


def _random_interchange(rng: random.Random, kind: str, delims: Delimiters) -> Interchange:
    claims = []
    for n in range(rng.randint(1, 6)):
        sub = Patient(f"M{rng.randint(1, 10**8)}", "LÉON", "ZOË", date(1940 + n, 1 + n, 10), payer_class=rng.choice(["MB", "MA", "CI"]))
        patient = Patient("", "KID", "ONE", date(2012, 5, 5), subscriber=sub) if rng.random() < 0.3 else sub
        lines = [Line(rng.choice(["77386", "77385", "77427", "77300"]), date(2025, 6, rng.randint(1, 28)),
                      tuple(rng.sample(["26", "TC", "59", "76", "GC"], rng.randint(0, 4))), units=rng.randint(1, 3),
                      charge=rng.randint(1, 90000) / 100, place_of_service=rng.choice(["", "22"]),
                      dx_pointers=(1, 2), rendering_npi=rng.choice(["", "1497758544"]))
                 for _ in range(rng.randint(1, 8))]
        claims.append(Claim(f"R{n}-{rng.randint(1, 999)}", patient, lines, diagnoses=("C61", "Z51.0", "C77.5"),
                            rendering_npi=rng.choice(["", "1234567893"]), frequency_code=rng.choice("178"),
                            original_claim_ref=rng.choice(["", "ORIG9"])))
    return Interchange(kind, claims, control=rng.randint(1, 10**6), delimiters=delims)


@pytest.mark.parametrize("seed", range(12))
def test_writer_specs_under_any_delimiters_give_identical_rows(seed):
    rng = random.Random(seed)
    kind = "PI"[seed % 2]
    base = _random_interchange(random.Random(seed), kind, Delimiters())
    want = _rows(parse_bytes(render_837(base), "w.x12"))
    assert sum(len(c.lines) for c in base.claims) == len(want[1])
    el, co, rep, term, layout = rng.choice(DELIMITER_SETS)
    other = _random_interchange(random.Random(seed), kind, Delimiters(el, co, rep, term, layout))
    assert _rows(parse_bytes(render_837(other), "w.x12")) == want
    assert _rows(parse_bytes(_indent(render_837(base)), "w.x12")) == want


def _everything(result):
    return _rows(result), [(r.unit, r.segment_position, r.segment_id, r.reason) for r in result.rejections]


@pytest.mark.parametrize("block", [1, 7, 64, 1000])
def test_splitting_in_small_blocks_gives_identical_rows_and_rejections(block, monkeypatch):
    # Segments are split block by block (memory stays bounded); block edges must change nothing,
    # including for re-delimited, indented and broken files (positions in rejections too).
    from claimaudit.x12 import segments
    inputs = []
    for p in sorted(FIXTURES.iterdir()):
        if p.name != "LICENSES.md":
            inputs.append(p.read_bytes())
    base = render_837(_random_interchange(random.Random(5), "P", Delimiters()))
    inputs += [base, _indent(base), base.replace(b"~\n", b"~\r\n"), base.replace(b"~\n", b"~"),
               base.replace(b"SE*", b"SE*9"), base[: len(base) // 2]]
    for new in DELIMITER_SETS:
        inputs.append(render_837(_random_interchange(random.Random(5), "I", Delimiters(*new))))
    want = [_everything(parse_bytes(data, "b.x12")) for data in inputs]
    monkeypatch.setattr(segments, "BLOCK_CHARS", block)
    got = [_everything(parse_bytes(data, "b.x12")) for data in inputs]
    for data, w, g in zip(inputs, want, got):
        assert g == w, data[:120]
    assert sum(len(w[0][1]) for w in want) > 50  # the inputs really hold service lines
