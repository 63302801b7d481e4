"""One recorded OPS value as the text its SPOR variable carries, or the reason it cannot be.

A variable's type in the variable list (``data/variables.csv``) names its converter here:
times become ISO 8601 with the Stockholm offset in force (R13), yes/no values become
``true``/``false``, decimals lose trailing zeros, HSA-IDs are checked (R15). A value that does
not fit raises ``ValueRejected`` with the rule it breaks; the reader of a treatment turns that
into a ``BuildError`` naming the column. ``is_missing`` says what counts as not recorded (R12).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from spor.registration.localtime import WallClockError, to_iso, to_iso_date

__all__ = ["CONVERTERS", "HSA_MAX", "HSA_PATTERN", "ValueRejected", "as_text", "hsa_id", "is_missing",
           "normalise_kva"]

#: R15 in the form we accept: two letters, digits, '-', then any non-space characters.
HSA_PATTERN = re.compile(r"^[A-Za-z]{2}[0-9]+-\S*$")
HSA_MAX = 64
_TRUE = {"1", "true", "t", "ja", "j", "yes", "y"}
_FALSE = {"0", "false", "f", "nej", "n", "no"}


class ValueRejected(Exception):
    """A value that does not fit its variable; the caller names the column in a BuildError."""

    def __init__(self, rule: str, reason: str):
        self.rule, self.reason = rule, reason


def is_missing(value: Any) -> bool:
    """Not recorded: None, NaN, NaT, pandas NA, '' or only blanks (R12)."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, float):
        return value != value
    if type(value).__name__ in ("NaTType", "NAType"):
        return True
    if isinstance(value, (int, datetime)):
        return False
    try:
        return bool(value != value)
    except (TypeError, ValueError):
        return False


def as_text(value: Any) -> str:
    """The value as stripped text; a whole float from a numeric column loses its '.0'."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 3000001.0 from a numeric column → '3000001'
    return str(value).strip()


def normalise_kva(code: Any) -> str:
    """Strip and upper-case a KVÅ code (D17); does not check it."""
    return as_text(code).upper()


def _datetime(value: Any) -> str:
    try:
        return to_iso(value)
    except WallClockError as exc:
        raise ValueRejected("R13", str(exc)) from None


def _date(value: Any) -> str:
    try:
        return to_iso_date(value)
    except WallClockError as exc:
        raise ValueRejected("R13", str(exc)) from None


def _boolean(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = as_text(value).lower()
    if text in _TRUE:
        return "true"
    if text in _FALSE:
        return "false"
    raise ValueRejected("type", "not a yes/no value")


def _decimal(value: Any) -> str:
    try:
        number = float(as_text(value).replace(",", ".")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ValueRejected("type", "not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueRejected("type", "not a number")
    return f"{number:.2f}".rstrip("0").rstrip(".")


def hsa_id(value: Any) -> str:
    """An HSA-ID (SystemId, operator) checked against R15."""
    text = as_text(value)
    if len(text) > HSA_MAX or not HSA_PATTERN.match(text):
        raise ValueRejected("R15", f"not an HSA-ID (two letters, digits, '-', rest; at most {HSA_MAX} characters)")
    return text


#: variable type in variables.csv → converter
CONVERTERS: dict[str, Callable[[Any], str]] = {
    "datetime": _datetime,
    "date": _date,
    "boolean": _boolean,
    "decimal": _decimal,
    "hsaid": hsa_id,
    "code": as_text,
    "text": as_text,
}
