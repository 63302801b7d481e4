"""The outbox: registrations waiting to be sent, with their payload and why they wait
(docs/state-machine.md).

Every write is one short transaction. The life of a registration:

``stage`` → outbox row WAITING(NEW) → ``batches.plan`` gives it to one batch →
``attempts.record_attempt`` (before the request) → ``attempts.record_answer`` (final answer: row
deleted with its payload) or ``attempts.record_failure`` (row stays waiting) → ``mark_waiting`` /
``batches.finish`` releases what is left, waiting with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa

from spor.lifecycle import State, WaitReason
from spor.state.batches import StagedRegistration
from spor.state.chunks import chunks
from spor.state.database import StateDB
from spor.state.tables import held_back, last_final, outbox, stage_log
from spor.state.watermark import advance_in as advance_watermark_in


class RegistrationLike(Protocol):
    """A built registration; its SystemId is read from ``system_id`` or else from the element.
    Read-only, so frozen records fit too."""

    @property
    def behandlingsnummer(self) -> str: ...
    @property
    def xml_bytes(self) -> bytes: ...
    @property
    def content_hash(self) -> str: ...


@dataclass(frozen=True)
class StageResult:
    staged: int            # new or changed content now waiting in the outbox
    unchanged: int         # same content hash as SPOR's last final answer: skipped
    already_waiting: int   # same content already waiting in the outbox (counted in ``staged``)


def _system_id_of(reg: RegistrationLike) -> str:
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


def stage(db: StateDB, run_id: str, environment: str, registrations: Iterable[RegistrationLike], *,
          force: bool = False, watermark: tuple[str, datetime | str] | None = None,
          priority: int = 0, wait_reason: str | None = None) -> StageResult:
    """Put what differs from SPOR's last final answer (per environment + SystemId +
    behandlingsnummer) in the outbox as WAITING(NEW), and advance the watermark in the SAME
    transaction. ``force`` stages even unchanged content. A waiting row with other content is
    replaced (its ``waiting_since`` kept); a waiting row whose content went back to what SPOR
    already holds is removed. ``wait_reason`` (default NEW) is set on every row staged, also on one
    already waiting with the same content (a probe's followers, spor.state.probes). Every row
    staged, changed or not, no batch owns is this run's to plan (``staged_run_id``)."""
    regs: dict[tuple[str, str], RegistrationLike] = {}
    for reg in registrations:
        regs[(_system_id_of(reg), str(reg.behandlingsnummer))] = reg  # last one wins
    now = db.now()
    staged = unchanged = already = 0
    keys = list(regs)
    with db.write() as conn:
        for part in chunks(keys):
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
            restaged: list[int] = []
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
                        restaged.append(current[0])
                        continue
                    conn.execute(outbox.update().where(outbox.c.id == current[0]).values(
                        payload=bytes(reg.xml_bytes), content_hash=chash, staged_at=now,
                        staged_run_id=run_id, wait_reason=wait_reason or WaitReason.NEW.value,
                        priority=sa.case((outbox.c.priority > priority, outbox.c.priority), else_=priority)))
                    continue
                inserts.append(dict(
                    environment=environment, system_id=key[0], behandlingsnummer=key[1],
                    payload=bytes(reg.xml_bytes), content_hash=chash, state=State.WAITING.value,
                    wait_reason=wait_reason or WaitReason.NEW.value, priority=priority, waiting_since=now,
                    staged_at=now, staged_run_id=run_id, run_id=run_id, attempts=0))
            if inserts:
                conn.execute(outbox.insert(), inserts)
            # Staged again unchanged: this run becomes its stager (a resend by number sends what a
            # failed night left), at the higher of the two priorities.
            for sub in chunks(restaged):
                conn.execute(outbox.update().where(outbox.c.id.in_(sub), outbox.c.batch_id.is_(None)).values(
                    staged_run_id=run_id, priority=sa.case((outbox.c.priority > priority, outbox.c.priority),
                                                           else_=priority),
                    **({} if wait_reason is None else {"wait_reason": wait_reason})))
        conn.execute(stage_log.insert().values(run_id=run_id, environment=environment, staged=staged,
                                               unchanged=unchanged, already_waiting=already, at=now))
        if watermark is not None:
            advance_watermark_in(db, conn, watermark[0], watermark[1], run_id)
    return StageResult(staged=staged, unchanged=unchanged, already_waiting=already)


def withdraw(db: StateDB, run_id: str, regs: Iterable[StagedRegistration], *, rule: str = "R11",
             reason: str = "blocked (opt-out) after it was staged") -> int:
    """Take blocked registrations out of the outbox (payload deleted) and record them WITHDRAWN."""
    regs = list(regs)
    now = db.now()
    with db.write() as conn:
        for part in chunks(regs):
            conn.execute(outbox.delete().where(outbox.c.id.in_([r.outbox_id for r in part])))
            conn.execute(held_back.insert(), [dict(
                run_id=run_id, environment=r.environment, system_id=r.system_id,
                behandlingsnummer=r.behandlingsnummer, state=State.WITHDRAWN.value, rule=rule,
                reason=reason, recorded_at=now) for r in part])
    return len(regs)


def mark_waiting(db: StateDB, outbox_ids: Iterable[int], reason: WaitReason, *, batch_id: int | None = None) -> int:
    """Leave rows waiting with ``reason`` and release them from their batch (only the rows batch
    ``batch_id`` still owns, when given: a batch taken over must not release its taker's rows)."""
    ids = list(outbox_ids)
    n = 0
    with db.write() as conn:
        for part in chunks(ids):
            where = [outbox.c.id.in_(part)] + ([outbox.c.batch_id == batch_id] if batch_id is not None else [])
            n += conn.execute(outbox.update().where(*where)
                              .values(wait_reason=WaitReason(reason).value, batch_id=None)).rowcount
    return n


def mark_unplanned_waiting(db: StateDB, environment: str, reason: WaitReason) -> int:
    """Every row of ``environment`` that no batch owns waits with ``reason`` (the window closed
    before batches could be planned)."""
    from spor.state.probes import AFTER_PROBE

    with db.write() as conn:
        return conn.execute(outbox.update().where(outbox.c.environment == environment, outbox.c.batch_id.is_(None),
                                                  outbox.c.wait_reason != AFTER_PROBE)
                            .values(wait_reason=WaitReason(reason).value)).rowcount


def size(db: StateDB, environment: str | None = None) -> int:
    """Rows waiting in the outbox, of one environment or all."""
    with db.read() as conn:
        q = sa.select(sa.func.count()).select_from(outbox)
        if environment is not None:
            q = q.where(outbox.c.environment == environment)
        return int(conn.execute(q).scalar_one())
