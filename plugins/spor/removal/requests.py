"""Removal requests to UCR for data SPOR already holds (R11, D20; issue 6 point 2; docs/opt-out.md).

Only UCR can delete data in SPOR. When a block list entry (spärrlista) covers a treatment that
SPOR has ACCEPTED from us (a created/updated answer in the ledger, per environment), we raise ONE
removal request per block entry and environment, exactly once; a treatment that SPOR accepted
and that has since been deleted in the OPS gets a request too ("sent by mistake").

The request says what UCR needs (R11, point by point): the scope (one treatment, or the whole
patient: then UCR is asked to remove ALL the patient's registrations, also other units'), the
treatment numbers SPOR accepted from us (they identify the patient: no personal identity number
is e-mailed or stored), the reason, how the staff learned of the wish, the date, the SystemId(s)
and the environment.

Identity for whole-patient entries is read from the OPS (``reader.by_numbers`` over the accepted
treatment numbers): the state database keeps no identity (data minimisation), and a hash of a
12-digit number could be reversed by trying every number.

Status: raised → sent (e-mailed through the configured notifier, or marked by hand) → confirmed
(the team, when UCR confirms the deletion).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence

import sqlalchemy as sa

from spor.clock import STOCKHOLM, Clock
from spor.build.identity import mask_person_ids
from spor.extract.optout import BlockEntry, BlockList, read_block_list
from spor.state.database import StateDB
from spor.state.tables import last_final, ledger, removal_item, removal_request
from spor.states import ACCEPTED

__all__ = [
    "CAUSE_DELETED", "CAUSE_SPARRLISTA", "DELETED_REASON", "NOTIFIER_VARIABLE", "RAISED", "SENT", "CONFIRMED",
    "SCOPE_PATIENT", "SCOPE_TREATMENT", "UCR_ADDRESS", "RemovalRequest", "SmtpNotifier", "confirm", "deliver",
    "get", "list_requests", "mark_sent", "nightly_step", "notifier_from_airflow", "raise_removal_requests",
    "raised_in_run", "requests_for_treatment",
]

log = logging.getLogger("spor")

UCR_ADDRESS = "drift@ucr.uu.se"
NOTIFIER_VARIABLE = "spor_removal_notifier"
RAISED, SENT, CONFIRMED = "raised", "sent", "confirmed"
STATUSES = (RAISED, SENT, CONFIRMED)
SCOPE_TREATMENT, SCOPE_PATIENT = "treatment", "patient"
CAUSE_SPARRLISTA, CAUSE_DELETED = "sparrlista", "deleted"
DELETED_REASON = "skickad av misstag / borttagen i OPS"
DELETED_CHANNEL = ("upptäckt av SPOR-integrationen: behandlingen som SPOR har tagit emot finns inte längre "
                   "i operationsplaneringssystemet (OPS)")
#: More treatments than this (and than DELETED_MAX_SHARE of those checked) missing from the OPS in
#: one run looks like a broken OPS view, not deletions: nothing is raised for them, the run says so.
DELETED_MAX = 20
DELETED_MAX_SHARE = 0.01
_ENVIRONMENT_TEXT = {
    "production": "produktion (integration.ucr.uu.se)",
    "stage": "stage (test-integration.ucr.uu.se)",
    "stage-test-cert": "stage, testcertifikat (ucrtestserv01.ucr.uu.se)",
}
_CHUNK = 500


class _Reader(Protocol):
    def block_list_rows(self) -> list[dict[str, Any]]: ...
    def by_numbers(self, numbers: Iterable[str]) -> Iterator[list[Any]]: ...


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


# --- the text UCR receives ------------------------------------------------------------------
def _clean(value: Any) -> str | None:
    """OPS free text for the e-mail: one line, anything shaped like an identity number masked."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    return mask_person_ids(text) if text else None


def render(*, request_id: int, cause: str, source_key: str, environment: str, scope: str, numbers: Sequence[str],
           system_ids: Sequence[str], orsak: str | None, kanal: str | None, datum: str | None) -> tuple[str, str]:
    """(subject, text) of the e-mail to UCR's operations desk, in Swedish (the register's language)."""
    env_text = _ENVIRONMENT_TEXT.get(environment, environment)
    subject = f"SPOR: begäran om borttagning av data ({'hela patienten' if scope == SCOPE_PATIENT else 'en behandling'}), " \
              f"begäran {request_id}, {environment}"
    if scope == SCOPE_PATIENT:
        scope_text = ("HELA PATIENTEN. UCR ombeds ta bort ALLA patientens registreringar i SPOR, även sådana "
                      "som andra enheter har skickat.")
        numbers_text = ("Behandlingsnummer som SPOR har tagit emot från oss (de identifierar patienten; av "
                        "integritetsskäl skickar vi inget personnummer per e-post):")
    else:
        scope_text = "EN BEHANDLING. Endast registreringen med behandlingsnumret nedan ska tas bort."
        numbers_text = "Behandlingsnummer som SPOR har tagit emot från oss:"
    ref = f"spärrlistepost {source_key}" if cause == CAUSE_SPARRLISTA else "borttagen i OPS"
    lines = [
        f"Till: UCR drift <{UCR_ADDRESS}>",
        "",
        f"Begäran om borttagning av data i SPOR ({env_text}).",
        "",
        f"Omfattning: {scope_text}",
        f"{numbers_text} {', '.join(numbers)}",
        f"Anledning: {orsak or '-'}",
        f"Hur personalen fick kännedom om patientens önskan: {kanal or '-'}",
        f"Datum: {datum or '-'}",
        f"SystemId: {', '.join(system_ids)}",
        f"Miljö: {env_text}",
        f"Vår referens: begäran {request_id} ({ref})",
        "",
        "Vänligen bekräfta till avsändaren när borttagningen är gjord.",
    ]
    return subject, "\n".join(lines) + "\n"


# --- reading --------------------------------------------------------------------------------
def _from_rows(req: Any, items: list[Any]) -> RemovalRequest:
    items = sorted(items, key=lambda i: (_num_key(i.behandlingsnummer), i.system_id))
    numbers = list(dict.fromkeys(i.behandlingsnummer for i in items))
    late = list(dict.fromkeys(i.behandlingsnummer for i in items if not i.in_text))
    return RemovalRequest(
        id=req.id, cause=req.cause, source_key=req.source_key, environment=req.environment, scope=req.scope,
        behandlingsnummer=numbers, system_ids=[s for s in req.system_ids.split(",") if s], orsak=req.orsak,
        kanal=req.kanal, datum=req.datum, status=req.status, subject=req.subject, text=req.text,
        raised_at=req.raised_at, raised_run_id=req.raised_run_id, sent_at=req.sent_at, sent_to=req.sent_to,
        confirmed_at=req.confirmed_at, note=req.note, late=late)


def _num_key(bnr: str) -> tuple[int, int | str]:
    return (0, int(bnr)) if bnr.isdigit() else (1, bnr)


def _load(conn: Any, where: Any) -> list[RemovalRequest]:
    reqs = list(conn.execute(sa.select(removal_request).where(where).order_by(removal_request.c.id)))
    if not reqs:
        return []
    items: dict[int, list] = defaultdict(list)
    ids = [r.id for r in reqs]
    for i in range(0, len(ids), _CHUNK):
        for it in conn.execute(sa.select(removal_item).where(removal_item.c.request_id.in_(ids[i:i + _CHUNK]))):
            items[it.request_id].append(it)
    return [_from_rows(r, items[r.id]) for r in reqs]


def get(db: StateDB, request_id: int) -> RemovalRequest | None:
    with db.read() as conn:
        found = _load(conn, removal_request.c.id == int(request_id))
    return found[0] if found else None


def list_requests(db: StateDB, *, status: str | None = None, environment: str | None = None) -> list[RemovalRequest]:
    where = sa.true()
    if status:
        where = sa.and_(where, removal_request.c.status == status)
    if environment:
        where = sa.and_(where, removal_request.c.environment == environment)
    with db.read() as conn:
        return _load(conn, where)


def requests_for_treatment(db: StateDB, behandlingsnummer: str) -> list[RemovalRequest]:
    """Every request that covers this treatment number (any environment)."""
    with db.read() as conn:
        ids = sa.select(removal_item.c.request_id).where(removal_item.c.behandlingsnummer == str(behandlingsnummer))
        return _load(conn, removal_request.c.id.in_(ids))


def raised_in_run(db: StateDB, run_id: str) -> list[dict[str, Any]]:
    """The requests a run raised, for its summary: id, scope, behandlingsnummer, environment, status."""
    with db.read() as conn:
        return [r.as_summary() for r in _load(conn, removal_request.c.raised_run_id == run_id)]


# --- raising --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Accepted:
    environment: str
    system_id: str
    behandlingsnummer: str


def _accepted(db: StateDB, environment: str | None) -> list[_Accepted]:
    """Every (environment, SystemId, behandlingsnummer) SPOR ever accepted: a created/updated answer
    in the ledger or as the last final answer. A later rejected update does not undo an acceptance."""
    states = [s.value for s in ACCEPTED]
    q1 = sa.select(ledger.c.environment, ledger.c.system_id, ledger.c.behandlingsnummer).where(
        ledger.c.outcome.in_(states))
    q2 = sa.select(last_final.c.environment, last_final.c.system_id, last_final.c.behandlingsnummer).where(
        last_final.c.state.in_(states))
    if environment:
        q1 = q1.where(ledger.c.environment == environment)
        q2 = q2.where(last_final.c.environment == environment)
    with db.read() as conn:
        rows = {tuple(r) for r in conn.execute(sa.union(q1, q2))}
    return [_Accepted(*r) for r in sorted(rows)]


@dataclass
class _Group:
    cause: str
    source_key: str
    environment: str
    scope: str
    orsak: str | None
    kanal: str | None
    datum: str | None
    items: set[tuple[str, str]] = field(default_factory=set)  # (system_id, behandlingsnummer)


@dataclass
class RaiseResult:
    """What one call did (counts for the run; the requests themselves are in the state DB)."""

    raised: list[RemovalRequest] = field(default_factory=list)
    extended: int = 0               # treatment numbers added to a request raised earlier
    checked: int = 0                # accepted registrations looked at
    deleted_suspect: int = 0        # missing from the OPS but too many to believe: nothing raised
    notes: list[str] = field(default_factory=list)


def _group_for_entry(entry: BlockEntry, environment: str) -> _Group:
    return _Group(CAUSE_SPARRLISTA, str(entry.id), environment,
                  SCOPE_PATIENT if entry.whole_patient else SCOPE_TREATMENT,
                  _clean(entry.orsak), _clean(entry.kanal), _clean(entry.datum))


def find_removals(db: StateDB, reader_or_block_list: _Reader | BlockList, *, environment: str | None = None,
                  check_deleted: bool = True, today: str) -> tuple[list[_Group], int, int, list[str]]:
    """The request groups the ledger and the block list call for now (nothing written).

    Returns (groups, accepted registrations checked, suspected deletions held back, notes)."""
    if isinstance(reader_or_block_list, BlockList):
        block_list, reader = reader_or_block_list, None  # treatment entries only: no identity, no deletions
    else:
        reader = reader_or_block_list
        block_list = read_block_list(reader)  # BlockListUnavailable: fail closed, raise nothing half-read
    accepted = _accepted(db, environment)
    groups: dict[tuple[str, str, str], _Group] = {}

    def cover(entry: BlockEntry, acc: _Accepted) -> None:
        key = (CAUSE_SPARRLISTA, str(entry.id), acc.environment)
        group = groups.get(key) or groups.setdefault(key, _group_for_entry(entry, acc.environment))
        group.items.add((acc.system_id, acc.behandlingsnummer))

    by_number: dict[str, list[_Accepted]] = defaultdict(list)
    for acc in accepted:
        by_number[acc.behandlingsnummer].append(acc)
        entry = block_list.match(None, acc.behandlingsnummer)  # treatment entries: the number suffices
        if entry is not None:
            cover(entry, acc)
    has_patient_entries = any(e.whole_patient for e in block_list.entries)
    missing: list[_Accepted] = []
    if reader is not None and by_number and (has_patient_entries or check_deleted):
        present: set[str] = set()
        for page in reader.by_numbers(list(by_number)):
            for t in page:
                bnr = str(t.behandlingsnummer)
                present.add(bnr)
                if has_patient_entries:
                    entry = block_list.match(t.row.get("personnummer"), None)  # whole-patient entry only
                    if entry is not None:
                        for acc in by_number[bnr]:
                            cover(entry, acc)
        if check_deleted:
            covered = {(g.environment, bnr) for g in groups.values() for _sid, bnr in g.items}
            missing = [a for bnr in sorted(set(by_number) - present, key=_num_key) for a in by_number[bnr]
                       if (a.environment, bnr) not in covered]
    suspect = 0
    notes: list[str] = []
    if missing:
        with db.read() as conn:  # already in a request (of any cause) for that environment: nothing new
            known = set()
            numbers = sorted({a.behandlingsnummer for a in missing})
            for i in range(0, len(numbers), _CHUNK):
                known |= {(r.environment, r.behandlingsnummer) for r in conn.execute(
                    sa.select(removal_item.c.environment, removal_item.c.behandlingsnummer)
                    .where(removal_item.c.behandlingsnummer.in_(numbers[i:i + _CHUNK])))}
        new = [a for a in missing if (a.environment, a.behandlingsnummer) not in known]
        limit = max(DELETED_MAX, int(DELETED_MAX_SHARE * len(accepted)))
        if len(new) > limit:
            suspect = len(new)
            notes.append(f"{suspect} treatments SPOR accepted are missing from the OPS: more than {limit}, so "
                         "this looks like a broken OPS view rather than deletions; no removal request was raised "
                         "for them (check the spor_ops connection; see docs/opt-out.md)")
        else:
            for a in new:
                key = (CAUSE_DELETED, a.behandlingsnummer, a.environment)
                group = groups.setdefault(key, _Group(CAUSE_DELETED, a.behandlingsnummer, a.environment,
                                                      SCOPE_TREATMENT, DELETED_REASON, DELETED_CHANNEL, today))
                group.items.add((a.system_id, a.behandlingsnummer))
    return list(groups.values()), len(accepted), suspect, notes


def raise_removal_requests(db: StateDB, reader_or_block_list: _Reader | BlockList, *, run_id: str,
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


def raise_and_report(db: StateDB, reader_or_block_list: _Reader | BlockList, *, run_id: str,
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
    for group in sorted(groups, key=lambda g: (g.environment, g.cause, _num_key(g.source_key))):
        created, added = _store(db, group, run_id=run_id, at=at)
        result.extended += added
        if created is not None:
            new_ids.append(created)
    if new_ids:
        with db.read() as conn:
            result.raised = _load(conn, removal_request.c.id.in_(new_ids))
    for r in result.raised:
        log.info("removal request %s raised (%s, %s): treatments %s", r.id, r.scope, r.environment,
                 ", ".join(r.behandlingsnummer))
    return result


def _store(db: StateDB, group: _Group, *, run_id: str, at: datetime) -> tuple[int | None, int]:
    """Insert the request (if new) and its items in one transaction: (new request id or None, late items)."""
    key = (removal_request.c.cause == group.cause, removal_request.c.source_key == group.source_key,
           removal_request.c.environment == group.environment)
    with db.write() as conn:
        existing = conn.execute(sa.select(removal_request.c.id).where(*key)).scalar()
        if existing is not None:
            have = {(r.system_id, r.behandlingsnummer) for r in conn.execute(
                sa.select(removal_item.c.system_id, removal_item.c.behandlingsnummer)
                .where(removal_item.c.request_id == existing))}
            late = sorted(group.items - have)
            if late:
                conn.execute(removal_item.insert(), [dict(
                    request_id=existing, system_id=sid, behandlingsnummer=bnr, environment=group.environment,
                    in_text=False, added_at=at, added_run_id=run_id) for sid, bnr in late])
                log.info("removal request %s: %d accepted treatment(s) of the same block entry found later: %s",
                         existing, len(late), ", ".join(b for _s, b in late))
            return None, len(late)
        items = sorted(group.items, key=lambda i: (_num_key(i[1]), i[0]))
        numbers = list(dict.fromkeys(b for _s, b in items))
        system_ids = sorted({s for s, _b in items})
        rid = conn.execute(removal_request.insert().values(
            cause=group.cause, source_key=group.source_key, environment=group.environment, scope=group.scope,
            orsak=group.orsak, kanal=group.kanal, datum=group.datum, system_ids=",".join(system_ids),
            subject="", text="", status=RAISED, raised_at=at, raised_run_id=run_id)).inserted_primary_key[0]
        subject, text = render(request_id=rid, cause=group.cause, source_key=group.source_key,
                               environment=group.environment, scope=group.scope, numbers=numbers,
                               system_ids=system_ids, orsak=group.orsak, kanal=group.kanal, datum=group.datum)
        conn.execute(removal_request.update().where(removal_request.c.id == rid).values(subject=subject, text=text))
        conn.execute(removal_item.insert(), [dict(
            request_id=rid, system_id=sid, behandlingsnummer=bnr, environment=group.environment, in_text=True,
            added_at=at, added_run_id=run_id) for sid, bnr in items])
        return int(rid), 0


# --- status ---------------------------------------------------------------------------------
def _set_status(db: StateDB, request_id: int, status: str, allowed_from: tuple[str, ...], **values: Any) -> RemovalRequest:
    with db.write() as conn:
        current = conn.execute(sa.select(removal_request.c.status).where(removal_request.c.id == int(request_id))).scalar()
        if current is None:
            raise KeyError(f"removal request {request_id} does not exist")
        if current not in allowed_from:
            raise ValueError(f"removal request {request_id} is {current}; it cannot become {status}")
        conn.execute(removal_request.update().where(removal_request.c.id == int(request_id))
                     .values(status=status, **values))
    found = get(db, request_id)
    assert found is not None
    return found


def mark_sent(db: StateDB, request_id: int, *, to: str = UCR_ADDRESS, at: datetime | None = None) -> RemovalRequest:
    """The request went to UCR (by the notifier, or e-mailed by hand)."""
    return _set_status(db, request_id, SENT, (RAISED,), sent_at=at or db.now(), sent_to=to)


def confirm(db: StateDB, request_id: int, *, note: str | None = None, at: datetime | None = None) -> RemovalRequest:
    """UCR confirmed the deletion (the team marks it). A raised request may be confirmed directly
    when it was handled outside this tool."""
    return _set_status(db, request_id, CONFIRMED, (RAISED, SENT), confirmed_at=at or db.now(),
                       note=_clean(note) if note else None)


# --- delivery -------------------------------------------------------------------------------
Notifier = Callable[[str, str], str]
"""``notifier(subject, text) -> recipient description``; raises when the message was not sent."""


@dataclass(frozen=True)
class SmtpNotifier:
    """E-mail through an Airflow SMTP connection (apache-airflow-providers-smtp, imported lazily)."""

    smtp_conn_id: str
    to: tuple[str, ...] = (UCR_ADDRESS,)
    cc: tuple[str, ...] = ()
    from_email: str | None = None

    def __call__(self, subject: str, text: str) -> str:
        import html

        from airflow.providers.smtp.hooks.smtp import SmtpHook

        with SmtpHook(smtp_conn_id=self.smtp_conn_id) as hook:
            hook.send_email_smtp(to=list(self.to), cc=list(self.cc) or None, subject=subject,
                                 from_email=self.from_email,
                                 html_content=f"<pre>{html.escape(text)}</pre>")
        return ", ".join(self.to + self.cc)


def notifier_from_config(config: Any) -> SmtpNotifier | None:
    """From the Variable's JSON: ``{"smtp_conn_id": "smtp_default", "to": ["drift@ucr.uu.se"],
    "cc": [...], "from_email": "..."}``. Empty/None: no notifier."""
    if not config:
        return None
    if isinstance(config, str):
        config = json.loads(config)
    from spor.errors import ConfigurationError

    unknown = set(config) - {"smtp_conn_id", "to", "cc", "from_email"}
    if unknown or not config.get("smtp_conn_id"):
        raise ConfigurationError(f"{NOTIFIER_VARIABLE}: needs smtp_conn_id; unknown keys {sorted(unknown)}")

    def addresses(v: Any) -> tuple[str, ...]:
        return tuple([v] if isinstance(v, str) else (v or ()))

    return SmtpNotifier(smtp_conn_id=config["smtp_conn_id"], to=addresses(config.get("to")) or (UCR_ADDRESS,),
                        cc=addresses(config.get("cc")), from_email=config.get("from_email"))


def notifier_from_airflow() -> SmtpNotifier | None:
    """The notifier the team configured in the Airflow Variable ``spor_removal_notifier``, or None."""
    from airflow.sdk import Variable

    return notifier_from_config(Variable.get(NOTIFIER_VARIABLE, default=None))


def deliver(db: StateDB, requests: Iterable[RemovalRequest] | None = None, *,
            notifier: Notifier | None = None) -> dict[str, int]:
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
            to = notifier(r.subject, r.text)
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
def nightly_step(db: StateDB, reader: _Reader, *, run_id: str, clock: Clock | None = None,
                 notifier: Notifier | None = None, environment: str | None = None) -> dict[str, Any]:
    """Raise what is due, deliver every raised request when a notifier is configured, and note
    in the run log what the team must do. Returns counts only (XCom-safe)."""
    from spor.state import runlog

    result = raise_and_report(db, reader, run_id=run_id, environment=environment, clock=clock)
    delivered = deliver(db, notifier=notifier)
    for note in result.notes:
        runlog.add(db, run_id, "removal_requests", runlog.INFO, note)
    if delivered["failed"]:
        runlog.add(db, run_id, "removal_requests", runlog.INFO,
                   f"{delivered['failed']} removal request(s) could not be e-mailed; they stay raised "
                   "(python -m spor removal list --status raised)")
    if notifier is None and delivered["pending"]:
        runlog.add(db, run_id, "removal_requests", runlog.INFO,
                   f"{delivered['pending']} removal request(s) wait to be e-mailed to {UCR_ADDRESS} by the team: "
                   f"python -m spor removal show ID, then python -m spor removal sent ID "
                   f"(or configure the Variable {NOTIFIER_VARIABLE})")
    return {"raised": len(result.raised), "extended": result.extended, "checked": result.checked,
            "deleted_suspect": result.deleted_suspect, **delivered}
