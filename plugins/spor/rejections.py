"""What SPOR's ERROR answers say: a problem of the data, or of a unit's configuration.

SPOR answers ``ERROR … Systemet X som angivits i SystemId hittas inte`` when it does not know the
SystemId a registration carries: nothing is wrong with the treatment, UCR has not registered the
SystemId yet (or ``spor_units`` maps the unit to the wrong one). Such a rejection is the unit's,
not the registration's: the nightly run probes the SystemId with one registration each night and
sends the rest as soon as SPOR accepts (spor.state.probes). Every other ERROR is the data's and
stays final until the treatment changes or is resent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The kinds of rejection.
SYSTEM_ID_UNKNOWN = "system-id-unknown"
DATA = "data"

_NAMED = re.compile(r"Systemet\s+(?P<sid>\S+?)\s+som\s+angivits\s+i\s+SystemId\s+hittas\s+inte", re.IGNORECASE)
_UNNAMED = re.compile(r"SystemId\b.*\bhittas\s+inte", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Rejection:
    kind: str                      # SYSTEM_ID_UNKNOWN or DATA
    system_id: str | None = None   # the SystemId SPOR named, when it named one

    @property
    def configuration(self) -> bool:
        """A configuration problem of the unit, not of the registration's data."""
        return self.kind == SYSTEM_ID_UNKNOWN


def classify(text: str | None) -> Rejection:
    """The kind of an ERROR answer from SPOR's text."""
    words = text or ""
    named = _NAMED.search(words)
    if named:
        return Rejection(SYSTEM_ID_UNKNOWN, named.group("sid"))
    if _UNNAMED.search(words):
        return Rejection(SYSTEM_ID_UNKNOWN)
    return Rejection(DATA)


def system_id_unknown(text: str | None) -> bool:
    return classify(text).configuration


def action(system_id: str, environment: str, units: list[str] | None = None) -> str:
    """What the team does about a SystemId SPOR does not know (one line)."""
    mapped = f" (units {', '.join(units)})" if units else ""
    return (f"ask UCR to register SystemId {system_id} for {environment}; check spor_units{mapped} maps "
            "the unit to the SystemId UCR gave")
