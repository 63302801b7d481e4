"""The status of a removal request: raised → sent (e-mailed by the notifier, or by hand) →
confirmed (the team, when UCR confirms the deletion). A raised request may be confirmed directly
when it was handled outside this tool; nothing goes back.

A request that does not exist is a ``KeyError``; a move the machine does not allow a ``ValueError``
(the CLI prints either and exits 2).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from spor.removal.model import CONFIRMED, RAISED, SENT, UCR_ADDRESS, RemovalRequest
from spor.removal.store import get
from spor.removal.text import clean_free_text
from spor.state.database import StateDB
from spor.state.tables import removal_request

__all__ = ["confirm", "mark_sent"]


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
                       note=clean_free_text(note) if note else None)
