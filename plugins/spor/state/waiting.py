"""What waits: the one count of waiting registrations every view shows.

A registration **waits** when its row is in the outbox of an environment and no live run is
sending it: it was never planned, its batch has finished (a finished or stopped run's batch that
did not give its rows back still counts), or its batch's owner is dead
(spor.state.batches.dead_batches). Rows a live run's open batch holds are that run's to send and
are counted apart as ``being_sent``. The run summary, "night not done", the alerts and the status
page all read this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa

from spor.lifecycle import WaitReason
from spor.state import batches
from spor.state.database import StateDB
from spor.state.documents import JsonObject, JsonView
from spor.state.probes import AFTER_PROBE
from spor.state.tables import batch, outbox

#: How many treatment numbers per reason a view lists (the summary report lists them all).
FIRST_NUMBERS = 10

#: What the team does about registrations waiting for each reason.
ACTION = {
    WaitReason.NEW.value: "never tried: the next spor_nightly run sends them first",
    WaitReason.DEADLINE.value: "the 05:00 deadline came first: the next night sends them first; if this repeats, "
                               "raise the capacity",
    WaitReason.BLACKOUT.value: "sending paused 05:15-06:00: the next run sends them",
    WaitReason.TRANSIENT.value: "SPOR did not answer them: fix the cause above (SPOR connection, network, SPOR's "
                                "service), then trigger spor_nightly or let the next night send them",
}


@dataclass(frozen=True)
class Waiting:
    environment: str | None                         # None: every environment
    total: int
    by_reason: dict[str, int] = field(default_factory=dict)
    held_by_dead: int = 0                           # included in ``total``: rows of a dead batch
    being_sent: int = 0                             # not included: a live run's open batch holds them
    first: dict[str, list[str]] = field(default_factory=dict)   # reason -> first treatment numbers

    def __bool__(self) -> bool:
        return self.total > 0

    def as_dict(self) -> JsonObject:
        return {"environment": self.environment, "total": self.total, "by_reason": dict(self.by_reason),
                "held_by_dead": self.held_by_dead, "being_sent": self.being_sent,
                "first": {k: list(v) for k, v in self.first.items()}}

    @classmethod
    def from_dict(cls, value: JsonView) -> Waiting:
        return cls(environment=value.get("environment"), total=int(value.get("total", 0)),
                   by_reason={k: int(v) for k, v in (value.get("by_reason") or {}).items()},
                   held_by_dead=int(value.get("held_by_dead", 0)), being_sent=int(value.get("being_sent", 0)),
                   first={k: list(v) for k, v in (value.get("first") or {}).items()})

    def reasons_in_words(self) -> str:
        """'2 transient' / '400 deadline and 12 transient'."""
        parts = [f"{n:,} {reason}" for reason, n in sorted(self.by_reason.items(), key=lambda kv: -kv[1]) if n]
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1] if parts else "none"

    def in_words(self) -> str:
        where = f" of {self.environment}" if self.environment else ""
        dead = f", {self.held_by_dead:,} of them held by a dead run's batch" if self.held_by_dead else ""
        return (f"{self.total:,} registration(s){where} wait in the outbox ({self.reasons_in_words()}{dead})"
                if self.total else f"nothing{where} waits in the outbox")


def resolve(db: StateDB, environment: str | None = None, *, lease: timedelta = batches.DEFAULT_LEASE,
            run_finished: batches.RunFinished | None = None, first: int = FIRST_NUMBERS,
            taken_by: tuple[str, int] | None = None) -> Waiting:
    """What waits in ``environment`` (or all environments) now; with ``taken_by`` (run id, staging
    priority) only what that run may take (a resend or backfill leaves the night's rows to the nightly)."""
    dead = list(batches.dead_batches(db, environment, lease=lease, run_finished=run_finished))
    open_batch = sa.select(batch.c.id).where(batch.c.finished_at.is_(None)).scalar_subquery()
    # Spelled out both ways: a NULL batch_id makes IN and NOT IN unknown, never true.
    held_by_live: sa.ColumnElement[bool] = outbox.c.batch_id.in_(open_batch)
    waits = sa.or_(outbox.c.batch_id.is_(None), outbox.c.batch_id.not_in(open_batch))
    if dead:
        held_by_live = held_by_live & outbox.c.batch_id.not_in(dead)
        waits = sa.or_(waits, outbox.c.batch_id.in_(dead))
    # behind their unit's probe: sent after it this run, or out of the outbox (spor.state.probes)
    where = [outbox.c.wait_reason != AFTER_PROBE] + ([] if environment is None else [outbox.c.environment == environment])
    if taken_by is not None:
        where.append(batches.takes(*taken_by))
    by_reason: dict[str, int] = {}
    numbers: dict[str, list[str]] = {}
    with db.read() as conn:
        for reason, n in conn.execute(sa.select(outbox.c.wait_reason, sa.func.count())
                                      .where(*where, waits).group_by(outbox.c.wait_reason)):
            by_reason[str(reason)] = int(n)
        for reason in by_reason:
            numbers[reason] = [r[0] for r in conn.execute(
                sa.select(outbox.c.behandlingsnummer).where(*where, waits, outbox.c.wait_reason == reason)
                .order_by(*batches.SEND_ORDER).limit(first))]
        held_dead = int(conn.execute(sa.select(sa.func.count()).select_from(outbox)
                                     .where(*where, outbox.c.batch_id.in_(dead))).scalar_one()) if dead else 0
        being_sent = int(conn.execute(sa.select(sa.func.count()).select_from(outbox)
                                      .where(*where, held_by_live)).scalar_one())
    return Waiting(environment=environment, total=sum(by_reason.values()), by_reason=by_reason,
                   held_by_dead=held_dead, being_sent=being_sent, first=numbers)


def environments(db: StateDB) -> list[str]:
    """The environments that have rows in the outbox."""
    with db.read() as conn:
        return sorted(r[0] for r in conn.execute(sa.select(outbox.c.environment).distinct()))
