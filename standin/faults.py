"""Injected faults: what the stand-in does instead of (or before) answering normally.

Two sources, checked in this order for every POST:
1. a script: faults queued for the next requests (``--fault-script 503,reset,ok,hang`` or
   ``server.inject("503", count=2)`` from a test);
2. seeded random shares (``--drop-share 0.05 --unavailable-share 0.05 --reset-share 0.02
   --hang-share 0.01 --slow-share 0.01 --tail-share 0.1 --random-failure-share 0.1 --seed 7``).

Faults:

* ``drop`` closes the connection cleanly without an answer (after reading the request);
* ``reset`` aborts the connection with a TCP reset (RST, no TLS close_notify, no answer) and
  stores nothing: the client sees "connection reset by peer";
* ``503`` answers Service Unavailable, ``502``/``504`` likewise (nothing stored);
* ``hang`` reads the request and then says nothing for ``hang_s`` seconds (longer than any
  client read timeout), stores nothing and closes: the client's read timeout is what ends it;
* ``slow`` answers normally but only after ``slow_s`` seconds (the registration IS stored, as a
  real server might);
* ``tail`` answers normally after an extra delay drawn from a Pareto distribution (scale
  ``tail_scale_s``, shape ``tail_alpha``, capped at ``tail_max_s``): long-tailed latency, where
  most draws are short and a few are very long (stored);
* ``ok`` = no fault.

``random`` (from ``random_failure_share``) picks one of drop/503/slow. Every draw comes from one
``random.Random(seed)``, so a seed reproduces the same sequence of faults for the same sequence
of requests.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass, field

FAULTS = ("ok", "drop", "reset", "hang", "502", "503", "504", "slow", "tail")


@dataclass
class FaultPlan:
    drop_share: float = 0.0
    unavailable_share: float = 0.0
    slow_share: float = 0.0
    random_failure_share: float = 0.0
    reset_share: float = 0.0
    hang_share: float = 0.0
    tail_share: float = 0.0
    slow_s: float = 5.0
    hang_s: float = 120.0
    tail_scale_s: float = 0.05
    tail_alpha: float = 1.5
    tail_max_s: float = 30.0
    seed: int = 0
    script: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in self.script:
            _check(name)
        shares = (self.drop_share, self.unavailable_share, self.slow_share, self.random_failure_share,
                  self.reset_share, self.hang_share, self.tail_share)
        if any(s < 0 for s in shares) or sum(shares) > 1.0 + 1e-9:
            raise ValueError("fault shares must be non-negative and add up to at most 1")
        self._queue: deque[str] = deque(self.script)
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def inject(self, fault: str, count: int = 1) -> None:
        _check(fault)
        with self._lock:
            self._queue.extend([fault] * count)

    def next(self) -> str:
        fault = self._next()
        with self._lock:
            self.counts[fault] = self.counts.get(fault, 0) + 1
        return fault

    def _next(self) -> str:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            draw = self._rng.random()
            pick = self._rng.choice(("drop", "503", "slow"))
        for share, fault in ((self.drop_share, "drop"), (self.unavailable_share, "503"),
                             (self.slow_share, "slow"), (self.random_failure_share, pick),
                             (self.reset_share, "reset"), (self.hang_share, "hang"),
                             (self.tail_share, "tail")):
            if draw < share:
                return fault
            draw -= share
        return "ok"

    def tail_delay(self) -> float:
        """One long-tailed extra delay (seconds) for a ``tail`` answer."""
        with self._lock:
            draw = self._rng.paretovariate(self.tail_alpha)
        return min(self.tail_max_s, self.tail_scale_s * draw)


def _check(name: str) -> None:
    if name not in FAULTS:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
