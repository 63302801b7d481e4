"""The batch's heartbeat: a thread that writes ``heartbeat_at`` every beat while the batch is
being sent, whether or not answers arrive (a batch paused by the circuit breaker, or with every
thread waiting on a hang, is alive). If a beat finds the batch no longer ours (another run took
it over after our heartbeat lapsed), ``lost`` is set and the send loop stops sending.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from spor.state import batches
from spor.state.database import StateDB
from spor.state.owner import Owner

log = logging.getLogger("spor")


class Heartbeat:
    def __init__(self, db: StateDB, batch_id: int, owner: Owner, *, beat: timedelta = batches.DEFAULT_BEAT,
                 paused: Callable[[], str | None] = lambda: None, on_lost: Callable[[], None] = lambda: None) -> None:
        self.db, self.batch_id, self.owner, self.beat = db, batch_id, owner, beat
        self._paused, self._on_lost = paused, on_lost
        self._stop = threading.Event()
        self.lost = threading.Event()
        self.beats = 0
        self._thread = threading.Thread(target=self._run, name=f"spor-heartbeat-{batch_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.beat.total_seconds()):
            try:
                mine = batches.beat(self.db, self.batch_id, self.owner, self._paused())
            except Exception:
                log.warning("batch %s: heartbeat not written", self.batch_id, exc_info=True)
                continue
            self.beats += 1
            if not mine:
                log.error("batch %s was taken over by another run: stop sending it", self.batch_id)
                self.lost.set()
                self._on_lost()
                return
