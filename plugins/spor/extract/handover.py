"""Hand-over of extracted treatments between the tasks of one run, through the state database.

Workers may be different machines (architecture: tasks share nothing on local disk), and XCom
must never carry personal data, so ``extract`` writes the allowed (unblocked) treatments here,
``quality_gate`` and ``build_and_stage`` read them, and ``build_and_stage`` deletes them again.
The state database is protected like the OPS database; nothing here reaches logs or XCom.

The rows are personal data, so they never outlive their run (docs/state-machine.md, "Personal
data at rest"): ``summarize`` (trigger rule all_done) clears the run's rows whatever the run's
outcome, and a run that never reached its summary (a crash) is cleaned up by the next
extraction, which removes every other run's rows older than ``STALE_AFTER``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from spor.state.database import StateDB
from spor.state.tables import extracted

#: A hand-over row of another run older than this belongs to a run that ended without its summary
#: (a crash): no live run takes this long from extraction to build (minutes at 100,000 rows), and
#: it is well under the day between two nightly runs, so the next night always removes it.
STALE_AFTER = timedelta(hours=6)


@dataclass(frozen=True)
class HandedOver:
    behandlingsnummer: str
    row: Mapping[str, Any]
    children: Mapping[str, Sequence[str]]


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat()
    return str(value)


def put(db: StateDB, run_id: str, treatments: Iterable[Any], *, chunk: int = 1000) -> int:
    """Store treatments (objects with .behandlingsnummer, .row, .children) for this run. Idempotent."""
    count = 0
    rows: list[dict[str, Any]] = []
    now = db.now()

    def flush() -> None:
        if not rows:
            return
        with db.write() as conn:
            conn.execute(
                extracted.delete().where(
                    extracted.c.run_id == run_id,
                    extracted.c.behandlingsnummer.in_([r["behandlingsnummer"] for r in rows]),
                )
            )
            conn.execute(extracted.insert(), rows)
        rows.clear()

    for t in treatments:
        payload = {
            "row": {k: _jsonable(v) for k, v in t.row.items()},
            "children": {k: list(v) for k, v in t.children.items()},
        }
        rows.append({"run_id": run_id, "behandlingsnummer": str(t.behandlingsnummer), "payload": json.dumps(payload),
                     "extracted_at": now})
        count += 1
        if len(rows) >= chunk:
            flush()
    flush()
    return count


def iterate(db: StateDB, run_id: str, *, exclude: Iterable[str] = (), chunk: int = 2000) -> Iterator[HandedOver]:
    """The run's treatments in behandlingsnummer order, skipping ``exclude``; bounded memory."""
    skip = set(exclude)
    last = ""
    while True:
        with db.read() as conn:
            batch = conn.execute(
                sa.select(extracted.c.behandlingsnummer, extracted.c.payload)
                .where(extracted.c.run_id == run_id, extracted.c.behandlingsnummer > last)
                .order_by(extracted.c.behandlingsnummer)
                .limit(chunk)
            ).all()
        if not batch:
            return
        for nr, payload in batch:
            last = nr
            if nr in skip:
                continue
            data = json.loads(payload)
            yield HandedOver(nr, data["row"], data["children"])


def count(db: StateDB, run_id: str) -> int:
    with db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(extracted).where(extracted.c.run_id == run_id)).scalar_one()


def clear(db: StateDB, run_id: str) -> None:
    with db.write() as conn:
        conn.execute(extracted.delete().where(extracted.c.run_id == run_id))


def clear_stale(db: StateDB, run_id: str, *, older_than: timedelta = STALE_AFTER) -> int:
    """Remove other runs' rows written more than ``older_than`` ago (or before the time was kept):
    what a crashed run left behind. Returns how many rows went; never touches ``run_id``'s rows."""
    cutoff = db.now() - older_than
    with db.write() as conn:
        result = conn.execute(extracted.delete().where(
            extracted.c.run_id != run_id,
            sa.or_(extracted.c.extracted_at.is_(None), extracted.c.extracted_at < cutoff),
        ))
    return int(result.rowcount or 0)

