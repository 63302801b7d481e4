"""Swedish personal identity numbers (personnummer, samordningsnummer) for SPOR (R14, D15).

SPOR wants 12 digits ``YYYYMMDDNNNC`` checked against the Tax Agency's rules: a real date (day
minus 60 for a samordningsnummer), a serial other than 000 and a Luhn check digit over the last
10 digits. We validate ourselves because python-stdnum rejects samordningsnummer
(docs/notes.md#stdnum-samordningsnummer); the PyPI package ``personnummer`` is used only as a cross-check in tests.

Nothing here ever puts the value itself into a reason or an exception message; masking free text
is :mod:`spor.pii`.
"""

from __future__ import annotations

import re
from datetime import date

__all__ = [
    "is_samordningsnummer",
    "luhn_check_digit",
    "validate_person_id",
]


_TWELVE_DIGITS = re.compile(r"^\d{12}$")
_CENTURIES = ("18", "19", "20")


def luhn_check_digit(nine_digits: str) -> str:
    """Check digit for YYMMDDNNN: Luhn with weights 2,1,2,... from the left."""
    if len(nine_digits) != 9 or not nine_digits.isdigit():
        raise ValueError("luhn_check_digit needs exactly 9 digits")
    total = 0
    for i, ch in enumerate(nine_digits):
        v = int(ch) * (2 if i % 2 == 0 else 1)
        total += v - 9 if v > 9 else v
    return str((10 - total % 10) % 10)


def _looks_like_reservnummer(value: str) -> bool:
    # Local temporary ids have no national format: letters in them, or Region Stockholm's
    # 99yyyy... form (century '99' does not exist in a real 12-digit number).
    if any(ch.isalpha() for ch in value):
        return True
    return len(value) == 12 and value.isdigit() and value.startswith("99")


def validate_person_id(value: str) -> str | None:
    """None when ``value`` is a valid 12-digit personnummer or samordningsnummer.

    Otherwise a short reason without the value: 'reservnummer', 'not 12 digits',
    'invalid century', 'invalid date', 'invalid serial', 'check digit'.
    """
    if not isinstance(value, str):
        return "not 12 digits"
    if _looks_like_reservnummer(value):
        return "reservnummer"
    if not _TWELVE_DIGITS.match(value):
        return "not 12 digits"
    if value[:2] not in _CENTURIES:
        return "invalid century"
    year, month, day = int(value[:4]), int(value[4:6]), int(value[6:8])
    if day > 60:  # samordningsnummer: day of birth + 60
        day -= 60
    try:
        date(year, month, day)
    except ValueError:
        return "invalid date"
    if value[8:11] == "000":
        return "invalid serial"
    if luhn_check_digit(value[2:11]) != value[11]:
        return "check digit"
    return None


def is_samordningsnummer(value: str) -> bool:
    """True for a *valid* samordningsnummer (day of birth + 60)."""
    return validate_person_id(value) is None and int(value[6:8]) > 60
