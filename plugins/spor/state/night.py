"""When is a night done? The one definition the run summary and the "night not done" alert use.

A night is **not done** when the outbox holds registrations of the run's SPOR environment that
could be sent (they wait: ``new``, ``deadline``, ``blackout``, ``transient``) and that no live run
owns: released by their batch, never planned, or owned by a batch whose owner is dead
(spor.state.batches.dead_batches). Registrations a concurrent live run owns are that run's to
send, so they do not count. A dry run sends nothing by design and is never judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa

from spor.state import batches
from spor.state.database import StateDB
from spor.state.tables import outbox


@dataclass(frozen=True)
class NightNotDone:
    environment: str
    waiting: int                                    # sendable and owned by no live run
    by_reason: dict[str, int] = field(default_factory=dict)
    owned_by_dead_batches: int = 0                  # included in ``waiting``

    def __bool__(self) -> bool:
        return self.waiting > 0

    def message(self) -> str:
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(self.by_reason.items()))
        dead = f"; {self.owned_by_dead_batches} still held by a dead run's batch" if self.owned_by_dead_batches else ""
        return (f"night not done: {self.waiting} sendable registration(s) of {self.environment} wait in the "
                f"outbox and no live run owns them ({reasons}{dead}); the next run sends them first")


def not_done(db: StateDB, environment: str, *, lease: timedelta = batches.DEFAULT_LEASE,
             run_finished: batches.RunFinished | None = None) -> NightNotDone:
    """Whether the night of ``environment`` is left undone (falsy result: done)."""
    dead = list(batches.dead_batches(db, environment, lease=lease, run_finished=run_finished))
    with db.read() as conn:
        free: dict[str, int] = dict(conn.execute(
            sa.select(outbox.c.wait_reason, sa.func.count())
            .where(outbox.c.environment == environment, outbox.c.batch_id.is_(None))
            .group_by(outbox.c.wait_reason)).all())
        held_dead: dict[str, int] = dict(conn.execute(
            sa.select(outbox.c.wait_reason, sa.func.count())
            .where(outbox.c.environment == environment, outbox.c.batch_id.in_(dead))
            .group_by(outbox.c.wait_reason)).all()) if dead else {}
    by_reason = {r: int(free.get(r, 0)) + int(held_dead.get(r, 0)) for r in set(free) | set(held_dead)}
    return NightNotDone(environment=environment, waiting=sum(by_reason.values()), by_reason=by_reason,
                        owned_by_dead_batches=sum(int(n) for n in held_dead.values()))
