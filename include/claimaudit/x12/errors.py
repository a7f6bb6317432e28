"""Why a unit of an 837 file could not be read.

``StructuralError`` is raised inside the reader and caught at the smallest unit that contains it
(transaction set, functional group, interchange); callers of ``parse_bytes`` only ever see
``Rejection`` rows, never this exception.
"""

from __future__ import annotations


class StructuralError(Exception):
    def __init__(self, index: int, segment_id: str, reason: str):
        super().__init__(reason)
        self.index = index  # 0-based index into the interchange's segment list
        self.segment_id = segment_id
        self.reason = reason


# ST01 values seen in misrouted files, named so that the rejection says what the file is.
TRANSACTION_NAMES = {
    "270": "eligibility inquiry",
    "271": "eligibility response",
    "276": "claim status inquiry",
    "277": "claim status response",
    "278": "prior authorization",
    "820": "premium payment",
    "834": "benefit enrollment",
    "835": "remittance advice",
    "997": "functional acknowledgment",
    "999": "implementation acknowledgment",
}
