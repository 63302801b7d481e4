"""Run events and reports in the state database: what a run's summary needs beyond the ledger.

Messages are written by our own code and carry behandlingsnummer, rules and counts only. For an
exception we did not raise on purpose only its type is kept: its text could quote patient data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from spor.errors import SporError
from spor.state.database import StateDB
from spor.state.documents import JsonObject, JsonView
from spor.state.tables import report, run_event

STOP, FAILURE, CAPACITY, INFO = "stop", "failure", "capacity", "info"
#: Why the run stopped or gave up, in one sentence (spor.send.cause): at most one counts per run.
CAUSE = "cause"


@dataclass(frozen=True)
class RunEvent:
    task: str
    kind: str
    message: str
    data: JsonObject | None


def describe(exc: BaseException) -> str:
    """A PII-safe description of an exception."""
    if isinstance(exc, SporError):
        return f"{type(exc).__name__}: {exc}"
    return f"{type(exc).__name__} (details withheld from logs: see the task log of the failing task)"


def add(db: StateDB, run_id: str, task: str, kind: str, message: str, data: JsonView | None = None) -> None:
    with db.write() as conn:
        conn.execute(run_event.insert().values(
            run_id=run_id, task=task, kind=kind, message=message,
            data_json=None if data is None else json.dumps(data, sort_keys=True, default=str), at=db.now()))


def events(db: StateDB, run_id: str, kind: str | None = None) -> list[RunEvent]:
    query = sa.select(run_event).where(run_event.c.run_id == run_id).order_by(run_event.c.id)
    if kind:
        query = query.where(run_event.c.kind == kind)
    with db.read() as conn:
        return [RunEvent(r.task, r.kind, r.message, json.loads(r.data_json) if r.data_json else None)
                for r in conn.execute(query)]


def stopped(db: StateDB, run_id: str) -> str | None:
    """The message of the first run-stopping event, if the run was stopped."""
    found = events(db, run_id, STOP)
    return found[0].message if found else None


def cause(db: StateDB, run_id: str) -> str | None:
    """The run's cause (the first ``cause`` event), if one was recorded."""
    found = events(db, run_id, CAUSE)
    return found[0].message if found else None


def save_report(db: StateDB, dag_id: str, run_id: str, kind: str, body: str, content_type: str = "text/html") -> None:
    key = (report.c.dag_id == dag_id) & (report.c.run_id == run_id) & (report.c.kind == kind)
    with db.write() as conn:
        conn.execute(report.delete().where(key))
        conn.execute(report.insert().values(dag_id=dag_id, run_id=run_id, kind=kind, content_type=content_type,
                                            body=body, created_at=db.now()))


def load_report(db: StateDB, dag_id: str, run_id: str, kind: str) -> tuple[str, str] | None:
    """The report of this DAG's run; a report kept before runs had their DAG (dag_id '') as fallback."""
    with db.read() as conn:
        rows = conn.execute(sa.select(report.c.dag_id, report.c.content_type, report.c.body)
                            .where(report.c.dag_id.in_([dag_id, ""]), report.c.run_id == run_id,
                                   report.c.kind == kind)).all()
    row = max(rows, key=lambda r: r.dag_id == dag_id, default=None)
    return None if row is None else (row.content_type, row.body)


def list_reports(db: StateDB, dag_id: str | None = None, run_id: str | None = None,
                 limit: int = 100) -> list[tuple[str, str, str, datetime]]:
    """(dag_id, run_id, kind, created_at), newest first."""
    query = (sa.select(report.c.dag_id, report.c.run_id, report.c.kind, report.c.created_at)
             .order_by(report.c.created_at.desc()).limit(limit))
    if dag_id:
        query = query.where(report.c.dag_id.in_([dag_id, ""]))
    if run_id:
        query = query.where(report.c.run_id == run_id)
    with db.read() as conn:
        return [(r.dag_id, r.run_id, r.kind, r.created_at) for r in conn.execute(query)]
