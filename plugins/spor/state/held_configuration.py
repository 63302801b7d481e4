"""Held back for configuration: treatments a configuration fix will send, kept by number between runs.

A treatment whose unit has no SystemId in ``spor_units``, whose unit is not approved for the
environment, or that the quality gate quarantined only for a code the code lists do not know, may
not be wrong: the site's configuration may be. It is recorded here by behandlingsnummer
(no payload, no personal data) and the nightly run re-reads it from the OPS by number until it is
sent, or until ``held_configuration_days`` have passed since it was first held (then it is given
up: listed with the resend command, no longer re-read). Held back is not waiting: none of it is in
the outbox, so it never makes a night "not done".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from spor.state.chunks import chunks
from spor.state.database import StateDB
from spor.state.tables import held_configuration as table

#: The causes (the held-back item's rule) that a configuration fix resolves.
UNIT_MAPPING = "unit-mapping"
NOT_APPROVED = "not-approved"
#: Quarantined only by code-list checks: a code the code lists (SPOR_DATA_DIR, the suites) do not know.
CODE_LIST = "code-list"
CAUSES = frozenset({UNIT_MAPPING, NOT_APPROVED, CODE_LIST})


@dataclass(frozen=True)
class Held:
    """One treatment held back for configuration."""

    behandlingsnummer: str
    cause: str
    unit: str | None = None
    system_id: str | None = None
    first_held_at: datetime | None = None
    given_up_at: datetime | None = None


def hold(db: StateDB, environment: str, run_id: str, items: Iterable[Held]) -> int:
    """Record (or renew) treatments held back for configuration by this run. A given-up treatment
    held again (a resend) starts its bounded time anew."""
    now = db.now()
    wanted = {i.behandlingsnummer: i for i in items}
    if not wanted:
        return 0
    with db.write() as conn:
        for part in chunks(sorted(wanted)):
            known = {r.behandlingsnummer: r for r in conn.execute(
                sa.select(table.c.behandlingsnummer, table.c.given_up_at)
                .where(table.c.environment == environment, table.c.behandlingsnummer.in_(list(part))))}
            for bnr in part:
                item = wanted[bnr]
                values = dict(cause=item.cause, unit=item.unit, system_id=item.system_id, last_held_at=now,
                              last_run_id=run_id)
                old = known.get(bnr)
                if old is None:
                    conn.execute(table.insert().values(environment=environment, behandlingsnummer=bnr,
                                                       first_held_at=now, **values))
                    continue
                if old.given_up_at is not None:
                    values.update(first_held_at=now, given_up_at=None)
                conn.execute(table.update().where(table.c.environment == environment,
                                                  table.c.behandlingsnummer == bnr).values(**values))
    return len(wanted)


def release(db: StateDB, environment: str, numbers: Iterable[str]) -> int:
    """Forget treatments that no longer wait for configuration (built, or held for their data)."""
    gone = 0
    with db.write() as conn:
        for part in chunks(sorted(set(numbers))):
            gone += conn.execute(table.delete().where(table.c.environment == environment,
                                                      table.c.behandlingsnummer.in_(list(part)))).rowcount
    return gone


def due(db: StateDB, environment: str, run_id: str, *, days: int) -> list[str]:
    """The numbers a nightly run re-reads from the OPS: held back for configuration and not given
    up. First gives up those held longer than ``days``; marks the rest as re-read by ``run_id``."""
    now = db.now()
    with db.write() as conn:
        conn.execute(table.update().where(
            table.c.environment == environment, table.c.given_up_at.is_(None),
            table.c.first_held_at < now - timedelta(days=days)).values(given_up_at=now))
        numbers = [r[0] for r in conn.execute(
            sa.select(table.c.behandlingsnummer).where(table.c.environment == environment,
                                                       table.c.given_up_at.is_(None))
            .order_by(table.c.behandlingsnummer))]
        conn.execute(table.update().where(table.c.environment == environment, table.c.given_up_at.is_(None))
                     .values(reread_run_id=run_id))
    return numbers


def forget_unseen(db: StateDB, environment: str, run_id: str) -> int:
    """Forget what ``run_id`` re-read by number but neither held again nor released: the OPS no
    longer has it, or the block list now forbids it (R11)."""
    with db.write() as conn:
        return int(conn.execute(table.delete().where(
            table.c.environment == environment, table.c.reread_run_id == run_id,
            table.c.last_run_id != run_id, table.c.given_up_at.is_(None))).rowcount)


def _rows(db: StateDB, where: sa.ColumnElement[bool]) -> list[Held]:
    with db.read() as conn:
        return [Held(r.behandlingsnummer, r.cause, r.unit, r.system_id, r.first_held_at, r.given_up_at)
                for r in conn.execute(sa.select(table).where(where)
                                      .order_by(table.c.unit, table.c.cause, table.c.behandlingsnummer))]


def held_by_run(db: StateDB, environment: str, run_id: str) -> list[Held]:
    """What ``run_id`` held back for configuration (and still is)."""
    return _rows(db, (table.c.environment == environment) & (table.c.last_run_id == run_id)
                 & table.c.given_up_at.is_(None))


def given_up(db: StateDB, environment: str) -> list[Held]:
    """Treatments no longer re-read: held back for configuration longer than the bounded time."""
    return _rows(db, (table.c.environment == environment) & table.c.given_up_at.is_not(None))


def per_unit(db: StateDB) -> list[tuple[str, str, str, int, int]]:
    """(environment, unit, cause, held back, of which given up) for the status page."""
    given_up = sa.func.sum(sa.case((table.c.given_up_at.is_not(None), 1), else_=0))
    with db.read() as conn:
        return [(r[0], r[1] or "?", r[2], int(r[3]), int(r[4] or 0)) for r in conn.execute(
            sa.select(table.c.environment, table.c.unit, table.c.cause, sa.func.count(), given_up)
            .group_by(table.c.environment, table.c.unit, table.c.cause)
            .order_by(table.c.environment, table.c.unit, table.c.cause))]


def numbers_held_by_run(db: StateDB, environment: str, run_id: str) -> set[str]:
    with db.read() as conn:
        return {r[0] for r in conn.execute(sa.select(table.c.behandlingsnummer).where(
            table.c.environment == environment, table.c.last_run_id == run_id))}
