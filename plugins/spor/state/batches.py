"""Send batches: the outbox handed out in batches that each own their rows, so parallel send tasks
never send the same registration.

Send order (when not everything fits in the window): ``priority`` descending, then oldest
``waiting_since`` first, then behandlingsnummer ascending. So what the deadline left waiting goes
first the next night and nothing starves. A batch whose worker died (heartbeat older than the
lease) gives its rows back to be planned again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from spor.state.chunks import chunks
from spor.state.database import StateDB
from spor.state.tables import batch, outbox

#: A batch whose heartbeat is older than this belongs to a dead worker: its rows are re-planned.
DEFAULT_LEASE = timedelta(minutes=15)

SEND_ORDER = (outbox.c.priority.desc(), outbox.c.waiting_since.asc(), outbox.c.behandlingsnummer.asc(),
              outbox.c.id.asc())


@dataclass
class StagedRegistration:
    """An outbox row as the client needs it (duck-compatible with the message module's Registration)."""

    outbox_id: int
    environment: str
    system_id: str
    behandlingsnummer: str
    xml_bytes: bytes
    content_hash: str
    attempts: int
    wait_reason: str
    _element: Any = field(default=None, repr=False)

    @property
    def element(self):  # noqa: ANN201 - lxml element, imported lazily
        if self._element is None:
            from lxml import etree

            self._element = etree.fromstring(self.xml_bytes)
        return self._element


@dataclass(frozen=True)
class BatchInfo:
    batch_id: int
    run_id: str
    environment: str
    number: int
    size: int
    remaining: int


def recover_stale(db: StateDB, *, lease: timedelta = DEFAULT_LEASE) -> int:
    """Release the rows of unfinished batches whose heartbeat is older than ``lease`` (dead
    workers). Returns the number of rows released; they wait again and keep their attempts."""
    cutoff = db.now() - lease
    with db.write() as conn:
        stale = [r.id for r in conn.execute(sa.select(batch.c.id).where(
            batch.c.finished_at.is_(None), batch.c.heartbeat_at < cutoff))]
        released = 0
        for part in chunks(stale):
            released += conn.execute(outbox.update().where(outbox.c.batch_id.in_(part))
                                     .values(batch_id=None)).rowcount
            conn.execute(batch.update().where(batch.c.id.in_(part)).values(finished_at=db.now()))
    return released


def plan(db: StateDB, run_id: str, environment: str, batch_size: int, max_batches: int, *,
         lease: timedelta = DEFAULT_LEASE) -> list[int]:
    """Assign waiting rows of ``environment`` to at most ``max_batches`` batches of at most
    ``batch_size`` rows, in the send order; each batch owns its rows. Rows of dead batches
    (lease expired) and this run's unclaimed batches from an earlier planning are re-planned
    first. Returns the batch ids (planning order = send order)."""
    if batch_size < 1 or max_batches < 1:
        raise ValueError("batch_size and max_batches must be at least 1")
    recover_stale(db, lease=lease)
    now = db.now()
    ids: list[int] = []
    with db.write() as conn:
        # A re-planned run (task retry) takes back the batches nobody claimed yet.
        old = [r.id for r in conn.execute(sa.select(batch.c.id).where(
            batch.c.run_id == run_id, batch.c.claimed_at.is_(None), batch.c.finished_at.is_(None)))]
        for part in chunks(old):
            conn.execute(outbox.update().where(outbox.c.batch_id.in_(part)).values(batch_id=None))
            conn.execute(batch.update().where(batch.c.id.in_(part)).values(finished_at=now))
        number = (conn.execute(sa.select(sa.func.max(batch.c.number)).where(batch.c.run_id == run_id))
                  .scalar() or 0)
        candidates = [r.id for r in conn.execute(
            sa.select(outbox.c.id).where(outbox.c.environment == environment, outbox.c.batch_id.is_(None))
            .order_by(*SEND_ORDER).limit(batch_size * max_batches))]
        for part in chunks(candidates, batch_size):
            number += 1
            bid = conn.execute(batch.insert().values(
                run_id=run_id, environment=environment, number=number, size=0, planned_at=now,
                heartbeat_at=now)).inserted_primary_key[0]
            taken = 0
            for sub in chunks(part):
                taken += conn.execute(outbox.update().where(outbox.c.id.in_(sub), outbox.c.batch_id.is_(None))
                                      .values(batch_id=bid, run_id=run_id)).rowcount
            conn.execute(batch.update().where(batch.c.id == bid).values(size=taken))
            ids.append(int(bid))
    return ids


def info(db: StateDB, batch_id: int) -> BatchInfo:
    with db.read() as conn:
        b = conn.execute(sa.select(batch).where(batch.c.id == batch_id)).one()
        remaining = conn.execute(sa.select(sa.func.count()).select_from(outbox)
                                 .where(outbox.c.batch_id == batch_id)).scalar()
    return BatchInfo(batch_id=b.id, run_id=b.run_id, environment=b.environment, number=b.number,
                     size=b.size, remaining=remaining)


def claim(db: StateDB, batch_id: int) -> BatchInfo:
    """Mark a batch as being sent (heartbeat now). A retried task claims the same batch again
    and continues with the rows it still owns."""
    with db.write() as conn:
        n = conn.execute(batch.update().where(batch.c.id == batch_id)
                         .values(claimed_at=db.now(), heartbeat_at=db.now(), finished_at=None)).rowcount
        if not n:
            raise KeyError(f"batch {batch_id} does not exist")
    return info(db, batch_id)


def owned_rows(db: StateDB, batch_id: int) -> list[StagedRegistration]:
    """The rows this batch still owns, in send order (payloads included)."""
    with db.read() as conn:
        rows = conn.execute(sa.select(outbox).where(outbox.c.batch_id == batch_id).order_by(*SEND_ORDER))
        return [StagedRegistration(outbox_id=r.id, environment=r.environment, system_id=r.system_id,
                                   behandlingsnummer=r.behandlingsnummer, xml_bytes=bytes(r.payload),
                                   content_hash=r.content_hash, attempts=r.attempts,
                                   wait_reason=r.wait_reason) for r in rows]


def finish(db: StateDB, batch_id: int) -> int:
    """Release what the batch still owns (it stays waiting with its reason); returns that count."""
    with db.write() as conn:
        n = conn.execute(outbox.update().where(outbox.c.batch_id == batch_id).values(batch_id=None)).rowcount
        conn.execute(batch.update().where(batch.c.id == batch_id).values(finished_at=db.now()))
    return n


def planned_size(db: StateDB, run_id: str) -> int:
    """How many rows the batches of a run were given in all."""
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(batch.c.size), 0))
                                .where(batch.c.run_id == run_id)).scalar())


def has_other_open_batches(db: StateDB, run_id: str, this_batch: int) -> bool:
    """Whether any batch of the run besides ``this_batch`` is still unfinished."""
    with db.read() as conn:
        return bool(conn.execute(sa.select(sa.func.count()).select_from(batch).where(
            batch.c.run_id == run_id, batch.c.id != this_batch, batch.c.finished_at.is_(None))).scalar())
