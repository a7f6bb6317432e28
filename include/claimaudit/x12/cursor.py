"""What the envelope reader (``parser``) and the claim reader (``transaction``) share.

The cursor over an interchange's segments, element access that tolerates short segments, and the
ids of the envelope segments. Both readers import this module; it imports neither.
"""

from __future__ import annotations

# Segments that belong to the envelopes, never to a transaction set's body.
ENVELOPE_IDS = frozenset({"ST", "GE", "GS", "IEA", "ISA"})


def element(f: list[str], i: int) -> str:
    """Element ``i`` of a split segment; "" when the segment is shorter."""
    return f[i] if len(f) > i else ""


class SegmentCursor:
    """Reads an interchange's segments one by one, with one segment of push-back.

    ``k`` is the index of the next segment (0 = the ISA); ``last`` the last segment read.
    The claim reader iterates ``it`` directly in its hot loops and sets ``k``/``last`` when it stops.
    """

    __slots__ = ("back", "it", "k", "last")

    def __init__(self, segments):
        self.it = iter(segments)
        self.k = 0
        self.back: str | None = None
        self.last = ""

    def next(self) -> str | None:
        seg = self.back
        if seg is not None:
            self.back = None
        else:
            seg = next(self.it, None)
            if seg is None:
                return None
        self.k += 1
        self.last = seg
        return seg

    def push_back(self, seg: str) -> None:
        self.back = seg
        self.k -= 1

    def drain(self) -> int:
        """Read to the end; returns the interchange's segment count."""
        if self.back is not None:
            self.next()
        k = self.k
        last = None
        for last in self.it:
            k += 1
        if last is not None:
            self.last = last
        self.k = k
        return k
