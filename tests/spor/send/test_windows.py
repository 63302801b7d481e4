"""Sending windows (R19, issue 4 point 2, ADR 0002): blackout 05:15-06:00 for every run, the
nightly deadline 05:00 after the run's start, Europe/Stockholm including both DST nights."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from spor.clock import STOCKHOLM
from spor.lifecycle import WaitReason
from spor.send.windows import SendingWindow


def at(y, mo, d, h, mi=0, s=0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=STOCKHOLM)


NIGHTLY = SendingWindow.for_run(has_deadline=True, started_at=at(2025, 3, 3, 1, 0))
MANUAL = SendingWindow.for_run(has_deadline=False, started_at=None)


@pytest.mark.parametrize("hh,mm,nightly,manual", [
    (4, 59, None, None),
    (5, 0, WaitReason.DEADLINE, None),
    (5, 14, WaitReason.DEADLINE, None),
    (5, 15, WaitReason.BLACKOUT, WaitReason.BLACKOUT),
    (5, 59, WaitReason.BLACKOUT, WaitReason.BLACKOUT),
    (6, 0, WaitReason.DEADLINE, None),
])
def test_r19_clock_positions(hh, mm, nightly, manual):
    now = at(2025, 3, 3, hh, mm)
    assert NIGHTLY.reason_blocked(now) == nightly
    assert MANUAL.reason_blocked(now) == manual
    assert NIGHTLY.allows(now) is (nightly is None)


def test_r19_blackout_edges_to_the_second():
    assert MANUAL.allows(at(2025, 3, 3, 5, 14, 59))
    assert not MANUAL.allows(at(2025, 3, 3, 5, 15, 0))
    assert not MANUAL.allows(at(2025, 3, 3, 5, 59, 59))
    assert MANUAL.allows(at(2025, 3, 3, 6, 0, 0))


def test_r19_closes_at_is_deadline_for_nightly_and_blackout_for_manual():
    now = at(2025, 3, 3, 4, 0)
    assert NIGHTLY.closes_at(now) == at(2025, 3, 3, 5, 0)
    assert MANUAL.closes_at(now) == at(2025, 3, 3, 5, 15)
    assert MANUAL.closes_at(at(2025, 3, 3, 7, 0)) == at(2025, 3, 4, 5, 15)
    blocked = at(2025, 3, 3, 5, 20)
    assert NIGHTLY.closes_at(blocked) == blocked and MANUAL.closes_at(blocked) == blocked


def test_nightly_run_started_in_the_evening_may_send_until_the_next_morning():
    run = SendingWindow.for_run(has_deadline=True, started_at=at(2025, 3, 2, 22, 0))
    assert run.allows(at(2025, 3, 2, 23, 30)) and run.allows(at(2025, 3, 3, 4, 59))
    assert run.deadline_at == at(2025, 3, 3, 5, 0)


def test_nightly_run_started_in_the_blackout_waits_until_06_then_sends_until_next_deadline():
    run = SendingWindow.for_run(has_deadline=True, started_at=at(2025, 3, 3, 5, 30))
    assert run.reason_blocked(at(2025, 3, 3, 5, 30)) == WaitReason.BLACKOUT
    assert run.next_open(at(2025, 3, 3, 5, 30)) == at(2025, 3, 3, 6, 0)
    assert run.allows(at(2025, 3, 3, 14, 0))
    assert run.deadline_at == at(2025, 3, 4, 5, 0)


def test_next_open_is_none_once_the_nightly_deadline_passed():
    assert NIGHTLY.next_open(at(2025, 3, 3, 5, 5)) is None
    assert NIGHTLY.next_open(at(2025, 3, 3, 5, 30)) is None
    assert MANUAL.next_open(at(2025, 3, 3, 5, 30)) == at(2025, 3, 3, 6, 0)


def test_configurable_deadline():
    run = SendingWindow.for_run(has_deadline=True, started_at=at(2025, 3, 3, 1, 0), deadline=time(4, 30))
    assert run.reason_blocked(at(2025, 3, 3, 4, 30)) == WaitReason.DEADLINE
    assert run.allows(at(2025, 3, 3, 4, 29))


def test_r19_dst_spring_night_is_an_hour_shorter():
    """Last Sunday of March 2025: 02:00 CET -> 03:00 CEST. Deadline 05:00 CEST = 03:00 UTC."""
    start = at(2025, 3, 30, 1, 0)  # CET, 00:00 UTC
    run = SendingWindow.for_run(has_deadline=True, started_at=start)
    assert run.deadline_at.astimezone(UTC) == datetime(2025, 3, 30, 3, 0, tzinfo=UTC)
    assert run.remaining(start) == timedelta(hours=3)
    blackout_start = datetime(2025, 3, 30, 3, 15, tzinfo=UTC)  # 05:15 CEST
    assert MANUAL.reason_blocked(blackout_start) == WaitReason.BLACKOUT
    assert MANUAL.allows(blackout_start - timedelta(seconds=1))
    assert MANUAL.allows(datetime(2025, 3, 30, 4, 0, tzinfo=UTC))  # 06:00 CEST


def test_r19_dst_autumn_night_is_an_hour_longer():
    """Last Sunday of October 2025: 03:00 CEST -> 02:00 CET. Deadline 05:00 CET = 04:00 UTC."""
    start = at(2025, 10, 26, 1, 0)  # CEST, 23:00 UTC the day before
    run = SendingWindow.for_run(has_deadline=True, started_at=start)
    assert run.deadline_at.astimezone(UTC) == datetime(2025, 10, 26, 4, 0, tzinfo=UTC)
    assert run.remaining(start) == timedelta(hours=5)
    # Both 02:30s (the repeated hour) are allowed.
    first = datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    second = datetime(2025, 10, 26, 1, 30, tzinfo=UTC)
    assert run.allows(first) and run.allows(second)
    assert MANUAL.reason_blocked(datetime(2025, 10, 26, 4, 15, tzinfo=UTC)) == WaitReason.BLACKOUT


def test_deadline_run_needs_a_start_and_aware_times():
    with pytest.raises(ValueError):
        SendingWindow.for_run(has_deadline=True, started_at=None)
    with pytest.raises(ValueError):
        MANUAL.allows(datetime(2025, 3, 3, 4, 0))


def test_r19_margin_stops_sending_before_each_limit_so_requests_arrive_in_time():
    """With a margin, a request is not started when it would arrive at or after 05:00 / 05:15."""
    from datetime import timedelta as _td

    from spor.send.windows import SendingWindow as _W

    night = _W.for_run(has_deadline=True, started_at=at(2025, 3, 3, 1, 0), margin=_td(seconds=5))
    assert night.allows(at(2025, 3, 3, 4, 59, 54))
    assert night.reason_blocked(at(2025, 3, 3, 4, 59, 56)) is WaitReason.DEADLINE
    assert night.closes_at(at(2025, 3, 3, 4, 0)) == at(2025, 3, 3, 4, 59, 55)
    manual = _W.for_run(has_deadline=False, started_at=None, margin=_td(seconds=5))
    assert manual.allows(at(2025, 3, 3, 5, 14, 54))
    assert manual.reason_blocked(at(2025, 3, 3, 5, 14, 56)) is WaitReason.BLACKOUT
    assert manual.allows(at(2025, 3, 3, 6, 0))
