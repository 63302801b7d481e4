"""Taking over a crashed run's rows within the same run (docs/adr/0005-crash-takeover-heartbeat-lease.md).

After a send task has sent its own batch it looks for batches of its environment whose owner
is dead (a process gone from this host, a heartbeat older than the lease, a run Airflow says
has finished) and moves their rows into its own batch, then sends them. An owner on another
host that has not beaten for a while is given the lease to beat again before its rows are taken:
a live batch, even one paused by its circuit breaker or with every thread waiting on a hang,
beats every ``DEFAULT_BEAT`` and is never taken.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol, TypeVar

from spor.state import batches
from spor.state.database import StateDB

log = logging.getLogger("spor")


class _SendResult(Protocol):
    @property
    def stopped(self) -> str | None: ...  # why the send stopped early (window, stop), or None


_Result = TypeVar("_Result", bound=_SendResult)


def wait_for_unproven_owners(db: StateDB, environment: str, *, lease: timedelta = batches.DEFAULT_LEASE,
                             beat: timedelta = batches.DEFAULT_BEAT,
                             sleep: Callable[[float], None] = time.sleep) -> int:
    """Wait until every open batch of ``environment`` owned on another host has beaten again
    (alive) or let its lease run out (dead). Returns how many lapsed. At most lease + one beat."""
    pending = batches.unproven_owners(db, environment)
    deadline = time.monotonic() + (lease + beat).total_seconds()
    while pending and time.monotonic() < deadline:
        if all(db.now() - hb > lease for hb in pending.values()):
            break
        sleep(beat.total_seconds() / 2)
        now = batches.unproven_owners(db, environment)
        pending = {bid: hb for bid, hb in pending.items() if now.get(bid) == hb}
    return len(pending)


def send_with_takeover(batch_id: int, environment: str, send: Callable[[int], _Result], *, db: StateDB,
                       lease: timedelta = batches.DEFAULT_LEASE, beat: timedelta = batches.DEFAULT_BEAT,
                       run_finished: batches.RunFinished | None = None,
                       sleep: Callable[[float], None] = time.sleep, rounds: int = 5) -> list[_Result]:
    """``send(batch_id)`` (returns a BatchResult), then take over dead batches' rows into this
    batch and send again, until nothing is left to take or the send stopped (window, stop)."""
    results = [send(batch_id)]
    for _ in range(rounds):
        if results[-1].stopped:
            break
        wait_for_unproven_owners(db, environment, lease=lease, beat=beat, sleep=sleep)
        moved = batches.recover_stale(db, lease=lease, environment=environment, run_finished=run_finished,
                                      into=batch_id)
        if not moved:
            break
        log.warning("batch %s took over %d registration(s) from dead batches", batch_id, moved)
        results.append(send(batch_id))
    return results
