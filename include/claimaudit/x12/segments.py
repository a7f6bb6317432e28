"""Cut decoded text into interchanges and each interchange into segments.

Each ISA brings its own delimiters, so the text is cut interchange by interchange: find an
ISA, read its delimiters, find the matching IEA, split that stretch on its terminator. Newlines
are layout unless the terminator itself is a newline: they are removed (hard-wrapped lines) and
surrounding blanks stripped (indentation), so `~`, `~\\n`, `~\\r\\n` and wrapped files read alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from claimaudit.x12.delimiters import Delimiters, IsaHeader, read_isa

# "ISA" as a segment id: not inside a word, followed by a separator character.
# Layout characters are spelled out: str.isspace() and \s also match \x1c-\x1f, which X12 allows
# as delimiters.
_LAYOUT = " \t\r\n"
_ISA_CANDIDATE = re.compile(r"(?<![A-Za-z0-9])ISA(?=[^A-Za-z0-9 \t\r\n])")


@dataclass(slots=True)
class InterchangeText:
    """One ISA..IEA stretch of the file, or a bad ISA and the text it spans."""

    header: IsaHeader | None  # None when the ISA could not be read
    problem: str  # why the ISA is unreadable or the interchange is incomplete; "" when sound
    segments: list[str]  # segments[0] is the ISA; empty when the header is unreadable
    ended_by: str  # "IEA", "ISA" (next interchange began first) or "EOF"


def _end_pattern(d: Delimiters) -> re.Pattern[str]:
    # The next IEA or ISA that starts a segment (after the terminator and any layout blanks).
    return re.compile(re.escape(d.segment) + r"[ \t\r\n]*(IEA|ISA)(?=[^A-Za-z0-9 \t\r\n])")


def split_segments(chunk: str, d: Delimiters) -> list[str]:
    term = d.segment
    if term not in "\r\n":
        chunk = chunk.replace("\r", "").replace("\n", "")
    segs = chunk.split(term)
    # Stripping each segment costs a third of the split: skip it when there is no layout to strip.
    if " " + term in chunk or term + " " in chunk or "\t" in chunk or "\r" in chunk or "\n" in chunk \
            or chunk[:1] in (" ", "\t"):
        return [s for s in (seg.strip(_LAYOUT) for seg in segs) if s]
    if term + term in chunk or not segs[-1]:
        return [s for s in segs if s]
    return segs


def iter_interchanges(text: str) -> Iterator[tuple[int, InterchangeText]]:
    """Yield (offset of the ISA in ``text``, interchange) in file order; junk between is skipped."""
    first = _next_readable_isa(text, 0)
    if first is not None:
        header = read_isa(text, first)
        if header.delimiters.segment not in "\r\n" and ("\n" in text or "\r" in text):
            # Newlines are layout here: drop them all at once, so that a segment id that was
            # hard-wrapped ("I\nEA") is still found. Offsets then index the layout-free text.
            # The banner before the first ISA keeps its newlines so its last word does not run into "ISA".
            text = text[:first] + text[first:].replace("\r", "").replace("\n", "")
    pos = 0
    n = len(text)
    while pos < n:
        m = _ISA_CANDIDATE.search(text, pos)
        if m is None:
            return
        start = m.start()
        header = read_isa(text, start)
        if isinstance(header, str):
            # Unreadable header: it spans up to the next ISA candidate that reads, or the end.
            nxt = _next_readable_isa(text, m.end())
            yield start, InterchangeText(None, header, [], "EOF" if nxt is None else "ISA")
            if nxt is None:
                return
            pos = nxt
            continue
        d = header.delimiters
        # Search from the ISA's own terminator, so an IEA right after the header is found too.
        body_from = start + header.raw_length - 1
        end_m = _end_pattern(d).search(text, body_from)
        if end_m is not None and end_m.group(1) == "IEA":
            stop = text.find(d.segment, end_m.end())
            stop = n if stop < 0 else stop + 1
            segs = split_segments(text[start:stop], d)
            yield start, InterchangeText(header, "", segs, "IEA")
            pos = stop
        elif end_m is not None:  # another ISA before this one's IEA
            segs = split_segments(text[start:end_m.start() + 1], d)
            yield start, InterchangeText(header, "no IEA before the next ISA", segs, "ISA")
            pos = end_m.start() + 1
        else:
            segs = split_segments(text[start:], d)
            yield start, InterchangeText(header, "the file ends before the IEA", segs, "EOF")
            return


def _next_readable_isa(text: str, pos: int) -> int | None:
    for m in _ISA_CANDIDATE.finditer(text, pos):
        if not isinstance(read_isa(text, m.start()), str):
            return m.start()
    return None
