"""When sending is allowed (R19), in Swedish local time, on an injectable clock.

Rules (docs/state-machine.md, "Windows"):

* **Blackout** ``[05:15, 06:00)`` local: no run of any kind sends (SPOR copies data then).
* **Nightly** runs send only during the night ``[opens, deadline)`` local (default 18:00–05:00,
  wrapping midnight). From the deadline until ``opens`` a nightly run sends nothing: what is left
  waits in the outbox with reason DEADLINE (inside the blackout the reason is BLACKOUT).
* **Manual and backfill** runs send at any time except the blackout.

All comparisons are on the local wall clock of the instant, so daylight-saving nights work: the
March night is an hour shorter, the October night an hour longer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from enum import Enum
from zoneinfo import ZoneInfo

from spor.clock import STOCKHOLM
from spor.states import WaitReason


class RunMode(str, Enum):
    NIGHTLY = "nightly"
    MANUAL = "manual"
    BACKFILL = "backfill"


def _in(t: time, start: time, end: time) -> bool:
    """t in [start, end), the interval may wrap midnight."""
    if start <= end:
        return start <= t < end
    return t >= start or t < end


@dataclass(frozen=True)
class SendingWindow:
    mode: RunMode = RunMode.NIGHTLY
    deadline: time = time(5, 0)
    blackout: tuple[time, time] = (time(5, 15), time(6, 0))
    opens: time = time(18, 0)          # nightly only: when the night's sending may begin
    tz: ZoneInfo = STOCKHOLM

    @classmethod
    def for_mode(cls, mode: RunMode | str, **kwargs) -> "SendingWindow":
        return cls(mode=RunMode(mode), **kwargs)

    def _local(self, now: datetime) -> datetime:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return now.astimezone(self.tz)

    def reason_blocked(self, now: datetime) -> WaitReason | None:
        """Why nothing may be sent at ``now`` (BLACKOUT before DEADLINE), or None if allowed."""
        t = self._local(now).time()
        if _in(t, *self.blackout):
            return WaitReason.BLACKOUT
        if self.mode is RunMode.NIGHTLY and not _in(t, self.opens, self.deadline):
            return WaitReason.DEADLINE
        return None

    def allows(self, now: datetime) -> bool:
        return self.reason_blocked(now) is None

    def _at(self, day: date, t: time) -> datetime:
        """Local wall time ``t`` on ``day`` as an aware instant (fold=0 in a repeated hour; a time
        skipped in spring is moved forward by the gap)."""
        naive = datetime.combine(day, t)
        aware = naive.replace(tzinfo=self.tz)
        # Round-trip through UTC normalises a non-existent spring time.
        return aware.astimezone(timezone.utc).astimezone(self.tz)

    def _next(self, now: datetime, t: time) -> datetime:
        """The first instant >= now whose local wall time is ``t``."""
        local = self._local(now)
        for offset in range(0, 3):
            cand = self._at(local.date() + timedelta(days=offset), t)
            if cand >= now:
                return cand
        raise AssertionError("unreachable")

    def closes_at(self, now: datetime) -> datetime:
        """The next instant at which sending must stop (``now`` itself if blocked already)."""
        if not self.allows(now):
            return now
        ends = [self._next(now, self.blackout[0])]
        if self.mode is RunMode.NIGHTLY:
            ends.append(self._next(now, self.deadline))
        return min(ends)

    def next_open(self, now: datetime) -> datetime:
        """The next instant at or after ``now`` at which sending is allowed."""
        if self.allows(now):
            return now
        t = self._local(now).time()
        if _in(t, *self.blackout):
            end = self._next(now, self.blackout[1])
            return end if self.allows(end) else self.next_open(self._next(end, self.opens))
        return self._next(now, self.opens)

    def remaining(self, now: datetime) -> timedelta:
        """Time left to send from ``now`` (zero when blocked)."""
        return self.closes_at(now) - now
