"""Send batches: the outbox handed out in batches that each own their rows, so parallel send tasks
never send the same registration.

Send order (when not everything fits in the window): ``priority`` descending, then oldest
``waiting_since`` first, then behandlingsnummer ascending. So what the deadline left waiting goes
first the next night and nothing starves. A run plans its own rows before anybody else's
(``plan``): those it staged and those of its kind (its staging priority, so the night takes what
the last night left first); a nightly started during a backfill puts its own night in its first batches.
A run never takes rows another run staged at a higher priority than its own (``takes``): a
backfill day that plans after the nightly staged leaves the night to the nightly.

A claimed batch has an owner (the sending process, spor.state.owner) that beats every
``DEFAULT_BEAT`` while it sends, whatever the answers do. A batch whose owner is provably gone
(its process on this host no longer runs), whose heartbeat is older than ``DEFAULT_LEASE``
(about three beats), or whose run Airflow says has finished gives its rows back
(docs/adr/0005-crash-takeover-heartbeat-lease.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from spor.lifecycle import NIGHT_PRIORITY
from spor.state import owner as owners
from spor.state.chunks import chunks
from spor.state.database import StateDB, inserted_id
from spor.state.probes import AFTER_PROBE
from spor.state.tables import batch, outbox

if TYPE_CHECKING:
    from lxml import etree

#: The sending process writes its batch's heartbeat this often (a thread, not the answers).
DEFAULT_BEAT = timedelta(seconds=10)
#: A claimed batch whose heartbeat is older than this belongs to a dead worker: about three beats.
DEFAULT_LEASE = 3 * DEFAULT_BEAT
#: A planned batch nobody claimed yet has no owner process; its run may legitimately wait (pool
#: slots, the blackout). Its rows are taken back after this long, or at once when the run crashed
#: (one of its claimed batches died) or Airflow says the run has finished.
UNCLAIMED_LEASE = timedelta(minutes=15)

#: ``run_finished(dag_id, run_id)``: True only when Airflow says that run has finished or failed.
RunFinished = Callable[[str, str], bool]

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
    not_before: datetime | None = None  # deferred after a transient failure until then
    _element: etree._Element | None = field(default=None, repr=False)

    @property
    def element(self) -> etree._Element:
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


def dead_batches(db: StateDB, environment: str | None = None, *, lease: timedelta = DEFAULT_LEASE,
                 run_finished: RunFinished | None = None) -> dict[int, str]:
    """Open batches (of ``environment``, or all) whose owner is dead, with the reason why."""
    now = db.now()
    q = sa.select(batch).where(batch.c.finished_at.is_(None))
    if environment is not None:
        q = q.where(batch.c.environment == environment)
    with db.read() as conn:
        rows = conn.execute(q).all()
    dead: dict[int, str] = {}
    finished: dict[tuple[str, str], bool] = {}

    def run_over(r: sa.Row[*tuple[object, ...]]) -> bool:
        if run_finished is None or not r.dag_id:
            return False
        key = (r.dag_id, r.run_id)
        if key not in finished:
            try:
                finished[key] = bool(run_finished(*key))
            except Exception:  # noqa: BLE001 - Airflow could not say: decide without it
                finished[key] = False
        return finished[key]

    for r in rows:
        if r.claimed_at is None:
            continue
        alive, why = owners.verdict(r, now, lease)
        if not alive:
            dead[r.id] = why
        elif run_over(r):
            dead[r.id] = f"Airflow says run {r.run_id} has finished"
    crashed = {r.run_id for r in rows if r.id in dead}
    for r in rows:
        if r.claimed_at is not None or r.id in dead:
            continue
        if r.run_id in crashed:
            dead[r.id] = f"run {r.run_id} crashed (one of its batches died)"
        elif now - r.planned_at > UNCLAIMED_LEASE:
            dead[r.id] = f"planned {UNCLAIMED_LEASE} ago and never claimed"
        elif run_over(r):
            dead[r.id] = f"Airflow says run {r.run_id} has finished"
    return dead


def recover_stale(db: StateDB, *, lease: timedelta = DEFAULT_LEASE, environment: str | None = None,
                  run_finished: RunFinished | None = None, into: int | None = None) -> int:
    """Release the rows of open batches whose owner is dead (dead_batches), or hand them straight
    to batch ``into`` (a run taking them over). Returns the number of rows moved; they keep their
    attempts. A batch being taken over is finished first, so its owner cannot send on."""
    dead = [bid for bid in dead_batches(db, environment, lease=lease, run_finished=run_finished) if bid != into]
    moved = 0
    with db.write() as conn:
        for part in chunks(dead):
            conn.execute(batch.update().where(batch.c.id.in_(part), batch.c.finished_at.is_(None))
                         .values(finished_at=db.now()))
            moved += conn.execute(outbox.update().where(outbox.c.batch_id.in_(part))
                                  .values(batch_id=into)).rowcount
        if into is not None and moved:
            # Reopened in the same transaction: rows never sit in a finished batch.
            conn.execute(batch.update().where(batch.c.id == into).values(
                size=batch.c.size + moved, finished_at=None, heartbeat_at=db.now(), **owners.current().columns()))
        # Rows left behind in finished batches (a crash between finishing and releasing) are free.
        conn.execute(outbox.update().where(outbox.c.batch_id.in_(
            sa.select(batch.c.id).where(batch.c.finished_at.is_not(None)).scalar_subquery()))
            .values(batch_id=None))
    return moved


def unproven_owners(db: StateDB, environment: str) -> dict[int, datetime]:
    """Open claimed batches of ``environment`` that own rows and whose owner cannot be proven alive
    or dead by its process (another host): their heartbeat decides. Batch id → heartbeat."""
    me = owners.current()
    with db.read() as conn:
        rows = conn.execute(sa.select(batch.c.id, batch.c.heartbeat_at, batch.c.owner_host, batch.c.owner_pidns)
                            .where(batch.c.environment == environment, batch.c.finished_at.is_(None),
                                   batch.c.claimed_at.is_not(None),
                                   sa.exists().where(outbox.c.batch_id == batch.c.id))).all()
    return {r.id: r.heartbeat_at for r in rows if not (r.owner_host == me.host and r.owner_pidns == me.pidns)}


def takes(run_id: str, priority: int) -> sa.ColumnElement[bool]:
    """Whose rows a run of staging ``priority`` may take: its own, and those staged at its
    priority or below. A run at the nightly's priority (or above) takes everything, the probes of
    the night included; a resend or backfill leaves the night's rows (and another resend's) to the
    runs of their kind."""
    if priority >= NIGHT_PRIORITY:
        return sa.true()
    return sa.or_(outbox.c.staged_run_id == run_id, outbox.c.priority <= priority)


def plannable(run_id: str, environment: str, priority: int) -> sa.ColumnElement[bool]:
    """The outbox rows a run may plan now: no batch owns them, they are not held behind a probe,
    and the run ``takes`` them."""
    return sa.and_(outbox.c.environment == environment, outbox.c.batch_id.is_(None),
                   outbox.c.wait_reason != AFTER_PROBE,  # sent after their probe
                   takes(run_id, priority))


def plan(db: StateDB, run_id: str, environment: str, batch_size: int, max_batches: int, *,
         lease: timedelta = DEFAULT_LEASE, dag_id: str | None = None,
         run_finished: RunFinished | None = None, priority: int = NIGHT_PRIORITY) -> list[int]:
    """Assign waiting rows of ``environment`` to at most ``max_batches`` batches of at most
    ``batch_size`` rows, in the send order; each batch owns its rows. Rows of dead batches
    (lease expired) and this run's unclaimed batches from an earlier planning are re-planned
    first. The run's own rows come first (staged by it, or at its staging ``priority``: what
    earlier runs of its kind left), oldest first; then the others it may take (``plannable``) in
    the send order. Returns the batch ids (planning order = send order)."""
    if batch_size < 1 or max_batches < 1:
        raise ValueError("batch_size and max_batches must be at least 1")
    recover_stale(db, lease=lease, run_finished=run_finished)
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
        own_first = sa.case((sa.or_(outbox.c.staged_run_id == run_id, outbox.c.priority == priority), 0), else_=1)
        candidates = [r.id for r in conn.execute(
            sa.select(outbox.c.id).where(plannable(run_id, environment, priority))
            .order_by(own_first, *SEND_ORDER).limit(batch_size * max_batches))]
        for part in chunks(candidates, batch_size):
            number += 1
            bid = inserted_id(conn.execute(batch.insert().values(
                run_id=run_id, dag_id=dag_id, environment=environment, number=number, size=0,
                planned_at=now, heartbeat_at=now)))
            taken = 0
            for sub in chunks(part):
                taken += conn.execute(outbox.update().where(outbox.c.id.in_(sub), outbox.c.batch_id.is_(None))
                                      .values(batch_id=bid, run_id=run_id)).rowcount
            conn.execute(batch.update().where(batch.c.id == bid).values(size=taken))
            ids.append(bid)
    return ids


def unplanned(db: StateDB, environment: str, run_id: str = "", priority: int = NIGHT_PRIORITY) -> int:
    """Rows of ``environment`` that run ``run_id`` (staging ``priority``) would be given if it
    planned now; by default what a nightly would be given."""
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(outbox).where(
            plannable(run_id, environment, priority))).scalar_one())


def held_by_other_runs(db: StateDB, environment: str, run_id: str) -> dict[tuple[str, str], int]:
    """Rows of ``environment`` that open batches of other runs own: (dag id, run id) → rows."""
    q = (sa.select(batch.c.dag_id, batch.c.run_id, sa.func.count(outbox.c.id))
         .join(outbox, outbox.c.batch_id == batch.c.id)
         .where(batch.c.environment == environment, batch.c.finished_at.is_(None), batch.c.run_id != run_id)
         .group_by(batch.c.dag_id, batch.c.run_id).order_by(batch.c.run_id))
    with db.read() as conn:
        return {(str(d or ""), str(r)): int(n) for d, r, n in conn.execute(q)}


def info(db: StateDB, batch_id: int) -> BatchInfo:
    with db.read() as conn:
        b = conn.execute(sa.select(batch).where(batch.c.id == batch_id)).one()
        remaining = conn.execute(sa.select(sa.func.count()).select_from(outbox)
                                 .where(outbox.c.batch_id == batch_id)).scalar_one()
    return BatchInfo(batch_id=b.id, run_id=b.run_id, environment=b.environment, number=b.number,
                     size=b.size, remaining=remaining)


def claim(db: StateDB, batch_id: int, owner: owners.Owner | None = None) -> BatchInfo:
    """Mark a batch as being sent by ``owner`` (this process by default; heartbeat now). A retried
    task claims the same batch again and continues with the rows it still owns."""
    me = owner or owners.current()
    with db.write() as conn:
        n = conn.execute(batch.update().where(batch.c.id == batch_id)
                         .values(claimed_at=db.now(), heartbeat_at=db.now(), finished_at=None,
                                 paused_reason=None, **me.columns())).rowcount
        if not n:
            raise KeyError(f"batch {batch_id} does not exist")
    return info(db, batch_id)


def beat(db: StateDB, batch_id: int, owner: owners.Owner, paused_reason: str | None = None) -> bool:
    """Write the heartbeat of a batch this owner still holds. False: it was taken over."""
    with db.write() as conn:
        return bool(conn.execute(batch.update().where(
            batch.c.id == batch_id, batch.c.finished_at.is_(None), batch.c.owner_pid == owner.pid,
            batch.c.owner_host == owner.host).values(heartbeat_at=db.now(), paused_reason=paused_reason)).rowcount)


def owned_rows(db: StateDB, batch_id: int) -> list[StagedRegistration]:
    """The rows this batch still owns, in send order (payloads included)."""
    with db.read() as conn:
        rows = conn.execute(sa.select(outbox).where(outbox.c.batch_id == batch_id).order_by(*SEND_ORDER))
        return [StagedRegistration(outbox_id=r.id, environment=r.environment, system_id=r.system_id,
                                   behandlingsnummer=r.behandlingsnummer, xml_bytes=bytes(r.payload),
                                   content_hash=r.content_hash, attempts=r.attempts,
                                   wait_reason=r.wait_reason, not_before=r.not_before) for r in rows]


def finish(db: StateDB, batch_id: int) -> int:
    """Release what the batch still owns (it stays waiting with its reason); returns that count."""
    with db.write() as conn:
        n = conn.execute(outbox.update().where(outbox.c.batch_id == batch_id).values(batch_id=None)).rowcount
        conn.execute(batch.update().where(batch.c.id == batch_id).values(finished_at=db.now()))
    return n


def finish_run(db: StateDB, run_id: str) -> int:
    """The run is over: finish its open batches and give back what they still own (a stopped run's
    batches that never sent, a send task that never ran). Returns the rows given back."""
    with db.write() as conn:
        open_ids = [r.id for r in conn.execute(sa.select(batch.c.id).where(
            batch.c.run_id == run_id, batch.c.finished_at.is_(None)))]
        n = 0
        for part in chunks(open_ids):
            n += conn.execute(outbox.update().where(outbox.c.batch_id.in_(part)).values(batch_id=None)).rowcount
            conn.execute(batch.update().where(batch.c.id.in_(part)).values(finished_at=db.now()))
    return n


def planned_size(db: StateDB, run_id: str) -> int:
    """How many rows the batches of a run were given in all."""
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(batch.c.size), 0))
                                .where(batch.c.run_id == run_id)).scalar_one())


def has_other_open_batches(db: StateDB, run_id: str, this_batch: int) -> bool:
    """Whether any batch of the run besides ``this_batch`` is still unfinished."""
    with db.read() as conn:
        return bool(conn.execute(sa.select(sa.func.count()).select_from(batch).where(
            batch.c.run_id == run_id, batch.c.id != this_batch, batch.c.finished_at.is_(None))).scalar_one())
