"""X12 date and number text to Python values, tolerant: bad text gives None, never an exception."""

from __future__ import annotations

from datetime import date


def d8(text: str) -> date | None:
    """CCYYMMDD -> date; None unless it is exactly eight digits naming a real day."""
    if len(text) != 8 or not (text.isascii() and text.isdigit()):
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def period(text: str) -> tuple[date | None, date | None]:
    """A D8 date or an RD8 range ``CCYYMMDD-CCYYMMDD`` -> (from, to)."""
    if "-" in text:
        a, _, b = text.partition("-")
        return d8(a), d8(b)
    day = d8(text)
    return day, day


def first_day(text: str) -> date | None:
    """The date of service a DTP*472 names: the D8 date, or the first day of an RD8 range."""
    if "-" in text:
        return d8(text.partition("-")[0])
    return d8(text)


def yymmdd(text: str) -> date | None:
    """ISA09 (YYMMDD). Two-digit years: 00-79 are 20xx, 80-99 are 19xx."""
    if len(text) != 6 or not (text.isascii() and text.isdigit()):
        return None
    yy = int(text[:2])
    try:
        return date((2000 if yy < 80 else 1900) + yy, int(text[2:4]), int(text[4:]))
    except ValueError:
        return None


def number(text: str) -> float | None:
    """Money or quantity; None when empty or not a number (a rule sees the missing value)."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None
