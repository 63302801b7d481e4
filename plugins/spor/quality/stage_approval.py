"""Stage-approval evidence (R4): mapping coverage per variable, quality results, SPOR's answers,
what was held back, and per unit whether it is ready to ask UCR for production.

The unit sends this to SPOR when asking to go to production. ``ledger_counts`` comes from the
caller (the ledger of the stage run: e.g. {'sent': 120, 'created': 100, 'updated': 15,
'rejected': 3, 'malformed': 2}). Nothing here reads a value: only shares and counts.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from spor.quality.report import STYLE, expectations_html, summary_html
from spor.quality.unit_approval import TRIGGER_VARIABLES, UnitNight, answer_states, held_back_states, readiness
from spor.resources import location

if TYPE_CHECKING:
    import pandas as pd

    from spor.quality.gate import GateResult

VARIABLES_PATH = location("data") / "variables.csv"


def _variables() -> list[dict[str, str]]:
    with VARIABLES_PATH.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _carried(series: pd.Series) -> int:
    """Rows that carry the variable: not null, not empty text, not an empty child list."""
    def has(v: Any) -> bool:
        if v is None or (isinstance(v, float) and v != v):
            return False
        if isinstance(v, (list, tuple, str)):
            return len(v) > 0 if not isinstance(v, str) else bool(v.strip())
        try:
            import pandas as pd

            return not bool(pd.isna(v))
        except (TypeError, ValueError):
            return True
    return int(series.map(has).sum())


def mapping_coverage(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Per variable of variables.csv: how many registrations carry it, and the share."""
    total = len(df)
    rows = []
    for var in _variables():
        column = var["column"]
        entry: dict[str, Any] = {
            "number": var["number"], "column": column, "name_sv": var["name_sv"], "part": var["part"],
            "mandatory": var["mandatory"], "codelist": var["codelist"], "mark": var["mark"],
        }
        if column and column in df.columns:
            carried = _carried(df[column])
            entry.update(carried=carried, share=(carried / total) if total else None, source="OPS")
        else:  # V105, SystemId: set by configuration, not read from the OPS
            entry.update(carried=None, share=None, source="configuration" if not column or column == "system_id" else "not extracted")
        rows.append(entry)
    return rows


def _percent(share: float | None) -> str:
    return "" if share is None else f"{100 * share:.1f} %"


def stage_approval_data(
    df: pd.DataFrame | None, gate_result: GateResult, ledger_counts: dict[str, int], *, run_id: str,
    coverage: list[dict[str, Any]] | None = None, registrations: int | None = None,
    units: Mapping[str, Sequence[UnitNight]] | None = None,
) -> dict[str, Any]:
    """The evidence as a JSON-able dict (PII-free). Instead of ``df`` a caller that no longer holds
    the frame passes the ``coverage`` computed earlier (mapping_coverage) and the ``registrations`` count.
    ``ledger_counts`` may hold every state of the run: SPOR's answers and what was held back are
    kept apart. ``units``: per enhet its stage nights, this run first (``spor.quality.unit_approval``)."""
    gate = gate_result.to_dict()
    answers, held = answer_states(), held_back_states()
    per_unit = []
    for _enhet, nights in sorted((units or {}).items()):
        verdict = readiness(nights)
        per_unit.append({**nights[0].to_dict(), "ready": verdict.ready, "clean_nights": verdict.clean_nights,
                         "verdict": verdict.sentence(), "nights_seen": len(nights)})
    return {
        "run_id": run_id,
        "registrations": len(df) if df is not None else int(registrations or 0),
        "mapping_coverage": mapping_coverage(df) if df is not None else list(coverage or []),
        "quality": {"summary": gate["summary"], "expectations": gate["expectation_results"],
                    "treatments_by_rule": gate_result.counts_by_rule()},
        "spor_answers": {k: v for k, v in sorted(ledger_counts.items()) if k in answers or k == "sent"},
        "held_back": {k: v for k, v in sorted(ledger_counts.items()) if k in held and v},
        "units": per_unit,
    }


def _unit_html(unit: Mapping[str, Any]) -> str:
    e = lambda v: escape("" if v is None else str(v), quote=True)  # noqa: E731 - short name for the template below
    rows = lambda d: "".join(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in d.items())  # noqa: E731 - as above
    triggers = ", ".join(f"V{v} {name}" + ("" if v in unit["triggers_carried"] else " (not carried)")
                         for v, name in TRIGGER_VARIABLES.items())
    return (
        f"<h3>Unit {e(unit['enhet'] or '(none)')} — SystemId {e(', '.join(unit['system_ids']) or 'none answered')}</h3>"
        f"<p class='verdict {'ready' if unit['ready'] else 'not-ready'}'><b>{e(unit['verdict'])}</b></p>"
        f"<p>This run: {unit['checked']} checked, {unit['sent']} answered by SPOR; "
        f"stage runs with this unit so far: {unit['nights_seen']}. Trigger variables: {e(triggers)}.</p>"
        "<table><tr><th>SPOR's answer</th><th>count</th></tr>"
        + (rows(unit["answers"]) or "<tr><td colspan=2>no answer in this run</td></tr>") + "</table>"
        + ("<table><tr><th>held back (not sent)</th><th>count</th></tr>" + rows(unit["held_back"]) + "</table>"
           if unit["held_back"] else "")
        + ("<table><tr><th>gate verdict</th><th>treatments</th></tr>" + rows(unit["gate_by_rule"]) + "</table>"
           if unit["gate_by_rule"] else "")
    )


def stage_approval_report(
    df: pd.DataFrame | None, gate_result: GateResult, ledger_counts: dict[str, int], *, run_id: str,
    coverage: list[dict[str, Any]] | None = None, registrations: int | None = None,
    units: Mapping[str, Sequence[UnitNight]] | None = None,
) -> str:
    """One self-contained HTML page; the same data as JSON sits in a <script type=application/json>."""
    data = stage_approval_data(df, gate_result, ledger_counts, run_id=run_id, coverage=coverage,
                               registrations=registrations, units=units)
    e = lambda v: escape("" if v is None else str(v), quote=True)  # noqa: E731 - short name for the page template below
    cov_rows = "".join(
        f"<tr><td>{e(r['number'])}</td><td>{e(r['column'])}</td><td>{e(r['name_sv'])}</td><td>{e(r['part'])}</td>"
        f"<td>{e(r['mandatory'])}</td><td>{e(r['source'])}</td><td>{e(r['carried'])}</td>"
        f"<td>{_percent(r['share'])}</td></tr>"
        for r in data["mapping_coverage"]
    )
    ans_rows = "".join(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in data["spor_answers"].items())
    held_rows = "".join(f"<tr><td>{e(k)}</td><td>{e(v)}</td></tr>" for k, v in data["held_back"].items())
    rule_rows = "".join(f"<tr><td>{e(k)}</td><td>{v}</td></tr>" for k, v in data["quality"]["treatments_by_rule"].items())
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    return (
        "<!DOCTYPE html><html lang='sv'><head><meta charset='utf-8'>"
        f"<title>SPOR stage approval {e(run_id)}</title><style>{STYLE}</style></head><body>"
        f"<h1>SPOR stage approval evidence</h1><p>Run <b>{e(run_id)}</b> against SPOR stage; "
        f"{data['registrations']} registrations.</p>"
        "<h2>1. Mapping coverage per variable</h2><table><tr><th>V</th><th>column</th><th>name</th><th>part</th>"
        f"<th>mandatory</th><th>source</th><th>registrations carrying it</th><th>share</th></tr>{cov_rows}</table>"
        "<h2>2. Data quality</h2>" + summary_html(gate_result)
        + f"<table><tr><th>rule</th><th>treatments</th></tr>{rule_rows}</table>"
        + expectations_html(gate_result)
        + f"<h2>3. Sent and SPOR's answers</h2><table><tr><th>answer</th><th>count</th></tr>{ans_rows}</table>"
        + "<h2>4. Held back before sending</h2>"
        + (f"<table><tr><th>state</th><th>count</th></tr>{held_rows}</table>" if held_rows
           else "<p>Nothing was held back.</p>")
        + "<h2>5. Per unit</h2>" + ("".join(_unit_html(u) for u in data["units"]) or "<p>No unit in this run.</p>")
        + f"<script type='application/json' id='evidence'>{payload}</script></body></html>"
    )
