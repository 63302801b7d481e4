"""The batch's queue of registrations: ready ones, and deferred ones with a not-before time.

A transient failure does not hold a thread: the registration goes back with a not-before time
(the retry policy's backoff) and the thread takes the next one. A thread waits only when nothing
is ready, until the earliest deferred one is due or a thread in flight gives one back. The queue
is empty (``take`` returns None) when nothing is ready, deferred or in flight.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class Deferrals(Generic[T]):
    def __init__(self, items: Iterable[tuple[T, float | None]], now: Callable[[], float],
                 sleeper: Callable[[float], None] | None = None) -> None:
        self.cond = threading.Condition()
        self._now = now
        self._sleeper = sleeper
        self._seq = itertools.count()
        self.ready: deque[T] = deque()
        self._later: list[tuple[float, int, T]] = []
        self.in_flight = 0
        t = now()
        for item, due in items:
            if due is not None and due > t:
                heapq.heappush(self._later, (due, next(self._seq), item))
            else:
                self.ready.append(item)

    def take(self, stop: threading.Event) -> T | None:
        """The next registration to send, waiting for a deferred one if need be; None when done or stopped."""
        with self.cond:
            while not stop.is_set():
                if self.ready:
                    self.in_flight += 1
                    return self.ready.popleft()
                if self._later and self._later[0][0] <= self._now():
                    self.in_flight += 1
                    return heapq.heappop(self._later)[2]
                if not self._later and self.in_flight == 0:
                    return None
                timeout = self._later[0][0] - self._now() if self._later else None
                self._wait(timeout)
            return None

    def _wait(self, timeout: float | None) -> None:
        if self._sleeper is not None and timeout is not None and self.in_flight == 0:
            self.cond.release()   # a test's sleeper moves the clock: do not hold the lock meanwhile
            try:
                self._sleeper(timeout)
            finally:
                self.cond.acquire()
        else:
            self.cond.wait(min(timeout, 1.0) if timeout is not None else 1.0)

    def done(self, item: T, due: float | None = None) -> None:
        """A taken registration is dealt with (``due`` None) or deferred until ``due``."""
        with self.cond:
            self.in_flight -= 1
            if due is not None:
                heapq.heappush(self._later, (due, next(self._seq), item))
            self.cond.notify_all()

    def wake(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def remaining(self) -> list[T]:
        """What was never taken or is deferred (not the ones in flight)."""
        with self.cond:
            return list(self.ready) + [item for _, _, item in sorted(self._later)]
