"""NPI check digits: the Luhn algorithm over the 9 leading digits prefixed with 80840.

The prefix is the ISO card-issuer id of US health (CMS, "NPI check digit" spec); adding it
shifts the Luhn sum by the constant 24, which is why NPIs fail a plain Luhn check.
"""

from __future__ import annotations


def _luhn_sum(digits: str) -> int:
    total = 0
    # Double every second digit counting from the right of the payload (the check digit is absent).
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total


def npi_check_digit(first9: str) -> str:
    """The 10th digit that makes ``first9`` a valid NPI."""
    if len(first9) != 9 or not first9.isdigit():
        raise ValueError(f"an NPI payload is 9 digits, got {first9!r}")
    return str((10 - _luhn_sum("80840" + first9) % 10) % 10)


def make_npi(first9: str) -> str:
    return first9 + npi_check_digit(first9)


def is_valid_npi(npi: str) -> bool:
    return len(npi) == 10 and npi.isdigit() and npi[0] in "12" and npi_check_digit(npi[:9]) == npi[9]
