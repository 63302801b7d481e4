"""Wall-clock helpers for the generator: the DST nights, random durations, the contract's format.

Times are naive Stockholm wall-clock, as the OPS stores them. The two DST nights matter: a time
in the spring gap (02:00-03:00 does not exist) or the repeated autumn hour is a feature the
manifest declares, so ordinary treatments are kept out of those hours.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from spor.synthetic.catalogue import TIME_FORMAT


def _last_sunday(year: int, month: int) -> date:
    d = date(year, month + 1, 1) - timedelta(days=1)
    return d - timedelta(days=(d.weekday() - 6) % 7)


def dst_dates(year: int) -> tuple[date, date]:
    """(spring, autumn): the last Sundays of March and October."""
    return _last_sunday(year, 3), _last_sunday(year, 10)


def touches_dst_hour(times: Iterable[datetime | None]) -> bool:
    for t in times:
        if t is not None and t.hour == 2 and t.date() in dst_dates(t.year):
            return True
    return False


def wall_clock(t: datetime | None) -> str | None:
    return None if t is None else t.strftime(TIME_FORMAT)


def minutes(rng: random.Random, lo: int, hi: int) -> timedelta:
    return timedelta(minutes=rng.randint(lo, hi))
