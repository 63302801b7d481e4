"""Injectable clock. Tests and the demo never depend on the time of day they run.

``SPOR_CLOCK_START`` (ISO 8601 with offset) makes every process see a simulated time that starts
there at the real instant ``SPOR_CLOCK_ANCHOR`` (epoch seconds; default: first use in this
process) and runs ``SPOR_CLOCK_SPEED`` times faster than real time (default 1). The stand-in SPOR
service reads the same variables, so its receive times are on the same clock.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware."""

    def real_instant(self, instant: datetime) -> datetime:
        """The real instant at which this clock shows ``instant`` (what Airflow's sensors wait for)."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def real_instant(self, instant: datetime) -> datetime:
        """The real instant at which this clock shows ``instant`` (for Airflow sensors)."""
        return instant


@dataclass
class SimulatedClock:
    start: datetime
    anchor: float = field(default_factory=time.time)
    speed: float = 1.0

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("SimulatedClock.start must carry an offset")

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.time() - self.anchor) * self.speed)

    def real_instant(self, instant: datetime) -> datetime:
        real = self.anchor + (instant - self.start).total_seconds() / self.speed
        return datetime.fromtimestamp(real, UTC)


@dataclass
class FixedClock:
    """A clock that only moves when told to (unit tests)."""

    instant: datetime

    def now(self) -> datetime:
        return self.instant

    def advance(self, **delta: float) -> None:
        self.instant = self.instant + timedelta(**delta)

    def real_instant(self, instant: datetime) -> datetime:
        return datetime.now(UTC) + (instant - self.instant)


def clock_from_env(env: Mapping[str, str] | None = None) -> Clock:
    env = os.environ if env is None else env
    start = env.get("SPOR_CLOCK_START")
    if not start:
        return SystemClock()
    anchor = env.get("SPOR_CLOCK_ANCHOR")
    return SimulatedClock(
        start=datetime.fromisoformat(start),
        anchor=float(anchor) if anchor else time.time(),
        speed=float(env.get("SPOR_CLOCK_SPEED", "1")),
    )


def local(instant: datetime) -> datetime:
    """The instant as Swedish wall-clock time."""
    return instant.astimezone(STOCKHOLM)
