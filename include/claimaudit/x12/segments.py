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
from itertools import chain

from claimaudit.x12.delimiters import Delimiters, IsaHeader, read_isa

# "ISA" as a segment id: not inside a word, followed by a separator character.
# Layout characters are spelled out: str.isspace() and \s also match \x1c-\x1f, which X12 allows
# as delimiters.
_LAYOUT = " \t\r\n"
_ISA_CANDIDATE = re.compile(r"(?<![A-Za-z0-9])ISA(?=[^A-Za-z0-9 \t\r\n])")
# Segments are split about this many characters at a time, so that memory holds one block of
# segment strings, not the whole file's (a 100,000-line file has over 600,000 segments).
BLOCK_CHARS = 1 << 20


@dataclass(slots=True)
class InterchangeText:
    """One ISA..IEA stretch of the file, or a bad ISA and the text it spans."""

    header: IsaHeader | None  # None when the ISA could not be read
    problem: str  # why the ISA is unreadable or the interchange is incomplete; "" when sound
    ended_by: str  # "IEA", "ISA" (next interchange began first) or "EOF"
    text: str = ""  # the (layout-normalised) file text and the stretch [start, stop) of this interchange
    start: int = 0
    stop: int = 0

    @property
    def segments(self) -> Iterator[str]:
        """A fresh iterator over the segments (the ISA first), split block by block; empty when unreadable."""
        if self.header is None:
            return iter(())
        return iter_segments(self.text, self.start, self.stop, self.header.delimiters)


def iter_segments(text: str, start: int, stop: int, d: Delimiters) -> Iterator[str]:
    """The segments of ``text[start:stop]``, as ``split_segments`` gives them, without holding them all."""
    return chain.from_iterable(segs for _, segs in segment_blocks(text, start, stop, d))


def segment_blocks(text: str, start: int, stop: int, d: Delimiters) -> Iterator[tuple[int, list[str]]]:
    """(offset in ``text``, segments) of successive blocks of about ``BLOCK_CHARS`` characters, each
    cut after a terminator so that no segment straddles two blocks."""
    term = d.segment
    pos = start
    while pos < stop:
        end = pos + BLOCK_CHARS
        if end >= stop:
            end = stop
        else:
            # Cut after a terminator, so that no segment straddles two blocks.
            cut = text.rfind(term, pos, end)
            if cut < 0:
                cut = text.find(term, end, stop)
            end = stop if cut < 0 else cut + 1
            if term not in _LAYOUT:
                # ... and after the layout that follows it, so that the next block does not start
                # with a newline (which would send it off split_segments' fast path).
                while end < stop and text[end] in "\r\n":
                    end += 1
        yield pos, split_segments(text[pos:end], d)
        pos = end


_END_ID = re.compile(r"I(?:EA|SA)(?=[^A-Za-z0-9 \t\r\n])")


def _find_end(text: str, pos: int, term: str) -> tuple[int, str, int] | None:
    """The next IEA or ISA at or after ``pos`` that starts a segment (after the terminator and any layout
    blanks): (offset of that terminator, "IEA" or "ISA", offset after the id); None when there is none.

    The same as searching ``term[ \t\r\n]*(IEA|ISA)(?=...)``, but a scan for the ids themselves is three
    times faster than trying that pattern at every terminator of a large file."""
    for m in _END_ID.finditer(text, pos + 1):
        p = m.start()
        j = p
        while j > pos and text[j - 1] in _LAYOUT:
            j -= 1
        # The leftmost terminator that only layout separates from the id.
        q = max(j - 1, pos)
        while q < p and text[q] != term:
            q += 1
        if q < p:
            return q, m.group(), m.end()
    return None


def split_segments(chunk: str, d: Delimiters) -> list[str]:
    term = d.segment
    if term not in "\r\n" and "\r" not in chunk:
        # Fast path for the usual "~\\n" layout: split on terminator and newline together (no copy),
        # when every terminator and every newline belong to such a pair and no blanks need stripping.
        segs = chunk.split(term + "\n")
        pairs = len(segs) - 1
        last = segs[-1]
        if pairs and chunk.count("\n") == pairs and chunk.count(term) == pairs + (last[-1:] == term) \
                and " " + term not in chunk and "\n " not in chunk and "\t" not in chunk \
                and chunk[:1] not in (" ", "\t"):
            if last[-1:] == term:
                segs[-1] = last = last[:-1]
            if not last:  # the chunk ended with the terminator and its newline
                segs.pop()
                last = segs[-1]
            if last.endswith(" ") or "" in segs:
                return [s for s in (seg.strip(_LAYOUT) for seg in segs) if s]
            return segs
    if term not in "\r\n":
        chunk = chunk.replace("\r", "").replace("\n", "")
    segs = chunk.split(term)
    # Stripping each segment costs a third of the split: skip it when there is no layout to strip.
    if " " + term in chunk or term + " " in chunk or "\t" in chunk or "\r" in chunk or "\n" in chunk \
            or chunk[:1] in (" ", "\t"):
        return [s for s in (seg.strip(_LAYOUT) for seg in segs) if s]
    if not segs[-1]:
        segs.pop()
    if term + term in chunk or (segs and not segs[0]):
        return [s for s in segs if s]
    return segs


def iter_interchanges(text: str) -> Iterator[tuple[int, InterchangeText]]:
    """Yield (offset of the ISA in ``text``, interchange) in file order; junk between is skipped."""
    first = _next_readable_isa(text, 0)
    if first is not None:
        header = read_isa(text, first)
        if header.delimiters.segment not in "\r\n" and ("\n" in text or "\r" in text) \
                and not _newlines_follow_terminators(text, first, header.delimiters.segment):
            # Newlines are layout here: drop them all at once, so that a segment id that was
            # hard-wrapped ("I\nEA") is still found. Offsets then index the layout-free text.
            # The banner before the first ISA keeps its newlines so its last word does not run into "ISA".
            # (When every newline directly follows a terminator, no id can be wrapped: each block
            # drops its own newlines in split_segments, and the file text is not copied.)
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
            yield start, InterchangeText(None, header, "EOF" if nxt is None else "ISA")
            if nxt is None:
                return
            pos = nxt
            continue
        d = header.delimiters
        # Search from the ISA's own terminator, so an IEA right after the header is found too.
        body_from = start + header.raw_length - 1
        end = _find_end(text, body_from, d.segment)
        if end is not None and end[1] == "IEA":
            stop = text.find(d.segment, end[2])
            stop = n if stop < 0 else stop + 1
            yield start, InterchangeText(header, "", "IEA", text, start, stop)
            pos = stop
        elif end is not None:  # another ISA before this one's IEA
            yield start, InterchangeText(header, "no IEA before the next ISA", "ISA", text, start, end[0] + 1)
            pos = end[0] + 1
        else:
            yield start, InterchangeText(header, "the file ends before the IEA", "EOF", text, start, n)
            return


def _next_readable_isa(text: str, pos: int) -> int | None:
    for m in _ISA_CANDIDATE.finditer(text, pos):
        if not isinstance(read_isa(text, m.start()), str):
            return m.start()
    return None


def _newlines_follow_terminators(text: str, first: int, term: str) -> bool:
    """True when every CR and LF after ``first`` sits right after a terminator (``~\\n``, ``~\\r\\n``)."""
    if text.find("\r", first) < 0:  # the common case, LF only: two counts
        return text.count("\n", first) == text.count(term + "\n", first)
    lf = text.count("\n", first)
    cr = text.count("\r", first)
    return (lf == text.count(term + "\n", first) + text.count(term + "\r\n", first)
            and cr == text.count(term + "\r", first))
