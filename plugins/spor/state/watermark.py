"""The extraction watermarks: how far each incremental extraction has read, kept by name.

A watermark only moves forwards. Staging advances it inside its own transaction (``advance_in``),
so the watermark never runs ahead of what was staged.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from spor.state.database import StateDB
from spor.state.tables import watermark as watermark_table

#: The watermark of spor_nightly's extraction: the last ``andrad_tid`` it has staged.
NIGHTLY = "spor_nightly.andrad_tid"


def _newer(new: str, old: str | None) -> bool:
    if old is None:
        return True
    try:
        a, b = datetime.fromisoformat(new), datetime.fromisoformat(old)
        if (a.tzinfo is None) == (b.tzinfo is None):
            return a > b
    except ValueError:
        pass
    return new > old


def advance_in(db: StateDB, conn: Connection, name: str, value: datetime | str, run_id: str | None) -> None:
    """Advance watermark ``name`` to ``value`` within the caller's transaction ``conn`` (never backwards)."""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    old = conn.execute(sa.select(watermark_table.c.value).where(watermark_table.c.name == name)).scalar()
    if old is None:
        conn.execute(watermark_table.insert().values(name=name, value=text, run_id=run_id, updated_at=db.now()))
    elif _newer(text, old):
        conn.execute(watermark_table.update().where(watermark_table.c.name == name)
                     .values(value=text, run_id=run_id, updated_at=db.now()))


def read(db: StateDB, name: str) -> str | None:
    """The last successful extraction upper bound (ISO text as given), or None."""
    with db.read() as conn:
        return conn.execute(sa.select(watermark_table.c.value).where(watermark_table.c.name == name)).scalar()


def advance(db: StateDB, name: str, value: datetime | str, run_id: str | None = None) -> None:
    """Advance a watermark on its own (it never moves backwards)."""
    with db.write() as conn:
        advance_in(db, conn, name, value, run_id)
