"""Delimiters of an interchange, read from its fixed-width ISA segment.

The ISA is the one segment with fixed element widths (106 characters), which is how a reader
learns the separators: element at byte 3, repetition at ISA11, component at ISA16 and the
segment terminator right after it at byte 105. Nothing is hard-coded.
"""

from __future__ import annotations

from typing import NamedTuple

ISA_LENGTH = 106
# Offsets of the 16 element separators inside the ISA (widths 2,10,2,10,2,15,2,15,6,4,1,5,9,1,1,1).
SEPARATOR_OFFSETS = (3, 6, 17, 20, 31, 34, 50, 53, 69, 76, 81, 83, 89, 99, 101, 103)
_NEWLINES = "\r\n"


class Delimiters(NamedTuple):
    element: str
    component: str
    repetition: str  # ISA11; "U" in 00401-style headers means "no repetition separator"
    segment: str


class IsaHeader(NamedTuple):
    delimiters: Delimiters
    fields: list[str]  # ISA00..ISA16 ("ISA" first), untrimmed
    raw_length: int  # characters of the source text the header spans (wrap newlines included)


def read_isa(text: str, start: int) -> IsaHeader | str:
    """Read the ISA starting at ``text[start]``; a reason string when it is not a valid header.

    Newlines inside the first 106 characters are hard-wrap artefacts and are skipped, unless the
    newline sits at byte 105, where it is the segment terminator.
    """
    chars: list[str] = []
    i = start
    n = len(text)
    while i < n and len(chars) < ISA_LENGTH:
        c = text[i]
        if c in _NEWLINES and len(chars) < ISA_LENGTH - 1:
            i += 1
            continue
        chars.append(c)
        i += 1
    if len(chars) < ISA_LENGTH:
        return f"ISA header is cut off: {len(chars)} of {ISA_LENGTH} characters before the end of the file"
    header = "".join(chars)
    element = header[3]
    if element.isalnum() or element in " \r\n":
        return f"ISA header: {element!r} at byte 4 cannot be an element separator"
    for number, off in enumerate(SEPARATOR_OFFSETS):
        if header[off] != element:
            width = off - (SEPARATOR_OFFSETS[number - 1] + 1 if number else 4)
            return (
                f"ISA header is not fixed width: element separator {element!r} expected at byte {off + 1}, "
                f"found {header[off]!r}; ISA{number:02d} must be exactly {width} characters"
            )
    fields = header[:ISA_LENGTH - 1].split(element)
    if len(fields) != 17:
        return f"ISA header has {len(fields) - 1} elements where 16 are required ({element!r} used inside an element)"
    component = header[104]
    terminator = header[105]
    repetition = fields[11]
    if terminator.isalnum() or terminator == " ":
        return f"ISA header: {terminator!r} at byte 106 cannot be a segment terminator"
    if component.isalnum() or component == " " or len({element, component, terminator}) < 3:
        return (
            f"ISA header: separators are not distinct or printable "
            f"(element {element!r}, component {component!r}, terminator {terminator!r})"
        )
    return IsaHeader(Delimiters(element, component, repetition, terminator), fields, i - start)
