"""When is a night done? The one definition the run summary and the "night not done" alert use.

A night is **not done** when the outbox holds registrations of the run's SPOR environment that
could be sent (they wait: ``new``, ``deadline``, ``blackout``, ``transient``) and that no live run
owns: never planned, held by a finished batch, or owned by a batch whose owner is dead
(spor.state.waiting, the count every view shows). Registrations a concurrent live run owns are that run's to
send, so they do not count. A dry run sends nothing by design and is never judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from spor.state import batches
from spor.state.database import StateDB
from spor.state.waiting import Waiting, resolve


@dataclass(frozen=True)
class NightNotDone:
    environment: str
    waiting: int                                    # sendable and owned by no live run
    by_reason: dict[str, int] = field(default_factory=dict)
    owned_by_dead_batches: int = 0                  # included in ``waiting``

    def __bool__(self) -> bool:
        return self.waiting > 0

    def message(self) -> str:
        found = Waiting(self.environment, self.waiting, self.by_reason, self.owned_by_dead_batches)
        return (f"night not done: {found.in_words()}, and no live run owns them; "
                "the next run sends them first")


def not_done(db: StateDB, environment: str, *, lease: timedelta = batches.DEFAULT_LEASE,
             run_finished: batches.RunFinished | None = None) -> NightNotDone:
    """Whether the night of ``environment`` is left undone (falsy result: done). The count is
    spor.state.waiting's, the one every view shows."""
    found = resolve(db, environment, lease=lease, run_finished=run_finished)
    return NightNotDone(environment=environment, waiting=found.total, by_reason=found.by_reason,
                        owned_by_dead_batches=found.held_by_dead)
