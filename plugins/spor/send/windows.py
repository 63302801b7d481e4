"""When a run may send (R19, ADR 0002), on Swedish wall-clock time and an injectable clock.

* **Blackout** ``[05:15, 06:00)`` Europe/Stockholm: no run sends, whatever started it.
* **Deadline** (``spor_nightly`` runs, scheduled or by hand): the run sends until the first
  deadline (default 05:00) at or after ``started_at`` (when it planned its batches); from then
  on it sends nothing and leaves the rest waiting with reason DEADLINE. Backfill and resend runs
  have no deadline, only the blackout.

Inside the blackout the reason is BLACKOUT (it wins over DEADLINE). Everything is computed on
the local wall time of the instant, so the March night is an hour shorter and the October night
an hour longer, and a 05:00 deadline is the same wall time both nights.

A **margin** (the DAGs use ``spor_config.send_margin_seconds``, default 5 s) stops sending that
long before each limit: the window is checked just before a request leaves, and the request must
also *arrive* before 05:00 / 05:15. The model's own default is 0 (exact edges).

Instants returned are in UTC: Python compares and subtracts two datetimes that share one tzinfo
object by wall clock, which is an hour wrong across a DST change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from spor.clock import STOCKHOLM
from spor.lifecycle import WaitReason
from spor.settings import DEFAULT_DEADLINE

DEFAULT_BLACKOUT = (time(5, 15), time(6, 0))
DEFAULT_MARGIN = timedelta(0)


def _in(t: time, start: time, end: time) -> bool:
    """t in [start, end); the interval may wrap midnight."""
    if start <= end:
        return start <= t < end
    return t >= start or t < end


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("instants must be timezone-aware")
    return now


@dataclass(frozen=True)
class SendingWindow:
    """The sending window of one run. ``has_deadline`` runs need ``started_at``."""

    has_deadline: bool = True
    started_at: datetime | None = None
    deadline: time = DEFAULT_DEADLINE
    blackout: tuple[time, time] = DEFAULT_BLACKOUT
    tz: ZoneInfo = STOCKHOLM
    margin: timedelta = DEFAULT_MARGIN

    def __post_init__(self) -> None:
        if self.has_deadline and self.started_at is None:
            raise ValueError("a run with a deadline needs started_at (when it planned its batches)")
        if self.started_at is not None:
            _aware(self.started_at)

    @classmethod
    def for_run(cls, *, has_deadline: bool, started_at: datetime | None, deadline: time = DEFAULT_DEADLINE,
                blackout: tuple[time, time] = DEFAULT_BLACKOUT, tz: ZoneInfo = STOCKHOLM,
                margin: timedelta = DEFAULT_MARGIN) -> SendingWindow:
        return cls(has_deadline=has_deadline, started_at=started_at, deadline=deadline, blackout=blackout, tz=tz,
                   margin=margin)

    # -- wall-clock helpers --------------------------------------------------------------------
    def _at(self, day: date, t: time) -> datetime:
        """Local wall time ``t`` on ``day``, as a UTC instant (first occurrence in a repeated hour; a time that does not
        exist in spring is moved forward by the gap)."""
        return datetime.combine(day, t).replace(tzinfo=self.tz).astimezone(UTC)

    def _next(self, now: datetime, t: time) -> datetime:
        """The first instant at or after ``now`` whose local wall time is ``t``."""
        local = _aware(now).astimezone(self.tz)
        for offset in range(3):
            cand = self._at(local.date() + timedelta(days=offset), t)
            if cand >= now:
                return cand
        raise AssertionError("unreachable")

    # -- the rules -----------------------------------------------------------------------------
    @property
    def deadline_at(self) -> datetime | None:
        """The instant this run stops sending for good (None without a deadline)."""
        if not self.has_deadline or self.started_at is None:  # __post_init__: no deadline without started_at
            return None
        return self._next(self.started_at, self.deadline)

    def in_blackout(self, now: datetime) -> bool:
        return _in(_aware(now).astimezone(self.tz).time(), *self.blackout)

    def reason_blocked(self, now: datetime) -> WaitReason | None:
        """Why nothing may be sent at ``now`` (BLACKOUT wins over DEADLINE), or None if allowed.
        A request that would arrive within ``margin`` of a limit is already blocked."""
        if self.in_blackout(now) or self.in_blackout(now + self.margin):
            return WaitReason.BLACKOUT
        deadline = self.deadline_at
        if deadline is not None and (now + self.margin).astimezone(UTC) >= deadline:
            return WaitReason.DEADLINE
        return None

    def allows(self, now: datetime) -> bool:
        return self.reason_blocked(now) is None

    def closes_at(self, now: datetime) -> datetime:
        """The next instant sending must stop (``now`` itself when blocked already). Backoff
        sleeps never run past it."""
        if not self.allows(now):
            return now.astimezone(UTC)
        ends = [self._next(now, self.blackout[0])]
        deadline = self.deadline_at
        if deadline is not None:
            ends.append(deadline)
        return min(ends) - self.margin

    def next_open(self, now: datetime) -> datetime | None:
        """When this run may send again: ``now`` if allowed, the blackout's end if that comes before
        the deadline, None if the run's deadline has passed (the rest waits for the next run)."""
        if self.allows(now):
            return now.astimezone(UTC)
        deadline = self.deadline_at
        if deadline is not None and now.astimezone(UTC) >= deadline:
            return None
        end = self._next(now, self.blackout[1])
        if deadline is not None and end >= deadline:
            return None
        return end

    def remaining(self, now: datetime) -> timedelta:
        """Time left to send from ``now`` (zero when blocked)."""
        return self.closes_at(now).astimezone(UTC) - now.astimezone(UTC)
