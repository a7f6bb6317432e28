"""Stable row keys (recipes in docs/architecture.md).

Keys are 32 hex digits, so the same interchange loaded twice gets the same keys. Names, member
ids and birth dates never leave the parser: they only feed ``patient_key``, a keyed hash.
"""

from __future__ import annotations

import re
from hashlib import sha256

from claimaudit.keying import keyed_hasher

_ID_NOISE = re.compile(r"[\s\-]+")
_SPACES = re.compile(r"\s+")


def claim_key(sender_id: str, interchange_control: str, group_control: str, transaction_control: str,
              claim_id: str, ordinal: int) -> str:
    """``ordinal`` is the claim's 1-based position in its transaction set (CLM01 may repeat)."""
    text = f"{sender_id}|{interchange_control}|{group_control}|{transaction_control}|{claim_id}|{ordinal}"
    return sha256(text.encode("utf-8")).hexdigest()[:32]


class PatientKeyer:
    """``patient_key`` for one secret: HMAC-SHA256 of member id, last name and birth date.

    The payer id is deliberately left out: a hospital's 837I to a Part A payer id and the
    physician's 837P to a Part B payer id for the same person carry the same member id and must
    link. Member ids lose spaces and hyphens and names are upper-cased with spaces folded, so
    '1EG4-TE5-MK72' / '1EG4TE5MK72' and 'Smith ' / 'SMITH' from two systems link. The first name
    is left out too: systems disagree on nicknames and middle initials far more than on surnames.
    """

    __slots__ = ("_base",)

    def __init__(self, secret: bytes | None = None):
        self._base = keyed_hasher(secret)

    def __call__(self, member_id: str, last: str, birth_date: str) -> str:
        h = self._base.copy()
        h.update(f"{_ID_NOISE.sub('', member_id).upper()}|{_SPACES.sub(' ', last.strip()).upper()}|"
                 f"{birth_date.strip()}".encode("utf-8"))
        return h.hexdigest()[:32]


def patient_key(member_id: str, last: str, birth_date: str) -> str:
    """One key with the secret in force (readers make one ``PatientKeyer`` per file instead)."""
    return PatientKeyer()(member_id, last, birth_date)
