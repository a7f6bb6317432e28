"""Long lists cut into slices: rows per executemany, keys per ``IN (...)`` (bounds statement size)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence


def chunks(seq: Sequence, size: int) -> Iterator[Sequence]:
    for i in range(0, len(seq), size):
        yield seq[i:i + size]
