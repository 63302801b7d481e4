"""A run's summary and its dry-run report as pages: tables, never a dump.

The summary shows the counts per state (they add up to the total: a warned registration is counted
once, under SPOR's answer, and shown apart), what waits and why, stops and warnings, and what needs
the team grouped by rule with the first treatment numbers; each rule opens its full list, paged.
The dry-run report lists what would be sent and, for everything else, why not. Treatment numbers
and rules only, never personal data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from spor import links
from spor.page import document, e, table
from spor.state.summary import (
    SHOWN_STATES,
    attention_by_rule,
    capacity_in_words,
    cause_of,
    run_noun,
    waiting_needs_team,
    waiting_of,
)
from spor.state.waiting import ACTION

PAGE_SIZE = 200
FIRST_SHOWN = 8

STATE_MEANING = {
    "created": "SPOR created the registration", "updated": "SPOR updated the registration",
    "unchanged": "not sent: same content as SPOR's last final answer",
    "rejected": "SPOR answered with an error: fix in the OPS", "malformed": "SPOR refused it as malformed",
    "not_buildable": "held back: could not be built (rule and variable named)",
    "identity_unknown": "held back: no valid personal identity number yet",
    "quarantined": "held back by the quality gate (reject)", "withdrawn": "withdrawn: blocked after staging (R11)",
    "waiting": "in the outbox, sent by a later run",
}


def nav(root: str, dag_id: str, run_id: str) -> list[tuple[str, str]]:
    return [(root + links.run_path(dag_id, run_id), f"← run {run_id}"),
            (root + links.report_path(dag_id, run_id), "all reports of this run"),
            (root + links.status_path(), "SPOR status across nights")]


def _numbers(values: Sequence[str], n: int = FIRST_SHOWN) -> str:
    shown = " ".join(values[:n])
    return shown + (f" … (+{len(values) - n})" if len(values) > n else "")


def _pager(href: str, page: int, total: int) -> str:
    pages = max(1, -(-total // PAGE_SIZE))
    if pages == 1:
        return ""
    parts = [f"page {page} of {pages}"]
    if page > 1:
        parts.insert(0, f"<a href='{e(href)}&page={page - 1}'>← previous</a>")
    if page < pages:
        parts.append(f"<a href='{e(href)}&page={page + 1}'>next →</a>")
    return "<p class='small'>" + " · ".join(parts) + "</p>"


def state_table(summary: Mapping[str, Any], extra_rows: Sequence[tuple[str, int, str]] = ()) -> str:
    by_state = summary.get("by_state") or {}
    rows = [(s, int(by_state.get(s, 0)), STATE_MEANING.get(s, "")) for s in SHOWN_STATES] + list(extra_rows)
    total = sum(n for _s, n, _m in rows)
    html = table(["state", "registrations", "meaning"], rows, numeric=[1], total=("total", total, ""))
    if summary.get("warned"):
        verb = "would be sent" if summary.get("dry_run") is not None else "were sent"
        html += (f"<p class='small'>Of these, {summary['warned']} {verb} with a predicted entry on SPOR's "
                 "error list (quality gate <b>warn</b>); they are counted once, under SPOR's answer.</p>")
    return html


def _banners(summary: Mapping[str, Any]) -> str:
    why = cause_of(summary)
    out = [f"<div class='banner bad cause'><b>Why the {run_noun(str(summary.get('dag_id', '')))} is not done</b> "
           f"{e(why)}</div>"] if why else []
    out += [f"<div class='banner bad'><b>Stopped</b> {e(s)}</div>" for s in summary.get("stops") or []]
    out += [f"<div class='banner bad'><b>Failed</b> {e(f)}</div>" for f in summary.get("failures") or []]
    if summary.get("capacity_warning"):
        out.append(f"<div class='banner'><b>Capacity</b> {e(summary['capacity_warning'])}</div>")
    return "".join(out)


def _attention(summary: Mapping[str, Any], base: str) -> str:
    groups = attention_by_rule(summary)
    stuck = waiting_needs_team(summary)
    waiting_part = ""
    if stuck:
        waiting_part = (f"<h3>Waiting in the outbox ({stuck.total:,})</h3>"
                        + table(["reason", "registrations", "what to do", "first treatment numbers"],
                                [(reason, n, ACTION.get(reason, "the next run sends them"),
                                  " ".join(stuck.first.get(reason, [])[:FIRST_SHOWN])
                                  + (f" … (+{n - len(stuck.first.get(reason, [])[:FIRST_SHOWN])})"
                                     if n > len(stuck.first.get(reason, [])[:FIRST_SHOWN]) else ""))
                                 for reason, n in sorted(stuck.by_reason.items(), key=lambda kv: -kv[1])],
                                numeric=[1]))
    if not groups:
        if stuck:
            return f"<h2>Needs the team ({stuck.total:,})</h2>" + waiting_part
        return "<h2>Needs the team</h2><p>Nothing: no registration needs the team after this run.</p>"
    rows = [(f"<a href='{e(base)}?rule={quote(rule)}'>{e(rule)}</a>", states, len(items),
             _numbers([i["behandlingsnummer"] for i in items]))
            for rule, states, items in groups]
    return (f"<h2>Needs the team ({len(summary['attention'])})</h2><p class='small'>Grouped by rule "
            "(docs/rules.md); open a rule for all its treatment numbers and reasons.</p>"
            + table(["rule", "state", "treatments", "first treatment numbers"], rows, numeric=[2], raw=[0])
            + waiting_part)


def summary_page(summary: Mapping[str, Any], *, root: str = "", rule: str | None = None, page: int = 1) -> str:
    dag_id, run_id = summary["dag_id"], summary["run_id"]
    base = root + links.report_path(dag_id, run_id, "summary")
    title = f"SPOR run summary — {run_id}"
    if rule is not None:
        return _rule_page(summary, rule, page, base, title, nav(root, dag_id, run_id))
    parts = [f"<h1>{e(title)}</h1><p class='muted'>{e(dag_id)} · {e(summary.get('mode', ''))}</p>", _banners(summary)]
    parts.append("<h2>Registrations by state</h2>" + state_table(summary))
    opt = summary.get("opt_out") or {}
    if opt.get("blocked"):
        reasons = ", ".join(f"{k} {v}" for k, v in (opt.get("blocked_by_reason") or {}).items())
        parts.append(f"<p>Blocked by opt-out before any check (R11): <b>{int(opt['blocked'])}</b>"
                     f"{e(' — ' + reasons) if reasons else ''}. They are in none of the states above.</p>")
    if summary.get("dry_run") is not None:
        dry = summary["dry_run"]
        parts.append(f"<div class='banner'><b>Dry run</b>: nothing was sent; {len(dry.get('would_send', []))} would "
                     f"be sent. <a href='{e(root + links.report_path(dag_id, run_id, 'dry-run'))}'>Dry-run report</a></div>")
    left = waiting_of(summary)
    if left is not None:
        parts.append(f"<h2>Waiting in the outbox now ({left.total:,})</h2>"
                     + (table(["reason", "registrations"], sorted(left.by_reason.items()), numeric=[1],
                              total=("total", left.total)) if left.total else "<p>Nothing waits.</p>"))
    else:
        waiting = [(k, v) for k, v in (summary.get("waiting_by_reason") or {}).items() if v]
        if waiting:
            parts.append("<h2>Waiting in the outbox, by reason</h2>"
                         + table(["reason", "registrations"], waiting, numeric=[1]))
    backlog = [(k, v) for k, v in (summary.get("backlog") or {}).items() if v]
    if backlog:
        parts.append("<h3>Whole outbox now (all runs), by environment</h3>"
                     + table(["environment", "registrations"], backlog, numeric=[1]))
    parts.append(_attention(summary, base))
    removals = summary.get("removal_requests") or []
    if removals:
        parts.append("<h2>Removal requests raised by this run (R11)</h2>" + table(
            ["request", "scope", "treatment numbers"],
            [(r["id"], r["scope"], _numbers(list(r["behandlingsnummer"]), 20)) for r in removals]))
    notes = summary.get("notes") or []
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    cap = summary.get("capacity")
    if cap:
        parts.append(f"<h2>Capacity</h2><p class='capacity'>{e(capacity_in_words(cap))}</p>")
    return document(title, "".join(parts), links=nav(root, dag_id, run_id))


def _rule_page(summary: Mapping[str, Any], rule: str, page: int, base: str, title: str, links_: list) -> str:
    items = next((items for r, _s, items in attention_by_rule(summary) if r == rule), [])
    page = max(1, page)
    shown = items[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    body = (f"<h1>{e(title)}</h1><p><a href='{e(base)}'>← whole summary</a></p>"
            f"<h2>Rule {e(rule)}: {len(items)} treatments</h2>"
            + table(["behandlingsnummer", "environment", "state", "reason"],
                    [(i["behandlingsnummer"], i.get("environment") or "", i["state"], i.get("reason") or "") for i in shown])
            + _pager(f"{base}?rule={quote(rule)}", page, len(items)))
    return document(f"{title} — {rule}", body, links=links_)


def dry_run_page(summary: Mapping[str, Any] | None, dry: Mapping[str, Any], held: Sequence[tuple[str, str, list, int]],
                 *, dag_id: str, run_id: str, root: str = "", page: int = 1) -> str:
    """``held``: (state, rule, first numbers, count) of what the run held back before sending
    (:func:`spor.state.status.held_back_in_run`)."""
    would, unchanged = list(dry.get("would_send", [])), list(dry.get("unchanged", []))
    title = f"SPOR dry run — {run_id}"
    why_none = ""
    if not would:
        why_none = (" Nothing differs from SPOR's last final answer for this environment."
                    if unchanged else " Nothing could be built and checked.")
    base = root + links.report_path(dag_id, run_id, "dry-run") + "?list=send"
    not_sent = [("unchanged since SPOR's last final answer", "", len(unchanged), _numbers(unchanged))]
    not_sent += [(f"held back: {state}", rule, n, " ".join(first) + (f" … (+{n - len(first)})" if n > len(first) else ""))
                 for state, rule, first, n in held]
    opt = (summary or {}).get("opt_out") or {}
    if opt.get("blocked"):
        reasons = ", ".join(f"{k} {v}" for k, v in (opt.get("blocked_by_reason") or {}).items())
        not_sent.append(("blocked by opt-out (R11), before any check", reasons, int(opt["blocked"]), "not listed"))
    page = max(1, page)
    body = (f"<h1>{e(title)}</h1><div class='banner'>A dry run builds and checks only: nothing was sent or staged."
            f"{e(why_none)}</div><div class='cards'><div class='card'>would be sent<b>{len(would)}</b></div>"
            f"<div class='card'>unchanged<b>{len(unchanged)}</b></div>"
            f"<div class='card'>held back<b>{sum(h[3] for h in held)}</b></div></div>"
            "<h2>Would not be sent, and why</h2>"
            + table(["why", "rule", "treatments", "first treatment numbers"], not_sent, numeric=[2])
            + f"<h2>Would be sent ({len(would)})</h2>"
            + (table(["behandlingsnummer"], [(b,) for b in would[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]])
               if would else "<p>None.</p>")
            + _pager(base, page, len(would)))
    return document(title, body, links=nav(root, dag_id, run_id))
