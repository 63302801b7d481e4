"""What the gate and the builder say about a treatment they do not send as is: the held-back item.

The quality gate holds a treatment back (quarantined, identity unknown) or only warns; the builder
holds it back as not buildable. Both say it with a :class:`HeldBackItem`; the held-back list in the
state database keeps them, and the run summary and ``spor render`` print each as the same line:
treatment number, state, ``[rule] variable reason``, never an identity number.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from spor.lifecycle import State
from spor.pii import mask_person_ids

#: Not a registration state: the quality gate warned but the registration is sent.
WARNED = "warned"


@dataclass(frozen=True)
class HeldBackItem:
    behandlingsnummer: str
    state: State | str     # one of lifecycle.HELD_BACK, or WARNED
    rule: str | None = None
    reason: str | None = None
    variable: str | None = None
    environment: str | None = None
    system_id: str | None = None


def state_name(item: HeldBackItem) -> str:
    """The item's state as stored and printed (``quarantined``, ``warned``, ...)."""
    return item.state.value if isinstance(item.state, State) else str(item.state)


def held_back_numbers(items: Iterable[HeldBackItem]) -> set[str]:
    """The treatments the gate's verdicts keep from the builder (everything but the warned)."""
    return {str(i.behandlingsnummer) for i in items if state_name(i) != WARNED}


def reason_text(rule: str | None, variable: str | None, reason: str | None) -> str:
    """The reason column of the summary: ``[rule] variable reason``."""
    return " ".join(x for x in (f"[{rule}]" if rule else "", variable or "", reason or "") if x)


def verdict_line(item: HeldBackItem) -> str:
    """The summary's line for one treatment that needs the team: number, state, reason."""
    return mask_person_ids(f"{item.behandlingsnummer:<12} {state_name(item):<17} "
                           f"{reason_text(item.rule, item.variable, item.reason)}")
