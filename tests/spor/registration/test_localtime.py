"""R13: OPS wall-clock times → ISO 8601 with the Europe/Stockholm offset in force (ADR 0001).

The oracle for summer time is the EU rule computed here by hand (last Sunday of March 01:00 UTC
to last Sunday of October 01:00 UTC), not zoneinfo, so the tests do not just repeat the code.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spor.registration.localtime import WallClockError, to_iso, to_iso_date, to_iso_many

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
UTC = UTC


def last_sunday(year: int, month: int) -> date:
    d = date(year, month, 31)
    return d - timedelta(days=(d.weekday() + 1) % 7)


def summer_starts_utc(year: int) -> datetime:
    return datetime.combine(last_sunday(year, 3), datetime.min.time(), UTC) + timedelta(hours=1)


def summer_ends_utc(year: int) -> datetime:
    return datetime.combine(last_sunday(year, 10), datetime.min.time(), UTC) + timedelta(hours=1)


def expected_offset(instant: datetime) -> timedelta:
    summer = summer_starts_utc(instant.year) <= instant < summer_ends_utc(instant.year)
    return timedelta(hours=2 if summer else 1)


instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC)
)
# wall-clock times concentrated on the DST nights, plus the whole range
dst_nights = st.integers(2020, 2030).flatmap(
    lambda y: st.sampled_from([last_sunday(y, 3), last_sunday(y, 10)]).flatmap(
        lambda d: st.integers(0, 4 * 3600 - 1).map(lambda s: datetime.combine(d, datetime.min.time()) + timedelta(seconds=s))
    )
)
walls = st.one_of(dst_nights, st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31)).map(
    lambda d: d.replace(microsecond=0)))


def in_spring_gap(wall: datetime) -> bool:
    return wall.date() == last_sunday(wall.year, 3) and wall.hour == 2


def in_repeated_hour(wall: datetime) -> bool:
    return wall.date() == last_sunday(wall.year, 10) and wall.hour == 2


@settings(max_examples=1000)
@given(instants)
def test_r13_instant_gets_offset_in_force(instant: datetime) -> None:
    text = to_iso(instant)
    assert ISO.match(text)
    back = datetime.fromisoformat(text)
    assert back == instant  # the same instant
    assert back.utcoffset() == expected_offset(instant)


@settings(max_examples=1000)
@given(walls)
def test_r13_wall_clock_keeps_its_time_and_gets_the_right_offset(wall: datetime) -> None:
    text = to_iso(wall.strftime("%Y-%m-%d %H:%M:%S"))
    assert ISO.match(text)
    back = datetime.fromisoformat(text)
    assert back.utcoffset() == expected_offset(back.astimezone(UTC))  # offset in force at that instant
    if in_spring_gap(wall):
        # ADR 0001: a time in the spring gap is read with the winter offset → one hour later
        assert back.replace(tzinfo=None) == wall + timedelta(hours=1)
        assert text.endswith("+02:00")
    else:
        assert back.replace(tzinfo=None) == wall  # the wall clock is kept as recorded
    if in_repeated_hour(wall):
        assert text.endswith("+02:00")  # ADR 0001: first occurrence (summer time)


@settings(max_examples=300)
@given(walls)
def test_r13_all_input_kinds_agree(wall: datetime) -> None:
    text = wall.strftime("%Y-%m-%d %H:%M:%S")
    expected = to_iso(text)
    assert to_iso(wall) == expected
    assert to_iso(pd.Timestamp(wall)) == expected
    assert to_iso(text.replace(" ", "T")) == expected
    assert to_iso(datetime.fromisoformat(expected)) == expected  # an aware value is an instant
    assert to_iso(expected) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(walls.map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S")), walls, st.none(),
                          st.just(""), st.just(float("nan")), instants), max_size=40))
def test_r13_vectorised_path_equals_scalar_path(values: list) -> None:
    expected = [None if v is None or v == "" or (isinstance(v, float)) else to_iso(v) for v in values]
    assert to_iso_many(values) == expected
    assert to_iso_many(pd.Series(values, dtype=object)) == expected


@settings(max_examples=500)
@given(walls, st.integers(1, 6 * 3600))
def test_r13_order_of_wall_clock_times_is_kept_outside_the_repeated_hour(wall: datetime, seconds: int) -> None:
    later = wall + timedelta(seconds=seconds)
    if in_repeated_hour(wall) or in_repeated_hour(later):
        return
    first, second = datetime.fromisoformat(to_iso(wall)), datetime.fromisoformat(to_iso(later))
    if in_spring_gap(wall) and not in_spring_gap(later):
        # ADR 0001: 02:30 in the gap is the same instant as 03:30, so order holds from there on
        assert to_iso(wall) == to_iso(wall + timedelta(hours=1))
        if later >= wall + timedelta(hours=1):
            assert first <= second
    else:
        assert first < second


@pytest.mark.parametrize(
    ("wall", "iso"),
    [
        ("2022-04-13 13:54:22", "2022-04-13T13:54:22+02:00"),  # guide example moment in summer time
        ("2024-01-15 10:00:00", "2024-01-15T10:00:00+01:00"),
        ("2024-03-31 01:59:59", "2024-03-31T01:59:59+01:00"),
        ("2024-03-31 02:00:00", "2024-03-31T03:00:00+02:00"),  # spring gap → +1 h
        ("2024-03-31 02:30:00", "2024-03-31T03:30:00+02:00"),
        ("2024-03-31 03:00:00", "2024-03-31T03:00:00+02:00"),
        ("2024-10-27 01:59:59", "2024-10-27T01:59:59+02:00"),
        ("2024-10-27 02:30:00", "2024-10-27T02:30:00+02:00"),  # repeated hour → first occurrence
        ("2024-10-27 03:00:00", "2024-10-27T03:00:00+01:00"),
        ("2025-03-30 02:15:00", "2025-03-30T03:15:00+02:00"),
        ("2025-10-26 02:15:00", "2025-10-26T02:15:00+02:00"),
    ],
)
def test_r13_known_dst_examples(wall: str, iso: str) -> None:
    assert to_iso(wall) == iso
    assert to_iso_many([wall]) == [iso]


def test_r13_second_occurrence_can_be_given_as_an_instant() -> None:
    assert to_iso(datetime(2024, 10, 27, 1, 30, tzinfo=UTC)) == "2024-10-27T02:30:00+01:00"
    assert to_iso("2024-10-27T02:30:00+01:00") == "2024-10-27T02:30:00+01:00"


def test_r13_fractions_of_a_second_are_truncated() -> None:
    assert to_iso(pd.Timestamp("2024-07-01 12:00:00.999")) == "2024-07-01T12:00:00+02:00"


@pytest.mark.parametrize("bad", ["2024-13-01 10:00:00", "2024-02-30 10:00:00", "yesterday", "12:00", 5, date(2024, 1, 1)])
def test_r13_not_a_datetime_is_an_error_without_the_value(bad: object) -> None:
    with pytest.raises(WallClockError) as info:
        to_iso(bad)
    assert str(bad) not in str(info.value)
    with pytest.raises(WallClockError):
        to_iso_many(["2024-01-01 10:00:00", bad])


def test_r13_dates() -> None:
    assert to_iso_date("2022-04-13") == "2022-04-13"
    assert to_iso_date(datetime(2022, 4, 13, 23, 59)) == "2022-04-13"
    with pytest.raises(WallClockError):
        to_iso_date("13/4/2022")
