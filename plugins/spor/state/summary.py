"""The run summary: counts per state, what needs the team, what waits and why, warnings, stops.

Built from the state database only (ledger, held-back list, run events), so it is the same
whether it is printed by the summarize task, read back later, or rendered for the UI. It names
treatment numbers and rules, never personal data.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from spor.state import run_summary, runlog
from spor.states import State, WaitReason

#: Order in which states are shown (the state machine of docs/state-machine.md, plus "warned").
SHOWN_STATES = (
    State.CREATED.value, State.UPDATED.value, State.UNCHANGED.value, State.REJECTED.value,
    State.MALFORMED.value, State.NOT_BUILDABLE.value, State.IDENTITY_UNKNOWN.value,
    State.QUARANTINED.value, "warned", State.WITHDRAWN.value, State.WAITING.value,
)
ATTENTION_SHOWN = 200
#: Report kind of what a dry run would have sent.
DRY_RUN = "dry-run"


def build(db: Any, run: Any, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    counts = run_summary.counts(db, run.run_id)
    events = runlog.events(db, run.run_id)
    capacity = next((e for e in reversed(events) if e.kind == runlog.CAPACITY), None)
    result: dict[str, Any] = {
        "run_id": run.run_id,
        "dag_id": run.dag_id,
        "mode": run.mode,
        "by_state": {s: int(counts.by_state.get(s, 0)) for s in SHOWN_STATES},
        "waiting_by_reason": {w.value: int(counts.waiting_by_reason.get(w.value, 0)) for w in WaitReason},
        "backlog": counts.backlog,
        "attention": [a.__dict__ for a in counts.attention],
        "capacity": capacity.data if capacity else None,
        "capacity_warning": capacity.message if capacity and capacity.message != "fits" else None,
        "stops": [f"{e.task}: {e.message}" for e in events if e.kind == runlog.STOP],
        "failures": [f"{e.task}: {e.message}" for e in events if e.kind == runlog.FAILURE],
        "notes": [f"{e.task}: {e.message}" for e in events if e.kind == runlog.INFO],
        "reports": [kind for _dag, _run, kind, _at in runlog.list_reports(db, run.dag_id, run.run_id)],
    }
    if extra:
        result.update(extra)
    return result


def save_dry_run(db: Any, dag_id: str, run_id: str, would_send: Iterable[str]) -> None:
    """Keep the behandlingsnummer a dry run would have sent, for the summary to list."""
    runlog.save_report(db, dag_id, run_id, DRY_RUN, json.dumps({"would_send": sorted(would_send)}), "application/json")


def load_dry_run(db: Any, dag_id: str, run_id: str) -> dict | None:
    dry = runlog.load_report(db, dag_id, run_id, DRY_RUN)
    return None if dry is None else json.loads(dry[1])


def render_text(summary: Mapping[str, Any]) -> str:
    lines = [f"SPOR run summary — {summary['dag_id']} {summary['run_id']} ({summary['mode']})"]
    opt = summary.get("opt_out")
    if opt:
        lines.append(f"  blocked by opt-out before any check (R11): {opt.get('blocked', 0)} "
                     f"{opt.get('blocked_by_reason') or ''}".rstrip())
    lines.append("  registrations by state:")
    for state in SHOWN_STATES:
        n = summary["by_state"].get(state, 0)
        lines.append(f"    {state:<17}{n:>8}")
    waiting = {k: v for k, v in summary["waiting_by_reason"].items() if v}
    if waiting:
        lines.append("  waiting, by reason: " + ", ".join(f"{k} {v}" for k, v in waiting.items()))
    backlog = {k: v for k, v in (summary.get("backlog") or {}).items() if v}
    if backlog:
        lines.append("  outbox backlog (all runs): " + ", ".join(f"{k} {v}" for k, v in backlog.items()))
    dry = summary.get("dry_run")
    if dry is not None:
        numbers = dry.get("would_send", [])
        lines.append(f"  DRY RUN: nothing was sent; {len(numbers)} would be sent:")
        for i in range(0, min(len(numbers), ATTENTION_SHOWN), 10):
            lines.append("    " + " ".join(numbers[i:i + 10]))
        if len(numbers) > ATTENTION_SHOWN:
            lines.append(f"    ... {len(numbers) - ATTENTION_SHOWN} more (python -m spor report --kind dry-run)")
    removals = summary.get("removal_requests")
    if removals:
        lines.append(f"  removal requests raised tonight (R11): {len(removals)}")
        for r in removals:
            lines.append(f"    request {r['id']}: {r['scope']} — treatments {', '.join(r['behandlingsnummer'])}")
    if summary.get("capacity_warning"):
        lines.append(f"  WARNING {summary['capacity_warning']}")
    for note in summary.get("notes", []):
        lines.append(f"  note: {note}")
    for stop in summary.get("stops", []):
        lines.append(f"  STOPPED {stop}")
    for failure in summary.get("failures", []):
        lines.append(f"  FAILED {failure}")
    attention = summary.get("attention") or []
    if attention:
        lines.append(f"  needs the team ({len(attention)}): behandlingsnummer, state, reason")
        for item in attention[:ATTENTION_SHOWN]:
            lines.append(f"    {item['behandlingsnummer']:<12} {item['state']:<17} {item['reason']}")
        if len(attention) > ATTENTION_SHOWN:
            lines.append(f"    ... {len(attention) - ATTENTION_SHOWN} more in the state database (run summary)")
    if summary.get("reports"):
        lines.append(f"  reports kept for this run: {', '.join(summary['reports'])} "
                     f"(python -m spor report --run-id {summary['run_id']} --kind quality)")
    return "\n".join(lines)
