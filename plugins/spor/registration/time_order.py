"""The repeated-hour order rule (ADR 0001): which times of one registration, recorded inside the
repeated autumn hour, are read as the hour's second occurrence.

The OPS records wall-clock times without an offset; on the last Sunday of October 02:00–02:59
happens twice. By default such a time is the first occurrence (``+02:00``). The times of one
registration have an expected order (docs/rules.md D1, D2, D3, D21), listed in ``EXPECTED_ORDER``.
Going through the variables in that order, a time in the repeated hour is read as the second
occurrence (``+01:00``) exactly when

    first(t) < P <= second(t)

where ``P`` is the latest instant, as already read, of the recorded variables that must not come
after it (its predecessors in the expected order, directly or through others). That is: read as
the first occurrence it would be earlier than something that comes before it, and read as the
second it is not. Otherwise it stays the first occurrence, and an order that no reading can
mend is reported by the quality gate, not repaired.

D2 (operation start not before the request) binds elective operations only, so the request time
is a predecessor of the operation start only when the operation is not acute, as in the gate.
The builder (``spor.registration.reading``) and the gate's frame (``spor.quality.frame``) both call
``second_occurrences``; that is how the gate compares the instants the message carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from spor.registration.localtime import WallClockError, wall_clock_instants

__all__ = ["EXPECTED_ORDER", "TIME_COLUMNS_IN_ORDER", "is_acute", "readings_of_row", "second_occurrences"]

#: (earlier, later, rule): the later variable's time must not be before the earlier one's.
EXPECTED_ORDER: tuple[tuple[str, str, str], ...] = (
    ("v310", "v410", "D21"), ("v410", "v415", "D21"), ("v415", "v420", "D21"),
    ("v420", "v425", "D21"), ("v425", "v430", "D21"), ("v310", "v435", "D21"),
    ("v540", "v565", "D21"), ("v565", "v570", "D1"), ("v565", "v567", "D3"),
    ("v570", "v585", "D21"), ("v585", "v800", "D21"),
    ("v310", "v565", "D2"),  # elective operations only
)
#: Every time variable of a registration, each after all of its predecessors.
TIME_COLUMNS_IN_ORDER: tuple[str, ...] = (
    "v310", "v410", "v415", "v420", "v425", "v430", "v435",
    "v540", "v565", "v567", "v570", "v585", "v800",
)

Reading = tuple[datetime, "datetime | None"]  # (first occurrence, second occurrence or None)


@lru_cache(maxsize=2)
def _predecessors(elective: bool) -> dict[str, frozenset[str]]:
    """Column → every column that must not come after it (transitively)."""
    direct: dict[str, set[str]] = {c: set() for c in TIME_COLUMNS_IN_ORDER}
    for earlier, later, rule in EXPECTED_ORDER:
        if rule == "D2" and not elective:
            continue
        direct[later].add(earlier)
    closed: dict[str, frozenset[str]] = {}
    for column in TIME_COLUMNS_IN_ORDER:  # predecessors come first in this order
        found = set(direct[column])
        for p in direct[column]:
            found |= closed[p]
        closed[column] = frozenset(found)
    return closed


def second_occurrences(readings: Mapping[str, Reading], *, elective: bool) -> set[str]:
    """The columns whose time is read as the repeated hour's second occurrence.

    ``readings``: column → (UTC instant as first occurrence, UTC instant as second occurrence or
    None when the time is not in the repeated hour), for the recorded, readable times only.
    """
    if not any(second is not None for _, second in readings.values()):
        return set()
    predecessors = _predecessors(elective)
    read: dict[str, datetime] = {}
    out: set[str] = set()
    for column in TIME_COLUMNS_IN_ORDER:
        if column not in readings:
            continue
        first, second = readings[column]
        before = [read[p] for p in predecessors[column] if p in read]
        latest = max(before) if before else None
        if second is not None and latest is not None and first < latest <= second:
            read[column] = second
            out.add(column)
        else:
            read[column] = first
    return out


def is_acute(value: Any) -> bool:
    """The source contract's akut flag is 1 (or True), read as the gate reads it
    (``spor.quality.frame``: anything else counts as elective for D2)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value) == 1.0
    return isinstance(value, str) and value.strip() == "1"


def _may_be_in_repeated_hour(value: Any) -> bool:
    """Cheap pre-check: 02:xx on 25–31 October (the repeated hour is the last Sunday's 02:xx)."""
    if isinstance(value, str):
        v = value.strip()
        if len(v) >= 13 and v[4] == "-" and v[7] == "-" and v[10] in " T" and (len(v) == 19 or v[19:20] == "."):
            return v[5:7] == "10" and v[8:10] >= "25" and v[11:13] == "02"
        return True  # an unusual shape: let the exact path decide
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.month == 10 and value.day >= 25 and value.hour == 2
    return False  # aware instants are never ambiguous; other types are left to R13


def readings_of_row(row: Mapping[str, Any]) -> dict[str, Reading]:
    """Readings of a spor_behandling row's recorded, readable times (others are left to R13),
    or none at all when no time can be in the repeated hour (the rule has nothing to decide)."""
    from spor.registration.converters import is_missing

    if not any(_may_be_in_repeated_hour(row.get(c)) for c in TIME_COLUMNS_IN_ORDER if not is_missing(row.get(c))):
        return {}
    out: dict[str, Reading] = {}
    for column in TIME_COLUMNS_IN_ORDER:
        value = row.get(column)
        if is_missing(value):
            continue
        try:
            out[column] = wall_clock_instants(value)
        except WallClockError:
            continue
    return out
