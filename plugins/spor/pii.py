"""Masking personal identity numbers (personnummer, samordningsnummer, reservnummer) in free text.

Everything that leaves the pipeline as text for people (logs, exception messages, alerts, removal
requests, SPOR's answers kept in the state database) goes through :func:`mask_person_ids` first.
"""

from __future__ import annotations

import re

__all__ = ["MASK", "PERSON_ID_PATTERN", "mask_person_ids"]

# Anything that could be a personal identity number in free text: 12 or 10 digits, optionally
# with '-' or '+' before the last four, and reservnummer shapes with a letter in the serial
# (e.g. VGR ``yyyymmdd`` + K/M/X + 3). Digit runs longer than 12 are not matched (not an id).
PERSON_ID_PATTERN = re.compile(
    r"(?<![0-9A-Za-z])"
    r"(?:\d{8}|\d{6})[-+]?(?:\d{4}|[A-Za-z]\d{2}[0-9A-Za-z])"
    r"(?![0-9A-Za-z])"
)
MASK = "############"


def mask_person_ids(text: str) -> str:
    """Replace everything that could be a personal identity number by a mask (for logs)."""
    return PERSON_ID_PATTERN.sub(MASK, text)
