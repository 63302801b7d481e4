"""Audit of one treatment number (docs/opt-out.md): when it was blocked, whether
it was ever sent and what SPOR answered, whether it was withdrawn or held back, and what was
requested of UCR. Names treatment numbers, entry ids, rules and times; never an identity number
(the OPS identity is used to match whole-patient entries and is not printed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from spor.extract.optout import BlockEntry, read_block_list
from spor.pii import mask_person_ids
from spor.removal.model import SCOPE_PATIENT, SCOPE_TREATMENT, RemovalRequest
from spor.removal.store import requests_for_treatment
from spor.removal.text import clean_free_text
from spor.state.database import StateDB
from spor.state.tables import held_back, last_final, ledger, outbox

__all__ = ["Audit", "audit", "render_audit"]


@dataclass
class Audit:
    behandlingsnummer: str
    in_ops: bool | None                   # None: the OPS was not read
    deltar_ej: bool | None
    block_entries: list[dict[str, Any]]   # id, scope ('treatment' | 'patient'), orsak, kanal, datum
    block_list_error: str | None
    attempts: list[dict[str, Any]]        # every ledger attempt
    last_final: list[dict[str, Any]]      # SPOR's last final answer per environment/SystemId
    held_back: list[dict[str, Any]]       # withdrawn, quarantined, ... per run
    waiting: list[dict[str, Any]]         # outbox rows now
    requests: list[RemovalRequest] = field(default_factory=list)

    @property
    def ever_sent(self) -> bool:
        return bool(self.attempts)

    @property
    def accepted_in(self) -> list[str]:
        return sorted({a["environment"] for a in self.attempts if a["outcome"] in ("created", "updated")}
                      | {f["environment"] for f in self.last_final if f["state"] in ("created", "updated")})


def _entry(e: BlockEntry) -> dict[str, Any]:
    return {"id": e.id, "scope": SCOPE_PATIENT if e.whole_patient else SCOPE_TREATMENT,
            "orsak": clean_free_text(e.orsak), "kanal": clean_free_text(e.kanal), "datum": e.datum}


def audit(db: StateDB, reader: Any | None, behandlingsnummer: str) -> Audit:
    """Everything known about one treatment. ``reader`` (spor.extract.source.SourceReader) gives the block
    list and the treatment's current identity; None audits the state database only."""
    bnr = str(behandlingsnummer).strip()
    in_ops = deltar_ej = None
    entries: list[dict[str, Any]] = []
    error = None
    if reader is not None:
        from spor.errors import BlockListUnavailable

        row = None
        for page in reader.by_numbers([bnr]):
            for t in page:
                row = t.row
        in_ops = row is not None
        deltar_ej = None if row is None else bool(row.get("deltar_ej"))
        try:
            block_list = read_block_list(reader)
        except BlockListUnavailable as exc:
            error = str(exc)
        else:
            by_number = block_list.match(None, bnr)
            by_patient = block_list.match(row.get("personnummer"), None) if row is not None else None
            entries = [_entry(e) for e in (by_number, by_patient) if e is not None]
            # Other entries naming this number (the filter uses the first; all are shown).
            seen = {x["id"] for x in entries}
            entries += [_entry(e) for e in block_list.entries
                        if e.behandlingsnummer == bnr and e.id not in seen]
    with db.read() as conn:
        attempts = [dict(environment=r.environment, system_id=r.system_id, run_id=r.run_id, attempt=r.attempt,
                         sent_at=r.sent_at, outcome=r.outcome, result_code=r.result_code,
                         result_text=mask_person_ids(r.result_text) if r.result_text else None,
                         answered_at=r.answered_at)
                    for r in conn.execute(sa.select(ledger).where(ledger.c.behandlingsnummer == bnr)
                                          .order_by(ledger.c.sent_at, ledger.c.id))]
        finals = [dict(environment=r.environment, system_id=r.system_id, state=r.state, answered_at=r.answered_at,
                       run_id=r.run_id)
                  for r in conn.execute(sa.select(last_final).where(last_final.c.behandlingsnummer == bnr)
                                        .order_by(last_final.c.environment))]
        held = [dict(run_id=r.run_id, environment=r.environment, state=r.state, rule=r.rule,
                     reason=mask_person_ids(r.reason) if r.reason else None, recorded_at=r.recorded_at)
                for r in conn.execute(sa.select(held_back).where(held_back.c.behandlingsnummer == bnr)
                                      .order_by(held_back.c.recorded_at, held_back.c.id))]
        waiting = [dict(environment=r.environment, system_id=r.system_id, wait_reason=r.wait_reason,
                        waiting_since=r.waiting_since, attempts=r.attempts)
                   for r in conn.execute(sa.select(outbox.c.environment, outbox.c.system_id, outbox.c.wait_reason,
                                                   outbox.c.waiting_since, outbox.c.attempts)
                                         .where(outbox.c.behandlingsnummer == bnr))]
    return Audit(bnr, in_ops, deltar_ej, entries, error, attempts, finals, held, waiting,
                 requests_for_treatment(db, bnr))


def _t(value: datetime | None) -> str:
    return "-" if value is None else value.isoformat(timespec="seconds")


def render_audit(a: Audit) -> str:
    lines = [f"Audit of behandlingsnummer {a.behandlingsnummer}"]
    if a.in_ops is None:
        lines.append("  OPS: not read")
    else:
        lines.append(f"  OPS: {'present' if a.in_ops else 'not in the OPS (deleted, or never there)'}"
                     + (" — flagged 'deltar ej' (does not take part)" if a.deltar_ej else ""))
    lines.append("  blocked (spärrlista):")
    if a.block_list_error:
        lines.append(f"    block list could not be read: {a.block_list_error}")
    elif a.in_ops is None:
        lines.append("    not checked (no OPS connection)")
    elif not a.block_entries:
        lines.append("    no entry covers it" + ("" if a.in_ops else " (whole-patient entries need the OPS row)"))
    for e in a.block_entries:
        scope = "whole patient" if e["scope"] == SCOPE_PATIENT else "this treatment"
        lines.append(f"    entry {e['id']} ({scope}) dated {e['datum'] or '-'}: reason {e['orsak'] or '-'}; "
                     f"learned via {e['kanal'] or '-'}")
    lines.append(f"  sent to SPOR: {'yes' if a.ever_sent else 'never'}"
                 + (f"; accepted in {', '.join(a.accepted_in)}" if a.accepted_in else ""))
    for x in a.attempts:
        lines.append(f"    {_t(x['sent_at'])} {x['environment']} {x['system_id']} attempt {x['attempt']} "
                     f"(run {x['run_id']}): {x['outcome'] or 'no answer recorded'}"
                     + (f" — {x['result_text']}" if x["result_text"] else "")
                     + (f" answered {_t(x['answered_at'])}" if x["answered_at"] else ""))
    for f in a.last_final:
        lines.append(f"    SPOR's last final answer in {f['environment']} ({f['system_id']}): {f['state']} "
                     f"at {_t(f['answered_at'])}")
    for w in a.waiting:
        lines.append(f"  waiting in the outbox for {w['environment']} since {_t(w['waiting_since'])} "
                     f"({w['wait_reason']}, {w['attempts']} attempts)")
    withdrawn = [h for h in a.held_back if h["state"] == "withdrawn"]
    lines.append(f"  withdrawn from the outbox: {'yes' if withdrawn else 'no'}")
    for h in a.held_back:
        lines.append(f"    {_t(h['recorded_at'])} run {h['run_id']}: {h['state']} [{h['rule'] or '-'}] "
                     f"{h['reason'] or ''}".rstrip())
    lines.append(f"  removal requests to UCR: {len(a.requests) or 'none'}")
    for r in a.requests:
        late = " (found after the request was raised)" if a.behandlingsnummer in r.late else ""
        lines.append(f"    request {r.id} ({r.scope}, {r.environment}, {r.cause}): {r.status}; raised "
                     f"{_t(r.raised_at)}, sent {_t(r.sent_at)}, confirmed {_t(r.confirmed_at)}{late}")
    return "\n".join(lines)
