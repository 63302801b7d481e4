"""The per-run quality report: one self-contained HTML page (no scripts, no external links).

Our own template rather than GX Data Docs: it shows only what GateResult holds (treatment numbers,
rules, counts), so no value from the data can reach the page. Every string is HTML-escaped.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape
from typing import TYPE_CHECKING

# The same look as the report pages of the Airflow UI, also when the report is opened alone.
from spor.page import STYLE

if TYPE_CHECKING:
    from spor.quality.gate import GateResult


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def summary_html(gate: GateResult) -> str:
    return (
        "<table><tr><th>treatments</th><th>passed</th><th>warned (sent, predicted fellista)</th>"
        "<th>quarantined (not sent)</th><th>of which identity unknown</th></tr>"
        f"<tr><td>{len(gate.ids)}</td><td>{len(gate.passed_ids)}</td><td>{len(gate.warned)}</td>"
        f"<td>{len(gate.quarantined)}</td><td>{len(gate.identity_unknown)}</td></tr></table>"
    )


def expectations_html(gate: GateResult) -> str:
    rows = []
    for o in gate.expectation_results:
        status = '<span class="ok">pass</span>' if o.success else f'<span class="{_e(o.severity)}">fail</span>'
        flags = ", ".join(f for f, on in (("inferred", o.inferred), ("assumption", o.assumption)) if on)
        rows.append(
            f"<tr><td>{_e(o.expectation_id)}</td><td>{_e(o.rule)}</td><td>{_e(o.severity)}</td><td>{status}</td>"
            f"<td>{o.unexpected_count}</td><td>{o.element_count}</td><td>{_e(', '.join(o.columns))}</td>"
            f"<td>{_e(o.description)}</td><td>{_e(flags)}</td></tr>"
        )
    return (
        "<table><tr><th>expectation</th><th>rule</th><th>severity</th><th>result</th><th>failing rows</th>"
        "<th>rows checked</th><th>columns</th><th>what it checks</th><th>flags</th></tr>"
        + "".join(rows) + "</table>"
    )


def _treatment_table(gate: GateResult, ids: set[str], severity: str | None) -> str:
    if not ids:
        return "<p>none</p>"
    per: dict[str, list[str]] = defaultdict(list)
    for v in gate.verdicts:
        if v.behandlingsnummer in ids and (severity is None or v.severity == severity):
            per[v.behandlingsnummer].append(f"{v.rule} ({v.expectation_id})")
    rows = "".join(
        f"<tr><td class='ids'>{_e(bn)}</td><td>{_e('; '.join(sorted(set(per[bn]))))}</td></tr>"
        for bn in sorted(ids)
    )
    return f"<table><tr><th>behandlingsnummer</th><th>rules</th></tr>{rows}</table>"


def render_report(gate_result: GateResult, run_id: str | None = None) -> str:
    """Self-contained HTML: summary, each expectation's result, quarantined and warned treatments."""
    run = run_id if run_id is not None else gate_result.run_id
    return (
        "<!DOCTYPE html><html lang='sv'><head><meta charset='utf-8'>"
        f"<title>SPOR quality gate {_e(run)}</title><style>{STYLE}</style></head><body>"
        f"<h1>SPOR data-quality gate</h1><p>Run <b>{_e(run)}</b>. "
        "<b>reject</b>: SPOR would refuse the message, so it is quarantined and not sent. "
        "<b>warn</b>: SPOR would store it but list it on its error list (fellista); it is sent. "
        "Fix either in the OPS; the next run picks up the change.</p>"
        + summary_html(gate_result)
        + "<h2>Expectations</h2>" + expectations_html(gate_result)
        + "<h2>Quarantined (not sent)</h2>" + _treatment_table(gate_result, gate_result.quarantined, "reject")
        + "<h2>Warned (sent, predicted fellista entries)</h2>" + _treatment_table(gate_result, gate_result.warned, "warn")
        + f"<p class='small'>GX validation {gate_result.validation_seconds:.2f} s. "
        "The report holds treatment numbers and rules only, never values.</p></body></html>"
    )
