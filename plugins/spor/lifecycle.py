"""The one state machine of a registration (docs/state-machine.md). Every module names states from here."""

from __future__ import annotations

from enum import Enum


class State(str, Enum):
    WAITING = "waiting"                    # in the outbox; see WaitReason
    CREATED = "created"                    # SPOR answered OK "Skapade: N"
    UPDATED = "updated"                    # SPOR answered OK "Uppdaterade: N"
    UNCHANGED = "unchanged"                # same content hash as SPOR's last final answer: skipped
    REJECTED = "rejected"                  # SPOR answered ERROR (logical error)
    MALFORMED = "malformed"                # HTTP 500 / SOAP fault: schema violation
    NOT_BUILDABLE = "not_buildable"        # our build refused it (rule + variable named)
    IDENTITY_UNKNOWN = "identity_unknown"  # no valid personnummer/samordningsnummer yet (reservnummer)
    QUARANTINED = "quarantined"            # data-quality gate, reject severity
    WITHDRAWN = "withdrawn"                # blocked (opt-out) after it was staged
    NOT_APPROVED = "not_approved"          # its unit is not approved for this environment (production)


class WaitReason(str, Enum):
    NEW = "new"                  # staged, not yet attempted
    DEADLINE = "deadline"        # the night's deadline (05:00) came first
    BLACKOUT = "blackout"        # 05:15-06:00, SPOR copies data between systems
    TRANSIENT = "transient"      # timeout, reset, HTTP 502/503/504 after bounded retries


#: The outbox priority of the night's own registrations (the column's default; higher is planned
#: and sent first). Resends and backfills stage below it and leave its rows to the night.
NIGHT_PRIORITY = 0

#: SPOR's final answers: "unchanged" is decided against the last of these.
FINAL_ANSWERS = frozenset({State.CREATED, State.UPDATED, State.REJECTED, State.MALFORMED})
#: Accepted by SPOR: the payload may be dropped (data minimisation).
ACCEPTED = frozenset({State.CREATED, State.UPDATED})
#: Held back before sending, with a reason the team can act on.
HELD_BACK = frozenset({State.NOT_BUILDABLE, State.IDENTITY_UNKNOWN, State.QUARANTINED, State.WITHDRAWN,
                       State.NOT_APPROVED})
