"""Stable row keys (recipes in docs/architecture.md).

Keys are first 32 hex digits of a sha256, so the same interchange loaded twice gets the same keys
and names, member ids and birth dates never leave the parser: they only feed ``patient_key``.
"""

from __future__ import annotations

from hashlib import sha256


def claim_key(sender_id: str, interchange_control: str, group_control: str, transaction_control: str,
              claim_id: str, ordinal: int) -> str:
    """``ordinal`` is the claim's 1-based position in its transaction set (CLM01 may repeat)."""
    text = f"{sender_id}|{interchange_control}|{group_control}|{transaction_control}|{claim_id}|{ordinal}"
    return sha256(text.encode("utf-8")).hexdigest()[:32]


def patient_key(payer_id: str, member_id: str, last: str, first: str, birth_date: str) -> str:
    """Names are upper-cased and trimmed so that 'Smith' and 'SMITH ' from two systems link."""
    text = f"{member_id.strip()}|{last.strip().upper()}|{first.strip().upper()}|{birth_date.strip()}"  # h12 stand-in: lead's key replaces it
    return sha256(text.encode("utf-8")).hexdigest()[:32]
