"""The figures of the status page across nights, read from the state database only.

Outcomes of the last nights (from the kept run summaries), the last runs of every DAG (failed ones
first), what waits in the outbox now, what is held back or rejected by rule and in which run, each
environment's certificate, the last capacity estimate against the window, and the removal
requests still open. Treatment numbers, rules and
counts only: no personal data is read.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TypedDict
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from spor.lifecycle import HELD_BACK, State
from spor.state import certificates, held_configuration, probes, runlog
from spor.state import waiting as waiting_now
from spor.state.database import StateDB
from spor.state.documents import JsonObject
from spor.state.tables import held_back, last_final, ledger, removal_item, removal_request, run_event, run_summary

LOCAL = ZoneInfo("Europe/Stockholm")
#: The outcomes drawn per night, in the order they are stacked.
NIGHT_OUTCOMES = (State.CREATED.value, State.UPDATED.value, State.REJECTED.value, State.MALFORMED.value,
                  State.NOT_BUILDABLE.value, State.IDENTITY_UNKNOWN.value, State.QUARANTINED.value,
                  State.WITHDRAWN.value, State.WAITING.value)
#: Held back before sending, in the order shown.
HELD_BACK_STATES = tuple(s for s in NIGHT_OUTCOMES if State(s) in HELD_BACK)
RUNS_SHOWN = 20
NIGHTLY_DAG = "spor_nightly"


@dataclass
class RuleGroup:
    state: str
    rule: str
    treatments: int
    first: list[str]
    runs: list[tuple[str, str]]          # (dag_id, run_id), newest first


#: A night, its counts per outcome, and its runs (dag_id, run_id).
Night = tuple[date, dict[str, int], list[tuple[str, str]]]


class OpenRemoval(TypedDict):
    id: int
    cause: str
    environment: str
    scope: str
    status: str
    raised_at: datetime
    run: tuple[str, str]     # (dag_id, run_id) that raised it
    treatments: int


@dataclass
class RunRow:
    dag_id: str
    run_id: str
    finished_at: datetime
    problem: str | None     # why it failed or is not done (spor.state.summary.cause_of), None when done
    sent: int               # created + updated


@dataclass
class Status:
    nights: list[Night]
    outbox: dict[tuple[str, str], int]                               # (environment, reason) -> n
    by_rule: list[RuleGroup]
    certificates: list[certificates.CertificateExpiry]
    capacity: JsonObject | None
    capacity_run: str | None
    open_removals: list[OpenRemoval] = field(default_factory=list)
    runs: list[RunRow] = field(default_factory=list)                 # failed first, then newest first
    being_sent: int = 0                                              # held by a live run's open batch
    causes: list[RunCause] = field(default_factory=list)             # newest first
    #: (environment, unit, cause, held back, of which given up): held back for configuration now
    held_configuration: list[tuple[str, str, str, int, int]] = field(default_factory=list)
    #: (environment, SystemId, registrations, action): SPOR refused them for a SystemId it did not know
    refused_system_ids: list[tuple[str, str, int, str]] = field(default_factory=list)

    @property
    def waiting_now(self) -> int:
        """What waits now (spor.state.waiting): the card, the table and the capacity figure show it."""
        return sum(self.outbox.values())


@dataclass(frozen=True)
class RunCause:
    """Why a run stopped or gave up (spor.send.cause), as its run event says."""

    dag_id: str
    run_id: str
    at: datetime
    message: str


def night_of(at: datetime) -> date:
    """The night a run belongs to: its local date, counting runs before noon to the evening before."""
    local = at.astimezone(LOCAL)
    return (local - timedelta(hours=12)).date()


def _dag_of(conn: Connection) -> dict[str, str]:
    return {r.run_id: r.dag_id or NIGHTLY_DAG for r in conn.execute(sa.select(run_summary.c.run_id, run_summary.c.dag_id))}


def _nights(conn: Connection, now: datetime, days: int) -> list[Night]:
    first = night_of(now) - timedelta(days=days - 1)
    per: dict[date, dict[str, int]] = {first + timedelta(days=i): dict.fromkeys(NIGHT_OUTCOMES, 0) for i in range(days)}
    runs: dict[date, list[tuple[str, str]]] = defaultdict(list)
    rows = conn.execute(sa.select(run_summary.c.dag_id, run_summary.c.run_id, run_summary.c.summary_json,
                                  run_summary.c.updated_at)
                        .where(run_summary.c.dag_id.in_([NIGHTLY_DAG, ""]),
                               run_summary.c.updated_at >= now - timedelta(days=days + 1)))
    for r in rows:
        night = night_of(r.updated_at)
        if night not in per:
            continue
        by_state = json.loads(r.summary_json).get("by_state") or {}
        for outcome in NIGHT_OUTCOMES:
            per[night][outcome] += int(by_state.get(outcome, 0))
        runs[night].append((r.dag_id or NIGHTLY_DAG, r.run_id))
    return [(night, counts, runs.get(night, [])) for night, counts in sorted(per.items())]


def _runs(conn: Connection, now: datetime, days: int) -> list[RunRow]:
    from spor.state.summary import cause_of
    rows = []
    for r in conn.execute(sa.select(run_summary.c.dag_id, run_summary.c.run_id, run_summary.c.summary_json,
                                    run_summary.c.updated_at)
                          .where(run_summary.c.updated_at >= now - timedelta(days=days))):
        saved = json.loads(r.summary_json)
        by_state = saved.get("by_state") or {}
        rows.append(RunRow(r.dag_id or NIGHTLY_DAG, r.run_id, r.updated_at, cause_of(saved),
                           int(by_state.get(State.CREATED.value, 0)) + int(by_state.get(State.UPDATED.value, 0))))
    rows.sort(key=lambda run: run.finished_at, reverse=True)
    rows.sort(key=lambda run: run.problem is None)  # stable: failed first, each part newest first
    return rows[:RUNS_SHOWN]


def _by_rule(conn: Connection, now: datetime, days: int, dags: dict[str, str]) -> list[RuleGroup]:
    # (state, rule) -> when each number was first seen, and each run's latest
    first_seen: dict[tuple[str, str], dict[str, datetime]] = {}
    latest_run: dict[tuple[str, str], dict[str, datetime]] = {}

    def add(state: str, rule: str, number: str, run_id: str, at: datetime) -> None:
        first_seen.setdefault((state, rule), {}).setdefault(number, at)
        runs = latest_run.setdefault((state, rule), {})
        runs[run_id] = max(at, runs.get(run_id, at))

    since = now - timedelta(days=days)
    for r in conn.execute(sa.select(held_back.c.behandlingsnummer, held_back.c.rule, held_back.c.run_id,
                                    held_back.c.recorded_at, held_back.c.state)
                          .where(held_back.c.state.in_(HELD_BACK_STATES), held_back.c.recorded_at >= since)):
        add(r.state, r.rule or "?", r.behandlingsnummer, r.run_id, r.recorded_at)
    # Rejected and malformed: SPOR's last final answer still says so (not fixed and sent again since).
    for a in conn.execute(sa.select(last_final.c.state, last_final.c.behandlingsnummer, last_final.c.run_id,
                                    last_final.c.answered_at, ledger.c.fault_rule, ledger.c.result_code)
                          .select_from(last_final.outerjoin(ledger, ledger.c.id == last_final.c.ledger_id))
                          .where(last_final.c.state.in_([State.REJECTED.value, State.MALFORMED.value]))):
        rule = a.fault_rule or "schema" if a.state == State.MALFORMED.value else f"SPOR {a.result_code or 'ERROR'}"
        add(a.state, rule, a.behandlingsnummer, a.run_id, a.answered_at)
    out = []
    for (state, rule), seen in first_seen.items():
        numbers = sorted(seen, key=lambda n: seen[n], reverse=True)
        run_at = latest_run[(state, rule)]
        runs = sorted(run_at, key=lambda run: run_at[run], reverse=True)
        out.append(RuleGroup(state, rule, len(numbers), numbers[:8], [(dags.get(run, NIGHTLY_DAG), run) for run in runs]))
    return sorted(out, key=lambda g: (-g.treatments, g.state, g.rule))


def read(db: StateDB, *, now: datetime, days: int = 30) -> Status:
    with db.read() as conn:
        dags = _dag_of(conn)
        nights = _nights(conn, now, days)
        causes = [RunCause(dags.get(r.run_id, NIGHTLY_DAG), r.run_id, r.at, r.message) for r in conn.execute(
            sa.select(run_event.c.run_id, run_event.c.at, run_event.c.message)
            .where(run_event.c.kind == runlog.CAUSE, run_event.c.at >= now - timedelta(days=days))
            .order_by(run_event.c.id.desc()).limit(10))]
        by_rule = _by_rule(conn, now, days, dags)
        runs = _runs(conn, now, days)
        cap = conn.execute(sa.select(run_event.c.run_id, run_event.c.data_json).where(run_event.c.kind == "capacity")
                           .order_by(run_event.c.id.desc()).limit(1)).first()
        items = (sa.select(removal_item.c.request_id, sa.func.count().label("n"))
                 .group_by(removal_item.c.request_id).subquery())
        removals = [OpenRemoval(id=r.id, cause=r.cause, environment=r.environment, scope=r.scope, status=r.status,
                         raised_at=r.raised_at, run=(dags.get(r.raised_run_id, NIGHTLY_DAG), r.raised_run_id),
                         treatments=int(r.n or 0))
                    for r in conn.execute(sa.select(removal_request, items.c.n)
                                          .select_from(removal_request.outerjoin(items, items.c.request_id == removal_request.c.id))
                                          .where(removal_request.c.status != "confirmed")
                                          .order_by(removal_request.c.raised_at))]
    waiting: dict[tuple[str, str], int] = {}
    being_sent = 0
    for env in waiting_now.environments(db):  # the one count of what waits, per environment
        found = waiting_now.resolve(db, env)
        waiting.update({(env, reason): n for reason, n in found.by_reason.items() if n})
        being_sent += found.being_sent
    return Status(nights=nights, outbox=waiting, by_rule=by_rule, certificates=certificates.all_environments(db),
                  being_sent=being_sent, causes=causes,
                  capacity=json.loads(cap.data_json) if cap and cap.data_json else None,
                  capacity_run=cap.run_id if cap else None, open_removals=removals, runs=runs,
                  held_configuration=held_configuration.per_unit(db),
                  refused_system_ids=refused_system_ids(db))


def refused_system_ids(db: StateDB) -> list[tuple[str, str, int, str]]:
    """Per environment and SystemId: the registrations whose last final answer was SPOR not
    knowing the SystemId, with the action."""
    from spor.rejections import action

    with db.read() as conn:
        environments = sorted(r[0] for r in conn.execute(sa.select(last_final.c.environment).distinct()))
    return [(env, sid, len(numbers), action(sid, env))
            for env in environments for sid, numbers in sorted(probes.unknown_system_ids(db, env).items())]


def held_back_in_run(db: StateDB, run_id: str) -> list[tuple[str, str, list[str], int]]:
    """(state, rule, first numbers, count) of what a run held back before sending (not warnings)."""
    per: dict[tuple[str, str], list[str]] = defaultdict(list)
    with db.read() as conn:
        for r in conn.execute(sa.select(held_back.c.state, held_back.c.rule, held_back.c.behandlingsnummer)
                              .where(held_back.c.run_id == run_id, held_back.c.state != "warned")
                              .order_by(held_back.c.id)):
            per[(r.state, r.rule or "")].append(r.behandlingsnummer)
    return [(state, rule, numbers[:8], len(numbers)) for (state, rule), numbers in sorted(per.items())]
