"""The batch's circuit breaker: when most recent answers are transient failures, SPOR is down,
not the registrations, so every thread of the batch pauses instead of burning attempts.

Closed: requests go out, each outcome is counted in a sliding window of the last ``window``.
When at least ``min_answers`` are counted and more than ``open_share`` of them are transient,
the breaker opens: no thread sends. After ``probe_after_s`` one thread sends one request (half
open): an answer closes the breaker (the window starts afresh), a transient failure re-opens it
with a doubled pause. Open for longer than ``give_up_after_s`` without a good probe: the batch
stops with "SPOR unavailable" and its rows wait with reason ``transient`` (docs/state-machine.md).
A later batch of the same run then starts open and gives up after one failed probe.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
GO, WAIT, PROBE, GIVE_UP = "go", "wait", "probe", "give_up"


@dataclass(frozen=True)
class BreakerPolicy:
    window: int = 50
    min_answers: int = 20
    open_share: float = 0.5
    probe_after_s: float = 5.0
    max_probe_after_s: float = 60.0
    give_up_after_s: float = 300.0


@dataclass(frozen=True)
class Permit:
    kind: str            # GO, WAIT (for ``seconds``), PROBE (this thread sends the one probe), GIVE_UP
    seconds: float = 0.0


class CircuitBreaker:
    """Thread-safe; time is passed in (seconds on the run's clock) so tests control it."""

    def __init__(self, policy: BreakerPolicy = BreakerPolicy()) -> None:
        self.policy = policy
        self.state = CLOSED
        self._recent: deque[bool] = deque(maxlen=policy.window)   # True = transient
        self._lock = threading.Lock()
        self._opened_at = 0.0
        self._probe_at = 0.0
        self._pause = policy.probe_after_s
        self.transitions: list[str] = []
        self.openings = 0   # trips from closed (spor.metrics): not re-opens after a failed probe

    def assume_down(self, now: float) -> None:
        """SPOR was found unavailable earlier in this run: start open, probe at once, and give up
        if that probe fails (a later batch does not wait out the whole give-up time again)."""
        with self._lock:
            self._opened_at = now - self.policy.give_up_after_s + self.policy.probe_after_s
            self._probe_at = now
            self._move(OPEN)

    def permit(self, now: float) -> Permit:
        with self._lock:
            if self.state == CLOSED:
                return Permit(GO)
            if self.state == HALF_OPEN:       # a probe is out: everyone else waits for it
                return Permit(WAIT, min(1.0, self._pause))
            if now - self._opened_at >= self.policy.give_up_after_s:
                return Permit(GIVE_UP)
            if now >= self._probe_at:
                self._move(HALF_OPEN)
                return Permit(PROBE)
            return Permit(WAIT, self._probe_at - now)

    def record(self, transient: bool, now: float, probe: bool = False) -> None:
        """The outcome of a request: a transient failure, or an answer (any final answer)."""
        with self._lock:
            if probe:
                if transient:
                    self._pause = min(self.policy.max_probe_after_s, self._pause * 2)
                    self._probe_at = now + self._pause
                    self._move(OPEN)
                else:
                    self._recent.clear()
                    self._pause = self.policy.probe_after_s
                    self._move(CLOSED)
                return
            if self.state != CLOSED:
                return                        # stragglers sent before it opened do not count
            self._recent.append(transient)
            n = len(self._recent)
            if n >= self.policy.min_answers and sum(self._recent) > self.policy.open_share * n:
                self.openings += 1
                self._opened_at = now
                self._probe_at = now + self._pause
                self._move(OPEN)

    def _move(self, state: str) -> None:
        self.state = state
        self.transitions.append(state)
