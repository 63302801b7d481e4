"""Outbox and ledger operations on the state database (docs/state-machine.md).

Every write is one short transaction. The life of a registration here:

``stage`` → outbox row WAITING(NEW) → ``plan_batches`` gives it to one batch → ``record_attempt``
(ledger row, outcome NULL, *before* the request) → ``record_answer`` (final answer: ledger
outcome, ``spor_last_final`` updated, outbox row deleted with its payload) or ``record_failure``
(transient / certificate: row stays waiting) → ``mark_waiting`` / ``finish_batch`` releases what
is left. A process that dies between request and ``record_answer`` leaves the row in the outbox
with the attempt in the ledger; it is sent again (SPOR replaces by behandlingsnummer).

Send order (when not everything fits in the window): ``priority`` descending, then oldest
``waiting_since`` first, then behandlingsnummer ascending. So what the deadline left waiting goes
first the next night and nothing starves.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Iterator, Protocol, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from spor.states import ACCEPTED, FINAL_ANSWERS, HELD_BACK, State, WaitReason
from spor.state.database import StateDB
from spor.state.tables import batch, held_back, last_final, ledger, outbox, run_summary, stage_log, watermark

#: Not a registration state: the quality gate warned but the registration is sent (issue 5).
WARNED = "warned"
#: Ledger outcomes besides the final answers (State values).
OUTCOME_TRANSIENT = "transient_error"
OUTCOME_CERTIFICATE = "certificate_error"
#: A batch whose heartbeat is older than this belongs to a dead worker: its rows are re-planned.
DEFAULT_LEASE = timedelta(minutes=15)
_CHUNK = 500


class RegistrationLike(Protocol):
    behandlingsnummer: str
    xml_bytes: bytes
    content_hash: str


@dataclass(frozen=True)
class StageResult:
    staged: int            # new or changed content now waiting in the outbox
    unchanged: int         # same content hash as SPOR's last final answer: skipped
    already_waiting: int   # same content already waiting in the outbox (counted in ``staged``)


@dataclass(frozen=True)
class HeldBackItem:
    behandlingsnummer: str
    state: State | str     # one of states.HELD_BACK, or WARNED
    rule: str | None = None
    reason: str | None = None
    variable: str | None = None
    environment: str | None = None
    system_id: str | None = None


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


@dataclass(frozen=True)
class Latency:
    median_s: float
    p90_s: float
    samples: int


@dataclass(frozen=True)
class AttentionItem:
    """A registration the team must look at (behandlingsnummer + reason, never personal data)."""

    behandlingsnummer: str
    environment: str | None
    state: str
    reason: str


@dataclass
class SummaryCounts:
    run_id: str
    by_state: dict[str, int]            # every State value + WARNED, answers of this run
    waiting_by_reason: dict[str, int]   # outbox rows this run left waiting, per WaitReason
    backlog: dict[str, int]             # whole outbox per environment (all runs)
    attention: list[AttentionItem]

    def as_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "by_state": self.by_state,
            "waiting_by_reason": self.waiting_by_reason,
            "backlog": self.backlog,
            "attention": [a.__dict__ for a in self.attention],
        }


def _chunks(seq: Sequence, n: int = _CHUNK) -> Iterator[Sequence]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _system_id_of(reg: Any) -> str:
    sid = getattr(reg, "system_id", None)
    if sid:
        return str(sid)
    # The message module may not expose it: read SystemId from the built element.
    element = getattr(reg, "element", None)
    if element is None:
        from lxml import etree

        element = etree.fromstring(reg.xml_bytes)
    for el in element.iter():
        if isinstance(el.tag, str) and el.tag.rsplit("}", 1)[-1].lower() == "systemid" and el.text:
            return el.text.strip()
    raise ValueError(f"{reg.behandlingsnummer}: registration has no SystemId")


def _watermark_newer(new: str, old: str | None) -> bool:
    if old is None:
        return True
    try:
        a, b = datetime.fromisoformat(new), datetime.fromisoformat(old)
        if (a.tzinfo is None) == (b.tzinfo is None):
            return a > b
    except ValueError:
        pass
    return new > old


class Ledger:
    """Outbox + ledger operations. ``Ledger(db)`` with a :class:`spor.state.database.StateDB`."""

    def __init__(self, db: StateDB):
        self.db = db

    # ------------------------------------------------------------------ staging
    def stage(self, run_id: str, environment: str, registrations: Iterable[RegistrationLike], *,
              force: bool = False, watermark: tuple[str, datetime | str] | None = None,
              priority: int = 0) -> StageResult:
        """Put what differs from SPOR's last final answer (per environment + SystemId +
        behandlingsnummer) in the outbox as WAITING(NEW), and advance the watermark in the SAME
        transaction. ``force`` stages even unchanged content. A waiting row with other content is
        replaced (its ``waiting_since`` kept); a waiting row whose content went back to what SPOR
        already holds is removed."""
        regs: dict[tuple[str, str], RegistrationLike] = {}
        for reg in registrations:
            regs[(_system_id_of(reg), str(reg.behandlingsnummer))] = reg  # last one wins
        now = self.db.now()
        staged = unchanged = already = 0
        keys = list(regs)
        with self.db.write() as conn:
            for part in _chunks(keys):
                bns = sorted({bn for _, bn in part})
                finals = {
                    (r.system_id, r.behandlingsnummer): r.content_hash
                    for r in conn.execute(sa.select(last_final.c.system_id, last_final.c.behandlingsnummer,
                                                    last_final.c.content_hash)
                                          .where(last_final.c.environment == environment,
                                                 last_final.c.behandlingsnummer.in_(bns)))
                }
                waiting = {
                    (r.system_id, r.behandlingsnummer): (r.id, r.content_hash)
                    for r in conn.execute(sa.select(outbox.c.id, outbox.c.system_id, outbox.c.behandlingsnummer,
                                                    outbox.c.content_hash)
                                          .where(outbox.c.environment == environment,
                                                 outbox.c.behandlingsnummer.in_(bns)))
                }
                inserts = []
                for key in part:
                    reg = regs[key]
                    chash = str(reg.content_hash)
                    current = waiting.get(key)
                    if not force and finals.get(key) == chash:
                        unchanged += 1
                        if current is not None:  # content went back to what SPOR holds
                            conn.execute(outbox.delete().where(outbox.c.id == current[0]))
                        continue
                    staged += 1
                    if current is not None:
                        if current[1] == chash:
                            already += 1
                            continue
                        conn.execute(outbox.update().where(outbox.c.id == current[0]).values(
                            payload=bytes(reg.xml_bytes), content_hash=chash, staged_at=now,
                            staged_run_id=run_id, wait_reason=WaitReason.NEW.value,
                            priority=sa.func.max(outbox.c.priority, priority)
                            if self.db.dialect == "sqlite" else sa.func.greatest(outbox.c.priority, priority)))
                        continue
                    inserts.append(dict(
                        environment=environment, system_id=key[0], behandlingsnummer=key[1],
                        payload=bytes(reg.xml_bytes), content_hash=chash, state=State.WAITING.value,
                        wait_reason=WaitReason.NEW.value, priority=priority, waiting_since=now,
                        staged_at=now, staged_run_id=run_id, run_id=run_id, attempts=0))
                if inserts:
                    conn.execute(outbox.insert(), inserts)
            conn.execute(stage_log.insert().values(run_id=run_id, environment=environment, staged=staged,
                                                   unchanged=unchanged, already_waiting=already, at=now))
            if watermark is not None:
                self._advance_watermark(conn, watermark[0], watermark[1], run_id)
        return StageResult(staged=staged, unchanged=unchanged, already_waiting=already)

    def _advance_watermark(self, conn: Connection, name: str, value: datetime | str, run_id: str | None) -> None:
        text = value.isoformat() if isinstance(value, datetime) else str(value)
        old = conn.execute(sa.select(watermark.c.value).where(watermark.c.name == name)).scalar()
        if old is None:
            conn.execute(watermark.insert().values(name=name, value=text, run_id=run_id, updated_at=self.db.now()))
        elif _watermark_newer(text, old):
            conn.execute(watermark.update().where(watermark.c.name == name)
                         .values(value=text, run_id=run_id, updated_at=self.db.now()))

    def get_watermark(self, name: str) -> str | None:
        """The last successful extraction upper bound (ISO text as given), or None."""
        with self.db.read() as conn:
            return conn.execute(sa.select(watermark.c.value).where(watermark.c.name == name)).scalar()

    def set_watermark(self, name: str, value: datetime | str, run_id: str | None = None) -> None:
        """Advance a watermark on its own (it never moves backwards)."""
        with self.db.write() as conn:
            self._advance_watermark(conn, name, value, run_id)

    def record_held_back(self, run_id: str, items: Iterable[HeldBackItem]) -> int:
        """Record registrations held back before sending (or WARNED by the quality gate)."""
        allowed = {s.value for s in HELD_BACK} | {WARNED}
        now = self.db.now()
        rows = []
        for it in items:
            state = it.state.value if isinstance(it.state, State) else str(it.state)
            if state not in allowed:
                raise ValueError(f"{it.behandlingsnummer}: {state!r} is not a held-back state")
            rows.append(dict(run_id=run_id, environment=it.environment, system_id=it.system_id,
                             behandlingsnummer=str(it.behandlingsnummer), state=state, rule=it.rule,
                             variable=it.variable, reason=it.reason, recorded_at=now))
        if rows:
            with self.db.write() as conn:
                for part in _chunks(rows):
                    conn.execute(held_back.insert(), list(part))
        return len(rows)

    # ------------------------------------------------------------------ batches
    def _order(self):
        return (outbox.c.priority.desc(), outbox.c.waiting_since.asc(), outbox.c.behandlingsnummer.asc(),
                outbox.c.id.asc())

    def recover_stale(self, *, lease: timedelta = DEFAULT_LEASE) -> int:
        """Release the rows of unfinished batches whose heartbeat is older than ``lease`` (dead
        workers). Returns the number of rows released; they wait again and keep their attempts."""
        cutoff = self.db.now() - lease
        with self.db.write() as conn:
            stale = [r.id for r in conn.execute(sa.select(batch.c.id).where(
                batch.c.finished_at.is_(None), batch.c.heartbeat_at < cutoff))]
            released = 0
            for part in _chunks(stale):
                released += conn.execute(outbox.update().where(outbox.c.batch_id.in_(part))
                                         .values(batch_id=None)).rowcount
                conn.execute(batch.update().where(batch.c.id.in_(part)).values(finished_at=self.db.now()))
        return released

    def plan_batches(self, run_id: str, environment: str, batch_size: int, max_batches: int, *,
                     lease: timedelta = DEFAULT_LEASE) -> list[int]:
        """Assign waiting rows of ``environment`` to at most ``max_batches`` batches of at most
        ``batch_size`` rows, in the send order; each batch owns its rows. Rows of dead batches
        (lease expired) and this run's unclaimed batches from an earlier planning are re-planned
        first. Returns the batch ids (planning order = send order)."""
        if batch_size < 1 or max_batches < 1:
            raise ValueError("batch_size and max_batches must be at least 1")
        self.recover_stale(lease=lease)
        now = self.db.now()
        ids: list[int] = []
        with self.db.write() as conn:
            # A re-planned run (task retry) takes back the batches nobody claimed yet.
            old = [r.id for r in conn.execute(sa.select(batch.c.id).where(
                batch.c.run_id == run_id, batch.c.claimed_at.is_(None), batch.c.finished_at.is_(None)))]
            for part in _chunks(old):
                conn.execute(outbox.update().where(outbox.c.batch_id.in_(part)).values(batch_id=None))
                conn.execute(batch.update().where(batch.c.id.in_(part)).values(finished_at=now))
            number = (conn.execute(sa.select(sa.func.max(batch.c.number)).where(batch.c.run_id == run_id))
                      .scalar() or 0)
            candidates = [r.id for r in conn.execute(
                sa.select(outbox.c.id).where(outbox.c.environment == environment, outbox.c.batch_id.is_(None))
                .order_by(*self._order()).limit(batch_size * max_batches))]
            for part in _chunks(candidates, batch_size):
                number += 1
                bid = conn.execute(batch.insert().values(
                    run_id=run_id, environment=environment, number=number, size=0, planned_at=now,
                    heartbeat_at=now)).inserted_primary_key[0]
                taken = 0
                for sub in _chunks(part):
                    taken += conn.execute(outbox.update().where(outbox.c.id.in_(sub), outbox.c.batch_id.is_(None))
                                          .values(batch_id=bid, run_id=run_id)).rowcount
                conn.execute(batch.update().where(batch.c.id == bid).values(size=taken))
                ids.append(int(bid))
        return ids

    def batch_info(self, batch_id: int) -> BatchInfo:
        with self.db.read() as conn:
            b = conn.execute(sa.select(batch).where(batch.c.id == batch_id)).one()
            remaining = conn.execute(sa.select(sa.func.count()).select_from(outbox)
                                     .where(outbox.c.batch_id == batch_id)).scalar()
        return BatchInfo(batch_id=b.id, run_id=b.run_id, environment=b.environment, number=b.number,
                         size=b.size, remaining=remaining)

    def claim(self, batch_id: int) -> BatchInfo:
        """Mark a batch as being sent (heartbeat now). A retried task claims the same batch again
        and continues with the rows it still owns."""
        with self.db.write() as conn:
            n = conn.execute(batch.update().where(batch.c.id == batch_id)
                             .values(claimed_at=self.db.now(), heartbeat_at=self.db.now(), finished_at=None)).rowcount
            if not n:
                raise KeyError(f"batch {batch_id} does not exist")
        return self.batch_info(batch_id)

    def iter_batch(self, batch_id: int) -> list[StagedRegistration]:
        """The rows this batch still owns, in send order (payloads included)."""
        with self.db.read() as conn:
            rows = conn.execute(sa.select(outbox).where(outbox.c.batch_id == batch_id).order_by(*self._order()))
            return [StagedRegistration(outbox_id=r.id, environment=r.environment, system_id=r.system_id,
                                       behandlingsnummer=r.behandlingsnummer, xml_bytes=bytes(r.payload),
                                       content_hash=r.content_hash, attempts=r.attempts,
                                       wait_reason=r.wait_reason) for r in rows]

    def finish_batch(self, batch_id: int) -> int:
        """Release what the batch still owns (it stays waiting with its reason); returns that count."""
        with self.db.write() as conn:
            n = conn.execute(outbox.update().where(outbox.c.batch_id == batch_id).values(batch_id=None)).rowcount
            conn.execute(batch.update().where(batch.c.id == batch_id).values(finished_at=self.db.now()))
        return n

    # ------------------------------------------------------------------ attempts and answers
    def record_attempt(self, reg: StagedRegistration, *, run_id: str, batch_id: int) -> int | None:
        """Record an attempt BEFORE the request goes out. Returns the ledger id, or None if the
        batch no longer owns the row (then it must not be sent)."""
        now = self.db.now()
        with self.db.write() as conn:
            n = conn.execute(outbox.update().where(outbox.c.id == reg.outbox_id, outbox.c.batch_id == batch_id)
                             .values(attempts=outbox.c.attempts + 1, last_attempt_at=now, run_id=run_id)).rowcount
            if not n:
                return None
            attempt = conn.execute(sa.select(outbox.c.attempts).where(outbox.c.id == reg.outbox_id)).scalar()
            reg.attempts = attempt
            return int(conn.execute(ledger.insert().values(
                run_id=run_id, batch_id=batch_id, outbox_id=reg.outbox_id, environment=reg.environment,
                system_id=reg.system_id, behandlingsnummer=reg.behandlingsnummer,
                content_hash=reg.content_hash, attempt=attempt, sent_at=now)).inserted_primary_key[0])

    def record_answer(self, ledger_id: int, reg: StagedRegistration, answer: Any) -> None:
        """Record SPOR's final answer (``answer.state`` in FINAL_ANSWERS): ledger outcome,
        ``spor_last_final`` for the content hash that was sent, and the outbox row (and so the
        payload) deleted. If the row was restaged with other content meanwhile, it stays waiting."""
        state = State(answer.state)
        if state not in FINAL_ANSWERS:
            raise ValueError(f"{reg.behandlingsnummer}: {state.value} is not a final answer")
        now = self.db.now()
        with self.db.write() as conn:
            conn.execute(ledger.update().where(ledger.c.id == ledger_id).values(
                outcome=state.value, result_code=getattr(answer, "result_code", None),
                result_text=getattr(answer, "result_text", None), fault_type=getattr(answer, "fault_type", None),
                fault_rule=getattr(answer, "fault_rule", None), http_status=getattr(answer, "http_status", None),
                elapsed_s=getattr(answer, "elapsed_s", None), answered_at=now))
            self._upsert_last_final(conn, dict(
                environment=reg.environment, system_id=reg.system_id, behandlingsnummer=reg.behandlingsnummer,
                state=state.value, content_hash=reg.content_hash, answered_at=now,
                run_id=conn.execute(sa.select(ledger.c.run_id).where(ledger.c.id == ledger_id)).scalar(),
                ledger_id=ledger_id))
            gone = conn.execute(outbox.delete().where(outbox.c.id == reg.outbox_id,
                                                      outbox.c.content_hash == reg.content_hash)).rowcount
            if not gone:  # restaged with new content while in flight: send that next time
                conn.execute(outbox.update().where(outbox.c.id == reg.outbox_id)
                             .values(batch_id=None, wait_reason=WaitReason.NEW.value))
            bid = conn.execute(sa.select(ledger.c.batch_id).where(ledger.c.id == ledger_id)).scalar()
            if bid is not None:
                conn.execute(batch.update().where(batch.c.id == bid).values(heartbeat_at=now))

    def _upsert_last_final(self, conn: Connection, values: dict) -> None:
        if self.db.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = insert(last_final).values(**values)
        keys = ["environment", "system_id", "behandlingsnummer"]
        conn.execute(stmt.on_conflict_do_update(
            index_elements=keys, set_={k: stmt.excluded[k] for k in values if k not in keys}))

    def record_failure(self, ledger_id: int, reg: StagedRegistration, *, outcome: str, detail: str,
                       elapsed_s: float | None = None) -> None:
        """Record an attempt that got no final answer (``OUTCOME_TRANSIENT`` or
        ``OUTCOME_CERTIFICATE``). ``detail`` must carry no personal data (error class, status)."""
        now = self.db.now()
        with self.db.write() as conn:
            conn.execute(ledger.update().where(ledger.c.id == ledger_id).values(
                outcome=outcome, result_text=detail[:500], elapsed_s=elapsed_s, answered_at=now))

    def mark_waiting(self, outbox_ids: Iterable[int], reason: WaitReason) -> int:
        """Leave rows waiting with ``reason`` and release them from their batch."""
        ids = list(outbox_ids)
        n = 0
        with self.db.write() as conn:
            for part in _chunks(ids):
                n += conn.execute(outbox.update().where(outbox.c.id.in_(part))
                                  .values(wait_reason=WaitReason(reason).value, batch_id=None)).rowcount
        return n

    def mark_unplanned_waiting(self, environment: str, reason: WaitReason) -> int:
        """Every row of ``environment`` that no batch owns waits with ``reason`` (the window closed
        before batches could be planned)."""
        with self.db.write() as conn:
            return conn.execute(outbox.update().where(outbox.c.environment == environment, outbox.c.batch_id.is_(None))
                                .values(wait_reason=WaitReason(reason).value)).rowcount

    def withdraw(self, run_id: str, regs: Iterable[StagedRegistration], *, rule: str = "R11",
                 reason: str = "blocked (opt-out) after it was staged") -> int:
        """Take blocked registrations out of the outbox (payload deleted) and record them WITHDRAWN."""
        regs = list(regs)
        now = self.db.now()
        with self.db.write() as conn:
            for part in _chunks(regs):
                conn.execute(outbox.delete().where(outbox.c.id.in_([r.outbox_id for r in part])))
                conn.execute(held_back.insert(), [dict(
                    run_id=run_id, environment=r.environment, system_id=r.system_id,
                    behandlingsnummer=r.behandlingsnummer, state=State.WITHDRAWN.value, rule=rule,
                    reason=reason, recorded_at=now) for r in part])
        return len(regs)

    # ------------------------------------------------------------------ reading
    def run_answers(self, run_id: str, limit: int) -> list[Any]:
        """The first ``limit`` answered attempts of a run with a final outcome, oldest first."""
        with self.db.read() as conn:
            return list(conn.execute(
                sa.select(ledger.c.outcome, ledger.c.result_text, ledger.c.fault_type, ledger.c.fault_rule,
                          ledger.c.http_status)
                .where(ledger.c.run_id == run_id, ledger.c.outcome.in_([s.value for s in FINAL_ANSWERS]))
                .order_by(ledger.c.answered_at, ledger.c.id).limit(limit)))

    def run_planned(self, run_id: str) -> int:
        with self.db.read() as conn:
            return int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(batch.c.size), 0))
                                     .where(batch.c.run_id == run_id)).scalar())

    def last_final(self, environment: str, system_id: str, behandlingsnummer: str) -> tuple[str, str] | None:
        """(state, content_hash) of SPOR's last final answer, or None."""
        with self.db.read() as conn:
            r = conn.execute(sa.select(last_final.c.state, last_final.c.content_hash).where(
                last_final.c.environment == environment, last_final.c.system_id == system_id,
                last_final.c.behandlingsnummer == behandlingsnummer)).first()
        return None if r is None else (r.state, r.content_hash)

    def outbox_size(self, environment: str | None = None) -> int:
        with self.db.read() as conn:
            q = sa.select(sa.func.count()).select_from(outbox)
            if environment is not None:
                q = q.where(outbox.c.environment == environment)
            return int(conn.execute(q).scalar())

    def recent_latency(self, environment: str, *, since: timedelta = timedelta(days=7),
                       limit: int = 2000) -> Latency | None:
        """Median and 90th percentile of answered attempts' elapsed time (None without data)."""
        cutoff = self.db.now() - since
        with self.db.read() as conn:
            vals = [r[0] for r in conn.execute(
                sa.select(ledger.c.elapsed_s).where(ledger.c.environment == environment,
                                                    ledger.c.elapsed_s.is_not(None),
                                                    ledger.c.answered_at >= cutoff)
                .order_by(ledger.c.answered_at.desc()).limit(limit))]
        if not vals:
            return None
        vals.sort()
        return Latency(median_s=statistics.median(vals), p90_s=vals[min(len(vals) - 1, int(0.9 * len(vals)))],
                       samples=len(vals))

    def summary_counts(self, run_id: str) -> SummaryCounts:
        """Counts per state for one run: answers (last outcome per registration in this run),
        unchanged (from staging), held back and warned; what this run left waiting; the backlog."""
        by_state = {s.value: 0 for s in State} | {WARNED: 0}
        attention: list[AttentionItem] = []
        with self.db.read() as conn:
            last = (sa.select(ledger.c.environment, ledger.c.system_id, ledger.c.behandlingsnummer,
                              sa.func.max(ledger.c.id).label("id"))
                    .where(ledger.c.run_id == run_id, ledger.c.outcome.in_([s.value for s in FINAL_ANSWERS]))
                    .group_by(ledger.c.environment, ledger.c.system_id, ledger.c.behandlingsnummer).subquery())
            for r in conn.execute(sa.select(ledger).join(last, ledger.c.id == last.c.id).order_by(ledger.c.id)):
                by_state[r.outcome] += 1
                if r.outcome in (State.REJECTED.value, State.MALFORMED.value):
                    reason = r.result_text or ""
                    if r.outcome == State.MALFORMED.value:
                        reason = f"{r.fault_rule or 'schema'} for type {r.fault_type or '?'}"
                    attention.append(AttentionItem(r.behandlingsnummer, r.environment, r.outcome, reason))
            by_state[State.UNCHANGED.value] = int(conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(stage_log.c.unchanged), 0))
                .where(stage_log.c.run_id == run_id)).scalar())
            for r in conn.execute(sa.select(held_back).where(held_back.c.run_id == run_id).order_by(held_back.c.id)):
                by_state[r.state] = by_state.get(r.state, 0) + 1
                reason = " ".join(x for x in (f"[{r.rule}]" if r.rule else "", r.variable or "", r.reason or "") if x)
                attention.append(AttentionItem(r.behandlingsnummer, r.environment, r.state, reason))
            waiting = {w.value: 0 for w in WaitReason}
            for reason, n in conn.execute(sa.select(outbox.c.wait_reason, sa.func.count())
                                          .where(outbox.c.run_id == run_id).group_by(outbox.c.wait_reason)):
                waiting[reason] = int(n)
            by_state[State.WAITING.value] = sum(waiting.values())
            backlog = {env: int(n) for env, n in conn.execute(
                sa.select(outbox.c.environment, sa.func.count()).group_by(outbox.c.environment))}
        return SummaryCounts(run_id=run_id, by_state=by_state, waiting_by_reason=waiting, backlog=backlog,
                             attention=attention)

    def save_summary(self, run_id: str, summary: dict) -> None:
        """Keep a run's summary (JSON; ids and counts only) in the state database."""
        text = json.dumps(summary, sort_keys=True, default=str)
        with self.db.write() as conn:
            n = conn.execute(run_summary.update().where(run_summary.c.run_id == run_id)
                             .values(summary_json=text, updated_at=self.db.now())).rowcount
            if not n:
                conn.execute(run_summary.insert().values(run_id=run_id, summary_json=text, updated_at=self.db.now()))

    def load_summary(self, run_id: str) -> dict | None:
        with self.db.read() as conn:
            text = conn.execute(sa.select(run_summary.c.summary_json).where(run_summary.c.run_id == run_id)).scalar()
        return None if text is None else json.loads(text)
