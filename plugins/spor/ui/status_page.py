"""The SPOR status page across nights: an Airflow menu entry, drawn on the server.

The chart is inline SVG (one stacked bar per night, outcomes in a fixed order, every night of the
period shown so a night without a run is a visible gap); the rest are tables. Everything comes
from :func:`spor.state.status.read`: the state database only. Treatment numbers and rules only.
"""

from __future__ import annotations

from datetime import datetime

from spor import links
from spor.clock import STOCKHOLM
from spor.lifecycle import State
from spor.page import document, e, table
from spor.state.status import NIGHT_OUTCOMES, Status

COLORS = {"created": "#16a34a", "updated": "#0ea5e9", "rejected": "#dc2626", "malformed": "#9333ea",
          "not_buildable": "#b45309", "identity_unknown": "#db2777", "quarantined": "#f59e0b",
          "withdrawn": "#475569", "waiting": "#a1a1aa"}
ZONE_NAME = "Europe/Stockholm"
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 220, 44, 28, 10


def chart(nights: list) -> str:
    """Stacked bars, one per night; each bar's title lists its counts (shown on hover)."""
    top = max([sum(c.values()) for _n, c, _r in nights] + [1])
    slot = (WIDTH - LEFT) / max(len(nights), 1)
    plot = HEIGHT - BOTTOM - TOP
    parts = [f"<svg class='chart' viewBox='0 0 {WIDTH} {HEIGHT}' role='img' aria-label='outcomes per night'>",
             f"<text x='0' y='{TOP + 10}'>{top}</text><text x='0' y='{HEIGHT - BOTTOM}'>0</text>",
             f"<line x1='{LEFT}' x2='{WIDTH}' y1='{HEIGHT - BOTTOM}' y2='{HEIGHT - BOTTOM}' stroke='#a1a1aa'/>"]
    for i, (night, counts, runs) in enumerate(nights):
        x, y = LEFT + i * slot + 2, HEIGHT - BOTTOM
        label = f"{night:%Y-%m-%d}: " + ", ".join(f"{k} {counts[k]}" for k in NIGHT_OUTCOMES) + ("" if runs else " (no run)")
        parts.append(f"<g data-night='{night:%Y-%m-%d}'><title>{e(label)}</title>")
        for outcome in NIGHT_OUTCOMES:
            h = counts[outcome] / top * plot
            if h > 0:
                y -= h
                parts.append(f"<rect x='{x:.1f}' y='{y:.1f}' width='{max(slot - 4, 1):.1f}' height='{h:.1f}' "
                             f"fill='{COLORS[outcome]}'/>")
        if not runs:
            parts.append(f"<text x='{x + slot / 2 - 4:.1f}' y='{HEIGHT - BOTTOM - 4}'>·</text>")
        parts.append("</g>")
        last = i == len(nights) - 1
        if (i % 5 == 0 and len(nights) - 1 - i >= 3) or last:  # the last label never overlaps the one before
            # centred under its bar; the last one ends at the chart's edge, so no label is cut
            anchor, at = ("end", WIDTH - 1) if last else ("middle", x + slot / 2 - 2)
            parts.append(f"<text x='{at:.1f}' y='{HEIGHT - 8}' text-anchor='{anchor}'>{night:%d/%m}</text>")
    parts.append("</svg>")
    legend = "".join(f"<span><i style='background:{COLORS[k]}'></i>{k}</span>" for k in NIGHT_OUTCOMES)
    return "".join(parts) + f"<div class='legend'>{legend}</div>"


def _run_link(root: str, dag_id: str, run_id: str) -> str:
    return f"<a href='{e(root + links.report_path(dag_id, run_id, 'summary'))}'>{e(run_id)}</a>"


def _capacity(status: Status) -> str:
    cap = status.capacity
    if not cap:
        return "<p>No run has estimated its capacity yet.</p>"
    waiting_now = status.waiting_now
    rate = float(cap.get("throughput_per_s") or 0)
    needed_min = waiting_now / rate / 60 if rate else None
    window_min = float(cap.get("available_s") or 0) / 60
    verdict = ("fits" if needed_min is not None and needed_min <= window_min else "does not fit") if rate else "unknown"
    rows = [("waiting in the outbox now", waiting_now),
            ("measured throughput (last estimate)", f"{rate:g} registrations/s"),
            ("time needed for what waits now", "—" if needed_min is None else f"{needed_min:.0f} min"),
            ("window of the last estimate", f"{window_min:.0f} min (closes {cap.get('closes_at', '?')})"),
            ("tonight at this rate", verdict)]
    cls = "ok" if verdict == "fits" else "bad"
    return (f"<p>Tonight's work against the sending window: <span class='{cls}'>{e(verdict)}</span>"
            f" <span class='small'>(last estimate by run {e(status.capacity_run)})</span></p>"
            + table(["figure", "value"], rows))


def _local(moment: datetime) -> str:
    return f"{moment.astimezone(STOCKHOLM):%Y-%m-%d %H:%M}"


def _runs(status: Status, root: str) -> str:
    if not status.runs:
        return "<p>No run kept a summary in this period.</p>"
    rows = [(_run_link(root, r.dag_id, r.run_id), e(r.dag_id), e(_local(r.finished_at)),
             "<span class='ok'>done</span>" if r.problem is None else f"<span class='bad'>failed</span> {e(r.problem)}",
             r.sent) for r in status.runs]
    return table(["run", "DAG", "finished", "result", "sent"], rows, numeric=[4], raw=[0, 1, 2, 3])


def _causes(status: Status, root: str) -> str:
    """Why recent runs stopped or gave up, newest first (each run's cause, spor.send.cause)."""
    if not status.causes:
        return ""
    rows = [(e(_local(c.at)), _run_link(root, c.dag_id, c.run_id), e(c.dag_id), e(c.message))
            for c in status.causes]
    return ("<h2>Why runs did not finish</h2>"
            f"<div class='banner bad cause'><b>{e(status.causes[0].run_id)}</b> {e(status.causes[0].message)}</div>"
            + table(["when", "run", "DAG", "cause"], rows, raw=range(4)))
def _held_configuration(status: Status) -> str:
    """Held back for configuration, per unit: not waiting, re-read every night until sent."""
    if not status.held_configuration:
        return ""
    return ("<h2>Held back for configuration</h2><p class='small'>Not waiting: re-read from the OPS every "
            "night until sent; a fix in spor_units sends them the next night.</p>"
            + table(["environment", "unit", "cause", "treatments", "given up"],
                    list(status.held_configuration), numeric=[3, 4]))


def _refused_system_ids(status: Status) -> str:
    """Registrations SPOR refused for a SystemId it does not know, per environment and SystemId."""
    if not status.refused_system_ids:
        return ""
    return ("<h2>Refused for an unknown SystemId</h2><p class='small'>A configuration problem of the unit, "
            "not of the data: each night one registration is sent as a probe; when SPOR accepts it the rest "
            "are sent the same night.</p>"
            + table(["environment", "SystemId", "registrations", "what to do"],
                    list(status.refused_system_ids), numeric=[2]))


def status_page(status: Status, *, now: datetime, root: str = "", warn_days: int = 30,
                certificates_now: datetime | None = None) -> str:
    """``now`` is the tasks' clock (the nights); ``certificates_now`` the real one that TLS and
    ``spor check-connection`` count a certificate's days on (default ``now``)."""
    nights_run = sum(1 for _n, _c, runs in status.nights if runs)
    totals = {k: sum(c[k] for _n, c, _r in status.nights) for k in NIGHT_OUTCOMES}
    # What waits is a count of now, the same as the table below (spor.state.waiting), not a sum of nights.
    totals[State.WAITING.value] = status.waiting_now
    cards = "".join(f"<div class='card'>{e('waiting now' if k == State.WAITING.value else k)}<b>{v:,}</b></div>"
                    for k, v in totals.items())
    failed = sum(1 for r in status.runs if r.problem is not None)
    parts = [f"<h1>SPOR status across nights</h1><p class='muted'>Last {len(status.nights)} nights "
             f"({nights_run} with a run of spor_nightly); figures from the state database, read "
             f"{_local(now)} {ZONE_NAME}. Every time on this page is {ZONE_NAME} time.</p>",
             f"<div class='cards'>{cards}</div>", _causes(status, root),
             "<h2>Outcomes per night</h2>", chart(status.nights),
             f"<h2>Runs ({failed} failed)</h2><p class='small'>Every DAG's runs of the period, failed ones first.</p>",
             _runs(status, root)]
    parts.append("<h2>Waiting in the outbox now</h2>")
    if status.being_sent:
        parts.append(f"<p class='small'>Not counted: {status.being_sent:,} being sent by a run now.</p>")
    parts.append(table(["environment", "reason", "registrations"],
                       [(env, reason, n) for (env, reason), n in sorted(status.outbox.items())], numeric=[2],
                       total=("total", "", sum(status.outbox.values())))
                 if status.outbox else "<p>Nothing waits.</p>")
    parts.append(_held_configuration(status))
    parts.append(_refused_system_ids(status))
    parts.append("<h2>Held back and rejected, by rule</h2><p class='small'>Held back before sending (not "
                 f"buildable, identity unknown, quarantined, withdrawn, not approved) in the last {len(status.nights)} nights; "
                 "rejected or malformed: SPOR's last final answer still says so.</p>")
    parts.append(table(["state", "rule", "treatments", "first treatment numbers", "runs"],
                       [(g.state, g.rule, g.treatments, " ".join(g.first),
                         ", ".join(_run_link(root, d, r) for d, r in g.runs[:3])
                         + (f" (+{len(g.runs) - 3})" if len(g.runs) > 3 else "")) for g in status.by_rule],
                       numeric=[2], raw=[4]) if status.by_rule else "<p>None.</p>")
    parts.append("<h2>Certificates</h2>")
    cert_rows = []
    for c in status.certificates:
        days = c.days_left(certificates_now or now)
        cls = "bad" if days < warn_days else "ok"
        cert_rows.append((e(c.environment), e(c.spor_conn_id), f"<span class='{cls}'>{days}</span>",
                          e(f"{c.not_after.astimezone(STOCKHOLM):%Y-%m-%d}"), e(_local(c.checked_at))))
    parts.append(table(["environment", "connection", "days left", "expires", "checked"], cert_rows, numeric=[2],
                       raw=range(5)) if cert_rows else "<p>No certificate checked yet.</p>")
    parts.append("<h2>Capacity</h2>" + _capacity(status))
    parts.append(f"<h2>Removal requests open ({len(status.open_removals)})</h2>")
    parts.append(table(["request", "cause", "environment", "scope", "status", "treatments", "raised", "run"],
                       [(r["id"], r["cause"], r["environment"], r["scope"], r["status"], r["treatments"],
                         f"{r['raised_at']:%Y-%m-%d}", _run_link(root, *r["run"])) for r in status.open_removals],
                       numeric=[5], raw=[7]) if status.open_removals else "<p>None open.</p>")
    return document("SPOR status", "".join(parts))
