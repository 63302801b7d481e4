"""Injected faults: what the stand-in does instead of (or before) answering normally.

Two sources, checked in this order for every POST:
1. a script: faults queued for the next requests (``--fault-script 503,drop,ok,slow`` or
   ``server.inject("503", count=2)`` from a test);
2. seeded random shares (``--drop-share 0.05 --unavailable-share 0.05 --slow-share 0.01 --random-failure-share 0.1``).

Faults: ``drop`` closes the connection without an answer (after reading the request),
``503`` answers Service Unavailable, ``502``/``504`` likewise, ``slow`` answers normally but only
after ``slow_s`` seconds (the registration IS stored, as a real server might), ``ok`` = no fault.
``random`` (from ``random_failure_share``) picks one of drop/503/slow.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass, field

FAULTS = ("ok", "drop", "502", "503", "504", "slow")


@dataclass
class FaultPlan:
    drop_share: float = 0.0
    unavailable_share: float = 0.0
    slow_share: float = 0.0
    random_failure_share: float = 0.0
    slow_s: float = 5.0
    seed: int = 0
    script: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in self.script:
            _check(name)
        self._queue: deque[str] = deque(self.script)
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def inject(self, fault: str, count: int = 1) -> None:
        _check(fault)
        with self._lock:
            self._queue.extend([fault] * count)

    def next(self) -> str:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            draw = self._rng.random()
            pick = self._rng.choice(("drop", "503", "slow"))
        for share, fault in ((self.drop_share, "drop"), (self.unavailable_share, "503"),
                             (self.slow_share, "slow"), (self.random_failure_share, pick)):
            if draw < share:
                return fault
            draw -= share
        return "ok"


def _check(name: str) -> None:
    if name not in FAULTS:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
