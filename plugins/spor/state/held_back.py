"""The held-back list: registrations of a run that were not sent, with their rule and reason.

The quality gate and the builder put what they hold back here (quarantined, identity unknown, not
buildable), and the gate also lists what it only warned about. The summary reads it back.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from spor.lifecycle import HELD_BACK, State
from spor.state.chunks import chunks
from spor.state.database import StateDB
from spor.state.tables import held_back as held_back_table
from spor.verdicts import WARNED, HeldBackItem


def record(db: StateDB, run_id: str, items: Iterable[HeldBackItem]) -> int:
    """Record registrations held back before sending (or WARNED by the quality gate)."""
    allowed = {s.value for s in HELD_BACK} | {WARNED}
    now = db.now()
    rows = []
    for it in items:
        state = it.state.value if isinstance(it.state, State) else str(it.state)
        if state not in allowed:
            raise ValueError(f"{it.behandlingsnummer}: {state!r} is not a held-back state")
        rows.append(dict(run_id=run_id, environment=it.environment, system_id=it.system_id,
                         behandlingsnummer=str(it.behandlingsnummer), state=state, rule=it.rule,
                         variable=it.variable, reason=it.reason, recorded_at=now))
    if rows:
        with db.write() as conn:
            for part in chunks(rows):
                conn.execute(held_back_table.insert(), list(part))
    return len(rows)


def numbers_in_run(db: StateDB, run_id: str, states: Iterable[str]) -> set[str]:
    """The behandlingsnummer a run held back in any of ``states``."""
    with db.read() as conn:
        return {r[0] for r in conn.execute(sa.select(held_back_table.c.behandlingsnummer).where(
            held_back_table.c.run_id == run_id, held_back_table.c.state.in_(list(states))))}


def states_in_run(db: StateDB, run_id: str) -> dict[str, str]:
    """Per behandlingsnummer the state a run held it back in (gate warnings are not held back)."""
    with db.read() as conn:
        return {r[0]: r[1] for r in conn.execute(
            sa.select(held_back_table.c.behandlingsnummer, held_back_table.c.state).where(
                held_back_table.c.run_id == run_id, held_back_table.c.state != WARNED)
            .order_by(held_back_table.c.id))}
