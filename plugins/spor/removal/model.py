"""The vocabulary of removal requests to UCR (R11, D20; docs/opt-out.md): statuses, scopes, causes,
the fixed reason for a treatment deleted in the OPS, and a request as it is stored.

Only UCR can delete data in SPOR. A request asks UCR to remove either one treatment or the whole
patient (then every registration of the patient, also other units'), names the treatment numbers
SPOR accepted from us (never a personal identity number) and moves raised → sent → confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "CAUSE_DELETED", "CAUSE_SPARRLISTA", "CONFIRMED", "DELETED_CHANNEL", "DELETED_REASON", "RAISED", "SCOPE_PATIENT",
    "SCOPE_TREATMENT", "SENT", "STATUSES", "UCR_ADDRESS", "RemovalRequest", "RequestGroup", "number_key",
]

UCR_ADDRESS = "drift@ucr.uu.se"
RAISED, SENT, CONFIRMED = "raised", "sent", "confirmed"
STATUSES = (RAISED, SENT, CONFIRMED)
SCOPE_TREATMENT, SCOPE_PATIENT = "treatment", "patient"
CAUSE_SPARRLISTA, CAUSE_DELETED = "sparrlista", "deleted"
DELETED_REASON = "skickad av misstag / borttagen i OPS"
DELETED_CHANNEL = ("upptäckt av SPOR-integrationen: behandlingen som SPOR har tagit emot finns inte längre "
                   "i operationsplaneringssystemet (OPS)")


def number_key(bnr: str) -> tuple[int, int | str]:
    """Sort key for treatment numbers: numeric ones by value, anything else after them."""
    return (0, int(bnr)) if bnr.isdigit() else (1, bnr)


@dataclass(frozen=True)
class RemovalRequest:
    """One request to UCR as stored. ``behandlingsnummer`` lists every covered accepted treatment;
    ``late`` those found after the request was raised (not in its text)."""

    id: int
    cause: str
    source_key: str
    environment: str
    scope: str
    behandlingsnummer: list[str]
    system_ids: list[str]
    orsak: str | None
    kanal: str | None
    datum: str | None
    status: str
    subject: str
    text: str
    raised_at: datetime
    raised_run_id: str
    sent_at: datetime | None = None
    sent_to: str | None = None
    confirmed_at: datetime | None = None
    note: str | None = None
    late: list[str] = field(default_factory=list)

    @property
    def block_entry_id(self) -> str | None:
        return self.source_key if self.cause == CAUSE_SPARRLISTA else None

    def as_summary(self) -> dict[str, Any]:
        """What the run summary and XCom show: ids, scope, treatment numbers, environment, status."""
        return {"id": self.id, "scope": self.scope, "behandlingsnummer": list(self.behandlingsnummer),
                "environment": self.environment, "status": self.status, "cause": self.cause}


@dataclass
class RequestGroup:
    """What one request will cover before it is stored: its key (cause, block entry id or treatment
    number, environment), scope, reason, channel, date, and the accepted (SystemId, behandlingsnummer)."""

    cause: str
    source_key: str
    environment: str
    scope: str
    orsak: str | None
    kanal: str | None
    datum: str | None
    items: set[tuple[str, str]] = field(default_factory=set)  # (system_id, behandlingsnummer)
