"""The ledger of send attempts and SPOR's last final answer per registration.

An attempt is recorded *before* its request goes out and its answer right after. A final answer
updates ``spor_last_final`` (what staging compares new content with) and deletes the outbox row
with its payload; an attempt without a final answer leaves the row waiting. A process that dies
between request and answer leaves the row in the outbox with the attempt in the ledger, so it is
sent again (SPOR replaces by behandlingsnummer). The ledger never holds a payload.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from spor.lifecycle import ACCEPTED, FINAL_ANSWERS, State, WaitReason
from spor.state.batches import StagedRegistration
from spor.state.database import StateDB, inserted_id
from spor.state.tables import batch, last_final, ledger, outbox

#: Ledger outcomes besides the final answers (State values).
OUTCOME_TRANSIENT = "transient_error"
OUTCOME_CERTIFICATE = "certificate_error"


class FinalAnswer(Protocol):
    """SPOR's final answer (spor.transport.answers.SporAnswer). Its result code and text, fault,
    HTTP status and elapsed time are recorded when it has them."""

    @property
    def state(self) -> str: ...


class AnsweredAttempt(NamedTuple):
    """A ledger row with a final outcome, as the systemic rule reads it."""

    outcome: str
    result_text: str | None
    fault_type: str | None
    fault_rule: str | None
    http_status: int | None


@dataclass(frozen=True)
class Latency:
    median_s: float
    p90_s: float
    samples: int


def record_attempt(db: StateDB, reg: StagedRegistration, *, run_id: str, batch_id: int) -> int | None:
    """Record an attempt BEFORE the request goes out. Returns the ledger id, or None if the
    batch no longer owns the row (then it must not be sent)."""
    now = db.now()
    with db.write() as conn:
        n = conn.execute(outbox.update().where(outbox.c.id == reg.outbox_id, outbox.c.batch_id == batch_id)
                         .values(attempts=outbox.c.attempts + 1, last_attempt_at=now, run_id=run_id)).rowcount
        if not n:
            return None
        attempt: int = conn.execute(sa.select(outbox.c.attempts).where(outbox.c.id == reg.outbox_id)).scalar_one()
        reg.attempts = attempt
        return inserted_id(conn.execute(ledger.insert().values(
            run_id=run_id, batch_id=batch_id, outbox_id=reg.outbox_id, environment=reg.environment,
            system_id=reg.system_id, behandlingsnummer=reg.behandlingsnummer,
            content_hash=reg.content_hash, attempt=attempt, sent_at=now)))


def record_answer(db: StateDB, ledger_id: int, reg: StagedRegistration, answer: FinalAnswer) -> State:
    """Record SPOR's final answer (``answer.state`` in FINAL_ANSWERS): ledger outcome,
    ``spor_last_final`` for the content hash that was sent, and the outbox row (and so the
    payload) deleted. If the row was restaged with other content meanwhile, it stays waiting.

    An OK whose text did not say created or updated (``answer.kind_from_text`` False) is
    recorded as updated when this environment's ledger holds an accepted answer for the
    behandlingsnummer, else as created. Returns the state recorded."""
    state = State(answer.state)
    if state not in FINAL_ANSWERS:
        raise ValueError(f"{reg.behandlingsnummer}: {state.value} is not a final answer")
    now = db.now()
    with db.write() as conn:
        if state in ACCEPTED and not getattr(answer, "kind_from_text", True):
            state = State.UPDATED if _accepted_before(conn, reg.environment, reg.behandlingsnummer) else State.CREATED
        conn.execute(ledger.update().where(ledger.c.id == ledger_id).values(
            outcome=state.value, result_code=getattr(answer, "result_code", None),
            result_text=getattr(answer, "result_text", None), fault_type=getattr(answer, "fault_type", None),
            fault_rule=getattr(answer, "fault_rule", None), http_status=getattr(answer, "http_status", None),
            elapsed_s=getattr(answer, "elapsed_s", None), answered_at=now))
        _upsert_last_final(db, conn, dict(
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
    return state


def _accepted_before(conn: Connection, environment: str, behandlingsnummer: str) -> bool:
    """Whether SPOR accepted this behandlingsnummer in this environment before (any unit: SPOR
    keys a registration by its number)."""
    return conn.execute(sa.select(ledger.c.id).where(
        ledger.c.environment == environment, ledger.c.behandlingsnummer == behandlingsnummer,
        ledger.c.outcome.in_([s.value for s in ACCEPTED])).limit(1)).first() is not None


def ok_texts(db: StateDB, run_id: str) -> dict[str, int]:
    """SPOR's texts of this run's accepted answers (as kept: masked), with how often each came."""
    with db.read() as conn:
        return {text or "": int(n) for text, n in conn.execute(
            sa.select(ledger.c.result_text, sa.func.count())
            .where(ledger.c.run_id == run_id, ledger.c.outcome.in_([s.value for s in ACCEPTED]))
            .group_by(ledger.c.result_text))}


def _upsert_last_final(db: StateDB, conn: Connection, values: dict[str, object]) -> None:
    db.upsert(conn, last_final, values, keys=("environment", "system_id", "behandlingsnummer"))


def record_failure(db: StateDB, ledger_id: int, reg: StagedRegistration, *, outcome: str, detail: str,
                   elapsed_s: float | None = None, not_before: datetime | None = None) -> None:
    """Record an attempt that got no final answer (``OUTCOME_TRANSIENT`` or
    ``OUTCOME_CERTIFICATE``). ``detail`` must carry no personal data (error class, status).
    ``not_before``: the registration is deferred until then (a run taking it over respects it)."""
    now = db.now()
    with db.write() as conn:
        conn.execute(ledger.update().where(ledger.c.id == ledger_id).values(
            outcome=outcome, result_text=detail[:500], elapsed_s=elapsed_s, answered_at=now))
        conn.execute(outbox.update().where(outbox.c.id == reg.outbox_id).values(not_before=not_before))


def last_final_answer(db: StateDB, environment: str, system_id: str, behandlingsnummer: str) -> tuple[str, str] | None:
    """(state, content_hash) of SPOR's last final answer, or None."""
    with db.read() as conn:
        r = conn.execute(sa.select(last_final.c.state, last_final.c.content_hash).where(
            last_final.c.environment == environment, last_final.c.system_id == system_id,
            last_final.c.behandlingsnummer == behandlingsnummer)).first()
    return None if r is None else (r.state, r.content_hash)


def run_answers(db: StateDB, run_id: str, limit: int, *, skip_system_ids: Iterable[str] = ()) -> list[AnsweredAttempt]:
    """The first ``limit`` answered attempts of a run with a final outcome, oldest first, leaving
    out those of ``skip_system_ids``."""
    skip = sorted(set(skip_system_ids))
    with db.read() as conn:
        return [AnsweredAttempt(*r) for r in conn.execute(
            sa.select(ledger.c.outcome, ledger.c.result_text, ledger.c.fault_type, ledger.c.fault_rule,
                      ledger.c.http_status)
            .where(ledger.c.run_id == run_id, ledger.c.outcome.in_([s.value for s in FINAL_ANSWERS]),
                   *([ledger.c.system_id.not_in(skip)] if skip else []))
            .order_by(ledger.c.answered_at, ledger.c.id).limit(limit))]


def final_answers_in_run(db: StateDB, run_id: str) -> dict[str, tuple[str, str]]:
    """Per behandlingsnummer the run's last final answer as (system_id, state)."""
    with db.read() as conn:
        rows = conn.execute(
            sa.select(ledger.c.behandlingsnummer, ledger.c.system_id, ledger.c.outcome)
            .where(ledger.c.run_id == run_id, ledger.c.outcome.in_([s.value for s in FINAL_ANSWERS]))
            .order_by(ledger.c.id))
        return {r.behandlingsnummer: (r.system_id, r.outcome) for r in rows}


def recent_latency(db: StateDB, environment: str, *, since: timedelta = timedelta(days=7),
                   limit: int = 2000) -> Latency | None:
    """Median and 90th percentile of answered attempts' elapsed time (None without data)."""
    cutoff = db.now() - since
    with db.read() as conn:
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


@dataclass(frozen=True)
class SystemHistory:
    """When a SystemId last sent to an environment and last had a registration accepted there."""

    environment: str
    system_id: str
    last_sent_at: datetime | None
    last_accepted_at: datetime | None
    last_accepted_run_id: str | None


def history_by_system_id(db: StateDB, environment: str | None = None) -> dict[tuple[str, str], SystemHistory]:
    """(environment, system_id) -> its last attempt and last accepted answer, from the ledger."""
    accepted = [s.value for s in ACCEPTED]
    where = [] if environment is None else [ledger.c.environment == environment]
    with db.read() as conn:
        sent = {(r.environment, r.system_id): r.at for r in conn.execute(
            sa.select(ledger.c.environment, ledger.c.system_id, sa.func.max(ledger.c.sent_at).label("at"))
            .where(*where).group_by(ledger.c.environment, ledger.c.system_id))}
        last = (sa.select(sa.func.max(ledger.c.id).label("id")).where(*where, ledger.c.outcome.in_(accepted))
                .group_by(ledger.c.environment, ledger.c.system_id).subquery())
        ok = {(r.environment, r.system_id): (r.answered_at, r.run_id) for r in conn.execute(
            sa.select(ledger.c.environment, ledger.c.system_id, ledger.c.answered_at, ledger.c.run_id)
            .join(last, ledger.c.id == last.c.id))}
    return {key: SystemHistory(key[0], key[1], at, *(ok.get(key) or (None, None))) for key, at in sent.items()}
