"""Which units may send to an environment: the one decision the night, the resend and ``spor units`` share.

Production takes a unit's registrations only once UCR has approved the unit (the guide: only when
it is verified is a unit approved for the live environment). The site records the approval in
``spor_units``. Upgrade rule, so that no site already sending to production stops: a unit whose
SystemId has accepted answers from that environment in the ledger counts as approved, with a
warning until the site records the approval. Stage needs no approval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from spor.registration.units import needs_approval

if TYPE_CHECKING:
    from spor.registration.units import UnitMapping
    from spor.state.database import StateDB

#: The reason a treatment of an unapproved unit is held back with.
NOT_APPROVED_REASON = "not approved for {environment}"


@dataclass(frozen=True)
class Approvals:
    environment: str
    recorded: frozenset[str] = frozenset()     # units whose approval the site recorded
    by_ledger: frozenset[str] = frozenset()    # units approved only by the upgrade rule (warn)
    required: bool = False                     # False: every mapped unit may send

    def allows(self, unit: str | None) -> bool:
        return not self.required or (unit is not None and (unit in self.recorded or unit in self.by_ledger))

    def warnings(self, units: UnitMapping) -> list[str]:
        """One line per unit approved only by the ledger (log and summary)."""
        return [f"unit {name} (SystemId {units.system_id(name)}) counts as approved for {self.environment} "
                f"because SPOR accepted its registrations there; record UCR's approval in spor_units "
                f"({name}.approved.{self.environment})" for name in sorted(self.by_ledger)]


def approvals(units: UnitMapping, environment: str, db: StateDB | None) -> Approvals:
    """Which of ``units`` may send to ``environment`` (``db``: the ledger, for the upgrade rule)."""
    if not needs_approval(environment):
        return Approvals(environment)
    recorded = frozenset(u.name for u in units.units() if environment in u.approved)
    accepted: set[str] = set()
    if db is not None:
        from spor.state.attempts import history_by_system_id

        accepted = {h.system_id for h in history_by_system_id(db, environment).values()
                    if h.last_accepted_at is not None}
    by_ledger = frozenset(u.name for u in units.units() if u.name not in recorded and u.system_id in accepted)
    return Approvals(environment, recorded, by_ledger, required=True)


@dataclass(frozen=True)
class UnitStatus:
    """A unit as ``spor units`` lists it: its SystemId and, per environment, approval and history."""

    unit: str
    system_id: str
    environments: dict[str, dict[str, str | None]] = field(default_factory=dict)


def unit_statuses(units: UnitMapping, db: StateDB | None, environments: tuple[str, ...]) -> list[UnitStatus]:
    """Every configured unit with, per environment: approval (``recorded``/``ledger``/``not needed``/
    ``no``), its date and reference, and when it was last sent and last accepted."""
    from spor.state.attempts import history_by_system_id

    history = history_by_system_id(db) if db is not None else {}
    checks = {env: approvals(units, env, db) for env in environments}
    out = []
    for unit in units.units():
        per_env: dict[str, dict[str, str | None]] = {}
        for env in environments:
            check, recorded, h = checks[env], unit.approved.get(env), history.get((env, unit.system_id))
            if recorded is not None:
                status = "recorded"
            elif not check.required:
                status = "not needed"
            else:
                status = "ledger" if unit.name in check.by_ledger else "no"
            per_env[env] = {
                "approved": status,
                "approved_date": recorded.date.isoformat() if recorded else None,
                "reference": recorded.reference if recorded else None,
                "last_sent": h.last_sent_at.isoformat() if h and h.last_sent_at else None,
                "last_accepted": h.last_accepted_at.isoformat() if h and h.last_accepted_at else None,
                "last_accepted_run_id": h.last_accepted_run_id if h else None,
            }
        out.append(UnitStatus(unit.name, unit.system_id, per_env))
    return out
