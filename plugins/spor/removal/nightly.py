"""The nightly removal step: raise the requests the block list and the ledger call for, e-mail
every raised one when a notifier is configured, and note in the run log what the team must do.

Raising is idempotent: a request is keyed on (block entry id, environment), or (behandlingsnummer,
environment) for a treatment deleted in the OPS, and raised once; a treatment found later that an
existing request covers joins it as a late item. Delivery marks a request sent only after the
e-mail went, so a failed e-mail stays raised and is tried again the next night.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from spor.clock import STOCKHOLM, Clock
from spor.extract.optout import BlockList
from spor.notifications.setting import NOTIFIER_VARIABLE, EmailSetting, email_setting, email_setting_from_airflow
from spor.removal.matching import OpsReader, find_removals
from spor.removal.model import RAISED, UCR_ADDRESS, RemovalRequest, number_key
from spor.removal.status import mark_sent
from spor.removal.store import list_requests, load, store_group
from spor.state.database import StateDB
from spor.state.tables import removal_request

if TYPE_CHECKING:
    from spor.notifications.mail import SporEmailNotifier

__all__ = ["RaiseResult", "Sender", "deliver", "nightly_step", "notifier_from_airflow",
           "notifier_from_config", "raise_and_report", "raise_removal_requests"]

log = logging.getLogger("spor")


@dataclass
class RaiseResult:
    """What one call did (counts for the run; the requests themselves are in the state DB)."""

    raised: list[RemovalRequest] = field(default_factory=list)
    extended: int = 0               # treatment numbers added to a request raised earlier
    checked: int = 0                # accepted registrations looked at
    deleted_suspect: int = 0        # missing from the OPS but too many to believe: nothing raised
    notes: list[str] = field(default_factory=list)


# --- raising --------------------------------------------------------------------------------
def raise_removal_requests(db: StateDB, reader_or_block_list: OpsReader | BlockList, *, run_id: str,
                           environment: str | None = None, clock: Clock | None = None,
                           check_deleted: bool = True) -> list[RemovalRequest]:
    """Raise the removal requests the block list and the ledger call for; returns the NEW ones.

    Idempotent: a request is keyed on (block entry id, environment) (or (behandlingsnummer,
    environment) for a treatment deleted in the OPS) and raised once. A treatment found later that
    an existing request covers is added to it as a late item (the e-mail text is not changed).
    ``environment=None`` looks at every environment. Reading the OPS: ``reader.by_numbers`` over
    every accepted treatment number (identity for whole-patient entries, existence for deletions).
    """
    return raise_and_report(db, reader_or_block_list, run_id=run_id, environment=environment, clock=clock,
                            check_deleted=check_deleted).raised


def raise_and_report(db: StateDB, reader_or_block_list: OpsReader | BlockList, *, run_id: str,
                     environment: str | None = None, clock: Clock | None = None,
                     check_deleted: bool = True) -> RaiseResult:
    """:func:`raise_removal_requests` with the counts and notes of the call."""
    now = (clock or db.clock).now()
    today = now.astimezone(STOCKHOLM).date().isoformat()
    groups, checked, suspect, notes = find_removals(db, reader_or_block_list, environment=environment,
                                                    check_deleted=check_deleted, today=today)
    result = RaiseResult(checked=checked, deleted_suspect=suspect, notes=notes)
    new_ids: list[int] = []
    at = db.now() if clock is None else now
    for group in sorted(groups, key=lambda g: (g.environment, g.cause, number_key(g.source_key))):
        created, added = store_group(db, group, run_id=run_id, at=at)
        result.extended += added
        if created is not None:
            new_ids.append(created)
    if new_ids:
        with db.read() as conn:
            result.raised = load(conn, removal_request.c.id.in_(new_ids))
    for r in result.raised:
        log.info("removal request %s raised (%s, %s): treatments %s", r.id, r.scope, r.environment,
                 ", ".join(r.behandlingsnummer))
    return result


# --- delivery -------------------------------------------------------------------------------
class Sender(Protocol):
    """What delivery needs of a notifier (:class:`spor.notifications.mail.SporEmailNotifier` has it)."""

    def send(self, subject: str, text: str) -> str:
        """E-mail one message; return a description of its recipients; raise when it was not sent."""


def _for_ucr(setting: EmailSetting | None) -> SporEmailNotifier | None:
    if setting is None:
        return None
    from spor.notifications.mail import SporEmailNotifier

    return SporEmailNotifier(setting=setting, to=setting.to or (UCR_ADDRESS,))


def notifier_from_config(config: Any) -> SporEmailNotifier | None:
    """The removal notifier from the Variable's JSON: ``{"smtp_conn_id": "smtp_default", "to":
    ["drift@ucr.uu.se"], "cc": [...], "from_email": "..."}`` (``to`` defaults to UCR's operations
    desk). Empty/None: no notifier."""
    return _for_ucr(email_setting(config))


def notifier_from_airflow() -> SporEmailNotifier | None:
    """The notifier the team configured in the Airflow Variable ``spor_notifications``, or None."""
    return _for_ucr(email_setting_from_airflow())


def deliver(db: StateDB, requests: Iterable[RemovalRequest] | None = None, *,
            notifier: Sender | None = None) -> dict[str, int]:
    """E-mail raised requests (default: every raised one, so a failed e-mail is tried again next
    run) and mark each sent right after its e-mail went. Without a notifier nothing changes: the
    requests stay raised and the summary and ``python -m spor removal list`` show them."""
    todo = [r for r in (list_requests(db, status=RAISED) if requests is None else requests) if r.status == RAISED]
    counts = {"sent": 0, "failed": 0, "pending": 0}
    if notifier is None:
        counts["pending"] = len(todo)
        return counts
    for r in todo:
        try:
            to = notifier.send(r.subject, r.text)
        except Exception as exc:  # noqa: BLE001 - one failed e-mail must not stop the others
            counts["failed"] += 1
            log.warning("removal request %s could not be e-mailed (%s); it stays raised and is tried again",
                        r.id, type(exc).__name__)
            continue
        mark_sent(db, r.id, to=str(to or UCR_ADDRESS))
        counts["sent"] += 1
        log.info("removal request %s e-mailed to %s", r.id, to)
    return counts


# --- the nightly task body ------------------------------------------------------------------
def nightly_step(db: StateDB, reader: OpsReader, *, run_id: str, clock: Clock | None = None,
                 notifier: Sender | None = None, environment: str | None = None) -> dict[str, Any]:
    """Raise what is due, deliver every raised request when a notifier is configured, and note
    in the run log what the team must do. Returns counts only (XCom-safe)."""
    from spor.state import runlog

    result = raise_and_report(db, reader, run_id=run_id, environment=environment, clock=clock)
    delivered = deliver(db, notifier=notifier)
    for note in result.notes:
        runlog.add(db, run_id, "raise_removal_requests", runlog.INFO, note)
    if delivered["failed"]:
        runlog.add(db, run_id, "raise_removal_requests", runlog.INFO,
                   f"{delivered['failed']} removal request(s) could not be e-mailed; they stay raised "
                   "(python -m spor removal list --status raised)")
    if notifier is None and delivered["pending"]:
        runlog.add(db, run_id, "raise_removal_requests", runlog.INFO,
                   f"{delivered['pending']} removal request(s) wait to be e-mailed to {UCR_ADDRESS} by the team: "
                   f"python -m spor removal show ID, then python -m spor removal sent ID "
                   f"(or configure the Variable {NOTIFIER_VARIABLE})")
    return {"raised": len(result.raised), "extended": result.extended, "checked": result.checked,
            "deleted_suspect": result.deleted_suspect, **delivered}
