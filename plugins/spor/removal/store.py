"""Removal requests in the state database: storing a new request (or the late items of one raised
before) and reading requests back (by id, by status and environment, by treatment, by run).

A request and its items (``spor_removal_request``, ``spor_removal_item``) are written in one
transaction; the key (cause, block entry id or treatment number, environment) is unique, so a
request is raised once. The e-mail text is composed when the request is inserted, because it
names the request id, and is never changed afterwards.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from spor.removal.model import RAISED, RemovalRequest, RequestGroup, number_key
from spor.removal.text import compose_request_text
from spor.state.database import StateDB, inserted_id
from spor.state.tables import removal_item, removal_request

__all__ = ["get", "list_requests", "load", "numbers_with_requests", "raised_in_run", "requests_for_treatment",
           "store_group"]

log = logging.getLogger("spor")

_CHUNK = 500  # ids per IN (...) query


# --- reading --------------------------------------------------------------------------------
def _from_rows(req: Any, items: list[Any]) -> RemovalRequest:
    items = sorted(items, key=lambda i: (number_key(i.behandlingsnummer), i.system_id))
    numbers = list(dict.fromkeys(i.behandlingsnummer for i in items))
    late = list(dict.fromkeys(i.behandlingsnummer for i in items if not i.in_text))
    return RemovalRequest(
        id=req.id, cause=req.cause, source_key=req.source_key, environment=req.environment, scope=req.scope,
        behandlingsnummer=numbers, system_ids=[s for s in req.system_ids.split(",") if s], orsak=req.orsak,
        kanal=req.kanal, datum=req.datum, status=req.status, subject=req.subject, text=req.text,
        raised_at=req.raised_at, raised_run_id=req.raised_run_id, sent_at=req.sent_at, sent_to=req.sent_to,
        confirmed_at=req.confirmed_at, note=req.note, late=late)


def load(conn: Any, where: Any) -> list[RemovalRequest]:
    """The requests matching ``where`` (a condition on ``spor_removal_request``) with their items, by id."""
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
        found = load(conn, removal_request.c.id == int(request_id))
    return found[0] if found else None


def list_requests(db: StateDB, *, status: str | None = None, environment: str | None = None) -> list[RemovalRequest]:
    where: sa.ColumnElement[bool] = sa.true()
    if status:
        where = sa.and_(where, removal_request.c.status == status)
    if environment:
        where = sa.and_(where, removal_request.c.environment == environment)
    with db.read() as conn:
        return load(conn, where)


def requests_for_treatment(db: StateDB, behandlingsnummer: str) -> list[RemovalRequest]:
    """Every request that covers this treatment number (any environment)."""
    with db.read() as conn:
        ids = sa.select(removal_item.c.request_id).where(removal_item.c.behandlingsnummer == str(behandlingsnummer))
        return load(conn, removal_request.c.id.in_(ids))


def raised_in_run(db: StateDB, run_id: str) -> list[dict[str, Any]]:
    """The requests a run raised, for its summary: id, scope, behandlingsnummer, environment, status."""
    with db.read() as conn:
        return [r.as_summary() for r in load(conn, removal_request.c.raised_run_id == run_id)]


def numbers_with_requests(db: StateDB, numbers: Iterable[str]) -> set[tuple[str, str]]:
    """(environment, behandlingsnummer) of these treatment numbers that a request of any cause covers."""
    numbers = sorted(set(numbers))
    known: set[tuple[str, str]] = set()
    with db.read() as conn:
        for i in range(0, len(numbers), _CHUNK):
            known |= {(r.environment, r.behandlingsnummer) for r in conn.execute(
                sa.select(removal_item.c.environment, removal_item.c.behandlingsnummer)
                .where(removal_item.c.behandlingsnummer.in_(numbers[i:i + _CHUNK])))}
    return known


# --- storing --------------------------------------------------------------------------------
def store_group(db: StateDB, group: RequestGroup, *, run_id: str, at: datetime) -> tuple[int | None, int]:
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
        items = sorted(group.items, key=lambda i: (number_key(i[1]), i[0]))
        numbers = list(dict.fromkeys(b for _s, b in items))
        system_ids = sorted({s for s, _b in items})
        rid = inserted_id(conn.execute(removal_request.insert().values(
            cause=group.cause, source_key=group.source_key, environment=group.environment, scope=group.scope,
            orsak=group.orsak, kanal=group.kanal, datum=group.datum, system_ids=",".join(system_ids),
            subject="", text="", status=RAISED, raised_at=at, raised_run_id=run_id)))
        subject, text = compose_request_text(
            request_id=rid, cause=group.cause, source_key=group.source_key, environment=group.environment,
            scope=group.scope, numbers=numbers, system_ids=system_ids, orsak=group.orsak, kanal=group.kanal,
            datum=group.datum)
        conn.execute(removal_request.update().where(removal_request.c.id == rid).values(subject=subject, text=text))
        conn.execute(removal_item.insert(), [dict(
            request_id=rid, system_id=sid, behandlingsnummer=bnr, environment=group.environment, in_text=True,
            added_at=at, added_run_id=run_id) for sid, bnr in items])
        return int(rid), 0
