"""The run summary: counts per state, what needs the team, what waits and why, warnings, stops.

Built from the state database only (ledger, held-back list, run events), so it is the same
whether it is printed by the summarize task, read back later, or rendered for the UI. It names
treatment numbers and rules, never personal data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

from spor.lifecycle import State, WaitReason
from spor.state import held_configuration, probes, run_summary, runlog
from spor.state.database import StateDB
from spor.state.documents import JsonObject, JsonView
from spor.state.waiting import ACTION, Waiting
from spor.verdicts import WARNED

#: Order in which states are shown (the state machine of docs/state-machine.md). Every registration
#: a run handled is in exactly one of them, so they add up; "warned" is not among them: a warned
#: registration is sent and counted under SPOR's answer, and shown apart as "of which warned".
SHOWN_STATES = (
    State.CREATED.value, State.UPDATED.value, State.UNCHANGED.value, State.REJECTED.value,
    State.MALFORMED.value, State.NOT_BUILDABLE.value, State.IDENTITY_UNKNOWN.value,
    State.QUARANTINED.value, State.WITHDRAWN.value, State.NOT_APPROVED.value, State.WAITING.value,
)
ATTENTION_SHOWN = 200
#: Report kind of what a dry run would have sent.
DRY_RUN = "dry-run"


class RunIdentity(Protocol):
    """Which run a summary is of (the task's run information)."""

    @property
    def dag_id(self) -> str: ...
    @property
    def run_id(self) -> str: ...
    @property
    def mode(self) -> str: ...


def compose(db: StateDB, run: RunIdentity, extra: JsonView | None = None) -> JsonObject:
    counts = run_summary.counts(db, run.run_id)
    events = runlog.events(db, run.run_id)
    capacity = next((e for e in reversed(events) if e.kind == runlog.CAPACITY), None)
    result: JsonObject = {
        "run_id": run.run_id,
        "dag_id": run.dag_id,
        "mode": run.mode,
        "by_state": {s: int(counts.by_state.get(s, 0)) for s in SHOWN_STATES},
        "warned": int(counts.by_state.get(WARNED, 0)),
        "waiting_by_reason": {w.value: int(counts.waiting_by_reason.get(w.value, 0)) for w in WaitReason},
        "backlog": counts.backlog,
        "attention": [a.__dict__ for a in counts.attention],
        "capacity": capacity.data if capacity else None,
        "capacity_warning": capacity.message if capacity and capacity.message != "fits" else None,
        "cause": next((e.message for e in events if e.kind == runlog.CAUSE), None),
        "stops": [f"{e.task}: {e.message}" for e in events if e.kind == runlog.STOP],
        "failures": [f"{e.task}: {e.message}" for e in events if e.kind == runlog.FAILURE],
        "notes": [f"{e.task}: {e.message}" for e in events if e.kind == runlog.INFO and not _approval_warning(e)],
        "approval_warnings": [e.message for e in events if _approval_warning(e)],
        "reports": [kind for _dag, _run, kind, _at in runlog.list_reports(db, run.dag_id, run.run_id)],
    }
    if extra:
        result.update(extra)
    dry = result.get("dry_run")
    if dry is not None:  # a dry run stages nothing: its "unchanged" were decided while building
        result["by_state"][State.UNCHANGED.value] += len(dry.get("unchanged", []))
    return result


def run_noun(dag_id: str) -> str:
    """What an operator calls a run of this DAG: the nightly's is "the night", others "the run"."""
    return "night" if dag_id == "spor_nightly" else "run"


def cause_of(summary: JsonView) -> str | None:
    """Why the run failed or is not done, in one sentence: the recorded cause (spor.send.cause),
    else the first stop or failure, else what was left waiting. None for a run that needs nothing."""
    if summary.get("cause"):
        return str(summary["cause"])
    for key in ("stops", "failures"):
        found = summary.get(key) or []
        if found:
            return str(found[0])
    left = waiting_of(summary)
    if summary.get("night_not_done") and left:
        return f"the {run_noun(str(summary.get('dag_id', '')))} ended with work left: {left.in_words()}"
    return None


def waiting_of(summary: JsonView) -> Waiting | None:
    """What waited in the outbox when the run ended (spor.state.waiting), if the summary says."""
    found = summary.get("waiting")
    if found:
        return Waiting.from_dict(found)
    undone = summary.get("night_not_done")  # summaries kept before the waiting count was
    if isinstance(undone, dict):
        return Waiting(None, int(undone.get("waiting", 0)), dict(undone.get("by_reason") or {}),
                       int(undone.get("owned_by_dead_batches", 0)))
    return None


def waiting_needs_team(summary: JsonView) -> Waiting | None:
    """What waits, when the run failed or left work: the team acts on it (by reason, with the action)."""
    left = waiting_of(summary)
    if left and cause_of(summary):
        return left
    return None
def _approval_warning(event: runlog.RunEvent) -> bool:
    return event.kind == runlog.INFO and bool((event.data or {}).get("approved_by_ledger"))


#: What the team does about each cause of a hold for configuration.
CONFIGURATION_ACTIONS = {
    held_configuration.UNIT_MAPPING: "no SystemId: add the unit to spor_units",
    held_configuration.NOT_APPROVED: "not approved for {environment}: record UCR's approval in spor_units "
                                     "({unit}.approved.{environment})",
    held_configuration.CODE_LIST: "a code the code lists do not know: update the code lists "
                                  "(SPOR_DATA_DIR, SPOR_EXPECTATIONS_DIR) or correct the OPS",
}
SHOWN_NUMBERS = 20


def held_for_configuration(db: StateDB, environment: str, run_id: str, days: int) -> JsonObject:
    """The summary's section on treatments held back for configuration: one group per unit and
    cause with its action, and those given up after ``days`` with the resend that sends them."""
    groups: dict[tuple[str, str], list[held_configuration.Held]] = {}
    for h in held_configuration.held_by_run(db, environment, run_id):
        groups.setdefault((h.unit or "?", h.cause), []).append(h)
    given_up = held_configuration.given_up(db, environment)
    numbers = [h.behandlingsnummer for h in given_up]
    return {
        "environment": environment,
        "days": days,
        "by_unit": [{"unit": unit, "cause": cause, "count": len(items), "system_id": items[0].system_id,
                     "action": CONFIGURATION_ACTIONS.get(cause, cause).format(environment=environment, unit=unit),
                     "behandlingsnummer": [h.behandlingsnummer for h in items[:SHOWN_NUMBERS]]}
                    for (unit, cause), items in sorted(groups.items())],
        "given_up": {"count": len(numbers), "behandlingsnummer": numbers[:SHOWN_NUMBERS],
                     "resend": (f"airflow dags trigger spor_resend --conf "
                                f"'{json.dumps({'behandlingsnummer': numbers[:SHOWN_NUMBERS], 'environment': environment})}'")
                     if numbers else None},
    }


def _render_held_for_configuration(section: JsonView) -> list[str]:
    by_unit, given_up = section.get("by_unit") or [], section.get("given_up") or {}
    if not by_unit and not given_up.get("count"):
        return []
    lines = []
    if by_unit:
        total = sum(int(g["count"]) for g in by_unit)
        lines.append(f"  held back for configuration: {total} (not waiting: re-read every night until sent, "
                     f"for {section.get('days')} days; a fix sends them the next night)")
        for g in by_unit:
            lines.append(f"    {g['unit']:<14} {g['cause']:<13} {g['count']:>6}  {g['action']} — "
                         f"{_first(list(g['behandlingsnummer']), 5)}")
    if given_up.get("count"):
        lines.append(f"  given up after {section.get('days')} days held back for configuration: {given_up['count']} — "
                     f"{_first(list(given_up['behandlingsnummer']), 5)}; when fixed: {given_up['resend']}")
    return lines


def save_dry_run(db: StateDB, dag_id: str, run_id: str, would_send: Iterable[str], unchanged: Iterable[str] = ()) -> None:
    """Keep the behandlingsnummer a dry run would have sent, and those it would skip as unchanged
    since SPOR's last final answer, for the summary and the dry-run report to list."""
    runlog.save_report(db, dag_id, run_id, DRY_RUN,
                       json.dumps({"would_send": sorted(would_send), "unchanged": sorted(unchanged)}), "application/json")


def load_dry_run(db: StateDB, dag_id: str, run_id: str) -> JsonObject | None:
    dry = runlog.load_report(db, dag_id, run_id, DRY_RUN)
    if dry is None:
        return None
    lists: JsonObject = json.loads(dry[1])
    return lists


def attention_rule(item: JsonView) -> str:
    """The rule a registration that needs the team is grouped under (summaries kept before the
    rule was stored name it in brackets at the start of the reason)."""
    if item.get("rule"):
        return str(item["rule"])
    reason = str(item.get("reason") or "")
    if reason.startswith("[") and "]" in reason:
        return reason[1:reason.index("]")]
    return reason[:80] or str(item.get("state") or "?")


def attention_by_rule(summary: JsonView) -> list[tuple[str, str, list[JsonView]]]:
    """(rule, states, items) for what needs the team, largest group first."""
    groups: dict[str, list[JsonView]] = {}
    for item in summary.get("attention") or []:
        groups.setdefault(attention_rule(item), []).append(item)
    return [(rule, ", ".join(sorted({str(i["state"]) for i in items})), items)
            for rule, items in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0]))]


def _first(numbers: list[str], n: int, sep: str = " ") -> str:
    more = f" … (+{len(numbers) - n})" if len(numbers) > n else ""
    return sep.join(numbers[:n]) + more


def capacity_in_words(cap: JsonView) -> str:
    """'fits: 2,757 registrations need about 6 minutes; 4 hours left before 05:00'."""
    n, needed, left = int(cap.get("outbox_size") or 0), float(cap.get("needed_s") or 0), float(cap.get("available_s") or 0)
    at = "the window closes"
    if cap.get("closes_at"):
        closes = datetime.fromisoformat(str(cap["closes_at"]))
        at = f"{closes + timedelta(seconds=30):%H:%M}"  # a window open until 04:59:59 closes at 05:00
    verdict = "fits" if cap.get("fits") else "does not fit"
    sendable = "" if cap.get("fits") else f"; about {int(cap.get('sendable') or 0):,} will be sent, the rest wait"
    return (f"{verdict}: {n:,} registrations need about {_duration(needed)}; {_duration(left)} left before "
            f"{at}{sendable}")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(0, round(seconds)):.0f} seconds"
    if seconds < 90 * 60:
        return f"{round(seconds / 60):.0f} minutes"
    hours = seconds / 3600
    return f"{hours:.0f} hours" if hours >= 1.5 else "1 hour"


def _numbers_of(first: list[str], total: int, n: int) -> str:
    """The first ``n`` of ``total`` numbers, of which ``first`` are known."""
    shown = first[:n]
    return " ".join(shown) + (f" … (+{total - len(shown)})" if total > len(shown) else "")


def render_text(summary: JsonView) -> str:
    """The summary for the task log and the terminal: short (about 40 lines at most whatever the
    night), pointing to the summary report for the full lists."""
    by_state = summary.get("by_state") or {}
    lines = []
    why = cause_of(summary)
    if why:  # the first thing an operator reads
        lines.append(f"Why the {run_noun(str(summary['dag_id']))} is not done: {why}")
    lines.append(f"SPOR run summary — {summary['dag_id']} {summary['run_id']} ({summary['mode']})")
    opt = summary.get("opt_out")
    if opt:
        reasons = ", ".join(f"{n} {reason}" for reason, n in (opt.get("blocked_by_reason") or {}).items())
        lines.append(f"  blocked by opt-out before any check (R11): {opt.get('blocked', 0)}"
                     + (f" ({reasons})" if reasons else ""))
    lines.append(f"  registrations by state (total {sum(int(by_state.get(s, 0)) for s in SHOWN_STATES)}):")
    for state in SHOWN_STATES:
        if by_state.get(state, 0):
            lines.append(f"    {state:<17}{by_state[state]:>8}")
    if summary.get("warned"):
        verb = "would be sent" if summary.get("dry_run") is not None else "sent"
        lines.append(f"    of which {verb} with a predicted error-list entry (warned): {summary['warned']}")
    left = waiting_of(summary)
    if left is not None:
        lines.append(f"  waiting in the outbox now: {left.total:,}"
                     + (f" ({left.reasons_in_words()})" if left.total else ""))
    else:
        waiting = {k: v for k, v in (summary.get("waiting_by_reason") or {}).items() if v}
        if waiting:
            lines.append("  waiting, by reason: " + ", ".join(f"{k} {v}" for k, v in waiting.items()))
    backlog = {k: v for k, v in (summary.get("backlog") or {}).items() if v}
    if backlog:
        lines.append("  outbox backlog (all runs): " + ", ".join(f"{k} {v}" for k, v in backlog.items()))
    dry = summary.get("dry_run")
    if dry is not None:
        numbers, unchanged = dry.get("would_send", []), dry.get("unchanged", [])
        why = "" if numbers else (" (nothing differs from SPOR's last final answer)" if unchanged else " (nothing was buildable)")
        lines.append(f"  DRY RUN: nothing was sent; {len(numbers)} would be sent{why}, {len(unchanged)} unchanged "
                     "since SPOR's last final answer")
        if numbers:
            lines.append(f"    would be sent: {_first(numbers, 10)}")
    removals = summary.get("removal_requests") or []
    if removals:
        lines.append(f"  removal requests raised tonight (R11): {len(removals)}")
        for r in removals[:5]:
            lines.append(f"    request {r['id']}: {r['scope']} — treatments {_first(list(r['behandlingsnummer']), 10, ', ')}")
    if summary.get("capacity"):
        lines.append(f"  capacity: {capacity_in_words(summary['capacity'])}")
    if summary.get("capacity_warning"):
        lines.append(f"  WARNING {summary['capacity_warning']}")
    lines.extend(f"  WARNING {warning}" for warning in summary.get("approval_warnings") or [])
    lines.extend(_render_held_for_configuration(summary.get("held_configuration") or {}))
    lines.extend(probes.render_section(summary.get("refused_system_ids") or {}))
    notes = summary.get("notes") or []
    lines.extend(f"  note: {note}" for note in notes[:3])
    if len(notes) > 3:
        lines.append(f"  … {len(notes) - 3} more notes in the summary report")
    lines.extend(f"  STOPPED {stop}" for stop in summary.get("stops") or [])
    lines.extend(f"  FAILED {failure}" for failure in summary.get("failures") or [])
    stuck = waiting_needs_team(summary)
    if stuck:
        lines.append(f"  needs the team: {stuck.total:,} waiting in the outbox (reason, count, what to do, first numbers)")
        for reason, n in sorted(stuck.by_reason.items(), key=lambda kv: -kv[1]):
            lines.append(f"    {reason:<10}{n:>7}  {ACTION.get(reason, 'the next run sends them')}  "
                         f"{_numbers_of(stuck.first.get(reason, []), n, 5)}")
    groups = attention_by_rule(summary)
    if groups:
        lines.append(f"  needs the team: {len(summary['attention'])} in {len(groups)} rules (rule, state, count, first numbers)")
        shown = groups[:8]
        # as wide as the longest shown rule and states, so "identity-unknown" keeps its own column
        rule_width = max(14, *(len(rule) for rule, _states, _items in shown))
        state_width = max(14, *(len(states) for _rule, states, _items in shown))
        for rule, states, items in shown:
            lines.append(f"    {rule:<{rule_width}} {states:<{state_width}} {len(items):>6}  "
                         f"{_first([i['behandlingsnummer'] for i in items], 5)}")
        if len(groups) > 8:
            lines.append(f"    … {len(groups) - 8} more rules in the summary report")
    where = summary.get("report_url") or (f"python -m spor report --dag-id {summary['dag_id']} "
                                          f"--run-id {summary['run_id']} --kind summary")
    lines.append(f"  full lists: the run's \"SPOR reports\" tab, summary ({where})")
    if summary.get("reports"):
        lines.append(f"  reports kept for this run: {', '.join(summary['reports'])}")
    return "\n".join(lines)
