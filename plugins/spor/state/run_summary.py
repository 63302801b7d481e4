"""A run's counts per state, read from the ledger, the staging log, the held-back list and the
outbox; and the finished summary of a run, kept as JSON in the state database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlalchemy as sa

from spor.lifecycle import FINAL_ANSWERS, State, WaitReason
from spor.pii import mask_person_ids
from spor.state.database import StateDB
from spor.state.documents import JsonObject, JsonView
from spor.state.tables import held_back, ledger, outbox, stage_log
from spor.state.tables import run_summary as run_summary_table
from spor.verdicts import WARNED, reason_text


@dataclass(frozen=True)
class AttentionItem:
    """A registration the team must look at (behandlingsnummer + reason, never personal data)."""

    behandlingsnummer: str
    environment: str | None
    state: str
    reason: str
    rule: str | None = None   # what the team groups by: a D/R rule, SPOR's fault rule or answer


@dataclass
class SummaryCounts:
    run_id: str
    by_state: dict[str, int]            # every State value + WARNED, answers of this run
    waiting_by_reason: dict[str, int]   # outbox rows this run left waiting, per WaitReason
    backlog: dict[str, int]             # whole outbox per environment (all runs)
    attention: list[AttentionItem]

    def as_dict(self) -> JsonObject:
        return {
            "run_id": self.run_id,
            "by_state": self.by_state,
            "waiting_by_reason": self.waiting_by_reason,
            "backlog": self.backlog,
            "attention": [a.__dict__ for a in self.attention],
        }


def fault_reason(rule: str | None, type_name: str | None, text: str | None) -> str:
    """The reason shown for a schema fault: its rule and type, or SPOR's own words (masked) when
    the fault names no type, e.g. a missing element or an unmarshalling error."""
    if type_name:
        return f"{rule or 'schema'} for type {type_name}"
    words = mask_person_ids(" ".join((text or "").split()))
    if len(words) > FAULT_WORDS_SHOWN:
        words = words[:FAULT_WORDS_SHOWN - 1] + "…"
    return words or f"{rule or 'schema'} (SPOR gave no text)"


#: How much of SPOR's own words a reason keeps (a Java fault can run to pages).
FAULT_WORDS_SHOWN = 300


def counts(db: StateDB, run_id: str) -> SummaryCounts:
    """Counts per state for one run: answers (last outcome per registration in this run),
    unchanged (from staging), held back and warned; what this run left waiting; the backlog."""

    by_state = {s.value: 0 for s in State} | {WARNED: 0}
    attention: list[AttentionItem] = []
    with db.read() as conn:
        last = (sa.select(ledger.c.environment, ledger.c.system_id, ledger.c.behandlingsnummer,
                          sa.func.max(ledger.c.id).label("id"))
                .where(ledger.c.run_id == run_id, ledger.c.outcome.in_([s.value for s in FINAL_ANSWERS]))
                .group_by(ledger.c.environment, ledger.c.system_id, ledger.c.behandlingsnummer).subquery())
        for r in conn.execute(sa.select(ledger).join(last, ledger.c.id == last.c.id).order_by(ledger.c.id)):
            by_state[r.outcome] += 1
            if r.outcome in (State.REJECTED.value, State.MALFORMED.value):
                reason, rule = r.result_text or "", f"SPOR {r.result_code or 'ERROR'}"
                if r.outcome == State.MALFORMED.value:
                    reason = fault_reason(r.fault_rule, r.fault_type, r.result_text)
                    rule = r.fault_rule or "schema"
                attention.append(AttentionItem(r.behandlingsnummer, r.environment, r.outcome, reason, rule))
        by_state[State.UNCHANGED.value] = int(conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(stage_log.c.unchanged), 0))
            .where(stage_log.c.run_id == run_id)).scalar_one())
        for r in conn.execute(sa.select(held_back).where(held_back.c.run_id == run_id).order_by(held_back.c.id)):
            by_state[r.state] = by_state.get(r.state, 0) + 1
            reason = reason_text(r.rule, r.variable, r.reason)  # the line spor render prints too
            attention.append(AttentionItem(r.behandlingsnummer, r.environment, r.state, reason, r.rule or r.state))
        waiting = {w.value: 0 for w in WaitReason}
        for reason, n in conn.execute(sa.select(outbox.c.wait_reason, sa.func.count())
                                      .where(outbox.c.run_id == run_id).group_by(outbox.c.wait_reason)):
            waiting[reason] = int(n)
        by_state[State.WAITING.value] = sum(waiting.values())
        backlog = {env: int(n) for env, n in conn.execute(
            sa.select(outbox.c.environment, sa.func.count()).group_by(outbox.c.environment))}
    return SummaryCounts(run_id=run_id, by_state=by_state, waiting_by_reason=waiting, backlog=backlog,
                         attention=attention)


def save(db: StateDB, dag_id: str, run_id: str, summary: JsonView) -> None:
    """Keep a run's summary (JSON; ids and counts only) in the state database."""
    text = json.dumps(summary, sort_keys=True, default=str)
    key = (run_summary_table.c.dag_id == dag_id) & (run_summary_table.c.run_id == run_id)
    with db.write() as conn:
        n = conn.execute(run_summary_table.update().where(key).values(summary_json=text, updated_at=db.now())).rowcount
        if not n:
            conn.execute(run_summary_table.insert().values(dag_id=dag_id, run_id=run_id, summary_json=text,
                                                           updated_at=db.now()))


def load(db: StateDB, dag_id: str, run_id: str) -> JsonObject | None:
    """This DAG's run summary; one kept before runs had their DAG (dag_id '') as fallback."""
    with db.read() as conn:
        rows = conn.execute(sa.select(run_summary_table.c.dag_id, run_summary_table.c.summary_json)
                            .where(run_summary_table.c.dag_id.in_([dag_id, ""]),
                                   run_summary_table.c.run_id == run_id)).all()
    row = max(rows, key=lambda r: r.dag_id == dag_id, default=None)
    if row is None:
        return None
    summary: JsonObject = json.loads(row.summary_json)
    return summary
